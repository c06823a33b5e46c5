//! Sentence embeddings of dialogue turns (`turn_embeddings`, schema 8) and
//! of the texts devices are known by (`name_embeddings`), for
//! search by meaning ([`crate::search`]). Vectors are stored as
//! little-endian f32 BLOBs under the identity of the encoder that made
//! them; a turn's vector from another encoder counts as missing and is
//! replaced.

use super::*;

/// `v` as the BLOB the table stores.
pub fn vector_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A stored BLOB as f32 values; `None` when its length is not a multiple of 4.
pub fn blob_vector(b: &[u8]) -> Option<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    Some(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

impl Store {
    /// Up to `limit` turns without a vector from `model`, newest first:
    /// `(id, text)`.
    pub async fn turns_to_embed(&self, model: &str, limit_n: u32) -> Result<Vec<(i64, String)>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT t.id, t.text FROM dialogue_turns t
             LEFT JOIN turn_embeddings e ON e.turn_id = t.id AND e.model = ?
             WHERE e.turn_id IS NULL ORDER BY t.id DESC LIMIT ?",
        )
        .bind(model)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Store `model`'s vectors of these turns (replacing older ones); a turn
    /// purged meanwhile is skipped. Returns how many were stored.
    pub async fn put_turn_embeddings(&self, model: &str, rows: &[(i64, Vec<f32>)]) -> Result<u64, StoreError> {
        self.write_tx(async |tx| {
            let mut n = 0;
            for (id, v) in rows {
                n += sqlx::query(
                    "INSERT OR REPLACE INTO turn_embeddings (turn_id, model, vector)
                     SELECT id, ?, ? FROM dialogue_turns WHERE id = ?",
                )
                .bind(model)
                .bind(vector_blob(v))
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            Ok(n)
        })
        .await
    }

    /// Every vector `model` made: `(turn id, vector)`. A row whose BLOB is
    /// not whole f32 values is an error naming it.
    pub async fn turn_embeddings(&self, model: &str) -> Result<Vec<(i64, Vec<f32>)>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT turn_id, vector FROM turn_embeddings WHERE model = ?")
            .bind(model)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(id, b)| {
                let v = blob_vector(&b).ok_or_else(|| StoreError::Corrupt {
                    table: "turn_embeddings",
                    id,
                    detail: format!("vector of {} bytes is not f32 values", b.len()),
                })?;
                Ok((id, v))
            })
            .collect()
    }

    /// How many turns have a vector from `model`, and how many turns there are.
    pub async fn embedded_turns(&self, model: &str) -> Result<(u64, u64), StoreError> {
        let (done, all): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM turn_embeddings WHERE model = ?), (SELECT COUNT(*) FROM dialogue_turns)",
        )
        .bind(model)
        .fetch_one(&self.pool)
        .await?;
        Ok((done.max(0) as u64, all.max(0) as u64))
    }

    /// The stored vectors of these texts from `model` (device names).
    pub async fn name_vectors(
        &self,
        model: &str,
        texts: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<f32>>, StoreError> {
        let list = serde_json::to_string(texts).map_err(|e| StoreError::Db(sqlx::Error::Encode(Box::new(e))))?;
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT text, vector FROM name_embeddings WHERE model = ? AND text IN (SELECT value FROM json_each(?))",
        )
        .bind(model)
        .bind(list)
        .fetch_all(&self.pool)
        .await?;
        // A broken BLOB is left out: the text is embedded again and replaced.
        Ok(rows.into_iter().filter_map(|(t, b)| Some((t, blob_vector(&b)?))).collect())
    }

    /// Keep `model`'s vectors of these texts.
    pub async fn put_name_vectors(&self, model: &str, rows: &[(String, Vec<f32>)]) -> Result<(), StoreError> {
        self.write_tx(async |tx| {
            for (text, v) in rows {
                sqlx::query("INSERT OR REPLACE INTO name_embeddings (text, model, vector) VALUES (?, ?, ?)")
                    .bind(text)
                    .bind(model)
                    .bind(vector_blob(v))
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(())
        })
        .await
    }

    /// These turns, by id (ids no longer stored are left out).
    pub async fn turns_by_id(&self, ids: &[i64]) -> Result<Vec<DialogueTurn>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(ids).map_err(|e| StoreError::Db(sqlx::Error::Encode(Box::new(e))))?;
        let rows: Vec<TurnRecord> = sqlx::query_as(select_turns!(
            "FROM dialogue_turns WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
        ))
        .bind(list)
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn vectors_round_trip_go_missing_for_another_model_and_leave_with_their_turn() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("hub.db")).await.unwrap();
        let mut ids = Vec::new();
        for t in ["turn on the kitchen light", "add milk to the shopping list", "what time is it"] {
            ids.push(store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, t)).await.unwrap());
        }
        let todo = store.turns_to_embed("m1", 10).await.unwrap();
        assert_eq!(todo.iter().map(|r| r.0).collect::<Vec<_>>(), vec![ids[2], ids[1], ids[0]]);
        assert_eq!(store.turns_to_embed("m1", 1).await.unwrap().len(), 1);

        let v = |x: f32| vec![x, -0.5, 0.25];
        let stored = store.put_turn_embeddings("m1", &[(ids[0], v(1.0)), (ids[1], v(2.0)), (999, v(3.0))]).await;
        assert_eq!(stored.unwrap(), 2, "a turn that is not stored gets no vector");
        assert_eq!(store.turns_to_embed("m1", 10).await.unwrap(), vec![(ids[2], "what time is it".to_string())]);
        let mut got = store.turn_embeddings("m1").await.unwrap();
        got.sort_by_key(|r| r.0);
        assert_eq!(got, vec![(ids[0], v(1.0)), (ids[1], v(2.0))]);
        assert_eq!(store.embedded_turns("m1").await.unwrap(), (2, 3));

        // Another encoder: every turn is missing for it, and its vector
        // replaces the old one.
        assert_eq!(store.turns_to_embed("m2", 10).await.unwrap().len(), 3);
        store.put_turn_embeddings("m2", &[(ids[0], v(4.0))]).await.unwrap();
        assert_eq!(store.turn_embeddings("m2").await.unwrap(), vec![(ids[0], v(4.0))]);
        assert_eq!(store.embedded_turns("m1").await.unwrap(), (1, 3));

        // Unknown ids left out.
        let turns = store.turns_by_id(&[ids[1], 12345, ids[0]]).await.unwrap();
        assert_eq!(turns.iter().map(|t| t.id).collect::<Vec<_>>(), vec![ids[0], ids[1]]);
        assert!(store.turns_by_id(&[]).await.unwrap().is_empty());

        // A purged turn takes its vector with it (foreign key, cascade).
        sqlx::query("DELETE FROM dialogue_turns WHERE id = ?").bind(ids[1]).execute(&store.pool).await.unwrap();
        assert_eq!(store.embedded_turns("m1").await.unwrap(), (0, 2));

        // A hand-broken BLOB is an error naming the row.
        sqlx::query("UPDATE turn_embeddings SET vector = x'010203' WHERE turn_id = ?")
            .bind(ids[0])
            .execute(&store.pool)
            .await
            .unwrap();
        let e = store.turn_embeddings("m2").await.unwrap_err().to_string();
        assert!(e.contains("turn_embeddings") && e.contains(&ids[0].to_string()), "{e}");
    }

    #[tokio::test]
    async fn name_vectors_are_kept_per_text_and_model() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("hub.db")).await.unwrap();
        let texts = vec!["Desk Lamp (light, Office)".to_string(), "Garage Door (cover, Garage)".to_string()];
        assert!(store.name_vectors("m1", &texts).await.unwrap().is_empty());
        store.put_name_vectors("m1", &[(texts[0].clone(), vec![1.0, 0.0])]).await.unwrap();
        store.put_name_vectors("m1", &[(texts[0].clone(), vec![0.0, 1.0])]).await.unwrap();
        let got = store.name_vectors("m1", &texts).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[&texts[0]], vec![0.0, 1.0]);
        assert!(store.name_vectors("m2", &texts).await.unwrap().is_empty());
    }

    #[test]
    fn blobs_are_little_endian_f32() {
        assert_eq!(vector_blob(&[1.0]), vec![0, 0, 0x80, 0x3f]);
        assert_eq!(blob_vector(&vector_blob(&[0.5, -2.0])), Some(vec![0.5, -2.0]));
        assert_eq!(blob_vector(&[1, 2, 3]), None);
    }
}
