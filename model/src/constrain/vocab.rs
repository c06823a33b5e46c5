//! The vocabulary as bytes, in a trie, so that the tokens a grammar state
//! allows are found by walking the trie and the DFA together: a subtree is
//! cut as soon as its prefix leaves the language, so one mask costs the
//! viable prefixes, not the 49k tokens.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::grammar::Grammar;

#[derive(Debug, Default)]
struct TrieNode {
    children: Vec<(u8, u32)>,
    /// Tokens whose bytes end here.
    tokens: Vec<u32>,
}

/// A tokenizer's ordinary tokens (special tokens left out) as byte strings.
#[derive(Debug)]
pub struct VocabTrie {
    nodes: Vec<TrieNode>,
    bytes: HashMap<u32, Vec<u8>>,
    /// Distinguishes vocabularies in a grammar's mask cache.
    id: u64,
}

/// GPT-2's byte ↔ printable-char table (the ByteLevel pre-tokenizer's).
fn byte_level_chars() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut map = HashMap::new();
    let mut extra = 0u32;
    for b in 0..=255u32 {
        let c = if printable.contains(&b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        if let Some(ch) = char::from_u32(c) {
            map.insert(ch, b as u8);
        }
    }
    map
}

/// `<0x0A>` → 0x0A (SentencePiece byte fallback).
fn byte_token(s: &str) -> Option<u8> {
    let hex = s.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() == 2 { u8::from_str_radix(hex, 16).ok() } else { None }
}

impl VocabTrie {
    /// Tokens and their bytes, as the tokenizer's decoder would produce
    /// them: byte-level BPE (GPT-2, SmolLM2, Qwen, GLM) maps its printable
    /// chars back to bytes; SentencePiece (Llama, Gemma) turns `▁` into a
    /// space and `<0xNN>` into the byte.
    pub fn from_tokenizer(t: &tokenizers::Tokenizer) -> VocabTrie {
        let special: std::collections::HashSet<u32> =
            t.get_added_tokens_decoder().iter().filter(|(_, a)| a.special).map(|(&id, _)| id).collect();
        let byte_level = matches!(t.get_decoder(), Some(tokenizers::DecoderWrapper::ByteLevel(_)));
        let table = byte_level.then(byte_level_chars);
        let mut list = Vec::new();
        for (tok, id) in t.get_vocab(true) {
            if special.contains(&id) {
                continue;
            }
            let bytes = match &table {
                Some(map) => tok.chars().map(|c| map.get(&c).copied()).collect::<Option<Vec<u8>>>(),
                None => Some(match byte_token(&tok) {
                    Some(b) => vec![b],
                    None => tok.replace('\u{2581}', " ").into_bytes(),
                }),
            };
            if let Some(b) = bytes.filter(|b| !b.is_empty()) {
                list.push((id, b));
            }
        }
        VocabTrie::from_tokens(list)
    }

    pub fn from_tokens(list: Vec<(u32, Vec<u8>)>) -> VocabTrie {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let mut nodes = vec![TrieNode::default()];
        for (id, bytes) in &list {
            let mut at = 0usize;
            for &b in bytes {
                let found = nodes[at].children.iter().find(|c| c.0 == b).map(|c| c.1);
                at = match found {
                    Some(n) => n as usize,
                    None => {
                        nodes.push(TrieNode::default());
                        let n = nodes.len() - 1;
                        nodes[at].children.push((b, n as u32));
                        n
                    }
                };
            }
            nodes[at].tokens.push(*id);
        }
        VocabTrie { nodes, bytes: list.into_iter().collect(), id: NEXT.fetch_add(1, Ordering::Relaxed) }
    }

    /// The bytes of an ordinary token.
    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        self.bytes.get(&id).map(Vec::as_slice)
    }

    /// Tokens whose bytes keep `g` alive from state `s`, sorted; cached per
    /// (vocabulary, state) in the grammar.
    pub fn allowed(&self, g: &Grammar, s: u32) -> Arc<Vec<u32>> {
        let mut d = g.lock();
        if let Some(m) = d.masks.get(&(self.id, s)) {
            return m.clone();
        }
        let mut out = Vec::new();
        let mut stack = vec![(0u32, s)];
        while let Some((n, st)) = stack.pop() {
            for &(b, child) in &self.nodes[n as usize].children {
                let next = g.step_locked(&mut d, st, b);
                if next != 0 {
                    out.extend(&self.nodes[child as usize].tokens);
                    stack.push((child, next));
                }
            }
        }
        out.sort_unstable();
        let m = Arc::new(out);
        d.masks.insert((self.id, s), m.clone());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::super::grammar::Expr;
    use super::*;

    #[test]
    fn the_trie_finds_exactly_the_tokens_that_stay_in_the_language() {
        let toks = ["{", "{\"", "\"", "on", "off", "o", "n", "ff", "}", "\"}", "x", "\u{e9}"];
        let mut list: Vec<(u32, Vec<u8>)> =
            toks.iter().enumerate().map(|(i, t)| (i as u32, t.as_bytes().to_vec())).collect();
        // Half of a UTF-8 sequence is a token too (byte-level BPE has these).
        list.push((99, vec![0xC3]));
        let v = VocabTrie::from_tokens(list);
        let g = Grammar::new(&Expr::Seq(vec![
            Expr::lit("{\""),
            Expr::Alt(vec![Expr::lit("on"), Expr::lit("off"), Expr::lit("\u{e9}")]),
            Expr::lit("\"}"),
        ]));
        let names = |ids: &[u32]| {
            ids.iter().map(|&i| if i == 99 { "0xC3".into() } else { toks[i as usize].to_string() }).collect::<Vec<_>>()
        };
        assert_eq!(names(&v.allowed(&g, g.start())), ["{", "{\""]);
        let s = g.step(g.start(), b"{\"");
        assert_eq!(names(&v.allowed(&g, s)), ["on", "off", "o", "\u{e9}", "0xC3"]);
        let s = g.step(s, b"o");
        assert_eq!(names(&v.allowed(&g, s)), ["n", "ff"]);
    }

    #[test]
    fn byte_level_table_is_gpt2s() {
        let m = byte_level_chars();
        assert_eq!(m.len(), 256);
        assert_eq!(m[&'\u{120}'], b' ');
        assert_eq!(m[&'\u{10a}'], b'\n');
        assert_eq!(m[&'a'], b'a');
        assert_eq!(byte_token("<0x0A>"), Some(b'\n'));
    }
}
