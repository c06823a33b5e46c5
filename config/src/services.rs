//! `[wyoming]` and `[tts]`: the Wyoming server for Home Assistant's voice
//! pipeline and the text-to-speech program it (and later spoken replies) uses.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `[wyoming]`: the Wyoming protocol server (`asr`, `handle`, `intent`, `tts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WyomingConfig {
    /// Off unless asked: the protocol has no authentication, and `handle`
    /// acts on the home.
    pub enabled: bool,
    /// Where to listen. Loopback by default; Home Assistant on another
    /// machine needs a LAN address (or `0.0.0.0`).
    pub bind: SocketAddr,
    /// Connections served at once; more are closed with an `error` event.
    pub max_connections: u32,
    /// Announce `_wyoming._tcp` over mDNS. Unset: on when `bind` is not a
    /// loopback address (an announced loopback address reaches no one).
    pub zeroconf: Option<bool>,
}

impl Default for WyomingConfig {
    fn default() -> Self {
        WyomingConfig {
            enabled: false,
            bind: SocketAddr::from(([127, 0, 0, 1], 10700)),
            max_connections: 16,
            zeroconf: None,
        }
    }
}

impl WyomingConfig {
    /// Whether the server is announced over mDNS.
    pub fn announce(&self) -> bool {
        self.zeroconf.unwrap_or(!self.bind.ip().is_loopback())
    }
}

/// `[tts]`: text to speech with espeak-ng, run as a program, or an
/// OpenAI-compatible `/v1/audio/speech` server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TtsConfig {
    /// `espeak-ng` (the default) or `openai`.
    pub engine: String,
    /// The espeak-ng executable (a name on `PATH` or a path).
    pub program: String,
    /// Default voice: a language from `espeak-ng --voices` (`en-us`, `de`),
    /// or the server's voice name with `engine = "openai"`.
    pub voice: String,
    /// Words a minute (espeak-ng's `-s`), 80..=450; `speed = rate / 175`
    /// for a server.
    pub rate: u32,
    /// `engine = "openai"`: the API base, `http://host:port/v1`.
    pub url: Option<String>,
    /// `engine = "openai"`: the model to ask for.
    pub model: String,
    /// `engine = "openai"`: sent as `Authorization: Bearer`.
    pub api_key: Option<String>,
}

/// espeak-ng's default speaking rate: `speed = 1.0` for a server.
pub const NORMAL_RATE: u32 = 175;

impl Default for TtsConfig {
    fn default() -> Self {
        TtsConfig {
            engine: "espeak-ng".into(),
            program: "espeak-ng".into(),
            voice: "en-us".into(),
            rate: NORMAL_RATE,
            url: None,
            model: "tts-1".into(),
            api_key: None,
        }
    }
}

impl TtsConfig {
    /// `engine = "openai"`.
    pub fn remote(&self) -> bool {
        self.engine == "openai"
    }
}

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

#[cfg(test)]
mod tests {
    use super::BaseUrl;
    use crate::Config;

    fn errors(text: &str) -> Vec<String> {
        match Config::from_str(text, "t.toml") {
            Ok(_) => Vec::new(),
            Err(e) => e.diagnostics().into_iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn defaults_and_announcement() {
        let c = Config::from_str("[wyoming]\nenabled = true\n", "t.toml").unwrap();
        assert_eq!(c.wyoming.bind.to_string(), "127.0.0.1:10700");
        assert!(c.wyoming.enabled && !c.wyoming.announce(), "loopback is not announced");
        let c = Config::from_str("[wyoming]\nbind = \"0.0.0.0:10700\"\n", "t.toml").unwrap();
        assert!(!c.wyoming.enabled && c.wyoming.announce(), "a LAN bind is announced unless told not to");
        let c = Config::from_str("[wyoming]\nbind = \"0.0.0.0:10700\"\nzeroconf = false\n", "t.toml").unwrap();
        assert!(!c.wyoming.announce());
        let c = Config::from_str("[tts]\nengine = \"openai\"\nurl = \"http://tts.lan:8000/v1\"\n", "t.toml").unwrap();
        assert!(c.tts.remote() && c.tts.model == "tts-1");
        let c = Config::from_str("[tts]\nvoice = \"de\"\nrate = 200\n", "t.toml").unwrap();
        assert_eq!((c.tts.program.as_str(), c.tts.voice.as_str(), c.tts.rate), ("espeak-ng", "de", 200));
    }

    #[test]
    fn bad_values_are_located() {
        let cases = [
            ("[wyoming]\nmax_connections = 0\n", "t.toml:2:19: `max_connections` is 0"),
            ("[wyoming]\nzeroconf = true\n", "t.toml:2:12: `zeroconf = true` would announce the loopback address"),
            ("[wyoming]\nbind = \"nowhere\"\n", "t.toml:2:8: "),
            ("[wyoming]\nport = 10700\n", "unknown field `port`"),
            ("[tts]\nvoice = \"-x\"\n", "t.toml:2:9: invalid voice `-x`"),
            ("[tts]\nrate = 20\n", "t.toml:2:8: `rate = 20` is out of range"),
            ("[tts]\nprogram = \" \"\n", "t.toml:2:11: `program` is empty"),
            ("[tts]\nengine = \"piper\"\n", "t.toml:2:10: unknown engine `piper`"),
            ("[tts]\nengine = \"openai\"\n", "`engine = \"openai\"` needs a `url`"),
            ("[tts]\nengine = \"openai\"\nurl = \"https://x/v1\"\n", "https is not implemented yet"),
            ("[tts]\nurl = \"http://x/v1\"\n", "t.toml:2:7: `url` is used only with `engine = \"openai\"`"),
        ];
        for (text, want) in cases {
            let e = errors(text);
            assert!(e.iter().any(|d| d.contains(want)), "{text}: {e:?}");
        }
    }

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
