//! What readers see of an SLO instance: the latest evaluation, ready to serialise.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{Severity, Slo};
use crate::engine::EventCounts;
pub use crate::engine::{AlertState, DataState};
use crate::labels::Labels;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBudget {
    /// Ratio of the budget left: 1 untouched, 0 spent, negative overspent.
    pub remaining: Option<f64>,
    pub consumed: Option<f64>,
    pub total_events: Option<f64>,
    pub remaining_events: Option<f64>,
    pub total_minutes: f64,
    pub remaining_minutes: Option<f64>,
    /// When the budget runs out at the current (1h) burn rate.
    pub exhaustion_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierStatus {
    pub tier: String,
    pub severity: Severity,
    pub state: AlertState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    pub long_window: String,
    pub short_window: String,
    pub burn_rate_threshold: f64,
    pub long_burn_rate: Option<f64>,
    pub short_burn_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<String>,
}

/// The "budget exhausted" alert: fires when the remaining budget drops below the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExhaustionStatus {
    pub severity: Severity,
    pub state: AlertState,
    pub threshold: f64,
}

/// The absent alert: fires while `data_state` is `absent`, after `for`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbsentStatus {
    pub severity: Severity,
    pub state: AlertState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// How long the instance must stay absent before the alert fires.
    #[serde(rename = "for")]
    pub for_duration: String,
}

/// The events corrections excluded from the SLO window, and the budget
/// as it would be without them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrectionStatus {
    pub excluded: EventCounts,
    pub budget_remaining_without: Option<f64>,
}

/// How a timeslice SLO cuts and judges slices; its events are then slices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimesliceStatus {
    pub slice: String,
    pub slice_target: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// `service/name`, plus `{label="value"}` for a grouped SLO's instance.
    pub id: String,
    pub slo: String,
    pub service: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub group: Labels,
    pub objective: f64,
    pub window: String,
    /// Set under timeslice budgeting: `sli`, `events` and the budget count slices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeslices: Option<TimesliceStatus>,
    /// The indicator is an error ratio: each minute one event, whatever its traffic.
    #[serde(default)]
    pub time_weighted: bool,
    pub evaluated_at: Option<DateTime<Utc>>,
    pub data_state: DataState,
    pub sli: Option<f64>,
    pub events: EventCounts,
    pub error_budget: ErrorBudget,
    /// Burn rate per window (`5m` … `3d` and the SLO window); null without data.
    pub burn_rates: BTreeMap<String, Option<f64>>,
    pub alerts: Vec<TierStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_exhausted: Option<ExhaustionStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absent: Option<AbsentStatus>,
    /// What corrections changed, while any is in force in the windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrections: Option<CorrectionStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Event counts are complete up to here (for the ingestion-lag metric).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingested_until: Option<DateTime<Utc>>,
    /// Share of the history loaded (0 to 1) while `data_state` is `backfilling`.
    pub backfill_progress: Option<f64>,
}

impl InstanceStatus {
    /// A status for an instance that has not been evaluated yet.
    pub fn pending(slo: &Slo, id: String, group: Labels) -> Self {
        let mut labels = slo.labels.clone();
        labels.extend(group.clone());
        InstanceStatus {
            id,
            slo: slo.id.to_string(),
            service: slo.service.clone(),
            name: slo.name.clone(),
            labels,
            group,
            objective: slo.objective.ratio(),
            window: slo.window.to_string(),
            timeslices: slo.budgeting.timeslices().map(|t| TimesliceStatus {
                slice: t.slice.to_string(),
                slice_target: t.slice_target,
            }),
            time_weighted: slo.indicator.time_weighted(),
            evaluated_at: None,
            data_state: DataState::Pending,
            sli: None,
            events: EventCounts::default(),
            error_budget: ErrorBudget {
                remaining: None,
                consumed: None,
                total_events: None,
                remaining_events: None,
                total_minutes: 0.0,
                remaining_minutes: None,
                exhaustion_at: None,
            },
            burn_rates: BTreeMap::new(),
            alerts: Vec::new(),
            budget_exhausted: None,
            absent: None,
            corrections: None,
            error: None,
            ingested_until: None,
            backfill_progress: None,
        }
    }

    /// Whether an alert of `severity` fires.
    pub fn firing(&self, severity: Severity) -> bool {
        self.alerts
            .iter()
            .any(|a| a.severity == severity && a.state == AlertState::Firing)
            || self
                .budget_exhausted
                .as_ref()
                .is_some_and(|e| e.severity == severity && e.state == AlertState::Firing)
            || self
                .absent
                .as_ref()
                .is_some_and(|a| a.severity == severity && a.state == AlertState::Firing)
    }
}
