//! Proves the shared test helpers in tests/support work against the real
//! servers: Prometheus, VictoriaMetrics and PostgreSQL.

use testkit::remote_write::{BATCH_SAMPLES, build_requests};
use testkit::{Series, TestDatabase, TestPrometheus, TestVictoriaMetrics, now_ms};

const MINUTE_MS: i64 = 60_000;

/// A minute-aligned time about `hours` hours ago, in ms.
fn hours_ago(hours: i64) -> i64 {
    let t = now_ms() - hours * 3600 * 1000;
    t - t.rem_euclid(MINUTE_MS)
}

/// Counter samples every 15 s from `start_ms`, `n` of them, with a reset in
/// the middle and fractional values.
fn counter_samples(start_ms: i64, n: i64) -> Vec<(i64, f64)> {
    (0..n)
        .map(|i| {
            let v = if i < n / 2 {
                10.0 + i as f64 * 2.5
            } else {
                (i - n / 2) as f64 * 1.25
            };
            (start_ms + i * 15_000, v)
        })
        .collect()
}

fn two_series(start_ms: i64) -> Vec<Series> {
    vec![
        Series::new(
            "harness_requests_total",
            &[("code", "200"), ("job", "api")],
            counter_samples(start_ms, 41),
        ),
        Series::new(
            "harness_requests_total",
            // Labels deliberately unsorted: the helper sorts them.
            &[("job", "api"), ("code", "500")],
            counter_samples(start_ms, 41)
                .into_iter()
                .map(|(t, v)| (t, v / 10.0)),
        ),
    ]
}

#[tokio::test]
async fn prometheus_returns_exact_raw_samples_written_two_hours_ago() {
    let prom = TestPrometheus::start().await;
    let start = hours_ago(2);
    let series = two_series(start);
    prom.remote_write(&series).await;

    // Samples at start + 0 .. start + 600 s. Query at start + 600 s with
    // [10m]: Prometheus 2.x range selectors are closed at both ends,
    // [t - 10m, t], so the sample at exactly t - 10m is included too.
    let end = start + 10 * MINUTE_MS;
    let got = prom.raw_samples("harness_requests_total", "10m", end).await;
    assert_eq!(got.len(), 2, "{got:?}");
    for (got, want) in got.iter().zip(&series) {
        let code = &got.labels["code"];
        let want_code = &want.labels.iter().find(|(k, _)| k == "code").unwrap().1;
        assert_eq!(code, want_code);
        assert_eq!(got.labels["job"], "api");
        assert_eq!(got.labels["__name__"], "harness_requests_total");
        assert_eq!(got.samples, want.samples, "series code={code}");
    }

    // One millisecond later the first sample falls out of the window.
    let got = prom
        .raw_samples("harness_requests_total{code=\"200\"}", "10m", end + 1)
        .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, series[0].samples[1..]);

    // Instant queries at "now" see nothing: the data is older than the 5m
    // lookback, i.e. stale.
    let data = prom
        .query("harness_requests_total", now_ms() as f64 / 1000.0)
        .await;
    assert_eq!(data["result"].as_array().map(Vec::len), Some(0), "{data}");
}

#[tokio::test]
async fn prometheus_accepts_out_of_order_history_within_31_days() {
    let prom = TestPrometheus::start().await;
    let recent = hours_ago(2);
    let old = hours_ago(24 * 20);
    let name = "harness_ooo_total";
    prom.remote_write(&[Series::new(name, &[], counter_samples(recent, 8))])
        .await;
    // Older than everything in the head: only accepted because of
    // out_of_order_time_window.
    prom.remote_write(&[Series::new(name, &[], counter_samples(old, 8))])
        .await;
    let got = prom.raw_samples(name, "5m", old + 4 * MINUTE_MS).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, counter_samples(old, 8)[..]);
    let got = prom.raw_samples(name, "5m", recent + 4 * MINUTE_MS).await;
    assert_eq!(got[0].samples, counter_samples(recent, 8)[..]);

    // Beyond the window (older than the newest sample in the head minus
    // 31d): rejected. Prometheus 2.42 answers HTTP 500 "too old sample", not
    // 400, so a real remote-write sender would retry it forever.
    let too_old = hours_ago(24 * 40);
    let err = prom
        .try_remote_write(&[Series::new(name, &[], vec![(too_old, 1.0)])])
        .await
        .expect_err("a sample 40 days older than the head must be rejected");
    let msg = err.to_string();
    assert!(msg.contains("HTTP 500"), "{err:#}");
    assert!(msg.contains("too old sample"), "{err:#}");
}

#[tokio::test]
async fn prometheus_keeps_data_across_stop_and_start_again() {
    let mut prom = TestPrometheus::start().await;
    let url = prom.url();
    let start = hours_ago(3);
    let series = vec![Series::new(
        "harness_restart_total",
        &[("phase", "before")],
        counter_samples(start, 20),
    )];
    prom.remote_write(&series).await;
    let at = start + 19 * 15_000;

    prom.stop().await;
    assert!(!prom.is_running());
    let refused = prom.client().get(format!("{url}/-/ready")).send().await;
    assert!(refused.is_err(), "Prometheus still answers after stop()");

    prom.start_again().await;
    assert_eq!(prom.url(), url, "restarted on another port");
    let got = prom.raw_samples("harness_restart_total", "10m", at).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, series[0].samples);

    // A crash (SIGKILL) loses nothing either: the WAL is replayed.
    let after = vec![Series::new(
        "harness_restart_total",
        &[("phase", "after")],
        counter_samples(start, 20),
    )];
    prom.remote_write(&after).await;
    prom.kill();
    prom.start_again().await;
    let got = prom.raw_samples("harness_restart_total", "10m", at).await;
    assert_eq!(got.len(), 2, "{got:?}");
    for s in &got {
        assert_eq!(s.samples, series[0].samples, "{:?}", s.labels);
    }
}

#[tokio::test]
async fn victoria_metrics_returns_the_samples_written() {
    let vm = TestVictoriaMetrics::start().await;
    let start = hours_ago(2);
    let series = two_series(start);
    vm.remote_write(&series).await;
    let end = start + 10 * MINUTE_MS;

    // /api/v1/export returns raw samples, timestamps in ms.
    let got = vm
        .export("harness_requests_total", start - MINUTE_MS, end + MINUTE_MS)
        .await;
    assert_eq!(got.len(), 2, "{got:?}");
    for (got, want) in got.iter().zip(&series) {
        assert_eq!(got.labels["__name__"], "harness_requests_total");
        assert_eq!(got.samples, want.samples, "{:?}", got.labels);
    }

    // An instant query of a range vector also returns raw samples, but the
    // window is open on the left, (t - 10m, t] (like Prometheus 3, unlike
    // Prometheus 2.x): the sample at exactly t - 10m is not included.
    let data = vm
        .query("harness_requests_total[10m]", end as f64 / 1000.0)
        .await;
    let got = testkit::parse_matrix(&data);
    assert_eq!(got.len(), 2, "{data}");
    for (got, want) in got.iter().zip(&series) {
        assert_eq!(got.samples, want.samples[1..], "{:?}", got.labels);
    }
}

#[tokio::test]
async fn test_databases_are_fresh_and_distinct() {
    let a = TestDatabase::create().await;
    let b = TestDatabase::create().await;
    assert_ne!(a.name(), b.name());
    assert_ne!(a.url(), b.url());

    let pool_a = a.pool().await;
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&pool_a)
        .await
        .unwrap();
    assert_eq!(one, 1);
    let current: String = sqlx::query_scalar("select current_database()::text")
        .fetch_one(&pool_a)
        .await
        .unwrap();
    assert_eq!(current, a.name());

    // A table made in one is absent from the other.
    sqlx::query("create table only_in_a (x int)")
        .execute(&pool_a)
        .await
        .unwrap();
    let pool_b = b.pool().await;
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from information_schema.tables where table_name = 'only_in_a'",
    )
    .fetch_one(&pool_b)
    .await
    .unwrap();
    assert_eq!(tables, 0);

    // Dropping a TestDatabase drops the database, even with a pool open.
    let name_a = a.name().to_string();
    drop(a);
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
            .bind(&name_a)
            .fetch_one(&pool_b)
            .await
            .unwrap();
    assert!(!exists, "{name_a} still exists after drop");
    pool_a.close().await;
}

#[test]
fn remote_write_requests_are_batched_with_sorted_labels() {
    let big = Series::new(
        "harness_big_total",
        &[("z", "1"), ("a", "2")],
        (0..(BATCH_SAMPLES as i64 * 2 + 10)).map(|i| (i * 1000, i as f64)),
    );
    let small = Series::new("harness_small_total", &[], vec![(0, 1.0)]);
    let requests = build_requests(&[big, small]);
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| r.timeseries.iter().map(|t| t.samples.len()).sum())
        .collect();
    assert_eq!(sizes, vec![BATCH_SAMPLES, BATCH_SAMPLES, 11]);
    let names: Vec<&str> = requests[0].timeseries[0]
        .labels
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["__name__", "a", "z"]);
    // Samples keep their order across batches.
    let all: Vec<i64> = requests
        .iter()
        .flat_map(|r| &r.timeseries)
        .filter(|t| t.labels[0].value == "harness_big_total")
        .flat_map(|t| t.samples.iter().map(|s| s.timestamp))
        .collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(all.len(), BATCH_SAMPLES * 2 + 10);
}

#[test]
fn database_urls_get_the_test_database_name() {
    use testkit::database::with_database;
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h:1/db?sslmode=disable", "x"),
        "postgres://u:p@h:1/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
}
