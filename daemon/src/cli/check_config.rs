//! `hubd check-config`: validate a configuration file and print every
//! problem as `file:line:col: message (expected ...)`; exit 1 on any.

use std::path::PathBuf;
use std::process::ExitCode;

use hubd::config::{Config, Diagnostic};
use serde::Serialize;

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// File to check (default: the global --config).
    pub file: Option<PathBuf>,
    /// Skip checking that referenced files (custom sentences, model paths) exist.
    #[arg(long)]
    pub no_files: bool,
}

#[derive(Serialize)]
struct Report {
    ok: bool,
    file: String,
    errors: Vec<Diagnostic>,
    summary: Option<Summary>,
}

#[derive(Serialize)]
struct Summary {
    floors: usize,
    areas: usize,
    devices: usize,
    scenes: usize,
    scripts: usize,
    automations: usize,
    schema_version: i64,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let path = args.file.unwrap_or_else(|| ctx.config.clone());
    let (errors, summary) = match Config::load(&path) {
        Err(e) => (e.diagnostics(), None),
        Ok(cfg) => {
            let mut errors = match cfg.registry() {
                Ok(_) => Vec::new(),
                Err(e) => e.diagnostics(),
            };
            if !args.no_files {
                errors.extend(cfg.check_files());
            }
            let summary = Summary {
                floors: cfg.floors.len(),
                areas: cfg.areas.len(),
                devices: cfg.devices.len(),
                scenes: cfg.scenes.len(),
                scripts: cfg.scripts.len(),
                automations: cfg.automations.len() - cfg.scripts.len(),
                schema_version: hubd::store::Store::known_schema_version(),
            };
            (errors, Some(summary))
        }
    };
    let ok = errors.is_empty();
    if ctx.json {
        let report = Report { ok, file: path.display().to_string(), errors, summary: summary.filter(|_| ok) };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if ok {
        if let Some(s) = summary {
            println!(
                "{}: ok ({} floors, {} areas, {} devices, {} scenes, {} scripts, {} automations)",
                path.display(),
                s.floors,
                s.areas,
                s.devices,
                s.scenes,
                s.scripts,
                s.automations
            );
        }
    } else {
        for d in &errors {
            println!("{d}");
        }
        eprintln!("{}: {} error(s)", path.display(), errors.len());
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
