//! Whisper's tokenizer: the `tokenizers` crate on the checkpoint's
//! `tokenizer.json`, plus the special tokens and suppression sets that
//! faster-whisper 1.2.1 (`faster_whisper/tokenizer.py`) derives from it.
use std::collections::BTreeSet;
use std::path::Path;

use super::WhisperError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialTokens {
    pub eot: u32,
    pub sot: u32,
    pub sot_prev: u32,
    pub sot_lm: u32,
    pub no_timestamps: u32,
    pub no_speech: u32,
    pub transcribe: u32,
    pub translate: u32,
}

impl SpecialTokens {
    pub fn timestamp_begin(&self) -> u32 {
        self.no_timestamps + 1
    }
}

pub struct WhisperTokenizer {
    inner: tokenizers::Tokenizer,
    pub special: SpecialTokens,
    multilingual: bool,
}

impl std::fmt::Debug for WhisperTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperTokenizer")
            .field("special", &self.special)
            .field("multilingual", &self.multilingual)
            .finish()
    }
}

impl WhisperTokenizer {
    pub fn from_file(path: &Path, multilingual: bool) -> Result<Self, WhisperError> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| WhisperError::Tokenizer { path: path.to_path_buf(), detail: e.to_string() })?;
        let id = |t: &str| {
            inner.token_to_id(t).ok_or_else(|| WhisperError::Tokenizer {
                path: path.to_path_buf(),
                detail: format!("special token {t} is missing"),
            })
        };
        let no_speech = match inner.token_to_id("<|nospeech|>") {
            Some(i) => i,
            None => id("<|nocaptions|>")?,
        };
        let special = SpecialTokens {
            eot: id("<|endoftext|>")?,
            sot: id("<|startoftranscript|>")?,
            sot_prev: id("<|startofprev|>")?,
            sot_lm: id("<|startoflm|>")?,
            no_timestamps: id("<|notimestamps|>")?,
            no_speech,
            transcribe: id("<|transcribe|>")?,
            translate: id("<|translate|>")?,
        };
        Ok(Self { inner, special, multilingual })
    }

    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Text -> ids, no special tokens added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, WhisperError> {
        let enc = self.inner.encode(text, false).map_err(|e| WhisperError::Tokenize { detail: e.to_string() })?;
        Ok(enc.get_ids().to_vec())
    }

    /// Ids -> text, dropping every id >= EOT (as faster-whisper's `decode`).
    pub fn decode(&self, tokens: &[u32]) -> Result<String, WhisperError> {
        let text: Vec<u32> = tokens.iter().copied().filter(|&t| t < self.special.eot).collect();
        self.inner.decode(&text, true).map_err(|e| WhisperError::Tokenize { detail: e.to_string() })
    }

    /// `[sot]` or `[sot, <|lang|>, <|transcribe|>]` for multilingual checkpoints.
    pub fn sot_sequence(&self, language: &str) -> Result<Vec<u32>, WhisperError> {
        let mut seq = vec![self.special.sot];
        if self.multilingual {
            let tok = format!("<|{language}|>");
            let lang = self
                .inner
                .token_to_id(&tok)
                .ok_or_else(|| WhisperError::Options { detail: format!("unknown language `{language}`") })?;
            seq.push(lang);
            seq.push(self.special.transcribe);
        }
        Ok(seq)
    }

    /// faster-whisper's `Tokenizer.non_speech_tokens`: speaker tags and
    /// non-speech annotations (♪, brackets, ...), keeping basic punctuation.
    pub fn non_speech_tokens(&self) -> Result<Vec<u32>, WhisperError> {
        let mut symbols: Vec<String> = "\"#()*+/:;<=>@[\\]^_`{|}~「」『』".chars().map(String::from).collect();
        symbols
            .extend("<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split(' ').map(String::from));
        let miscellaneous: Vec<String> = "♩♪♫♬♭♮♯".chars().map(String::from).collect();
        let mut result = BTreeSet::new();
        for s in [" -", " '"] {
            if let Some(&t) = self.encode(s)?.first() {
                result.insert(t);
            }
        }
        for (symbol, misc) in symbols.iter().map(|s| (s, false)).chain(miscellaneous.iter().map(|s| (s, true))) {
            for text in [symbol.clone(), format!(" {symbol}")] {
                let toks = self.encode(&text)?;
                if (toks.len() == 1 || misc)
                    && let Some(&t) = toks.first()
                {
                    result.insert(t);
                }
            }
        }
        Ok(result.into_iter().collect())
    }

    /// faster-whisper's `get_suppressed_tokens`: `-1` expands to the
    /// non-speech tokens; the task/SOT/no-speech tokens are always added.
    pub fn suppressed_tokens(&self, suppress: &[i64]) -> Result<Vec<u32>, WhisperError> {
        let mut set: BTreeSet<u32> = BTreeSet::new();
        if suppress.contains(&-1) {
            set.extend(suppress.iter().filter(|&&t| t >= 0).map(|&t| t as u32));
            set.extend(self.non_speech_tokens()?);
        } else {
            set.extend(suppress.iter().filter(|&&t| t >= 0).map(|&t| t as u32));
        }
        let s = &self.special;
        set.extend([s.transcribe, s.translate, s.sot, s.sot_prev, s.sot_lm, s.no_speech]);
        Ok(set.into_iter().collect())
    }
}
