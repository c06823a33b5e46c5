//! The configuration parser (`hub_config::Config::from_str`: TOML, the
//! schema, the validator with its spans) and the registry it builds. Any
//! text gets `Ok` or diagnostics, never a panic; every diagnostic points
//! inside the text (or at 0:0 when it has no place); a configuration that
//! loads passes its own re-check.
#![no_main]

use hub_config::{Config, Diagnostic};
use libfuzzer_sys::fuzz_target;

fn check_places(text: &str, diags: &[Diagnostic]) {
    assert!(!diags.is_empty(), "an error without a diagnostic");
    let lines = text.split('\n').count();
    for d in diags {
        assert!(!d.message.is_empty(), "{d:?}");
        if d.file == "fuzz.toml" {
            assert!(d.line <= lines, "line {} of {lines}: {d:?}", d.line);
            assert_eq!(d.line == 0, d.column == 0, "{d:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::from_str(text, "fuzz.toml") {
        Ok(cfg) => {
            let again = cfg.validate();
            assert!(again.is_empty(), "loaded, yet the re-check finds {again:?}");
            if let Err(e) = cfg.registry() {
                check_places(text, &e.diagnostics());
            }
        }
        Err(e) => check_places(text, &e.diagnostics()),
    }
});
