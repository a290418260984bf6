//! Sloth, Pyrra and OpenSLO specifications read as they are (issue 6): every
//! upstream file that `tests/upstream.toml` pins loads with the meaning its
//! tool gives it, or is rejected with a precise message; the native export
//! loads back into the same catalog. The tests that read those files are
//! named `upstream_*`: `scripts/test.sh` leaves them out, and says so, when
//! the files cannot be had (see `testkit::upstream`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burnrate::alerting::alert_rule_labels;
use burnrate::catalog::diagnostic::Severity as DiagnosticSeverity;
use burnrate::catalog::export::to_native_yaml;
use burnrate::catalog::external::pyrra::{pyrra_tiers, tier_name};
use burnrate::catalog::window::CalendarPeriod;
use burnrate::catalog::{
    AbsentAlert, Catalog, Counts, Diagnostic, Indicator, Loaded, Severity, Slo, SloWindow,
    load_paths, load_str,
};
use burnrate::duration::Duration;
use burnrate::evaluation::AlertRef;

use testkit::upstream;

fn fixture(rel: &str) -> PathBuf {
    upstream::fixture(rel)
}

fn load(rel: &str) -> Loaded {
    load_paths(&[fixture(rel)]).expect("fixture readable")
}

fn errors(loaded: &Loaded) -> Vec<Diagnostic> {
    loaded
        .diagnostics
        .clone()
        .sorted()
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect()
}

fn warnings(loaded: &Loaded) -> Vec<Diagnostic> {
    loaded
        .diagnostics
        .clone()
        .sorted()
        .into_iter()
        .filter(|d| d.severity == DiagnosticSeverity::Warning)
        .collect()
}

/// Loads a fixture that must load cleanly.
fn load_ok(rel: &str) -> Catalog {
    let loaded = load(rel);
    assert!(
        loaded.diagnostics.is_empty(),
        "{rel}: {:#?}",
        loaded.diagnostics.clone().sorted()
    );
    loaded.catalog
}

fn slo<'a>(catalog: &'a Catalog, id: &str) -> &'a Slo {
    catalog.get(id).unwrap_or_else(|| {
        let ids: Vec<_> = catalog.slos.iter().map(|s| s.id.as_str()).collect();
        panic!("no SLO {id} in {ids:?}")
    })
}

/// Tiers as (name, severity, long, short, burn rate rounded to 1e-9, for).
fn tiers(slo: &Slo) -> Vec<(String, Severity, String, String, f64, String)> {
    slo.alerting
        .tiers
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.severity,
                t.long_window.to_string(),
                t.short_window.to_string(),
                (t.burn_rate * 1e9).round() / 1e9,
                t.for_duration.to_string(),
            )
        })
        .collect()
}

fn tier(
    name: &str,
    severity: Severity,
    long: &str,
    short: &str,
    rate: f64,
    for_duration: &str,
) -> (String, Severity, String, String, f64, String) {
    (
        name.into(),
        severity,
        long.into(),
        short.into(),
        rate,
        for_duration.into(),
    )
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn days(n: u64) -> SloWindow {
    SloWindow::Rolling(Duration::from_days(n))
}

/// The Workbook tiers Sloth's default 30-day windows catalog describes.
fn sloth_default_tiers() -> Vec<(String, Severity, String, String, f64, String)> {
    vec![
        tier("page-1h", Severity::Page, "1h", "5m", 14.4, "0s"),
        tier("page-6h", Severity::Page, "6h", "30m", 6.0, "0s"),
        tier("ticket-1d", Severity::Ticket, "1d", "2h", 3.0, "0s"),
        tier("ticket-3d", Severity::Ticket, "3d", "6h", 1.0, "0s"),
    ]
}

fn events(slo: &Slo) -> (Counts, &str, &str) {
    match &slo.indicator {
        Indicator::Events {
            counts,
            query,
            total,
        } => (*counts, query.as_str(), total.as_str()),
        other => panic!("{}: expected an events indicator, found {other:?}", slo.id),
    }
}

fn ratio(slo: &Slo) -> (Counts, String, String) {
    match &slo.indicator {
        Indicator::Ratio {
            counts,
            selector,
            total,
        } => (*counts, selector.to_string(), total.to_string()),
        other => panic!("{}: expected a ratio indicator, found {other:?}", slo.id),
    }
}

/// Asserts one error at `line` of `file` whose message contains every fragment.
fn assert_error(diags: &[Diagnostic], file: &str, line: usize, field: &str, fragments: &[&str]) {
    let found = diags.iter().any(|d| {
        d.file.ends_with(file)
            && d.line == line
            && d.field.as_deref() == Some(field)
            && fragments.iter().all(|f| d.message.contains(f))
    });
    assert!(
        found,
        "no error at {file}:{line} on `{field}` containing {fragments:?}; got:\n{}",
        diags
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------- inventory

enum Outcome {
    /// Loads cleanly into exactly these SLO ids.
    Loads(&'static [&'static str]),
    /// Nothing loads; errors at these lines with these message fragments.
    Rejected(&'static [(usize, &'static str)]),
    /// Not an SLO specification (licence, notes, Sloth's generated output).
    NotInput,
}

const INVENTORY: &[(&str, Outcome)] = &[
    ("sloth/LICENSE", Outcome::NotInput),
    ("sloth/out-base.yaml.tpl", Outcome::NotInput),
    (
        "sloth/getting-started.yml",
        Outcome::Loads(&["myservice/requests-availability"]),
    ),
    (
        "sloth/home-wifi.yml",
        Outcome::Loads(&[
            "home-wifi/good-wifi-client-satisfaction",
            "home-wifi/risk-wifi-client-satisfaction",
        ]),
    ),
    (
        "sloth/in-base.yaml",
        Outcome::Loads(&["svc01/slo02", "svc01/slo1"]),
    ),
    (
        "sloth/kubernetes-apiserver.yml",
        Outcome::Loads(&[
            "k8s-apiserver/requests-availability",
            "k8s-apiserver/requests-latency",
        ]),
    ),
    (
        "sloth/multifile.yml",
        Outcome::Loads(&[
            "myservice/requests-availability",
            "myservice2/requests-availability",
        ]),
    ),
    (
        "sloth/no-alerts.yml",
        Outcome::Loads(&["myapp/http-availability"]),
    ),
    (
        "sloth/openslo-getting-started.yml",
        Outcome::Loads(&["my-service/sloth-slo-my-service-0"]),
    ),
    (
        "sloth/raw-home-wifi.yml",
        Outcome::Loads(&["home-wifi/wifi-client-satisfaction"]),
    ),
    (
        "sloth/windows-7d.yaml",
        Outcome::Rejected(&[(2, "alert-window catalog")]),
    ),
    ("pyrra/LICENSE", Outcome::NotInput),
    (
        "pyrra/caddy-response-latency.yaml",
        Outcome::Loads(&["default/caddy-response-latency"]),
    ),
    (
        "pyrra/slo-apiserver-read-resource-latency.yaml",
        Outcome::Loads(&["monitoring/apiserver-read-resource-latency"]),
    ),
    (
        "pyrra/slo-apiserver-read-response-errors.yaml",
        Outcome::Loads(&["monitoring/apiserver-read-response-errors"]),
    ),
    (
        "pyrra/slo-coredns-response-errors.yaml",
        Outcome::Loads(&["monitoring/coredns-response-errors"]),
    ),
    (
        "pyrra/slo-kubelet-request-errors.yaml",
        Outcome::Loads(&["monitoring/kubelet-request-errors"]),
    ),
    (
        "pyrra/slo-prometheus-query-errors.yaml",
        Outcome::Loads(&["monitoring/prometheus-query-errors"]),
    ),
    (
        "pyrra/slo-prometheus-rule-evaluation-failures.yaml",
        Outcome::Loads(&["monitoring/prometheus-rule-evaluation-failures"]),
    ),
    ("openslo/LICENSE", Outcome::NotInput),
    ("openslo/README.md", Outcome::NotInput),
    ("openslo/budgeting-method--README.md", Outcome::NotInput),
    (
        "openslo/treat-low-traffic-as-equally-important--README.md",
        Outcome::NotInput,
    ),
    (
        "openslo/budgeting-method--occurences-slo.yaml",
        Outcome::Rejected(&[(15, "`thresholdMetric`")]),
    ),
    (
        "openslo/budgeting-method--ratio-timeslices.yaml",
        Outcome::Rejected(&[
            (18, "data source type `Any` is not supported"),
            (23, "data source type `Any` is not supported"),
            (29, "`RatioTimeslices` budgeting is not supported"),
        ]),
    ),
    (
        "openslo/budgeting-method--timeslices-slo.yaml",
        Outcome::Rejected(&[
            (18, "data source type `Any` is not supported"),
            (23, "data source type `Any` is not supported"),
            (27, "did you mean `1M`"),
        ]),
    ),
    (
        "openslo/treat-low-traffic-as-equally-important--timeslices-slo.yaml",
        Outcome::Rejected(&[
            (16, "data source type `Any` is not supported"),
            (21, "data source type `Any` is not supported"),
            (28, "start at local midnight on Mondays"),
        ]),
    ),
];

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("fixture directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn upstream_every_fixture_file_loads_or_is_rejected_precisely() {
    let pinned: BTreeSet<String> = upstream::manifest().into_iter().map(|e| e.local).collect();
    let listed: BTreeSet<String> = INVENTORY.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(
        pinned, listed,
        "every file tests/upstream.toml pins needs an expected outcome here"
    );
    // The directory scans below read whole folders: nothing else may be in them.
    let dir = upstream::fixtures_dir();
    let mut on_disk = Vec::new();
    for folder in ["sloth", "pyrra", "openslo"] {
        files_under(&dir.join(folder), &mut on_disk);
    }
    let on_disk: BTreeSet<String> = on_disk
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        on_disk,
        listed,
        "files in {} not in the manifest",
        dir.display()
    );

    for (file, outcome) in INVENTORY {
        let ids = |loaded: &Loaded| -> Vec<String> {
            loaded
                .catalog
                .slos
                .iter()
                .map(|s| s.id.to_string())
                .collect()
        };
        match outcome {
            Outcome::NotInput => continue,
            Outcome::Loads(expected) => {
                let loaded = load(file);
                assert!(errors(&loaded).is_empty(), "{file}: {:?}", errors(&loaded));
                assert_eq!(ids(&loaded), *expected, "{file}");
            }
            Outcome::Rejected(rejected) => check_rejected(file, &[], rejected),
        }
    }
}

fn check_rejected(file: &str, expected: &[&str], rejected: &[(usize, &str)]) {
    let loaded = load(file);
    let ids: Vec<String> = loaded
        .catalog
        .slos
        .iter()
        .map(|s| s.id.to_string())
        .collect();
    assert_eq!(ids, expected, "{file}");
    let errs = errors(&loaded);
    assert_eq!(errs.len(), rejected.len(), "{file}: {errs:#?}");
    for ((line, fragment), d) in rejected.iter().zip(&errs) {
        assert!(
            d.file.ends_with(file) && d.line == *line && d.message.contains(fragment),
            "{file}: expected an error at line {line} containing {fragment:?}, got {d}"
        );
    }
}

#[test]
fn upstream_directory_scans_skip_what_is_not_yaml() {
    for dir in ["sloth", "pyrra", "openslo"] {
        let loaded = load(dir);
        for d in loaded.diagnostics.iter() {
            let name = d.file.file_name().unwrap().to_string_lossy();
            assert!(
                name.ends_with(".yaml") || name.ends_with(".yml"),
                "{dir}: a non-YAML file was read: {d}"
            );
        }
    }
}

// -------------------------------------------------------------------- Sloth

#[test]
fn upstream_sloth_getting_started() {
    let catalog = load_ok("sloth/getting-started.yml");
    let s = slo(&catalog, "myservice/requests-availability");
    assert_eq!(s.objective.ratio(), 0.999);
    assert_eq!(s.window, days(30), "Sloth's default period");
    assert_eq!(
        events(s),
        (
            Counts::Bad,
            r#"sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))"#,
            r#"sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))"#,
        )
    );
    assert_eq!(
        s.description.as_deref(),
        Some("Common SLO based on availability for HTTP request responses.")
    );
    assert_eq!(
        s.labels,
        labels(&[
            ("owner", "myteam"),
            ("repo", "myorg/myservice"),
            ("tier", "2")
        ])
    );
    assert_eq!(tiers(s), sloth_default_tiers());
    let policy = &s.alerting;
    assert_eq!(policy.name.as_deref(), Some("MyServiceHighErrorRate"));
    assert_eq!(policy.labels, labels(&[("category", "availability")]));
    assert_eq!(
        policy.annotations,
        labels(&[(
            "summary",
            "High error rate on 'myservice' requests responses"
        )])
    );
    for t in &policy.tiers {
        let expected = match t.severity {
            Severity::Page => labels(&[("severity", "pageteam"), ("routing_key", "myteam")]),
            Severity::Ticket => {
                labels(&[("severity", "slack"), ("slack_channel", "#alerts-myteam")])
            }
        };
        assert_eq!(t.labels, expected, "{}", t.name);
    }
}

#[test]
fn upstream_sloth_home_wifi_and_kubernetes_apiserver() {
    let catalog = load_ok("sloth/home-wifi.yml");
    let good = slo(&catalog, "home-wifi/good-wifi-client-satisfaction");
    let risk = slo(&catalog, "home-wifi/risk-wifi-client-satisfaction");
    assert_eq!(
        (good.objective.ratio(), risk.objective.ratio()),
        (0.95, 0.999)
    );
    let (counts, bad, total) = events(good);
    assert_eq!(counts, Counts::Bad);
    assert_eq!(
        bad,
        "sum_over_time((count(unifipoller_client_satisfaction_ratio < 0.75))[{{.window}}:]) OR on() vector(0)"
    );
    assert_eq!(
        total,
        "sum_over_time((count(unifipoller_client_satisfaction_ratio))[{{.window}}:])"
    );
    assert_eq!(
        good.labels,
        labels(&[
            ("cluster", "valhalla"),
            ("component", "ubiquiti"),
            ("context", "home")
        ])
    );
    assert_eq!(tiers(risk), sloth_default_tiers());
    assert_eq!(
        risk.alerting.name.as_deref(),
        Some("RiskWifiClientSatisfaction")
    );

    let catalog = load_ok("sloth/kubernetes-apiserver.yml");
    let latency = slo(&catalog, "k8s-apiserver/requests-latency");
    assert_eq!(latency.objective.ratio(), 0.99);
    assert_eq!(latency.labels["category"], "latency");
    let (_, bad, total) = events(latency);
    assert!(bad.starts_with("(\n  sum(rate(apiserver_request_duration_seconds_count"));
    assert!(bad.contains(
        r#"apiserver_request_duration_seconds_bucket{le="0.4",verb!="WATCH"}[{{.window}}]"#
    ));
    assert_eq!(
        total,
        r#"sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{.window}}]))"#
    );
    assert_eq!(tiers(latency), sloth_default_tiers());
    for t in &latency.alerting.tiers {
        let severity = if t.severity == Severity::Page {
            "critical"
        } else {
            "warning"
        };
        assert_eq!(t.labels, labels(&[("severity", severity)]));
    }
}

#[test]
fn upstream_sloth_multifile_and_disabled_alerts() {
    let catalog = load_ok("sloth/multifile.yml");
    assert_eq!(
        slo(&catalog, "myservice/requests-availability")
            .objective
            .ratio(),
        0.999
    );
    let second = slo(&catalog, "myservice2/requests-availability");
    assert_eq!(second.objective.ratio(), 0.9999);
    assert_eq!(second.labels["tier"], "1");

    let catalog = load_ok("sloth/no-alerts.yml");
    let s = slo(&catalog, "myapp/http-availability");
    assert_eq!(s.objective.ratio(), 0.9999);
    assert!(
        s.alerting.tiers.is_empty(),
        "page and ticket alerts are disabled"
    );
    let (_, bad, _) = events(s);
    assert!(bad.contains(r#"code=~"(5..|429)""#));
}

/// The `(short, long, factor)` pairs and severity of each alert Sloth generated.
fn sloth_generated_alerts(
    tpl: &str,
    slo_id: &str,
) -> Vec<(Severity, Duration, Duration, f64, f64)> {
    let group = format!("- name: sloth-slo-alerts-{slo_id}");
    let start = tpl.find(&group).expect("alert group in out-base.yaml.tpl");
    let body = &tpl[start + group.len()..];
    let body = &body[..body.find("\n- name:").unwrap_or(body.len())];
    let mut out = Vec::new();
    for alert in body.split("- alert:").skip(1) {
        let severity = match alert
            .lines()
            .find_map(|l| l.trim().strip_prefix("sloth_severity: "))
        {
            Some("page") => Severity::Page,
            Some("ticket") => Severity::Ticket,
            other => panic!("unexpected severity {other:?}"),
        };
        // `slo:sli_error:ratio_rate<window>{...} > (<factor> * <budget>)`, short then long.
        let conditions: Vec<(Duration, f64, f64)> = alert
            .lines()
            .filter_map(|l| {
                let rest = l.split("slo:sli_error:ratio_rate").nth(1)?;
                let window = Duration::parse(&rest[..rest.find('{')?]).ok()?;
                let product = rest.split("> (").nth(1)?;
                let product = &product[..product.find(')')?];
                let (factor, budget) = product.split_once(" * ")?;
                Some((window, factor.parse().ok()?, budget.parse().ok()?))
            })
            .collect();
        assert!(
            !conditions.is_empty() && conditions.len().is_multiple_of(2),
            "{alert}"
        );
        for pair in conditions.chunks(2) {
            let ((short, f1, budget), (long, f2, _)) = (pair[0], pair[1]);
            assert_eq!(f1, f2, "both windows of a pair share the factor");
            out.push((severity, short, long, f1, budget));
        }
    }
    out
}

#[test]
fn upstream_sloth_in_base_matches_the_rules_sloth_generated() {
    let tpl = std::fs::read_to_string(fixture("sloth/out-base.yaml.tpl")).unwrap();
    let loaded = load("sloth/in-base.yaml");
    let s = slo(&loaded.catalog, "svc01/slo1");

    // The period: `slo:time_period:days` is `vector(30)`.
    let period = tpl
        .split("record: slo:time_period:days\n    expr: vector(")
        .nth(1)
        .and_then(|r| r[..r.find(')')?].parse::<u64>().ok())
        .expect("time period in the template");
    assert_eq!(s.window, days(period));
    // The objective: `slo:objective:ratio` is `vector(0.9990000000000001)`.
    let objective: f64 = tpl
        .split("record: slo:objective:ratio\n    expr: vector(")
        .nth(1)
        .and_then(|r| r[..r.find(')')?].parse().ok())
        .expect("objective in the template");
    assert!((s.objective.ratio() - objective).abs() < 1e-12);

    let generated = sloth_generated_alerts(&tpl, "svc01-slo1");
    assert_eq!(generated.len(), 4, "{generated:?}");
    assert_eq!(s.alerting.tiers.len(), generated.len());
    for (severity, short, long, factor, budget) in &generated {
        let t = s
            .alerting
            .tiers
            .iter()
            .find(|t| t.severity == *severity && t.long_window == *long)
            .unwrap_or_else(|| panic!("no {severity:?} tier over {long}: {:?}", tiers(s)));
        assert_eq!(t.short_window, *short, "{}", t.name);
        assert!(
            (t.burn_rate - factor).abs() < 1e-9,
            "{}: burnrate {} vs Sloth {factor}",
            t.name,
            t.burn_rate
        );
        assert!((s.objective.budget() - budget).abs() < 1e-12);
    }

    // Labels and annotations land where Sloth put them.
    assert_eq!(
        s.labels,
        labels(&[("global01k1", "global01v1"), ("global02k1", "global02v1")])
    );
    assert_eq!(s.alerting.name.as_deref(), Some("myServiceAlert"));
    assert_eq!(s.alerting.labels, labels(&[("alert01k1", "alert01v1")]));
    assert_eq!(
        s.alerting.annotations,
        labels(&[("alert02k1", "alert02k2")])
    );
    for t in &s.alerting.tiers {
        let expected = match t.severity {
            Severity::Page => labels(&[("alert03k1", "alert03v1")]),
            Severity::Ticket => labels(&[("alert04k1", "alert04v1")]),
        };
        assert_eq!(t.labels, expected);
    }

    // slo02's raw ratio loads time-weighted, with a warning at its field.
    assert_time_weighted(
        &loaded,
        "sloth/in-base.yaml",
        34,
        "slos[1].sli.raw.error_ratio_query",
    );
    let raw = slo(&loaded.catalog, "svc01/slo02");
    assert!(raw.indicator.time_weighted(), "{:?}", raw.indicator);
    assert!(errors(&loaded).is_empty(), "{:?}", errors(&loaded));
}

/// A raw error ratio loads with a warning at its field: time-weighted.
fn assert_time_weighted(loaded: &Loaded, file: &str, line: usize, field: &str) {
    let warned = warnings(loaded).into_iter().any(|d| {
        d.file.ends_with(file)
            && d.line == line
            && d.field.as_deref() == Some(field)
            && d.message.contains("time-weighted")
            && d.message
                .contains("a quiet minute weighs as much as a busy one")
    });
    assert!(warned, "{file}:{line} {field}: {:#?}", warnings(loaded));
}

#[test]
fn upstream_sloth_rejections_name_the_feature() {
    // Raw error ratios are no longer refused: they load, time-weighted.
    let loaded = load("sloth/raw-home-wifi.yml");
    assert!(errors(&loaded).is_empty(), "{:?}", errors(&loaded));
    assert_time_weighted(
        &loaded,
        "sloth/raw-home-wifi.yml",
        28,
        "slos[0].sli.raw.error_ratio_query",
    );

    let loaded = load("sloth/windows-7d.yaml");
    assert_error(
        &errors(&loaded),
        "sloth/windows-7d.yaml",
        2,
        "kind",
        &[
            "`kind: AlertWindows`",
            "--default-slo-period",
            "kind: Defaults",
            "window: 7d",
            "page-1h: {severity: page, long_window: 1h, short_window: 5m, budget_consumed: 8%}",
            "page-6h: {severity: page, long_window: 6h, short_window: 30m, budget_consumed: 12.5%}",
            "ticket-1d: {severity: ticket, long_window: 1d, short_window: 2h, budget_consumed: 20%}",
            "ticket-3d: {severity: ticket, long_window: 3d, short_window: 6h, budget_consumed: 42%}",
        ],
    );

    let plugin = load_str(
        Path::new("plugin.yml"),
        "version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objective: 99\n    sli:\n      plugin:\n        id: sloth-common/availability\n        options: {job: x}\n",
    );
    assert_error(
        &errors(&plugin),
        "plugin.yml",
        7,
        "slos[0].sli.plugin",
        &[
            "burnrate cannot run plugin `sloth-common/availability`",
            "sli.events",
        ],
    );
    let unknown = load_str(
        Path::new("typo.yml"),
        "version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objetive: 99\n    sli: {events: {error_query: 'x[{{.window}}]', total_query: 'y[{{.window}}]'}}\n",
    );
    assert_error(
        &errors(&unknown),
        "typo.yml",
        5,
        "slos[0].objetive",
        &["did you mean `objective`"],
    );
}

#[test]
fn sloth_slo_plugins_are_named_not_reported_as_unknown_fields() {
    let source = r#"version: prometheus/v1
service: svc
slo_plugins:
  overridePrevious: true
  chain:
    - id: sloth.dev/core/sli_rules/v1
    - id: sloth.dev/contrib/validate_victoria_metrics/v1
      priority: -100
slos:
  - name: a
    objective: 99.9
    plugins:
      chain:
        - id: sloth.dev/contrib/denominator_corrected_rules/v1
          config: {disableOptimized: true}
    sli:
      events:
        error_query: sum(rate(e[{{.window}}]))
        total_query: sum(rate(t[{{.window}}]))
  - name: b
    objective: 99.9
    plugins:
      chain:
        - id: sloth.dev/core/debug/v1
    sli:
      events:
        error_query: sum(rate(e[{{.window}}]))
        total_query: sum(rate(t[{{.window}}]))
"#;
    let loaded = load_str(Path::new("plugins.yml"), source);
    let errs = errors(&loaded);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_error(
        &errs,
        "plugins.yml",
        14,
        "slos[0].plugins.chain[0].id",
        &[
            "cannot run plugin `sloth.dev/contrib/denominator_corrected_rules/v1`",
            "would be lost",
        ],
    );
    let ids: Vec<&str> = loaded.catalog.slos.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["svc/b"],
        "Sloth's own plugins change nothing burnrate uses"
    );
    let w = warnings(&loaded);
    let at: Vec<(usize, Option<&str>)> = w.iter().map(|d| (d.line, d.field.as_deref())).collect();
    assert_eq!(
        at,
        [(3, Some("slo_plugins")), (22, Some("slos[1].plugins"))],
        "{w:#?}"
    );
    assert!(w[0].message.contains(
        "(`sloth.dev/core/sli_rules/v1`, `sloth.dev/contrib/validate_victoria_metrics/v1`)"
    ));
    assert!(w[1].message.contains("no effect"), "{}", w[1].message);

    // The CRD spells the service-wide chain `sloPlugins`.
    let crd = load_str(
        Path::new("crd.yml"),
        "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nspec:\n  service: svc\n  sloPlugins:\n    chain:\n      - id: acme.example/slo/rewrite\n  slos:\n    - name: a\n      objective: 99\n      sli: {events: {errorQuery: 'sum(rate(e[{{.window}}]))', totalQuery: 'sum(rate(t[{{.window}}]))'}}\n",
    );
    assert_error(
        &errors(&crd),
        "crd.yml",
        7,
        "spec.sloPlugins.chain[0].id",
        &["cannot run plugin `acme.example/slo/rewrite`"],
    );
}

#[test]
fn upstream_sloth_directory_defaults_play_the_default_period_flag() {
    // Sloth's `--default-slo-period` is global; burnrate's equivalent is a
    // `kind: Defaults` document, which a Sloth SLO (having no window) follows.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("sloth/getting-started.yml"),
        dir.path().join("slo.yml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("defaults.yaml"),
        "version: burnrate/v1\nkind: Defaults\nwindow: 28d\n",
    )
    .unwrap();
    let loaded = load_paths(&[dir.path().to_path_buf()]).unwrap();
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let s = slo(&loaded.catalog, "myservice/requests-availability");
    assert_eq!(s.window, days(28));
    let rates: Vec<f64> = tiers(s)
        .iter()
        .map(|t| (t.4 * 1000.0).round() / 1000.0)
        .collect();
    assert_eq!(rates, [13.44, 5.6, 2.8, 0.933], "Sloth's 28d factors");
}

#[test]
fn upstream_sloth_openslo_v1alpha_as_sloth_reads_it() {
    let catalog = load_ok("sloth/openslo-getting-started.yml");
    let s = slo(&catalog, "my-service/sloth-slo-my-service-0");
    assert_eq!(s.objective.ratio(), 0.999);
    assert_eq!(s.window, days(30));
    assert_eq!(
        events(s),
        (
            Counts::Good,
            r#"sum(rate(http_request_duration_seconds_count{job="myservice",code!~"(5..|429)"}[{{.window}}]))"#,
            r#"sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))"#,
        )
    );
    assert!(
        s.alerting.tiers.is_empty(),
        "Sloth generates no alerts for OpenSLO"
    );
}

// ------------------------------------------------------- Sloth's Kubernetes CRD

/// A catalog file of this repository's own (not an upstream one).
fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli")
        .join(rel)
}

#[test]
fn sloth_crd_loads_like_the_same_prometheus_v1_documents() {
    let load_clean = |rel: &str| {
        let loaded = load_paths(&[repo_file(rel)]).unwrap();
        assert!(
            loaded.diagnostics.is_empty(),
            "{rel}: {:#?}",
            loaded.diagnostics.clone().sorted()
        );
        loaded.catalog
    };
    let crd = load_clean("sloth-crd/checkout-k8s.yml");
    let v1 = load_clean("sloth-crd/checkout-prometheus-v1.yml");
    let ids: Vec<&str> = crd.slos.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "cart/requests-availability",
            "checkout/requests-availability",
            "checkout/requests-latency"
        ],
        "both documents of the file, named from `spec`, not `metadata`"
    );
    let (a, b) = (without_sources(&crd), without_sources(&v1));
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a, b, "{} differs between the two spellings", a.id);
    }

    // What the two have in common is what Sloth means by them.
    let s = slo(&crd, "checkout/requests-availability");
    assert_eq!(s.source.line, 19, "where the SLO starts in the CRD");
    assert_eq!(s.objective.ratio(), 0.999);
    assert_eq!(
        events(s),
        (
            Counts::Bad,
            r#"sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))"#,
            r#"sum(rate(http_requests_total{job="checkout"}[{{.window}}]))"#,
        )
    );
    assert_eq!(
        s.labels,
        labels(&[
            ("owner", "payments"),
            ("tier", "1"),
            ("category", "availability")
        ])
    );
    assert_eq!(tiers(s), sloth_default_tiers());
    assert_eq!(s.alerting.name.as_deref(), Some("CheckoutHighErrorRate"));
    for t in &s.alerting.tiers {
        let (expected, runbook) = match t.severity {
            Severity::Page => (
                labels(&[("severity", "critical"), ("routing_key", "payments")]),
                Some("https://runbooks.example/checkout"),
            ),
            Severity::Ticket => (
                labels(&[("severity", "warning"), ("slack_channel", "#payments")]),
                None,
            ),
        };
        assert_eq!(t.labels, expected, "{}", t.name);
        assert_eq!(
            t.annotations.get("runbook").map(String::as_str),
            runbook,
            "{}",
            t.name
        );
    }
    let latency = slo(&crd, "checkout/requests-latency");
    let names: Vec<&str> = latency
        .alerting
        .tiers
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["ticket-1d", "ticket-3d"],
        "`pageAlert.disable: true`"
    );
    assert!(
        slo(&crd, "cart/requests-availability")
            .alerting
            .tiers
            .is_empty()
    );

    assert_round_trip("sloth-crd/checkout-k8s.yml", &crd);
}

#[test]
fn sloth_crd_problems_are_reported_at_the_crd_line_in_its_spelling() {
    let source = r#"apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata:
  name: broken
  namspace: shop
spec:
  service: svc
  slos:
    - name: typo
      objective: 99.9
      sli:
        events:
          errorQuerry: sum(rate(e[{{.window}}]))
          totalQuery: sum(rate(t[{{.window}}]))
      alerting:
        page_alert:
          disable: true
    - name: raw
      objective: 99
      sli:
        raw:
          errorRatioQuery: sum(rate(e[{{.window}}])) / sum(rate(t[{{.window}}]))
    - name: plugin
      objective: 99
      sli:
        plugin:
          id: sloth-common/kubernetes/apiserver/availability
          options: {filter: 'verb="GET"'}
    - name: query
      objective: 101
      sli:
        events:
          errorQuery: sum(rate(e[5m]))
          totalQuery: sum(rate(t[{{.window}}])
"#;
    let loaded = load_str(Path::new("crd.yml"), source);
    // Only the raw ratio loads (time-weighted); every other SLO is broken.
    let ids: Vec<&str> = loaded.catalog.slos.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["svc/raw"]);
    assert_time_weighted(
        &loaded,
        "crd.yml",
        22,
        "spec.slos[1].sli.raw.errorRatioQuery",
    );
    let errs = errors(&loaded);
    assert_error(
        &errs,
        "crd.yml",
        5,
        "metadata.namspace",
        &["did you mean `namespace`"],
    );
    assert_error(
        &errs,
        "crd.yml",
        13,
        "spec.slos[0].sli.events.errorQuerry",
        &["unknown field `errorQuerry`", "did you mean `errorQuery`"],
    );
    assert_error(
        &errs,
        "crd.yml",
        13,
        "spec.slos[0].sli.events",
        &["missing required field `errorQuery`"],
    );
    assert_error(
        &errs,
        "crd.yml",
        16,
        "spec.slos[0].alerting.page_alert",
        &["did you mean `pageAlert`"],
    );
    assert_error(
        &errs,
        "crd.yml",
        26,
        "spec.slos[2].sli.plugin",
        &[
            "burnrate cannot run plugin `sloth-common/kubernetes/apiserver/availability`",
            "(`errorQuery` and `totalQuery`",
        ],
    );
    assert_error(&errs, "crd.yml", 30, "spec.slos[3].objective", &["101"]);
    assert_error(
        &errs,
        "crd.yml",
        33,
        "spec.slos[3].sli.events.errorQuery",
        &["{{.window}}"],
    );
    assert_error(
        &errs,
        "crd.yml",
        34,
        "spec.slos[3].sli.events.totalQuery",
        &["invalid PromQL"],
    );
    assert_eq!(errs.len(), 8, "{errs:#?}");
    for d in &errs {
        assert!(!d.message.contains("error_query"), "{d}");
    }

    let missing_spec = load_str(
        Path::new("empty.yml"),
        "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nmetadata: {name: x}\n",
    );
    let errs = errors(&missing_spec);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].line, 1);
    assert!(errs[0].message.contains("missing required field `spec`"));
    let other_kind = load_str(
        Path::new("kind.yml"),
        "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevels\nspec: {}\n",
    );
    assert_error(
        &errors(&other_kind),
        "kind.yml",
        2,
        "kind",
        &["`PrometheusServiceLevel`, `AlertWindows`"],
    );
}

// -------------------------------------------------------------------- Pyrra

/// Pyrra's tiers for a window, as burnrate names them.
fn pyrra_expected(window: Duration) -> Vec<(String, Severity, String, String, f64, String)> {
    pyrra_tiers(window)
        .iter()
        .map(|t| {
            (
                tier_name(t),
                t.severity,
                t.long.to_string(),
                t.short.to_string(),
                t.factor,
                t.for_duration.to_string(),
            )
        })
        .collect()
}

/// Pyrra's absent alert as burnrate reads it: `critical` is `page`, and the
/// wait is `--absent-after`.
fn pyrra_absent(name: Option<&str>) -> AbsentAlert {
    AbsentAlert {
        name: name.map(str::to_string),
        severity: Severity::Page,
        for_duration: Duration::ZERO,
        labels: BTreeMap::new(),
    }
}

#[test]
fn upstream_pyrra_latency_four_weeks() {
    let catalog = load_ok("pyrra/caddy-response-latency.yaml");
    let s = slo(&catalog, "default/caddy-response-latency");
    assert_eq!(s.objective.ratio(), 0.9);
    assert_eq!(s.window, days(28), "`4w`");
    match &s.indicator {
        Indicator::Latency {
            bucket,
            count,
            threshold,
            le,
        } => {
            assert_eq!(
                bucket.to_string(),
                r#"caddy_http_response_duration_seconds_bucket{job="caddy",handler="subroute",code!~"5.."}"#
            );
            assert_eq!(
                count.to_string(),
                r#"caddy_http_response_duration_seconds_count{job="caddy",handler="subroute",code!~"5.."}"#
            );
            assert_eq!((*threshold, le.as_str()), (0.05, "0.05"));
        }
        other => panic!("expected latency, found {other:?}"),
    }
    // Pyrra's factors 14/7/2/1 with its 28-day windows and `for` durations.
    let expected = vec![
        tier("page-1h", Severity::Page, "1h", "5m", 14.0, "2m"),
        tier("page-6h", Severity::Page, "6h", "30m", 7.0, "15m"),
        tier("ticket-1d", Severity::Ticket, "1d", "2h", 2.0, "1h"),
        tier("ticket-4d", Severity::Ticket, "4d", "6h", 1.0, "3h"),
    ];
    assert_eq!(tiers(s), expected);
    assert_eq!(tiers(s), pyrra_expected(Duration::from_days(28)));
    assert_eq!(
        s.alerting.absent,
        Some(pyrra_absent(None)),
        "Pyrra's absent alert is on by default"
    );
    assert!(
        s.description
            .as_deref()
            .unwrap()
            .starts_with("We want our demo to be fast")
    );
}

#[test]
fn upstream_pyrra_two_week_slos() {
    let two_weeks = vec![
        tier("page-30m", Severity::Page, "30m", "3m", 14.0, "1m"),
        tier("page-3h", Severity::Page, "3h", "15m", 7.0, "8m"),
        tier("ticket-12h", Severity::Ticket, "12h", "1h", 2.0, "30m"),
        tier("ticket-2d", Severity::Ticket, "2d", "3h", 1.0, "1h30m"),
    ];
    let catalog = load_ok("pyrra/slo-apiserver-read-resource-latency.yaml");
    let s = slo(&catalog, "monitoring/apiserver-read-resource-latency");
    assert_eq!((s.objective.ratio(), s.window), (0.99, days(14)));
    assert_eq!(tiers(s), two_weeks);
    assert!(s.description.is_none(), "an empty description is none");
    assert!(
        s.labels.is_empty(),
        "`prometheus: k8s` selects the rule file; it is not an SLO label"
    );
    match &s.indicator {
        Indicator::Latency {
            bucket, threshold, ..
        } => {
            assert_eq!(
                bucket.to_string(),
                r#"apiserver_request_sli_duration_seconds_bucket{verb=~"LIST|GET"}"#
            );
            assert_eq!(*threshold, 0.1);
        }
        other => panic!("expected latency, found {other:?}"),
    }

    let cases = [
        (
            "pyrra/slo-apiserver-read-response-errors.yaml",
            "monitoring/apiserver-read-response-errors",
            0.99,
            r#"apiserver_request_total{component="apiserver",verb=~"LIST|GET",code=~"5.."}"#,
            r#"apiserver_request_total{component="apiserver",verb=~"LIST|GET"}"#,
        ),
        (
            "pyrra/slo-coredns-response-errors.yaml",
            "monitoring/coredns-response-errors",
            0.9999,
            r#"coredns_dns_responses_total{job="kube-dns",rcode="SERVFAIL"}"#,
            r#"coredns_dns_responses_total{job="kube-dns"}"#,
        ),
        (
            "pyrra/slo-kubelet-request-errors.yaml",
            "monitoring/kubelet-request-errors",
            0.99,
            r#"rest_client_requests_total{job="kubelet",code=~"5.."}"#,
            r#"rest_client_requests_total{job="kubelet"}"#,
        ),
        (
            "pyrra/slo-prometheus-query-errors.yaml",
            "monitoring/prometheus-query-errors",
            0.99,
            r#"prometheus_http_requests_total{job="prometheus-k8s",handler=~"/api/v1/query.*",code=~"5.."}"#,
            r#"prometheus_http_requests_total{job="prometheus-k8s",handler=~"/api/v1/query.*"}"#,
        ),
        (
            "pyrra/slo-prometheus-rule-evaluation-failures.yaml",
            "monitoring/prometheus-rule-evaluation-failures",
            0.9999,
            r#"prometheus_rule_evaluation_failures_total{job="prometheus-k8s"}"#,
            r#"prometheus_rule_evaluations_total{job="prometheus-k8s"}"#,
        ),
    ];
    for (file, id, objective, errors_selector, total_selector) in cases {
        let catalog = load_ok(file);
        let s = slo(&catalog, id);
        assert_eq!(s.objective.ratio(), objective, "{id}");
        assert_eq!(s.window, days(14), "{id}");
        assert_eq!(
            ratio(s),
            (
                Counts::Bad,
                errors_selector.to_string(),
                total_selector.to_string()
            ),
            "{id}"
        );
        assert_eq!(tiers(s), two_weeks, "{id}");
        assert_eq!(s.alerting.absent, Some(pyrra_absent(None)), "{id}");
        let group_by: &[&str] = if id.ends_with("query-errors") {
            &["handler"]
        } else {
            &[]
        };
        assert_eq!(s.group_by, group_by, "{id}");
    }
}

#[test]
fn pyrra_metadata_alerting_and_rejections() {
    let source = r#"apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: api-errors
  namespace: shop
  labels:
    pyrra.dev/service: checkout
    pyrra.dev/team: payments
    prometheus: k8s
  annotations:
    pyrra.dev/runbook: https://runbooks/api-errors
    kubectl.kubernetes.io/last-applied-configuration: "{}"
  uid: 0b6c
  resourceVersion: "42"
spec:
  target: "99.5"
  window: 4w
  indicator:
    latency:
      success:
        metric: http_duration_seconds_bucket{job="api",le="0.3"}
      total:
        metric: http_duration_seconds_count{job="api",handler="/"}
  alerting:
    name: CheckoutBurn
    absent: false
status: {}
"#;
    let loaded = load_str(Path::new("pyrra.yaml"), source);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let s = slo(&loaded.catalog, "checkout/api-errors");
    assert_eq!(s.labels, labels(&[("team", "payments")]));
    assert_eq!(s.alerting.name.as_deref(), Some("CheckoutBurn"));
    assert_eq!(
        s.alerting.annotations,
        labels(&[("runbook", "https://runbooks/api-errors")])
    );
    // Bucket and count select different series: Pyrra's ratio of the two, as such.
    assert_eq!(
        ratio(s),
        (
            Counts::Good,
            r#"http_duration_seconds_bucket{job="api",le="0.3"}"#.to_string(),
            r#"http_duration_seconds_count{job="api",handler="/"}"#.to_string()
        )
    );

    assert_eq!(s.alerting.absent, None, "`absent: false`");

    // (case, the `absent: false` line replaced by, burn-rate tiers, absent alert)
    #[rustfmt::skip]
    let cases = [
        ("burn rates off, absent off",  "    absent: false\n    disabled: true\n",        0, None),
        ("absent on by default",        "",                                               4, Some(pyrra_absent(None))),
        ("absent alone",                "    burnrates: false\n",                          0, Some(pyrra_absent(None))),
        ("absentName is its alertname", "    absent: true\n    absentName: CheckoutGone\n", 4, Some(pyrra_absent(Some("CheckoutGone")))),
    ];
    for (case, replacement, tier_count, absent) in cases {
        let changed = source.replace("    absent: false\n", replacement);
        let loaded = load_str(Path::new("pyrra.yaml"), &changed);
        assert!(
            loaded.diagnostics.is_empty(),
            "{case}: {:?}",
            loaded.diagnostics
        );
        let s = slo(&loaded.catalog, "checkout/api-errors");
        assert_eq!(s.alerting.tiers.len(), tier_count, "{case}");
        assert_eq!(s.alerting.absent, absent, "{case}");
    }

    let unused = source.replace(
        "    absent: false\n",
        "    absent: false\n    absentName: Gone\n",
    );
    let loaded = load_str(Path::new("pyrra.yaml"), &unused);
    assert!(errors(&loaded).is_empty(), "{:?}", loaded.diagnostics);
    let w = warnings(&loaded);
    assert!(
        w.len() == 1 && w[0].line == 27 && w[0].message.contains("no effect"),
        "{w:?}"
    );

    let rejected = source.replace(
        "    latency:\n",
        "    latencyNative:\n      latency: 300ms\n      total:\n        metric: http_duration_seconds{job=\"api\"}\n    latency:\n",
    );
    let loaded = load_str(Path::new("pyrra.yaml"), &rejected);
    assert_error(
        &errors(&loaded),
        "pyrra.yaml",
        19,
        "spec.indicator",
        &["exactly one indicator"],
    );

    let native = source.replace("    latency:\n      success:\n        metric: http_duration_seconds_bucket{job=\"api\",le=\"0.3\"}\n      total:\n        metric: http_duration_seconds_count{job=\"api\",handler=\"/\"}\n", "    latencyNative:\n      latency: 300ms\n      total:\n        metric: http_duration_seconds{job=\"api\"}\n");
    let loaded = load_str(Path::new("pyrra.yaml"), &native);
    assert_error(
        &errors(&loaded),
        "pyrra.yaml",
        19,
        "spec.indicator.latencyNative",
        &["native histograms are not supported"],
    );

    let short = source.replace("window: 4w", "window: 1d");
    let loaded = load_str(Path::new("pyrra.yaml"), &short);
    assert_error(
        &errors(&loaded),
        "pyrra.yaml",
        17,
        "spec.window",
        &["0m short window"],
    );

    let typo = source.replace("  target:", "  targt: \"1\"\n  target:");
    let loaded = load_str(Path::new("pyrra.yaml"), &typo);
    assert_error(
        &errors(&loaded),
        "pyrra.yaml",
        16,
        "spec.targt",
        &["did you mean `target`"],
    );
}

#[test]
fn pyrra_performance_over_accuracy_is_accepted_and_explained() {
    let source = r#"apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: api-errors
  namespace: shop
spec:
  target: "99.5"
  window: 4w
  performanceOverAccuracy: true
  indicator:
    ratio:
      errors:
        metric: http_requests_total{job="api",code=~"5.."}
      total:
        metric: http_requests_total{job="api"}
"#;
    let loaded = load_str(Path::new("pyrra.yaml"), source);
    assert!(errors(&loaded).is_empty(), "{:?}", errors(&loaded));
    let w = warnings(&loaded);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(
        (w[0].line, w[0].field.as_deref()),
        (9, Some("spec.performanceOverAccuracy"))
    );
    for fragment in ["unnecessary", "exactly", "no effect"] {
        assert!(w[0].message.contains(fragment), "{}", w[0].message);
    }
    // The SLO is the one the file describes without it.
    let without = load_str(
        Path::new("pyrra.yaml"),
        &source.replace("  performanceOverAccuracy: true\n", ""),
    );
    assert!(without.diagnostics.is_empty(), "{:?}", without.diagnostics);
    assert_eq!(
        without_sources(&loaded.catalog),
        without_sources(&without.catalog)
    );
    assert_eq!(loaded.catalog.slos.len(), 1);

    let not_a_boolean = load_str(
        Path::new("pyrra.yaml"),
        &source.replace(
            "performanceOverAccuracy: true",
            "performanceOverAccuracy: fast",
        ),
    );
    assert_error(
        &errors(&not_a_boolean),
        "pyrra.yaml",
        9,
        "spec.performanceOverAccuracy",
        &["`fast`"],
    );
    assert!(warnings(&not_a_boolean).is_empty());
}

/// Pyrra's `alerting.severities` (its `AlertingSeverities`: `fastBurn`,
/// `mediumBurn`, `slowBurn`, `longTermBurn` for the four tiers in window
/// order, `absent` for the absent alert) sets each alert's `severity` label.
#[test]
fn pyrra_alerting_severities_set_each_alerts_severity_label() {
    let source = r#"apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: api-errors
  namespace: shop
spec:
  target: "99.5"
  window: 4w
  indicator:
    ratio:
      errors:
        metric: http_requests_total{job="api",code=~"5.."}
      total:
        metric: http_requests_total{job="api"}
  alerting:
    severities:
      fastBurn: pager
      mediumBurn: pager
      slowBurn: info
      longTermBurn: none
      absent: warning
"#;
    // The `severity` label of each alert, fastest tier first, then absent's.
    let severity_labels = |text: &str| -> (Vec<String>, Vec<Diagnostic>) {
        let loaded = load_str(Path::new("pyrra.yaml"), text);
        let Some(s) = loaded.catalog.slos.first() else {
            return (Vec::new(), loaded.diagnostics.sorted());
        };
        let mut out: Vec<String> = s
            .alerting
            .tiers
            .iter()
            .map(|t| alert_rule_labels(s, AlertRef::Tier(t))["severity"].clone())
            .collect();
        if let Some(a) = &s.alerting.absent {
            out.push(alert_rule_labels(s, AlertRef::Absent(a))["severity"].clone());
        }
        (out, loaded.diagnostics.sorted())
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let (labels, diagnostics) = severity_labels(source);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(
        labels,
        strings(&["pager", "pager", "info", "none", "warning"])
    );
    // Only the label changes: the tiers, their order and burnrate's own
    // severities are Pyrra's.
    let loaded = load_str(Path::new("pyrra.yaml"), source);
    let s = slo(&loaded.catalog, "shop/api-errors");
    assert_eq!(tiers(s), pyrra_expected(Duration::from_days(28)));
    assert_eq!(
        s.alerting.absent.as_ref().map(|a| a.severity),
        Some(Severity::Page)
    );

    // (case, the `severities` block replaced by, labels, warnings)
    let block = "    severities:\n      fastBurn: pager\n      mediumBurn: pager\n      slowBurn: info\n      longTermBurn: none\n      absent: warning\n";
    #[rustfmt::skip]
    let cases: [(&str, &str, &[&str], usize); 4] = [
        ("unset ones keep the defaults", "    severities:\n      slowBurn: info\n",         &["page", "page", "info", "ticket", "page"], 0),
        ("an empty one is unset",        "    severities:\n      fastBurn: \"\"\n",          &["page", "page", "ticket", "ticket", "page"], 0),
        ("absent off: its label warns",  "    absent: false\n    severities:\n      absent: warning\n", &["page", "page", "ticket", "ticket"], 1),
        ("tiers off: their labels warn", "    burnrates: false\n    severities:\n      fastBurn: x\n      slowBurn: y\n", &["page"], 2),
    ];
    for (case, replacement, expected, warning_count) in cases {
        let (labels, diagnostics) = severity_labels(&source.replace(block, replacement));
        assert_eq!(labels, strings(expected), "{case}");
        assert!(
            diagnostics
                .iter()
                .all(|d| d.severity == DiagnosticSeverity::Warning
                    && d.message.contains("no effect")
                    && d.field
                        .as_deref()
                        .is_some_and(|f| f.starts_with("spec.alerting.severities."))),
            "{case}: {diagnostics:?}"
        );
        assert_eq!(diagnostics.len(), warning_count, "{case}: {diagnostics:?}");
    }

    let typo = load_str(
        Path::new("pyrra.yaml"),
        &source.replace("      slowBurn: info\n", "      slowburn: info\n"),
    );
    assert_error(
        &errors(&typo),
        "pyrra.yaml",
        19,
        "spec.alerting.severities.slowburn",
        &["did you mean `slowBurn`"],
    );
    let not_text = load_str(
        Path::new("pyrra.yaml"),
        &source.replace("      absent: warning\n", "      absent: [warning]\n"),
    );
    assert_error(
        &errors(&not_text),
        "pyrra.yaml",
        21,
        "spec.alerting.severities.absent",
        &["expected a string, found a list"],
    );
}

// ------------------------------------------------------------------ OpenSLO

#[test]
fn upstream_openslo_fixtures_are_rejected_at_the_feature() {
    let loaded = load("openslo/budgeting-method--occurences-slo.yaml");
    let errs = errors(&loaded);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_error(
        &errs,
        "budgeting-method--occurences-slo.yaml",
        15,
        "spec.indicator.spec.thresholdMetric",
        &["`thresholdMetric`", "not events", "ratioMetric"],
    );
    assert_eq!(errs[0].slo.as_deref(), Some("web-shop/search-slo"));

    let loaded = load("openslo/budgeting-method--ratio-timeslices.yaml");
    let errs = errors(&loaded);
    let file = "budgeting-method--ratio-timeslices.yaml";
    for (line, metric) in [(18, "good"), (23, "total")] {
        assert_error(
            &errs,
            file,
            line,
            &format!("spec.indicator.spec.ratioMetric.{metric}.metricSource.type"),
            &["data source type `Any` is not supported", "Prometheus"],
        );
    }
    assert_error(
        &errs,
        file,
        29,
        "spec.budgetingMethod",
        &[
            "`RatioTimeslices` budgeting is not supported",
            "Occurrences",
        ],
    );
    // `op` on a ratio objective is off-spec but unambiguous; with the method
    // rejected it is not worth a word.
    assert!(warnings(&loaded).is_empty(), "{:?}", warnings(&loaded));

    // `Timeslices` itself loads: what is left is the data source and window.
    let loaded = load("openslo/budgeting-method--timeslices-slo.yaml");
    let errs = errors(&loaded);
    let file = "budgeting-method--timeslices-slo.yaml";
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert_error(
        &errs,
        file,
        27,
        "spec.timeWindow[0].duration",
        &["`1m` is 1 minute", "did you mean `1M`"],
    );
    assert_timeslices_accepted(&errs);

    let loaded = load("openslo/treat-low-traffic-as-equally-important--timeslices-slo.yaml");
    let errs = errors(&loaded);
    let file = "treat-low-traffic-as-equally-important--timeslices-slo.yaml";
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert_error(
        &errs,
        file,
        28,
        "spec.timeWindow[0].calendar.startTime",
        &[
            "calendar weeks start at local midnight on Mondays",
            "`2022-01-01 12:00:00` is a Saturday at 12:00",
        ],
    );
    assert_timeslices_accepted(&errs);
}

/// No error is about the budgeting method or the slices.
fn assert_timeslices_accepted(errs: &[Diagnostic]) {
    let about_slices = |f: &str| f.contains("budgetingMethod") || f.contains("timeSlice");
    assert!(
        errs.iter()
            .all(|d| !d.field.as_deref().is_some_and(about_slices)),
        "{errs:#?}"
    );
}

/// The upstream `Timeslices` examples with a Prometheus source and a
/// calendar month: each objective its own SLO with its own slice target.
#[test]
fn openslo_timeslices_load_with_each_objectives_slices() {
    let text = r#"apiVersion: openslo/v1
kind: SLO
metadata:
  name: service-availability
spec:
  service: web-availability
  indicator:
    metadata:
      name: web-availability
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: http_requests_total{code!~"5.."}
        total:
          metricSource:
            type: Prometheus
            spec:
              query: http_requests_total
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar:
        startTime: 2022-01-01 00:00:00
        timeZone: UTC
  budgetingMethod: Timeslices
  objectives:
    - displayName: Internal objective
      target: 0.995
      timeSliceTarget: 0.99
      timeSliceWindow: 1m
    - displayName: SLA
      target: 0.99
      timeSliceTarget: 0.95
      timeSliceWindow: 5m
"#;
    let loaded = load_str(Path::new("timeslices.yaml"), text);
    assert!(errors(&loaded).is_empty(), "{:?}", errors(&loaded));
    let sliced = |id: &str| {
        slo(&loaded.catalog, id)
            .budgeting
            .timeslices()
            .expect("timeslices")
    };
    let internal = sliced("web-availability/service-availability-internal-objective");
    assert_eq!(
        (internal.slice.to_string(), internal.slice_target),
        ("1m".into(), 0.99)
    );
    let sla = sliced("web-availability/service-availability-sla");
    assert_eq!(
        (sla.slice.to_string(), sla.slice_target),
        ("5m".into(), 0.95)
    );
    // `convert` writes the slices in the native format, and they load back.
    let native = burnrate::catalog::export::to_native_yaml(&loaded.catalog);
    assert!(native.contains("method: timeslices"), "{native}");
    let back = load_str(Path::new("native.yaml"), &native);
    assert!(errors(&back).is_empty(), "{:?}", errors(&back));
    for (a, b) in loaded.catalog.slos.iter().zip(&back.catalog.slos) {
        assert_eq!(a.budgeting, b.budgeting, "{}", a.id);
    }

    // A slice target or window missing, or one that does not divide an hour.
    let broken = text
        .replace(
            "      timeSliceTarget: 0.99
",
            "",
        )
        .replace("timeSliceWindow: 5m", "timeSliceWindow: 7m");
    let loaded = load_str(Path::new("timeslices.yaml"), &broken);
    let errs = errors(&loaded);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_error(
        &errs,
        "timeslices.yaml",
        31,
        "spec.objectives[0]",
        &["missing required field `timeSliceTarget`"],
    );
    assert_error(
        &errs,
        "timeslices.yaml",
        37,
        "spec.objectives[1].timeSliceWindow",
        &["a slice of `7m` does not divide an hour"],
    );
}

/// An OpenSLO catalog spread over files: objects referring to each other by name.
fn openslo_catalog_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shared.yaml"),
        r#"apiVersion: openslo/v1
kind: Service
metadata:
  name: checkout
spec:
  description: The checkout API
---
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: prom
spec:
  type: Prometheus
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-errors
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        metricSourceRef: prom
        spec:
          query: http_requests_total{job="checkout",code=~"5.."}
    total:
      metricSource:
        metricSourceRef: prom
        spec:
          query: sum(http_requests_total{job="checkout"})
---
apiVersion: openslo/v1
kind: AlertCondition
metadata:
  name: fast-burn
spec:
  severity: page
  condition:
    kind: burnrate
    threshold: 14.4
    lookbackWindow: 1h
    alertAfter: 5m
---
apiVersion: openslo/v1
kind: AlertNotificationTarget
metadata:
  name: oncall-pager
spec:
  target: pagerduty
---
apiVersion: openslo/v1
kind: AlertPolicy
metadata:
  name: page-on-fast-burn
spec:
  alertWhenBreaching: true
  conditions:
    - conditionRef: fast-burn
  notificationTargets:
    - targetRef: oncall-pager
"#,
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("slos")).unwrap();
    std::fs::write(
        dir.path().join("slos/checkout.yaml"),
        r#"apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
  displayName: Checkout availability
  labels:
    team: payments
spec:
  service: checkout
  indicatorRef: checkout-errors
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Internal
      target: 0.999
    - displayName: SLA
      targetPercent: 99.5
  alertPolicies:
    - alertPolicyRef: page-on-fast-burn
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-latency
spec:
  description: Checkouts faster than 300ms
  service: checkout
  indicator:
    metadata:
      name: checkout-latency
    spec:
      ratioMetric:
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum(increase(http_duration_seconds_bucket{job="checkout",le="0.3"}[{{.window}}]))
        total:
          metricSource:
            type: prometheus
            spec:
              query: sum(increase(http_duration_seconds_count{job="checkout"}[{{.window}}]))
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar:
        startTime: 2024-01-01 00:00:00
        timeZone: Europe/Berlin
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
  alertPolicies:
    - kind: AlertPolicy
      metadata:
        name: slow-burn
      spec:
        alertWhenBreaching: true
        conditions:
          - kind: AlertCondition
            metadata:
              name: ticket-6h
            spec:
              severity: ticket
              condition:
                kind: burnrate
                threshold: 2
                lookbackWindow: 6h
                alertAfter: 30m
"#,
    )
    .unwrap();
    dir
}

#[test]
fn openslo_objects_resolve_across_files() {
    let dir = openslo_catalog_dir();
    let loaded = load_paths(&[dir.path().to_path_buf()]).unwrap();
    assert!(
        loaded.diagnostics.is_empty(),
        "{:#?}",
        loaded.diagnostics.clone().sorted()
    );
    let ids: Vec<&str> = loaded.catalog.slos.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "checkout/checkout-availability-internal",
            "checkout/checkout-availability-sla",
            "checkout/checkout-latency",
        ]
    );

    let internal = slo(&loaded.catalog, "checkout/checkout-availability-internal");
    let sla = slo(&loaded.catalog, "checkout/checkout-availability-sla");
    assert_eq!(
        (internal.objective.ratio(), sla.objective.ratio()),
        (0.999, 0.995)
    );
    for s in [internal, sla] {
        assert_eq!(s.window, days(28));
        assert_eq!(s.labels, labels(&[("team", "payments")]));
        assert_eq!(s.description.as_deref(), Some("Checkout availability"));
        // `sum(selector)` over counters counts the same events as the selector.
        assert_eq!(
            ratio(s),
            (
                Counts::Bad,
                r#"http_requests_total{job="checkout",code=~"5.."}"#.to_string(),
                r#"http_requests_total{job="checkout"}"#.to_string()
            )
        );
        // The policy's one condition is the only tier: single window, its own factor.
        assert_eq!(
            tiers(s),
            [tier("fast-burn", Severity::Page, "1h", "1h", 14.4, "5m")]
        );
        assert_eq!(
            s.alerting.tiers[0].labels,
            labels(&[("notification_target", "oncall-pager")])
        );
        assert!(s.source.file.ends_with("slos/checkout.yaml"));
    }

    let latency = slo(&loaded.catalog, "checkout/checkout-latency");
    assert_eq!(latency.objective.ratio(), 0.99);
    assert_eq!(
        latency.window,
        SloWindow::Calendar {
            period: CalendarPeriod::Month,
            time_zone: "Europe/Berlin".parse().unwrap()
        }
    );
    let (counts, good, _) = events(latency);
    assert_eq!(counts, Counts::Good);
    assert!(good.contains(r#"le="0.3"}[{{.window}}]"#));
    assert_eq!(
        tiers(latency),
        [tier("ticket-6h", Severity::Ticket, "6h", "6h", 2.0, "30m")]
    );
}

#[test]
fn openslo_problems_are_reported_where_they_are() {
    let dir = openslo_catalog_dir();
    // Break references and meanings, one per object.
    let shared = std::fs::read_to_string(dir.path().join("shared.yaml")).unwrap();
    let shared = shared
        .replace("    counter: true\n", "")
        .replace(
            "    - targetRef: oncall-pager",
            "    - targetRef: oncall-pagr",
        )
        .replace("  type: Prometheus", "  type: Datadog");
    std::fs::write(dir.path().join("shared.yaml"), shared).unwrap();
    let slos = std::fs::read_to_string(dir.path().join("slos/checkout.yaml")).unwrap();
    let slos = slos
        .replace(
            "  indicatorRef: checkout-errors",
            "  indicatorRef: checkout-errorz",
        )
        .replace(
            "    - target: 0.99\n",
            "    - target: 0.99\n      value: 300\n",
        );
    std::fs::write(dir.path().join("slos/checkout.yaml"), slos).unwrap();

    let loaded = load_paths(&[dir.path().to_path_buf()]).unwrap();
    let errs = errors(&loaded);
    assert!(loaded.catalog.slos.is_empty());
    assert_error(
        &errs,
        "shared.yaml",
        60,
        "spec.notificationTargets[0].targetRef",
        &["no AlertNotificationTarget named `oncall-pagr`"],
    );
    assert_error(
        &errs,
        "slos/checkout.yaml",
        10,
        "spec.indicatorRef",
        &["no SLI named `checkout-errorz`"],
    );
    assert_error(
        &errs,
        "slos/checkout.yaml",
        21,
        "spec.alertPolicies[0].alertPolicyRef",
        &[
            "the AlertPolicy `page-on-fast-burn` this refers to has errors",
            "shared.yaml:54",
        ],
    );
    assert_error(
        &errs,
        "slos/checkout.yaml",
        54,
        "spec.objectives[0].value",
        &["`value` is the threshold of a `thresholdMetric`"],
    );
    // The SLI's data source is Datadog now: reported at the references, in the SLI's file.
    for (line, metric) in [(23, "bad"), (28, "total")] {
        assert_error(
            &errs,
            "shared.yaml",
            line,
            &format!("spec.ratioMetric.{metric}.metricSource.metricSourceRef"),
            &["the DataSource `prom` has type `Datadog`, which is not supported"],
        );
    }
    assert_eq!(errs.len(), 6, "{errs:#?}");
}

#[test]
fn openslo_queries_must_count_events() {
    let slo_with = |ratio_metric: &str| {
        format!(
            "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: s\nspec:\n  service: svc\n  budgetingMethod: Occurrences\n  objectives:\n    - target: 0.99\n  indicator:\n    metadata:\n      name: i\n    spec:\n      ratioMetric:\n{ratio_metric}"
        )
    };
    let metric = |key: &str, query: &str| {
        format!(
            "        {key}:\n          metricSource:\n            type: Prometheus\n            spec:\n              query: '{query}'\n"
        )
    };
    let cases = [
        (
            format!(
                "{}{}",
                metric("good", "ok_total"),
                metric("total", "all_total")
            ),
            15,
            "spec.indicator.spec.ratioMetric",
            "say `counter: true`",
        ),
        (
            format!(
                "        counter: false\n{}{}",
                metric("good", "ok_total"),
                metric("total", "all_total")
            ),
            15,
            "spec.indicator.spec.ratioMetric.counter",
            "gauges",
        ),
        (
            format!(
                "        counter: true\n{}{}",
                metric("good", "sum(rate(ok_total[5m]))"),
                metric("total", "all_total")
            ),
            20,
            "spec.indicator.spec.ratioMetric.good.metricSource.spec.query",
            "is neither",
        ),
        (
            format!(
                "        counter: true\n{}{}",
                metric("good", "sum(increase(ok_total[{{.window}}]))"),
                metric("total", "all_total")
            ),
            20,
            "spec.indicator.spec.ratioMetric.good.metricSource.spec.query",
            "must be of one kind",
        ),
        (
            "        rawType: success\n        raw:\n          metricSource:\n            type: Prometheus\n            spec:\n              query: ratio\n"
                .to_string(),
            16,
            "spec.indicator.spec.ratioMetric.raw",
            "cannot be weighted by traffic",
        ),
    ];
    for (body, line, field, fragment) in cases {
        let source = slo_with(&body);
        let loaded = load_str(Path::new("q.yaml"), &source);
        assert!(loaded.catalog.slos.is_empty(), "{source}");
        assert_error(&errors(&loaded), "q.yaml", line, field, &[fragment]);
    }
    let ok = slo_with(&format!(
        "        counter: true\n{}{}",
        metric("good", "ok_total"),
        metric("total", "all_total")
    ));
    let loaded = load_str(Path::new("q.yaml"), &ok);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let s = slo(&loaded.catalog, "svc/s");
    assert_eq!(
        ratio(s),
        (Counts::Good, "ok_total".into(), "all_total".into())
    );
    assert!(s.alerting.tiers.is_empty(), "no alert policies, no alerts");
    assert_eq!(s.window, days(30), "no time window: burnrate's default");
}

// --------------------------------------------------------------- round trip

/// The catalog with where each SLO came from blanked out.
fn without_sources(catalog: &Catalog) -> Vec<Slo> {
    catalog
        .slos
        .iter()
        .map(|s| Slo::clone(s))
        .map(|mut s| {
            s.source.file = PathBuf::new();
            s.source.line = 0;
            s
        })
        .collect()
}

fn assert_round_trip(name: &str, catalog: &Catalog) {
    assert!(!catalog.slos.is_empty(), "{name}: nothing to convert");
    let yaml = to_native_yaml(catalog);
    let back = load_str(Path::new("converted.yaml"), &yaml);
    // A time-weighted indicator is warned about wherever it is written.
    let time_weighted = |d: &Diagnostic| {
        d.severity == DiagnosticSeverity::Warning && d.message.contains("time-weighted")
    };
    assert!(
        back.diagnostics.iter().all(time_weighted),
        "{name}: the converted catalog does not load cleanly: {:#?}\n{yaml}",
        back.diagnostics.clone().sorted()
    );
    let (before, after) = (without_sources(catalog), without_sources(&back.catalog));
    assert_eq!(before.len(), after.len(), "{name}\n{yaml}");
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a, b, "{name}: {} changed in conversion\n{yaml}", a.id);
    }
}

#[test]
fn upstream_converted_catalogs_load_back_unchanged() {
    for (file, outcome) in INVENTORY {
        if matches!(outcome, Outcome::Loads(_)) {
            assert_round_trip(file, &load(file).catalog);
        }
    }
    let dir = openslo_catalog_dir();
    let loaded = load_paths(&[dir.path().to_path_buf()]).unwrap();
    assert_round_trip("openslo catalog", &loaded.catalog);

    // Native features the external formats do not reach survive too.
    let native = r#"version: burnrate/v1
service: shop
labels: {team: web, tier: "1"}
slos:
  - name: checkout
    objective: 99.95
    window: {calendar: quarter, time_zone: Europe/Berlin}
    labels: {flow: checkout}
    indicator:
      bool_gauge: {metric: 'probe_success{job="blackbox"}'}
    group_by: [instance]
    alerting:
      min_events: 10
      budget_exhausted: {threshold: 10%, severity: page}
      absent: {for: 5m, name: CheckoutSilent}
      tiers:
        page-1h: {burn_rate: 20, for: 2m, labels: {route: pager}}
        ticket-3d: {enabled: false}
        page-15m: {severity: page, long_window: 15m, short_window: 1m, budget_consumed: 1.5%}
    gate: {min_budget_remaining: 25%, deny_when_firing: [page, ticket], on_no_data: allow}
  - name: search
    description: |
      Searches under 300ms.
      Measured at the load balancer.
    objective: 99
    window: 7d
    labels: {flow: search}
    indicator:
      latency: {histogram: 'lb_duration_seconds_bucket{path="/search"}', threshold: 300ms}
    alerting: {enabled: false}
  - name: probe
    objective: 99
    indicator: {bool_gauge: {metric: probe_success}}
    alerting:
      absent: true
      tiers: {page-1h: {enabled: false}, page-6h: {enabled: false}, ticket-1d: {enabled: false}, ticket-3d: {enabled: false}}
"#;
    let loaded = load_str(Path::new("native.yaml"), native);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert_round_trip("native", &loaded.catalog);
}

#[test]
fn upstream_conversion_leaves_out_the_defaults() {
    let yaml = to_native_yaml(&load("sloth/no-alerts.yml").catalog);
    assert_eq!(
        yaml,
        r#"---
version: burnrate/v1
service: myapp
labels:
  owner: myteam
slos:
- name: http-availability
  description: Common SLO based on availability for HTTP request responses.
  objective: 99.99
  indicator:
    events:
      bad: |-
        sum(
          rate(http_request_duration_seconds_count{job="myapp", code=~"(5..|429)"}[{{.window}}])
        )
      total: |-
        sum(
          rate(http_request_duration_seconds_count{job="myapp"}[{{.window}}])
        )
  alerting:
    enabled: false
"#
    );
    // Pyrra's tiers replace the Workbook ones: the converted file says so.
    let yaml = to_native_yaml(&load("pyrra/caddy-response-latency.yaml").catalog);
    assert!(yaml.contains("  window: 28d\n"), "{yaml}");
    assert!(
        yaml.contains("      ticket-3d:\n        enabled: false\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("      page-1h:\n        burn_rate: 14\n        for: 2m\n"),
        "{yaml}"
    );
    assert!(!yaml.contains("gate"), "{yaml}");
}

// ------------------------------------------------------- what is not used

#[test]
fn settings_without_effect_are_warned_about_not_dropped_silently() {
    let sloth = load_str(
        Path::new("sloth.yml"),
        "version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objective: 99\n    infoLabels: {owner: me}\n    interval: {all: 30s}\n    sli: {events: {error_query: 'sum(rate(e[{{.window}}]))', total_query: 'sum(rate(t[{{.window}}]))'}}\n",
    );
    assert!(errors(&sloth).is_empty(), "{:?}", errors(&sloth));
    let w = warnings(&sloth);
    assert_eq!((w[0].line, w[1].line), (6, 7), "{w:?}");
    assert!(w[0].message.contains("sloth_slo_info") && w[1].message.contains("no effect"));
    assert_eq!(sloth.catalog.slos.len(), 1);

    let openslo = load_str(
        Path::new("openslo.yaml"),
        "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: s\n  namespace: team-a\nspec:\n  service: svc\n  budgetingMethod: Occurrences\n  objectives:\n    - target: 0.99\n      op: gte\n  indicator:\n    metadata: {name: i}\n    spec:\n      ratioMetric:\n        counter: true\n        good: {metricSource: {type: Prometheus, spec: {query: ok_total}}}\n        total: {metricSource: {type: Prometheus, spec: {query: all_total}}}\n        totl: {}\n",
    );
    assert_error(
        &errors(&openslo),
        "openslo.yaml",
        19,
        "spec.indicator.spec.ratioMetric.totl",
        &["unknown field `totl`", "did you mean `total`"],
    );
    let w = warnings(&openslo);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        (w[0].line, w[0].field.as_deref()),
        (11, Some("spec.objectives[0].op"))
    );
}

#[test]
fn upstream_the_alert_windows_suggestion_is_a_working_defaults_document() {
    let loaded = load("sloth/windows-7d.yaml");
    let message = &errors(&loaded)[0].message;
    let window = message
        .split("`window: ")
        .nth(1)
        .unwrap()
        .split('`')
        .next()
        .unwrap();
    let alerting = message.split("`alerting: ").nth(1).unwrap();
    let alerting = &alerting[..alerting.rfind('`').unwrap()];
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("sloth/getting-started.yml"),
        dir.path().join("slo.yml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("defaults.yaml"),
        format!("version: burnrate/v1\nkind: Defaults\nwindow: {window}\nalerting: {alerting}\n"),
    )
    .unwrap();
    let loaded = load_paths(&[dir.path().to_path_buf()]).unwrap();
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let s = slo(&loaded.catalog, "myservice/requests-availability");
    assert_eq!(s.window, days(7));
    // Sloth's factor: errorBudgetPercent * period / long window, over 7d = 168h:
    // 8% * 168h / 1h, 12.5% * 168h / 6h, 20% * 168h / 24h, 42% * 168h / 72h.
    assert_eq!(
        tiers(s),
        [
            tier("page-1h", Severity::Page, "1h", "5m", 13.44, "0s"),
            tier("page-6h", Severity::Page, "6h", "30m", 3.5, "0s"),
            tier("ticket-1d", Severity::Ticket, "1d", "2h", 1.4, "0s"),
            tier("ticket-3d", Severity::Ticket, "3d", "6h", 0.98, "0s"),
        ]
    );
}
