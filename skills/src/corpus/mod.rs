//! Training corpus for the intent and slot heads (`hubd train`).
//!
//! [`generate`] samples sentences from the Home Assistant sentence templates
//! the [`TemplateNlu`] loaded (every handled [`Intent`]; alternatives,
//! optionals, permutations and `<rules>` picked at random, not enumerated),
//! fills the slot lists with the registry's own names, aliases, areas and
//! floors and the language's value / range lists, and records the byte span
//! of every slot value. A sentence that targets a place where nothing is of
//! the kind its intent acts on is mostly resampled (`KEEP_UNREACHABLE`).
//! Each sentence then gets seeded speaker/ASR noise
//! ([`noise`]: dropped articles, fillers, confusions, swapped words,
//! synonyms, number words) with the spans recomputed. Non-home chit-chat
//! becomes the [`NONE_INTENT`] class.
//!
//! [`Corpus::split`] holds out whole phrasings, per intent: every example
//! whose noise-free base sentence is held out goes to the held-out set, so
//! no held-out sentence was seen verbatim (or as a noisy variant of its
//! phrasing) in training.
//!
//! Pure: the randomness is a seeded RNG; the same seed gives the same corpus.

mod expand;
mod noise;
mod phrases;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use crate::intent::Intent;
use crate::registry::Registry;
use crate::templates::{Expr, TemplateNlu, parse_sentence};

use expand::{ContextRules, Expander, Lists};
use noise::Noise;

/// The intent label of examples that are not about the home.
pub const NONE_INTENT: &str = "none";

/// Attempts to sample one sentence before giving up on the intent (a data
/// block whose lists have no value in this home is skipped by retrying).
const ATTEMPTS: usize = 60;

/// Share of examples kept noise-free.
const CLEAN_SHARE: f64 = 0.3;

/// Share of place-targeted sentences kept when nothing at that place is of
/// the kind the intent acts on ("set the porch to 47 %" as a position where
/// the porch has a light and no cover): people ask for what the house has,
/// so the rest are resampled, and the heads learn this home's layout
/// ("porch 47" is a brightness). Some are kept, so a request for what a
/// place lacks is still read as what was asked (and the registry check
/// says what is missing).
const KEEP_UNREACHABLE: f64 = 0.2;

/// One training sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The (possibly noisy) sentence.
    pub text: String,
    /// Home Assistant intent name, or [`NONE_INTENT`].
    pub intent: String,
    /// `(slot name, byte range into text)`, in text order.
    pub slots: Vec<(String, Range<usize>)>,
    /// The noise-free sentence the template produced (the phrasing).
    pub base: String,
    /// The domain the sentence's data block fixes (`slots: {domain: light}`,
    /// or one `requires_context` domain): "turn off the {area} lights" is
    /// about lights although no word of it is a slot value.
    pub domain: Option<String>,
}

impl Example {
    /// The text of each slot span.
    pub fn slot_texts(&self) -> Vec<(&str, &str)> {
        self.slots.iter().filter_map(|(n, r)| Some((n.as_str(), self.text.get(r.clone())?))).collect()
    }
}

/// A generated corpus.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Corpus {
    pub examples: Vec<Example>,
}

impl Corpus {
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Append another corpus (e.g. a second configured language).
    pub fn extend(&mut self, other: Corpus) {
        self.examples.extend(other.examples);
    }

    /// `(train, held_out)`: per intent, about `held_out_fraction` of its
    /// distinct base phrasings (compared case-insensitively), chosen by
    /// `seed`, go with all their examples to `held_out`. Every intent keeps
    /// at least one phrasing in `train`, and the two sets never share a
    /// base phrasing.
    pub fn split(&self, held_out_fraction: f64, seed: u64) -> (Corpus, Corpus) {
        let key = |e: &Example| e.base.to_lowercase();
        let mut by_intent: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut seen = HashSet::new();
        for e in &self.examples {
            if seen.insert((e.intent.as_str(), key(e))) {
                by_intent.entry(e.intent.as_str()).or_default().push(key(e));
            }
        }
        // A phrasing two intents share stays in training (keeps the
        // one-phrasing-per-intent promise).
        let mut owners: HashMap<&str, usize> = HashMap::new();
        for b in by_intent.values().flatten() {
            *owners.entry(b.as_str()).or_default() += 1;
        }
        let mut by_intent: Vec<Vec<String>> = by_intent
            .values()
            .map(|bs| bs.iter().filter(|b| owners.get(b.as_str()) == Some(&1)).cloned().collect())
            .collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let frac = if held_out_fraction.is_finite() { held_out_fraction.clamp(0.0, 1.0) } else { 0.0 };
        let mut held: HashSet<String> = HashSet::new();
        for bases in &mut by_intent {
            bases.shuffle(&mut rng);
            let n = ((bases.len() as f64 * frac).round() as usize).min(bases.len().saturating_sub(1));
            held.extend(bases.iter().take(n).cloned());
        }
        let (out, train): (Vec<Example>, Vec<Example>) =
            self.examples.iter().cloned().partition(|e| held.contains(&key(e)));
        (Corpus { examples: train }, Corpus { examples: out })
    }
}

/// One data block of an intent: its parsed sentences and local rules.
struct Block {
    sentences: Vec<Expr>,
    rules: HashMap<String, Expr>,
    context: ContextRules,
    domain: Option<String>,
}

fn parse_rules(v: Option<&Value>) -> HashMap<String, Expr> {
    let mut out = HashMap::new();
    if let Some(Value::Object(m)) = v {
        for (name, body) in m {
            if let Some(Ok(e)) = body.as_str().map(parse_sentence) {
                out.insert(name.clone(), e);
            }
        }
    }
    out
}

fn blocks(doc: &Map<String, Value>, intent: &str, english: bool) -> Vec<Block> {
    let mut out = Vec::new();
    let data = doc.get("intents").and_then(|i| i.get(intent)).and_then(|i| i.get("data")).and_then(Value::as_array);
    for d in data.into_iter().flatten() {
        let sentences: Vec<Expr> = d
            .get("sentences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|s| parse_sentence(s).ok())
            .collect();
        let obj = |k: &str| d.get(k).and_then(Value::as_object).cloned().unwrap_or_default();
        let context = ContextRules { requires: obj("requires_context"), excludes: obj("excludes_context") };
        let domain = [obj("slots"), context.requires.clone()]
            .iter()
            .find_map(|m| m.get("domain").and_then(Value::as_str).map(str::to_string));
        if !sentences.is_empty() {
            out.push(Block { sentences, rules: parse_rules(d.get("expansion_rules")), context, domain });
        }
    }
    if out.is_empty() && english {
        for (name, templates) in phrases::FALLBACK_TEMPLATES {
            if *name == intent {
                let sentences = templates.iter().filter_map(|s| parse_sentence(s).ok()).collect();
                out.push(Block { sentences, rules: HashMap::new(), context: ContextRules::default(), domain: None });
            }
        }
    }
    out
}

/// [`generate_with_rng`] with a `StdRng` seeded from `seed`.
pub fn generate(nlu: &TemplateNlu, reg: &Registry, per_intent: usize, seed: u64) -> Corpus {
    generate_with_rng(nlu, reg, per_intent, &mut StdRng::seed_from_u64(seed))
}

/// The numbers the corpus spells out in `language` ("forty two"; empty
/// where it does not spell them): a slot span of the heads that is one
/// grows over the words that continue it ("forty" of "forty two hours").
pub fn spelled_numbers(language: &str) -> Vec<String> {
    if crate::templates::is_english(language) { noise::english_spelled_numbers() } else { Vec::new() }
}

/// The slot types whose values are a closed list: the registry's areas and
/// floors, the language's device classes, states and colours. Names are
/// not (a timer's name is free text), nor are numbers.
pub const CLOSED_SLOTS: &[&str] = &["area", "floor", "device_class", "state", "color"];

/// Every value of a [`CLOSED_SLOTS`] type: the registry's areas and floors
/// with their aliases, and what the corpus's spans of these types hold
/// (the language's lists as its sentences use them). Lower case, words
/// separated by one space.
pub fn closed_values(corpus: &Corpus, reg: &Registry) -> BTreeMap<String, BTreeSet<String>> {
    let key = |t: &str| t.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let areas = reg.areas.iter().flat_map(|a| std::iter::once(&a.name).chain(&a.aliases));
    let floors = reg.floors.iter().flat_map(|f| std::iter::once(&f.name).chain(&f.aliases));
    out.entry("area".into()).or_default().extend(areas.map(|n| key(n)));
    out.entry("floor".into()).or_default().extend(floors.map(|n| key(n)));
    for e in &corpus.examples {
        for (slot, text) in e.slot_texts() {
            if CLOSED_SLOTS.contains(&slot) {
                out.entry(slot.to_string()).or_default().insert(key(text));
            }
        }
    }
    for vs in out.values_mut() {
        vs.remove("");
    }
    out.retain(|_, vs| !vs.is_empty());
    out
}

/// Up to `per_intent` examples for every handled intent the language (or,
/// for English, the built-in fallback templates) has sentences for, plus
/// `per_intent` [`NONE_INTENT`] examples for English. An intent whose
/// sentences all need values this home does not have yields none.
pub fn generate_with_rng<R: Rng>(nlu: &TemplateNlu, reg: &Registry, per_intent: usize, rng: &mut R) -> Corpus {
    let doc = nlu.document();
    let english = crate::templates::is_english(nlu.language());
    let lists = Lists::new(doc, reg);
    let global_rules = parse_rules(doc.get("expansion_rules"));
    let noise = Noise { english };
    let mut examples = Vec::new();
    for intent in Intent::HANDLED {
        let blocks = blocks(doc, intent.as_str(), english);
        let choices: Vec<(usize, usize)> =
            blocks.iter().enumerate().flat_map(|(b, bl)| (0..bl.sentences.len()).map(move |s| (b, s))).collect();
        for _ in 0..per_intent {
            let sampled = (0..ATTEMPTS).find_map(|_| {
                let &(b, s) = choices.choose(rng)?;
                let block = blocks.get(b)?;
                let ex = Expander {
                    lists: &lists,
                    global_rules: &global_rules,
                    local_rules: &block.rules,
                    context: &block.context,
                };
                let sampled = ex.sample(block.sentences.get(s)?, rng).ok()?;
                let kept = reaches_something(reg, intent.as_str(), block.domain.as_deref(), &sampled)
                    || rng.random_bool(KEEP_UNREACHABLE);
                kept.then(|| (sampled, block.domain.clone()))
            });
            let Some((sampled, domain)) = sampled else { break };
            let mut ex = finish(sampled.text, intent.as_str(), sampled.slots, noise, rng);
            ex.domain = domain;
            examples.push(ex);
        }
    }
    if english {
        for _ in 0..per_intent {
            let Some(p) = phrases::NONE_PHRASES.choose(rng) else { break };
            examples.push(finish((*p).to_string(), NONE_INTENT, Vec::new(), noise, rng));
        }
    }
    Corpus { examples }
}

/// Whether a sentence that targets an area or floor (and no device by
/// name) reaches something there of the kind `intent` acts on
/// ([`crate::tools::place_reaches`]); other sentences always do.
fn reaches_something(reg: &Registry, intent: &str, domain: Option<&str>, s: &expand::Sampled) -> bool {
    let spans: Vec<(String, String)> =
        s.slots.iter().map(|(slot, r)| (slot.clone(), s.text.get(r.clone()).unwrap_or("").to_string())).collect();
    crate::tools::place_reaches(reg, &crate::tools::call_from_spans(reg, intent, domain, &spans))
}

fn finish<R: Rng>(
    base: String,
    intent: &str,
    slots: Vec<(String, Range<usize>)>,
    noise: Noise,
    rng: &mut R,
) -> Example {
    let (text, slots) =
        if rng.random_bool(CLEAN_SHARE) { (base.clone(), slots) } else { noise.apply(&base, &slots, rng) };
    Example { text, intent: intent.to_string(), slots, base, domain: None }
}

#[cfg(test)]
mod tests;
