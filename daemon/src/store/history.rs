//! Paged, filtered lists for the dashboard's history (newest first; pass the
//! last id seen as `before` for the next page). Text search is `LIKE`
//! (case-insensitive for ASCII) with `%`, `_` and `\` matched literally.

use super::*;

impl Store {
    /// Dialogue turns whose text contains `q` (all when `None`), older than `before`.
    pub async fn turns_page(
        &self,
        q: Option<&str>,
        before: Option<i64>,
        limit_n: u32,
    ) -> Result<Vec<DialogueTurn>, StoreError> {
        let rows: Vec<TurnRecord> = sqlx::query_as(select_turns!(
            "FROM dialogue_turns
             WHERE (?1 IS NULL OR text LIKE '%' || ?1 || '%' ESCAPE '\\') AND (?2 IS NULL OR id < ?2)
             ORDER BY id DESC LIMIT ?3"
        ))
        .bind(q.map(like_escape))
        .bind(before)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    /// Outbox rows of one device (all when `None`) and status, older than `before`.
    pub async fn commands_page(
        &self,
        device: Option<&str>,
        status: Option<CommandStatus>,
        before: Option<i64>,
        limit_n: u32,
    ) -> Result<Vec<CommandRow>, StoreError> {
        let rows: Vec<CommandRecord> = sqlx::query_as(
            "SELECT * FROM commands
             WHERE (?1 IS NULL OR device_id = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(device)
        .bind(status)
        .bind(before)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    /// Stored events of one kind (all when `None`), older than `before`.
    pub async fn events_page(
        &self,
        kind: Option<EventKind>,
        before: Option<i64>,
        limit_n: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        let rows: Vec<EventRecord> = sqlx::query_as(
            "SELECT id, kind, source, label, score, zone, snapshot_path, data, created_at
             FROM events WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
        )
        .bind(kind)
        .bind(before)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_filter_and_search_literally() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("h.db")).await.unwrap();
        let texts = ["turn on the kitchen light", "50% brightness", "what time is it", "KITCHEN off", "a_b"];
        for t in texts {
            store.insert_turn(&NewTurn::new("s", Role::User, Modality::Text, t)).await.unwrap();
        }
        let all = store.turns_page(None, None, 100).await.unwrap();
        assert_eq!(
            all.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(),
            texts.iter().rev().copied().collect::<Vec<_>>()
        );
        let kitchen = store.turns_page(Some("kitchen"), None, 100).await.unwrap();
        assert_eq!(kitchen.len(), 2, "{kitchen:?}");
        // `%` and `_` are literal, not wildcards.
        assert_eq!(store.turns_page(Some("%"), None, 100).await.unwrap().len(), 1);
        assert_eq!(store.turns_page(Some("_"), None, 100).await.unwrap().len(), 1);
        // Paging: two at a time, no overlap, no gap.
        let p1 = store.turns_page(None, None, 2).await.unwrap();
        let p2 = store.turns_page(None, Some(p1[1].id), 2).await.unwrap();
        let p3 = store.turns_page(None, Some(p2[1].id), 2).await.unwrap();
        let ids: Vec<i64> = p1.iter().chain(&p2).chain(&p3).map(|t| t.id).collect();
        assert_eq!(ids, all.iter().map(|t| t.id).collect::<Vec<_>>());
        assert!(store.commands_page(Some("light.x"), None, None, 10).await.unwrap().is_empty());
        assert!(store.events_page(None, None, 10).await.unwrap().is_empty());
    }
}
