//! `hubd train-gate --frames DIR`: the learned fusion gate in front of
//! GLM-4.1V's image features (`[model] vlm_path`), trained on the camera
//! frames in DIR (pictures that carry something) against empty pictures made
//! from them (black, grey, white, their mean colour, static, a noisy dark
//! frame), written to `vlm-gate.safetensors` beside the database. The
//! running daemon picks the file up at its next camera question.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hub_model::fusion_gate::FitOptions;
use hub_model::glm4v_chat::{Glm4vChat, Picture};
use hubd::camera::decode::decode_rgb;
use hubd::config::Config;

use super::Ctx;

/// Most frames read from the directory (the first, by file name).
const MAX_FRAMES: usize = 200;

/// Train the fusion gate that leaves empty camera pictures (covered lens,
/// black, blown-out, static) out of `hubd ask-camera`'s prompt.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A directory of JPEG frames from the cameras (`.jpg`/`.jpeg`), e.g.
    /// event snapshots: pictures the model should look at.
    #[arg(long)]
    pub frames: PathBuf,
    /// Gate value below which a picture is left out of the prompt.
    #[arg(long, default_value_t = FitOptions::default().threshold)]
    pub threshold: f64,
}

/// The JPEG frames of `dir`, sorted by name, at most [`MAX_FRAMES`].
fn read_frames(dir: &Path) -> anyhow::Result<Vec<Picture>> {
    let entries = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("--frames {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| x.eq_ignore_ascii_case("jpg") || x.eq_ignore_ascii_case("jpeg"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("--frames {}: no .jpg or .jpeg files", dir.display());
    }
    if files.len() > MAX_FRAMES {
        tracing::warn!(found = files.len(), used = MAX_FRAMES, "using the first frames by name");
        files.truncate(MAX_FRAMES);
    }
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            let (rgb, width, height) = decode_rgb(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            Ok(Picture { width, height, rgb })
        })
        .collect()
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(&ctx.config)?;
    let Some(vlm) = cfg.model.vlm_path.as_deref().map(|p| cfg.resolve_path(p)) else {
        eprintln!("hubd: no vision-language model: set `vlm_path` in the `[model]` section to a GLM-4.1V checkpoint");
        return Ok(ExitCode::from(2));
    };
    if !(args.threshold > 0.0 && args.threshold < 1.0) {
        anyhow::bail!("--threshold {} must be above 0 and below 1", args.threshold);
    }
    let pictures = read_frames(&args.frames)?;
    let out = cfg.vlm_gate_path();
    let opts = FitOptions { threshold: args.threshold, ..FitOptions::default() };
    let t0 = std::time::Instant::now();
    let (dest, vlm_name) = (out.clone(), vlm.display().to_string());
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let chat = Glm4vChat::load(&vlm)?;
        let (gate, report) = chat.train_gate(&pictures, opts, &vlm_name)?;
        gate.save(&dest)?;
        Ok(report)
    })
    .await??;
    let secs = t0.elapsed().as_secs_f64();
    if ctx.json {
        println!("{}", serde_json::json!({"path": out, "seconds": secs, "report": report}));
    } else {
        println!("Trained the fusion gate in {secs:.1} s: {}", out.display());
        println!(
            "  {} pictures with something in them (with mirrored, darker and brighter copies), {} empty ones",
            report.open_examples, report.closed_examples
        );
        println!(
            "  training accuracy {:.1} %; lowest open {:.3}, highest closed {:.3} (threshold {})",
            report.train_accuracy * 100.0,
            report.min_open,
            report.max_closed,
            args.threshold
        );
    }
    Ok(ExitCode::SUCCESS)
}
