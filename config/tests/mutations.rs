//! The configuration parser against mutated configurations: a seeded,
//! bounded mutation run over `config/hub.example.toml` (byte flips, cuts,
//! TOML punctuation and values spliced in, lines repeated or dropped) that
//! must never panic, only answer `Ok` or a diagnostic. A quick, seeded
//! companion to the coverage-guided target `fuzz/fuzz_targets/config.rs`
//! (`scripts/fuzz config`, in CI too). The seed is printed;
//! `HUBD_MUTATION_SEED` replays it.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SPLICES: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\"",
    "'",
    "{",
    "}",
    ",",
    ".",
    "\n",
    "#",
    "\\",
    "\"\"\"",
    "[[device]]\n",
    "[mqtt]\n",
    "[web]\n",
    "[[automation]]\n",
    "-1",
    "0",
    "1e999",
    "nan",
    "inf",
    "18446744073709551616",
    "true",
    "\"\"",
    "[]",
    "{}",
    "\u{0}",
    "\u{202e}",
    "ä",
    "1979-05-27T07:32:00Z",
    "port = 0\n",
    "id = \"light.x\"\n",
    "dialect = { type = \"zigbee2mqtt\" }\n",
    "area = \"nowhere\"\n",
];

fn mutate(rng: &mut StdRng, base: &[u8]) -> Vec<u8> {
    let mut s = base.to_vec();
    for _ in 0..rng.random_range(1..6) {
        let at = rng.random_range(0..=s.len());
        match rng.random_range(0..6) {
            0 if !s.is_empty() => {
                let i = at.min(s.len() - 1);
                s[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let end = (at + rng.random_range(0..64)).min(s.len());
                s.drain(at..end);
            }
            2 | 3 => {
                let piece = SPLICES[rng.random_range(0..SPLICES.len())];
                s.splice(at..at, piece.bytes());
            }
            _ => {
                // Repeat a line somewhere else.
                let lines: Vec<&[u8]> = base.split(|b| *b == b'\n').collect();
                let line = lines[rng.random_range(0..lines.len())].to_vec();
                s.splice(at..at, line.into_iter().chain([b'\n']));
            }
        }
    }
    s
}

#[test]
fn mutated_configs_get_diagnostics_never_panics() {
    let seed: u64 =
        std::env::var("HUBD_MUTATION_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::rng().random());
    eprintln!("config mutation seed: {seed} (replay with HUBD_MUTATION_SEED={seed})");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let base = std::fs::read(repo.join("config/hub.example.toml")).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut ok, mut refused) = (0, 0);
    for i in 0..3000 {
        let text = mutate(&mut rng, &base);
        let Ok(text) = String::from_utf8(text) else { continue };
        let res = std::panic::catch_unwind(|| match hub_config::Config::from_str(&text, "mutated.toml") {
            Ok(cfg) => cfg.registry().is_ok(),
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
        });
        match res {
            Ok(true) => ok += 1,
            Ok(false) => refused += 1,
            Err(_) => {
                let p = std::env::temp_dir().join(format!("hubd-config-panic-{seed}-{i}.toml"));
                let _ = std::fs::write(&p, &text);
                panic!("the config parser panicked on mutation {i} of seed {seed}; input kept in {}", p.display());
            }
        }
    }
    eprintln!("config mutations: {ok} accepted, {refused} refused with a diagnostic");
    assert!(ok > 0 && refused > 0, "the mutations were all accepted or all refused: {ok}/{refused}");
}
