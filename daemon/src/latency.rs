//! Pipeline latency percentiles for `/api/status`, `hubd status` and the
//! dashboard's System page: the last [`WINDOW`] requests of each kind, kept
//! in memory (a restart starts them afresh; the dialogue turns in SQLite keep
//! every request's timings).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

/// Requests kept per kind.
pub const WINDOW: usize = 1024;

/// Text request (`say`, the API, the dashboard) to its reply, commands confirmed or timed out.
pub const TEXT: &str = "text request → reply";
/// Spoken request, from the transcript to its reply.
pub const VOICE: &str = "voice transcript → reply";
/// End of speech to every command committed in the outbox.
pub const VOICE_ENQUEUE: &str = "voice end of speech → command enqueued";

/// Text the templates did not understand, through the intent and slot heads.
pub const HEADS: &str = "heads text → intent and slots";
/// Text the NLU did not understand, to the LLM's checked tool call.
pub const LLM_TOOLS: &str = "LLM text → checked tool call";

/// Nearest-rank percentiles over a window, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub n: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Default)]
pub struct Latencies {
    kinds: Mutex<BTreeMap<&'static str, VecDeque<f64>>>,
}

impl Latencies {
    /// The daemon's one set (the pipeline records, the API reads).
    pub fn global() -> Arc<Latencies> {
        static GLOBAL: OnceLock<Arc<Latencies>> = OnceLock::new();
        GLOBAL.get_or_init(Default::default).clone()
    }

    pub fn record(&self, kind: &'static str, ms: f64) {
        if !ms.is_finite() || ms < 0.0 {
            return;
        }
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let window = kinds.entry(kind).or_default();
        if window.len() == WINDOW {
            window.pop_front();
        }
        window.push_back(ms);
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, Summary> {
        let kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        kinds.iter().filter_map(|(k, w)| summarize(w.iter().copied()).map(|s| (*k, s))).collect()
    }
}

/// Nearest-rank percentiles (p50 of 1..=100 is 50); `None` for no values.
pub fn summarize(values: impl IntoIterator<Item = f64>) -> Option<Summary> {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Some(Summary {
        n: v.len(),
        p50_ms: round(rank(50.0)),
        p95_ms: round(rank(95.0)),
        p99_ms: round(rank(99.0)),
        max_ms: round(v[v.len() - 1]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = summarize((1..=100).rev().map(f64::from)).unwrap();
        assert_eq!((s.n, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms), (100, 50.0, 95.0, 99.0, 100.0));
        let one = summarize([7.25]).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms), (7.3, 7.3));
        assert!(summarize([]).is_none());
    }

    #[test]
    fn the_window_keeps_the_newest_and_skips_nonsense() {
        let l = Latencies::default();
        for i in 0..WINDOW + 10 {
            l.record(TEXT, i as f64);
        }
        l.record(TEXT, f64::NAN);
        l.record(TEXT, -1.0);
        let s = l.snapshot()[TEXT];
        assert_eq!(s.n, WINDOW);
        assert_eq!(s.max_ms, (WINDOW + 9) as f64);
        assert_eq!(s.p50_ms, (10 + WINDOW / 2 - 1) as f64);
        assert!(!l.snapshot().contains_key(VOICE));
    }
}
