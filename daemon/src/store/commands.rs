//! The outbox's queries (table `commands`): inserts in one transaction,
//! batched status changes, and the lists the API, metrics and resume read.

use super::*;

impl Store {
    /// Enqueue messages as `pending`, all in one transaction; returns their
    /// ids in order. Either every row is committed or none is.
    pub async fn insert_commands(&self, cmds: &[NewCommand]) -> Result<Vec<i64>, StoreError> {
        // Multi-row INSERTs (11 parameters a row, well under SQLite's 32,766)
        // in one transaction: one statement per chunk instead of per row.
        self.write_tx(async |tx| Self::insert_commands_in(tx, cmds).await).await
    }

    async fn insert_commands_in(tx: &mut sqlx::SqliteConnection, cmds: &[NewCommand]) -> Result<Vec<i64>, StoreError> {
        const CHUNK: usize = 256;
        let now = now_ms();
        let mut ids = Vec::with_capacity(cmds.len());
        for chunk in cmds.chunks(CHUNK) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO commands
                    (device_id, topic, payload, retain, action, status, attempts,
                     created_at, updated_at, expires_at, correlation) ",
            );
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.device_id.clone())
                    .push_bind(c.topic.clone())
                    .push_bind(c.payload.clone())
                    .push_bind(c.retain)
                    .push_bind(c.action.to_string())
                    .push_bind("pending")
                    .push_bind(0_i64)
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind(c.expires_at)
                    .push_bind(c.correlation.clone());
            });
            qb.push(" RETURNING id");
            let q = qb.build_query_scalar::<i64>();
            let mut got = q.fetch_all(&mut *tx).await?;
            // RETURNING order is unspecified; rowids are assigned in row order.
            got.sort_unstable();
            ids.extend(got);
        }
        Ok(ids)
    }

    /// Record a publish attempt: status `sent`, `attempts + 1`, `sent_at =
    /// now`. Returns the new attempt count, or None when the row is not open
    /// (already acked/failed/expired, or no such id).
    pub async fn mark_sent(&self, id: i64) -> Result<Option<u32>, StoreError> {
        let now = now_ms();
        let attempts: Option<i64> = sqlx::query_scalar(
            "UPDATE commands SET status = 'sent', attempts = attempts + 1, sent_at = ?, updated_at = ?
             WHERE id = ? AND status IN ('pending', 'sent')
             RETURNING attempts",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(attempts.map(|a| u32::try_from(a).unwrap_or(u32::MAX)))
    }

    /// The device's state echo confirmed the command. Allowed from `pending`
    /// too (an echo may beat the `mark_sent` write). False when not open.
    pub async fn mark_acked(&self, id: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let res = sqlx::query(
            "UPDATE commands SET status = 'acked', acked_at = ?, updated_at = ?, error = NULL
             WHERE id = ? AND status IN ('pending', 'sent')",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Apply the outbox's status changes in one transaction, in order.
    /// `Sent` records the attempt count and `sent_at`; terminal statuses set
    /// `error` (and `acked_at` for `Acked`). Rows no longer open are left alone.
    pub async fn apply_command_updates(&self, updates: &[CommandUpdate]) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        // Runs of equal (status, attempts, reason) become one statement over
        // a JSON id list: a burst of 20,000 PUBACKs is a handful of UPDATEs.
        // Runs keep the order of the updates (a row sent then acked in one
        // turn ends acked).
        self.write_tx(async |tx| Self::apply_command_updates_in(tx, updates).await).await
    }

    async fn apply_command_updates_in(
        tx: &mut sqlx::SqliteConnection,
        updates: &[CommandUpdate],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut i = 0;
        while i < updates.len() {
            let u = &updates[i];
            let mut j = i + 1;
            while j < updates.len()
                && updates[j].status == u.status
                && updates[j].attempts == u.attempts
                && updates[j].reason == u.reason
            {
                j += 1;
            }
            let ids = serde_json::to_string(&updates[i..j].iter().map(|u| u.id).collect::<Vec<_>>())
                .unwrap_or_else(|_| "[]".into());
            match u.status {
                CommandStatus::Pending => {}
                CommandStatus::Sent => {
                    sqlx::query(
                        "UPDATE commands SET status = 'sent', attempts = ?, sent_at = COALESCE(sent_at, ?), updated_at = ?
                         WHERE status IN ('pending', 'sent') AND id IN (SELECT value FROM json_each(?))",
                    )
                    .bind(u.attempts)
                    .bind(now)
                    .bind(now)
                    .bind(ids)
                    .execute(&mut *tx)
                    .await?;
                }
                status => {
                    let acked_at = (status == CommandStatus::Acked).then_some(now);
                    sqlx::query(
                        "UPDATE commands SET status = ?, attempts = MAX(attempts, ?), acked_at = ?, error = ?, updated_at = ?
                         WHERE status IN ('pending', 'sent') AND id IN (SELECT value FROM json_each(?))",
                    )
                    .bind(status)
                    .bind(u.attempts)
                    .bind(acked_at)
                    .bind(u.reason.as_deref())
                    .bind(now)
                    .bind(ids)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            i = j;
        }
        Ok(())
    }

    /// Give up on a command (attempts exhausted, encode error, ...). False when not open.
    pub async fn mark_failed(&self, id: i64, error: &str) -> Result<bool, StoreError> {
        self.finish(id, CommandStatus::Failed, error).await
    }

    /// The command's deadline passed before it was confirmed. False when not open.
    pub async fn mark_expired(&self, id: i64, reason: &str) -> Result<bool, StoreError> {
        self.finish(id, CommandStatus::Expired, reason).await
    }

    async fn finish(&self, id: i64, status: CommandStatus, error: &str) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "UPDATE commands SET status = ?, error = ?, updated_at = ?
             WHERE id = ? AND status IN ('pending', 'sent')",
        )
        .bind(status)
        .bind(error)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Expire every open row whose `expires_at` is at or before `now`
    /// (unix ms); returns the ids expired, in order. One statement.
    pub async fn expire_due(&self, now: i64, reason: &str) -> Result<Vec<i64>, StoreError> {
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE commands SET status = 'expired', error = ?, updated_at = ?
             WHERE status IN ('pending', 'sent') AND expires_at IS NOT NULL AND expires_at <= ?
             RETURNING id",
        )
        .bind(reason)
        .bind(now_ms())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        ids.sort_unstable();
        Ok(ids)
    }

    pub async fn get_command(&self, id: i64) -> Result<Option<CommandRow>, StoreError> {
        let row: Option<CommandRecord> =
            sqlx::query_as("SELECT * FROM commands WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        row.map(CommandRow::try_from).transpose()
    }

    /// Rows to resume after a restart: pending and sent, oldest first.
    pub async fn resumable_commands(&self) -> Result<Vec<CommandRow>, StoreError> {
        let rows: Vec<CommandRecord> =
            sqlx::query_as("SELECT * FROM commands WHERE status IN ('pending', 'sent') ORDER BY id ASC")
                .fetch_all(&self.pool)
                .await?;
        convert(rows)
    }

    /// Open (pending/sent) rows of one device, oldest first: what a state
    /// echo from that device may acknowledge.
    pub async fn open_commands_for_device(&self, device_id: &str) -> Result<Vec<CommandRow>, StoreError> {
        let rows: Vec<CommandRecord> = sqlx::query_as(
            "SELECT * FROM commands WHERE device_id = ? AND status IN ('pending', 'sent') ORDER BY id ASC",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    /// The newest `limit` rows, newest first.
    pub async fn recent_commands(&self, limit_n: u32) -> Result<Vec<CommandRow>, StoreError> {
        let rows: Vec<CommandRecord> = sqlx::query_as("SELECT * FROM commands ORDER BY id DESC LIMIT ?")
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await?;
        convert(rows)
    }

    /// Rows sharing a correlation id, in order.
    pub async fn commands_for_correlation(&self, correlation: &str) -> Result<Vec<CommandRow>, StoreError> {
        let rows: Vec<CommandRecord> = sqlx::query_as("SELECT * FROM commands WHERE correlation = ? ORDER BY id ASC")
            .bind(correlation)
            .fetch_all(&self.pool)
            .await?;
        convert(rows)
    }

    /// Rows per status (metrics, dashboard).
    pub async fn command_counts(&self) -> Result<CommandCounts, StoreError> {
        let rows: Vec<(CommandStatus, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM commands GROUP BY status").fetch_all(&self.pool).await?;
        let mut c = CommandCounts::default();
        for (status, n) in rows {
            let n = count(n);
            match status {
                CommandStatus::Pending => c.pending = n,
                CommandStatus::Sent => c.sent = n,
                CommandStatus::Acked => c.acked = n,
                CommandStatus::Failed => c.failed = n,
                CommandStatus::Expired => c.expired = n,
                CommandStatus::Superseded => c.superseded = n,
            }
        }
        Ok(c)
    }
}
