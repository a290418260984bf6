//! `burnrate rules`: the generated file passes `promtool check rules`, and
//! on the same seeded series its alerts fire exactly where burnrate's own
//! engine fires (`promtool test rules` against a runtime over a real
//! Prometheus).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use burnrate::alerting::{AlertingConfig, alert_labels};
use burnrate::catalog::{self, Catalog};
use burnrate::evaluation::AlertRef;
use burnrate::evaluation::{AlertState, InstanceStatus};
use burnrate::prom::{Prometheus, PrometheusConfig};
use burnrate::rules::{RuleOptions, generate};
use burnrate::serve::runtime::{IngestSettings, Services, SloRuntime};
use burnrate::store::Store;
use chrono::{TimeZone, Utc};
use testkit::process::find_binary;
use testkit::synthetic::MINUTE;
use testkit::{Series, TestDatabase, TestPrometheus};

fn promtool() -> Command {
    Command::new(find_binary("PROMTOOL_BIN", "promtool"))
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The whole example catalog, through the real command line.
#[test]
fn promtool_accepts_the_rules_of_the_example_catalog() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("burnrate.rules.yml");
    let (ok, output) = run(Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "rules",
            "slo-definitions",
            "--external-url",
            "https://burnrate.example",
            "--output",
        ])
        .arg(&file));
    assert!(ok, "burnrate rules failed: {output}");
    assert!(output.contains("for 6 SLOs"), "{output}");
    let (ok, output) = run(promtool().arg("check").arg("rules").arg(&file));
    assert!(ok, "promtool check rules failed:\n{output}");
    // Recording and alerting rules for every SLO; budget rules only for rolling windows.
    assert!(output.contains("SUCCESS: 81 rules found"), "{output}");
    let text = std::fs::read_to_string(&file).expect("read rules");
    assert_eq!(
        text.matches("No budget rules for").count(),
        2,
        "month and quarter SLOs"
    );
    assert_eq!(text.matches("- alert: \"SLOBudgetExhausted\"").count(), 1);
    assert_eq!(text.matches("- alert: \"SLOMetricAbsent\"").count(), 1);
}

#[test]
fn a_broken_catalog_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("rules.yml");
    let out = Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["rules", "tests/check-fixtures/broken", "-o"])
        .arg(&file)
        .output()
        .expect("run burnrate");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rules written"));
    assert!(!file.exists());
}

const CATALOG: &str = "version: burnrate/v1
service: shop
labels: {team: web}
slos:
  - name: availability
    description: Shop requests without server errors.
    objective: 99.9
    group_by: [route]
    indicator:
      ratio:
        errors: http_requests_total{code=\"500\"}
        total: http_requests_total
    alerting:
      min_events: 100
      labels: {pager: shop-oncall}
      tiers:
        page-1h: {for: 2m, labels: {severity: critical}}
      budget_exhausted: true
";

/// Minutes of seeded data; the incident is in minutes (1400, 1440].
const MINUTES: i64 = 1560;
const INCIDENT: (i64, i64) = (1400, 1440);

/// Requests and errors added in minute `(m - 1, m]`, per route.
fn per_minute(route: &str, m: i64) -> (u64, u64) {
    let burning = m > INCIDENT.0 && m <= INCIDENT.1;
    match route {
        "/cart" => (600, 0),
        "/pay" => (300, if burning { 90 } else { 0 }),
        // One request a minute: below min_events over an hour, enough over six.
        _ => (1, u64::from(burning)),
    }
}

/// A counter's labels and its values at minutes 0..=MINUTES, from 0.
type Counter = (Vec<(&'static str, &'static str)>, Vec<u64>);

fn counters() -> Vec<Counter> {
    let mut out = Vec::new();
    for route in ["/cart", "/pay", "/rare"] {
        let (mut ok, mut err) = (vec![0u64], vec![0u64]);
        for m in 1..=MINUTES {
            let (total, bad) = per_minute(route, m);
            ok.push(ok[ok.len() - 1] + total - bad);
            err.push(err[err.len() - 1] + bad);
        }
        out.push((vec![("route", route), ("code", "200")], ok));
        out.push((vec![("route", route), ("code", "500")], err));
    }
    out
}

fn firing(
    statuses: &[InstanceStatus],
    catalog: &Catalog,
) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let slo = &catalog.slos[0];
    let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for status in statuses {
        for tier in status
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
        {
            let def = slo
                .alerting
                .tiers
                .iter()
                .find(|t| t.name == tier.tier)
                .expect("tier");
            let labels = alert_labels(slo, &status.group, AlertRef::Tier(def));
            out.entry(labels["alertname"].clone())
                .or_default()
                .push(labels);
        }
        if status
            .budget_exhausted
            .as_ref()
            .is_some_and(|e| e.state == AlertState::Firing)
        {
            let def = slo
                .alerting
                .budget_exhausted
                .as_ref()
                .expect("exhaustion alert");
            let labels = alert_labels(slo, &status.group, AlertRef::BudgetExhausted(def));
            out.entry(labels["alertname"].clone())
                .or_default()
                .push(labels);
        }
    }
    out
}

fn has(
    firing: &BTreeMap<String, Vec<BTreeMap<String, String>>>,
    route: &str,
    window: &str,
) -> bool {
    firing.values().flatten().any(|l| {
        l.get("route").map(String::as_str) == Some(route)
            && l.get("long_window").map(String::as_str) == Some(window)
    })
}

/// One `alert_rule_test` entry: at minute `m`, exactly `alerts` (label sets) fire as `name`.
fn alert_rule_test(test: &mut String, m: i64, name: &str, alerts: &[BTreeMap<String, String>]) {
    let _ = writeln!(test, "      - eval_time: {m}m\n        alertname: {name}");
    if alerts.is_empty() {
        test.push_str("        exp_alerts: []\n");
        return;
    }
    test.push_str("        exp_alerts:\n");
    for labels in alerts {
        test.push_str("          - exp_labels:\n");
        for (k, v) in labels.iter().filter(|(k, _)| *k != "alertname") {
            let _ = writeln!(
                test,
                "              {k}: {}",
                serde_json::to_string(v).expect("json")
            );
        }
    }
}

/// Drops every rule's annotations: they print Prometheus' own numbers, which
/// a unit test would have to spell out character by character.
fn without_annotations(rules: &str) -> String {
    let mut doc: yaml_serde::Value = yaml_serde::from_str(rules).expect("rules are YAML");
    if let Some(groups) = doc["groups"].as_sequence_mut() {
        for group in groups {
            if let Some(rules) = group["rules"].as_sequence_mut() {
                for rule in rules {
                    if let Some(map) = rule.as_mapping_mut() {
                        map.remove("annotations");
                    }
                }
            }
        }
    }
    yaml_serde::to_string(&doc).expect("YAML")
}

/// The same counters in Prometheus (read by burnrate's runtime, cycled
/// every minute around the incident) and in a promtool unit test of the
/// generated rules: at each checked minute, the firing alerts (names and
/// full label sets) are those burnrate's engine reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_rules_fire_where_burnrate_fires() {
    let catalog = match catalog::load_str(Path::new("shop.yaml"), CATALOG).into_result() {
        Ok(c) => c,
        Err(d) => panic!("test catalog invalid: {d:?}"),
    };
    // Minute 0 of the promtool test is `t0` in Prometheus.
    let t0 = testkit::now_ms() / MINUTE * MINUTE - (MINUTES + 5) * MINUTE;
    let series = counters();
    let prom = TestPrometheus::start().await;
    let seeded: Vec<Series> = series
        .iter()
        .map(|(labels, values)| {
            Series::new(
                "http_requests_total",
                labels,
                values
                    .iter()
                    .enumerate()
                    .map(|(m, v)| (t0 + m as i64 * MINUTE, *v as f64)),
            )
        })
        .collect();
    prom.remote_write(&seeded).await;
    let db = TestDatabase::create().await;
    let services = Services {
        prometheus: Prometheus::new(&PrometheusConfig::new(prom.url())).expect("client"),
        store: Store::connect(db.url()).await.expect("store"),
        settings: IngestSettings::default(),
        alerting: AlertingConfig::default().start().expect("no sender"),
    };
    let mut runtime = SloRuntime::claim(Arc::clone(&catalog.slos[0]), &services)
        .await
        .expect("lease");

    // burnrate, evaluated every minute as Prometheus evaluates rules, so `for` counts alike.
    let checks = [1390, 1404, 1405, 1410, 1430, 1444, 1445, 1450, 1475, 1500];
    let mut expected = BTreeMap::new();
    for m in 1380..=1500 {
        let now = Utc.timestamp_millis_opt(t0 + m * MINUTE + 20_000).unwrap();
        runtime.cycle(&services, now).await;
        if checks.contains(&m) {
            let statuses: Vec<InstanceStatus> = runtime.statuses().cloned().collect();
            assert!(statuses.iter().all(|s| s.error.is_none()), "{statuses:#?}");
            expected.insert(m, firing(&statuses, &catalog));
        }
    }
    // The scenario exercises what it should, by burnrate's own account.
    #[rustfmt::skip]
    let story = [
        (1390, "/pay",  "1h", false, "quiet before the incident"),
        (1404, "/pay",  "1h", false, "condition holds since 1403, `for: 2m` not yet passed"),
        (1405, "/pay",  "1h", true,  "fires once `for` has passed"),
        (1410, "/pay",  "6h", true,  "the 6h tier fires too"),
        (1430, "/rare", "1h", false, "one request a minute: below min_events over 1h"),
        (1430, "/rare", "6h", true,  "but not over 6h"),
        (1444, "/pay",  "1h", true,  "the 5m window still holds the incident's last minute"),
        (1445, "/pay",  "1h", false, "burn stopped: the 5m window resets the page"),
        (1450, "/pay",  "6h", true,  "its 30m window still burns"),
        (1475, "/pay",  "6h", false, "until the 30m window is clean"),
        (1500, "/pay",  "1d", true,  "the ticket keeps going on its 2h window"),
    ];
    for (m, route, window, want, why) in story {
        assert_eq!(
            has(&expected[&m], route, window),
            want,
            "minute {m}, {route} {window}: {why}; {:#?}",
            expected[&m]
        );
    }
    assert!(expected[&1410].contains_key("SLOBudgetExhausted"));
    assert!(!expected[&1390].contains_key("SLOBudgetExhausted"));

    // The same series and checks as a promtool unit test of the generated rules.
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = generate(&catalog, &RuleOptions::default());
    std::fs::write(dir.path().join("rules.yml"), without_annotations(&rules)).expect("write rules");
    let mut test = String::from(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n",
    );
    for (labels, values) in &series {
        let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let values: Vec<String> = values.iter().map(u64::to_string).collect();
        let _ = writeln!(
            test,
            "      - series: 'http_requests_total{{{}}}'\n        values: '{}'",
            selector.join(","),
            values.join(" ")
        );
    }
    test.push_str("    alert_rule_test:\n");
    for (m, by_name) in &expected {
        for name in ["SLOBurnRate", "SLOBudgetExhausted"] {
            let alerts = by_name.get(name).cloned().unwrap_or_default();
            alert_rule_test(&mut test, *m, name, &alerts);
        }
    }
    let test_file = dir.path().join("test.yml");
    std::fs::write(&test_file, &test).expect("write test");
    let (ok, output) = run(promtool().arg("test").arg("rules").arg(&test_file));
    if !ok {
        let kept = std::env::temp_dir().join("burnrate-rules-test");
        let _ = std::fs::create_dir_all(&kept);
        let _ = std::fs::copy(&test_file, kept.join("test.yml"));
        let _ = std::fs::write(kept.join("rules.yml"), &rules);
        panic!(
            "promtool test rules failed (files kept in {}):\n{output}",
            kept.display()
        );
    }
    assert!(output.contains("SUCCESS"), "{output}");
}

/// The absent alert's rule: `promtool check rules` accepts it, and in a
/// `promtool test rules` run it fires for the instance whose series stopped
/// (with the labels `burnrate serve` sends), not for one that never sent,
/// and resolves once samples come again.
#[test]
fn absent_rules_fire_per_instance_and_resolve() {
    let source = "version: burnrate/v1
service: shop
labels: {team: web}
slos:
  - name: availability
    objective: 99.9
    window: 3d
    group_by: [route]
    indicator:
      ratio:
        errors: http_requests_total{code=\"500\"}
        total: http_requests_total
    alerting:
      absent: {for: 2m, severity: page}
  - name: jobs
    objective: 99
    indicator:
      events:
        bad: sum(increase(jobs_failed_total[{{.window}}]))
        total: sum(increase(jobs_total[{{.window}}]))
    alerting: {absent: true}
";
    let catalog = match catalog::load_str(Path::new("shop.yaml"), source).into_result() {
        Ok(c) => c,
        Err(d) => panic!("test catalog invalid: {d:?}"),
    };
    let options = RuleOptions {
        budget_interval: burnrate::duration::Duration::from_mins(1),
        absent_after: burnrate::duration::Duration::from_mins(5),
        ..RuleOptions::default()
    };
    let rules = generate(&catalog, &options);
    assert!(rules.contains("No absent rule for shop/jobs"), "{rules}");
    assert_eq!(rules.matches("- alert: \"SLOMetricAbsent\"").count(), 1);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("rules.yml"), without_annotations(&rules)).expect("write");
    let (ok, output) = run(promtool()
        .arg("check")
        .arg("rules")
        .arg(dir.path().join("rules.yml")));
    assert!(ok, "promtool check rules failed:\n{output}");

    // /pay sends for 30 minutes, stops for 30, then sends again; /cart
    // sends all along; /new starts only at minute 80.
    let pay: burnrate::labels::Labels = [("route".to_string(), "/pay".to_string())].into();
    let want = alert_labels(
        &catalog.slos[0],
        &pay,
        AlertRef::Absent(catalog.slos[0].alerting.absent.as_ref().expect("on")),
    );
    let mut test = String::from(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n",
    );
    for (route, values) in [
        ("/pay", "0+10x30 _x30 310+10x30"),
        ("/cart", "0+10x90"),
        ("/new", "_x80 0+10x10"),
    ] {
        let _ = writeln!(
            test,
            "      - series: 'http_requests_total{{route=\"{route}\",code=\"200\"}}'\n        values: '{values}'"
        );
    }
    test.push_str("    alert_rule_test:\n");
    // Last sample at 30m: absent from 36m (more than 5m of silence), firing
    // 2m later; samples again from 61m.
    let firing = [
        (34, false),
        (36, false),
        (38, true),
        (55, true),
        (62, false),
        (85, false),
    ];
    for (m, fires) in firing {
        let alerts = if fires {
            vec![want.clone()]
        } else {
            Vec::new()
        };
        alert_rule_test(&mut test, m, "SLOMetricAbsent", &alerts);
    }
    let test_file = dir.path().join("test.yml");
    std::fs::write(&test_file, &test).expect("write test");
    let (ok, output) = run(promtool().arg("test").arg("rules").arg(&test_file));
    assert!(ok, "promtool test rules failed:\n{output}\n{test}\n{rules}");
}
