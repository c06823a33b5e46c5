//! The text branch's gates, counted (the audio branch's are
//! [`crate::audio::AudioMetrics`], the vision branch's the camera board's).
//!
//! A request runs only when it carries text; the templates answer first,
//! the heads run only on what they missed, the LLM only on what both
//! missed and the heads did not read as chit-chat. Each later stage that
//! is configured counts a run or a skip, so `/metrics` and `hubd status`
//! show how often the costly stages were spared.
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde::Serialize;

#[derive(Debug, Default)]
pub struct TextGate {
    /// Requests with text (the branch ran).
    pub requests: AtomicU64,
    /// Requests without text (skipped before any stage).
    pub empty: AtomicU64,
    /// Answered by the sentence templates (or the registry grammar).
    pub templates: AtomicU64,
    pub heads_run: AtomicU64,
    /// The heads are loaded but an earlier stage answered.
    pub heads_skip: AtomicU64,
    pub llm_run: AtomicU64,
    /// The LLM fallback is on but an earlier stage answered.
    pub llm_skip: AtomicU64,
}

/// A point-in-time copy for `/api/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, utoipa::ToSchema)]
pub struct TextGateSnapshot {
    pub requests: u64,
    pub empty: u64,
    pub templates: u64,
    pub heads_run: u64,
    pub heads_skip: u64,
    pub llm_run: u64,
    pub llm_skip: u64,
}

impl TextGate {
    /// The process-wide counters (one per process, like the audio ones).
    pub fn global() -> Arc<TextGate> {
        static GLOBAL: OnceLock<Arc<TextGate>> = OnceLock::new();
        GLOBAL.get_or_init(|| Arc::new(TextGate::default())).clone()
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// One request's way through the stages: whether the templates
    /// answered, whether the heads are loaded and settled the request
    /// (answered it, or are sure it is not about the home), whether the LLM
    /// fallback is on.
    pub fn record(&self, templates: bool, heads: Option<bool>, llm: bool) {
        Self::inc(&self.requests);
        if templates {
            Self::inc(&self.templates);
        }
        let heads_answered = match heads {
            Some(answered) if !templates => {
                Self::inc(&self.heads_run);
                answered
            }
            Some(_) => {
                Self::inc(&self.heads_skip);
                false
            }
            None => false,
        };
        if llm {
            Self::inc(if templates || heads_answered { &self.llm_skip } else { &self.llm_run });
        }
    }

    pub fn snapshot(&self) -> TextGateSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TextGateSnapshot {
            requests: g(&self.requests),
            empty: g(&self.empty),
            templates: g(&self.templates),
            heads_run: g(&self.heads_run),
            heads_skip: g(&self.heads_skip),
            llm_run: g(&self.llm_run),
            llm_skip: g(&self.llm_skip),
        }
    }

    /// Prometheus text for `/metrics`.
    pub fn render_prometheus(&self, out: &mut String) {
        let s = self.snapshot();
        let _ = writeln!(
            out,
            "# HELP hubd_text_gate_total text requests and the NLU stages they ran or skipped\n\
             # TYPE hubd_text_gate_total counter\n\
             hubd_text_gate_total{{stage=\"text\",decision=\"run\"}} {}\n\
             hubd_text_gate_total{{stage=\"text\",decision=\"skip\"}} {}\n\
             hubd_text_gate_total{{stage=\"templates\",decision=\"answered\"}} {}\n\
             hubd_text_gate_total{{stage=\"heads\",decision=\"run\"}} {}\n\
             hubd_text_gate_total{{stage=\"heads\",decision=\"skip\"}} {}\n\
             hubd_text_gate_total{{stage=\"llm\",decision=\"run\"}} {}\n\
             hubd_text_gate_total{{stage=\"llm\",decision=\"skip\"}} {}",
            s.requests, s.empty, s.templates, s.heads_run, s.heads_skip, s.llm_run, s.llm_skip
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_stages_run_only_on_what_earlier_ones_missed() {
        let g = TextGate::default();
        g.record(true, Some(false), true); // the templates answered
        g.record(false, Some(true), true); // the heads answered
        g.record(false, Some(false), true); // the LLM was asked
        g.record(false, None, false); // nothing else configured
        let want = TextGateSnapshot {
            requests: 4,
            empty: 0,
            templates: 1,
            heads_run: 2,
            heads_skip: 1,
            llm_run: 1,
            llm_skip: 2,
        };
        assert_eq!(g.snapshot(), want);
        let mut out = String::new();
        g.render_prometheus(&mut out);
        assert!(out.contains("hubd_text_gate_total{stage=\"llm\",decision=\"run\"} 1\n"), "{out}");
    }
}
