//! `hubd check-config` with relative paths, from several working directories
//! (issue 17, item 11): a relative config path and the relative paths inside
//! it are resolved once, against the config file's directory.

use std::path::{Component, Path, PathBuf};

use crate::common::hubd;

/// `target` relative to `from` (both absolute).
fn relative(target: &Path, from: &Path) -> PathBuf {
    let t: Vec<Component> = target.components().collect();
    let f: Vec<Component> = from.components().collect();
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out
}

#[test]
fn check_config_passes_with_relative_paths_from_any_directory() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().canonicalize().unwrap();
    let example = repo.join("config/hub.example.toml");
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path().canonicalize().unwrap();
    // A config of its own with a relative store path in a subdirectory.
    std::fs::create_dir_all(tmp.join("home/data")).unwrap();
    let own = tmp.join("home/hub.toml");
    std::fs::write(&own, "[store]\npath = \"data/hub.db\"\n[audio]\nenabled = false\n").unwrap();

    let dirs = [repo.clone(), repo.join("config"), tmp.clone(), tmp.join("home")];
    for cwd in &dirs {
        for cfg in [&example, &own] {
            let rel = relative(cfg, cwd);
            assert!(rel.is_relative());
            let out = hubd().current_dir(cwd).arg("check-config").arg("--config").arg(&rel).output().unwrap();
            assert!(
                out.status.success(),
                "check-config --config {} from {}:\n{}{}",
                rel.display(),
                cwd.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // And a missing store directory is still found, from anywhere.
    std::fs::remove_dir(tmp.join("home/data")).unwrap();
    for cwd in &dirs {
        let rel = relative(&own, cwd);
        let out = hubd().current_dir(cwd).arg("check-config").arg("--config").arg(&rel).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "from {}: {stdout}", cwd.display());
        assert!(stdout.contains("database directory") && stdout.contains(":2:"), "{stdout}");
    }
}

/// The extended demo home with one entity of every domain (issue 14) passes
/// `check-config`, counted as devices, scenes and scripts.
#[test]
fn check_config_accepts_a_home_with_every_domain() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let home = repo.join("tests/homes/every-domain.toml");
    let out = hubd().arg("check-config").arg("--config").arg(&home).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("18 devices, 1 scenes, 1 scripts, 0 automations"), "{stdout}");
}
