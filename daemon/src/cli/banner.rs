//! What `hubd run` tells a person once the daemon is up: one banner (where
//! the dashboard/API and the broker are, how many devices, what to try
//! next), and the runtime file that lets `hubd say` find this daemon.

use std::path::Path;

use hubd::runtime::Runtime;
use hubd::runtime_file::{DaemonInfo, RuntimeFile};

use super::Ctx;

/// Write the runtime file and print the banner (or, with `--json`, one
/// `ready` event on stdout). The returned file is removed when dropped:
/// keep it until shutdown.
pub fn announce(ctx: &Ctx, rt: &Runtime, demo: bool) -> Option<RuntimeFile> {
    let (host, port) = rt.broker_addr.clone();
    let mqtt = format!("{host}:{port}");
    let file = rt.web_addr.and_then(|web| {
        let config = std::path::absolute(&ctx.config).unwrap_or_else(|_| ctx.config.clone());
        let info = DaemonInfo {
            pid: std::process::id(),
            web,
            config,
            mqtt: mqtt.clone(),
            token: rt.web_token.clone(),
            started_at: now_ms(),
        };
        match RuntimeFile::write(&info) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(
                    "{}; `hubd say` will need --config {}",
                    crate::report(&anyhow::Error::new(e)),
                    ctx.config.display()
                );
                None
            }
        }
    });
    let web = rt.web_addr.map(|a| a.to_string());
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "event": "ready", "mqtt": mqtt, "web": web.as_deref().unwrap_or("-"),
                "embedded_broker": rt.broker.is_some(), "devices": rt.registry.get().devices.len(),
                "runtime_file": file.as_ref().map(|f| f.path()),
            })
        );
    } else {
        eprintln!("{}", text(ctx, rt, web.as_deref(), &mqtt, demo, file.is_some()));
    }
    file
}

fn text(ctx: &Ctx, rt: &Runtime, web: Option<&str>, mqtt: &str, demo: bool, found: bool) -> String {
    let n = rt.registry.get().devices.len();
    let mut s = format!("hubd {} is running{}\n", env!("CARGO_PKG_VERSION"), if demo { " the demo home" } else { "" });
    match web {
        Some(w) => s.push_str(&format!("  dashboard/API  http://{w}\n")),
        None => s.push_str("  dashboard/API  off\n"),
    }
    if let (Some(file), Some(t)) = (&rt.web_token_new, &rt.web_token) {
        s.push_str(&format!("  web token      {t} (new; kept in {}, shown once)\n", file.display()));
    }
    let kind = if rt.broker.is_some() { "embedded broker" } else { "broker" };
    s.push_str(&format!("  MQTT           {mqtt} ({kind})\n"));
    s.push_str(&format!("  devices        {n}{}\n", if demo { " (simulated)" } else { "" }));
    let config = if found { String::new() } else { format!(" --config {}", shell_path(&ctx.config)) };
    if let Some(sentence) = try_sentence(rt) {
        s.push_str(&format!("  try            hubd say{config} \"{sentence}\"\n"));
    }
    s.push_str(&format!("                 hubd status{config}\n"));
    s.push_str("  stop           Ctrl-C");
    s
}

/// "turn on the kitchen light" for the demo home: the first light (else
/// switch or fan) in the registry.
fn try_sentence(rt: &Runtime) -> Option<String> {
    let registry = rt.registry.get();
    let devices = &registry.devices;
    ["light", "switch", "fan"]
        .iter()
        .find_map(|domain| devices.iter().find(|d| d.kind.domain() == *domain && d.dialect.is_some()))
        .map(|d| format!("turn on the {}", d.name.to_lowercase()))
}

fn shell_path(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) { s } else { format!("'{s}'") }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
