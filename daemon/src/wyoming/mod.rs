//! The Wyoming server: Home Assistant's protocol for voice services
//! (github.com/OHF-Voice/wyoming), so its voice pipeline and satellites can
//! use hubd for speech to text (`asr`), conversation (`handle`), intent
//! recognition (`intent`) and text to speech (`tts`).
//!
//! One listener (`[wyoming] bind`), one task per connection, at most
//! `[wyoming] max_connections` at once (a further client gets an `error`
//! event and is closed). The frames are [`codec`] (pure), the services
//! [`session`]. `asr` uses the runtime's Whisper service — the same worker
//! as the microphone — and `tts` the runtime's [`crate::tts::TtsService`].
//! The server is announced as `_wyoming._tcp` over mDNS ([`mdns`]) when
//! `[wyoming] zeroconf` says so.

pub mod audio;
pub mod codec;
pub mod info;
pub mod mdns;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use hub_model::whisper::DecodeOptions;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::services::AsrService;
use crate::tts::TtsService;

#[derive(Debug, Error)]
pub enum WyomingError {
    #[error("wyoming: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// What every connection shares.
pub struct Server {
    pub pipeline: Pipeline,
    pub asr: AsrService,
    pub tts: TtsService,
    /// The microphone's decode options (`[audio] prompt`, `fit_window`).
    pub decode: Option<DecodeOptions>,
    /// The `info` event's data, built once.
    pub info: serde_json::Value,
}

/// Bind `[wyoming] bind` (or `bind`), announce it, and serve until `stop`.
/// Returns the bound address and the listener task.
pub async fn start(
    cfg: &Config,
    bind: Option<SocketAddr>,
    pipeline: Pipeline,
    asr: AsrService,
    tts: TtsService,
    mut stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), WyomingError> {
    let w = &cfg.wyoming;
    let bind = bind.unwrap_or(w.bind);
    let listener = TcpListener::bind(bind).await.map_err(|source| WyomingError::Bind { addr: bind, source })?;
    let addr = listener.local_addr().map_err(|source| WyomingError::Bind { addr: bind, source })?;
    let voices = tts.voices().await.map(|v| (*v).clone());
    let whisper = asr
        .dir()
        .filter(|d| d.exists())
        .map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "whisper".to_string()));
    if whisper.is_none() {
        tracing::warn!("wyoming: no Whisper model; the asr service is not offered");
    } else {
        // Load the shared Whisper now, not on Home Assistant's first request.
        let asr = asr.clone();
        tokio::spawn(async move {
            if let Err(e) = asr.get().await {
                tracing::warn!(error = %e, "wyoming: Whisper did not load; transcribe requests will fail");
            }
        });
    }
    let offer = info::Offer { whisper, language: cfg.nlu.language.clone(), voices };
    let decode = crate::audio::voice::VoiceOptions::from_config(cfg).ok().and_then(|o| o.decode);
    let server = Arc::new(Server { pipeline, asr, tts, decode, info: info::info(&offer) });
    let announce = if w.announce() {
        let instance = format!("hubd-{}", mdns::host_name());
        match tokio::task::spawn_blocking(move || mdns::Announcement::start(&instance, addr)).await {
            Ok(Ok(a)) => {
                tracing::info!(name = a.fullname(), "wyoming: announced over mDNS");
                Some(a)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "wyoming: cannot announce over mDNS; Home Assistant must be given the address");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "wyoming: mDNS start-up task failed");
                None
            }
        }
    } else {
        None
    };
    let limit = Arc::new(Semaphore::new(w.max_connections.max(1) as usize));
    tracing::info!(%addr, max_connections = w.max_connections, "wyoming: listening");
    let task = tokio::spawn(async move {
        let tracker = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.wait_for(|s| *s) => break,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "wyoming: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "wyoming: too many connections; refusing");
                tracker.spawn(refuse_busy(stream));
                continue;
            };
            let (server, stop) = (server.clone(), stop.clone());
            tracker.spawn(async move {
                let _ = stream.set_nodelay(true);
                session::serve(stream, peer, server, stop).await;
                drop(permit);
            });
        }
        tracker.close();
        tracker.wait().await;
        if let Some(a) = announce {
            let _ = tokio::task::spawn_blocking(move || a.stop()).await;
        }
        tracing::debug!("wyoming: stopped");
    });
    Ok((addr, task))
}

/// Tell a client over the connection limit why it is closed.
async fn refuse_busy(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let ev = session::error_event("too many connections; try again later", "busy");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), stream.write_all(&codec::encode(&ev))).await;
    let _ = stream.shutdown().await;
}
