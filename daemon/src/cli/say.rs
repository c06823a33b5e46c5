//! `hubd say "TEXT"`: understand a text command, act on it, print the reply.
//!
//! When a daemon is up (its local API answers on `[web] bind`), the text is
//! handed to it (`POST /api/say`); otherwise the pipeline runs in-process
//! against the configured broker (or an embedded one) and the same database.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use hubd::config::Config;
use hubd::pipeline::{Modality, Origin};
use hubd::runtime::{Runtime, StartOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Ctx;

/// Say a text command ("turn on the kitchen light"): resolve it to device
/// commands, send them through the durable outbox and MQTT, wait for the
/// devices' acks, store the dialogue turn and print a spoken-style reply.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sentence.
    pub text: String,
    /// Understand and plan only: print what would be sent, send nothing, store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Area the request comes from (resolves "turn on the light").
    #[arg(long)]
    pub area: Option<String>,
    /// Dialogue session id (default: a new one).
    #[arg(long)]
    pub session: Option<String>,
    /// Never use a running daemon; run the pipeline in this process.
    #[arg(long)]
    pub in_process: bool,
    /// Milliseconds to wait for device acks (in-process).
    #[arg(long, default_value_t = 5000)]
    pub wait_ms: u64,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(&ctx.config)?;
    let body = serde_json::json!({
        "text": args.text, "area": args.area, "session": args.session, "dry_run": args.dry_run,
    });
    let out: serde_json::Value = match if args.in_process { None } else { daemon_addr(&cfg).await } {
        Some(addr) => {
            tracing::debug!(%addr, "handing the text to the running daemon");
            let (status, text) = http_post_json(addr, "/api/say", cfg.web.token.as_deref(), &body.to_string())
                .await
                .with_context(|| format!("calling the daemon's API at {addr}"))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("daemon answered HTTP {status} with a body that is not JSON"))?;
            if !(200..300).contains(&status) {
                let msg = v.pointer("/error/message").and_then(|m| m.as_str()).unwrap_or("unknown error");
                bail!("daemon refused the request (HTTP {status}): {msg}");
            }
            v
        }
        None => {
            let opts = StartOptions {
                web: false,
                client_id: Some(format!("{}-say-{}", cfg.mqtt.client_id, std::process::id())),
                ack_wait: Duration::from_millis(args.wait_ms),
                ..StartOptions::default()
            };
            let rt = Runtime::start(&cfg, opts).await.context("starting the in-process pipeline")?;
            if !args.dry_run && !rt.link.wait_connected(Duration::from_secs(3)).await {
                tracing::warn!("MQTT broker not reachable yet; commands stay queued in the outbox");
            }
            let origin = Origin {
                modality: Modality::Text,
                area: args.area.clone(),
                session: args.session.clone(),
                voice: None,
            };
            let res = rt.pipeline.handle_text(&args.text, origin, args.dry_run).await;
            rt.shutdown(Duration::from_secs(2)).await;
            serde_json::to_value(res?)?
        }
    };
    if ctx.json {
        println!("{out}");
    } else {
        println!("{}", out.get("reply").and_then(|r| r.as_str()).unwrap_or(""));
        if args.dry_run {
            if let Some(cmds) = out.get("commands").and_then(|c| c.as_array()) {
                for c in cmds {
                    eprintln!("  would command {}", c.get("device_id").and_then(|d| d.as_str()).unwrap_or("?"));
                }
            }
        }
    }
    if out.get("intent").is_none_or(|i| i.is_null()) || out.get("error").is_some_and(|e| !e.is_null()) {
        return Ok(ExitCode::from(2));
    }
    let dry_run = out.get("dry_run").and_then(|d| d.as_bool()).unwrap_or(false);
    let unconfirmed = !dry_run
        && out
            .get("commands")
            .and_then(|c| c.as_array())
            .is_some_and(|c| c.iter().any(|c| !matches!(c.get("status").and_then(|s| s.as_str()), Some("acked"))));
    Ok(if unconfirmed { ExitCode::from(3) } else { ExitCode::SUCCESS })
}

/// The daemon's API address if something accepts connections there.
pub(crate) async fn daemon_addr(cfg: &Config) -> Option<SocketAddr> {
    let mut addr = cfg.web.bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    match tokio::time::timeout(Duration::from_millis(300), tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Some(addr),
        _ => None,
    }
}

/// Minimal HTTP/1.1 POST (loopback only, `Connection: close`), bounded by a timeout.
pub(crate) async fn http_post_json(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    http_request(addr, "POST", path, token, Some(body)).await
}

/// Minimal HTTP/1.1 GET, as [`http_post_json`].
pub(crate) async fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> anyhow::Result<(u16, String)> {
    http_request(addr, "GET", path, token, None).await
}

async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let content = match body {
            Some(b) => format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()),
            None => String::new(),
        };
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{content}{auth}Connection: close\r\n\r\n{}",
            body.unwrap_or("")
        );
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        anyhow::Ok(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(60), fut).await.context("timed out")??;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").context("malformed HTTP response")?;
    let status: u16 =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("malformed HTTP status line")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(rest.get(..n).unwrap_or(""));
        s = rest.get(n..).unwrap_or("").trim_start_matches("\r\n");
    }
    out
}
