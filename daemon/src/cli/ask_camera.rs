//! `hubd ask-camera CAMERA "QUESTION"`: ask the running daemon's
//! vision-language model (GLM-4.1V, `[model] vlm_path`) about the camera's
//! newest frame (`POST /api/cameras/<id>/ask`) and print the answer.

use std::process::ExitCode;
use std::time::Duration;

use hubd::api_client::ClientError;
use hubd::web::camera_ask::{AskRequest, AskResponse};

use super::Ctx;

/// Longest wait for the answer (a 9B model on a CPU takes minutes).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(900);

/// Ask about what a camera sees: its newest frame and the question go to the
/// GLM-4.1V checkpoint of `[model] vlm_path` in the running daemon; prints
/// the answer. Exit code 2 when the daemon has no such model or camera.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Camera id (`[[camera.source]] id`).
    pub camera: String,
    /// The question, e.g. "is the garage door open?".
    pub question: String,
    /// Most tokens in the answer.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let mut client = ctx.daemon().await?;
    client.timeout = ANSWER_TIMEOUT;
    let path = format!("/api/cameras/{}/ask", args.camera);
    let req = AskRequest { question: args.question, max_tokens: Some(args.max_tokens) };
    let out: AskResponse = match client.post_json(&path, &req).await {
        Ok(a) => a,
        Err(ClientError::Status { status, message, .. }) if status == 404 || status == 503 || status == 400 => {
            eprintln!("hubd: {message}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    if ctx.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}", out.answer);
        if let (false, Some(g)) = (out.image_used, out.image_gate) {
            eprintln!(
                "hubd: the frame was left out: the fusion gate closed on it ({g:.2}; `hubd train-gate`), so the \
                 question was answered without a picture"
            );
        }
        tracing::info!(
            image_tokens = out.image_tokens,
            new_tokens = out.tokens.len(),
            seconds = out.seconds,
            "answered from the {}x{} frame",
            out.frame_width,
            out.frame_height
        );
    }
    Ok(ExitCode::SUCCESS)
}
