//! HTTP API throughput and latency with 1,000 SLOs, measured with wrk on
//! loopback against the real `burnrate serve` (scheduler running, real
//! Prometheus seeded by remote write, real PostgreSQL).
//!
//! Run through `bash benches/http.sh` (it installs wrk and Prometheus, starts
//! a throwaway PostgreSQL and sets the environment); without DATABASE_URL this
//! prints how to run it and exits.
//!
//! Environment: WRK_DURATION (default 20s), WRK_CONNECTIONS (default 32),
//! WRK_THREADS (default 2).

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use burnrate::api::ApiSettings;
use burnrate::prom::PrometheusConfig;
use burnrate::serve::runtime::IngestSettings;
use burnrate::serve::{App, ServeSettings};
use support::{Series, TestDatabase, TestPrometheus, now_ms};
use testkit as support;

const SERVICES: usize = 10;
const PER_SERVICE: usize = 100;
const MINUTE: i64 = 60_000;

fn catalog(dir: &std::path::Path) {
    for s in 0..SERVICES {
        let mut text = format!(
            "version: burnrate/v1\nservice: svc-{s:02}\nlabels: {{team: team-{}}}\nslos:\n",
            s % 3
        );
        for i in 0..PER_SERVICE {
            let _ = write!(
                text,
                "  - name: slo-{i:03}\n    objective: 99.9\n    window: 30d\n    indicator:\n      ratio:\n        errors: bench_requests_total{{service=\"svc-{s:02}\",slo=\"slo-{i:03}\",code=\"500\"}}\n        total: bench_requests_total{{service=\"svc-{s:02}\",slo=\"slo-{i:03}\"}}\n"
            );
        }
        std::fs::write(dir.join(format!("svc-{s:02}.yaml")), text).expect("write catalog");
    }
}

/// Two hours at a 30 s scrape (and 30 minutes ahead, so short windows keep
/// data while the benchmark runs); every 50th SLO has no data, every 7th
/// burns its budget fast.
fn series(end: i64) -> Vec<Series> {
    let times: Vec<i64> = (0..=300).map(|k| end - 120 * MINUTE + k * 30_000).collect();
    let mut out = Vec::new();
    for s in 0..SERVICES {
        for i in 0..PER_SERVICE {
            let n = s * PER_SERVICE + i;
            if n % 50 == 49 {
                continue;
            }
            let bad_per_scrape = if n.is_multiple_of(7) { 5.0 } else { 0.02 };
            let (svc, slo) = (format!("svc-{s:02}"), format!("slo-{i:03}"));
            for (code, per) in [("200", 100.0), ("500", bad_per_scrape)] {
                out.push(Series::new(
                    "bench_requests_total",
                    &[("service", &svc), ("slo", &slo), ("code", code)],
                    times.iter().enumerate().map(|(k, &t)| (t, k as f64 * per)),
                ));
            }
        }
    }
    out
}

struct Wrk {
    requests_per_s: f64,
    p50: String,
    p99: String,
    transfer: String,
}

fn wrk(url: &str, token: &str, light: bool) -> (String, Wrk) {
    let duration = std::env::var("WRK_DURATION").unwrap_or_else(|_| "20s".into());
    let (connections, threads) = if light {
        ("4".to_string(), "1".to_string())
    } else {
        (
            std::env::var("WRK_CONNECTIONS").unwrap_or_else(|_| "32".into()),
            std::env::var("WRK_THREADS").unwrap_or_else(|_| "2".into()),
        )
    };
    let args = [
        format!("-t{threads}"),
        format!("-c{connections}"),
        format!("-d{duration}"),
        "--latency".to_string(),
        "-H".to_string(),
        format!("Authorization: Bearer {token}"),
        url.to_string(),
    ];
    let shown = format!(
        "wrk -t{threads} -c{connections} -d{duration} --latency -H 'Authorization: Bearer $TOKEN' {url}"
    );
    let out = Command::new("wrk")
        .args(&args)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_string()))
            .unwrap_or_default()
    };
    let result = Wrk {
        requests_per_s: field("Requests/sec:").parse().unwrap_or(0.0),
        p50: field("50%"),
        p99: field("99%"),
        transfer: field("Transfer/sec:"),
    };
    eprintln!("{shown}\n{text}");
    (shown, result)
}

fn main() {
    if std::env::var_os("DATABASE_URL").is_none() {
        eprintln!(
            "http_api: skipped (needs PostgreSQL and Prometheus): run `bash benches/http.sh`"
        );
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let token = "bench-read-token";
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = now_ms() / MINUTE * MINUTE;
    let started = Instant::now();
    prom.remote_write(&series(end)).await;
    eprintln!(
        "seeded Prometheus in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    catalog(dir.path());
    let settings = ServeSettings {
        catalog: vec![dir.path().to_path_buf()],
        promql_dialect: Default::default(),
        prometheus: PrometheusConfig::new(prom.url()),
        database_url: burnrate::secret::Secret::new(db.url()),
        listen: "127.0.0.1:0".parse().unwrap(),
        interval: burnrate::duration::Duration::from_mins(1),
        concurrency: 8,
        backfill_concurrency: 2,
        ingest: IngestSettings {
            // One backfill query per SLO: the seeded data is recent.
            chunk: burnrate::duration::Duration::from_days(31),
            ..IngestSettings::default()
        },
        watch_interval: Duration::from_secs(3600),
        lease_ttl: None,
        api: ApiSettings {
            tokens: burnrate::api::Tokens {
                read: Some(burnrate::secret::Secret::new(token)),
                write: None,
            },
            ..ApiSettings::default()
        },
        alerting: Default::default(),
    };
    let app = App::build(settings).await.expect("App::build");
    let addr = app.local_addr();
    let state = app.state();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let started = Instant::now();
    while !state.evaluated() {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no evaluation within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first = state.snapshot();
    eprintln!(
        "first cycle (with backfill): {} instances in {:.1} s",
        first.instances.len(),
        first.cycle_duration.as_secs_f64()
    );
    assert_eq!(first.instances.len(), SERVICES * PER_SERVICE);
    // Wait for a steady-state cycle, so its duration is known; the next one
    // runs while wrk measures, as it would in production.
    while std::sync::Arc::ptr_eq(&first, &state.snapshot()) {
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "no second cycle"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let steady = state.snapshot().cycle_duration;
    eprintln!("steady-state cycle: {:.1} s", steady.as_secs_f64());
    let base = format!("http://{addr}");
    let one = format!("{base}/api/v1/slos/svc-04%2Fslo-042");
    let targets = [
        ("GET /api/v1/slos/{id}", one.clone(), true),
        ("GET /api/v1/slos/{id}", one, false),
        (
            "GET /api/v1/slos (first page, 100 items)",
            format!("{base}/api/v1/slos"),
            true,
        ),
        (
            "GET /api/v1/slos (first page, 100 items)",
            format!("{base}/api/v1/slos"),
            false,
        ),
        (
            "GET /api/v1/slos?limit=1000 (all 1,000)",
            format!("{base}/api/v1/slos?limit=1000"),
            false,
        ),
        (
            "GET /api/v1/slos?service=svc-04&alert_state=firing",
            format!("{base}/api/v1/slos?service=svc-04&alert_state=firing"),
            false,
        ),
        (
            "GET /api/v1/gate?service=svc-04",
            format!("{base}/api/v1/gate?service=svc-04"),
            false,
        ),
        ("GET /metrics", format!("{base}/metrics"), false),
    ];
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let load_before = load();
    let mut table = String::from(
        "| request | connections | requests/s | p50 | p99 | transfer/s |\n|---|---|---|---|---|---|\n",
    );
    let mut commands = Vec::new();
    for (name, url, light) in &targets {
        let (shown, r) = tokio::task::block_in_place(|| wrk(url, token, *light));
        let connections = shown
            .split(" -c")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap_or("?");
        let _ = writeln!(
            table,
            "| `{name}` | {connections} | {:.0} | {} | {} | {} |",
            r.requests_per_s, r.p50, r.p99, r.transfer
        );
        commands.push(shown);
    }
    let cycle = steady;
    println!("load average before / after: {load_before} / {}", load());
    println!("\n{table}");
    println!("commands:\n{}", commands.join("\n"));
    println!(
        "steady-state evaluation cycle of the 1,000 SLOs (one ran alongside wrk): {:.2} s",
        cycle.as_secs_f64()
    );
    let _ = tx.send(());
    let _ = server.await;
}
