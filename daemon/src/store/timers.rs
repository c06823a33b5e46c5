//! Timers (table `timers`): saved on every change, so a restart keeps them.

use hub_skills::timers::Timer;

use super::*;

/// A stored timer and, if it had already finished, when.
#[derive(Debug, Clone)]
pub struct StoredTimer {
    pub timer: Timer,
    pub fired_at: Option<i64>,
}

type Row = (i64, Option<String>, Option<String>, i64, Option<i64>, i64, Option<String>, i64, Option<i64>);

impl Store {
    /// Every stored timer, by id.
    pub async fn timers(&self) -> Result<Vec<StoredTimer>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, name, area, start_secs, ends_at, paused_left_ms, command, created_at, fired_at
             FROM timers ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, area, start_secs, ends_at_ms, paused_left_ms, command, created_ms, fired_at)| {
                StoredTimer {
                    timer: Timer {
                        id,
                        name,
                        area,
                        start_secs: start_secs.max(1) as u64,
                        ends_at_ms,
                        paused_left_ms,
                        command,
                        created_ms,
                    },
                    fired_at,
                }
            })
            .collect())
    }

    /// Insert or replace a timer (not yet fired).
    pub async fn save_timer(&self, t: &Timer) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO timers (id, name, area, start_secs, ends_at, paused_left_ms, command, created_at, fired_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, area = excluded.area,
                start_secs = excluded.start_secs, ends_at = excluded.ends_at,
                paused_left_ms = excluded.paused_left_ms, command = excluded.command, fired_at = NULL",
        )
        .bind(t.id)
        .bind(&t.name)
        .bind(&t.area)
        .bind(t.start_secs as i64)
        .bind(t.ends_at_ms)
        .bind(t.paused_left_ms)
        .bind(&t.command)
        .bind(t.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mark a timer finished (its sentence is about to run).
    pub async fn mark_timer_fired(&self, id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE timers SET fired_at = ? WHERE id = ?").bind(at).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn delete_timer(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM timers WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// How many commands carry `correlation`.
    pub async fn count_correlated_commands(&self, correlation: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM commands WHERE correlation = ?")
            .bind(correlation)
            .fetch_one(&self.pool)
            .await?)
    }
}
