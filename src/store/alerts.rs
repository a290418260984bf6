//! Alert state and history (migrations/0002_alerts.sql).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, query_err};
use crate::engine::{AlertPhase, AlertState, Transition};
use crate::evaluation::AlertKey;

/// One alert transition with the numbers behind it: what the evaluator
/// records, and what the history shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionRecord {
    #[serde(serialize_with = "alert_name")]
    pub alert: AlertKey,
    pub transition: Transition,
    pub at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub severity: String,
    pub long_window: Option<String>,
    pub short_window: Option<String>,
    pub long_burn_rate: Option<f64>,
    pub short_burn_rate: Option<f64>,
    pub threshold: Option<f64>,
    pub budget_remaining: Option<f64>,
    pub labels: BTreeMap<String, String>,
    pub reason: Option<String>,
}

fn alert_name<S: serde::Serializer>(key: &AlertKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(key.display_name())
}

/// One row of an alert's history, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// The instance id (`service/name{labels}`).
    pub instance: String,
    #[serde(flatten)]
    pub record: TransitionRecord,
}

/// The stored state of one alert of one instance (`alert_states`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub instance_id: i64,
    pub alert: AlertKey,
    pub phase: AlertPhase,
    /// The last firing episode, `(started, resolved)`, once resolved.
    pub resolved: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Query of the alert history of one SLO (or one instance of it).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TransitionQuery {
    /// Only transitions before this instant (for paging back).
    pub before: Option<DateTime<Utc>>,
    /// Only transitions at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Only this alert: a tier name, `budget_exhausted` or `absent`.
    pub alert: Option<String>,
}

impl TransitionQuery {
    pub fn limit(&self) -> i64 {
        i64::from(self.limit.unwrap_or(100).clamp(1, 1000))
    }
}

type StateRow = (
    i64,
    String,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

impl Store {
    /// The stored state of every alert of an SLO's instances: (instance id, alert, state).
    pub async fn alert_states(&self, slo_id: &str) -> Result<Vec<StoredAlert>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as(
            "select s.instance_id, s.alert, s.phase, s.since, s.resolved_started_at, s.resolved_at
             from alert_states s join slo_instances i on i.id = s.instance_id
             where i.slo_id = $1 order by s.instance_id, s.alert",
        )
        .bind(slo_id)
        .fetch_all(self.pool())
        .await
        .map_err(query_err("read alert states"))?;
        Ok(rows
            .into_iter()
            .map(|(id, alert, phase, since, started, resolved_at)| {
                let phase = match (AlertState::parse(&phase), since) {
                    (Some(AlertState::Pending), Some(since)) => AlertPhase::Pending { since },
                    (Some(AlertState::Firing), Some(since)) => AlertPhase::Firing { since },
                    _ => AlertPhase::Inactive,
                };
                StoredAlert {
                    instance_id: id,
                    alert: AlertKey::from_db(&alert),
                    phase,
                    resolved: started.zip(resolved_at),
                }
            })
            .collect())
    }

    /// Records transitions and the resulting states in one transaction. A
    /// transition already recorded (same alert, instant and kind) is skipped.
    pub async fn record_alert_changes(
        &self,
        lease: &super::Lease,
        transitions: &[(i64, TransitionRecord)],
        states: &[StoredAlert],
    ) -> Result<(), StoreError> {
        if transitions.is_empty() && states.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await.map_err(query_err("begin"))?;
        super::leases::fence(&mut tx, lease, &[]).await?;
        for (instance_id, t) in transitions {
            sqlx::query(
                "insert into alert_transitions (instance_id, alert, transition, at, started_at, severity, long_window, short_window,
                   long_burn_rate, short_burn_rate, threshold, budget_remaining, labels, reason)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 on conflict (instance_id, alert, at, transition) do nothing",
            )
            .bind(instance_id)
            .bind(t.alert.as_db())
            .bind(t.transition.as_str())
            .bind(t.at)
            .bind(t.started_at)
            .bind(&t.severity)
            .bind(&t.long_window)
            .bind(&t.short_window)
            .bind(finite(t.long_burn_rate))
            .bind(finite(t.short_burn_rate))
            .bind(finite(t.threshold))
            .bind(finite(t.budget_remaining))
            .bind(serde_json::to_value(&t.labels).unwrap_or_default())
            .bind(&t.reason)
            .execute(&mut *tx)
            .await
            .map_err(query_err("record alert transition"))?;
        }
        for state in states {
            let (phase, since) = (state.phase.state().as_str(), state.phase.since());
            sqlx::query(
                "insert into alert_states (instance_id, alert, phase, since, resolved_started_at, resolved_at)
                 values ($1, $2, $3, $4, $5, $6)
                 on conflict (instance_id, alert) do update set phase = excluded.phase, since = excluded.since,
                   resolved_started_at = excluded.resolved_started_at, resolved_at = excluded.resolved_at, updated_at = now()",
            )
            .bind(state.instance_id)
            .bind(state.alert.as_db())
            .bind(phase)
            .bind(since)
            .bind(state.resolved.map(|(started, _)| started))
            .bind(state.resolved.map(|(_, at)| at))
            .execute(&mut *tx)
            .await
            .map_err(query_err("write alert state"))?;
        }
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(())
    }

    /// Transitions of an SLO's alerts, newest first. `slo_or_instance` is an
    /// SLO id (every instance) or an instance id (`service/name{labels}`).
    pub async fn alert_history(
        &self,
        slo_or_instance: &str,
        query: &TransitionQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.transitions(Some(slo_or_instance), query).await
    }

    /// Transitions of every SLO's alerts, newest first.
    pub async fn recent_alert_history(
        &self,
        query: &TransitionQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.transitions(None, query).await
    }

    async fn transitions(
        &self,
        slo_or_instance: Option<&str>,
        query: &TransitionQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let alert = query
            .alert
            .as_deref()
            .map(|a| AlertKey::from_display(a).as_db().to_string());
        let rows: Vec<HistoryRow> = sqlx::query_as(
            "select i.slo_id || i.group_key, t.alert, t.transition, t.at, t.started_at, t.severity,
               t.long_window, t.short_window, t.long_burn_rate, t.short_burn_rate,
               t.threshold, t.budget_remaining, t.labels, t.reason
             from alert_transitions t join slo_instances i on i.id = t.instance_id
             where ($1::text is null or i.slo_id = $1 or i.slo_id || i.group_key = $1)
               and ($2::timestamptz is null or t.at < $2)
               and ($3::timestamptz is null or t.at >= $3)
               and ($4::text is null or t.alert = $4)
             order by t.at desc, t.id desc limit $5",
        )
        .bind(slo_or_instance)
        .bind(query.before)
        .bind(query.since)
        .bind(alert)
        .bind(query.limit())
        .fetch_all(self.pool())
        .await
        .map_err(query_err("read alert history"))?;
        Ok(rows
            .into_iter()
            .filter_map(HistoryEntry::from_row)
            .collect())
    }

    /// Whether an SLO or instance id is known (has ever been evaluated).
    pub async fn knows_slo(&self, slo_or_instance: &str) -> Result<bool, StoreError> {
        sqlx::query_scalar(
            "select exists (select 1 from slo_instances where slo_id = $1 or slo_id || group_key = $1)",
        )
        .bind(slo_or_instance)
        .fetch_one(self.pool())
        .await
        .map_err(query_err("look up SLO"))
    }
}

type HistoryRow = (
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    serde_json::Value,
    Option<String>,
);

impl HistoryEntry {
    /// A stored row; one with a transition burnrate does not know is skipped.
    fn from_row(row: HistoryRow) -> Option<HistoryEntry> {
        let (instance, alert, transition, at, started_at, severity, long_window, short_window) =
            (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
        Some(HistoryEntry {
            instance,
            record: TransitionRecord {
                alert: AlertKey::from_db(&alert),
                transition: Transition::parse(&transition)?,
                at,
                started_at,
                severity,
                long_window,
                short_window,
                long_burn_rate: row.8,
                short_burn_rate: row.9,
                threshold: row.10,
                budget_remaining: row.11,
                labels: serde_json::from_value(row.12).unwrap_or_default(),
                reason: row.13,
            },
        })
    }
}

/// NaN and infinities are not numbers anyone can read back: store NULL.
fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}
