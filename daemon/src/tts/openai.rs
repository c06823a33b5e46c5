//! `[tts] engine = "openai"`: speech from an OpenAI-compatible server
//! (`POST {url}/audio/speech`, `response_format = "wav"`), such as another
//! hubd's `/v1/audio/speech` or a Piper or Kokoro server behind that API.
//! Plain HTTP on the LAN, through the same hyper client the CLI uses.
use std::time::Duration;

use super::{Speech, TtsError, parse_wav};
use crate::api_client::ApiClient;
use crate::config::NORMAL_RATE;
use crate::config::{BaseUrl, TtsConfig};

/// Ask the server for `text` in `voice` at `rate` (as OpenAI's `speed`).
pub async fn speech(
    cfg: &TtsConfig,
    text: &str,
    voice: &str,
    rate: u32,
    timeout: Duration,
) -> Result<Speech, TtsError> {
    let url = cfg.url.clone().unwrap_or_default();
    let server = |message: String| TtsError::Server { url: url.clone(), message };
    let base = BaseUrl::parse(&url).map_err(server)?;
    let addr = tokio::net::lookup_host((base.host.as_str(), base.port))
        .await
        .map_err(|e| server(format!("cannot resolve {}: {e}", base.host)))?
        .next()
        .ok_or_else(|| server(format!("{} has no address", base.host)))?;
    let mut client = ApiClient::new(addr, cfg.api_key.clone());
    client.timeout = timeout;
    let body = serde_json::json!({
        "model": cfg.model,
        "input": text,
        "voice": voice,
        "response_format": "wav",
        "speed": f64::from(rate) / f64::from(NORMAL_RATE),
    });
    let path = format!("{}/audio/speech", base.path);
    let res =
        client.request("POST", &path, Some(body.to_string().into_bytes())).await.map_err(|e| server(e.to_string()))?;
    if res.status != 200 {
        let text = res.text();
        let detail = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(String::from))
            .unwrap_or(text);
        return Err(server(format!("HTTP {}: {}", res.status, detail.chars().take(300).collect::<String>())));
    }
    parse_wav(&res.body)
}
