//! What `GET /api/v1/alerts` and the per-SLO alert history answer, apart
//! from HTTP: the handlers in `src/api/alerts.rs` only parse and serialise.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::alert_labels;
use crate::catalog::{Catalog, Severity, Slo};
use crate::evaluation::{AlertRef, Snapshot};
use crate::evaluation::{AlertState, InstanceStatus};
use crate::labels::Labels;

/// Filters of `GET /api/v1/alerts`; each takes a comma-separated list, all must match.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertFilter {
    /// Service names.
    pub service: Option<String>,
    /// SLO ids (`service/name`) or SLO names.
    pub slo: Option<String>,
    /// `page`/`ticket`, or the `severity` label value sent to Alertmanager.
    pub severity: Option<String>,
    /// `pending` and/or `firing` (default both).
    pub state: Option<String>,
}

fn list(value: &Option<String>) -> Option<Vec<&str>> {
    value.as_deref().map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    })
}

fn matches(wanted: &Option<Vec<&str>>, candidates: &[&str]) -> bool {
    wanted
        .as_ref()
        .is_none_or(|w| w.is_empty() || w.iter().any(|x| candidates.contains(x)))
}

impl AlertFilter {
    /// Checks the values that have a fixed set; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(states) = list(&self.state) {
            for s in states {
                if !matches!(
                    AlertState::parse(s),
                    Some(AlertState::Pending | AlertState::Firing)
                ) {
                    return Err(format!(
                        "state `{s}`: expected `pending` or `firing` (inactive alerts are not listed)"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One pending or firing alert of one SLO instance.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ActiveAlert {
    /// The instance id, as in `/api/v1/slos/{id}`.
    pub instance: String,
    pub slo: String,
    pub service: String,
    /// The instance's group labels (empty for an ungrouped SLO).
    #[schema(value_type = BTreeMap<String, String>)]
    pub group: Labels,
    /// The tier name, `budget_exhausted` or `absent`.
    pub alert: String,
    /// `burn_rate`, `budget_exhausted` or `absent`.
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// `page` or `ticket`.
    #[schema(value_type = String)]
    pub severity: Severity,
    pub state: AlertState,
    /// Pending since, or firing since (`startsAt` in Alertmanager).
    pub since: Option<DateTime<Utc>>,
    /// The labels sent to Alertmanager.
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_window: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_window: Option<String>,
    pub long_burn_rate: Option<f64>,
    pub short_burn_rate: Option<f64>,
    /// The tier's burn-rate factor, or the exhaustion alert's budget
    /// threshold; null for the absent alert.
    pub threshold: Option<f64>,
    pub budget_remaining: Option<f64>,
    pub evaluated_at: Option<DateTime<Utc>>,
}

/// One alert of an instance with what every kind has; no windows, burn
/// rates or threshold.
fn listed(
    status: &InstanceStatus,
    alert: &str,
    kind: &'static str,
    severity: Severity,
    state: AlertState,
    since: Option<DateTime<Utc>>,
    labels: BTreeMap<String, String>,
) -> ActiveAlert {
    ActiveAlert {
        instance: status.id.clone(),
        slo: status.slo.clone(),
        service: status.service.clone(),
        group: status.group.clone(),
        alert: alert.to_string(),
        kind,
        severity,
        state,
        since,
        labels,
        long_window: None,
        short_window: None,
        long_burn_rate: None,
        short_burn_rate: None,
        threshold: None,
        budget_remaining: status.error_budget.remaining,
        evaluated_at: status.evaluated_at,
    }
}

/// Pending and firing alerts of the latest evaluation, filtered, ordered by
/// state (firing first), severity, then instance.
pub fn active_alerts(
    snapshot: &Snapshot,
    catalog: &Catalog,
    filter: &AlertFilter,
) -> Vec<ActiveAlert> {
    let services = list(&filter.service);
    let slos = list(&filter.slo);
    let severities = list(&filter.severity);
    let states = list(&filter.state);
    let mut out = Vec::new();
    for status in snapshot.instances.values() {
        if !matches(&services, &[&status.service]) {
            continue;
        }
        if !matches(&slos, &[&status.slo, &status.name]) {
            continue;
        }
        let slo = catalog.get(&status.slo);
        // The labels sent to Alertmanager, while the catalog still defines the alert.
        let labels = |find: &dyn Fn(&Slo) -> Option<AlertRef<'_>>| {
            slo.and_then(|s| find(s).map(|a| alert_labels(s, &status.group, a)))
                .unwrap_or_default()
        };
        let mut candidates = Vec::new();
        for tier in &status.alerts {
            let labels = labels(&|s| {
                s.alerting
                    .tiers
                    .iter()
                    .find(|t| t.name == tier.tier)
                    .map(AlertRef::Tier)
            });
            candidates.push(ActiveAlert {
                long_window: Some(tier.long_window.clone()),
                short_window: Some(tier.short_window.clone()),
                long_burn_rate: tier.long_burn_rate,
                short_burn_rate: tier.short_burn_rate,
                threshold: Some(tier.burn_rate_threshold),
                ..listed(
                    status,
                    &tier.tier,
                    "burn_rate",
                    tier.severity,
                    tier.state,
                    tier.since,
                    labels,
                )
            });
        }
        if let Some(exhausted) = &status.budget_exhausted {
            let labels = labels(&|s| {
                s.alerting
                    .budget_exhausted
                    .as_ref()
                    .map(AlertRef::BudgetExhausted)
            });
            // The status snapshot does not carry the exhaustion alert's start.
            let since = None;
            candidates.push(ActiveAlert {
                long_burn_rate: status.burn_rates.get("1h").copied().flatten(),
                threshold: Some(exhausted.threshold),
                ..listed(
                    status,
                    "budget_exhausted",
                    "budget_exhausted",
                    exhausted.severity,
                    exhausted.state,
                    since,
                    labels,
                )
            });
        }
        if let Some(absent) = &status.absent {
            let labels = labels(&|s| s.alerting.absent.as_ref().map(AlertRef::Absent));
            candidates.push(listed(
                status,
                "absent",
                "absent",
                absent.severity,
                absent.state,
                absent.since,
                labels,
            ));
        }
        for alert in candidates {
            if alert.state == AlertState::Inactive || !matches(&states, &[alert.state.as_str()]) {
                continue;
            }
            let label_severity = alert.labels.get("severity").map_or("", String::as_str);
            if !matches(&severities, &[alert.severity.as_str(), label_severity]) {
                continue;
            }
            out.push(alert);
        }
    }
    out.sort_by(|a, b| {
        let rank = |s: AlertState| if s == AlertState::Firing { 0 } else { 1 };
        (rank(a.state), a.severity, &a.instance, &a.alert).cmp(&(
            rank(b.state),
            b.severity,
            &b.instance,
            &b.alert,
        ))
    });
    out
}
