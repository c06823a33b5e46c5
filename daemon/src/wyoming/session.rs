//! One Wyoming connection: frames in, events dispatched to the services,
//! events out. Home Assistant opens a connection per request; satellites
//! may keep one open, so a connection serves any number of requests.
//!
//! Problems with what the client sent are answered with an `error` event
//! (`text`, `code`) and the connection stays up when the stream is still in
//! step (bad audio format, unknown event, missing field); a frame that
//! cannot be parsed closes it (the stream position is lost). Every problem
//! is logged with the peer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::Server;
use super::audio::{Collector, Format};
use super::codec::{self, Event, Limits};
use crate::pipeline::{Modality, Origin, PipelineError};

/// A connection silent this long is closed.
pub const IDLE: Duration = Duration::from_secs(300);
/// Longest audio one `transcribe` may send.
pub const MAX_AUDIO_S: f64 = 60.0;
/// Samples per TTS `audio-chunk` (as wyoming-piper sends).
const TTS_CHUNK_SAMPLES: usize = 1024;

enum Audio {
    Idle,
    Collecting(Collector),
    /// The stream was refused; its chunks are dropped until `audio-stop`.
    Refused,
}

struct Conn<W> {
    server: Arc<Server>,
    peer: SocketAddr,
    out: W,
    audio: Audio,
    /// `transcribe`'s `language` (`None`: the model's default).
    language: Option<String>,
}

/// Serve one connection until the client leaves, a frame is malformed, it
/// idles for [`IDLE`], or `stop` is raised.
pub async fn serve(stream: TcpStream, peer: SocketAddr, server: Arc<Server>, mut stop: watch::Receiver<bool>) {
    let (mut rd, wr) = stream.into_split();
    let mut conn = Conn { server, peer, out: wr, audio: Audio::Idle, language: None };
    let limits = Limits::default();
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        loop {
            match codec::decode(&buf, &limits) {
                Ok(Some((ev, used))) => {
                    buf.drain(..used);
                    if let Err(e) = conn.dispatch(ev).await {
                        tracing::debug!(%peer, error = %e, "wyoming: cannot write to the client; closing");
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "wyoming: malformed frame; closing the connection");
                    let _ = conn.send(error_event(&format!("malformed frame: {e}"), "malformed-frame")).await;
                    return;
                }
            }
        }
        let read = tokio::select! {
            r = tokio::time::timeout(IDLE, rd.read_buf(&mut buf)) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match read {
            Ok(Ok(0)) => {
                match &conn.audio {
                    Audio::Collecting(c) => tracing::warn!(
                        %peer,
                        seconds = c.seconds(),
                        "wyoming: client disconnected mid-audio; the audio is dropped"
                    ),
                    _ if !buf.is_empty() => {
                        tracing::warn!(%peer, bytes = buf.len(), "wyoming: client disconnected mid-frame")
                    }
                    _ => tracing::debug!(%peer, "wyoming: client closed the connection"),
                }
                return;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "wyoming: read failed; closing");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, idle_s = IDLE.as_secs(), "wyoming: idle connection closed");
                return;
            }
        }
    }
}

pub fn error_event(text: &str, code: &str) -> Event {
    Event::with("error", json!({ "text": text, "code": code }))
}

/// `context.<key>`, or the top-level `<key>`, as a string.
fn context_str(ev: &Event, key: &str) -> Option<String> {
    let ctx = ev.data.get("context").and_then(|c| c.get(key));
    ctx.or_else(|| ev.data.get(key)).and_then(|v| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

impl<W: AsyncWrite + Unpin> Conn<W> {
    async fn send(&mut self, ev: Event) -> std::io::Result<()> {
        self.out.write_all(&codec::encode(&ev)).await
    }

    async fn refuse(&mut self, text: &str, code: &str) -> std::io::Result<()> {
        tracing::warn!(peer = %self.peer, code, "wyoming: {text}");
        self.send(error_event(text, code)).await
    }

    async fn dispatch(&mut self, ev: Event) -> std::io::Result<()> {
        match ev.kind.as_str() {
            "describe" => self.send(Event::with("info", self.server.info.clone())).await,
            "ping" => {
                let text = ev.data.get("text").cloned().unwrap_or(Value::Null);
                self.send(Event::with("pong", json!({ "text": text }))).await
            }
            // One program of each kind: any selection is the default.
            "select-program" => Ok(()),
            "transcribe" => {
                self.language = ev.str("language").map(str::to_string);
                self.audio = Audio::Idle;
                Ok(())
            }
            "audio-start" => match Format::from_data(&ev.data) {
                Ok(f) => {
                    self.audio = Audio::Collecting(Collector::new(f, MAX_AUDIO_S));
                    Ok(())
                }
                Err(e) => {
                    self.audio = Audio::Refused;
                    self.refuse(&format!("audio-start: {e}"), "bad-audio").await
                }
            },
            "audio-chunk" => self.chunk(ev).await,
            "audio-stop" => self.audio_stop().await,
            "transcript" => self.handle(ev).await,
            "recognize" => self.recognize(ev).await,
            "synthesize" => self.synthesize(ev).await,
            "error" => {
                tracing::warn!(peer = %self.peer, text = ev.str("text").unwrap_or(""), "wyoming: the client reports an error");
                Ok(())
            }
            other => {
                let text = format!("unknown event type `{}`", other.chars().take(64).collect::<String>());
                self.refuse(&text, "unknown-event").await
            }
        }
    }

    async fn chunk(&mut self, ev: Event) -> std::io::Result<()> {
        let f = match Format::from_data(&ev.data) {
            Ok(f) => f,
            Err(e) => {
                if matches!(self.audio, Audio::Refused) {
                    return Ok(());
                }
                self.audio = Audio::Refused;
                return self.refuse(&format!("audio-chunk: {e}"), "bad-audio").await;
            }
        };
        if matches!(self.audio, Audio::Idle) {
            // As wyoming-faster-whisper: a chunk without audio-start starts the stream.
            self.audio = Audio::Collecting(Collector::new(f, MAX_AUDIO_S));
        }
        let bytes = ev.payload.unwrap_or_default();
        if let Audio::Collecting(c) = &mut self.audio
            && let Err(e) = c.push(f, &bytes)
        {
            self.audio = Audio::Refused;
            return self.refuse(&e, "bad-audio").await;
        }
        Ok(())
    }

    async fn audio_stop(&mut self) -> std::io::Result<()> {
        let c = match std::mem::replace(&mut self.audio, Audio::Idle) {
            Audio::Collecting(c) => c,
            Audio::Refused => return Ok(()),
            Audio::Idle => Collector::new(Format { rate: 16_000, width: 2, channels: 1 }, MAX_AUDIO_S),
        };
        let language = self.language.take();
        let text = match self.transcribe(c, language.clone()).await {
            Ok(t) => t,
            Err(e) => return self.refuse(&format!("transcription failed: {e}"), "asr-failed").await,
        };
        tracing::info!(peer = %self.peer, text = %text, "wyoming: transcript");
        let mut head = serde_json::Map::new();
        if let Some(l) = &language {
            head.insert("language".into(), json!(l));
        }
        self.send(Event::with("transcript-start", Value::Object(head.clone()))).await?;
        if !text.is_empty() {
            self.send(Event::with("transcript-chunk", json!({ "text": text }))).await?;
        }
        self.send(Event::new("transcript-stop")).await?;
        head.insert("text".into(), json!(text));
        self.send(Event::with("transcript", Value::Object(head))).await
    }

    async fn transcribe(&self, c: Collector, language: Option<String>) -> Result<String, String> {
        if c.samples.is_empty() {
            return Ok(String::new());
        }
        let rate = c.format.rate;
        let samples = c.samples;
        let pcm =
            tokio::task::spawn_blocking(move || crate::wav::resample(&samples, rate, std::path::Path::new("wyoming")))
                .await
                .map_err(|e| format!("resampler task: {e}"))?
                .map_err(|e| e.to_string())?;
        let asr = self.server.asr.get().await?;
        let mut opts = self.server.decode.clone();
        if let Some(l) = language {
            let mut o = opts.unwrap_or_default();
            o.language = Some(l.split(['-', '_']).next().unwrap_or_default().to_lowercase());
            opts = Some(o);
        }
        asr.transcribe(pcm, opts).await.map(|t| t.text.trim().to_string()).map_err(|e| e.to_string())
    }

    /// `transcript` → hubd's pipeline → `handled` / `not-handled`.
    async fn handle(&mut self, ev: Event) -> std::io::Result<()> {
        let Some(text) = ev.str("text").map(str::to_string) else {
            return self.refuse("transcript: no `text`", "bad-request").await;
        };
        let conversation = context_str(&ev, "conversation_id");
        let satellite = context_str(&ev, "satellite_id");
        let origin = Origin { modality: Modality::Voice, area: None, session: conversation.clone(), voice: None };
        let result = self.server.pipeline.handle_text(&text, origin, false).await;
        tracing::info!(peer = %self.peer, text = %text, satellite = satellite.as_deref().unwrap_or(""),
            ok = result.as_ref().is_ok_and(|o| o.intent.is_some()), "wyoming: handle");
        let (kind, reply, session) = match result {
            Ok(o) if o.intent.is_some() && o.error.is_none() => ("handled", o.reply, Some(o.session)),
            Ok(o) => ("not-handled", o.error.unwrap_or(o.reply), Some(o.session)),
            Err(PipelineError::Empty) => ("not-handled", "Nothing was said.".to_string(), conversation),
            Err(e) => ("not-handled", format!("Sorry, that failed: {e}"), conversation),
        };
        let mut data = json!({ "text": reply });
        if let Some(s) = session {
            data["context"] = json!({ "conversation_id": s });
        }
        self.send(Event::with(kind, data)).await
    }

    /// `recognize` → `intent` with Home Assistant's names, or `not-recognized`; nothing is done.
    async fn recognize(&mut self, ev: Event) -> std::io::Result<()> {
        let Some(text) = ev.str("text").map(str::to_string) else {
            return self.refuse("recognize: no `text`", "bad-request").await;
        };
        let u = self.server.pipeline.nlu().understand(text.trim(), None);
        let out = match u {
            Some(u) => {
                let slots = serde_json::to_value(&u.slots).unwrap_or(Value::Null);
                let mut entities: Vec<Value> = slots
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| json!({ "name": k, "value": v }))
                    .collect();
                if !u.entities.is_empty() {
                    entities.push(json!({ "name": "entity_id", "value": u.entities }));
                }
                Event::with("intent", json!({ "name": u.intent.as_str(), "entities": entities }))
            }
            None => Event::with("not-recognized", json!({ "text": format!("Sorry, I did not understand `{text}`.") })),
        };
        tracing::info!(peer = %self.peer, text = %text, result = %out.kind, "wyoming: recognize");
        self.send(out).await
    }

    /// `synthesize` → `audio-start`, `audio-chunk`…, `audio-stop`.
    async fn synthesize(&mut self, ev: Event) -> std::io::Result<()> {
        let Some(text) = ev.str("text").map(str::to_string) else {
            return self.refuse("synthesize: no `text`", "bad-request").await;
        };
        let Some(voices) = self.server.tts.voices().await else {
            let program = self.server.tts.config().program.clone();
            return self
                .refuse(&format!("text to speech is not available (`{program}` cannot be run)"), "no-tts")
                .await;
        };
        let wanted = ev.data.get("voice");
        let by_name = wanted.and_then(|v| v.get("name")).and_then(Value::as_str).map(str::to_string);
        let by_lang = wanted.and_then(|v| v.get("language")).and_then(Value::as_str).and_then(|l| {
            voices.iter().find(|v| v.name == l || v.languages.iter().any(|x| x == l)).map(|v| v.name.clone())
        });
        let voice = by_name.or(by_lang);
        let speech = match self.server.tts.synthesize(&text, voice.as_deref()).await {
            Ok(s) => s,
            Err(e) => return self.refuse(&format!("synthesis failed: {e}"), "tts-failed").await,
        };
        let f = Format { rate: speech.rate, width: speech.width, channels: speech.channels };
        let frame = speech.width as usize * speech.channels as usize;
        self.send(Event::with("audio-start", f.to_data(Some(0)))).await?;
        let mut at = 0u64;
        for chunk in speech.pcm.chunks(TTS_CHUNK_SAMPLES * frame) {
            let ts = at * 1000 / speech.rate as u64;
            self.send(Event::with("audio-chunk", f.to_data(Some(ts))).payload(chunk.to_vec())).await?;
            at += (chunk.len() / frame) as u64;
        }
        self.send(Event::with("audio-stop", json!({ "timestamp": at * 1000 / speech.rate as u64 }))).await
    }
}
