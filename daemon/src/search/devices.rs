//! The registry's devices found by meaning: each device is known by its
//! name and aliases with its domain and area ("Desk Lamp (light, Office)");
//! their embeddings are computed the first time a search needs them and
//! kept in SQLite (`name_embeddings`), so a reload's new devices are
//! embedded at their first search. A device scores its best text; those
//! whose id, name, aliases or area contain the query come first.

use std::collections::HashSet;

use hub_skills::{Device, Registry};
use serde::Serialize;

use super::{EmbedService, SearchError, dot, rank_scores};
use crate::store::Store;

/// Devices at or over this similarity are listed. Short names score lower
/// than sentences: "espresso" gives the Coffee Machine 0.41, "how warm is
/// it outdoors" the Outside Temperature 0.57, unrelated devices 0.1-0.3.
pub const MIN_DEVICE_SCORE: f32 = 0.35;

/// Texts embedded per encoder pass.
const BATCH: usize = 32;

/// A device found by [`find_devices`].
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeviceHit {
    pub id: String,
    /// Best cosine similarity of the device's texts to the query.
    pub score: Option<f32>,
    /// `text` (its id, name, an alias or its area contains the query) or `meaning`.
    #[serde(rename = "match")]
    pub matched: &'static str,
}

/// The texts a device is known by: its name and each alias, with its
/// domain and area.
pub fn device_texts(reg: &Registry, d: &Device) -> Vec<String> {
    let area = d.area.as_deref().and_then(|a| reg.area(a)).map(|a| a.name.as_str());
    let context = match area {
        Some(a) => format!(" ({}, {a})", d.kind.domain()),
        None => format!(" ({})", d.kind.domain()),
    };
    std::iter::once(&d.name).chain(&d.aliases).map(|n| format!("{n}{context}")).collect()
}

fn contains_literally(reg: &Registry, d: &Device, q: &str) -> bool {
    let area = d.area.as_deref().and_then(|a| reg.area(a)).map(|a| a.name.as_str());
    let words = [d.id.as_str(), d.name.as_str()].into_iter().chain(d.aliases.iter().map(String::as_str)).chain(area);
    words.into_iter().any(|w| w.to_lowercase().contains(q))
}

/// The registry's devices about `q`, best first (at most `limit`): by
/// meaning when `embed` is given, else by their words only.
pub async fn find_devices(
    store: &Store,
    embed: Option<&EmbedService>,
    reg: &Registry,
    q: &str,
    limit: usize,
) -> Result<Vec<DeviceHit>, SearchError> {
    let lower = q.to_lowercase();
    let literal: HashSet<i64> =
        (0..).zip(&reg.devices).filter(|(_, d)| contains_literally(reg, d, &lower)).map(|(i, _)| i).collect();
    let scores = match embed {
        Some(embed) => similarities(store, embed, reg, q).await?,
        None => (0..).zip(&reg.devices).map(|(i, _)| (i, None)).collect(),
    };
    let hits = rank_scores(scores, &literal, limit, MIN_DEVICE_SCORE);
    Ok(hits
        .into_iter()
        .filter_map(|h| {
            let d = reg.devices.get(usize::try_from(h.id).ok()?)?;
            Some(DeviceHit { id: d.id.clone(), score: h.score, matched: if h.text_match { "text" } else { "meaning" } })
        })
        .collect())
}

/// Each device's best similarity to `q` (by index), embedding the texts
/// the store does not have yet.
async fn similarities(
    store: &Store,
    embed: &EmbedService,
    reg: &Registry,
    q: &str,
) -> Result<Vec<(i64, Option<f32>)>, SearchError> {
    let per_device: Vec<Vec<String>> = reg.devices.iter().map(|d| device_texts(reg, d)).collect();
    let all: Vec<String> = per_device.iter().flatten().cloned().collect::<HashSet<_>>().into_iter().collect();
    let query = embed.embed(vec![q.to_string()]).await?;
    let model = query.model.clone();
    let mut known = store.name_vectors(&model, &all).await?;
    let missing: Vec<String> = all.iter().filter(|t| !known.contains_key(*t)).cloned().collect();
    for chunk in missing.chunks(BATCH) {
        let vectors = embed.embed(chunk.to_vec()).await?.vectors;
        let rows: Vec<(String, Vec<f32>)> = chunk.iter().cloned().zip(vectors).collect();
        store.put_name_vectors(&model, &rows).await?;
        known.extend(rows);
    }
    let qv = query.vectors.first().map(Vec::as_slice).unwrap_or_default();
    Ok((0..)
        .zip(&per_device)
        .map(|(i, texts)| (i, texts.iter().filter_map(|t| dot(qv, known.get(t)?)).reduce(f32::max)))
        .collect())
}
