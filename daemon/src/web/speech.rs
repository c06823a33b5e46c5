//! `POST /v1/audio/speech`: OpenAI's text-to-speech call on hubd's own
//! speech engine (`[tts]`). `response_format` is `wav` (the default here,
//! as hubd has no MP3 encoder) or `pcm` (OpenAI's raw 24 kHz 16-bit
//! mono); the other formats are refused as not implemented. `voice` is a
//! voice of the engine (`en-us`, `de`) or one of OpenAI's names, which all
//! mean `[tts] voice`; `speed` (0.25..=4) scales `[tts] rate`.
use serde::Deserialize;
use warp::Rejection;
use warp::http::header::{self, HeaderValue};

use super::Api;
use super::errors::ApiError;
use crate::config::TtsConfig;
use crate::tts::{Speech, TtsError};

/// OpenAI's voice names (any of them is `[tts] voice`).
pub const OPENAI_VOICES: &[&str] =
    &["alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechRequest {
    /// Any name: there is one engine.
    pub model: String,
    pub input: String,
    pub voice: String,
    #[serde(default)]
    pub response_format: Option<String>,
    #[serde(default)]
    pub speed: Option<f64>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub stream_format: Option<String>,
}

fn bad(msg: String) -> Rejection {
    ApiError::BadRequest(msg).rejection()
}

/// The rate for `speed`, within espeak-ng's 80..=450 words a minute.
fn rate_for(cfg: &TtsConfig, speed: Option<f64>) -> Result<u32, Rejection> {
    let s = speed.unwrap_or(1.0);
    if !(0.25..=4.0).contains(&s) {
        return Err(bad(format!("`speed` = {s}: expected 0.25 to 4.0")));
    }
    Ok(((f64::from(cfg.rate) * s).round() as u32).clamp(80, 450))
}

pub async fn speech(body: SpeechRequest, api: Api) -> Result<warp::reply::Response, Rejection> {
    let format = body.response_format.as_deref().unwrap_or("wav");
    match format {
        "wav" | "pcm" => {}
        "mp3" | "opus" | "aac" | "flac" => {
            return Err(bad(format!(
                "`response_format` = \"{format}\" is not implemented yet (use \"wav\" or \"pcm\")"
            )));
        }
        other => return Err(bad(format!("`response_format` = \"{other}\": expected wav or pcm"))),
    }
    if body.instructions.as_deref().is_some_and(|i| !i.trim().is_empty()) {
        return Err(bad("`instructions` is not implemented yet (espeak-ng takes no style prompt)".into()));
    }
    if body.stream_format.as_deref().is_some_and(|f| f != "audio") {
        return Err(bad("`stream_format` = \"sse\" is not implemented yet (use \"audio\")".into()));
    }
    if body.input.trim().is_empty() {
        return Err(bad("`input` is empty".into()));
    }
    let cfg = api.tts.config();
    let rate = rate_for(cfg, body.speed)?;
    let voice = if OPENAI_VOICES.contains(&body.voice.as_str()) { None } else { Some(body.voice.as_str()) };
    let speech = match api.tts.synthesize_at(&body.input, voice, rate).await {
        Ok(s) => s,
        Err(e @ (TtsError::UnknownVoice(_) | TtsError::TooLong { .. } | TtsError::Empty)) => {
            let field = if matches!(e, TtsError::UnknownVoice(_)) { "voice" } else { "input" };
            return Err(bad(format!("`{field}`: {e}")));
        }
        Err(e) => return Err(ApiError::Unavailable(format!("text to speech: {e}")).rejection()),
    };
    let (bytes, mime) = if format == "pcm" {
        let pcm = crate::audio::output::to_device(&speech.mono_f32(), speech.rate, 24_000, 1)
            .map_err(|e| ApiError::Internal(format!("resampling speech: {e}")).rejection())?;
        (pcm.iter().flat_map(|s| ((s * 32767.0) as i16).to_le_bytes()).collect::<Vec<u8>>(), "audio/pcm")
    } else {
        let wav = wav_bytes(&speech).map_err(|e| ApiError::Internal(format!("writing WAV: {e}")).rejection())?;
        (wav, "audio/wav")
    };
    let mut r = warp::reply::Response::new(bytes.into());
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    Ok(r)
}

/// A WAV file of the speech's integer PCM, written with `hound` as the
/// recordings are.
pub fn wav_bytes(s: &Speech) -> Result<Vec<u8>, hound::Error> {
    if s.width == 0 {
        return Err(hound::Error::Unsupported);
    }
    let spec = hound::WavSpec {
        channels: s.channels,
        sample_rate: s.rate,
        bits_per_sample: s.width * 8,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::with_capacity(44 + s.pcm.len()));
    let mut w = hound::WavWriter::new(&mut out, spec)?;
    for b in s.pcm.chunks_exact(usize::from(s.width)) {
        let v = match *b {
            [a] => i32::from(a) - 128,
            [a, b] => i32::from(i16::from_le_bytes([a, b])),
            [a, b, c] => i32::from_le_bytes([0, a, b, c]) >> 8,
            [a, b, c, d, ..] => i32::from_le_bytes([a, b, c, d]),
            [] => 0,
        };
        w.write_sample(v)?;
    }
    w.finalize()?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trips_through_the_reader() {
        let s = Speech { rate: 22_050, width: 2, channels: 1, pcm: vec![1, 0, 2, 0, 3, 0] };
        assert_eq!(crate::tts::parse_wav(&wav_bytes(&s).unwrap()).unwrap(), s);
        let s8 = Speech { rate: 8000, width: 1, channels: 2, pcm: vec![0, 128, 255, 7] };
        assert_eq!(crate::tts::parse_wav(&wav_bytes(&s8).unwrap()).unwrap(), s8);
    }

    #[test]
    fn speed_scales_the_rate_within_bounds() {
        let cfg = TtsConfig::default();
        assert_eq!(rate_for(&cfg, None).unwrap(), 175);
        assert_eq!(rate_for(&cfg, Some(2.0)).unwrap(), 350);
        assert_eq!(rate_for(&cfg, Some(0.25)).unwrap(), 80);
        assert!(rate_for(&cfg, Some(5.0)).is_err());
    }
}
