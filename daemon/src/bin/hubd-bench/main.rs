//! `hubd-bench`: every benchmark section, printed as one Markdown table.
//! Run through `make bench`. Peers (mosquitto_pub, hassil, faster-whisper,
//! HF transformers, OpenCV, facenet-pytorch; wrk and Chromium for the web section) run in the same process run on the same inputs, and each
//! row reports the ratio. Sections live one per module.

use std::process::ExitCode;

use clap::Parser;

mod asr;
mod automations;
mod camera;
mod camera_cpu;
mod child;
mod faults;
mod home;
mod kills;
mod linkbench;
mod llm;
mod llm_tools;
mod memory;
mod minilm;
mod natural;
mod nlu;
mod outbox;
mod persons;
mod text;
mod voice;
mod web;
mod wyoming_stt;

/// One row of the results table.
#[derive(Debug, Clone)]
pub struct Row {
    pub section: &'static str,
    pub metric: String,
    pub hubd: String,
    pub peer: String,
    pub ratio: String,
    pub target: String,
}

#[derive(Debug, Parser)]
#[command(name = "hubd-bench")]
struct Args {
    /// Only run sections whose name contains one of these words (default: all).
    sections: Vec<String>,
}

type Section = (&'static str, fn() -> anyhow::Result<Vec<Row>>);

const SECTIONS: &[Section] = &[
    ("text", text::run),
    ("outbox", outbox::run),
    ("faults", faults::run),
    ("kills", kills::run),
    ("memory", memory::run),
    ("web", web::run),
    ("automations", automations::run),
    ("nlu", nlu::run),
    ("minilm", minilm::run),
    ("llm", llm::run),
    ("llm_tools", llm_tools::run),
    ("natural", natural::run),
    ("voice", voice::run),
    ("asr", asr::run),
    ("persons", persons::run),
    ("camera", camera::run),
    ("wyoming", wyoming_stt::run),
];

fn main() -> ExitCode {
    let args = Args::parse();
    let mut rows = Vec::new();
    let mut failed = false;
    for (name, f) in SECTIONS {
        if !args.sections.is_empty() && !args.sections.iter().any(|s| name.contains(s.as_str())) {
            continue;
        }
        eprintln!("bench: {name} ...");
        match f() {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("bench: {name} failed: {e:#}");
                failed = true;
            }
        }
    }
    println!("| section | metric | hubd | peer | ratio | target |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!("| {} | {} | {} | {} | {} | {} |", r.section, r.metric, r.hubd, r.peer, r.ratio, r.target);
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
