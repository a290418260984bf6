//! A catalog rendered as native `version: burnrate/v1` documents, for
//! `burnrate convert`: one document per service, leaving out whatever equals
//! what the loader would assume (the 30-day window, the Workbook tiers, the
//! default gate), so the output loads back into the same SLOs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::alerting::{AlertingSpec, budget_consumed_for, burn_rate_for};
use super::layers::DEFAULT_WINDOW;
use super::model::{
    AbsentAlert, AlertTier, Catalog, Counts, GatePolicy, Indicator, NoDataDecision, Severity, Slo,
};
use super::native::VERSION;
use super::window::SloWindow;
use crate::duration::Duration;

/// The equivalent native catalog, one YAML document per service.
pub fn to_native_yaml(catalog: &Catalog) -> String {
    let mut services: Vec<(&str, Vec<&Slo>)> = Vec::new();
    for slo in &catalog.slos {
        match services.iter_mut().find(|(s, _)| *s == slo.service) {
            Some((_, slos)) => slos.push(slo),
            None => services.push((&slo.service, vec![slo])),
        }
    }
    let mut out = String::new();
    for (service, slos) in services {
        let shared = shared_labels(&slos);
        let doc = Doc {
            version: VERSION,
            service,
            labels: shared.clone(),
            slos: slos.iter().map(|s| slo_out(s, &shared)).collect(),
        };
        out.push_str("---\n");
        // Serialising plain structs of strings, numbers and maps cannot fail.
        out.push_str(&yaml_serde::to_string(&doc).unwrap_or_default());
    }
    out
}

#[derive(Serialize)]
struct Doc<'a> {
    version: &'static str,
    service: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    slos: Vec<SloOut<'a>>,
}

#[derive(Serialize)]
struct SloOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    objective: Number,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<WindowOut>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    indicator: IndicatorOut,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerting: Option<AlertingOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<GateOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    budgeting: Option<BudgetingOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    corrections: Vec<CorrectionOut>,
}

/// Only timeslices are written: events are the default.
#[derive(Serialize)]
struct BudgetingOut {
    method: &'static str,
    slice: String,
    slice_target: Number,
}

#[derive(Serialize)]
struct CorrectionOut {
    reason: String,
    start: String,
    duration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat: Option<String>,
}

/// A number as YAML writes it: whole numbers without `.0`; floats in their
/// shortest exact form; text where that form would need an exponent and the
/// reader takes none (objectives).
#[derive(Serialize, PartialEq)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Float(f64),
    Text(String),
}

fn number(v: f64) -> Number {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Number::Int(v as i64)
    } else {
        Number::Float(v)
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum WindowOut {
    Text(String),
    Calendar {
        calendar: &'static str,
        time_zone: String,
    },
}

#[derive(Serialize, Default)]
struct IndicatorOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<CountsOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency: Option<LatencyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bool_gauge: Option<BoolGaugeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<CountsOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_ratio: Option<String>,
}

/// `errors`/`good` + `total` (ratio) or `bad`/`good` + `total` (events).
#[derive(Serialize)]
struct CountsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bad: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    good: Option<String>,
    total: String,
}

#[derive(Serialize)]
struct LatencyOut {
    histogram: String,
    le: Number,
}

#[derive(Serialize)]
struct BoolGaugeOut {
    metric: String,
}

#[derive(Serialize, Default)]
struct AlertingOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tiers: BTreeMap<String, TierOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    budget_exhausted: Option<ExhaustionOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    absent: Option<AbsentOut>,
}

#[derive(Serialize, Default, PartialEq)]
struct TierOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    long_window: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    short_window: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    burn_rate: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    budget_consumed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_events: Option<u64>,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_duration: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ExhaustionOut {
    threshold: String,
    severity: &'static str,
}

/// `absent: true` for the defaults, else the fields that differ from them.
#[derive(Serialize)]
#[serde(untagged)]
enum AbsentOut {
    On(bool),
    Set {
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        severity: Option<&'static str>,
        #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
        for_duration: Option<String>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        labels: BTreeMap<String, String>,
    },
}

fn absent_out(a: &AbsentAlert) -> AbsentOut {
    let severity = (a.severity != Severity::Ticket).then(|| a.severity.as_str());
    let for_duration = (!a.for_duration.is_zero()).then(|| a.for_duration.to_string());
    if a.name.is_none() && severity.is_none() && for_duration.is_none() && a.labels.is_empty() {
        AbsentOut::On(true)
    } else {
        AbsentOut::Set {
            name: a.name.clone(),
            severity,
            for_duration,
            labels: a.labels.clone(),
        }
    }
}

#[derive(Serialize, Default)]
struct GateOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    min_budget_remaining: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deny_when_firing: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_no_data: Option<&'static str>,
}

/// Labels every SLO of a service has with the same value: written once for the document.
fn shared_labels(slos: &[&Slo]) -> BTreeMap<String, String> {
    let Some((first, rest)) = slos.split_first() else {
        return BTreeMap::new();
    };
    first
        .labels
        .iter()
        .filter(|(k, v)| rest.iter().all(|s| s.labels.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn slo_out<'a>(slo: &'a Slo, shared: &BTreeMap<String, String>) -> SloOut<'a> {
    let objective = slo.objective.to_string();
    SloOut {
        name: &slo.name,
        description: slo.description.as_deref(),
        objective: match objective.parse::<f64>() {
            Ok(v) if slo.objective.percent() >= 0.001 => number(v),
            _ => Number::Text(objective),
        },
        window: window_out(&slo.window),
        labels: slo
            .labels
            .iter()
            .filter(|(k, _)| !shared.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        indicator: indicator_out(&slo.indicator),
        group_by: slo.group_by.clone(),
        alerting: alerting_out(slo),
        gate: gate_out(&slo.gate),
        budgeting: slo.budgeting.timeslices().map(|t| BudgetingOut {
            method: "timeslices",
            slice: t.slice.to_string(),
            slice_target: number(t.slice_target * 100.0),
        }),
        corrections: slo
            .corrections
            .iter()
            .map(|c| CorrectionOut {
                reason: c.reason.clone(),
                start: c.start.to_rfc3339(),
                duration: c.duration.to_string(),
                repeat: c.repeat.as_ref().map(|r| r.to_string()),
            })
            .collect(),
    }
}

fn window_out(window: &SloWindow) -> Option<WindowOut> {
    match window {
        SloWindow::Rolling(d) if *d == DEFAULT_WINDOW => None,
        SloWindow::Rolling(d) => Some(WindowOut::Text(d.to_string())),
        SloWindow::Calendar { period, time_zone } if *time_zone == chrono_tz::Tz::UTC => {
            Some(WindowOut::Text(period.as_str().to_string()))
        }
        SloWindow::Calendar { period, time_zone } => Some(WindowOut::Calendar {
            calendar: period.as_str(),
            time_zone: time_zone.name().to_string(),
        }),
    }
}

fn indicator_out(indicator: &Indicator) -> IndicatorOut {
    match indicator {
        Indicator::Ratio {
            counts,
            selector,
            total,
        } => IndicatorOut {
            ratio: Some(CountsOut {
                errors: (*counts == Counts::Bad).then(|| selector.to_string()),
                bad: None,
                good: (*counts == Counts::Good).then(|| selector.to_string()),
                total: total.to_string(),
            }),
            ..IndicatorOut::default()
        },
        Indicator::Latency {
            bucket, threshold, ..
        } => IndicatorOut {
            latency: Some(LatencyOut {
                histogram: bucket.to_string(),
                le: number(*threshold),
            }),
            ..IndicatorOut::default()
        },
        Indicator::BoolGauge { selector } => IndicatorOut {
            bool_gauge: Some(BoolGaugeOut {
                metric: selector.to_string(),
            }),
            ..IndicatorOut::default()
        },
        Indicator::Events {
            counts,
            query,
            total,
        } => IndicatorOut {
            events: Some(CountsOut {
                errors: None,
                bad: (*counts == Counts::Bad).then(|| query.as_str().to_string()),
                good: (*counts == Counts::Good).then(|| query.as_str().to_string()),
                total: total.as_str().to_string(),
            }),
            ..IndicatorOut::default()
        },
        Indicator::ErrorRatio { query } => IndicatorOut {
            error_ratio: Some(query.as_str().to_string()),
            ..IndicatorOut::default()
        },
    }
}

/// A ratio written in percent, exactly: `0.02` → `2%`.
fn percent_text(ratio: f64) -> String {
    format!("{}%", ratio * 100.0)
}

/// How `percent_text` reads back (as `native` parses percentages).
fn percent_back(text: &str) -> Option<f64> {
    text.trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .map(|v| v / 100.0)
}

fn alerting_out(slo: &Slo) -> Option<AlertingOut> {
    let policy = &slo.alerting;
    let window = slo.window.nominal_length();
    let (defaults, _) = AlertingSpec::default().resolve(window);
    let mut out = AlertingOut {
        name: policy.name.clone(),
        labels: policy.labels.clone(),
        annotations: policy.annotations.clone(),
        budget_exhausted: policy.budget_exhausted.as_ref().map(|e| ExhaustionOut {
            threshold: percent_text(e.threshold),
            severity: e.severity.as_str(),
        }),
        absent: policy.absent.as_ref().map(absent_out),
        ..AlertingOut::default()
    };
    if policy.tiers.is_empty() && policy.budget_exhausted.is_none() && policy.absent.is_none() {
        if !defaults.tiers.is_empty() {
            out.enabled = Some(false);
        }
    } else {
        for d in &defaults.tiers {
            if !policy.tiers.iter().any(|t| t.name == d.name) {
                out.tiers.insert(
                    d.name.clone(),
                    TierOut {
                        enabled: Some(false),
                        ..TierOut::default()
                    },
                );
            }
        }
        for t in &policy.tiers {
            let base = defaults.tiers.iter().find(|d| d.name == t.name);
            let tier = tier_out(t, base, window);
            if tier != TierOut::default() {
                out.tiers.insert(t.name.clone(), tier);
            }
        }
    }
    let empty = out.name.is_none()
        && out.enabled.is_none()
        && out.labels.is_empty()
        && out.annotations.is_empty()
        && out.tiers.is_empty()
        && out.budget_exhausted.is_none()
        && out.absent.is_none();
    (!empty).then_some(out)
}

/// What `t` changes over the default tier of the same name (all of it for a new tier).
fn tier_out(t: &AlertTier, base: Option<&AlertTier>, window: Duration) -> TierOut {
    let differs = |f: &dyn Fn(&AlertTier) -> bool| base.is_none_or(|b| !f(b));
    let mut out = TierOut {
        severity: differs(&|b| b.severity == t.severity).then(|| t.severity.as_str()),
        long_window: differs(&|b| b.long_window == t.long_window)
            .then(|| t.long_window.to_string()),
        short_window: differs(&|b| b.short_window == t.short_window)
            .then(|| t.short_window.to_string()),
        min_events: (t.min_events != base.map_or(0, |b| b.min_events)).then_some(t.min_events),
        for_duration: (t.for_duration != base.map_or(Duration::ZERO, |b| b.for_duration))
            .then(|| t.for_duration.to_string()),
        labels: t.labels.clone(),
        annotations: t.annotations.clone(),
        ..TierOut::default()
    };
    let rate_differs = out.long_window.is_some()
        || differs(&|b| b.burn_rate == t.burn_rate && b.budget_consumed == t.budget_consumed);
    if rate_differs {
        // Write whichever of the two reads back into exactly these numbers.
        let by_rate = budget_consumed_for(t.burn_rate, window, t.long_window) == t.budget_consumed;
        let text = percent_text(t.budget_consumed);
        let by_share = percent_back(&text).is_some_and(|c| {
            c == t.budget_consumed && burn_rate_for(c, window, t.long_window) == t.burn_rate
        });
        if by_share && !by_rate {
            out.budget_consumed = Some(text);
        } else {
            out.burn_rate = Some(number(t.burn_rate));
        }
    }
    out
}

fn gate_out(gate: &GatePolicy) -> Option<GateOut> {
    let default = GatePolicy::default();
    let out = GateOut {
        min_budget_remaining: (gate.min_budget_remaining != default.min_budget_remaining)
            .then(|| percent_text(gate.min_budget_remaining)),
        deny_when_firing: (gate.deny_when_firing != default.deny_when_firing)
            .then(|| gate.deny_when_firing.iter().map(|s| s.as_str()).collect()),
        on_no_data: (gate.on_no_data != default.on_no_data).then_some(match gate.on_no_data {
            NoDataDecision::Allow => "allow",
            NoDataDecision::Deny => "deny",
            NoDataDecision::Undecided => "undecided",
        }),
    };
    let empty = out.min_budget_remaining.is_none()
        && out.deny_when_firing.is_none()
        && out.on_no_data.is_none();
    (!empty).then_some(out)
}
