//! Text to speech: Debian's `espeak-ng` run as a program (`[tts] program`,
//! not linked), with `[tts] voice` and `rate` (words a minute). The text
//! goes in on stdin (never as an argument), the WAV comes back on stdout
//! (`--stdout`): 22,050 Hz 16-bit mono for espeak-ng's voices. Or, with
//! `[tts] engine = "openai"`, an OpenAI-compatible server ([`openai`]).
//!
//! [`TtsService`] is a cheap handle shared like the model services; the
//! voice list (`espeak-ng --voices`) is read once, on first use. A missing
//! program is not an error at start-up: [`TtsService::voices`] is `None`
//! and [`TtsService::synthesize`] fails, naming the program.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

use crate::config::TtsConfig;

pub mod openai;

/// Longest text spoken at once (characters).
pub const MAX_TEXT_CHARS: usize = 5000;
/// Longest one synthesis may run.
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum TtsError {
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` failed ({status}): {stderr}")]
    Failed { program: String, status: String, stderr: String },
    #[error("`{program}` took longer than {}s", TIMEOUT.as_secs())]
    Timeout { program: String },
    #[error("no text to speak")]
    Empty,
    #[error("text is {chars} characters, over the {MAX_TEXT_CHARS}-character limit")]
    TooLong { chars: usize },
    #[error("unknown voice `{0}`")]
    UnknownVoice(String),
    #[error("the speech program's output is not usable WAV: {0}")]
    BadWav(String),
    #[error("speech server {url}: {message}")]
    Server { url: String, message: String },
}

/// One voice as `espeak-ng --voices` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voice {
    /// What `-v` takes: the language column (`en-us`).
    pub name: String,
    /// The voice's own name (`English_(America)`), spaces restored.
    pub description: String,
    /// The language and the "other languages" column.
    pub languages: Vec<String>,
}

/// Spoken audio: little-endian integer PCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speech {
    pub rate: u32,
    /// Bytes per sample.
    pub width: u16,
    pub channels: u16,
    pub pcm: Vec<u8>,
}

impl Speech {
    /// The audio as mono f32 in [-1, 1] (channels averaged).
    pub fn mono_f32(&self) -> Vec<f32> {
        let (w, ch) = (usize::from(self.width), usize::from(self.channels.max(1)));
        let sample = |b: &[u8]| -> f32 {
            match b.len() {
                1 => (f32::from(b[0]) - 128.0) / 128.0,
                2 => f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0,
                3 => (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0,
                _ => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0,
            }
        };
        if w == 0 {
            return Vec::new();
        }
        self.pcm.chunks_exact(w * ch).map(|frame| frame.chunks_exact(w).map(sample).sum::<f32>() / ch as f32).collect()
    }

    /// Its length.
    pub fn duration(&self) -> Duration {
        let frame = usize::from(self.width) * usize::from(self.channels.max(1));
        let frames = self.pcm.len().checked_div(frame).unwrap_or(0);
        Duration::from_secs_f64(frames as f64 / f64::from(self.rate.max(1)))
    }
}

struct Inner {
    cfg: TtsConfig,
    voices: OnceCell<Option<Arc<Vec<Voice>>>>,
}

/// The text-to-speech service (see the module docs).
#[derive(Clone)]
pub struct TtsService {
    inner: Arc<Inner>,
}

impl TtsService {
    pub fn new(cfg: &TtsConfig) -> TtsService {
        TtsService { inner: Arc::new(Inner { cfg: cfg.clone(), voices: OnceCell::new() }) }
    }

    /// The configured program, voice and rate.
    pub fn config(&self) -> &TtsConfig {
        &self.inner.cfg
    }

    /// The voices, or `None` when the program cannot be run (logged once).
    pub async fn voices(&self) -> Option<Arc<Vec<Voice>>> {
        self.inner
            .voices
            .get_or_init(|| async {
                let program = &self.inner.cfg.program;
                let out = tokio::process::Command::new(program)
                    .arg("--voices")
                    .stdin(Stdio::null())
                    .kill_on_drop(true)
                    .output();
                match tokio::time::timeout(Duration::from_secs(10), out).await {
                    Ok(Ok(o)) if o.status.success() => {
                        Some(Arc::new(parse_voices(&String::from_utf8_lossy(&o.stdout))))
                    }
                    Ok(Ok(o)) => {
                        tracing::warn!(program, status = %o.status, "text to speech unavailable: `--voices` failed");
                        None
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(program, error = %e, "text to speech unavailable (install espeak-ng)");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(program, "text to speech unavailable: `--voices` did not answer");
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// Speak `text` with `voice` (a name from [`Self::voices`]; `None` = `[tts] voice`).
    pub async fn synthesize(&self, text: &str, voice: Option<&str>) -> Result<Speech, TtsError> {
        self.synthesize_at(text, voice, self.inner.cfg.rate).await
    }

    /// [`Self::synthesize`] at `rate` words a minute.
    pub async fn synthesize_at(&self, text: &str, voice: Option<&str>, rate: u32) -> Result<Speech, TtsError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TtsError::Empty);
        }
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(TtsError::TooLong { chars });
        }
        let cfg = &self.inner.cfg;
        let voice = voice.unwrap_or(&cfg.voice);
        if cfg.remote() {
            return openai::speech(cfg, text, voice, rate, TIMEOUT).await;
        }
        if let Some(list) = self.voices().await
            && voice != cfg.voice
            && !list.iter().any(|v| v.name == voice)
        {
            return Err(TtsError::UnknownVoice(voice.to_string()));
        }
        let program = cfg.program.clone();
        let spawn_err = |source| TtsError::Spawn { program: program.clone(), source };
        let mut child = tokio::process::Command::new(&program)
            .args(["--stdout", "-v", voice, "-s", &rate.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_err)?;
        let mut stdin = child.stdin.take();
        let input = text.replace('\n', " ");
        let run = async {
            if let Some(s) = stdin.as_mut() {
                s.write_all(input.as_bytes()).await.map_err(spawn_err)?;
            }
            drop(stdin);
            child.wait_with_output().await.map_err(spawn_err)
        };
        let out =
            tokio::time::timeout(TIMEOUT, run).await.map_err(|_| TtsError::Timeout { program: program.clone() })??;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().chars().take(300).collect();
            return Err(TtsError::Failed { program, status: out.status.to_string(), stderr });
        }
        parse_wav(&out.stdout)
    }
}

/// Parse `espeak-ng --voices`: a header line, then `Pty Language Age/Gender
/// VoiceName File [Other Languages]` columns.
pub fn parse_voices(text: &str) -> Vec<Voice> {
    let mut out: Vec<Voice> = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [_pty, lang, _age, name, _file, rest @ ..] = cols.as_slice() else { continue };
        if out.iter().any(|v| v.name == *lang) {
            continue;
        }
        let mut languages = vec![lang.to_string()];
        // "(en 10)" pairs: a language and its priority.
        for w in rest.iter().map(|w| w.trim_matches(['(', ')'])) {
            if !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()) && !languages.iter().any(|l| l == w) {
                languages.push(w.to_string());
            }
        }
        out.push(Voice { name: lang.to_string(), description: name.replace('_', " "), languages });
    }
    out
}

/// Read the WAV espeak-ng writes to a pipe: its RIFF and data sizes are
/// placeholders (it cannot seek back), so the data runs to the end.
pub fn parse_wav(b: &[u8]) -> Result<Speech, TtsError> {
    let bad = |m: &str| TtsError::BadWav(m.to_string());
    if b.len() < 12 || &b[..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header"));
    }
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut pos = 12;
    let mut fmt = None;
    while pos + 8 <= b.len() {
        let (id, size) = (&b[pos..pos + 4], u32_at(pos + 4) as usize);
        let body = pos + 8;
        if id == b"fmt " {
            if size < 16 || body + 16 > b.len() {
                return Err(bad("short fmt chunk"));
            }
            let (tag, channels, rate, bits) = (u16_at(body), u16_at(body + 2), u32_at(body + 4), u16_at(body + 14));
            if tag != 1 || !(8..=32).contains(&bits) || bits % 8 != 0 || channels == 0 {
                return Err(bad(&format!("format {tag}, {bits} bits, {channels} channels is not integer PCM")));
            }
            fmt = Some((rate, bits / 8, channels));
        } else if id == b"data" {
            let Some((rate, width, channels)) = fmt else { return Err(bad("data before fmt")) };
            let end = body.saturating_add(size).min(b.len());
            let frame = width as usize * channels as usize;
            let end = body + (end - body) / frame * frame;
            return Ok(Speech { rate, width, channels, pcm: b[body..end].to_vec() });
        }
        pos = body.saturating_add(size + (size & 1));
    }
    Err(bad("no data chunk"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, declared: u32, pcm: &[u8], extra_chunk: bool) -> Vec<u8> {
        let mut v = b"RIFF".to_vec();
        v.extend(0x7fff_ffffu32.to_le_bytes());
        v.extend(b"WAVE");
        if extra_chunk {
            v.extend(b"LIST");
            v.extend(3u32.to_le_bytes());
            v.extend([1, 2, 3, 0]); // odd size, padded
        }
        v.extend(b"fmt ");
        v.extend(16u32.to_le_bytes());
        v.extend(1u16.to_le_bytes());
        v.extend(1u16.to_le_bytes());
        v.extend(rate.to_le_bytes());
        v.extend((rate * 2).to_le_bytes());
        v.extend(2u16.to_le_bytes());
        v.extend(16u16.to_le_bytes());
        v.extend(b"data");
        v.extend(declared.to_le_bytes());
        v.extend(pcm);
        v
    }

    #[test]
    fn pipe_wav_with_placeholder_sizes() {
        let s = parse_wav(&wav(22050, 0x7fff_ffff, &[1, 2, 3, 4, 5], true)).unwrap();
        assert_eq!((s.rate, s.width, s.channels, s.pcm), (22050, 2, 1, vec![1, 2, 3, 4]));
        let s = parse_wav(&wav(16000, 2, &[1, 2, 3, 4], false)).unwrap();
        assert_eq!(s.pcm, vec![1, 2], "a true size is honoured");
        for (bytes, want) in [
            (b"RIFX....WAVE".to_vec(), "no RIFF/WAVE header"),
            (wav(22050, 4, &[], false)[..36].to_vec(), "no data chunk"),
        ] {
            assert!(parse_wav(&bytes).unwrap_err().to_string().contains(want), "{want}");
        }
    }

    #[test]
    fn mono_samples_from_any_width() {
        let s = Speech { rate: 2, width: 2, channels: 2, pcm: vec![0x00, 0x40, 0x00, 0x40, 0x00, 0xc0, 0x00, 0x00] };
        assert_eq!(s.mono_f32(), vec![0.5, -0.25]);
        assert_eq!(s.duration(), Duration::from_secs(1));
        let s = Speech { rate: 8000, width: 1, channels: 1, pcm: vec![128, 192, 0] };
        assert_eq!(s.mono_f32(), vec![0.0, 0.5, -1.0]);
    }

    #[test]
    fn voices_listing() {
        let text = "Pty Language       Age/Gender VoiceName          File                 Other Languages\n \
             5  af              --/M      Afrikaans          gmw/af               \n \
             2  en-gb           --/M      English_(Great_Britain) gmw/en            (en 2)\n \
             5  en-us           --/M      English_(America)  gmw/en-US            (en 3)\n \
             5  en-us           --/M      duplicate          gmw/en-US            \n";
        let v = parse_voices(text);
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].name, "en-gb");
        assert_eq!(v[1].description, "English (Great Britain)");
        assert_eq!(v[1].languages, vec!["en-gb".to_string(), "en".to_string()]);
        assert_eq!(v[0].languages, vec!["af".to_string()]);
    }

    /// The real program, when installed (scripts/setup installs espeak-ng).
    #[tokio::test]
    async fn espeak_ng_speaks_at_22050_hz() {
        let svc = TtsService::new(&TtsConfig::default());
        let voices = svc.voices().await.expect("espeak-ng is installed by scripts/setup");
        assert!(voices.iter().any(|v| v.name == "en-us"), "{voices:?}");
        let s = svc.synthesize("turn on the kitchen light", None).await.unwrap();
        assert_eq!((s.rate, s.width, s.channels), (22050, 2, 1));
        assert!(s.pcm.len() > 22050, "about a second of speech: {} bytes", s.pcm.len());
        assert!(matches!(svc.synthesize("hi", Some("xx-nope")).await, Err(TtsError::UnknownVoice(_))));
        assert!(matches!(svc.synthesize("  ", None).await, Err(TtsError::Empty)));
        let missing = TtsService::new(&TtsConfig { program: "/nonexistent/espeak-ng".into(), ..TtsConfig::default() });
        assert!(missing.voices().await.is_none());
        let e = missing.synthesize("hello", None).await.unwrap_err().to_string();
        assert!(e.starts_with("cannot run `/nonexistent/espeak-ng`"), "{e}");
    }
}
