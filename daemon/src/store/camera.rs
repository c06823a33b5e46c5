//! Camera events (table `camera_events`): an upsert per `new`/`update`/`end`
//! and the filtered list `GET /api/cameras/events` serves.

use super::*;

/// A filter for [`Store::camera_events`].
#[derive(Debug, Clone, Default)]
pub struct CameraEventQuery {
    pub camera: Option<String>,
    pub label: Option<String>,
    /// Events that started before this Unix time (seconds), for paging.
    pub before: Option<f64>,
    pub limit: u32,
}

impl Store {
    /// Insert or replace the event `after` (a Frigate event object as JSON).
    pub async fn upsert_camera_event(&self, after: &serde_json::Value) -> Result<(), StoreError> {
        let s = |k: &str| after[k].as_str().map(str::to_string);
        let f = |k: &str| after[k].as_f64();
        sqlx::query(
            "INSERT INTO camera_events
                (id, camera, label, sub_label, score, top_score, start_time, end_time,
                 entered_zones, has_snapshot, box, data)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(id) DO UPDATE SET
                sub_label = excluded.sub_label, score = excluded.score, top_score = excluded.top_score,
                end_time = excluded.end_time, entered_zones = excluded.entered_zones,
                has_snapshot = excluded.has_snapshot, box = excluded.box, data = excluded.data",
        )
        .bind(s("id").unwrap_or_default())
        .bind(s("camera").unwrap_or_default())
        .bind(s("label").unwrap_or_default())
        .bind(s("sub_label"))
        .bind(f("score").unwrap_or(0.0))
        .bind(f("top_score").unwrap_or(0.0))
        .bind(f("start_time").unwrap_or(0.0))
        .bind(f("end_time"))
        .bind(after["entered_zones"].to_string())
        .bind(after["has_snapshot"].as_bool().unwrap_or(false))
        .bind(after["box"].to_string())
        .bind(after.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Events newest first (the stored `after` objects).
    pub async fn camera_events(&self, q: &CameraEventQuery) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, data FROM camera_events
             WHERE (?1 IS NULL OR camera = ?1) AND (?2 IS NULL OR label = ?2) AND (?3 IS NULL OR start_time < ?3)
             ORDER BY start_time DESC LIMIT ?4",
        )
        .bind(&q.camera)
        .bind(&q.label)
        .bind(q.before)
        .bind(i64::from(q.limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, data)| {
                serde_json::from_str(&data).map_err(|e| StoreError::Corrupt {
                    table: "camera_events",
                    id: 0,
                    detail: format!("event {id}: invalid JSON: {e}"),
                })
            })
            .collect()
    }

    /// One event by id.
    pub async fn camera_event(&self, id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT data FROM camera_events WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.and_then(|(d,)| serde_json::from_str(&d).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, camera: &str, label: &str, start: f64) -> serde_json::Value {
        serde_json::json!({"id": id, "camera": camera, "label": label, "sub_label": null, "score": 0.8,
            "top_score": 0.9, "start_time": start, "end_time": null, "entered_zones": [], "has_snapshot": true,
            "box": [1, 2, 3, 4]})
    }

    #[tokio::test]
    async fn events_upsert_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("t.db")).await.unwrap();
        store.upsert_camera_event(&ev("a", "door", "person", 1.0)).await.unwrap();
        store.upsert_camera_event(&ev("b", "door", "car", 2.0)).await.unwrap();
        store.upsert_camera_event(&ev("c", "yard", "person", 3.0)).await.unwrap();
        let mut ended = ev("a", "door", "person", 1.0);
        ended["end_time"] = serde_json::json!(5.5);
        ended["entered_zones"] = serde_json::json!(["porch"]);
        store.upsert_camera_event(&ended).await.unwrap();
        let all = store.camera_events(&CameraEventQuery { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(all.iter().map(|e| e["id"].as_str().unwrap()).collect::<Vec<_>>(), vec!["c", "b", "a"]);
        assert_eq!(all[2]["end_time"], 5.5);
        assert_eq!(all[2]["entered_zones"], serde_json::json!(["porch"]));
        let q = CameraEventQuery { camera: Some("door".into()), label: Some("person".into()), limit: 10, before: None };
        assert_eq!(store.camera_events(&q).await.unwrap().len(), 1);
        let q = CameraEventQuery { before: Some(3.0), limit: 1, ..Default::default() };
        assert_eq!(store.camera_events(&q).await.unwrap()[0]["id"], "b");
        assert!(store.camera_event("zzz").await.unwrap().is_none());
        assert_eq!(store.camera_event("a").await.unwrap().unwrap()["end_time"], 5.5);
    }
}
