//! `[tts] engine = "openai"`: speech from an OpenAI-compatible server
//! (`POST {url}/audio/speech`, `response_format = "wav"`), such as another
//! hubd's `/v1/audio/speech` or a Piper or Kokoro server behind that API.
//! Plain HTTP on the LAN, through the same hyper client the CLI uses.
use std::time::Duration;

use super::{Speech, TtsError, parse_wav};
use crate::api_client::ApiClient;
use crate::config::NORMAL_RATE;
use crate::config::TtsConfig;

/// `http://host[:port][/path]`, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    pub host: String,
    pub port: u16,
    /// Without a trailing `/` (`/v1`).
    pub path: String,
}

impl BaseUrl {
    pub fn parse(url: &str) -> Result<BaseUrl, String> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(format!("`{url}`: https is not implemented yet (hubd's speech client speaks plain HTTP)"));
            }
            _ => return Err(format!("`{url}` is not an http:// URL")),
        };
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("`{url}`: bad port `{p}`"))?),
            None => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['@', '?', '#', ' ']) {
            return Err(format!("`{url}` has no usable host"));
        }
        let path = format!("/{}", path.trim_matches('/'));
        Ok(BaseUrl { host: host.to_string(), port, path: path.trim_end_matches('/').to_string() })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let u = BaseUrl::parse("http://10.0.0.5:8000/v1/").unwrap();
        assert_eq!(u, BaseUrl { host: "10.0.0.5".into(), port: 8000, path: "/v1".into() });
        let u = BaseUrl::parse("http://tts.lan").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, ""));
        assert_eq!(BaseUrl::parse("http://[::1]:9/v1").unwrap().host, "::1");
        for (bad, why) in [
            ("https://x/v1", "https is not implemented yet"),
            ("ftp://x", "not an http:// URL"),
            ("http://:80/v1", "no usable host"),
            ("http://x:port/v1", "bad port"),
        ] {
            assert!(BaseUrl::parse(bad).unwrap_err().contains(why), "{bad}");
        }
    }
}
