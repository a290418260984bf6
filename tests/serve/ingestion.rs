//! `burnrate serve`'s ingestion against a real Prometheus and PostgreSQL,
//! compared with exact truth computed from the seeded raw samples.

use std::path::Path;
use std::sync::Arc;

use burnrate::catalog::{self, Slo};
use burnrate::evaluation::DataState;
use burnrate::evaluation::InstanceStatus;
use burnrate::prom::{Prometheus, PrometheusConfig};
use burnrate::serve::runtime::{IngestSettings, Services, SloRuntime};
use burnrate::store::{Store, StoredHour};
use chrono::{TimeZone, Utc};
use testkit::synthetic::{DAY, HOUR, Incident, MINUTE, Scenario, exact_increase};
use testkit::{Series, TestDatabase, TestPostgres, TestPrometheus};

const OBJECTIVE_BUDGET: f64 = 0.001;
const WINDOW: i64 = 7 * DAY;

pub(crate) fn slo(yaml_slos: &str) -> Vec<Slo> {
    let source = format!("version: burnrate/v1\nservice: shop\nslos:\n{yaml_slos}");
    match catalog::load_str(Path::new("test.yaml"), &source).into_result() {
        Ok(c) => c.slos.into_iter().map(Arc::unwrap_or_clone).collect(),
        Err(d) => panic!("test catalog invalid: {d:?}"),
    }
}

const AVAILABILITY: &str = "  - name: availability
    objective: 99.9
    window: 7d
    indicator:
      ratio:
        errors: http_requests_total{code=\"500\"}
        total: http_requests_total
";

const BY_ROUTE: &str = "  - name: by-route
    objective: 99.9
    window: 7d
    group_by: [route]
    indicator:
      ratio:
        errors: http_requests_total{code=\"500\"}
        total: http_requests_total
";

pub(crate) fn scenario(end: i64) -> Scenario {
    let start = end - 8 * DAY;
    Scenario {
        start,
        end,
        scrape: 30_000,
        incidents: vec![
            Incident {
                from: start + 2 * DAY,
                to: start + 2 * DAY + 45 * MINUTE,
                route: "/pay",
                error_ratio: 0.3,
            },
            Incident {
                from: start + 5 * DAY + 3 * HOUR,
                to: start + 5 * DAY + 5 * HOUR,
                route: "/cart",
                error_ratio: 0.05,
            },
            Incident {
                from: end - 30 * HOUR,
                to: end - 29 * HOUR,
                route: "/new",
                error_ratio: 0.2,
            },
            Incident {
                from: end - 3 * HOUR,
                to: end - 3 * HOUR + 10 * MINUTE,
                route: "/cart",
                error_ratio: 0.5,
            },
        ],
        outages: vec![("i2", start + 4 * DAY, start + 4 * DAY + 3 * HOUR)],
        restarts: vec![("i1", start + 6 * DAY + 7 * MINUTE)],
        late_routes: vec![("/new", start + 7 * DAY - 12 * HOUR)],
    }
}

struct Truth<'a> {
    series: &'a [Series],
    end: i64,
}

impl Truth<'_> {
    /// (bad, total) in `(from, to]` for an optional route.
    fn events(&self, route: Option<&str>, from: i64, to: i64) -> (f64, f64) {
        let in_route = |get: &dyn Fn(&str) -> String| route.is_none_or(|r| get("route") == r);
        let bad = exact_increase(
            self.series,
            |get| in_route(get) && get("code") == "500",
            from,
            to,
        );
        let total = exact_increase(self.series, in_route, from, to);
        (bad, total)
    }
    fn burn_rate(&self, route: Option<&str>, at: i64, window: i64) -> f64 {
        let (bad, total) = self.events(route, at - window, at);
        bad / total / OBJECTIVE_BUDGET
    }
    fn budget_remaining(&self, route: Option<&str>, at: i64) -> f64 {
        1.0 - self.burn_rate(route, at, WINDOW)
    }
}

/// A Prometheus holding the [`scenario`] up to `end` (ten minutes ago, on
/// the minute), a database, and the services reading both.
pub(crate) struct Seeded {
    pub prom: TestPrometheus,
    pub db: TestDatabase,
    pub end: i64,
    pub scenario: Scenario,
    pub series: Vec<Series>,
    pub services: Services,
}

pub(crate) async fn seeded() -> Seeded {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let scenario = scenario(end);
    let series = scenario.series();
    prom.remote_write(&series).await;
    let services = services(&prom, &db).await;
    Seeded {
        prom,
        db,
        end,
        scenario,
        series,
        services,
    }
}

pub(crate) async fn services(prom: &TestPrometheus, db: &TestDatabase) -> Services {
    Services {
        prometheus: Prometheus::new(&PrometheusConfig::new(prom.url())).expect("client"),
        store: Store::connect(db.url()).await.expect("store"),
        settings: IngestSettings::default(),
        alerting: Default::default(),
    }
}

fn check(status: &InstanceStatus, truth: &Truth, route: Option<&str>, at: i64) {
    let id = &status.id;
    assert_eq!(
        status.evaluated_at,
        Some(Utc.timestamp_millis_opt(at).unwrap()),
        "{id}"
    );
    let remaining = status.error_budget.remaining.expect("budget remaining");
    let exact = truth.budget_remaining(route, at);
    let (bad, total) = truth.events(route, at - WINDOW, at);
    assert!(
        (remaining - exact).abs() <= 0.001,
        "{id} at {at} (end - {}m): budget remaining {remaining} vs exact {exact}: more than 0.1 pp apart; events {:?} vs exact bad {bad} total {total}",
        (truth.end - at) / MINUTE,
        status.events
    );
    for (window, ms) in [("1h", HOUR), ("6h", 6 * HOUR), ("1d", DAY), ("3d", 3 * DAY)] {
        let got = status.burn_rates[window].expect("burn rate");
        let exact = truth.burn_rate(route, at, ms);
        let relative = if exact == 0.0 {
            got.abs()
        } else {
            ((got - exact) / exact).abs()
        };
        assert!(
            relative <= 0.01,
            "{id} at {at}: {window} burn rate {got} vs exact {exact}: {:.3}% off",
            relative * 100.0
        );
    }
}

/// Backfill, then hourly cycles: budget remaining within 0.1 pp of exact and
/// burn rates within 1%, across incidents, an outage, resets and a late series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_ingestion_matches_exact_truth() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    prom.remote_write(&series).await;
    let truth = Truth {
        series: &series,
        end,
    };
    let services = services(&prom, &db).await;

    let slos = slo(&format!("{AVAILABILITY}{BY_ROUTE}"));
    let mut runtimes: Vec<SloRuntime> = Vec::new();
    for s in slos {
        runtimes.push(
            SloRuntime::claim(Arc::new(s), &services)
                .await
                .expect("lease"),
        );
    }
    // Right after the sharp incident, then every few hours, then at the end.
    let times = [
        end - 12 * HOUR,
        end - 9 * HOUR,
        end - 3 * HOUR + 11 * MINUTE,
        end - 2 * HOUR,
        end,
    ];
    for at in times {
        let now = Utc.timestamp_millis_opt(at + 20_000).unwrap();
        for runtime in &mut runtimes {
            runtime.cycle(&services, now).await;
        }
        let whole: Vec<&InstanceStatus> = runtimes[0].statuses().collect();
        assert_eq!(whole.len(), 1);
        check(whole[0], &truth, None, at);
        let routes: Vec<&InstanceStatus> = runtimes[1].statuses().collect();
        let names: Vec<&str> = routes.iter().map(|s| s.group["route"].as_str()).collect();
        assert_eq!(names, ["/cart", "/new", "/pay"], "one instance per route");
        for status in routes {
            check(status, &truth, Some(&status.group["route"]), at);
        }
    }
}

/// The same data ingested twice (a restart that re-reads what was stored)
/// gives identical buckets: writes overwrite, never add.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reingesting_never_double_counts() {
    // Bound, not ignored: the servers live as long as their bindings.
    let Seeded {
        prom: _prom,
        db,
        end,
        series,
        services,
        ..
    } = seeded().await;
    let slo = Arc::new(slo(AVAILABILITY).remove(0));
    let now = Utc.timestamp_millis_opt(end + 20_000).unwrap();

    let mut first = SloRuntime::claim(Arc::clone(&slo), &services)
        .await
        .expect("lease");
    first.cycle(&services, now).await;
    let before = bucket_sums(&db).await;
    // A fresh runtime (as after a restart) re-reads from its stored progress.
    let mut second = SloRuntime::claim(Arc::clone(&slo), &services)
        .await
        .expect("lease");
    second.cycle(&services, now).await;
    second.cycle(&services, now).await;
    assert_eq!(bucket_sums(&db).await, before);
    let a: Vec<_> = first.statuses().map(|s| s.error_budget.remaining).collect();
    let b: Vec<_> = second
        .statuses()
        .map(|s| s.error_budget.remaining)
        .collect();
    assert_eq!(a, b);
    let truth = Truth {
        series: &series,
        end,
    };
    check(second.statuses().next().unwrap(), &truth, None, end);
}

/// (minutes fetched, sum of good, sum of total) over every stored hour.
async fn bucket_sums(db: &TestDatabase) -> (usize, f64, f64) {
    all_buckets(db)
        .await
        .iter()
        .flat_map(|h| h.minutes.iter().flatten())
        .fold((0, 0.0, 0.0), |(n, g, t), c| {
            (n + 1, g + c.good, t + c.total)
        })
}

/// Every stored bucket row, for comparing two runs.
pub(crate) async fn all_buckets(db: &TestDatabase) -> Vec<StoredHour> {
    let store = Store::connect(db.url()).await.expect("store");
    store.stored_hours().await.expect("buckets")
}

/// Prometheus down for several cycles: statuses turn stale (never a made-up
/// number), and once it answers again the missing span is fetched, leaving
/// exactly the buckets of an uninterrupted run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_outage_loses_nothing() {
    let mut prom = TestPrometheus::start().await;
    let (steady_db, outage_db) = (TestDatabase::create().await, TestDatabase::create().await);
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    prom.remote_write(&series).await;
    let slo = Arc::new(slo(BY_ROUTE).remove(0));
    let steady = services(&prom, &steady_db).await;
    let outage = services(&prom, &outage_db).await;
    let (mut a, mut b) = (
        SloRuntime::claim(Arc::clone(&slo), &steady)
            .await
            .expect("lease"),
        SloRuntime::claim(Arc::clone(&slo), &outage)
            .await
            .expect("lease"),
    );
    let times: Vec<i64> = (0..8).map(|k| end - 4 * HOUR + k * 30 * MINUTE).collect();
    let at = |t: i64| Utc.timestamp_millis_opt(t + 20_000).unwrap();

    for t in &times {
        a.cycle(&steady, at(*t)).await;
    }
    b.cycle(&outage, at(times[0])).await;
    let before: Vec<Option<f64>> = b.statuses().map(|s| s.error_budget.remaining).collect();
    prom.stop().await;
    for t in &times[1..4] {
        b.cycle(&outage, at(*t)).await;
        for s in b.statuses() {
            assert_eq!(
                s.data_state,
                burnrate::evaluation::DataState::Stale,
                "{}",
                s.id
            );
            assert!(
                s.error.as_deref().is_some_and(|e| e.contains(&prom.url())),
                "the error names the server: {:?}",
                s.error
            );
        }
        let during: Vec<Option<f64>> = b.statuses().map(|s| s.error_budget.remaining).collect();
        assert_eq!(during, before, "numbers stay those of the last good cycle");
    }
    prom.start_again().await;
    for t in &times[4..] {
        b.cycle(&outage, at(*t)).await;
    }
    let (rows_a, rows_b) = (all_buckets(&steady_db).await, all_buckets(&outage_db).await);
    assert!(rows_a.len() > 100, "{} rows", rows_a.len());
    assert_eq!(
        rows_a, rows_b,
        "buckets after the outage equal those of an uninterrupted run"
    );
    let last = *times.last().unwrap();
    let truth = Truth {
        series: &series,
        end,
    };
    for s in b.statuses() {
        assert_eq!(s.data_state, burnrate::evaluation::DataState::Ok);
        check(s, &truth, Some(&s.group["route"]), last);
    }
}

/// A PostgreSQL outage is survived like a Prometheus one: statuses turn
/// stale with numbers of the last good cycle, the error names the failed
/// step but not the database's text, and once the server is back (no
/// restart of burnrate) the buckets equal an uninterrupted run's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_loses_nothing() {
    let prom = TestPrometheus::start().await;
    let steady_db = TestDatabase::create().await;
    let pg = TestPostgres::start().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    prom.remote_write(&series).await;
    let slo = Arc::new(slo(BY_ROUTE).remove(0));
    let steady = services(&prom, &steady_db).await;
    let outage = Services {
        store: Store::connect(&pg.url()).await.expect("store"),
        ..services(&prom, &steady_db).await
    };
    let (mut a, mut b) = (
        SloRuntime::claim(Arc::clone(&slo), &steady)
            .await
            .expect("lease"),
        SloRuntime::claim(Arc::clone(&slo), &outage)
            .await
            .expect("lease"),
    );
    let times: Vec<i64> = (0..8).map(|k| end - 4 * HOUR + k * 30 * MINUTE).collect();
    let at = |t: i64| Utc.timestamp_millis_opt(t + 20_000).unwrap();
    for t in &times {
        a.cycle(&steady, at(*t)).await;
    }
    b.cycle(&outage, at(times[0])).await;
    let before: Vec<Option<f64>> = b.statuses().map(|s| s.error_budget.remaining).collect();
    assert!(before.iter().all(Option::is_some), "{before:?}");

    pg.stop().await;
    for t in &times[1..4] {
        b.cycle(&outage, at(*t)).await;
        for s in b.statuses() {
            assert_eq!(s.data_state, DataState::Stale, "{}", s.id);
            let error = s.error.as_deref().unwrap_or_default();
            assert!(error.starts_with("the database failed ("), "{error}");
            assert!(
                !error.contains("127.0.0.1") && !error.contains("postgres"),
                "{error}"
            );
        }
        let during: Vec<Option<f64>> = b.statuses().map(|s| s.error_budget.remaining).collect();
        assert_eq!(during, before, "numbers stay those of the last good cycle");
    }
    pg.start_again().await;
    for t in &times[4..] {
        b.cycle(&outage, at(*t)).await;
    }
    let rows_a = all_buckets(&steady_db).await;
    let rows_b = outage.store.stored_hours().await.expect("stored hours");
    assert!(rows_a.len() > 100, "{} rows", rows_a.len());
    let differ: Vec<String> = rows_a
        .iter()
        .filter(|a| !rows_b.contains(a))
        .map(|a| format!("{} {}", a.instance, a.hour))
        .collect();
    assert!(
        differ.is_empty() && rows_a.len() == rows_b.len(),
        "buckets after the outage differ from an uninterrupted run's ({} vs {} rows): {differ:?}",
        rows_a.len(),
        rows_b.len()
    );
    let truth = Truth {
        series: &series,
        end,
    };
    for s in b.statuses() {
        assert_eq!(s.data_state, DataState::Ok, "{}: {:?}", s.id, s.error);
        check(s, &truth, Some(&s.group["route"]), *times.last().unwrap());
    }
}

/// An answer over the byte cap is refused as it streams in, and the span is
/// fetched in smaller pieces: with a cap a hundred times smaller than a
/// backfill chunk's answer, the buckets equal those of an uncapped run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_the_byte_cap_are_split_not_lost() {
    let prom = TestPrometheus::start().await;
    let (plain_db, capped_db) = (TestDatabase::create().await, TestDatabase::create().await);
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    prom.remote_write(&scenario(end).series()).await;
    let slo = Arc::new(slo(BY_ROUTE).remove(0));
    let plain = services(&prom, &plain_db).await;
    let mut config = PrometheusConfig::new(prom.url());
    config.max_answer_bytes = 64 << 10;
    let capped = Services {
        prometheus: Prometheus::new(&config).expect("client"),
        ..services(&prom, &capped_db).await
    };
    let at = Utc.timestamp_millis_opt(end + 20_000).unwrap();
    let skipped_before = burnrate::health::prometheus_errors();
    let (mut a, mut b) = (
        SloRuntime::claim(Arc::clone(&slo), &plain)
            .await
            .expect("lease"),
        SloRuntime::claim(slo, &capped).await.expect("lease"),
    );
    a.cycle(&plain, at).await;
    b.cycle(&capped, at).await;
    for s in b.statuses() {
        assert_eq!((s.data_state, &s.error), (DataState::Ok, &None), "{}", s.id);
    }
    let (rows_a, rows_b) = (all_buckets(&plain_db).await, all_buckets(&capped_db).await);
    assert!(rows_a.len() > 100, "{} rows", rows_a.len());
    let differ: Vec<String> = rows_a
        .iter()
        .filter(|a| !rows_b.contains(a))
        .map(|a| format!("{} {}", a.instance, a.hour))
        .collect();
    assert!(
        differ.is_empty() && rows_a.len() == rows_b.len(),
        "the capped run's buckets differ from the plain run's ({} vs {} rows): {differ:?}",
        rows_a.len(),
        rows_b.len()
    );
    assert_eq!(
        burnrate::health::prometheus_errors(),
        skipped_before,
        "no failed cycle"
    );
}

/// A grouped SLO past its instance limit counts the instances it has,
/// exactly, and reports the label sets beyond it instead of dropping them
/// silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_sets_beyond_the_instance_limit_are_reported() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    prom.remote_write(&series).await;
    let mut limited = services(&prom, &db).await;
    limited.settings.max_instances = 2;
    let before = burnrate::health::read(&burnrate::health::UNTRACKED_LABEL_SETS);
    let mut runtime = SloRuntime::claim(Arc::new(slo(BY_ROUTE).remove(0)), &limited)
        .await
        .expect("lease");
    runtime
        .cycle(&limited, Utc.timestamp_millis_opt(end + 20_000).unwrap())
        .await;
    // `/new` appears late in the scenario: the two routes seen first are kept.
    let routes: Vec<&str> = runtime
        .statuses()
        .map(|s| s.group["route"].as_str())
        .collect();
    assert_eq!(routes, ["/cart", "/pay"]);
    let reported = burnrate::health::read(&burnrate::health::UNTRACKED_LABEL_SETS) - before;
    assert!(reported >= 1, "the `/new` label set is reported");
    let truth = Truth {
        series: &series,
        end,
    };
    for s in runtime.statuses() {
        check(s, &truth, Some(&s.group["route"]), end);
    }
}

/// Series that stop sending samples turn their instances `absent` once the
/// silence outlasts `absent_after`, with the numbers of the data that came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_series_turn_absent() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 50 * MINUTE;
    prom.remote_write(&scenario(end).series()).await;
    let services = services(&prom, &db).await;
    let mut runtime = SloRuntime::claim(Arc::new(slo(AVAILABILITY).remove(0)), &services)
        .await
        .expect("lease");
    let at = |t: i64| Utc.timestamp_millis_opt(t + 20_000).unwrap();
    let state = |r: &SloRuntime| r.statuses().next().map(|s| s.data_state);
    runtime.cycle(&services, at(end)).await;
    assert_eq!(state(&runtime), Some(DataState::Ok));
    // The scenario ends at `end`: 20 minutes of silence is within the default 30.
    runtime.cycle(&services, at(end + 20 * MINUTE)).await;
    assert_eq!(state(&runtime), Some(DataState::Ok));
    runtime.cycle(&services, at(end + 40 * MINUTE)).await;
    assert_eq!(state(&runtime), Some(DataState::Absent));
    let status = runtime.statuses().next().expect("an instance");
    assert!(
        status.error_budget.remaining.is_some(),
        "numbers of the data that came"
    );
}

/// The same exactness against VictoriaMetrics, a second server speaking the Prometheus API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_backend_matches_exact_truth() {
    let vm = testkit::TestVictoriaMetrics::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    vm.remote_write(&series).await;
    let services = Services {
        prometheus: Prometheus::new(&PrometheusConfig::new(vm.url())).expect("client"),
        store: Store::connect(db.url()).await.expect("store"),
        settings: IngestSettings::default(),
        alerting: Default::default(),
    };
    let mut runtime = SloRuntime::claim(Arc::new(slo(AVAILABILITY).remove(0)), &services)
        .await
        .expect("lease");
    let truth = Truth {
        series: &series,
        end,
    };
    for at in [end - 3 * HOUR + 11 * MINUTE, end] {
        runtime
            .cycle(&services, Utc.timestamp_millis_opt(at + 20_000).unwrap())
            .await;
        let status = runtime.statuses().next().expect("one instance");
        assert_eq!(status.error, None);
        check(status, &truth, None, at);
    }
}

/// Latency (histogram bucket vs count), bool gauge and free-form events
/// indicators against a real Prometheus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_indicator_kind_counts_events() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let start = end - 2 * DAY;
    let mut bucket_fast = Vec::new();
    let mut bucket_slow = Vec::new();
    let mut count = Vec::new();
    let mut probe = Vec::new();
    let mut jobs = Vec::new();
    let mut failed = Vec::new();
    let (mut fast, mut slow, mut total, mut done, mut bad) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut t = start;
    let mut i = 0u64;
    while t <= end {
        // 30 requests per scrape; 27 under 300 ms except during a slow hour.
        let slow_hour = t > end - 5 * HOUR && t <= end - 4 * HOUR;
        let under = if slow_hour { 12.0 } else { 27.0 };
        fast += under;
        slow += under + 2.0;
        total += 30.0;
        bucket_fast.push((t, fast));
        bucket_slow.push((t, slow));
        count.push((t, total));
        probe.push((
            t,
            if i.is_multiple_of(97) || slow_hour && i.is_multiple_of(3) {
                0.0
            } else {
                1.0
            },
        ));
        done += 2.0;
        bad += if i.is_multiple_of(50) { 1.0 } else { 0.0 };
        jobs.push((t, done));
        failed.push((t, bad));
        t += 30_000;
        i += 1;
    }
    let series = vec![
        Series::new(
            "http_request_duration_seconds_bucket",
            &[("job", "api"), ("le", "0.3")],
            bucket_fast.clone(),
        ),
        Series::new(
            "http_request_duration_seconds_bucket",
            &[("job", "api"), ("le", "0.5")],
            bucket_slow,
        ),
        Series::new(
            "http_request_duration_seconds_count",
            &[("job", "api")],
            count.clone(),
        ),
        Series::new("probe_success", &[("target", "gw")], probe.clone()),
        Series::new(
            "jobs_processed_total",
            &[("job_name", "settle")],
            jobs.clone(),
        ),
        Series::new(
            "jobs_failed_total",
            &[("job_name", "settle")],
            failed.clone(),
        ),
    ];
    prom.remote_write(&series).await;
    let services = services(&prom, &db).await;
    let slos = slo("  - name: latency
    objective: 99
    window: 7d
    indicator:
      latency:
        histogram: http_request_duration_seconds_bucket{job=\"api\"}
        threshold: 300ms
  - name: probe
    objective: 99
    window: 7d
    indicator:
      bool_gauge:
        metric: probe_success{target=\"gw\"}
  - name: jobs
    objective: 99
    window: 7d
    indicator:
      events:
        bad: sum(increase(jobs_failed_total[{{.window}}]))
        total: sum(increase(jobs_processed_total[{{.window}}]))
");
    let at = end - 2 * HOUR;
    let from = at - 7 * DAY;
    let inc =
        |s: &[(i64, f64)]| exact_increase(&[Series::new("x", &[], s.to_vec())], |_| true, from, at);
    let in_window: Vec<f64> = probe
        .iter()
        .filter(|(ts, _)| *ts > from && *ts <= at)
        .map(|(_, v)| *v)
        .collect();
    let expected = [
        // Catalog order: by SLO id.
        // `increase()` over one-minute windows extrapolates at their edges: the events indicator is as exact as its query.
        ("shop/jobs", inc(&jobs) - inc(&failed), inc(&jobs), 0.02),
        ("shop/latency", inc(&bucket_fast), inc(&count), 0.0),
        (
            "shop/probe",
            in_window.iter().sum::<f64>(),
            in_window.len() as f64,
            0.0,
        ),
    ];
    for (slo, (id, good, total, tolerance)) in slos.into_iter().zip(expected) {
        let mut runtime = SloRuntime::claim(Arc::new(slo), &services)
            .await
            .expect("lease");
        runtime
            .cycle(&services, Utc.timestamp_millis_opt(at + 20_000).unwrap())
            .await;
        let status = runtime.statuses().next().expect("one instance");
        assert_eq!(status.id, id);
        assert_eq!(status.error, None, "{id}");
        let near = |a: f64, b: f64| (a - b).abs() <= tolerance * b + 1e-9;
        assert!(
            near(status.events.total, total) && near(status.events.good, good),
            "{id}: {:?} vs exact good {good} total {total}",
            status.events
        );
    }
}

/// Once ingested, history no longer depends on Prometheus keeping it: with a
/// server that only holds the last day, the 7-day budget is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_outlive_prometheus_retention() {
    let full = TestPrometheus::start().await;
    let short = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    full.remote_write(&series).await;
    let recent: Vec<Series> = series
        .iter()
        .map(|s| Series {
            labels: s.labels.clone(),
            samples: s
                .samples
                .iter()
                .copied()
                .filter(|(ts, _)| *ts > end - DAY)
                .collect(),
        })
        .collect();
    short.remote_write(&recent).await;
    let slo = Arc::new(slo(AVAILABILITY).remove(0));
    let full_services = services(&full, &db).await;
    let mut runtime = SloRuntime::claim(Arc::clone(&slo), &full_services)
        .await
        .expect("lease");
    runtime
        .cycle(
            &full_services,
            Utc.timestamp_millis_opt(end - 6 * HOUR + 20_000).unwrap(),
        )
        .await;
    // A restart against the short-retention server: stored buckets carry the window.
    let short_services = services(&short, &db).await;
    let mut restarted = SloRuntime::claim(slo, &short_services)
        .await
        .expect("lease");
    restarted
        .cycle(
            &short_services,
            Utc.timestamp_millis_opt(end + 20_000).unwrap(),
        )
        .await;
    let truth = Truth {
        series: &series,
        end,
    };
    check(
        restarted.statuses().next().expect("one instance"),
        &truth,
        None,
        end,
    );
}

/// burnrate's ingestion beside the methods peers use, on the same seeded data,
/// as errors of the 7-day budget remaining in percentage points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_side_by_side() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    prom.remote_write(&series).await;
    let truth = Truth {
        series: &series,
        end,
    };
    let services = services(&prom, &db).await;
    let mut runtime = SloRuntime::claim(Arc::new(slo(AVAILABILITY).remove(0)), &services)
        .await
        .expect("lease");
    let (errors, total) = ("http_requests_total{code=\"500\"}", "http_requests_total");
    let scalar = |v: &serde_json::Value| -> Option<f64> {
        v["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
    };
    let mut rows = Vec::new();
    for at in [end - 3 * HOUR + 11 * MINUTE, end - 2 * HOUR, end] {
        runtime
            .cycle(&services, Utc.timestamp_millis_opt(at + 20_000).unwrap())
            .await;
        let exact = truth.budget_remaining(None, at);
        let ours = runtime
            .statuses()
            .next()
            .and_then(|s| s.error_budget.remaining)
            .expect("remaining");
        let t = at as f64 / 1000.0;
        let remaining = |ratio: Option<f64>| ratio.map(|r| 1.0 - r / OBJECTIVE_BUDGET);
        let full = remaining(scalar(
            &prom
                .query(
                    &format!("sum(increase({errors}[7d])) / sum(increase({total}[7d]))"),
                    t,
                )
                .await,
        ));
        let buckets = remaining(scalar(&prom.query(&format!("sum(sum_over_time((sum(increase({errors}[5m])))[7d:5m])) / sum(sum_over_time((sum(increase({total}[5m])))[7d:5m]))"), t).await));
        let averaged = remaining(scalar(
            &prom
                .query(
                    &format!(
                        "avg_over_time((sum(rate({errors}[5m])) / sum(rate({total}[5m])))[7d:5m])"
                    ),
                    t,
                )
                .await,
        ));
        let pp = |v: Option<f64>| v.map_or(f64::NAN, |v| (v - exact).abs() * 100.0);
        rows.push([pp(Some(ours)), pp(full), pp(buckets), pp(averaged)]);
    }
    eprintln!(
        "error of 7d budget remaining, percentage points: burnrate | full-window increase | 5m increase buckets | average of 5m ratios"
    );
    for r in &rows {
        eprintln!(
            "{:>10.4} | {:>10.4} | {:>10.4} | {:>10.4}",
            r[0], r[1], r[2], r[3]
        );
    }
    for r in &rows {
        assert!(r[0] <= 0.1, "burnrate within 0.1 pp: {r:?}");
        assert!(
            r.iter().all(|v| v.is_finite()),
            "every method gives a number here: {r:?}"
        );
        assert!(
            r[3] > r[0],
            "averaging ratios is biased under uneven traffic: {r:?}"
        );
    }
}

/// NaN and infinite samples (an exporter's bug, a division by zero in a
/// recording rule) are skipped: the bucket they fall in keeps its count, the
/// sample after one is not mistaken for a counter reset, the gauge's event
/// count ignores them, and the skip is counted for `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_finite_samples_are_skipped_not_counted() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let start = end - 6 * HOUR;
    let (mut total, mut errors) = (Vec::new(), Vec::new());
    let mut probe = Vec::new();
    let mut poisoned = 0u64;
    let (mut t, mut i) = (start, 0u64);
    while t <= end {
        // Three scrapes a minute; every 40th a NaN, every 97th an infinity,
        // each half-way between two good samples.
        total.push((t, 100.0 * i as f64));
        errors.push((t, (i / 10) as f64));
        probe.push((t, if i % 5 == 0 { 0.0 } else { 1.0 }));
        let poison = match i {
            i if i % 40 == 7 => Some(f64::NAN),
            i if i % 97 == 11 => Some(f64::INFINITY),
            _ => None,
        };
        if let Some(value) = poison {
            total.push((t + 10_000, value));
            errors.push((t + 10_000, value));
            probe.push((t + 10_000, value));
            poisoned += 3;
        }
        t += 20_000;
        i += 1;
    }
    let finite = |s: &[(i64, f64)]| -> Vec<(i64, f64)> {
        s.iter().copied().filter(|(_, v)| v.is_finite()).collect()
    };
    prom.remote_write(&[
        Series::new("http_requests_total", &[], total.clone()),
        Series::new("http_requests_total", &[("code", "500")], errors.clone()),
        Series::new("probe_success", &[("target", "gw")], probe.clone()),
    ])
    .await;
    let services = services(&prom, &db).await;
    let slos = slo("  - name: availability
    objective: 99.9
    window: 7d
    indicator:
      ratio:
        errors: http_requests_total{code=\"500\"}
        total: http_requests_total{code=\"\"}
  - name: probe
    objective: 99
    window: 7d
    indicator:
      bool_gauge:
        metric: probe_success{target=\"gw\"}
");
    let at = end - MINUTE;
    let from = at - 7 * DAY;
    let inc =
        |s: &[(i64, f64)]| exact_increase(&[Series::new("x", &[], finite(s))], |_| true, from, at);
    let probes: Vec<f64> = finite(&probe)
        .into_iter()
        .filter(|(ts, _)| *ts > from && *ts <= at)
        .map(|(_, v)| v)
        .collect();
    let skipped_before = burnrate::health::read(&burnrate::health::NONFINITE_SAMPLES);
    let expected = [
        ("shop/availability", inc(&total) - inc(&errors), inc(&total)),
        (
            "shop/probe",
            probes.iter().sum::<f64>(),
            probes.len() as f64,
        ),
    ];
    for (slo, (id, good, all)) in slos.into_iter().zip(expected) {
        let mut runtime = SloRuntime::claim(Arc::new(slo), &services)
            .await
            .expect("lease");
        runtime
            .cycle(&services, Utc.timestamp_millis_opt(at + 20_000).unwrap())
            .await;
        let status = runtime.statuses().next().expect("one instance");
        assert_eq!((status.id.as_str(), &status.error), (id, &None));
        assert_eq!(
            (status.events.good, status.events.total),
            (good, all),
            "{id}: exact counts without the poisoned samples"
        );
        assert!(
            status.sli.is_some_and(f64::is_finite),
            "{id}: {:?}",
            status.sli
        );
    }
    // Every poisoned sample up to the evaluation was read, and skipped.
    let read: u64 = [&total, &errors, &probe]
        .iter()
        .map(|s| {
            s.iter()
                .filter(|(ts, v)| *ts <= at && !v.is_finite())
                .count() as u64
        })
        .sum();
    assert!(read > 0 && read <= poisoned);
    let skipped = burnrate::health::read(&burnrate::health::NONFINITE_SAMPLES) - skipped_before;
    assert!(
        skipped >= read,
        "{skipped} skipped, {read} seeded up to the evaluation"
    );
}
