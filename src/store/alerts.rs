//! Alert state and history (migrations/0002_alerts.sql).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, query_err};
use crate::alerting::{AlertKey, TrackedAlert};
use crate::engine::{AlertPhase, AlertState, Transition};

/// A transition to record, with the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRecord {
    pub instance_id: i64,
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

/// One row of an alert's history, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct HistoryEntry {
    /// The instance id (`service/name{labels}`).
    pub instance: String,
    pub alert: String,
    pub transition: String,
    pub at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub severity: String,
    pub long_window: Option<String>,
    pub short_window: Option<String>,
    pub long_burn_rate: Option<f64>,
    pub short_burn_rate: Option<f64>,
    pub threshold: Option<f64>,
    pub budget_remaining: Option<f64>,
    pub labels: serde_json::Value,
    pub reason: Option<String>,
}

fn transition_text(t: Transition) -> &'static str {
    match t {
        Transition::Pending => "pending",
        Transition::Firing => "firing",
        Transition::Resolved => "resolved",
        Transition::Cancelled => "cancelled",
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
    pub async fn alert_states(
        &self,
        slo_id: &str,
    ) -> Result<Vec<(i64, AlertKey, TrackedAlert)>, StoreError> {
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
                let tracked = TrackedAlert {
                    phase,
                    resolved: started.zip(resolved_at),
                    ..TrackedAlert::default()
                };
                (id, AlertKey::from_db(&alert), tracked)
            })
            .collect())
    }

    /// Records transitions and the resulting states in one transaction. A
    /// transition already recorded (same alert, instant and kind) is skipped.
    pub async fn record_alert_changes(
        &self,
        transitions: &[TransitionRecord],
        states: &[(i64, AlertKey, TrackedAlert)],
    ) -> Result<(), StoreError> {
        if transitions.is_empty() && states.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await.map_err(query_err("begin"))?;
        for t in transitions {
            sqlx::query(
                "insert into alert_transitions (instance_id, alert, transition, at, started_at, severity, long_window, short_window,
                   long_burn_rate, short_burn_rate, threshold, budget_remaining, labels, reason)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 on conflict (instance_id, alert, at, transition) do nothing",
            )
            .bind(t.instance_id)
            .bind(t.alert.as_db())
            .bind(transition_text(t.transition))
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
        for (instance, key, state) in states {
            let (phase, since) = (state.phase.state().as_str(), state.phase.since());
            sqlx::query(
                "insert into alert_states (instance_id, alert, phase, since, resolved_started_at, resolved_at)
                 values ($1, $2, $3, $4, $5, $6)
                 on conflict (instance_id, alert) do update set phase = excluded.phase, since = excluded.since,
                   resolved_started_at = excluded.resolved_started_at, resolved_at = excluded.resolved_at, updated_at = now()",
            )
            .bind(instance)
            .bind(key.as_db())
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
        query: &crate::alerting::api::HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let alert = query.alert.as_deref().map(|a| {
            if a == "budget_exhausted" {
                AlertKey::BudgetExhausted.as_db().to_string()
            } else {
                a.to_string()
            }
        });
        sqlx::query_as(
            "select i.slo_id || i.group_key as instance, case when t.alert = '@budget_exhausted' then 'budget_exhausted' else t.alert end as alert,
               t.transition, t.at, t.started_at, t.severity, t.long_window, t.short_window, t.long_burn_rate, t.short_burn_rate,
               t.threshold, t.budget_remaining, t.labels, t.reason
             from alert_transitions t join slo_instances i on i.id = t.instance_id
             where (i.slo_id = $1 or i.slo_id || i.group_key = $1)
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
        .map_err(query_err("read alert history"))
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

/// NaN and infinities are not numbers anyone can read back: store NULL.
fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}
