//! `hubd migrate`: open the database (creating it if needed), apply pending
//! migrations and print the schema version.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use hubd::store::Store;
use serde::Serialize;

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Database file (default: `[store] path` of the configuration).
    #[arg(long)]
    pub db: Option<PathBuf>,
}

#[derive(Serialize)]
struct Report {
    database: String,
    schema_version: i64,
    known_schema_version: i64,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let path = super::store_path(ctx, args.db)?;
    let store = Store::open(&path).await.with_context(|| format!("migrating {}", path.display()))?;
    let report = Report {
        database: path.display().to_string(),
        schema_version: store.schema_version().await?,
        known_schema_version: Store::known_schema_version(),
    };
    store.close().await;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}: schema version {}", report.database, report.schema_version);
    }
    Ok(ExitCode::SUCCESS)
}
