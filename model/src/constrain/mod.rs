//! Constrained decoding: a grammar over the output's bytes masks the
//! vocabulary at every step, so the decoder can only write text in the
//! language: for tool calls, JSON that a schema accepts, with names that
//! exist ([`schema::compile`] turns a JSON schema into the grammar).
//! [`grammar`] is the byte-level automaton, [`vocab`] the token trie that
//! finds the allowed tokens of a state.
pub mod grammar;
pub mod schema;
pub mod vocab;

use std::sync::Arc;

pub use grammar::{ByteSet, Expr, Grammar};
pub use vocab::VocabTrie;

/// One generation's position in a grammar.
#[derive(Debug)]
pub struct Matcher {
    grammar: Arc<Grammar>,
    state: u32,
}

impl Matcher {
    pub fn new(grammar: Arc<Grammar>) -> Matcher {
        let state = grammar.start();
        Matcher { grammar, state }
    }

    /// Ordinary tokens that keep the text in the language.
    pub fn allowed(&self, vocab: &VocabTrie) -> Arc<Vec<u32>> {
        vocab.allowed(&self.grammar, self.state)
    }

    /// Whether the text so far is a complete sentence of the language (an
    /// end-of-sequence token may follow).
    pub fn is_complete(&self) -> bool {
        self.grammar.is_accepting(self.state)
    }

    /// Whether any byte may follow.
    pub fn is_open(&self) -> bool {
        self.grammar.is_open(self.state)
    }

    /// Mask `logits` to the tokens that keep the text in the language, and
    /// to `stop_ids` once it is complete. Errs when nothing is allowed (a
    /// grammar the vocabulary cannot spell).
    pub fn mask(&self, logits: &mut [f32], vocab: &VocabTrie, stop_ids: &[u32]) -> Result<(), String> {
        let allowed = self.allowed(vocab);
        let ends: &[u32] = if self.is_complete() { stop_ids } else { &[] };
        if allowed.is_empty() && ends.is_empty() {
            return Err("the grammar allows no token here".into());
        }
        mask_logits(logits, &allowed, ends);
        Ok(())
    }

    /// Take a sampled (ordinary) token; `Ok(true)` when the text is complete
    /// and nothing can follow.
    pub fn take(&mut self, vocab: &VocabTrie, token: u32) -> Result<bool, String> {
        if !vocab.bytes(token).is_some_and(|b| self.advance(b)) {
            return Err(format!("token {token} left the grammar"));
        }
        Ok(!self.is_open())
    }

    /// Take a token's bytes; `false` (and the matcher is dead) when they
    /// leave the language.
    pub fn advance(&mut self, bytes: &[u8]) -> bool {
        self.state = self.grammar.step(self.state, bytes);
        self.state != 0
    }
}

/// Keep only the logits of `allowed` and `also` (the stop tokens once the
/// text is complete); every other token gets −∞.
pub fn mask_logits(logits: &mut [f32], allowed: &[u32], also: &[u32]) {
    let mut keep = vec![f32::NEG_INFINITY; logits.len()];
    for &id in allowed.iter().chain(also) {
        if let (Some(k), Some(&v)) = (keep.get_mut(id as usize), logits.get(id as usize)) {
            *k = v;
        }
    }
    logits.copy_from_slice(&keep);
}
