//! `hubd devices`: the registry's devices with their origin and state. With
//! a daemon running, its registry (imported devices included) and live
//! state; otherwise the config's devices with the state the store last
//! recorded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use hubd::store::{Store, StoreError};
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
}

fn text(v: &serde_json::Value, k: &str) -> Option<String> {
    v.get(k).and_then(|x| x.as_str()).map(String::from)
}

/// The running daemon's devices (`GET /api/devices`), if one answers.
async fn from_daemon(ctx: &Ctx) -> Option<Vec<Row>> {
    let Ok(super::Target::Daemon { client, .. }) = ctx.target().await else { return None };
    let list: Vec<serde_json::Value> = match client.get_json("/api/devices").await {
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
            })
            .collect(),
    )
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    if args.audio {
        return super::audio_devices(ctx);
    }
    if let Some(rows) = from_daemon(ctx).await {
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
    let rows: Vec<Row> = registry
        .devices
        .iter()
        .map(|d| {
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
            }
        })
        .collect();
    print(ctx, &rows)
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
        println!(
            "{:<w_id$}  {:<w_name$}  {:<w_area$}  {:<12}  {:<13}  {}",
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
