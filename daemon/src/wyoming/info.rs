//! The `info` event answering `describe`: hubd's programs in the shapes of
//! `wyoming.info` (1.10): every artifact has `name`, `attribution`,
//! `installed`, `description`, `version`; ASR, handle and intent programs
//! list `models`, TTS programs list `voices`.

use serde_json::{Value, json};

use crate::tts::Voice;

/// hubd has no public home page to point at.
const HUBD_URL: &str = "";

/// What the server offers.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The Whisper checkpoint's directory name, when one is configured.
    pub whisper: Option<String>,
    /// The NLU language (`[nlu] language`).
    pub language: String,
    /// espeak-ng's voices; `None` when it cannot be run (no `tts` program then).
    pub voices: Option<Vec<Voice>>,
}

fn artifact(
    name: &str,
    by: &str,
    url: &str,
    description: &str,
    version: Option<&str>,
) -> serde_json::Map<String, Value> {
    let v = json!({
        "name": name,
        "attribution": { "name": by, "url": url },
        "installed": true,
        "description": description,
        "version": version,
    });
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

fn with(mut base: serde_json::Map<String, Value>, extra: Value) -> Value {
    if let Value::Object(m) = extra {
        base.extend(m);
    }
    Value::Object(base)
}

/// The `info` event's data.
pub fn info(offer: &Offer) -> Value {
    let version = Some(env!("CARGO_PKG_VERSION"));
    let langs = json!([offer.language]);
    let asr: Vec<Value> = offer
        .whisper
        .iter()
        .map(|model| {
            let m = with(
                artifact(model, "OpenAI", "https://github.com/openai/whisper", "Whisper", None),
                json!({ "languages": langs.clone() }),
            );
            with(
                artifact("hubd-whisper", "hubd", HUBD_URL, "hubd's Whisper, shared with its microphone", version),
                json!({
                    "models": [m],
                    "supports_transcript_streaming": true,
                    "requires_external_vad": true,
                    "prefers_auto_gain_enabled": true,
                    "prefers_noise_reduction_enabled": true,
                }),
            )
        })
        .collect();
    let nlu_model = |what: &str| {
        with(
            artifact("hubd-nlu", "Home Assistant intents", "https://github.com/OHF-Voice/intents", what, version),
            json!({ "languages": langs.clone() }),
        )
    };
    let handle = with(
        artifact("hubd", "hubd", HUBD_URL, "hubd's pipeline: understands and acts on the home over MQTT", version),
        json!({
            "models": [nlu_model("sentence templates and the device registry")],
            "supports_handled_streaming": false,
            "supports_home_control": true,
        }),
    );
    let intent = with(
        artifact("hubd-intent", "hubd", HUBD_URL, "Home Assistant intents from hubd's understanding", version),
        json!({ "models": [nlu_model("sentence templates and the device registry")] }),
    );
    let tts: Vec<Value> = offer
        .voices
        .iter()
        .map(|voices| {
            let vs: Vec<Value> = voices
                .iter()
                .map(|v| {
                    with(
                        artifact(&v.name, "eSpeak NG", "https://github.com/espeak-ng/espeak-ng", &v.description, None),
                        json!({ "languages": v.languages, "speakers": null }),
                    )
                })
                .collect();
            with(
                artifact("espeak-ng", "eSpeak NG", "https://github.com/espeak-ng/espeak-ng", "eSpeak NG", None),
                json!({ "voices": vs, "supports_synthesize_streaming": false }),
            )
        })
        .collect();
    json!({
        "asr": asr,
        "tts": tts,
        "handle": [handle],
        "intent": [intent],
        "wake": [],
        "mic": [],
        "snd": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(whisper: bool, voices: bool) -> Offer {
        Offer {
            whisper: whisper.then(|| "faster-whisper-base".to_string()),
            language: "en".into(),
            voices: voices.then(|| {
                vec![Voice {
                    name: "en-us".into(),
                    description: "English (America)".into(),
                    languages: vec!["en-us".into()],
                }]
            }),
        }
    }

    #[test]
    fn every_program_is_installed_with_models_or_voices() {
        let i = info(&offer(true, true));
        for (kind, list) in [("asr", "models"), ("handle", "models"), ("intent", "models"), ("tts", "voices")] {
            let p = &i[kind][0];
            assert_eq!(p["installed"], true, "{kind}");
            for key in ["name", "attribution", "description", "version"] {
                assert!(p.get(key).is_some(), "{kind}.{key}");
            }
            let inner = &p[list][0];
            assert_eq!(inner["installed"], true, "{kind}.{list}");
            assert!(inner["languages"].as_array().is_some_and(|l| !l.is_empty()), "{kind}.{list}");
        }
        assert_eq!(i["handle"][0]["supports_home_control"], true);
        assert_eq!(i["asr"][0]["supports_transcript_streaming"], true);
        assert_eq!(i["asr"][0]["models"][0]["name"], "faster-whisper-base");
        assert_eq!(i["tts"][0]["voices"][0]["name"], "en-us");
    }

    #[test]
    fn missing_parts_are_left_out() {
        let i = info(&offer(false, false));
        assert_eq!(i["asr"], json!([]));
        assert_eq!(i["tts"], json!([]));
        assert_eq!(i["handle"].as_array().map(Vec::len), Some(1));
    }
}
