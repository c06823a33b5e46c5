//! Shared setup of the `text` and `outbox` sections: a real mosquitto on a
//! free loopback port and an in-process hubd runtime against it (temp
//! SQLite file, durable outbox, grammar path).

use std::path::Path;

/// A temporary directory removed on drop (tempfile is a dev-dependency only).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> anyhow::Result<TempDir> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let p = std::env::temp_dir().join(format!("hubd-bench-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The shared launcher (also used by the e2e tests); benches call `try_start`.
pub use hubd::testing::Mosquitto;

pub const LIGHTS: &[(&str, &str)] = &[
    ("light.kitchen", "Kitchen Light"),
    ("light.hall", "Hall Light"),
    ("light.office", "Office Light"),
    ("light.porch", "Porch Light"),
];

/// A config for `port`, database in `dir`, long command timeout (no retries
/// during a run).
pub fn config(dir: &Path, port: u16) -> anyhow::Result<hubd::config::Config> {
    let mut s = format!(
        r#"
[mqtt]
host = "127.0.0.1"
port = {port}
client_id = "hubd-bench-{port}"
command_timeout_ms = 600000
expire_after_s = 3600

[store]
path = "{}"

[audio]
enabled = false

[[area]]
id = "home"
name = "Home"
"#,
        dir.join("bench.db").display()
    );
    for (id, name) in LIGHTS {
        s.push_str(&format!(
            "\n[[device]]\nid = \"{id}\"\nname = \"{name}\"\narea = \"home\"\nfeatures = {{ dimmable = true }}\ndialect = {{ type = \"zigbee2mqtt\", friendly_name = \"{name}\" }}\n"
        ));
    }
    Ok(hubd::config::Config::from_str(&s, "bench.toml")?)
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}
