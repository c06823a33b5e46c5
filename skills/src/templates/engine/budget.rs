//! The matcher's step budget: hassil's exhaustive search bounded so that
//! one `recognize` call always finishes.

/// Most matcher steps (node visits and continuations) one sentence may take
/// against one input. hassil's search is exhaustive backtracking: a
/// permutation of n items is tried in n! orders, and every open wildcard
/// ends at every later occurrence of the text after it, so a hostile custom
/// template (`;;;;;;;;;`, a permutation of ten empty items) or several
/// wildcards against a long input can take minutes. Real sentences take a
/// few thousand steps (a whole `recognize` call over the hassil parity
/// corpus peaks under 20,000). A sentence over the budget is dropped from the
/// selection as if it had never been tried (what it had matched is rolled
/// back), so the result never depends on where the search stopped.
pub const SENTENCE_STEPS: u64 = 200_000;

/// Most matcher steps one `recognize` call may take over all sentences: past
/// it the call gives up with [`TooComplex`].
pub const MAX_STEPS: u64 = 2_000_000;

/// A `recognize` call found no match and gave up on at least one sentence
/// over [`SENTENCE_STEPS`], or ran over [`MAX_STEPS`] in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too complex to match: {dropped} sentence(s) went over the matcher's step budget")]
pub struct TooComplex {
    /// Sentences dropped for going over [`SENTENCE_STEPS`] (or cut short by [`MAX_STEPS`]).
    pub dropped: u32,
}

/// Steps taken by one `recognize` call.
#[derive(Default)]
pub(super) struct Budget {
    pub total: u64,
    pub sentence: u64,
    /// Over a limit: every matcher function returns at once.
    pub exhausted: bool,
}
