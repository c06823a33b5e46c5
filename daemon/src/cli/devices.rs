//! `hubd devices`: the registry's devices with their origin and state. With
//! a daemon running, its registry (imported devices included) and live
//! state; otherwise the config's devices with the state the store last
//! recorded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use hub_skills::Registry;
use hubd::config::Config;
use hubd::search::EmbedService;
use hubd::search::devices::{DeviceHit, find_devices};
use hubd::store::{Store, StoreError};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Database file (default: `[store] path` of the configuration).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// List audio input devices instead (for `[audio] device`).
    #[arg(long)]
    pub audio: bool,
    /// Only devices about this, best first: whose id, name, an alias or
    /// area contains it and, with `[store] semantic_search`, those whose
    /// names are close in meaning ("espresso" finds the coffee machine).
    #[arg(long, conflicts_with = "audio")]
    pub search: Option<String>,
}

#[derive(Serialize)]
struct Row {
    id: String,
    kind: String,
    name: String,
    area: Option<String>,
    floor: Option<String>,
    dialect: Option<String>,
    origin: String,
    state: Option<serde_json::Value>,
    state_updated_at: Option<i64>,
    /// With `--search`: `text` or `meaning`, and the similarity.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    matched: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
}

fn text(v: &serde_json::Value, k: &str) -> Option<String> {
    v.get(k).and_then(|x| x.as_str()).map(String::from)
}

/// The running daemon's devices (`GET /api/devices`), if one answers.
async fn from_daemon(ctx: &Ctx, search: Option<&str>) -> Option<Vec<Row>> {
    let Ok(super::Target::Daemon { client, .. }) = ctx.target().await else { return None };
    let path = match search {
        Some(q) => format!("/api/devices?q={}", utf8_percent_encode(q, NON_ALPHANUMERIC)),
        None => "/api/devices".to_string(),
    };
    let list: Vec<serde_json::Value> = match client.get_json(&path).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "the daemon did not list its devices; showing the config's");
            return None;
        }
    };
    Some(
        list.iter()
            .map(|d| Row {
                id: text(d, "id").unwrap_or_default(),
                kind: text(d, "kind").unwrap_or_default(),
                name: text(d, "name").unwrap_or_default(),
                area: text(d, "area"),
                floor: text(d, "floor"),
                dialect: text(d, "dialect"),
                origin: text(d, "origin").unwrap_or_else(|| "config".into()),
                state: d.get("state").filter(|s| !s.is_null()).cloned(),
                state_updated_at: None,
                matched: text(d, "match"),
                score: d.get("score").and_then(serde_json::Value::as_f64),
            })
            .collect(),
    )
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    if args.audio {
        return super::audio_devices(ctx);
    }
    if let Some(rows) = from_daemon(ctx, args.search.as_deref()).await {
        return print(ctx, &rows);
    }
    let cfg = ctx.load_client_config()?;
    let registry = cfg.registry()?;
    let db = args.db.unwrap_or_else(|| cfg.store_path());
    let states = match Store::open_existing(&db).await {
        Ok(store) => {
            let s = store.device_states().await?;
            store.close().await;
            s.into_iter().map(|r| (r.device_id.clone(), r)).collect::<HashMap<_, _>>()
        }
        Err(StoreError::Missing { .. }) => {
            tracing::warn!(db = %db.display(), "no database yet: no recorded state");
            HashMap::new()
        }
        Err(e) => return Err(e.into()),
    };
    let found = match &args.search {
        Some(q) => Some(search_offline(&cfg, &registry, &db, q).await?),
        None => None,
    };
    let listed: Vec<(&hub_skills::Device, Option<&DeviceHit>)> = match &found {
        Some(hits) => hits.iter().filter_map(|h| Some((registry.device(&h.id)?, Some(h)))).collect(),
        None => registry.devices.iter().map(|d| (d, None)).collect(),
    };
    let rows: Vec<Row> = listed
        .into_iter()
        .map(|(d, hit)| {
            let st = states.get(&d.id);
            let dialect = d.dialect.as_ref().map(|x| x.name().to_string());
            Row {
                id: d.id.clone(),
                kind: d.kind.domain().to_string(),
                name: d.name.clone(),
                area: d.area.clone(),
                floor: registry.device_floor(d).map(|f| f.id.clone()),
                dialect,
                origin: d.origin.as_str().to_string(),
                state: st.map(|s| s.state.clone()),
                state_updated_at: st.map(|s| s.updated_at),
                matched: hit.map(|h| h.matched.to_string()),
                score: hit.and_then(|h| h.score).map(f64::from),
            }
        })
        .collect();
    print(ctx, &rows)
}

/// `--search` without a daemon: the config's devices, by meaning with the
/// config's `[store] semantic_search` (vectors kept in the database).
async fn search_offline(cfg: &Config, registry: &Registry, db: &Path, q: &str) -> anyhow::Result<Vec<DeviceHit>> {
    let store = Store::open_existing(db).await.context("--search keeps the names' vectors in the database")?;
    let encoder = cfg.store.semantic_search.then(|| cfg.encoder_dir()).flatten();
    let all = registry.devices.len();
    let found = match encoder {
        Some(dir) => EmbedService::scoped(dir, async |e| find_devices(&store, Some(e), registry, q, all).await).await,
        None => find_devices(&store, None, registry, q, all).await,
    };
    store.close().await;
    Ok(found?)
}

fn print(ctx: &Ctx, rows: &[Row]) -> anyhow::Result<ExitCode> {
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let w_id = rows.iter().map(|r| r.id.len()).max().unwrap_or(2).max(2);
    let w_name = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let w_area = rows.iter().map(|r| r.area.as_deref().map_or(1, str::len)).max().unwrap_or(4).max(4);
    println!("{:<w_id$}  {:<w_name$}  {:<w_area$}  {:<12}  {:<13}  STATE", "ID", "NAME", "AREA", "DIALECT", "ORIGIN");
    for r in rows {
        let state = match (&r.state, r.state_updated_at) {
            (Some(s), Some(t)) => format!("{s}  ({})", super::fmt_time(t)),
            (Some(s), None) => s.to_string(),
            _ => "-".to_string(),
        };
        let how = match (&r.matched, r.score) {
            (Some(m), Some(s)) => format!("  ({m} {s:.2})"),
            (Some(m), None) => format!("  ({m})"),
            _ => String::new(),
        };
        println!(
            "{:<w_id$}  {:<w_name$}  {:<w_area$}  {:<12}  {:<13}  {}{how}",
            r.id,
            r.name,
            r.area.as_deref().unwrap_or("-"),
            r.dialect.as_deref().unwrap_or("-"),
            r.origin,
            state
        );
    }
    Ok(ExitCode::SUCCESS)
}
