//! No silent data loss: an SLI that changes has its data retired, not
//! deleted, and a revert within the grace period brings back every bucket,
//! evaluation and alert transition; a reordered `group_by` changes nothing.

use std::path::Path;
use std::sync::Arc;

use burnrate::catalog::{self, Slo};
use burnrate::prom::{Prometheus, PrometheusConfig};
use burnrate::serve::runtime::{IngestSettings, Services, SloRuntime};
use burnrate::store::{Store, StoredHour};
use chrono::{TimeZone, Utc};
use sqlx::PgPool;
use testkit::synthetic::{HOUR, MINUTE};
use testkit::{Series, TestDatabase, TestPrometheus};

fn slo(group_by: &str, errors: &str) -> Slo {
    let source = format!(
        "version: burnrate/v1\nservice: shop\nslos:\n  - name: availability\n    objective: 99.9\n    window: 7d\n    group_by: {group_by}\n    indicator:\n      ratio:\n        errors: http_requests_total{{{errors}}}\n        total: http_requests_total\n"
    );
    match catalog::load_str(Path::new("t.yaml"), &source).into_result() {
        Ok(mut c) => std::sync::Arc::unwrap_or_clone(c.slos.remove(0)),
        Err(d) => panic!("{d:?}"),
    }
}

/// Every stored row of the SLO, as comparable text: buckets, evaluations
/// and alert transitions, keyed by instance id text.
async fn everything(store: &Store, pool: &PgPool) -> (Vec<StoredHour>, Vec<String>, Vec<String>) {
    let mut hours = store.stored_hours().await.expect("stored hours");
    hours.retain(|h| h.instance.starts_with("shop/availability{"));
    let evaluations: Vec<String> = sqlx::query_scalar(
        "select i.slo_id || i.group_key || ' ' || e.evaluated_at::text || ' ' || e.good || '/' || e.total
         from evaluations e join slo_instances i on i.id = e.instance_id
         where i.slo_id = 'shop/availability' order by 1",
    )
    .fetch_all(pool)
    .await
    .expect("evaluations");
    let transitions: Vec<String> = sqlx::query_scalar(
        "select i.slo_id || i.group_key || ' ' || t.alert || ' ' || t.transition || ' ' || t.at::text
         from alert_transitions t join slo_instances i on i.id = t.instance_id
         where i.slo_id = 'shop/availability' order by 1",
    )
    .fetch_all(pool)
    .await
    .expect("transitions");
    (hours, evaluations, transitions)
}

async fn cycle(slo: &Slo, services: &Services, at: i64) {
    let mut runtime = SloRuntime::claim(Arc::new(slo.clone()), services)
        .await
        .expect("lease");
    runtime
        .cycle(services, Utc.timestamp_millis_opt(at).unwrap())
        .await;
    let status = runtime.statuses().next().expect("an instance");
    assert_eq!(status.error, None, "{}", status.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sli_changes_retire_data_and_a_revert_restores_it() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let pool = db.pool().await;
    // On a 5-minute boundary, where evaluations are recorded for history.
    let end = testkit::now_ms() / (5 * MINUTE) * (5 * MINUTE) - 10 * MINUTE;
    let start = end - 30 * HOUR;
    let mut series = Vec::new();
    for (route, code, per_scrape) in [
        ("/pay", "200", 50.0),
        ("/pay", "500", 1.0),
        ("/cart", "200", 20.0),
        ("/cart", "503", 2.0),
    ] {
        let samples: Vec<(i64, f64)> = (0..)
            .map(|i| (start + i * 30_000, per_scrape * i as f64))
            .take_while(|(t, _)| *t <= end)
            .collect();
        series.push(Series::new(
            "http_requests_total",
            &[("route", route), ("code", code)],
            samples,
        ));
    }
    prom.remote_write(&series).await;
    let services = Services {
        prometheus: Prometheus::new(&PrometheusConfig::new(prom.url())).expect("client"),
        store: Store::connect(db.url()).await.expect("store"),
        settings: IngestSettings::default(),
        alerting: Default::default(),
    };
    let at = end + 20_000;
    let original = slo("[route, code]", "code=\"500\"");
    cycle(&original, &services, at).await;
    // Alert history to keep: one firing and resolved episode per instance.
    sqlx::query(
        "insert into alert_transitions (instance_id, alert, transition, at, severity)
         select id, 'page-1h', t, now() - interval '1 hour' * n, 'page'
         from slo_instances, (values ('firing', 3), ('resolved', 2)) as v(t, n)
         where slo_id = 'shop/availability'",
    )
    .execute(&pool)
    .await
    .expect("seed transitions");
    let before = everything(&services.store, &pool).await;
    assert!(!before.0.is_empty() && !before.1.is_empty(), "data to keep");
    assert!(before.2.len() >= 8, "{:?}", before.2);

    // The same SLI written differently: nothing is retired or rewritten.
    cycle(&slo("[code, route]", "code=\"500\""), &services, at).await;
    assert_eq!(
        everything(&services.store, &pool).await,
        before,
        "group_by reordered"
    );

    // A real change: the old data is set aside, the new SLI starts afresh.
    let changed = slo("[route, code]", "code=~\"5..\"");
    cycle(&changed, &services, at).await;
    let during = everything(&services.store, &pool).await;
    // One evaluation of the new SLI can fire, never resolve: the resolved
    // episodes seen before belong to the retired data.
    assert!(
        !during.2.iter().any(|t| t.contains(" resolved ")),
        "{:?}",
        during.2
    );
    assert_ne!(during.0, before.0, "the new SLI counts 503s too");
    let retired: Vec<String> = sqlx::query_scalar(
        "select slo_id from ingestion_state where retired_at is not null order by 1",
    )
    .fetch_all(&pool)
    .await
    .expect("retired");
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert!(
        retired[0].starts_with("shop/availability#v1:ratio;bad="),
        "{retired:?}"
    );

    // Reverted within the grace period: everything comes back as it was.
    cycle(&original, &services, at).await;
    assert_eq!(
        everything(&services.store, &pool).await,
        before,
        "after the revert"
    );

    // Once the grace period has passed, the retired copy (of the changed SLI) is deleted.
    sqlx::query("update ingestion_state set retired_at = now() - interval '8 days' where retired_at is not null")
        .execute(&pool)
        .await
        .expect("age the retired copy");
    cycle(&original, &services, at + HOUR).await;
    let left: i64 = sqlx::query_scalar(
        "select count(*) from slo_instances where slo_id like 'shop/availability#%'",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(left, 0, "retired instances purged after the grace period");
    // The live SLI's history is untouched (an hour on, its alerts may resolve).
    let after = everything(&services.store, &pool).await;
    let lost: Vec<&String> = before.2.iter().filter(|t| !after.2.contains(t)).collect();
    assert!(lost.is_empty(), "lost {lost:?}");
}
