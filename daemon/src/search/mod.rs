//! Search of the dialogue history by meaning (`[store] semantic_search`):
//! every stored turn gets MiniLM's normalised sentence embedding (the
//! untouched encoder, as sentence-transformers computes it) in SQLite
//! (`turn_embeddings`), and a query is ranked by cosine similarity against
//! them, with literal matches of its words first. `hubd history --search`
//! and the dashboard's history search (`GET /api/history/turns?q=`) use it.
//!
//! - [`EmbedService`]: the model service; one thread owns the encoder.
//! - [`index`]: the task that embeds turns as they are stored (and any the
//!   store lacks at start, newest first).
//! - [`rank`]: the pure ranking, [`search_turns`] the store around it.
//! - [`devices`]: the registry's devices found by their names' meaning
//!   (`GET /api/devices?q=`, `hubd devices --search`).

pub mod devices;
pub mod index;
mod service;

use std::collections::HashSet;

use serde::Serialize;

pub use crate::services::encoder_identity;
use crate::store::{DialogueTurn, Store, StoreError};
pub use service::{EmbedError, EmbedService, Embedded};
pub(crate) use service::{EmbedReply, embed_with};

/// A turn's cosine similarity to the query at or over this counts as a
/// match by meaning. With all-MiniLM-L6-v2, paraphrases of a request
/// ("I'm cold" / "set the heating to 22") score 0.4-0.7 and unrelated
/// requests of the same home 0.0-0.35 (see the tests).
pub const MIN_SCORE: f32 = 0.4;

/// How many literal matches are considered beside the vectors.
const LITERAL_CANDIDATES: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One hit of [`rank`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: i64,
    /// Cosine similarity to the query (`None`: the turn has no vector yet).
    pub score: Option<f32>,
    /// The turn's text contains the query literally.
    pub text_match: bool,
}

pub(crate) fn dot(a: &[f32], b: &[f32]) -> Option<f32> {
    (a.len() == b.len()).then(|| a.iter().zip(b).map(|(x, y)| x * y).sum())
}

/// The best `limit` turns for a query: literal matches first, then turns
/// whose vector scores at least `min_score`; within each, by similarity,
/// then newest first. Vectors are unit length, so a dot product is the
/// cosine; one of another length (another encoder) is not compared.
pub fn rank(
    query: &[f32],
    vectors: &[(i64, Vec<f32>)],
    literal: &HashSet<i64>,
    limit: usize,
    min_score: f32,
) -> Vec<Hit> {
    let mut scores: Vec<(i64, Option<f32>)> = vectors.iter().map(|(id, v)| (*id, dot(query, v))).collect();
    let with_vector: HashSet<i64> = vectors.iter().map(|v| v.0).collect();
    scores.extend(literal.iter().filter(|id| !with_vector.contains(id)).map(|&id| (id, None)));
    rank_scores(scores, literal, limit, min_score)
}

/// [`rank`] over similarities already computed (`None`: no vector).
pub fn rank_scores(scores: Vec<(i64, Option<f32>)>, literal: &HashSet<i64>, limit: usize, min_score: f32) -> Vec<Hit> {
    let mut hits: Vec<Hit> = scores
        .into_iter()
        .filter_map(|(id, score)| {
            let text_match = literal.contains(&id);
            (text_match || score.is_some_and(|s| s >= min_score)).then_some(Hit { id, score, text_match })
        })
        .collect();
    hits.sort_by(|a, b| {
        let s = |h: &Hit| h.score.unwrap_or(f32::NEG_INFINITY);
        b.text_match.cmp(&a.text_match).then(s(b).total_cmp(&s(a))).then(b.id.cmp(&a.id))
    });
    hits.truncate(limit);
    hits
}

/// A turn found by a search, with how it matched.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoredTurn {
    #[serde(flatten)]
    pub turn: DialogueTurn,
    /// Cosine similarity of the turn's embedding to the query's (absent
    /// while the turn has no embedding yet).
    pub score: Option<f32>,
    /// `text`: the turn contains the query's words as written; `meaning`:
    /// only its embedding is close.
    #[serde(rename = "match")]
    pub matched: &'static str,
}

/// The turns that match `q` by text or by meaning (`query` is `q`'s vector
/// from the encoder `model`), best first.
pub async fn search_turns(
    store: &Store,
    model: &str,
    query: &[f32],
    q: &str,
    limit: u32,
) -> Result<Vec<ScoredTurn>, StoreError> {
    let literal: HashSet<i64> = store.search_turns(q, LITERAL_CANDIDATES).await?.iter().map(|t| t.id).collect();
    let vectors = store.turn_embeddings(model).await?;
    let hits = rank(query, &vectors, &literal, limit as usize, MIN_SCORE);
    let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
    let mut turns: std::collections::HashMap<i64, DialogueTurn> =
        store.turns_by_id(&ids).await?.into_iter().map(|t| (t.id, t)).collect();
    // A turn purged since the vectors were read is left out.
    let out = hits
        .iter()
        .filter_map(|h| {
            let turn = turns.remove(&h.id)?;
            Some(ScoredTurn { turn, score: h.score, matched: if h.text_match { "text" } else { "meaning" } })
        })
        .collect();
    Ok(out)
}

/// [`search_turns`] with `q` embedded by the service.
pub async fn find(store: &Store, embed: &EmbedService, q: &str, limit: u32) -> Result<Vec<ScoredTurn>, SearchError> {
    let mut e = embed.embed(vec![q.to_string()]).await?;
    let v = e.vectors.pop().unwrap_or_default();
    Ok(search_turns(store, &e.model, &v, q, limit).await?)
}

#[cfg(test)]
mod tests;
