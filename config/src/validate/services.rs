//! Checks of `[wyoming]` and `[tts]`.

use super::super::span::Seg;
use super::Validator;

impl Validator<'_> {
    pub(super) fn services(&mut self) {
        let w = &self.cfg.wyoming;
        let base = [Seg::Key("wyoming")];
        if w.max_connections == 0 {
            self.err(&base, Some("max_connections"), "`max_connections` is 0".into(), Some("at least 1".into()));
        }
        if w.zeroconf == Some(true) && w.bind.ip().is_loopback() {
            self.err(
                &base,
                Some("zeroconf"),
                format!("`zeroconf = true` would announce the loopback address {} to the network", w.bind.ip()),
                Some("a LAN address or 0.0.0.0 in `bind`, or `zeroconf = false`".into()),
            );
        }
        let t = &self.cfg.tts;
        let base = [Seg::Key("tts")];
        match t.engine.as_str() {
            "espeak-ng" => {
                for (key, set) in [("url", t.url.is_some()), ("api_key", t.api_key.is_some())] {
                    if set {
                        let msg = format!("`{key}` is used only with `engine = \"openai\"`");
                        self.err(&base, Some(key), msg, Some("`engine = \"openai\"`, or remove the key".into()));
                    }
                }
            }
            "openai" => match t.url.as_deref().map(crate::BaseUrl::parse) {
                None => self.err(
                    &base,
                    Some("engine"),
                    "`engine = \"openai\"` needs a `url`".into(),
                    Some("`url = \"http://host:port/v1\"`".into()),
                ),
                Some(Err(e)) => self.err(&base, Some("url"), e, Some("`http://host:port/v1`".into())),
                Some(Ok(_)) => {}
            },
            other => self.err(
                &base,
                Some("engine"),
                format!("unknown engine `{other}`"),
                Some("`espeak-ng` or `openai`".into()),
            ),
        }
        if t.program.trim().is_empty() {
            self.err(&base, Some("program"), "`program` is empty".into(), Some("`espeak-ng` or a path to it".into()));
        }
        let voice_ok = !t.voice.is_empty()
            && t.voice.len() <= 64
            && !t.voice.starts_with('-')
            && t.voice.chars().all(|c| c.is_ascii_alphanumeric() || "-_+/".contains(c));
        if !voice_ok {
            self.err(
                &base,
                Some("voice"),
                format!("invalid voice `{}`", t.voice),
                Some("a voice from `espeak-ng --voices`, such as `en-us` or `de`".into()),
            );
        }
        if !(80..=450).contains(&t.rate) {
            self.err(
                &base,
                Some("rate"),
                format!("`rate = {}` is out of range", t.rate),
                Some("words a minute, 80..=450".into()),
            );
        }
    }
}
