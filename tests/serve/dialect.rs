//! `--promql-dialect metricsql` at run time: a query the offline PromQL
//! parser cannot read is sent as written, so the server that runs it is the
//! one that checks it. VictoriaMetrics answers it with the same counts as
//! the PromQL spelling; Prometheus refuses it, and the cycle fails instead of
//! writing a number.

use std::path::Path;
use std::sync::Arc;

use burnrate::catalog::{self, Dialect, Slo};
use burnrate::prom::{Prometheus, PrometheusConfig};
use burnrate::serve::runtime::{IngestSettings, Services, SloRuntime};
use burnrate::store::Store;
use chrono::{TimeZone, Utc};
use testkit::synthetic::MINUTE;
use testkit::{TestDatabase, TestPrometheus};

use crate::ingestion::{scenario, services};

/// The same SLI twice: in PromQL, and wrapped in MetricsQL's `union`, which
/// returns its single argument unchanged.
const CATALOG: &str = "version: burnrate/v1
service: shop
slos:
  - name: metricsql
    objective: 99.9
    window: 7d
    indicator:
      events:
        bad: union(sum(increase(http_requests_total{code=\"500\"}[{{.window}}])))
        total: sum(increase(http_requests_total[{{.window}}]))
  - name: promql
    objective: 99.9
    window: 7d
    indicator:
      events:
        bad: sum(increase(http_requests_total{code=\"500\"}[{{.window}}]))
        total: sum(increase(http_requests_total[{{.window}}]))
";

fn catalog() -> Vec<Slo> {
    let loaded = catalog::load_str_in(Path::new("t.yaml"), CATALOG, Dialect::Metricsql);
    let warnings: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("`union`"), "{}", warnings[0]);
    loaded
        .into_result()
        .expect("loads in MetricsQL")
        .slos
        .into_iter()
        .map(Arc::unwrap_or_clone)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metricsql_queries_are_checked_by_the_server_that_runs_them() {
    let vm = testkit::TestVictoriaMetrics::start().await;
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    vm.remote_write(&series).await;
    prom.remote_write(&series).await;
    let at = Utc.timestamp_millis_opt(end + 20_000).unwrap();

    let on_vm = Services {
        prometheus: Prometheus::new(&PrometheusConfig::new(vm.url())).expect("client"),
        store: Store::connect(db.url()).await.expect("store"),
        settings: IngestSettings::default(),
        alerting: Default::default(),
    };
    let mut counted = Vec::new();
    for slo in catalog() {
        let mut runtime = SloRuntime::claim(Arc::new(slo), &on_vm)
            .await
            .expect("lease");
        runtime.cycle(&on_vm, at).await;
        let status = runtime.statuses().next().expect("one instance");
        assert_eq!(status.error, None, "{}", status.id);
        counted.push((status.events.good, status.events.total));
    }
    assert!(
        counted[0].1 > 0.0 && counted[0].0 < counted[0].1,
        "{counted:?}"
    );
    assert_eq!(counted[0], counted[1], "MetricsQL and PromQL count alike");

    // Prometheus does not know `union`: the cycle fails, nothing is counted.
    let other_db = TestDatabase::create().await;
    let on_prom = services(&prom, &other_db).await;
    let errors_before = burnrate::health::prometheus_errors();
    let metricsql = catalog().remove(0);
    let mut runtime = SloRuntime::claim(Arc::new(metricsql), &on_prom)
        .await
        .expect("lease");
    runtime.cycle(&on_prom, at).await;
    assert!(
        burnrate::health::prometheus_errors() > errors_before,
        "Prometheus refused the query"
    );
    assert!(
        runtime
            .statuses()
            .all(|s| s.error.is_some() && s.events.total == 0.0),
        "no number from a refused query"
    );
}
