//! Idempotent retries of `POST /api/say` and `POST /api/commands`: a client
//! that sends an `Idempotency-Key` header and retries (its connection was
//! reset, it timed out) gets the first request's outcome instead of a second
//! command. A retry that arrives while the first is still running waits for
//! it. Outcomes are kept for [`WINDOW`]; a request that failed or was
//! abandoned frees its key, so the retry runs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// How long a key's first outcome is replayed.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Most keys remembered; the oldest finished ones go first.
const MAX_KEYS: usize = 4096;
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 200;

/// A stored outcome: HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: u16,
    pub body: serde_json::Value,
}

enum Slot {
    Running(watch::Receiver<Option<Outcome>>),
    Done { at: Instant, outcome: Outcome },
}

/// The keys seen recently, per route.
#[derive(Default)]
pub struct Idempotency {
    // A std Mutex: held only for map lookups, never across an await.
    slots: Mutex<HashMap<String, Slot>>,
}

/// What to do with a request carrying a key.
pub enum Claim<'a> {
    /// The first request with this key: run it and [`Pending::finish`].
    First(Pending<'a>),
    /// Answer with the first request's outcome.
    Replay(Outcome),
}

/// A running first request. Dropped without `finish` (an error, or the
/// client left), the key is freed.
pub struct Pending<'a> {
    owner: &'a Idempotency,
    key: String,
    tx: watch::Sender<Option<Outcome>>,
    done: bool,
}

impl Pending<'_> {
    pub fn finish(mut self, outcome: Outcome) {
        self.done = true;
        if let Ok(mut slots) = self.owner.slots.lock() {
            slots.insert(self.key.clone(), Slot::Done { at: Instant::now(), outcome: outcome.clone() });
        }
        let _ = self.tx.send(Some(outcome));
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done
            && let Ok(mut slots) = self.owner.slots.lock()
        {
            slots.remove(&self.key);
        }
    }
}

/// Check a header value: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
pub fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
}

impl Idempotency {
    /// Claim `key` on `route`, waiting for a running first request.
    pub async fn claim(&self, route: &str, key: &str) -> Claim<'_> {
        let full = format!("{route} {key}");
        loop {
            let mut rx = {
                let Ok(mut slots) = self.slots.lock() else {
                    // A poisoned map: serve without idempotency rather than fail.
                    let (tx, _) = watch::channel(None);
                    return Claim::First(Pending { owner: self, key: full, tx, done: true });
                };
                let now = Instant::now();
                if slots.len() >= MAX_KEYS {
                    slots.retain(|_, s| !matches!(s, Slot::Done { at, .. } if now.duration_since(*at) > WINDOW));
                }
                match slots.get(&full) {
                    Some(Slot::Done { at, outcome }) if now.duration_since(*at) <= WINDOW => {
                        return Claim::Replay(outcome.clone());
                    }
                    Some(Slot::Running(rx)) => rx.clone(),
                    _ => {
                        if slots.len() >= MAX_KEYS {
                            let oldest = slots
                                .iter()
                                .filter_map(|(k, s)| match s {
                                    Slot::Done { at, .. } => Some((*at, k.clone())),
                                    Slot::Running(_) => None,
                                })
                                .min();
                            if let Some((_, k)) = oldest {
                                slots.remove(&k);
                            }
                        }
                        let (tx, rx) = watch::channel(None);
                        slots.insert(full.clone(), Slot::Running(rx));
                        return Claim::First(Pending { owner: self, key: full, tx, done: false });
                    }
                }
            };
            // Another request with this key is running: wait for its outcome
            // (or for it to give up, then claim again).
            match rx.wait_for(|o| o.is_some()).await {
                Ok(o) => {
                    if let Some(outcome) = o.clone() {
                        return Claim::Replay(outcome);
                    }
                }
                Err(_) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(n: i64) -> Outcome {
        Outcome { status: 200, body: serde_json::json!({ "n": n }) }
    }

    #[tokio::test]
    async fn a_repeated_key_replays_the_first_outcome_per_route() {
        let idem = Idempotency::default();
        match idem.claim("say", "k1").await {
            Claim::First(p) => p.finish(outcome(1)),
            Claim::Replay(_) => panic!("first use replayed"),
        }
        assert!(matches!(idem.claim("say", "k1").await, Claim::Replay(o) if o == outcome(1)));
        // Another route or key is independent.
        assert!(matches!(idem.claim("commands", "k1").await, Claim::First(_)));
        assert!(matches!(idem.claim("say", "k2").await, Claim::First(_)));
    }

    #[tokio::test]
    async fn an_abandoned_first_request_frees_the_key() {
        let idem = Idempotency::default();
        match idem.claim("say", "k").await {
            Claim::First(p) => drop(p),
            Claim::Replay(_) => panic!(),
        }
        assert!(matches!(idem.claim("say", "k").await, Claim::First(_)));
    }

    #[tokio::test]
    async fn a_retry_during_the_first_request_waits_for_its_outcome() {
        let idem = std::sync::Arc::new(Idempotency::default());
        let Claim::First(p) = idem.claim("say", "k").await else { panic!() };
        let idem2 = idem.clone();
        let retry = tokio::spawn(async move {
            match idem2.claim("say", "k").await {
                Claim::Replay(o) => o,
                Claim::First(_) => panic!("ran twice"),
            }
        });
        tokio::task::yield_now().await;
        p.finish(outcome(7));
        assert_eq!(retry.await.unwrap(), outcome(7));
    }

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(valid_key("abc-123_X"));
        assert!(!valid_key(""));
        assert!(!valid_key("a b"));
        assert!(!valid_key(&"k".repeat(MAX_KEY_LEN + 1)));
    }
}
