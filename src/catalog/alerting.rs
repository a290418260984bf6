//! The SRE Workbook's multi-window, multi-burn-rate alert table, and how a
//! catalog's partial alert policies combine with it.

use std::collections::BTreeMap;

use super::diagnostic::Pos;
use super::model::{
    AbsentAlert, AlertPolicy, AlertTier, EXHAUSTED_ALERTNAME, ExhaustionAlert, GatePolicy,
    NoDataDecision, Severity,
};
use crate::duration::Duration;

/// One row of the default policy: budget consumed when the tier fires.
pub struct WorkbookTier {
    pub name: &'static str,
    pub severity: Severity,
    pub long_window: Duration,
    pub short_window: Duration,
    pub budget_consumed: f64,
}

/// "Alerting on SLOs", SRE Workbook: 2% in 1h and 5% in 6h page; 10% in 1d and 10% in 3d open a ticket.
pub const WORKBOOK_TIERS: [WorkbookTier; 4] = [
    WorkbookTier {
        name: "page-1h",
        severity: Severity::Page,
        long_window: Duration::from_hours(1),
        short_window: Duration::from_mins(5),
        budget_consumed: 0.02,
    },
    WorkbookTier {
        name: "page-6h",
        severity: Severity::Page,
        long_window: Duration::from_hours(6),
        short_window: Duration::from_mins(30),
        budget_consumed: 0.05,
    },
    WorkbookTier {
        name: "ticket-1d",
        severity: Severity::Ticket,
        long_window: Duration::from_days(1),
        short_window: Duration::from_hours(2),
        budget_consumed: 0.10,
    },
    WorkbookTier {
        name: "ticket-3d",
        severity: Severity::Ticket,
        long_window: Duration::from_days(3),
        short_window: Duration::from_hours(6),
        budget_consumed: 0.10,
    },
];

/// `burn_rate = consumed * P / long_window`: the factor at which `consumed` of
/// the budget of a window `P` is spent within `long_window`.
pub fn burn_rate_for(budget_consumed: f64, slo_window: Duration, long_window: Duration) -> f64 {
    budget_consumed * slo_window.as_secs_f64() / long_window.as_secs_f64()
}

/// The inverse: share of the budget spent when burning at `burn_rate` for `long_window`.
pub fn budget_consumed_for(burn_rate: f64, slo_window: Duration, long_window: Duration) -> f64 {
    burn_rate * long_window.as_secs_f64() / slo_window.as_secs_f64()
}

/// The name the absent alert goes by beside the tiers (API, metrics, history),
/// so no tier may have it.
pub const ABSENT_TIER: &str = "absent";

/// A tier as written in a catalog layer: every field optional, merged field by field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TierSpec {
    pub pos: Pos,
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub long_window: Option<Duration>,
    pub short_window: Option<Duration>,
    pub budget_consumed: Option<f64>,
    pub burn_rate: Option<f64>,
    pub min_events: Option<u64>,
    pub for_duration: Option<Duration>,
    /// Labels and annotations added to this tier's alerts only (Sloth's
    /// `page_alert.labels`, for instance); merged over the policy's own.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl TierSpec {
    fn merge(&mut self, over: &TierSpec) {
        self.pos = over.pos;
        self.labels.extend(over.labels.clone());
        self.annotations.extend(over.annotations.clone());
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(
            enabled,
            severity,
            long_window,
            short_window,
            min_events,
            for_duration
        );
        // A factor and a budget share are two ways to say one thing: the later layer's wins.
        if over.burn_rate.is_some() || over.budget_consumed.is_some() {
            self.burn_rate = over.burn_rate;
            self.budget_consumed = over.budget_consumed;
        }
    }
}

/// Alerting as written in one layer (directory defaults, file defaults, or the SLO).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertingSpec {
    /// The alert name (`alertname`) the policy's alerts carry.
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub min_events: Option<u64>,
    pub for_duration: Option<Duration>,
    pub tiers: BTreeMap<String, TierSpec>,
    /// `Some(None)` switches the exhaustion alert off.
    pub budget_exhausted: Option<Option<ExhaustionSpec>>,
    /// `Some(None)` switches the absent alert off.
    pub absent: Option<Option<AbsentSpec>>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExhaustionSpec {
    pub threshold: Option<f64>,
    pub severity: Option<Severity>,
}

/// The absent alert as written in one layer; `pos` is where its name was
/// set (or the alert itself, without a name), for diagnostics of the name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AbsentSpec {
    pub pos: Pos,
    pub name: Option<String>,
    pub severity: Option<Severity>,
    pub for_duration: Option<Duration>,
    /// Labels added to the absent alert only; merged over the policy's own.
    pub labels: BTreeMap<String, String>,
}

impl AbsentSpec {
    fn merge(&mut self, over: &AbsentSpec) {
        self.pos = over.pos;
        if over.name.is_some() {
            self.name = over.name.clone();
        }
        if over.severity.is_some() {
            self.severity = over.severity;
        }
        if over.for_duration.is_some() {
            self.for_duration = over.for_duration;
        }
        self.labels.extend(over.labels.clone());
    }
}

impl AlertingSpec {
    pub fn merge(&mut self, over: &AlertingSpec) {
        if over.name.is_some() {
            self.name = over.name.clone();
        }
        if over.enabled.is_some() {
            self.enabled = over.enabled;
        }
        if over.min_events.is_some() {
            self.min_events = over.min_events;
        }
        if over.for_duration.is_some() {
            self.for_duration = over.for_duration;
        }
        for (name, tier) in &over.tiers {
            self.tiers.entry(name.clone()).or_default().merge(tier);
        }
        match (&mut self.budget_exhausted, &over.budget_exhausted) {
            (Some(Some(mine)), Some(Some(theirs))) => {
                if theirs.threshold.is_some() {
                    mine.threshold = theirs.threshold;
                }
                if theirs.severity.is_some() {
                    mine.severity = theirs.severity;
                }
            }
            (_, Some(theirs)) => self.budget_exhausted = Some(theirs.clone()),
            (_, None) => {}
        }
        match (&mut self.absent, &over.absent) {
            (Some(Some(mine)), Some(Some(theirs))) => mine.merge(theirs),
            (_, Some(theirs)) => self.absent = Some(theirs.clone()),
            (_, None) => {}
        }
        self.labels.extend(over.labels.clone());
        self.annotations.extend(over.annotations.clone());
    }

    /// The final policy for an SLO with window length `slo_window`: the Workbook
    /// tiers with every layer applied. Problems are returned as (position, field, message).
    pub fn resolve(&self, slo_window: Duration) -> (AlertPolicy, Vec<(Pos, String, String)>) {
        let mut problems = Vec::new();
        let mut policy = AlertPolicy {
            name: self.name.clone(),
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            ..AlertPolicy::default()
        };
        if self.enabled == Some(false) {
            return (policy, problems);
        }
        let mut specs: BTreeMap<String, TierSpec> = WORKBOOK_TIERS
            .iter()
            .map(|w| {
                let spec = TierSpec {
                    severity: Some(w.severity),
                    long_window: Some(w.long_window),
                    short_window: Some(w.short_window),
                    budget_consumed: Some(w.budget_consumed),
                    ..TierSpec::default()
                };
                (w.name.to_string(), spec)
            })
            .collect();
        for (name, tier) in &self.tiers {
            specs.entry(name.clone()).or_default().merge(tier);
        }
        for (name, spec) in specs {
            if spec.enabled == Some(false) {
                continue;
            }
            let field = format!("alerting.tiers.{name}");
            let mut missing = Vec::new();
            if spec.severity.is_none() {
                missing.push("`severity`");
            }
            if spec.long_window.is_none() {
                missing.push("`long_window`");
            }
            if spec.short_window.is_none() {
                missing.push("`short_window`");
            }
            if spec.burn_rate.is_none() && spec.budget_consumed.is_none() {
                missing.push("`burn_rate` or `budget_consumed`");
            }
            if !missing.is_empty() {
                problems.push((
                    spec.pos,
                    field,
                    format!("a new tier needs {}", missing.join(", ")),
                ));
                continue;
            }
            let (Some(severity), Some(long_window), Some(short_window)) =
                (spec.severity, spec.long_window, spec.short_window)
            else {
                continue;
            };
            // Equal windows make a single-window alert (OpenSLO's burn-rate conditions).
            if short_window > long_window {
                problems.push((spec.pos, field.clone(), format!("the short window ({short_window}) must be shorter than the long window ({long_window}), or equal to it for a single-window alert")));
                continue;
            }
            let (burn_rate, budget_consumed) = match (spec.burn_rate, spec.budget_consumed) {
                (Some(rate), _) => (rate, budget_consumed_for(rate, slo_window, long_window)),
                (None, Some(consumed)) => {
                    (burn_rate_for(consumed, slo_window, long_window), consumed)
                }
                (None, None) => continue,
            };
            policy.tiers.push(AlertTier {
                name,
                severity,
                long_window,
                short_window,
                burn_rate,
                budget_consumed,
                min_events: spec.min_events.or(self.min_events).unwrap_or(0),
                for_duration: spec
                    .for_duration
                    .or(self.for_duration)
                    .unwrap_or(Duration::ZERO),
                labels: spec.labels,
                annotations: spec.annotations,
            });
        }
        // Fastest-burning tier first, the order dashboards and alert routes expect.
        policy.tiers.sort_by_key(|t| (t.severity, t.long_window));
        policy.budget_exhausted = match &self.budget_exhausted {
            Some(Some(spec)) => Some(ExhaustionAlert {
                threshold: spec.threshold.unwrap_or(0.0),
                severity: spec.severity.unwrap_or(Severity::Ticket),
            }),
            _ => None,
        };
        policy.absent = match &self.absent {
            Some(Some(spec)) => {
                let name = spec.name.clone().filter(|n| n != EXHAUSTED_ALERTNAME);
                if spec.name.is_some() && name.is_none() {
                    problems.push((
                        spec.pos,
                        "alerting.absent.name".to_string(),
                        format!("`{EXHAUSTED_ALERTNAME}` is the budget-exhausted alert's name; the absent alert needs a name of its own, or none for the default"),
                    ));
                }
                Some(AbsentAlert {
                    name,
                    severity: spec.severity.unwrap_or(Severity::Ticket),
                    for_duration: spec.for_duration.unwrap_or(Duration::ZERO),
                    labels: spec.labels.clone(),
                })
            }
            _ => None,
        };
        if let Some(spec) = self.tiers.get(ABSENT_TIER)
            && spec.enabled != Some(false)
        {
            problems.push((
                spec.pos,
                format!("alerting.tiers.{ABSENT_TIER}"),
                format!("the tier name `{ABSENT_TIER}` is taken by the absent alert (`alerting.absent`) in the API and metrics; choose another"),
            ));
        }
        (policy, problems)
    }
}

/// The release-gate policy as written in one layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateSpec {
    pub min_budget_remaining: Option<f64>,
    pub deny_when_firing: Option<Vec<Severity>>,
    pub on_no_data: Option<NoDataDecision>,
}

impl GateSpec {
    pub fn merge(&mut self, over: &GateSpec) {
        if over.min_budget_remaining.is_some() {
            self.min_budget_remaining = over.min_budget_remaining;
        }
        if over.deny_when_firing.is_some() {
            self.deny_when_firing = over.deny_when_firing.clone();
        }
        if over.on_no_data.is_some() {
            self.on_no_data = over.on_no_data;
        }
    }

    pub fn resolve(&self) -> GatePolicy {
        let default = GatePolicy::default();
        GatePolicy {
            min_budget_remaining: self
                .min_budget_remaining
                .unwrap_or(default.min_budget_remaining),
            deny_when_firing: self
                .deny_when_firing
                .clone()
                .unwrap_or(default.deny_when_firing),
            on_no_data: self.on_no_data.unwrap_or(default.on_no_data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factors(window_days: u64) -> Vec<(String, f64, f64)> {
        let (policy, problems) = AlertingSpec::default().resolve(Duration::from_days(window_days));
        assert!(problems.is_empty());
        policy
            .tiers
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    (t.burn_rate * 1000.0).round() / 1000.0,
                    t.budget_consumed,
                )
            })
            .collect()
    }

    #[test]
    fn workbook_factors_for_30_days() {
        let expected = [
            ("page-1h", 14.4, 0.02),
            ("page-6h", 6.0, 0.05),
            ("ticket-1d", 3.0, 0.10),
            ("ticket-3d", 1.0, 0.10),
        ];
        let got = factors(30);
        assert_eq!(got.len(), 4);
        for ((name, rate, consumed), (n, r, c)) in expected.iter().zip(&got) {
            assert_eq!((*name, *rate, *consumed), (n.as_str(), *r, *c));
        }
    }

    #[test]
    fn workbook_factors_for_28_days_keep_the_budget_share() {
        let rates: Vec<f64> = factors(28).iter().map(|(_, r, _)| *r).collect();
        assert_eq!(rates, [13.44, 5.6, 2.8, 0.933]);
    }

    #[test]
    fn tiers_windows_match_the_workbook() {
        let (policy, _) = AlertingSpec::default().resolve(Duration::from_days(30));
        let windows: Vec<(String, String, String)> = policy
            .tiers
            .iter()
            .map(|t| {
                (
                    t.severity.as_str().to_string(),
                    t.long_window.to_string(),
                    t.short_window.to_string(),
                )
            })
            .collect();
        let expected = [
            ("page", "1h", "5m"),
            ("page", "6h", "30m"),
            ("ticket", "1d", "2h"),
            ("ticket", "3d", "6h"),
        ];
        for (got, want) in windows.iter().zip(expected) {
            assert_eq!((got.0.as_str(), got.1.as_str(), got.2.as_str()), want);
        }
    }

    #[test]
    fn layers_override_field_by_field() {
        let mut base = AlertingSpec {
            min_events: Some(10),
            ..Default::default()
        };
        base.tiers.insert(
            "page-1h".into(),
            TierSpec {
                min_events: Some(100),
                ..Default::default()
            },
        );
        base.tiers.insert(
            "ticket-3d".into(),
            TierSpec {
                enabled: Some(false),
                ..Default::default()
            },
        );
        let mut over = AlertingSpec::default();
        over.tiers.insert(
            "page-1h".into(),
            TierSpec {
                burn_rate: Some(20.0),
                ..Default::default()
            },
        );
        over.tiers.insert(
            "page-15m".into(),
            TierSpec {
                severity: Some(Severity::Page),
                long_window: Some(Duration::from_mins(15)),
                short_window: Some(Duration::from_mins(1)),
                burn_rate: Some(30.0),
                ..Default::default()
            },
        );
        base.merge(&over);
        let (policy, problems) = base.resolve(Duration::from_days(30));
        assert!(problems.is_empty(), "{problems:?}");
        let names: Vec<&str> = policy.tiers.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["page-15m", "page-1h", "page-6h", "ticket-1d"]);
        let page_1h = &policy.tiers[1];
        assert_eq!((page_1h.burn_rate, page_1h.min_events), (20.0, 100));
        assert_eq!(
            policy.tiers[2].min_events, 10,
            "file-wide min_events applies to tiers without their own"
        );
        assert!((page_1h.budget_consumed - 20.0 / 720.0).abs() < 1e-12);
    }

    #[test]
    fn incomplete_or_inverted_tiers_are_reported() {
        let mut spec = AlertingSpec::default();
        spec.tiers.insert(
            "custom".into(),
            TierSpec {
                severity: Some(Severity::Page),
                ..Default::default()
            },
        );
        spec.tiers.insert(
            "page-1h".into(),
            TierSpec {
                short_window: Some(Duration::from_hours(2)),
                ..Default::default()
            },
        );
        let (policy, problems) = spec.resolve(Duration::from_days(30));
        assert_eq!(problems.len(), 2);
        assert!(
            problems
                .iter()
                .any(|(_, f, m)| f == "alerting.tiers.custom" && m.contains("`long_window`"))
        );
        assert!(
            problems
                .iter()
                .any(|(_, f, m)| f == "alerting.tiers.page-1h"
                    && m.contains("shorter than the long window"))
        );
        assert_eq!(policy.tiers.len(), 3);
    }

    fn load(source: &str) -> super::super::Loaded {
        super::super::load_str(std::path::Path::new("t.yaml"), source)
    }

    const ABSENT_DOC: &str = "version: burnrate/v1
service: shop
defaults:
  alerting:
    absent: {for: 10m}
slos:
  - name: a
    objective: 99.9
    indicator: {bool_gauge: {metric: up}}
";

    #[test]
    fn absent_alert_syntax_and_layers() {
        let absent = |slo_alerting: &str| {
            let loaded = load(&format!("{ABSENT_DOC}    alerting: {slo_alerting}\n"));
            assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
            loaded.catalog.slos[0].alerting.absent.clone()
        };
        let alert = |name: Option<&str>, severity, mins| {
            Some(AbsentAlert {
                name: name.map(str::to_string),
                severity,
                for_duration: Duration::from_mins(mins),
                labels: BTreeMap::new(),
            })
        };
        #[rustfmt::skip]
        let cases = [
            ("{}",                                       alert(None, Severity::Ticket, 10)),
            // `true` switches it on and keeps what outer layers set, as `budget_exhausted: true` does.
            ("{absent: true}",                           alert(None, Severity::Ticket, 10)),
            ("{absent: false}",                          None),
            ("{absent: {severity: page}}",               alert(None, Severity::Page, 10)),
            ("{absent: {for: 0m, name: ShopSilent}}",    alert(Some("ShopSilent"), Severity::Ticket, 0)),
            ("{enabled: false}",                         None),
        ];
        for (written, want) in cases {
            assert_eq!(absent(written), want, "{written}");
        }
        let labelled = absent("{absent: {labels: {severity: warning}}}");
        assert_eq!(
            labelled.map(|a| (a.severity, a.labels)),
            Some((
                Severity::Ticket,
                BTreeMap::from([("severity".to_string(), "warning".to_string())])
            )),
            "labels merge over the outer layer's `for`, severity unchanged"
        );
        let plain = load(&ABSENT_DOC.replace("    absent: {for: 10m}\n", "    min_events: 1\n"));
        assert_eq!(
            plain.catalog.slos[0].alerting.absent, None,
            "off by default"
        );
    }

    #[test]
    fn bad_absent_settings_are_placed() {
        let loaded = load(&format!(
            "{ABSENT_DOC}    alerting:\n      absent: {{severity: sev1, for: soon, after: 5m}}\n  - name: b\n    objective: 99\n    indicator: {{bool_gauge: {{metric: up}}}}\n    alerting:\n      absent: yes\n  - name: c\n    objective: 99\n    indicator: {{bool_gauge: {{metric: up}}}}\n    alerting:\n      absent: {{name: SLOBudgetExhausted}}\n      tiers:\n        absent: {{severity: page, long_window: 1h, short_window: 5m, burn_rate: 10}}\n"
        ));
        let got: Vec<(usize, usize, String)> = loaded
            .diagnostics
            .clone()
            .sorted()
            .iter()
            .map(|d| (d.line, d.column, d.message.clone()))
            .collect();
        let want: [(usize, usize, &str); 6] = [
            (11, 26, "expected `page` or `ticket`, found `sev1`"),
            (11, 37, "`soon` is not a duration"),
            (
                11,
                43,
                "unknown field `after`; expected one of `for`, `severity`, `name`",
            ),
            (16, 15, "expected `true` or `false`, found `yes`"),
            (21, 22, "the absent alert needs a name of its own"),
            (23, 9, "the tier name `absent` is taken by the absent alert"),
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for ((line, column, message), (l, c, m)) in got.iter().zip(want) {
            assert_eq!((*line, *column), (l, c), "{message}");
            assert!(message.contains(m), "{message} lacks {m}");
        }
    }

    #[test]
    fn disabled_alerting_has_no_tiers() {
        let spec = AlertingSpec {
            enabled: Some(false),
            ..Default::default()
        };
        assert!(spec.resolve(Duration::from_days(30)).0.tiers.is_empty());
    }
}
