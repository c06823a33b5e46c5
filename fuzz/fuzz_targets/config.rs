//! The configuration parser (`hubd::config::Config::from_str`: TOML, the
//! schema, the validator with its spans) and the registry it builds.
//! Needs `--features daemon` (the daemon crate links libtorch).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cfg) = hubd::config::Config::from_str(text, "fuzz.toml") {
        let _ = cfg.registry();
    }
});
