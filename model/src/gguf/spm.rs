//! Gemma's SentencePiece vocabulary (`tokenizer.ggml.model = "llama"`) as a
//! `tokenizers` BPE, built the way transformers builds it from a GGUF
//! (`integrations/gguf/gguf_tokenizer_mapping.py`, `gemma_tokenizer`), so
//! that both give the same ids:
//! - a token made only of whitespace and holding a space is respelled with
//!   `▁`, as `GemmaTokenizer` looks it up;
//! - the file lists no merges: every split of a token into two tokens is a
//!   merge, ranked by the token's position in the file (earlier first), then
//!   by the longer left and right parts (`generate_merges`);
//! - control tokens (type 3) are special added tokens, user-defined ones
//!   (type 4) still spelled as in the vocabulary plain added tokens, both
//!   matched whole;
//! - spaces become `▁` (no prefix space), unknown bytes fall back to
//!   `<0xNN>` tokens, and the decoder undoes both.
use std::collections::HashMap;

/// Token types as llama.cpp writes them.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// The `▁`-respelling of a whitespace-only token holding a space.
fn respell(t: &str) -> String {
    if t.contains(' ') && t.trim().is_empty() { "\u{2581}".repeat(t.chars().count()) } else { t.to_string() }
}

/// Merges implied by the vocabulary, best first. `tokens` are respelled;
/// where a spelling repeats, the last id wins (as a Python dict would keep
/// it) but the first occurrence fixes the iteration order.
fn merges(tokens: &[String]) -> Vec<(String, String)> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    let mut order: Vec<&str> = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        if last.insert(t.as_str(), i).is_none() {
            order.push(t.as_str());
        }
    }
    // (rank of the merged token, left chars, right chars, left, right)
    let mut all: Vec<(usize, usize, usize, &str, &str)> = Vec::new();
    for merged in order {
        let rank = last[merged];
        let mut local = Vec::new();
        let bounds: Vec<usize> = merged.char_indices().map(|(b, _)| b).skip(1).collect();
        let chars = bounds.len() + 1;
        for (k, &b) in bounds.iter().enumerate() {
            let (l, r) = merged.split_at(b);
            if let (Some(&li), Some(&ri)) = (last.get(l), last.get(r)) {
                let lc = k + 1;
                local.push((li, ri, (rank, lc, chars - lc, l, r)));
            }
        }
        local.sort_by_key(|&(li, ri, _)| (li, ri));
        all.extend(local.into_iter().map(|x| x.2));
    }
    // Python: sorted(key=(score, len(l), len(r)), reverse=True) with score =
    // -position; stable, so equal keys keep their order.
    all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    all.into_iter().map(|(_, _, _, l, r)| (l.to_string(), r.to_string())).collect()
}

/// Build the tokenizer from the GGUF token list and token types.
pub(super) fn gemma_tokenizer(tokens: &[&str], types: &[i64]) -> Result<tokenizers::Tokenizer, String> {
    let spelled: Vec<String> = tokens.iter().map(|t| respell(t)).collect();
    let mut vocab = serde_json::Map::new();
    for (id, t) in spelled.iter().enumerate() {
        vocab.insert(t.clone(), serde_json::Value::from(id));
    }
    let merges: Vec<[String; 2]> = merges(&spelled).into_iter().map(|(l, r)| [l, r]).collect();
    let mut added = Vec::new();
    for (id, (tok, ty)) in tokens.iter().zip(types).enumerate() {
        // A user-defined token that was respelled (runs of spaces) is left
        // to the merges, as transformers does.
        if *ty == CONTROL || (*ty == USER_DEFINED && vocab.contains_key(*tok)) {
            added.push(serde_json::json!({
                "id": id, "content": tok, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": *ty == CONTROL
            }));
        }
    }
    let unk = tokens.iter().position(|t| *t == "<unk>").map(|_| "<unk>");
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"},
        "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false},
        "post_processor": null,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"}
        ]},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": vocab, "merges": merges
        }
    });
    tokenizers::Tokenizer::from_bytes(json.to_string().as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_rank_by_position_then_longer_parts() {
        let toks: Vec<String> = ["a", "b", "c", "ab", "abc", "bc"].iter().map(|s| s.to_string()).collect();
        let m = merges(&toks);
        // "ab" (position 3) first; "abc" (4): "ab"+"c" (longer left) before "a"+"bc"; then "bc" (5).
        let want: Vec<(String, String)> = [("a", "b"), ("ab", "c"), ("a", "bc"), ("b", "c")]
            .iter()
            .map(|(l, r)| (l.to_string(), r.to_string()))
            .collect();
        assert_eq!(m, want);
    }

    #[test]
    fn spaces_respelled_and_round_trip() {
        assert_eq!(respell("  "), "\u{2581}\u{2581}");
        assert_eq!(respell(" \n"), "\u{2581}\u{2581}");
        assert_eq!(respell("\n"), "\n");
        let toks = ["<pad>", "<eos>", "<bos>", "<unk>", "<0x21>", "\u{2581}", "h", "i", "hi", "\u{2581}hi", "  "];
        let types = [3, 3, 3, 2, 6, 1, 1, 1, 1, 1, 1];
        let t = gemma_tokenizer(&toks, &types).unwrap();
        let enc = t.encode("<bos>hi hi!", false).unwrap();
        assert_eq!(enc.get_ids(), &[2, 8, 9, 4]);
        assert_eq!(t.decode(&[8, 9, 4, 10], false).unwrap(), "hi hi!  ");
    }
}
