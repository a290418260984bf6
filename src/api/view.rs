//! The API's view of a snapshot: version-1 response types (the contract,
//! decoupled from the evaluator's own structs), each instance serialised
//! once per snapshot, so a read is a lookup and a copy of bytes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::catalog::Severity;
use crate::evaluation::InstanceStatus;
use crate::evaluation::Snapshot;

/// Everything but RFC 3986's unreserved characters is percent-encoded in an
/// id path segment, `/` included.
pub const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `/api/v1/slos/<id, percent-encoded as one segment>`.
pub fn href(id: &str) -> String {
    format!("/api/v1/slos/{}", utf8_percent_encode(id, SEGMENT))
}

pub use crate::engine::{AlertState, DataState};

/// An alert's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Severity)]
pub enum ApiSeverity {
    Page,
    Ticket,
}

impl From<Severity> for ApiSeverity {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Page => ApiSeverity::Page,
            Severity::Ticket => ApiSeverity::Ticket,
        }
    }
}

impl ApiSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiSeverity::Page => "page",
            ApiSeverity::Ticket => "ticket",
        }
    }
}

/// Good and total events.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Events {
    pub good: f64,
    pub total: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBudget {
    /// Ratio of the budget left: 1 untouched, 0 spent, negative overspent.
    pub remaining: Option<f64>,
    /// Ratio of the budget spent (1 - remaining).
    pub consumed: Option<f64>,
    /// Bad events the SLO window allows at the current traffic.
    pub total_events: Option<f64>,
    /// Bad events left before the budget is spent.
    pub remaining_events: Option<f64>,
    /// Minutes of total outage the SLO window allows.
    pub total_minutes: Option<f64>,
    /// Minutes of total outage left.
    pub remaining_minutes: Option<f64>,
    /// When the budget runs out at the current (1h) burn rate; null when it does not.
    pub exhaustion_at: Option<DateTime<Utc>>,
}

/// One multi-window burn-rate alert tier.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Alert {
    pub tier: String,
    pub severity: ApiSeverity,
    pub state: AlertState,
    /// When the current pending or firing state began.
    pub since: Option<DateTime<Utc>>,
    pub long_window: String,
    pub short_window: String,
    /// Burn-rate factor both windows must exceed.
    pub burn_rate_threshold: Option<f64>,
    pub long_burn_rate: Option<f64>,
    pub short_burn_rate: Option<f64>,
    /// Why the tier cannot fire now (no data, too few events), if so.
    pub suppressed: Option<String>,
}

/// The alert that fires when the remaining budget falls below a threshold.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BudgetExhaustedAlert {
    pub severity: ApiSeverity,
    pub state: AlertState,
    /// Ratio of the budget.
    pub threshold: Option<f64>,
}

/// The alert that fires while the instance's data is `absent`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AbsentAlert {
    pub severity: ApiSeverity,
    pub state: AlertState,
    /// When the current pending or firing state began.
    pub since: Option<DateTime<Utc>>,
    /// How long the instance stays `absent` before the alert fires, e.g. `10m`.
    #[serde(rename = "for")]
    #[schema(example = "0s")]
    pub for_duration: String,
}

/// Corrections in force: the events they excluded from the SLO window, and
/// the budget as it would be without them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CorrectionsApplied {
    pub excluded_events: Events,
    /// Ratio of the budget left if the corrected minutes counted.
    pub budget_remaining_without_corrections: Option<f64>,
}

/// What an SLO's budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetingMethod {
    /// Good and bad events.
    Occurrences,
    /// Good and bad time slices: a slice is good when its share of good
    /// events reaches `slice_target`; a slice without events counts neither way.
    Timeslices,
}

/// How the budget counts. Under `timeslices`, `sli`, `events`, the error
/// budget's event figures and the burn rates count slices: `events.good`
/// the good slices, `events.total` the slices with events.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Budgeting {
    pub method: BudgetingMethod,
    /// The slice length, e.g. `1m`; null for `occurrences`.
    #[schema(example = "1m")]
    pub slice: Option<String>,
    /// The share of good events (0 to 1) a slice needs to be good; null for `occurrences`.
    #[schema(example = 0.99)]
    pub slice_target: Option<f64>,
}

/// The current status of one SLO instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SloStatus {
    /// `service/name`, plus `{label="value",...}` for an instance of a grouped SLO.
    #[schema(example = "checkout/availability")]
    pub id: String,
    /// This resource's path: the id percent-encoded as one segment.
    #[schema(example = "/api/v1/slos/checkout%2Favailability")]
    pub href: String,
    /// The SLO's id (`service/name`), shared by all its instances.
    pub slo: String,
    pub service: String,
    pub name: String,
    /// The SLO's labels and the instance's group labels.
    pub labels: BTreeMap<String, String>,
    /// The group labels alone (empty for an ungrouped SLO).
    pub group: BTreeMap<String, String>,
    /// The objective as a ratio, e.g. 0.999.
    pub objective: f64,
    /// The SLO window, e.g. `30d` or a calendar period.
    pub window: String,
    pub budgeting: Budgeting,
    /// True for an `error_ratio` indicator (Sloth's raw SLIs): every minute
    /// with a value counts as one event, as bad as its ratio, so quiet and
    /// busy minutes weigh the same and the SLI is not good/total requests.
    pub time_weighted: bool,
    pub evaluated_at: Option<DateTime<Utc>>,
    pub data_state: DataState,
    /// Share of the SLO's history loaded so far, 0 to 1, while `data_state` is
    /// `backfilling`; null otherwise.
    #[schema(example = 0.4)]
    pub backfill_progress: Option<f64>,
    /// The worst state among the instance's alerts.
    pub alert_state: AlertState,
    /// Good events / total events over the SLO window (good / counted slices under `timeslices` budgeting).
    pub sli: Option<f64>,
    /// Events over the SLO window.
    pub events: Events,
    pub error_budget: ErrorBudget,
    /// Burn rate per window (`5m`, `30m`, `1h`, `2h`, `6h`, `1d`, `3d` and the SLO window); null without data.
    pub burn_rates: BTreeMap<String, Option<f64>>,
    pub alerts: Vec<Alert>,
    pub budget_exhausted: Option<BudgetExhaustedAlert>,
    /// The absent alert, when the SLO has one (`alerting.absent`).
    pub absent: Option<AbsentAlert>,
    /// What corrections changed in the SLO window; null while none is in force.
    pub corrections: Option<CorrectionsApplied>,
    /// Why the last cycle failed, when `data_state` is `stale`.
    pub error: Option<String>,
    /// The SLO's definition in the catalog, with `include=definition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<super::definition::SloDefinition>,
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn finite_or_zero(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

impl SloStatus {
    pub fn of(s: &InstanceStatus) -> SloStatus {
        let alerts: Vec<Alert> = s
            .alerts
            .iter()
            .map(|a| Alert {
                tier: a.tier.clone(),
                severity: a.severity.into(),
                state: a.state,
                since: a.since,
                long_window: a.long_window.clone(),
                short_window: a.short_window.clone(),
                burn_rate_threshold: finite(Some(a.burn_rate_threshold)),
                long_burn_rate: finite(a.long_burn_rate),
                short_burn_rate: finite(a.short_burn_rate),
                suppressed: a.suppressed.clone(),
            })
            .collect();
        let budget_exhausted = s.budget_exhausted.as_ref().map(|e| BudgetExhaustedAlert {
            severity: e.severity.into(),
            state: e.state,
            threshold: finite(Some(e.threshold)),
        });
        let absent = s.absent.as_ref().map(|a| AbsentAlert {
            severity: a.severity.into(),
            state: a.state,
            since: a.since,
            for_duration: a.for_duration.clone(),
        });
        let alert_state = alerts
            .iter()
            .map(|a| a.state)
            .chain(budget_exhausted.as_ref().map(|e| e.state))
            .chain(absent.as_ref().map(|a| a.state))
            .max()
            .unwrap_or(AlertState::Inactive);
        let b = &s.error_budget;
        SloStatus {
            id: s.id.clone(),
            href: href(&s.id),
            slo: s.slo.clone(),
            service: s.service.clone(),
            name: s.name.clone(),
            labels: s.labels.clone(),
            group: s.group.clone(),
            objective: finite_or_zero(s.objective),
            window: s.window.clone(),
            budgeting: match &s.timeslices {
                None => Budgeting {
                    method: BudgetingMethod::Occurrences,
                    slice: None,
                    slice_target: None,
                },
                Some(t) => Budgeting {
                    method: BudgetingMethod::Timeslices,
                    slice: Some(t.slice.clone()),
                    slice_target: finite(Some(t.slice_target)),
                },
            },
            time_weighted: s.time_weighted,
            evaluated_at: s.evaluated_at,
            data_state: s.data_state,
            backfill_progress: finite(s.backfill_progress)
                .filter(|_| s.data_state == DataState::Backfilling),
            alert_state,
            sli: finite(s.sli),
            events: Events {
                good: finite_or_zero(s.events.good),
                total: finite_or_zero(s.events.total),
            },
            corrections: s.corrections.as_ref().map(|c| CorrectionsApplied {
                excluded_events: Events {
                    good: finite_or_zero(c.excluded.good),
                    total: finite_or_zero(c.excluded.total),
                },
                budget_remaining_without_corrections: finite(c.budget_remaining_without),
            }),
            error_budget: ErrorBudget {
                remaining: finite(b.remaining),
                consumed: finite(b.consumed),
                total_events: finite(b.total_events),
                remaining_events: finite(b.remaining_events),
                total_minutes: finite(Some(b.total_minutes)).filter(|m| *m > 0.0),
                remaining_minutes: finite(b.remaining_minutes),
                exhaustion_at: b.exhaustion_at,
            },
            burn_rates: s
                .burn_rates
                .iter()
                .map(|(w, r)| (w.clone(), finite(*r)))
                .collect(),
            alerts,
            budget_exhausted,
            absent,
            error: s.error.clone(),
            definition: None,
        }
    }
}

/// One instance in the view: its status and the status's JSON.
pub struct Entry {
    pub status: SloStatus,
    pub json: Bytes,
}

/// A snapshot as the API serves it. Built on the first request after each
/// publish; later requests share it.
pub struct View {
    pub snapshot: Arc<Snapshot>,
    /// Ordered by id (byte-wise), the API's stable order.
    pub entries: Vec<Entry>,
    metrics: OnceLock<Bytes>,
    services: OnceLock<Bytes>,
}

impl View {
    fn build(snapshot: Arc<Snapshot>) -> View {
        let entries = snapshot
            .instances
            .values()
            .map(|s| {
                let status = SloStatus::of(s);
                let json = Bytes::from(serde_json::to_vec(&status).unwrap_or_default());
                Entry { status, json }
            })
            .collect();
        View {
            snapshot,
            entries,
            metrics: OnceLock::new(),
            services: OnceLock::new(),
        }
    }

    /// The entry with this exact id.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.status.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The index of the first entry whose id sorts after `id`.
    pub fn after(&self, id: &str) -> usize {
        self.entries.partition_point(|e| e.status.id.as_str() <= id)
    }

    pub fn metrics(&self, build: impl FnOnce(&View) -> Bytes) -> Bytes {
        self.metrics.get_or_init(|| build(self)).clone()
    }

    pub fn services(&self, build: impl FnOnce(&View) -> Bytes) -> Bytes {
        self.services.get_or_init(|| build(self)).clone()
    }
}

/// The latest view, rebuilt when the scheduler has published a new snapshot.
#[derive(Default)]
pub struct ViewCache {
    current: Mutex<Option<Arc<View>>>,
}

impl ViewCache {
    pub fn get(&self, state: &AppState) -> Arc<View> {
        let snapshot = state.snapshot();
        let mut slot = self.current.lock().unwrap_or_else(|p| p.into_inner());
        // The cached view holds its snapshot, so a pointer match cannot be a reused address.
        if let Some(view) = slot.as_ref()
            && Arc::ptr_eq(&view.snapshot, &snapshot)
        {
            return Arc::clone(view);
        }
        let view = Arc::new(View::build(snapshot));
        *slot = Some(Arc::clone(&view));
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_encode_the_id_as_one_segment() {
        assert_eq!(
            href("shop/availability"),
            "/api/v1/slos/shop%2Favailability"
        );
        assert_eq!(
            href("shop/by-route{route=\"/pay\"}"),
            "/api/v1/slos/shop%2Fby-route%7Broute%3D%22%2Fpay%22%7D"
        );
        assert_eq!(href("a.b_c~d/é"), "/api/v1/slos/a.b_c~d%2F%C3%A9");
    }
}
