//! Shared build script for every package that links libtorch through `tch`.
//!
//! `tch`/`torch-sys` link against the PyPI torch wheel (see `.cargo/config.toml`,
//! `LIBTORCH=.venv/libtorch`) but set no run-time search path. We emit an rpath
//! to the wheel's `torch/lib` so `hubd`, tests and benches start without the
//! user exporting `LD_LIBRARY_PATH`.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(root) = std::env::var("LIBTORCH") {
        let lib = Path::new(&root).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
