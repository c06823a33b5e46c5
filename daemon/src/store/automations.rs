//! Automation runs (table `automation_runs`: the trace of every run and of
//! every refused trigger) and the persisted enable/disable switch of each
//! rule (table `automation_state`).

use std::collections::HashMap;

use super::*;

/// A run to record (a `hub_skills::automation::RunRecord` with the outbox ids
/// filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAutomationRun {
    pub automation_id: String,
    pub outcome: String,
    pub trigger: serde_json::Value,
    pub conditions: serde_json::Value,
    pub steps: serde_json::Value,
    pub error: Option<String>,
    pub cause: Option<serde_json::Value>,
    pub started_at: i64,
    pub ended_at: i64,
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationRun {
    pub id: i64,
    #[serde(flatten)]
    pub run: NewAutomationRun,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    automation_id: String,
    outcome: String,
    trigger: String,
    conditions: String,
    steps: String,
    error: Option<String>,
    cause: Option<String>,
    started_at: i64,
    ended_at: i64,
}

impl TryFrom<Row> for AutomationRun {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        const T: &str = "automation_runs";
        Ok(AutomationRun {
            id: r.id,
            run: NewAutomationRun {
                automation_id: r.automation_id,
                outcome: r.outcome,
                trigger: json(T, r.id, &r.trigger)?,
                conditions: json(T, r.id, &r.conditions)?,
                steps: json(T, r.id, &r.steps)?,
                error: r.error,
                cause: opt_json(T, r.id, r.cause)?,
                started_at: r.started_at,
                ended_at: r.ended_at,
            },
        })
    }
}

macro_rules! select_runs {
    ($rest:literal) => {
        concat!(
            "SELECT id, automation_id, outcome, trigger, conditions, steps, error, cause, started_at, ended_at ",
            "FROM automation_runs ",
            $rest
        )
    };
}

impl Store {
    /// Record runs in one transaction; returns their ids in order.
    pub async fn insert_automation_runs(&self, runs: &[NewAutomationRun]) -> Result<Vec<i64>, StoreError> {
        self.write_tx(async |tx| {
            let now = now_ms();
            let mut ids = Vec::with_capacity(runs.len());
            for r in runs {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO automation_runs
                        (automation_id, outcome, trigger, conditions, steps, error, cause, started_at, ended_at, created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                )
                .bind(&r.automation_id)
                .bind(&r.outcome)
                .bind(r.trigger.to_string())
                .bind(r.conditions.to_string())
                .bind(r.steps.to_string())
                .bind(&r.error)
                .bind(r.cause.as_ref().map(|c| c.to_string()))
                .bind(r.started_at)
                .bind(r.ended_at)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                ids.push(id);
            }
            Ok(ids)
        })
        .await
    }

    /// Newest first, optionally of one automation, older than `before` (a run id).
    pub async fn automation_runs(
        &self,
        automation_id: Option<&str>,
        before: Option<i64>,
        limit_n: u32,
    ) -> Result<Vec<AutomationRun>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(select_runs!(
            "WHERE (?1 IS NULL OR automation_id = ?1) AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
        ))
        .bind(automation_id)
        .bind(before)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    /// The newest run of each automation.
    pub async fn last_automation_runs(&self) -> Result<HashMap<String, AutomationRun>, StoreError> {
        let rows: Vec<Row> =
            sqlx::query_as(select_runs!("WHERE id IN (SELECT MAX(id) FROM automation_runs GROUP BY automation_id)"))
                .fetch_all(&self.pool)
                .await?;
        let runs: Vec<AutomationRun> = convert(rows)?;
        Ok(runs.into_iter().map(|r| (r.run.automation_id.clone(), r)).collect())
    }

    /// Remember that a rule was enabled or disabled (survives restarts).
    pub async fn set_automation_enabled(&self, automation_id: &str, enabled: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO automation_state (automation_id, enabled, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (automation_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        )
        .bind(automation_id)
        .bind(enabled)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Rules switched on or off by hand, overriding their `enabled` in the config.
    pub async fn automation_switches(&self) -> Result<HashMap<String, bool>, StoreError> {
        let rows: Vec<(String, bool)> =
            sqlx::query_as("SELECT automation_id, enabled FROM automation_state").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().collect())
    }
}
