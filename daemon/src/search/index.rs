//! The search index: a task that gives every stored dialogue turn its
//! embedding. At start it embeds the turns the store has no vector for
//! (from this encoder), newest first, a batch at a time; then it waits for
//! the bus's `dialogue_turn` events and does the same for each (so a lagged
//! subscription or a turn stored by another process is caught up too).

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{EmbedError, EmbedService, SearchError};
use crate::events::{EventBus, HubEvent};
use crate::store::Store;

/// Turns embedded per encoder pass.
pub const BATCH: u32 = 32;

/// Embed and store every turn without a vector from the encoder; returns
/// how many were stored. A text the encoder refuses on its own gets a zero
/// vector (it matches nothing by meaning) so that it is not retried forever.
pub async fn catch_up(store: &Store, embed: &EmbedService) -> Result<u64, SearchError> {
    let model = embed.model().await?;
    let mut stored = 0;
    loop {
        let todo = store.turns_to_embed(&model, BATCH).await?;
        if todo.is_empty() {
            return Ok(stored);
        }
        let texts: Vec<String> = todo.iter().map(|(_, t)| t.clone()).collect();
        let vectors = match embed.embed(texts).await {
            Ok(e) => e.vectors,
            Err(EmbedError::Failed(_)) => one_by_one(embed, &todo).await?,
            Err(e) => return Err(e.into()),
        };
        let rows: Vec<(i64, Vec<f32>)> = todo.iter().map(|(id, _)| *id).zip(vectors).collect();
        stored += store.put_turn_embeddings(&model, &rows).await?;
    }
}

async fn one_by_one(embed: &EmbedService, todo: &[(i64, String)]) -> Result<Vec<Vec<f32>>, EmbedError> {
    let mut out = Vec::with_capacity(todo.len());
    let mut dim = 0;
    let mut failed = Vec::new();
    for (i, (id, text)) in todo.iter().enumerate() {
        match embed.embed(vec![text.clone()]).await {
            Ok(mut e) => {
                let v = e.vectors.pop().unwrap_or_default();
                dim = v.len();
                out.push(v);
            }
            Err(EmbedError::Failed(reason)) => {
                tracing::warn!(turn = id, %reason, "cannot embed a dialogue turn; it is searchable by text only");
                failed.push(i);
                out.push(Vec::new());
            }
            Err(e) => return Err(e),
        }
    }
    for i in failed {
        out[i] = vec![0.0; dim.max(1)];
    }
    Ok(out)
}

/// Start the index task; it returns at `stop`, or at once (with a warning)
/// when the encoder is not available.
pub fn spawn(store: Store, embed: EmbedService, bus: &EventBus, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let mut turns = bus.subscribe();
    tokio::spawn(async move {
        loop {
            match catch_up(&store, &embed).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(turns = n, "dialogue turns embedded for search"),
                Err(SearchError::Embed(EmbedError::Unavailable(e))) => {
                    tracing::warn!(error = %e, "search by meaning is off: the sentence encoder is not available");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "embedding dialogue turns failed; retrying at the next turn"),
            }
            // Wait for the next stored turn; later ones queued meanwhile are
            // covered by the same catch-up.
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    ev = turns.recv() => match ev {
                        None => return,
                        Some(e) if matches!(e.event, HubEvent::DialogueTurn { .. }) => break,
                        Some(_) => {}
                    },
                }
                if *stop.borrow() {
                    return;
                }
            }
            while turns.try_recv().is_some() {}
        }
    })
}
