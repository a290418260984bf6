//! What one more query costs a real Prometheus, in series: the break-even
//! behind `SERIES_PER_QUERY` in `src/ingest/fanin.rs`.
//!
//! A union query replaces several selector reads with one; if it returns
//! series no member uses, Prometheus reads them for nothing. It pays while
//! the unused series cost less than the queries it saves. This program
//! measures both costs the way a steady cycle reads (an instant query of
//! `selector[3m]` on one-minute data, several at a time):
//!
//! 1. remote-writes `bench_fanin_total{id, g10, g100, g1000}` for
//!    `BENCH_SERIES` (20,000) series, ten one-minute samples each, into a
//!    fresh Prometheus; `gN` groups the series N at a time;
//! 2. runs queries that each return n series (`{id=".."}` for n = 1,
//!    `{gN=".."}` for n = N), each class a few rounds, interleaved, with
//!    `BENCH_CONCURRENCY` (4) in flight, and takes Prometheus's CPU seconds
//!    (from `/proc/PID/stat`) per query of each class;
//! 3. fits cost(n) = a + b·n by least squares (weighted by 1/cost², the
//!    classes differing 100-fold) and reports a / b: how many
//!    returned series cost Prometheus as much as one more query. A union
//!    of m members pays while it returns fewer than (m - 1)·a/b unused
//!    series. It also compares, directly, one query returning n series
//!    with n queries returning one each.
//!
//! Run it with `bash benches/fanin_threshold.sh`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{Series, TestPrometheus};
use testkit as support;

fn env_num(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        _ => default,
    }
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    let rest = &stat[stat.rfind(')').expect("stat has a command") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields[11].parse().expect("utime");
    let stime: f64 = fields[12].parse().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (utime + stime) / ticks
}

/// The pid of the process whose command line contains `marker`.
fn find_pid(marker: &str) -> u32 {
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            return pid;
        }
    }
    panic!("no process with `{marker}` in its command line");
}

fn log(msg: impl AsRef<str>) {
    println!("{}", msg.as_ref());
    let _ = std::io::stdout().flush();
}

/// Runs `queries` at `time_s`, `concurrency` at a time; returns the series
/// they returned in all.
async fn run_queries(
    client: &reqwest::Client,
    url: &str,
    queries: Arc<Vec<String>>,
    time_s: f64,
    concurrency: usize,
) -> usize {
    let next = Arc::new(AtomicUsize::new(0));
    let returned = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url) = (client.clone(), url.to_string());
        let (queries, next, returned) = (
            Arc::clone(&queries),
            Arc::clone(&next),
            Arc::clone(&returned),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(q) = queries.get(i) else { break };
                let data = support::http::try_query(&client, &url, q, time_s)
                    .await
                    .unwrap_or_else(|e| panic!("{e:#}"));
                let n = data["result"].as_array().map_or(0, Vec::len);
                returned.fetch_add(n, Ordering::Relaxed);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("query task");
    }
    returned.load(Ordering::Relaxed)
}

fn main() {
    let series = env_num("BENCH_SERIES", 20_000);
    let concurrency = env_num("BENCH_CONCURRENCY", 4).max(1);
    let rounds = env_num("BENCH_ROUNDS", 3).max(1);
    assert!(series >= 10_000, "BENCH_SERIES must be at least 10000");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(series, concurrency, rounds));
}

async fn run(series: usize, concurrency: usize, rounds: usize) {
    let prom = TestPrometheus::builder().start().await;
    let url = prom.url();
    let pid = find_pid(&format!(
        "--storage.tsdb.path={}",
        prom.data_dir().display()
    ));
    let client = support::http::client();

    // Ten one-minute samples per series, ending now.
    let now_s = support::now_ms() / 1000 / 60 * 60;
    let batch = 2_000;
    for start in (0..series).step_by(batch) {
        let chunk: Vec<Series> = (start..(start + batch).min(series))
            .map(|i| {
                let (id, g10, g100, g1000) = (
                    format!("{i:06}"),
                    format!("{:05}", i / 10),
                    format!("{:04}", i / 100),
                    format!("{:03}", i / 1000),
                );
                let samples = (0..10).map(|k| {
                    let t = now_s - (9 - k) * 60 - (i % 20) as i64;
                    (t * 1000, (k * 60 * (1 + i % 7) as i64) as f64)
                });
                Series::new(
                    "bench_fanin_total",
                    &[
                        ("id", &id),
                        ("g10", &g10),
                        ("g100", &g100),
                        ("g1000", &g1000),
                    ],
                    samples,
                )
            })
            .collect();
        support::remote_write::try_remote_write(&client, &url, &chunk)
            .await
            .unwrap_or_else(|e| panic!("remote write: {e:#}"));
    }
    let at_s = now_s as f64 + 1.0;
    let check = support::http::try_query(&client, &url, "count(bench_fanin_total)", at_s)
        .await
        .expect("count query");
    log(format!(
        "fanin_threshold: {series} series written, count = {}, Prometheus pid {pid}, {concurrency} queries in flight, {rounds} rounds",
        check["result"][0]["value"][1].as_str().unwrap_or("none")
    ));

    // (series per query, queries per round): about the same number of
    // series per class, and at least 20 queries.
    let classes: [(usize, usize); 4] = [(1, 10_000), (10, 4_000), (100, 800), (1000, 80)];
    let mut per_class: BTreeMap<usize, (f64, usize, usize, Duration)> = BTreeMap::new();
    let mut offset = 0usize;
    for round in 0..rounds {
        for &(n, count) in &classes {
            let groups = series / n;
            let queries: Vec<String> = (0..count)
                .map(|k| {
                    let g = (k * 7919 + offset) % groups;
                    match n {
                        1 => format!("bench_fanin_total{{id=\"{g:06}\"}}[3m]"),
                        10 => format!("bench_fanin_total{{g10=\"{g:05}\"}}[3m]"),
                        100 => format!("bench_fanin_total{{g100=\"{g:04}\"}}[3m]"),
                        _ => format!("bench_fanin_total{{g1000=\"{g:03}\"}}[3m]"),
                    }
                })
                .collect();
            offset += 131;
            let cpu0 = cpu_seconds(pid);
            let started = Instant::now();
            let returned = run_queries(&client, &url, Arc::new(queries), at_s, concurrency).await;
            let wall = started.elapsed();
            let cpu = cpu_seconds(pid) - cpu0;
            assert_eq!(
                returned,
                n * count,
                "queries of {n} series returned {returned} series in all, expected {}",
                n * count
            );
            log(format!(
                "round {round}: {count} queries of {n} series: Prometheus CPU {cpu:.2} s, {:.2} s wall, {:.3} ms CPU per query",
                wall.as_secs_f64(),
                cpu / count as f64 * 1e3
            ));
            let e = per_class.entry(n).or_default();
            e.0 += cpu;
            e.1 += count;
            e.2 += returned;
            e.3 += wall;
        }
    }

    // cost(n) = a + b·n, least squares over the classes' per-query CPU,
    // weighted by 1/cost² (relative errors: the classes differ 100-fold).
    let points: Vec<(f64, f64)> = per_class
        .iter()
        .map(|(&n, &(cpu, queries, _, _))| (n as f64, cpu / queries as f64))
        .collect();
    let w: Vec<f64> = points.iter().map(|(_, y)| 1.0 / (y * y)).collect();
    let sw: f64 = w.iter().sum();
    let mx = points.iter().zip(&w).map(|((x, _), w)| w * x).sum::<f64>() / sw;
    let my = points.iter().zip(&w).map(|((_, y), w)| w * y).sum::<f64>() / sw;
    let sxx: f64 = points
        .iter()
        .zip(&w)
        .map(|((x, _), w)| w * (x - mx) * (x - mx))
        .sum();
    let sxy: f64 = points
        .iter()
        .zip(&w)
        .map(|((x, y), w)| w * (x - mx) * (y - my))
        .sum();
    let b = sxy / sxx;
    let a = my - b * mx;
    let one = points[0].1;

    println!(
        "\n=== fanin_threshold: {series} series, {concurrency} in flight, {rounds} rounds, load {} ===\n",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "| series per query | queries | Prometheus CPU per query | per series returned | n single-series queries instead |\n|---|---|---|---|---|"
    );
    for (&n, &(cpu, queries, returned, _)) in &per_class {
        let per_query = cpu / queries as f64;
        println!(
            "| {n} | {queries} | {:.3} ms | {:.4} ms | {:.3} ms ({:.1}x) |",
            per_query * 1e3,
            cpu / returned as f64 * 1e3,
            one * n as f64 * 1e3,
            one * n as f64 / per_query
        );
    }
    println!(
        "| **fit: cost(n) = a + b·n** | a = {:.3} ms per query, b = {:.4} ms per series | **a / b = {:.0} series per query** | | |",
        a * 1e3,
        b * 1e3,
        a / b
    );
    drop(prom);
}
