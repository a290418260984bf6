use std::path::Path;

use super::*;
use crate::catalog;

fn catalog(yaml: &str) -> Catalog {
    let source = format!("version: burnrate/v1\nservice: shop\nslos:\n{yaml}");
    match catalog::load_str(Path::new("t.yaml"), &source).into_result() {
        Ok(c) => c,
        Err(d) => panic!("{d:?}"),
    }
}

#[test]
fn numbers_print_short() {
    let cases = [
        (14.4, "14.4"),
        (0.02 * 720.0, "14.4"),
        (0.1 * 28.0 * 24.0 / 72.0, "0.933333333333"),
        (0.001, "0.001"),
        (1e-9, "0.000000001"),
        (6.0, "6"),
        (1234567.0, "1234567"),
        (0.0, "0"),
    ];
    for (value, want) in cases {
        assert_eq!(number(value), want, "{value}");
    }
}

#[test]
fn error_ratio_expressions_per_indicator() {
    let c = catalog(
            "  - name: ratio
    objective: 99.9
    group_by: [route]
    indicator: {ratio: {errors: 'http_requests_total{code=\"500\"}', total: http_requests_total}}
  - name: good
    objective: 99.9
    indicator: {ratio: {good: 'http_requests_total{code=\"200\"}', total: http_requests_total}}
  - name: latency
    objective: 99
    indicator: {latency: {histogram: 'http_request_duration_seconds_bucket{job=\"a\"}', threshold: 300ms}}
  - name: probe
    objective: 99
    indicator: {bool_gauge: {metric: probe_success}}
  - name: jobs
    objective: 99
    indicator:
      events:
        bad: sum(rate(jobs_failed_total[{{.window}}]))
        total: sum(increase(jobs_total[{{.window}}]))
",
        );
    let five = Duration::from_mins(5);
    let expr = |name: &str| {
        let slo = c.get(&format!("shop/{name}")).expect("slo");
        error_ratio_expr(slo, five)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    #[rustfmt::skip]
        let cases = [
            ("ratio", "( sum by (route) (increase(http_requests_total{code=\"500\"}[5m])) or 0 * sum by (route) (increase(http_requests_total[5m])) ) / sum by (route) (increase(http_requests_total[5m]))"),
            ("good", "1 - ( ( sum (increase(http_requests_total{code=\"200\"}[5m])) or 0 * sum (increase(http_requests_total[5m])) ) / sum (increase(http_requests_total[5m])) )"),
            ("latency", "1 - ( ( sum (increase(http_request_duration_seconds_bucket{job=\"a\",le=~\"0\\\\.30*\"}[5m])) or 0 * sum (increase(http_request_duration_seconds_count{job=\"a\"}[5m])) ) / sum (increase(http_request_duration_seconds_count{job=\"a\"}[5m])) )"),
            ("probe", "1 - ( ( sum (sum_over_time(probe_success[5m])) or 0 * sum (count_over_time(probe_success[5m])) ) / sum (count_over_time(probe_success[5m])) )"),
            ("jobs", "( sum (sum(rate(jobs_failed_total[5m]))) * 300 or 0 * sum (sum(increase(jobs_total[5m]))) ) / sum (sum(increase(jobs_total[5m])))"),
        ];
    for (name, want) in cases {
        assert_eq!(expr(name), want, "{name}");
    }
}

#[test]
fn calendar_windows_get_no_budget_rules_and_say_why() {
    let c = catalog(
        "  - name: monthly
    objective: 99
    window: month
    alerting: {budget_exhausted: true}
    indicator: {ratio: {errors: 'x{code=\"500\"}', total: x}}
  - name: rolling
    objective: 99
    window: 7d
    alerting: {budget_exhausted: true}
    indicator: {ratio: {errors: 'x{code=\"500\"}', total: x}}
",
    );
    let text = generate(&c, &RuleOptions::default());
    assert!(text.contains("No budget rules for shop/monthly"), "{text}");
    assert!(text.contains("\"burnrate:shop/rolling:budget\""));
    assert!(!text.contains("\"burnrate:shop/monthly:budget\""));
    assert_eq!(text.matches("- alert: \"SLOBudgetExhausted\"").count(), 1);
    assert!(text.contains("slo:sli_error:ratio_rate7d"));
    let parsed: yaml_serde::Value = yaml_serde::from_str(&text).expect("valid YAML");
    assert_eq!(parsed["groups"].as_sequence().map(Vec::len), Some(3));
}

#[test]
fn timeslice_slos_get_no_rules_and_say_why() {
    let sliced = "  - name: sliced\n    objective: 99\n    budgeting: {method: timeslices, slice: 1m, slice_target: 95}\n    indicator: {ratio: {errors: e, total: x}}\n";
    let text = generate(&catalog(sliced), &RuleOptions::default());
    assert!(text.contains("No rules for shop/sliced: it budgets by time slices"));
    let parsed: yaml_serde::Value = yaml_serde::from_str(&text).expect("valid YAML");
    assert_eq!(parsed["groups"].as_sequence().map(Vec::len), Some(0));
    let both = format!(
        "{sliced}  - name: counted\n    objective: 99\n    indicator: {{ratio: {{errors: e, total: x}}}}\n"
    );
    let text = generate(&catalog(&both), &RuleOptions::default());
    assert!(text.contains("name: \"burnrate:shop/counted\""), "{text}");
    assert!(!text.contains("burnrate:shop/sliced"), "{text}");
}
