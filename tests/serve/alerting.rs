//! Burn-rate alerts end to end: seeded data in a real Prometheus, burnrate's
//! runtime over a real PostgreSQL, and a real Alertmanager receiving the
//! alerts (with a webhook receiver counting its notifications).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use burnrate::alerting::queries::{AlertFilter, active_alerts};
use burnrate::alerting::{AlertSettings, AlertingConfig, DeliverySettings};
use burnrate::catalog::{self, Catalog, Slo};
use burnrate::duration::Duration;
use burnrate::evaluation::DataState;
use burnrate::evaluation::Snapshot;
use burnrate::prom::{Prometheus, PrometheusConfig};
use burnrate::serve::runtime::{IngestSettings, Services, SloRuntime};
use burnrate::store::Store;
use burnrate::store::alerts::TransitionQuery;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use testkit::synthetic::{HOUR, MINUTE};
use testkit::{CaptureServer, Series, TestAlertmanager, TestDatabase, TestPrometheus};

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
      labels: {pager: shop-oncall}
      annotations: {runbook_url: \"https://runbooks.example/{{ $labels.slo }}\"}
";

fn catalog() -> Catalog {
    match catalog::load_str(Path::new("shop.yaml"), CATALOG).into_result() {
        Ok(c) => c,
        Err(d) => panic!("test catalog invalid: {d:?}"),
    }
}

/// Two routes from `start` to `end`, one sample every 30s: `/cart` at 20
/// requests a second, `/pay` at 10, both with 0.05% errors, except `/pay` at
/// 30% errors during `burn`.
fn series(start: i64, end: i64, burn: (i64, i64)) -> Vec<Series> {
    let mut out = Vec::new();
    for (route, rps) in [("/cart", 20.0), ("/pay", 10.0)] {
        let (mut ok, mut err) = (0.0f64, 0.0f64);
        let (mut ok_samples, mut err_samples) = (Vec::new(), Vec::new());
        let mut t = start;
        while t <= end {
            let requests: f64 = rps * 30.0;
            let ratio = if route == "/pay" && t > burn.0 && t <= burn.1 {
                0.3
            } else {
                0.0005
            };
            err += (requests * ratio).round();
            ok += requests - (requests * ratio).round();
            ok_samples.push((t, ok));
            err_samples.push((t, err));
            t += 30_000;
        }
        out.push(Series::new(
            "http_requests_total",
            &[("route", route), ("code", "200")],
            ok_samples,
        ));
        out.push(Series::new(
            "http_requests_total",
            &[("route", route), ("code", "500")],
            err_samples,
        ));
    }
    out
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().expect("valid time")
}

async fn services(prom: &TestPrometheus, db: &TestDatabase, config: &AlertingConfig) -> Services {
    Services {
        prometheus: Prometheus::new(&PrometheusConfig::new(prom.url())).expect("client"),
        store: Store::connect(db.url()).await.expect("store"),
        settings: IngestSettings::default(),
        alerting: config.start().expect("alert sender"),
    }
}

fn alert_config(urls: Vec<String>) -> AlertingConfig {
    AlertingConfig {
        alertmanager_urls: urls,
        settings: AlertSettings {
            external_url: Some("https://burnrate.example".into()),
            // Evaluations happen minutes in the past here: a long validity
            // keeps the alerts sent then active in Alertmanager now.
            eval_interval: Duration::from_mins(30),
            ..AlertSettings::default()
        },
        delivery: DeliverySettings {
            initial_backoff: StdDuration::from_millis(100),
            max_backoff: StdDuration::from_millis(500),
            ..DeliverySettings::default()
        },
    }
}

fn labels_of(alert: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(alert["labels"].clone()).expect("labels")
}

/// Alertmanager's alerts with these label values.
fn find<'a>(alerts: &'a [Value], want: &[(&str, &str)]) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| {
            want.iter()
                .all(|(k, v)| a["labels"][*k].as_str() == Some(*v))
        })
        .collect()
}

async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

/// (alert, transition, at, long burn rate) of the `/pay` instance, oldest first.
async fn transitions(db: &TestDatabase) -> Vec<(String, String, DateTime<Utc>, Option<f64>)> {
    let pool = db.pool().await;
    sqlx::query_as(
        "select t.alert, t.transition, t.at, t.long_burn_rate from alert_transitions t
         join slo_instances i on i.id = t.instance_id where i.group_key = '{route=\"/pay\"}' order by t.at, t.id",
    )
    .fetch_all(&pool)
    .await
    .expect("transitions")
}

/// Webhook notifications that carry the `/pay` page-1h alert with `status`.
fn notifications(hooks: &CaptureServer, status: &str) -> usize {
    hooks
        .received("/hook")
        .iter()
        .filter(|n| {
            n["alerts"].as_array().is_some_and(|alerts| {
                alerts.iter().any(|a| {
                    a["status"] == status
                        && a["labels"]["route"] == "/pay"
                        && a["labels"]["long_window"] == "1h"
                })
            })
        })
        .count()
}

/// A fast burn on `/pay` makes the page alert appear in Alertmanager with
/// the contract's labels; a restart of the runtime while it fires keeps its
/// `startsAt` and records no second firing; once the burn has stopped for
/// the short window, it resolves in Alertmanager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_alert_fires_survives_a_restart_and_resolves_in_alertmanager() {
    let end = testkit::now_ms() / MINUTE * MINUTE;
    let burn = (end - 40 * MINUTE, end - 12 * MINUTE);
    let prom = TestPrometheus::start().await;
    prom.remote_write(&series(end - 3 * HOUR, end, burn)).await;
    let db = TestDatabase::create().await;
    let hooks = CaptureServer::start().await;
    let am = TestAlertmanager::start(Some(&format!("{}/hook", hooks.url()))).await;
    // Alerts go to the real Alertmanager and to a recorder standing in for a second one.
    let config = alert_config(vec![am.url(), format!("{}/recorder", hooks.url())]);
    let catalog = catalog();
    let slo: Arc<Slo> = Arc::clone(&catalog.slos[0]);

    // 1. Burning for 25 minutes: every tier of /pay fires, /cart is quiet.
    let t1 = end - 15 * MINUTE;
    let first = services(&prom, &db, &config).await;
    let mut runtime = SloRuntime::claim(Arc::clone(&slo), &first)
        .await
        .expect("lease");
    runtime.cycle(&first, time(t1 + 20_000)).await;
    let sender = first.alerting.sender.as_ref().expect("sender");
    assert!(
        sender.wait_idle(StdDuration::from_secs(10)).await,
        "{:?}",
        sender.stats()
    );

    let alerts = am.alerts().await;
    let page = find(&alerts, &[("route", "/pay"), ("long_window", "1h")]);
    assert_eq!(page.len(), 1, "the page alert in Alertmanager: {alerts:#?}");
    let page = page[0];
    let want: BTreeMap<String, String> = [
        ("alertname", "SLOBurnRate"),
        ("service", "shop"),
        ("slo", "availability"),
        ("route", "/pay"),
        ("severity", "page"),
        ("long_window", "1h"),
        ("short_window", "5m"),
        ("team", "web"),
        ("pager", "shop-oncall"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels_of(page), want);
    assert_eq!(page["status"]["state"], "active");
    let starts_at = page["startsAt"].as_str().expect("startsAt").to_string();
    assert_eq!(
        DateTime::parse_from_rfc3339(&starts_at).expect("time"),
        time(t1),
        "startsAt is the evaluation that fired it"
    );
    let annotations = &page["annotations"];
    assert_eq!(
        annotations["runbook_url"],
        "https://runbooks.example/availability"
    );
    assert_eq!(
        annotations["dashboard_url"],
        "https://burnrate.example/api/v1/slos/shop/availability%7Broute%3D%22/pay%22%7D"
    );
    let description = annotations["description"].as_str().expect("description");
    assert!(
        description.starts_with("Shop requests without server errors. Burn rate 125.")
            && description.contains("Error budget left: -"),
        "{description}"
    );
    let tiers: Vec<&str> = find(&alerts, &[("route", "/pay")])
        .iter()
        .map(|a| a["labels"]["long_window"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(tiers.len(), 4, "all four tiers burn: {tiers:?}");
    assert!(find(&alerts, &[("route", "/cart")]).is_empty());
    eventually("the firing notification", async || {
        (notifications(&hooks, "firing") == 1).then_some(())
    })
    .await;

    let recorded = transitions(&db).await;
    let page_firing: Vec<_> = recorded
        .iter()
        .filter(|(a, t, _, _)| a == "page-1h" && t == "firing")
        .collect();
    assert_eq!(page_firing.len(), 1, "{recorded:?}");
    // 25 minutes at 30% errors in the last hour: 12.5% errors, a burn rate of 125.
    let long = page_firing[0].3.expect("long burn rate");
    assert!((long - 125.0).abs() < 1.0, "long burn rate {long}");

    // 2. A restart (a new runtime over the same database, a new sender) a minute later.
    drop(runtime);
    drop(first);
    let t2 = t1 + MINUTE;
    let second = services(&prom, &db, &config).await;
    let mut runtime = SloRuntime::claim(Arc::clone(&slo), &second)
        .await
        .expect("lease");
    runtime.cycle(&second, time(t2 + 20_000)).await;
    let sender = second.alerting.sender.as_ref().expect("sender");
    assert!(
        sender.wait_idle(StdDuration::from_secs(10)).await,
        "{:?}",
        sender.stats()
    );
    let recorded = transitions(&db).await;
    let firings = recorded.iter().filter(|(_, t, _, _)| t == "firing").count();
    assert_eq!(
        firings, 4,
        "no second firing transition after the restart: {recorded:?}"
    );
    // Every copy burnrate posted of the page alert, before and after the restart, has the same start.
    let posted: Vec<String> = hooks
        .received("/recorder/api/v2/alerts")
        .iter()
        .flat_map(|batch| batch.as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["route"] == "/pay" && a["labels"]["long_window"] == "1h")
        .map(|a| a["startsAt"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(posted.len(), 2, "sent once per run: {posted:?}");
    assert!(
        posted
            .iter()
            .all(|s| DateTime::parse_from_rfc3339(s).ok() == Some(time(t1).into())),
        "{posted:?}"
    );
    let alerts = am.alerts().await;
    let page = find(&alerts, &[("route", "/pay"), ("long_window", "1h")]);
    assert_eq!(page.len(), 1, "still firing after the restart");
    assert_eq!(page[0]["startsAt"].as_str(), Some(starts_at.as_str()));
    // Alertmanager had a few group intervals to notify again; it must not have.
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    assert_eq!(
        notifications(&hooks, "firing"),
        1,
        "{:#?}",
        hooks.received("/hook")
    );
    assert_eq!(notifications(&hooks, "resolved"), 0);

    // The API's view of the same moment.
    let snapshot = Snapshot {
        instances: runtime
            .statuses()
            .map(|s| (s.id.clone(), s.clone()))
            .collect(),
        published_at: None,
        cycle_duration: StdDuration::ZERO,
    };
    let all = active_alerts(&snapshot, &catalog, &AlertFilter::default());
    assert_eq!(all.len(), 4);
    assert!(
        all.iter()
            .all(|a| a.instance == "shop/availability{route=\"/pay\"}")
    );
    let filter = AlertFilter {
        severity: Some("page".into()),
        state: Some("firing".into()),
        ..AlertFilter::default()
    };
    let pages = active_alerts(&snapshot, &catalog, &filter);
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].labels, want);
    assert_eq!(pages[0].since, Some(time(t1)));
    let other = AlertFilter {
        service: Some("billing".into()),
        ..AlertFilter::default()
    };
    assert!(active_alerts(&snapshot, &catalog, &other).is_empty());

    // 3. Twelve minutes after the burn stopped: the 5m window is clean and the
    // page-1h alert resolves; page-6h (30m short window) still fires.
    runtime.cycle(&second, time(end + 20_000)).await;
    assert!(
        sender.wait_idle(StdDuration::from_secs(10)).await,
        "{:?}",
        sender.stats()
    );
    let alerts = am.alerts().await;
    assert!(
        find(&alerts, &[("route", "/pay"), ("long_window", "1h")]).is_empty(),
        "page-1h resolved in Alertmanager: {alerts:#?}"
    );
    assert_eq!(
        find(&alerts, &[("route", "/pay"), ("long_window", "6h")]).len(),
        1
    );
    eventually("the resolved notification", async || {
        (notifications(&hooks, "resolved") == 1).then_some(())
    })
    .await;
    let history = second
        .store
        .alert_history(
            "shop/availability",
            &TransitionQuery {
                alert: Some("page-1h".into()),
                ..TransitionQuery::default()
            },
        )
        .await
        .expect("history");
    let kinds: Vec<(&str, DateTime<Utc>)> = history
        .iter()
        .map(|h| (h.record.transition.as_str(), h.record.at))
        .collect();
    assert_eq!(kinds, [("resolved", time(end)), ("firing", time(t1))]);
    assert_eq!(history[0].record.started_at, Some(time(t1)));
    assert_eq!(
        serde_json::to_value(&history[1].record.labels).expect("json"),
        serde_json::to_value(&want).expect("json")
    );
}

/// An Alertmanager that accepts connections but never answers: cycles go
/// on at full speed while the sender waits out its request timeout, retries
/// with back-off, and delivers once a real Alertmanager listens there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresponsive_alertmanager_never_blocks_evaluation() {
    let end = testkit::now_ms() / MINUTE * MINUTE;
    let prom = TestPrometheus::start().await;
    prom.remote_write(&series(end - 2 * HOUR, end, (end - 30 * MINUTE, end)))
        .await;
    let db = TestDatabase::create().await;
    // The kernel completes handshakes for a listener nobody accepts on: a black hole.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = black_hole.local_addr().expect("address").port();
    let mut config = alert_config(vec![format!("http://127.0.0.1:{port}")]);
    config.delivery.request_timeout = StdDuration::from_secs(5);
    let services = services(&prom, &db, &config).await;
    let slo = Arc::clone(&catalog().slos[0]);
    let mut runtime = SloRuntime::claim(slo, &services).await.expect("lease");
    runtime.cycle(&services, time(end - MINUTE + 20_000)).await;
    let sender = services.alerting.sender.as_ref().expect("sender");
    assert_eq!(sender.stats()[0].pending, 4, "{:?}", sender.stats());
    // The next cycle's resend is queued while the first POST still hangs.
    let started = std::time::Instant::now();
    runtime.cycle(&services, time(end + 20_000)).await;
    let took = started.elapsed();
    eprintln!("a cycle while Alertmanager hangs (request timeout 5s): {took:?}");
    assert!(took < StdDuration::from_secs(3), "a cycle took {took:?}");
    assert_eq!(
        sender.stats()[0].failed_attempts,
        0,
        "still waiting on the first POST"
    );
    eventually("a timed-out attempt", async || {
        (sender.stats()[0].failed_attempts >= 1).then_some(())
    })
    .await;
    let stats = &sender.stats()[0];
    assert!(stats.pending >= 4 && stats.sent == 0, "{stats:?}");
    assert_eq!(stats.last_success_ms, None, "nothing delivered yet");

    drop(black_hole);
    let am = TestAlertmanager::start_on(port, None).await;
    let alerts = eventually("delivery once Alertmanager is up", async || {
        let alerts = am.alerts().await;
        (alerts.len() == 4).then_some(alerts)
    })
    .await;
    let page = find(&alerts, &[("route", "/pay"), ("long_window", "1h")]);
    assert_eq!(page.len(), 1, "{alerts:#?}");
    // The newest version went out: sent at the second cycle, valid 2h from then.
    let ends_at =
        DateTime::parse_from_rfc3339(page[0]["endsAt"].as_str().expect("endsAt")).expect("time");
    assert_eq!(ends_at, time(end + 2 * HOUR));
    assert!(sender.wait_idle(StdDuration::from_secs(10)).await);
    let stats = &sender.stats()[0];
    assert_eq!(
        (stats.sent, stats.pending, stats.dropped),
        (4, 0, 0),
        "{stats:?}"
    );
    let age = testkit::now_ms() - stats.last_success_ms.expect("a success");
    assert!((0..60_000).contains(&age), "last success {age} ms ago");
}

/// The `/pay` page-1h alerts burnrate posted to the recorder: (startsAt, endsAt, description).
fn posted_page_alerts(hooks: &CaptureServer) -> Vec<(DateTime<Utc>, DateTime<Utc>, String)> {
    let parse = |v: &Value| {
        DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
            .map(|t| t.with_timezone(&Utc))
            .expect("RFC 3339 time")
    };
    hooks
        .received("/recorder/api/v2/alerts")
        .iter()
        .flat_map(|batch| batch.as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["route"] == "/pay" && a["labels"]["long_window"] == "1h")
        .map(|a| {
            (
                parse(&a["startsAt"]),
                parse(&a["endsAt"]),
                a["annotations"]["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// While Prometheus is down, cycles fail and statuses turn stale, but a
/// firing alert is still re-sent every resend interval with `endsAt` ahead
/// and its last figures, so Alertmanager does not resolve it on its own.
/// Once Prometheus answers again, evaluation carries on with the same episode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_alerts_are_resent_while_prometheus_is_down() {
    let end = testkit::now_ms() / MINUTE * MINUTE;
    let mut prom = TestPrometheus::start().await;
    prom.remote_write(&series(end - 2 * HOUR, end, (end - 30 * MINUTE, end)))
        .await;
    let db = TestDatabase::create().await;
    let hooks = CaptureServer::start().await;
    let config = alert_config(vec![format!("{}/recorder", hooks.url())]);
    let validity = config.settings.validity().to_chrono();
    let slo: Arc<Slo> = Arc::clone(&catalog().slos[0]);
    let services = services(&prom, &db, &config).await;
    let sender = services.alerting.sender.as_ref().expect("sender");
    let mut runtime = SloRuntime::claim(Arc::clone(&slo), &services)
        .await
        .expect("lease");

    let t1 = end - 5 * MINUTE;
    runtime.cycle(&services, time(t1 + 20_000)).await;
    assert!(sender.wait_idle(StdDuration::from_secs(10)).await);
    let first = posted_page_alerts(&hooks);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!((first[0].0, first[0].1), (time(t1), time(t1) + validity));

    // Two failed cycles, one resend interval apart.
    prom.stop().await;
    for m in 1..=2 {
        let at = t1 + m * MINUTE;
        runtime.cycle(&services, time(at + 20_000)).await;
        assert!(sender.wait_idle(StdDuration::from_secs(10)).await);
        let states: Vec<DataState> = runtime.statuses().map(|s| s.data_state).collect();
        assert_eq!(states, [DataState::Stale, DataState::Stale]);
        let posted = posted_page_alerts(&hooks);
        assert_eq!(posted.len(), 1 + m as usize, "re-sent at +{m}m: {posted:?}");
        let last = posted.last().expect("posted");
        assert_eq!(
            (last.0, last.1),
            (time(t1), time(at) + validity),
            "same start, endsAt ahead of the failed cycle"
        );
        assert_eq!(last.2, first[0].2, "the figures of the last evaluation");
    }

    // Prometheus is back: the same episode, no second firing transition.
    prom.start_again().await;
    let t4 = t1 + 3 * MINUTE;
    runtime.cycle(&services, time(t4 + 20_000)).await;
    assert!(sender.wait_idle(StdDuration::from_secs(10)).await);
    assert!(
        runtime.statuses().all(|s| s.data_state != DataState::Stale),
        "evaluating again"
    );
    let posted = posted_page_alerts(&hooks);
    assert_eq!(posted.len(), 4, "{posted:?}");
    assert_eq!(posted[3].0, time(t1));
    let firings = transitions(&db)
        .await
        .into_iter()
        .filter(|(a, t, _, _)| a == "page-1h" && t == "firing")
        .count();
    assert_eq!(firings, 1);
}
