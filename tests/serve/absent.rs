//! The absent alert end to end: a route's series stop in a real Prometheus,
//! burnrate's runtime (over a real PostgreSQL) turns that instance `absent`,
//! the alert goes pending, fires in a real Alertmanager, and resolves there
//! once samples come again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use burnrate::alerting::queries::{AlertFilter, active_alerts};
use burnrate::alerting::{AlertSettings, AlertingConfig, DeliverySettings};
use burnrate::catalog::{self, Catalog};
use burnrate::duration::Duration;
use burnrate::evaluation::{AlertState, DataState, InstanceStatus, Snapshot};
use burnrate::prom::{Prometheus, PrometheusConfig};
use burnrate::serve::runtime::{IngestSettings, Services, SloRuntime};
use burnrate::store::Store;
use burnrate::store::alerts::TransitionQuery;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use testkit::synthetic::{HOUR, MINUTE};
use testkit::{Series, TestAlertmanager, TestDatabase, TestPrometheus};

const CATALOG: &str = "version: burnrate/v1
service: shop
slos:
  - name: availability
    objective: 99.9
    group_by: [route]
    indicator:
      ratio:
        errors: http_requests_total{code=\"500\"}
        total: http_requests_total
    alerting:
      absent: {for: 2m}
";

/// Requests of `route` every 30s over `spans`, with no errors.
fn series(route: &'static str, spans: &[(i64, i64)]) -> Vec<Series> {
    let mut samples = Vec::new();
    let mut count = 0.0;
    for (start, end) in spans {
        let mut t = *start;
        while t <= *end {
            count += 300.0;
            samples.push((t, count));
            t += 30_000;
        }
    }
    vec![
        Series::new(
            "http_requests_total",
            &[("route", route), ("code", "200")],
            samples.clone(),
        ),
        Series::new(
            "http_requests_total",
            &[("route", route), ("code", "500")],
            samples.into_iter().map(|(t, _)| (t, 0.0)),
        ),
    ]
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().expect("valid time")
}

fn absent_of<'a>(runtime: &'a SloRuntime, route: &str) -> &'a InstanceStatus {
    runtime
        .statuses()
        .find(|s| s.group.get("route").map(String::as_str) == Some(route))
        .expect("an instance")
}

fn state(runtime: &SloRuntime, route: &str) -> (DataState, Option<AlertState>) {
    let s = absent_of(runtime, route);
    (s.data_state, s.absent.as_ref().map(|a| a.state))
}

fn labels_of(alert: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(alert["labels"].clone()).expect("labels")
}

/// `/pay` stops sending at `end - 60m` and comes back at `end - 20m`; `/cart`
/// never stops. Cycles at chosen instants (`--absent-after 5m`, `for: 2m`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_alert_fires_in_alertmanager_and_resolves_when_data_returns() {
    let end = testkit::now_ms() / MINUTE * MINUTE;
    let start = end - 2 * HOUR;
    let prom = TestPrometheus::start().await;
    let mut written = series("/cart", &[(start, end)]);
    written.extend(series(
        "/pay",
        &[(start, end - 60 * MINUTE), (end - 20 * MINUTE, end)],
    ));
    prom.remote_write(&written).await;
    let db = TestDatabase::create().await;
    let am = TestAlertmanager::start(None).await;
    let config = AlertingConfig {
        alertmanager_urls: vec![am.url()],
        settings: AlertSettings {
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
    };
    let services = Services {
        prometheus: Prometheus::new(&PrometheusConfig::new(prom.url())).expect("client"),
        store: Store::connect(db.url()).await.expect("store"),
        settings: IngestSettings {
            absent_after: Duration::from_mins(5),
            ..IngestSettings::default()
        },
        alerting: config.start().expect("alert sender"),
    };
    let sender = services.alerting.sender.as_ref().expect("sender");
    let catalog: Catalog = match catalog::load_str(Path::new("shop.yaml"), CATALOG).into_result() {
        Ok(c) => c,
        Err(d) => panic!("test catalog invalid: {d:?}"),
    };
    let mut runtime = SloRuntime::claim(Arc::clone(&catalog.slos[0]), &services)
        .await
        .expect("lease");
    let cycle_at = |minutes_before_end: i64| time(end - minutes_before_end * MINUTE + 20_000);

    // Both routes send: nothing to say.
    runtime.cycle(&services, cycle_at(70)).await;
    assert_eq!(
        state(&runtime, "/pay"),
        (DataState::Ok, Some(AlertState::Inactive))
    );

    // Eight minutes of silence on /pay: absent, and the alert waits its `for`.
    runtime.cycle(&services, cycle_at(52)).await;
    assert_eq!(
        state(&runtime, "/pay"),
        (DataState::Absent, Some(AlertState::Pending))
    );
    assert_eq!(
        state(&runtime, "/cart"),
        (DataState::Ok, Some(AlertState::Inactive))
    );

    // Still silent four minutes later: it fires, and Alertmanager has it.
    runtime.cycle(&services, cycle_at(48)).await;
    assert_eq!(
        state(&runtime, "/pay"),
        (DataState::Absent, Some(AlertState::Firing))
    );
    assert!(
        sender.wait_idle(StdDuration::from_secs(10)).await,
        "{:?}",
        sender.stats()
    );
    let alerts = am.alerts().await;
    let absent: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == "SLOMetricAbsent")
        .collect();
    assert_eq!(absent.len(), 1, "only /pay is absent: {alerts:#?}");
    let want: BTreeMap<String, String> = [
        ("alertname", "SLOMetricAbsent"),
        ("service", "shop"),
        ("slo", "availability"),
        ("route", "/pay"),
        ("severity", "ticket"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels_of(absent[0]), want);
    assert_eq!(
        DateTime::parse_from_rfc3339(absent[0]["startsAt"].as_str().expect("startsAt"))
            .expect("time"),
        cycle_at(48) - chrono::Duration::seconds(20),
        "startsAt is the evaluation that fired it"
    );
    assert!(
        absent[0]["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("data absent")),
        "{:#?}",
        absent[0]
    );

    // The alert listing and the API view show it like the other alerts.
    let snapshot = Snapshot {
        instances: runtime
            .statuses()
            .map(|s| (s.id.clone(), s.clone()))
            .collect(),
        published_at: None,
        cycle_duration: StdDuration::ZERO,
    };
    let listed = active_alerts(&snapshot, &catalog, &AlertFilter::default());
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(
        (
            listed[0].alert.as_str(),
            listed[0].kind,
            listed[0].threshold
        ),
        ("absent", "absent", None)
    );
    assert_eq!(listed[0].labels, want);

    // A restart, or another replica taking the SLO over, keeps it absent
    // and its alert firing: the last counted minute comes from the store.
    let mut runtime = SloRuntime::claim(Arc::clone(&catalog.slos[0]), &services)
        .await
        .expect("lease");
    runtime.cycle(&services, cycle_at(46)).await;
    assert_eq!(
        state(&runtime, "/pay"),
        (DataState::Absent, Some(AlertState::Firing)),
        "after a restart"
    );

    // /pay sends again: the alert resolves, in Alertmanager too.
    runtime.cycle(&services, cycle_at(10)).await;
    assert_eq!(
        state(&runtime, "/pay"),
        (DataState::Ok, Some(AlertState::Inactive))
    );
    assert!(
        sender.wait_idle(StdDuration::from_secs(10)).await,
        "{:?}",
        sender.stats()
    );
    let alerts = am.alerts().await;
    assert!(
        !alerts
            .iter()
            .any(|a| a["labels"]["alertname"] == "SLOMetricAbsent"),
        "resolved in Alertmanager: {alerts:#?}"
    );

    // Every transition stored, under the alert's own name.
    let history = services
        .store
        .alert_history(
            "shop/availability",
            &TransitionQuery {
                alert: Some("absent".into()),
                ..TransitionQuery::default()
            },
        )
        .await
        .expect("history");
    let kinds: Vec<(&str, DateTime<Utc>)> = history
        .iter()
        .map(|h| (h.record.transition.as_str(), h.record.at))
        .collect();
    let minute = |m: i64| time(end - m * MINUTE);
    assert_eq!(
        kinds,
        [
            ("resolved", minute(10)),
            ("firing", minute(48)),
            ("pending", minute(52))
        ]
    );
    assert_eq!(history[1].record.threshold, None);
    assert_eq!(history[1].record.long_window, None);
}
