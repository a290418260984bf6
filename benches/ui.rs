//! First paint of the web UI: a real `burnrate serve` (the release binary)
//! with 1,000 SLOs on a real Prometheus and PostgreSQL, measured in Debian's
//! Chromium through chromedriver.
//!
//! Run it with `benches/ui.sh` (installs and starts the servers and the
//! browser like scripts/test.sh), or `cargo bench --bench ui` with
//! `PROMETHEUS_BIN`, `CHROMIUM_BIN`, `CHROMEDRIVER_BIN` (or the binaries on
//! PATH) and `DATABASE_URL` set.
//!
//! What it does:
//! 1. Remote-writes `http_requests_total{svc="sNNNN",code="200"|"500"}` at one
//!    sample a minute: 30 days and an hour for `s0000` (with a two-hour
//!    incident three days ago), the last 3 hours for the other SLOs.
//! 2. Runs `burnrate serve --interval 1m` on a catalog of one ratio SLO per
//!    `svc` (10 services of 100, 30d windows) and waits until every SLO has
//!    loaded its history (`s0000`'s backfill reads its 30 days).
//! 3. Overview (`/`), all 1,000 SLOs on one page: for each run a new
//!    Chromium (empty profile) opens it, the first visit, then opens it again,
//!    the repeat visit (stylesheet and script cached). Reports first
//!    contentful paint (`performance.getEntriesByName('first-contentful-paint')`),
//!    the server's answer time (navigation timing `responseStart`) and the
//!    page's size.
//! 4. Detail page of `s0000` over its 30-day window: the charts are SVG drawn
//!    by the server, so they are on screen with the page. Reports the
//!    answer time (the history query and the drawing), first contentful
//!    paint, and the load event's end (the document parsed and laid out,
//!    charts included), and checks that both charts hold a month of points.
//!
//! Knobs (environment): `BENCH_SLOS` (1000), `BENCH_RUNS` (5).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::process::ServerProcess;
use testkit::{BrowserOptions, Series, TestBrowser, TestDatabase, TestPrometheus};

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;
/// The SLO whose detail page is measured, with the whole window's history.
const DETAIL_ID: &str = "svc-00/s0000";
const DETAIL_PATH: &str = "/slos/svc-00%2Fs0000";

fn env_num(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        _ => default,
    }
}

fn log(msg: impl AsRef<str>) {
    println!("[ui bench] {}", msg.as_ref());
}

/// The request counters of SLO `i`, a sample a minute over `[from, to]`:
/// 5 to 24 requests a second, 0.05% errors, 5% during `incident`.
fn counters(i: usize, from: i64, to: i64, incident: Option<(i64, i64)>) -> [Series; 2] {
    let svc = format!("s{i:04}");
    let rps = 5.0 + (i % 20) as f64;
    let (mut ok, mut err, mut carry) = (0.0_f64, 0.0_f64, 0.0_f64);
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    let mut t = from;
    while t <= to {
        let ratio = match incident {
            Some((a, b)) if (a..b).contains(&t) => 0.05,
            _ => 0.0005,
        };
        let requests = rps * 60.0;
        let errors = requests * ratio + carry;
        carry = errors - errors.floor();
        err += errors.floor();
        ok += requests - errors.floor();
        good.push((t, ok));
        bad.push((t, err));
        t += MINUTE;
    }
    [
        Series::new(
            "http_requests_total",
            &[("svc", &svc), ("code", "200")],
            good,
        ),
        Series::new(
            "http_requests_total",
            &[("svc", &svc), ("code", "500")],
            bad,
        ),
    ]
}

async fn seed(prom: &TestPrometheus, slos: usize, end: i64) {
    let incident = (end - 3 * DAY, end - 3 * DAY + 120 * MINUTE);
    // A day at a time, oldest first.
    let start = end - 30 * DAY - 60 * MINUTE;
    let mut from = start;
    while from <= end {
        let to = (from + DAY - MINUTE).min(end);
        prom.remote_write(&counters(0, from, to, Some(incident)))
            .await;
        from = to + MINUTE;
    }
    let recent = end - 180 * MINUTE;
    for chunk in (1..slos).collect::<Vec<_>>().chunks(100) {
        let series: Vec<Series> = chunk
            .iter()
            .flat_map(|&i| counters(i, recent, end, None))
            .collect();
        prom.remote_write(&series).await;
    }
}

fn catalog(dir: &Path, slos: usize) {
    std::fs::write(
        dir.join("defaults.yaml"),
        "version: burnrate/v1\nkind: Defaults\nlabels: {env: bench}\nwindow: 30d\n",
    )
    .expect("write catalog");
    for (f, first) in (0..slos).step_by(100).enumerate() {
        let mut doc = format!("version: burnrate/v1\nservice: svc-{f:02}\nslos:\n");
        for i in first..(first + 100).min(slos) {
            let _ = write!(
                doc,
                "  - name: s{i:04}\n    objective: 99.9\n    indicator:\n      ratio:\n        \
                 errors: http_requests_total{{svc=\"s{i:04}\",code=\"500\"}}\n        \
                 total: http_requests_total{{svc=\"s{i:04}\"}}\n"
            );
        }
        std::fs::write(dir.join(format!("svc-{f:02}.yaml")), doc).expect("write catalog");
    }
}

/// The detail SLO's stored history, as `burnrate serve` would have written
/// it over the month: an evaluation every 30 minutes, run before serve
/// starts (the charts draw stored evaluations; a backfill stores none).
async fn seed_history(prom: &TestPrometheus, db: &TestDatabase, catalog_dir: &Path, end: i64) {
    use burnrate::prom::{Prometheus, PrometheusConfig};
    use burnrate::serve::runtime::{IngestSettings, Services, SloRuntime};
    use chrono::TimeZone;
    let catalog = burnrate::reload::load_catalog(&[catalog_dir.to_path_buf()])
        .unwrap_or_else(|e| panic!("bench catalog invalid: {e}"));
    let services = Services {
        prometheus: Prometheus::new(&PrometheusConfig::new(prom.url())).expect("client"),
        store: burnrate::store::Store::connect(db.url())
            .await
            .expect("store"),
        settings: IngestSettings::default(),
        alerting: burnrate::alerting::AlertingConfig::default()
            .start()
            .expect("alerting without Alertmanager"),
    };
    let slo = catalog
        .slos
        .into_iter()
        .find(|s| s.id.as_str() == DETAIL_ID)
        .expect("the detail SLO");
    let mut runtime = SloRuntime::claim(slo, &services).await.expect("lease");
    let step = 30 * MINUTE;
    let last = end - end.rem_euclid(step);
    for k in (0..30 * 48).rev() {
        let at = chrono::Utc
            .timestamp_millis_opt(last - k * step + 20_000)
            .unwrap();
        runtime.cycle(&services, at).await;
    }
}

/// Median, min and max.
fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

fn row(what: &str, values: &[f64], unit: &str) -> String {
    let (median, min, max) = summary(values);
    format!(
        "| {what} | {} | {median:.0} {unit} | {min:.0}–{max:.0} {unit} |",
        values.len()
    )
}

/// Navigation timing of the open page: answer start, load event end (ms
/// since navigation start) and the HTML's size in bytes.
async fn navigation(b: &TestBrowser) -> (f64, f64, f64) {
    for _ in 0..100 {
        let v = b
            .eval(
                "const n = performance.getEntriesByType('navigation')[0]; \
                 return n ? [n.responseStart, n.loadEventEnd, n.decodedBodySize] : null;",
            )
            .await;
        if let Some(a) = v.as_array() {
            let f = |i: usize| a[i].as_f64().unwrap_or(0.0);
            if f(1) > 0.0 {
                return (f(0), f(1), f(2));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no navigation timing with a load event end");
}

async fn open(b: &TestBrowser, url: &str) -> (f64, f64, f64, f64) {
    b.client
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    let fcp = b
        .first_contentful_paint()
        .await
        .unwrap_or_else(|| panic!("{url}: no first contentful paint"));
    let (answer, load, bytes) = navigation(b).await;
    (fcp, answer, load, bytes)
}

async fn wait_loaded(http: &reqwest::Client, base: &str, slos: usize) {
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let body: Option<Value> = match http
            .get(format!("{base}/api/v1/slos?limit=1000"))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => r.json().await.ok(),
            _ => None,
        };
        if let Some(body) = body {
            let items = body["items"].as_array().cloned().unwrap_or_default();
            let waiting = items
                .iter()
                .filter(|s| matches!(s["data_state"].as_str(), Some("pending" | "backfilling")))
                .count();
            let total = body["total"].as_u64().unwrap_or(0) as usize;
            let now = format!("{total} SLOs, {waiting} of the first page still loading");
            if now != last {
                log(format!("{now} ({:.0} s)", started.elapsed().as_secs_f64()));
                last = now;
            }
            if total == slos && waiting == 0 && items.len() == slos.min(1000) {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "burnrate did not load every SLO's history within 30 minutes: {last}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let chromium = testkit::process::find_binary("CHROMIUM_BIN", "chromium");
    let version = Command::new(&chromium)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cores} cores ({cpu}); {version}; load average {}",
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    )
}

async fn run(slos: usize, runs: usize) {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - MINUTE;
    let seeding = Instant::now();
    seed(&prom, slos, end).await;
    log(format!(
        "seeded {slos} SLOs in {:.0} s",
        seeding.elapsed().as_secs_f64()
    ));

    let dir = tempfile::Builder::new()
        .prefix("burnrate-ui-bench-")
        .tempdir()
        .expect("temp dir");
    // The log must not live under the catalog: serve reloads on any change there.
    let catalog_dir = dir.path().join("catalog");
    std::fs::create_dir(&catalog_dir).expect("create catalog dir");
    catalog(&catalog_dir, slos);
    let storing = Instant::now();
    seed_history(&prom, &db, &catalog_dir, end).await;
    log(format!(
        "stored 30 days of {DETAIL_ID}'s evaluations in {:.0} s",
        storing.elapsed().as_secs_f64()
    ));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_burnrate"));
    let listen = format!("127.0.0.1:{}", testkit::free_port());
    let args: Vec<OsString> = vec![
        "serve".into(),
        "--catalog".into(),
        catalog_dir.into(),
        "--prometheus-url".into(),
        prom.url().into(),
        "--database-url".into(),
        db.url().into(),
        "--listen".into(),
        listen.clone().into(),
        "--interval".into(),
        "1m".into(),
    ];
    let log_path = dir.path().join("burnrate.log");
    // Killed on drop, and with the bench if it dies.
    let mut burnrate = ServerProcess::new("burnrate serve", bin.clone(), args, log_path.clone());
    burnrate.spawn();
    log(format!(
        "burnrate serve: {} (log {})",
        bin.display(),
        log_path.display()
    ));
    let base = format!("http://{listen}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    burnrate
        .wait_ready(&http, &format!("{base}/healthz"), Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_loaded(&http, &base, slos).await;

    let overview = format!("{base}/");
    let (mut first, mut repeat, mut answer, mut size) = (vec![], vec![], vec![], 0.0);
    for _ in 0..runs {
        let b = TestBrowser::start(BrowserOptions::default()).await;
        let (fcp, ttfb, _, bytes) = open(&b, &overview).await;
        let rows = b
            .eval("return document.querySelectorAll('tr.row').length;")
            .await;
        assert_eq!(
            rows.as_u64(),
            Some(slos as u64),
            "the overview lists every SLO"
        );
        first.push(fcp);
        answer.push(ttfb);
        size = bytes;
        let (fcp, ttfb, _, _) = open(&b, &overview).await;
        repeat.push(fcp);
        answer.push(ttfb);
    }

    let detail = format!("{base}{DETAIL_PATH}");
    let (mut d_fcp, mut d_answer, mut d_load) = (vec![], vec![], vec![]);
    let b = TestBrowser::start(BrowserOptions::default()).await;
    let mut points = Vec::new();
    for _ in 0..runs {
        let (fcp, ttfb, load, _) = open(&b, &detail).await;
        d_fcp.push(fcp);
        d_answer.push(ttfb);
        d_load.push(load);
        let p = b
            .eval(
                "return ['#chart-budget', '#chart-burn'].map(c => Array.from(document.querySelectorAll(c + ' polyline')) \
                 .map(p => p.points.numberOfItems).reduce((a, b) => a + b, 0));",
            )
            .await;
        points = p
            .as_array()
            .expect("point counts")
            .iter()
            .map(|v| v.as_u64().unwrap_or(0))
            .collect();
    }
    let heading = b
        .eval("return document.querySelector('h1').textContent;")
        .await;
    assert_eq!(heading.as_str(), Some(DETAIL_ID));
    assert!(
        points.iter().all(|&p| p >= 300),
        "the detail charts should hold 30 days of points: {points:?}"
    );
    drop(b);
    burnrate.kill();

    println!();
    println!("machine: {}", machine());
    println!(
        "overview: {slos} SLOs, {:.0} kB of HTML; detail: {DETAIL_ID}, 30-day window, {} and {} points drawn",
        size / 1e3,
        points.first().copied().unwrap_or(0),
        points.get(1).copied().unwrap_or(0)
    );
    println!();
    println!("| measure | runs | median | range |");
    println!("|---|---|---|---|");
    println!(
        "{}",
        row(
            "overview, first visit: first contentful paint",
            &first,
            "ms"
        )
    );
    println!(
        "{}",
        row(
            "overview, repeat visit: first contentful paint",
            &repeat,
            "ms"
        )
    );
    println!(
        "{}",
        row(
            "overview: server's answer starts (all visits)",
            &answer,
            "ms"
        )
    );
    println!(
        "{}",
        row("detail, 30 days: server's answer starts", &d_answer, "ms")
    );
    println!(
        "{}",
        row("detail, 30 days: first contentful paint", &d_fcp, "ms")
    );
    println!(
        "{}",
        row(
            "detail, 30 days: load event end (charts drawn)",
            &d_load,
            "ms"
        )
    );
}

fn main() {
    let slos = env_num("BENCH_SLOS", 1000).max(1);
    let runs = env_num("BENCH_RUNS", 5).max(1);
    log(format!("{slos} SLOs, {runs} runs"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(slos, runs));
}
