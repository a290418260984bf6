//! The absent alert in Prometheus: an SLO instance whose series had samples
//! within its window but none for `--absent-after`, as `burnrate serve`
//! judges an instance `absent`.
//!
//! `absent_over_time(sel[d])` is the usual way to say "no samples for d",
//! but it cannot be used as it is: it answers only when no series at all
//! matches, so a `group_by` SLO's instances cannot be told apart; its labels
//! are the selector's equality matchers, not the alert's; and it fires for a
//! selector that never matched anything, where burnrate reports `no_data`
//! and stays quiet. The rule therefore asks the same question per instance:
//!
//! ```text
//! group by (g) (last_over_time(sel[window]))     seen within the window
//! unless
//! group by (g) (last_over_time(sel[absent_after])) but not lately
//! ```
//!
//! It reads the whole SLO window (the nominal length for a calendar window),
//! so it goes in a group of its own, evaluated every `--budget-interval`.

use std::collections::BTreeMap;

use super::{
    RuleOptions, Writer, by_clause, catalog_annotations, description_prefix, instance_template, q,
};
use crate::alerting::{alert_rule_labels, alertname, slo_series_labels};
use crate::catalog::promql::Selector;
use crate::catalog::{AbsentAlert, Indicator, Slo};
use crate::duration::Duration;
use crate::evaluation::AlertRef;

/// The series whose silence makes an instance absent: the one every event
/// is counted in. `None` for free-form PromQL (the `events` indicator).
fn watched(slo: &Slo) -> Option<&Selector> {
    match &slo.indicator {
        Indicator::Ratio { total, .. } => Some(total),
        Indicator::Latency { count, .. } => Some(count),
        Indicator::BoolGauge { selector } => Some(selector),
        Indicator::Events { .. } | Indicator::ErrorRatio { .. } => None,
    }
}

/// `seen within window unless seen within absent_after`, per instance.
pub fn absent_expr(slo: &Slo, selector: &Selector, absent_after: Duration) -> String {
    let by = by_clause(slo);
    let window = slo.window.nominal_length();
    format!(
        "group{by} (last_over_time({selector}[{window}]))\nunless\ngroup{by} (last_over_time({selector}[{absent_after}]))"
    )
}

/// The absent alert's rule group, or a comment saying why there is none.
pub fn absent_group(w: &mut Writer, slo: &Slo, alert: &AbsentAlert, options: &RuleOptions) {
    let Some(selector) = watched(slo) else {
        w.comment(
            2,
            &format!(
                "No absent rule for {}: its indicator is free-form PromQL, with no one series
whose silence means the data is gone. `burnrate serve` evaluates its absent alert.",
                slo.id
            ),
        );
        return;
    };
    let alert_ref = AlertRef::Absent(alert);
    let instance = instance_template(slo);
    let description = description_prefix(slo);
    w.line(
        2,
        &format!("- name: {}", q(&format!("burnrate:{}:absent", slo.id))),
    );
    w.line(4, &format!("interval: {}", options.budget_interval));
    w.line(4, "rules:");
    w.comment(
        6,
        &format!(
            "absent: {selector} had samples within {} but none for {}{}.",
            slo.window.nominal_length(),
            options.absent_after,
            if alert.for_duration.is_zero() {
                String::new()
            } else {
                format!(", for {}", alert.for_duration)
            }
        ),
    );
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "summary".to_string(),
        format!("{instance}: no samples, data absent"),
    );
    annotations.insert(
        "description".to_string(),
        format!(
            "{description}{selector} sent no samples for {} although it had some within the {} window: the exporter, the scrape or the selector may be broken.",
            options.absent_after, slo.window
        ),
    );
    catalog_annotations(&mut annotations, slo, alert_ref, options);
    // The recorded series carry these labels; this rule reads raw series, so it adds them.
    let mut labels = slo_series_labels(slo);
    labels.extend(alert_rule_labels(slo, alert_ref));
    w.line(6, &format!("- alert: {}", q(&alertname(slo, alert_ref))));
    w.expr(8, &absent_expr(slo, selector, options.absent_after));
    if !alert.for_duration.is_zero() {
        w.line(8, &format!("for: {}", alert.for_duration));
    }
    w.map(8, "labels", &labels);
    w.map(8, "annotations", &annotations);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::catalog;

    #[test]
    fn one_query_per_instance_over_the_counted_series() {
        let source = "version: burnrate/v1
service: shop
slos:
  - name: by-route
    objective: 99.9
    group_by: [route]
    indicator: {ratio: {errors: 'http_requests_total{code=\"500\"}', total: 'http_requests_total{job=\"api\"}'}}
    alerting: {absent: true}
  - name: probe
    objective: 99
    window: 7d
    indicator: {bool_gauge: {metric: probe_success}}
    alerting: {absent: true}
";
        let c = match catalog::load_str(Path::new("t.yaml"), source).into_result() {
            Ok(c) => c,
            Err(d) => panic!("{d:?}"),
        };
        let d = Duration::from_mins(30);
        let expr = |id: &str| {
            let slo = c.get(id).expect("slo");
            absent_expr(slo, watched(slo).expect("a series"), d)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            expr("shop/by-route"),
            "group by (route) (last_over_time(http_requests_total{job=\"api\"}[30d])) unless group by (route) (last_over_time(http_requests_total{job=\"api\"}[30m]))"
        );
        assert_eq!(
            expr("shop/probe"),
            "group (last_over_time(probe_success[7d])) unless group (last_over_time(probe_success[30m]))"
        );
    }
}
