//! The catalog as the rest of burnrate sees it: validated SLOs, nothing raw.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::correction::Correction;
use super::objective::Objective;
use super::promql::{Selector, WindowedQuery};
use super::window::SloWindow;
use crate::duration::Duration;

/// A loaded catalog: every SLO, ordered by id.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalog {
    pub slos: Vec<Arc<Slo>>,
}

impl Catalog {
    pub fn get(&self, id: &str) -> Option<&Slo> {
        self.slos
            .binary_search_by(|s| s.id.as_str().cmp(id))
            .ok()
            .map(|i| &*self.slos[i])
    }
}

/// `service/name`, unique across a catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SloId(String);

impl SloId {
    pub fn new(service: &str, name: &str) -> Self {
        SloId(format!("{service}/{name}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SloId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an SLO was defined, for messages and for `burnrate check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slo {
    pub id: SloId,
    pub service: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub objective: Objective,
    pub window: SloWindow,
    pub indicator: Indicator,
    /// One SLO instance per distinct value set of these labels.
    pub group_by: Vec<String>,
    pub alerting: AlertPolicy,
    pub gate: GatePolicy,
    /// What the budget counts: events, or time slices judged by their events.
    pub budgeting: Budgeting,
    /// Spans whose minutes count neither as good nor as bad events.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub corrections: Vec<Correction>,
    pub source: Source,
}

/// What an SLO's budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Budgeting {
    /// Good and bad events over the window (OpenSLO's `Occurrences`).
    #[default]
    Occurrences,
    /// Good and bad time slices: a slice is good when its share of good
    /// events reaches the slice target; a slice without events is neither.
    Timeslices(Timeslices),
}

impl Budgeting {
    pub fn timeslices(&self) -> Option<Timeslices> {
        match self {
            Budgeting::Occurrences => None,
            Budgeting::Timeslices(t) => Some(*t),
        }
    }
}

/// How time slices are cut and judged. Slices divide an hour and lie on
/// the UTC minute grid: a slice of `n` minutes starts `k * n` minutes past
/// an hour, so every window and every hour holds whole slices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timeslices {
    pub slice: Duration,
    /// The share of good events (0 to 1) a slice needs to be good.
    pub slice_target: f64,
}

/// The slice lengths that divide an hour.
pub const SLICE_MINUTES: [u64; 12] = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];

impl Timeslices {
    /// Minutes per slice.
    pub fn minutes(&self) -> usize {
        (self.slice.as_millis() / 60_000) as usize
    }

    /// Whether a slice with `good` of `total` events is good; `None` for a
    /// slice without events, which counts neither way.
    pub fn judge(&self, good: f64, total: f64) -> Option<bool> {
        (total > 0.0).then(|| good / total >= self.slice_target)
    }
}

/// Which events an indicator's first query counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Counts {
    /// Bad events (errors); good = total - bad.
    Bad,
    /// Good events; bad = total - good.
    Good,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// Two counters: bad (or good) events and all events.
    Ratio {
        counts: Counts,
        selector: Selector,
        total: Selector,
    },
    /// A classic histogram: good events are those in the `le` bucket at the threshold.
    Latency {
        /// The `_bucket` series selector, without `le`.
        bucket: Selector,
        /// The `_count` series selector (same labels).
        count: Selector,
        /// The threshold in the histogram's unit, and the `le` values that may spell it.
        threshold: f64,
        le: String,
    },
    /// A 0/1 gauge (such as `probe_success`): each sample is one event, good when 1.
    BoolGauge { selector: Selector },
    /// Free-form PromQL returning event counts over `{{.window}}`.
    Events {
        counts: Counts,
        query: WindowedQuery,
        total: WindowedQuery,
    },
    /// Free-form PromQL returning an error ratio (0 to 1) over `{{.window}}`
    /// (Sloth's raw SLIs). Time-weighted: each minute with a value is one
    /// event, as bad as the ratio says, whatever its traffic.
    ErrorRatio { query: WindowedQuery },
}

impl Indicator {
    pub fn kind(&self) -> &'static str {
        match self {
            Indicator::Ratio { .. } => "ratio",
            Indicator::Latency { .. } => "latency",
            Indicator::BoolGauge { .. } => "bool_gauge",
            Indicator::Events { .. } => "events",
            Indicator::ErrorRatio { .. } => "error_ratio",
        }
    }

    /// Whether every minute weighs the same, whatever its traffic.
    pub fn time_weighted(&self) -> bool {
        matches!(self, Indicator::ErrorRatio { .. })
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "page" => Some(Severity::Page),
            "ticket" => Some(Severity::Ticket),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// One multi-window burn-rate alert: fires when both windows burn faster than `burn_rate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertTier {
    pub name: String,
    pub severity: Severity,
    pub long_window: Duration,
    pub short_window: Duration,
    /// Burn-rate factor; the error-ratio threshold is `burn_rate * (1 - objective)`.
    pub burn_rate: f64,
    /// Share of the SLO window's budget spent by the time the tier fires.
    pub budget_consumed: f64,
    /// The tier stays quiet while the long window holds fewer events than this.
    pub min_events: u64,
    /// How long the condition must hold before the tier fires.
    #[serde(rename = "for")]
    pub for_duration: Duration,
    /// Labels and annotations for this tier's alerts, over the policy's own.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Fires when the remaining budget falls below `threshold` (a ratio of the budget).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExhaustionAlert {
    pub threshold: f64,
    pub severity: Severity,
}

/// `alertname` of the budget-exhausted alert.
pub const EXHAUSTED_ALERTNAME: &str = "SLOBudgetExhausted";
/// `alertname` of the absent alert when the catalog names none (Pyrra's name for it).
pub const ABSENT_ALERTNAME: &str = "SLOMetricAbsent";

/// Fires while an instance is `absent` (its series sent no samples for
/// longer than `--absent-after`, although its window has events), once that
/// has lasted `for`. An SLO that never had data is `no_data` and stays quiet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbsentAlert {
    /// The alert name (`alertname`), when the catalog sets one; else [`ABSENT_ALERTNAME`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub severity: Severity,
    #[serde(rename = "for")]
    pub for_duration: Duration,
    /// Labels added to this alert only, over the policy's (Pyrra's
    /// `severities.absent` sets `severity` here).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl AbsentAlert {
    pub fn alertname(&self) -> &str {
        self.name.as_deref().unwrap_or(ABSENT_ALERTNAME)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct AlertPolicy {
    /// The alert name (`alertname`), when the catalog sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub tiers: Vec<AlertTier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_exhausted: Option<ExhaustionAlert>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absent: Option<AbsentAlert>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl AlertPolicy {
    pub fn longest_window(&self) -> Option<Duration> {
        self.tiers
            .iter()
            .map(|t| t.long_window.max(t.short_window))
            .max()
    }
}

/// What the release gate answers when an SLO has no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoDataDecision {
    Allow,
    Deny,
    Undecided,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatePolicy {
    /// Deny while the remaining budget (ratio of the budget) is below this.
    pub min_budget_remaining: f64,
    /// Deny while an alert of one of these severities fires.
    pub deny_when_firing: Vec<Severity>,
    pub on_no_data: NoDataDecision,
}

impl Default for GatePolicy {
    /// Deny once the budget is spent or a page fires; no data cannot be judged.
    fn default() -> Self {
        GatePolicy {
            min_budget_remaining: 0.0,
            deny_when_firing: vec![Severity::Page],
            on_no_data: NoDataDecision::Undecided,
        }
    }
}
