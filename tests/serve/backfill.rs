//! Backfill off the critical path: hundreds of new 30-day SLOs load their
//! history beside the evaluation cycle while the SLOs already running keep
//! being evaluated on schedule.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use burnrate::evaluation::DataState;
use burnrate::prom::PrometheusConfig;
use burnrate::serve::runtime::IngestSettings;
use burnrate::serve::{App, ServeSettings};
use chrono::{TimeZone, Utc};
use testkit::synthetic::{DAY, HOUR, Incident, MINUTE, ROUTES, Scenario, exact_increase};
use testkit::{TestDatabase, TestPrometheus};

const NEW_SLOS: usize = 400;
const INTERVAL_S: i64 = 15;

fn scenario(end: i64) -> Scenario {
    let start = end - 30 * DAY - 2 * HOUR;
    Scenario {
        start,
        end,
        // Every 15 minutes: a month of 12 series stays small to seed and read.
        scrape: 15 * MINUTE,
        incidents: vec![Incident {
            from: start + 10 * DAY,
            to: start + 10 * DAY + 2 * HOUR,
            route: "/pay",
            error_ratio: 0.2,
        }],
        outages: vec![],
        restarts: vec![],
        late_routes: vec![],
    }
}

fn slo(name: &str, window: &str, matcher: &str) -> String {
    let sep = if matcher.is_empty() { "" } else { "," };
    format!(
        "  - name: {name}\n    objective: 99.9\n    window: {window}\n    indicator:\n      ratio:\n        errors: http_requests_total{{code=\"500\"{sep}{matcher}}}\n        total: http_requests_total{{{matcher}}}\n"
    )
}

fn catalog(slos: &[String]) -> String {
    format!(
        "version: burnrate/v1\nservice: shop\nslos:\n{}",
        slos.concat()
    )
}

/// The new SLOs share the seeded series through different matchers.
fn new_slos() -> Vec<String> {
    let matchers: Vec<String> = std::iter::once(String::new())
        .chain(ROUTES.iter().map(|r| format!("route=\"{r}\"")))
        .chain(["i1", "i2"].iter().map(|i| format!("instance=\"{i}\"")))
        .collect();
    (0..NEW_SLOS)
        .map(|i| slo(&format!("new-{i:03}"), "30d", &matchers[i % matchers.len()]))
        .collect()
}

/// Serve settings for these tests: reloads come from the test, not from the
/// file watcher; two backfills at a time.
fn settings(
    dir: &std::path::Path,
    prom: &TestPrometheus,
    db: &TestDatabase,
    interval_s: u64,
    chunk_days: u64,
) -> ServeSettings {
    ServeSettings {
        catalog: vec![dir.to_path_buf()],
        promql_dialect: Default::default(),
        prometheus: PrometheusConfig::new(prom.url()),
        database_url: burnrate::secret::Secret::new(db.url()),
        listen: "127.0.0.1:0".parse().expect("addr"),
        interval: burnrate::duration::Duration::from_secs(interval_s),
        concurrency: 8,
        backfill_concurrency: 2,
        ingest: IngestSettings {
            chunk: burnrate::duration::Duration::from_days(chunk_days),
            ..IngestSettings::default()
        },
        watch_interval: Duration::from_secs(3600),
        lease_ttl: None,
        api: Default::default(),
        alerting: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_slos_backfill_beside_the_cycle() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("burnrate=debug,sqlx=warn")
        .with_test_writer()
        .try_init();
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    prom.remote_write(&series).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let running = vec![
        slo("running-a", "7d", ""),
        slo("running-b", "7d", "route=\"/cart\""),
        slo("running-c", "7d", "route=\"/pay\""),
    ];
    std::fs::write(dir.path().join("running.yaml"), catalog(&running)).expect("write");
    let settings = settings(
        dir.path(),
        &prom,
        &db,
        INTERVAL_S as u64,
        // Two chunks per 30-day SLO: progress has a step to show.
        16,
    );
    let app = App::build(settings).await.expect("app");
    let state = app.state();
    let metrics_url = format!("http://{}/metrics", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let running_ids = ["shop/running-a", "shop/running-b", "shop/running-c"];
    let evaluated = |id: &str| {
        state.snapshot().instances.get(id).is_some_and(|s| {
            s.evaluated_at.is_some()
                && !matches!(s.data_state, DataState::Backfilling | DataState::Pending)
        })
    };
    let start = Instant::now();
    while !running_ids.iter().all(|id| evaluated(id)) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the running SLOs were never evaluated"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut all = running.clone();
    all.extend(new_slos());
    std::fs::write(dir.path().join("running.yaml"), catalog(&all)).expect("write");
    state.reloader.reload("test").expect("reload");
    let reloaded = Instant::now();

    let client = reqwest::Client::new();
    let interval = chrono::TimeDelta::seconds(INTERVAL_S);
    let (mut oldest_snapshot, mut seen_backfilling, mut seen_partial) =
        (chrono::TimeDelta::zero(), BTreeSet::new(), BTreeSet::new());
    let mut longest_cycle = Duration::ZERO;
    let mut metrics_seen = false;
    loop {
        let snapshot = state.snapshot();
        let now = Utc::now();
        // Evaluations happen at minute boundaries: a cycle within the last
        // two intervals evaluated at the minute two intervals ago, or later.
        let oldest_allowed = Utc
            .timestamp_millis_opt((now - interval * 2).timestamp_millis() / MINUTE * MINUTE)
            .unwrap();
        let published = snapshot.published_at.expect("published");
        oldest_snapshot = oldest_snapshot.max(now - published);
        longest_cycle = longest_cycle.max(snapshot.cycle_duration);
        assert!(
            now - published <= interval * 2,
            "no snapshot published for {}s while backfills run (longest cycle {longest_cycle:?})",
            (now - published).num_seconds()
        );
        for id in running_ids {
            let status = &snapshot.instances[id];
            let at = status.evaluated_at.expect("evaluated");
            assert!(
                at >= oldest_allowed,
                "{id} last evaluated at {at}, more than two intervals before {now}"
            );
            assert!(
                !matches!(status.data_state, DataState::Stale | DataState::Backfilling),
                "{id}: {:?}",
                status.data_state
            );
        }
        let (mut done, mut backfilling_now) = (0, false);
        for status in snapshot.instances.values() {
            if !status.slo.starts_with("shop/new-") {
                continue;
            }
            match status.data_state {
                DataState::Backfilling => {
                    seen_backfilling.insert(status.slo.clone());
                    backfilling_now = true;
                    let progress = status
                        .backfill_progress
                        .expect("progress while backfilling");
                    assert!((0.0..=1.0).contains(&progress), "{progress}");
                    if progress > 0.0 && progress < 1.0 {
                        seen_partial.insert(status.slo.clone());
                    }
                }
                DataState::Pending => {}
                _ => {
                    assert_eq!(status.backfill_progress, None, "{}", status.id);
                    done += 1;
                }
            }
        }
        if !metrics_seen && backfilling_now {
            let text = client
                .get(&metrics_url)
                .send()
                .await
                .expect("GET /metrics")
                .text()
                .await
                .expect("body");
            metrics_seen = text
                .lines()
                .any(|l| l.starts_with("burnrate_backfills_running ") && !l.ends_with(" 0"))
                && text.lines().any(|l| {
                    l.starts_with("burnrate_backfill_progress{service=\"shop\",slo=\"new-")
                });
        }
        if done == NEW_SLOS {
            break;
        }
        assert!(
            reloaded.elapsed() < Duration::from_secs(240),
            "{done} of {NEW_SLOS} new SLOs evaluated after {:?}",
            reloaded.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let backfill_time = reloaded.elapsed();
    assert!(
        !seen_backfilling.is_empty(),
        "no SLO was ever seen backfilling"
    );
    assert!(metrics_seen, "/metrics never showed a running backfill");
    eprintln!(
        "{NEW_SLOS} SLOs backfilled in {backfill_time:?}; {} seen backfilling, {} of them part-way; \
         the snapshot was at most {:.1}s old; the longest cycle took {longest_cycle:?}",
        seen_backfilling.len(),
        seen_partial.len(),
        oldest_snapshot.num_milliseconds() as f64 / 1000.0
    );

    // Exact counts: the whole service's SLO against the seeded truth.
    let snapshot = state.snapshot();
    for (id, route) in [("shop/new-000", None), ("shop/new-001", Some("/cart"))] {
        let status = &snapshot.instances[id];
        let at = status.evaluated_at.expect("evaluated").timestamp_millis();
        let keep = |get: &dyn Fn(&str) -> String| route.is_none_or(|r| get("route") == r);
        let total = exact_increase(&series, keep, at - 30 * DAY, at);
        let bad = exact_increase(
            &series,
            |get| keep(get) && get("code") == "500",
            at - 30 * DAY,
            at,
        );
        let close = |got: f64, want: f64| (got - want).abs() <= 1e-9 * want.abs().max(1.0);
        assert!(
            close(status.events.total, total),
            "{id}: total {} vs exact {total}",
            status.events.total
        );
        assert!(
            close(status.events.total - status.events.good, bad),
            "{id}: bad {} vs exact {bad}",
            status.events.total - status.events.good
        );
    }
    let _ = stop.send(());
    server.await.expect("join").expect("server");
}

/// A backfill whose SLO changes its SLI or leaves the catalog is cancelled:
/// the SLO comes back with the new SLI's counts, the removed one never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_changes_cancel_backfills() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    prom.remote_write(&series).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("slos.yaml");
    let before = vec![
        slo("changed", "30d", "route=\"/cart\""),
        slo("removed", "30d", ""),
    ];
    std::fs::write(&file, catalog(&before)).expect("write");
    // A chunk a day: the backfills last long enough to be interrupted.
    let settings = settings(dir.path(), &prom, &db, 10, 1);
    let app = App::build(settings).await.expect("app");
    let state = app.state();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let start = Instant::now();
    loop {
        let snapshot = state.snapshot();
        let backfilling = ["shop/changed", "shop/removed"].iter().all(|id| {
            snapshot
                .instances
                .get(*id)
                .is_some_and(|s| s.data_state == DataState::Backfilling)
        });
        if backfilling {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the SLOs never showed as backfilling"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    std::fs::write(&file, catalog(&[slo("changed", "30d", "route=\"/pay\"")])).expect("write");
    state.reloader.reload("test").expect("reload");
    let (reloaded, reloaded_at) = (Instant::now(), Utc::now());
    let status = loop {
        let snapshot = state.snapshot();
        if snapshot.published_at.is_none_or(|t| t < reloaded_at) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert!(
            !snapshot.instances.contains_key("shop/removed"),
            "a removed SLO came back"
        );
        if let Some(s) = snapshot.instances.get("shop/changed")
            && !matches!(s.data_state, DataState::Backfilling | DataState::Pending)
        {
            break s.clone();
        }
        assert!(
            reloaded.elapsed() < Duration::from_secs(90),
            "the changed SLO was never evaluated"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let at = status.evaluated_at.expect("evaluated").timestamp_millis();
    let total = exact_increase(&series, |get| get("route") == "/pay", at - 30 * DAY, at);
    assert!(
        (status.events.total - total).abs() <= 1e-9 * total,
        "counts of the new SLI: total {} vs exact {total}",
        status.events.total
    );
    // Another cycle: the cancelled backfill's runtime does not return either.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let snapshot = state.snapshot();
    assert_eq!(
        snapshot.instances.keys().collect::<Vec<_>>(),
        ["shop/changed"]
    );
    let _ = stop.send(());
    server.await.expect("join").expect("server");
}

/// A backfill that fails (Prometheus down) keeps what it stored, shows the
/// error, and completes exactly once Prometheus is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_backfill_is_retried() {
    let mut prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    prom.remote_write(&series).await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("slos.yaml"),
        catalog(&[slo("month", "30d", "")]),
    )
    .expect("write");
    let app = App::build(settings(dir.path(), &prom, &db, 10, 1))
        .await
        .expect("app");
    let state = app.state();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let status = || state.snapshot().instances.get("shop/month").cloned();
    let start = Instant::now();
    // The snapshot is published once a cycle: stopped as soon as it shows the backfill.
    while !status().is_some_and(|s| s.data_state == DataState::Backfilling) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never backfilling"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    prom.stop().await;
    let start = Instant::now();
    let failed = loop {
        if let Some(s) = status().filter(|s| s.error.is_some()) {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the failure never showed: {:?}",
            status().map(|s| (s.data_state, s.backfill_progress))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed.data_state, DataState::Backfilling);
    assert!(failed.backfill_progress.is_some_and(|p| p < 1.0));

    prom.start_again().await;
    let start = Instant::now();
    let done = loop {
        if let Some(s) = status().filter(|s| s.data_state == DataState::Ok) {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the backfill never completed: {:?}",
            status().map(|s| (s.data_state, s.backfill_progress, s.error))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let at = done.evaluated_at.expect("evaluated").timestamp_millis();
    let total = exact_increase(&series, |_| true, at - 30 * DAY, at);
    assert!(
        (done.events.total - total).abs() <= 1e-9 * total,
        "total {} vs exact {total}",
        done.events.total
    );
    let _ = stop.send(());
    server.await.expect("join").expect("server");
}
