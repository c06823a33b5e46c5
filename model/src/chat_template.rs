//! Chat prompt formats of the supported model families, and the streaming
//! split of `<think>` reasoning from the answer.
//!
//! - [`ChatFormat::ChatMl`] (SmolLM2, the GGUF's `tokenizer.chat_template`):
//!   `<|im_start|>{role}\n{content}<|im_end|>\n` per message, a default
//!   system message when the first message is not one, and
//!   `<|im_start|>assistant\n` as the generation prompt.
//! - [`ChatFormat::Glm`] (GLM-4-0414, GLM-4.1V, AutoGLM): `[gMASK]<sop>`,
//!   then `<|{role}|>\n{content}` per message and `<|assistant|>\n`.
//! - [`ChatFormat::Gemma`] (Gemma 3): `<bos>`, then
//!   `<start_of_turn>{user|model}\n{content}<end_of_turn>\n` per message,
//!   contents trimmed, a system message folded into the first user turn,
//!   turns alternating user/model, and `<start_of_turn>model\n` last (the
//!   template Google ships with the instruction-tuned models).
//!
//! Tests render the ChatML form against transformers' `apply_chat_template`
//! on the template stored in the SmolLM2 GGUF.
use serde::{Deserialize, Serialize};

/// SmolLM2's default system message (from its chat template).
pub const SMOLLM_DEFAULT_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage { role: role.into(), content: content.into() }
    }
    pub fn system(c: impl Into<String>) -> Self {
        Self::new("system", c)
    }
    pub fn user(c: impl Into<String>) -> Self {
        Self::new("user", c)
    }
    pub fn assistant(c: impl Into<String>) -> Self {
        Self::new("assistant", c)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFormat {
    ChatMl,
    Glm,
    Gemma,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("chat template: unknown role `{0}` (system, user, assistant, observation)")]
    Role(String),
    #[error("chat template: no messages")]
    Empty,
    #[error("chat template: message {0} is `{1}`, but this format's turns alternate user/assistant from a user turn")]
    Alternation(usize, String),
}

impl ChatFormat {
    /// Pick the format from a stored Jinja template's text (GGUF
    /// `tokenizer.chat_template` or `tokenizer_config.json`).
    pub fn detect(template: &str) -> Option<Self> {
        if template.contains("<|im_start|>") {
            Some(ChatFormat::ChatMl)
        } else if template.contains("[gMASK]") || template.contains("<|assistant|>") {
            Some(ChatFormat::Glm)
        } else if template.contains("<start_of_turn>") {
            Some(ChatFormat::Gemma)
        } else {
            None
        }
    }

    /// The prompt text for `messages`, ending with the assistant turn opener.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, TemplateError> {
        if messages.is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut out = String::new();
        match self {
            ChatFormat::ChatMl => {
                if messages.first().is_some_and(|m| m.role != "system") {
                    out.push_str("<|im_start|>system\n");
                    out.push_str(SMOLLM_DEFAULT_SYSTEM);
                    out.push_str("<|im_end|>\n");
                }
                for m in messages {
                    if !matches!(m.role.as_str(), "system" | "user" | "assistant" | "tool") {
                        return Err(TemplateError::Role(m.role.clone()));
                    }
                    out.push_str("<|im_start|>");
                    out.push_str(&m.role);
                    out.push('\n');
                    out.push_str(&m.content);
                    out.push_str("<|im_end|>\n");
                }
                out.push_str("<|im_start|>assistant\n");
            }
            ChatFormat::Glm => {
                out.push_str("[gMASK]<sop>");
                for m in messages {
                    if !matches!(m.role.as_str(), "system" | "user" | "assistant" | "observation") {
                        return Err(TemplateError::Role(m.role.clone()));
                    }
                    out.push_str("<|");
                    out.push_str(&m.role);
                    out.push_str("|>\n");
                    out.push_str(&m.content);
                }
                out.push_str("<|assistant|>\n");
            }
            ChatFormat::Gemma => {
                out.push_str("<bos>");
                let (prefix, turns) = match messages.split_first() {
                    Some((m, rest)) if m.role == "system" => (format!("{}\n\n", m.content), rest),
                    _ => (String::new(), messages),
                };
                for (i, m) in turns.iter().enumerate() {
                    let want = if i % 2 == 0 { "user" } else { "assistant" };
                    if m.role != want {
                        return Err(TemplateError::Alternation(i, m.role.clone()));
                    }
                    out.push_str(if want == "user" { "<start_of_turn>user\n" } else { "<start_of_turn>model\n" });
                    if i == 0 {
                        out.push_str(&prefix);
                    }
                    out.push_str(m.content.trim());
                    out.push_str("<end_of_turn>\n");
                }
                out.push_str("<start_of_turn>model\n");
            }
        }
        Ok(out)
    }

    /// Stop strings implied by the format (besides the model's EOS ids).
    pub fn stop_strings(&self) -> &'static [&'static str] {
        match self {
            ChatFormat::ChatMl => &["<|im_end|>", "<|im_start|>", "<|endoftext|>"],
            ChatFormat::Glm => &["<|user|>", "<|observation|>", "<|endoftext|>"],
            ChatFormat::Gemma => &["<end_of_turn>", "<start_of_turn>", "<eos>"],
        }
    }
}

/// Which stream a piece of generated text belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Reasoning,
    Answer,
}

const TAGS: [(&str, Option<Channel>); 4] = [
    ("<think>", Some(Channel::Reasoning)),
    ("</think>", Some(Channel::Answer)),
    // GLM-4.1V-Thinking wraps the answer in <answer>..</answer>: drop the tags.
    ("<answer>", None),
    ("</answer>", None),
];

/// Streaming splitter: text in, `(channel, text)` pieces out, with the tags
/// removed even when a tag arrives split over several pushes.
#[derive(Debug, Clone)]
pub struct ThinkSplitter {
    channel: Channel,
    pending: String,
}

impl Default for ThinkSplitter {
    fn default() -> Self {
        ThinkSplitter { channel: Channel::Answer, pending: String::new() }
    }
}

impl ThinkSplitter {
    /// Start inside reasoning (the prompt already opened `<think>`).
    pub fn starting_in(channel: Channel) -> Self {
        ThinkSplitter { channel, pending: String::new() }
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    pub fn push(&mut self, text: &str) -> Vec<(Channel, String)> {
        self.pending.push_str(text);
        let mut out: Vec<(Channel, String)> = Vec::new();
        let emit = |ch: Channel, s: &str, out: &mut Vec<(Channel, String)>| {
            if s.is_empty() {
                return;
            }
            match out.last_mut() {
                Some((c, t)) if *c == ch => t.push_str(s),
                _ => out.push((ch, s.to_string())),
            }
        };
        loop {
            // Earliest complete tag.
            let found = TAGS
                .iter()
                .filter_map(|(tag, ch)| self.pending.find(tag).map(|p| (p, *tag, *ch)))
                .min_by_key(|(p, _, _)| *p);
            match found {
                Some((p, tag, ch)) => {
                    let before = self.pending[..p].to_string();
                    emit(self.channel, &before, &mut out);
                    if let Some(ch) = ch {
                        self.channel = ch;
                    }
                    self.pending.drain(..p + tag.len());
                }
                None => break,
            }
        }
        // Hold back a suffix that may be the start of a tag.
        let hold = (1..=self.pending.len())
            .rev()
            .filter(|&n| self.pending.is_char_boundary(self.pending.len() - n))
            .find(|&n| {
                let suffix = &self.pending[self.pending.len() - n..];
                TAGS.iter().any(|(tag, _)| tag.starts_with(suffix) && tag.len() > n)
            })
            .unwrap_or(0);
        let cut = self.pending.len() - hold;
        let ready: String = self.pending.drain(..cut).collect();
        emit(self.channel, &ready, &mut out);
        out
    }

    /// Flush held-back text at the end of generation.
    pub fn finish(&mut self) -> Vec<(Channel, String)> {
        let rest = std::mem::take(&mut self.pending);
        if rest.is_empty() { Vec::new() } else { vec![(self.channel, rest)] }
    }
}

/// Split a complete text into (reasoning, answer).
pub fn split_think(text: &str) -> (String, String) {
    let mut s = ThinkSplitter::default();
    let mut parts = s.push(text);
    parts.extend(s.finish());
    let mut reasoning = String::new();
    let mut answer = String::new();
    for (c, t) in parts {
        match c {
            Channel::Reasoning => reasoning.push_str(&t),
            Channel::Answer => answer.push_str(&t),
        }
    }
    (reasoning.trim().to_string(), answer.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_adds_default_system() {
        let p = ChatFormat::ChatMl.render(&[ChatMessage::user("hi")]).unwrap();
        assert_eq!(
            p,
            format!(
                "<|im_start|>system\n{SMOLLM_DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
            )
        );
        let p = ChatFormat::ChatMl.render(&[ChatMessage::system("S"), ChatMessage::user("U")]).unwrap();
        assert_eq!(p, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn glm_format() {
        let p = ChatFormat::Glm.render(&[ChatMessage::system("S"), ChatMessage::user("U")]).unwrap();
        assert_eq!(p, "[gMASK]<sop><|system|>\nS<|user|>\nU<|assistant|>\n");
        assert!(matches!(ChatFormat::Glm.render(&[ChatMessage::new("robot", "x")]), Err(TemplateError::Role(_))));
        assert!(matches!(ChatFormat::Glm.render(&[]), Err(TemplateError::Empty)));
    }

    #[test]
    fn gemma_format() {
        let msgs =
            [ChatMessage::system("S"), ChatMessage::user(" U "), ChatMessage::assistant("A"), ChatMessage::user("V")];
        let p = ChatFormat::Gemma.render(&msgs).unwrap();
        assert_eq!(
            p,
            "<bos><start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n\
             <start_of_turn>user\nV<end_of_turn>\n<start_of_turn>model\n"
        );
        let bad = ChatFormat::Gemma.render(&[ChatMessage::user("a"), ChatMessage::user("b")]);
        assert!(matches!(bad, Err(TemplateError::Alternation(1, _))));
        assert_eq!(ChatFormat::detect("{{ '<start_of_turn>' + role }}"), Some(ChatFormat::Gemma));
    }

    #[test]
    fn detect() {
        assert_eq!(ChatFormat::detect("{{'<|im_start|>' + role}}"), Some(ChatFormat::ChatMl));
        assert_eq!(ChatFormat::detect("[gMASK]<sop>{% for m in messages %}"), Some(ChatFormat::Glm));
        assert_eq!(ChatFormat::detect("{{ bos_token }}"), None);
    }

    #[test]
    fn splitter_handles_tags_split_across_pushes() {
        let text = "<think>plan: turn on lamp</think><answer>Done, the lamp is on.</answer>";
        for chunk in 1..=text.len() {
            let mut s = ThinkSplitter::default();
            let mut r = String::new();
            let mut a = String::new();
            let bytes = text.as_bytes();
            let mut parts = Vec::new();
            for c in bytes.chunks(chunk) {
                parts.extend(s.push(std::str::from_utf8(c).unwrap()));
            }
            parts.extend(s.finish());
            for (ch, t) in parts {
                match ch {
                    Channel::Reasoning => r.push_str(&t),
                    Channel::Answer => a.push_str(&t),
                }
            }
            assert_eq!(r, "plan: turn on lamp", "chunk {chunk}");
            assert_eq!(a, "Done, the lamp is on.", "chunk {chunk}");
        }
    }

    #[test]
    fn split_without_tags_is_all_answer_and_lone_lt_is_kept() {
        assert_eq!(split_think("a < b"), (String::new(), "a < b".into()));
        assert_eq!(split_think("x <thin"), (String::new(), "x <thin".into()));
        assert_eq!(split_think("<think>r</think>\nA"), ("r".into(), "A".into()));
    }
}
