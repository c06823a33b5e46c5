//! `hubd status`: the running daemon's health and counters (`GET /api/status`).

use std::process::ExitCode;

use super::Ctx;

/// Ask the running daemon (found through its runtime file, `--url`, or the
/// `[web] bind` of `--config`) for its status: MQTT link, outbox counters,
/// and the audio gate's counters (frames seen, speech frames, utterances
/// decoded). Exit code 1 when no daemon answers.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    let addr = client.addr;
    let v: serde_json::Value = client.get_json("/api/status").await?;
    if ctx.json {
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    let n = |p: &str| v.pointer(p).map(|x| x.to_string()).unwrap_or_else(|| "?".into());
    println!("hubd {} at {addr}, up {} s", v["version"].as_str().unwrap_or("?"), n("/uptime_s"));
    println!("  mqtt        {}", if v["mqtt_connected"] == true { "connected" } else { "DISCONNECTED" });
    println!("  devices     {}", n("/devices"));
    println!(
        "  outbox      enqueued {}  sent {}  acked {}  failed {}  expired {}  superseded {}",
        n("/outbox/enqueued"),
        n("/outbox/sent"),
        n("/outbox/acked"),
        n("/outbox/failed"),
        n("/outbox/expired"),
        n("/outbox/superseded")
    );
    println!(
        "  audio       device {}  frames {}  speech frames {}  utterances {}  decoded {}  commands {}",
        if v.pointer("/audio/device_up") == Some(&serde_json::Value::Bool(true)) { "up" } else { "down" },
        n("/audio/frames"),
        n("/audio/speech_frames"),
        n("/audio/utterances"),
        n("/audio/utterances_decoded"),
        n("/audio/commands")
    );
    println!(
        "  llm         {}  completed {}  cancelled {}  failed {}  tokens {}",
        if v.pointer("/llm/loaded") == Some(&serde_json::Value::Bool(true)) { "loaded" } else { "not loaded" },
        n("/llm/completed"),
        n("/llm/cancelled"),
        n("/llm/failed"),
        n("/llm/tokens")
    );
    for c in v["cameras"].as_array().into_iter().flatten() {
        let s = |k: &str| c[k].as_str().unwrap_or("?").to_string();
        println!(
            "  camera      {}  {}  motion {}  fps {:.1}  frames {}  errors {}{}",
            s("id"),
            if c["available"] == true { "available" } else { "UNAVAILABLE" },
            if c["motion"] == true { "ON" } else { "off" },
            c["fps"].as_f64().unwrap_or(0.0),
            c["frames"],
            c["errors"],
            c["last_error"].as_str().map(|e| format!("  last error: {e}")).unwrap_or_default()
        );
    }
    for b in v["models"].as_array().into_iter().flatten() {
        let list =
            |k: &str| b[k].as_array().into_iter().flatten().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ");
        let counters = b["counters"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join("  "))
            .unwrap_or_default();
        println!(
            "  branch      {:<16} {}  {}  on {}  gate: {}  {}",
            b["branch"].as_str().unwrap_or("?"),
            if b["enabled"] == true { "on " } else { "off" },
            list("models"),
            list("devices"),
            b["gate"].as_str().unwrap_or("?"),
            counters
        );
    }
    for (path, l) in v["latency"].as_object().into_iter().flatten() {
        println!(
            "  latency     {path}: p50 {} ms  p95 {} ms  p99 {} ms  (n = {})",
            l["p50_ms"], l["p95_ms"], l["p99_ms"], l["n"]
        );
    }
    Ok(ExitCode::SUCCESS)
}
