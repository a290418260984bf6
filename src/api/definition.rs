//! An SLO's definition as `/api/v1/slos/{id}?include=definition` shows it:
//! what it measures (description, queries), what the release gate asks of
//! it, and where in the catalog it was written.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::promql::{MatchKind, Selector};
use crate::catalog::{Counts, Indicator, NoDataDecision, Slo};

/// The window Prometheus graph links rate counters over.
const GRAPH_RATE_WINDOW: &str = "5m";

/// One query of an indicator.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IndicatorQuery {
    /// What the query counts: `errors`, `good`, `total` or `samples`.
    pub role: &'static str,
    /// The query as the catalog gives it; for an instance of a grouped SLO,
    /// a series selector narrowed to the instance's group labels.
    pub query: String,
    /// An expression that graphs the query over time in Prometheus (per-second
    /// rates for counters, `{{.window}}` filled in with `5m`).
    pub graph: String,
}

/// The release gate's policy for the SLO.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatePolicyView {
    /// Releases are denied while the budget remaining (ratio) is below this.
    pub min_budget_remaining: f64,
    /// Releases are denied while an alert of one of these severities fires.
    pub deny_when_firing: Vec<String>,
    /// The decision while the SLO has no data: `allow`, `deny` or `undecided`.
    pub on_no_data: &'static str,
}

/// Where the SLO is defined.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceLocation {
    pub file: String,
    pub line: usize,
}

/// The SLO's definition in the catalog.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SloDefinition {
    pub description: Option<String>,
    /// `ratio`, `latency`, `bool_gauge` or `events`.
    pub indicator: &'static str,
    pub queries: Vec<IndicatorQuery>,
    /// Labels each instance is split by (empty: one instance).
    pub group_by: Vec<String>,
    pub gate: GatePolicyView,
    pub source: SourceLocation,
}

impl SloDefinition {
    /// The definition of `slo`, its selectors narrowed to `group` (an
    /// instance's group labels; empty for an ungrouped SLO).
    pub fn of(slo: &Slo, group: &BTreeMap<String, String>) -> SloDefinition {
        let narrowed = |selector: &Selector| {
            group.iter().fold(selector.clone(), |s, (name, value)| {
                s.with_matcher(name, MatchKind::Equal, value)
            })
        };
        let counter = |role: &'static str, selector: Selector| IndicatorQuery {
            role,
            graph: format!("sum(rate({selector}[{GRAPH_RATE_WINDOW}]))"),
            query: selector.to_string(),
        };
        let counted = |counts: Counts| match counts {
            Counts::Bad => "errors",
            Counts::Good => "good",
        };
        let queries = match &slo.indicator {
            Indicator::Ratio {
                counts,
                selector,
                total,
            } => vec![
                counter(counted(*counts), narrowed(selector)),
                counter("total", narrowed(total)),
            ],
            Indicator::Latency {
                bucket, count, le, ..
            } => vec![
                counter(
                    "good",
                    narrowed(bucket).with_matcher("le", MatchKind::Equal, le),
                ),
                counter("total", narrowed(count)),
            ],
            Indicator::BoolGauge { selector } => {
                let selector = narrowed(selector);
                vec![IndicatorQuery {
                    role: "samples",
                    query: selector.to_string(),
                    graph: selector.to_string(),
                }]
            }
            Indicator::Events {
                counts,
                query,
                total,
            } => [(counted(*counts), query), ("total", total)]
                .into_iter()
                .map(|(role, q)| IndicatorQuery {
                    role,
                    query: q.as_str().to_string(),
                    graph: q.with_window(GRAPH_RATE_WINDOW),
                })
                .collect(),
            Indicator::ErrorRatio { query } => vec![IndicatorQuery {
                role: "error_ratio",
                query: query.as_str().to_string(),
                graph: query.with_window(GRAPH_RATE_WINDOW),
            }],
        };
        SloDefinition {
            description: slo.description.clone(),
            indicator: slo.indicator.kind(),
            queries,
            group_by: slo.group_by.clone(),
            gate: GatePolicyView {
                min_budget_remaining: slo.gate.min_budget_remaining,
                deny_when_firing: slo
                    .gate
                    .deny_when_firing
                    .iter()
                    .map(|s| s.as_str().to_string())
                    .collect(),
                on_no_data: match slo.gate.on_no_data {
                    NoDataDecision::Allow => "allow",
                    NoDataDecision::Deny => "deny",
                    NoDataDecision::Undecided => "undecided",
                },
            },
            source: SourceLocation {
                file: slo.source.file.display().to_string(),
                line: slo.source.line,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_narrowed_to_the_instance_and_graphable() {
        let text = "version: burnrate/v1\nservice: shop\nslos:\n  - name: by-route\n    description: Requests without errors.\n    objective: 99\n    group_by: [route]\n    indicator:\n      ratio:\n        errors: http_requests_total{code=~\"5..\"}\n        total: http_requests_total\n  - name: jobs\n    objective: 99\n    indicator:\n      events:\n        bad: sum(increase(jobs_failed_total[{{.window}}]))\n        total: sum(increase(jobs_total[{{.window}}]))\n";
        let catalog = crate::catalog::load_str(std::path::Path::new("shop.yaml"), text)
            .into_result()
            .expect("valid catalog");
        let group = BTreeMap::from([("route".to_string(), "/pay".to_string())]);
        let d = SloDefinition::of(catalog.get("shop/by-route").expect("slo"), &group);
        assert_eq!(d.description.as_deref(), Some("Requests without errors."));
        assert_eq!(
            (d.indicator, d.source.file.as_str(), d.source.line),
            ("ratio", "shop.yaml", 4)
        );
        assert_eq!(d.queries[0].role, "errors");
        assert_eq!(
            d.queries[0].query,
            "http_requests_total{code=~\"5..\",route=\"/pay\"}"
        );
        assert_eq!(
            d.queries[1].graph,
            "sum(rate(http_requests_total{route=\"/pay\"}[5m]))"
        );
        assert_eq!(d.gate.on_no_data, "undecided");
        let jobs = SloDefinition::of(catalog.get("shop/jobs").expect("slo"), &BTreeMap::new());
        assert_eq!(jobs.queries[0].role, "errors");
        assert_eq!(
            jobs.queries[0].graph,
            "sum(increase(jobs_failed_total[5m]))"
        );
        assert!(jobs.queries[1].query.contains("{{.window}}"));
    }
}
