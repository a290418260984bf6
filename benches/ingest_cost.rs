//! Ingestion cost of `burnrate serve` for 1,000 SLOs against a real local
//! Prometheus seeded with 30 days of history, next to the cost of evaluating
//! the same SLOs with full-window PromQL (what Pyrra and slo-generator do).
//!
//! Run it with `benches/ingest_cost.sh` (installs and starts Prometheus and a
//! throwaway PostgreSQL, like scripts/test.sh), or directly with
//! `cargo bench --bench ingest_cost` when `PROMTOOL_BIN`, `PROMETHEUS_BIN`
//! (or both on PATH) and `DATABASE_URL` are set.
//!
//! What it does:
//! 1. Writes `http_requests_total{svc="sNNNN",code="200"|"500"}` for every SLO
//!    (diurnal traffic, a weekly 30-minute incident per SLO), one sample per
//!    series per scrape interval, for the SLO window plus 2 hours, as
//!    OpenMetrics files (one per 720h-aligned block range) and turns them
//!    into TSDB blocks with `promtool tsdb create-blocks-from openmetrics
//!    --max-block-duration=720h`. Prometheus starts on those blocks; from
//!    then on the same generator keeps remote-writing one sample per series
//!    per scrape interval, so "now" always has data.
//!    With `BENCH_SHAPE=shared` the data are instead 25 routes per service
//!    (20 services for 1,000 SLOs, 200 for 10,000), five series per route:
//!    `http_requests_total{service,route,code="200"|"500"}`,
//!    `http_request_duration_seconds_bucket{service,route,le="0.5"|"+Inf"}`
//!    and `http_request_duration_seconds_count{service,route}` (the same
//!    diurnal traffic and weekly error incident, plus a weekly 45-minute
//!    slowdown with 20% of requests over 0.5 s).
//! 2. Generates a catalog of one native ratio SLO per `svc` (30d window) and
//!    runs the release `burnrate serve --interval 1m` binary on it with a
//!    fresh PostgreSQL database; the first cycle starts the backfill, which
//!    runs beside the cycles until burnrate logs `backfill done`. In the
//!    shared shape, per route an availability SLO (errors `code=~"5.."`)
//!    and a latency SLO (threshold 500ms): every SLO on three metric names,
//!    which burnrate reads with one union query per metric and span.
//! 3. Measures steady cycles: wall time (the `cycle done` log line), the CPU
//!    seconds Prometheus and burnrate spent from the cycle's tick to that
//!    line (from /proc/PID/stat, sampled every 100 ms, and for Prometheus
//!    also the threads' run time from /proc/PID/task/*/schedstat, to the
//!    nanosecond: a steady cycle costs Prometheus a few 10 ms ticks),
//!    Prometheus queries and PostgreSQL transactions per cycle.
//! 4. PostgreSQL bytes per SLO instance; burnrate's resident memory.
//! 5. Stops burnrate, then evaluates the same SLOs by full-window PromQL at
//!    the time of burnrate's last evaluation: per SLO `sum(increase(..[w]))`
//!    of errors and of total for w = 30d and each alert window (5m, 30m, 1h,
//!    2h, 6h, 1d, 3d), 4 queries at a time, measuring Prometheus CPU and
//!    wall time; and checks burnrate's 30-day counts against the 30-day
//!    `increase()` results.
//!
//! Knobs (environment): `BENCH_SLOS` (1000), `BENCH_DAYS` (30, the SLO window
//! and the seeded history), `BENCH_SCRAPE_SECONDS` (60), `BENCH_STEADY_CYCLES`
//! (3), `BENCH_PROMQL_CONCURRENCY` (4), `BENCH_BURNRATE_CONCURRENCY` (the
//! serve default, 8), `BENCH_SHAPE` (`independent`, the default, or
//! `shared`), `BENCH_PROMQL_SLOS` (all: full-window PromQL for an even
//! sample of that many SLOs, its CPU scaled up to all of them in the ratio).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One series' samples: (timestamp in ms, value).
type SeriesSamples = Vec<(i64, f64)>;

use serde_json::Value;
use support::{Series, TestDatabase, TestPrometheus};
use testkit as support;

/// promtool's block range: blocks never straddle a multiple of this.
const BLOCK_RANGE_S: i64 = 720 * 3600;
/// Scrape timestamps of SLO `i` are `step + offset(i)`, offsets below this.
const MAX_OFFSET_S: i64 = 20;
/// The scheduler's settle delay after each interval boundary (scheduler.rs).
const SETTLE_MS: i64 = 5_000;
const INTERVAL_MS: i64 = 60_000;
const ALERT_WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

struct Config {
    shape: Shape,
    slos: usize,
    /// SLOs evaluated by full-window PromQL (all when 0 or more than `slos`).
    promql_slos: usize,
    days: i64,
    scrape_s: i64,
    steady_cycles: usize,
    promql_concurrency: usize,
    burnrate_concurrency: Option<usize>,
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        _ => default,
    }
}

impl Config {
    fn from_env() -> Self {
        let slos = env_num("BENCH_SLOS", 1000);
        let promql_slos = env_num("BENCH_PROMQL_SLOS", 0usize);
        let cfg = Config {
            shape: Shape::from_env(),
            slos,
            promql_slos: if promql_slos == 0 {
                slos
            } else {
                promql_slos.min(slos)
            },
            days: env_num("BENCH_DAYS", 30),
            scrape_s: env_num("BENCH_SCRAPE_SECONDS", 60),
            steady_cycles: env_num("BENCH_STEADY_CYCLES", 3usize).max(1),
            promql_concurrency: env_num("BENCH_PROMQL_CONCURRENCY", 4usize).max(1),
            burnrate_concurrency: std::env::var("BENCH_BURNRATE_CONCURRENCY")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
        };
        assert!(
            cfg.scrape_s > MAX_OFFSET_S && 3600 % cfg.scrape_s == 0,
            "BENCH_SCRAPE_SECONDS must divide an hour and exceed {MAX_OFFSET_S}"
        );
        assert!(
            (3..=55).contains(&cfg.days),
            "BENCH_DAYS must be 3..=55 (the 3d alert window; Prometheus keeps 60 days)"
        );
        cfg
    }
}

fn now_ms() -> i64 {
    support::now_ms()
}

fn log(msg: impl AsRef<str>) {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    println!(
        "[{:02}:{:02}:{:02}] {}",
        (t / 3600) % 24,
        (t / 60) % 60,
        t % 60,
        msg.as_ref()
    );
    let _ = std::io::stdout().flush();
}

// ------------------------------------------------------------- the data --

/// What the catalog looks like.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// One ratio SLO per `svc`, each on its own two series.
    Independent,
    /// Services with 25 routes each; per route an availability SLO on
    /// `http_requests_total{service,route,code}` and a latency SLO on
    /// `http_request_duration_seconds_bucket{service,route,le}` / `_count`:
    /// every SLO on the same three metric names.
    Shared,
}

/// Routes per service in the shared shape.
const ROUTES_PER_SERVICE: usize = 25;

impl Shape {
    fn from_env() -> Self {
        match std::env::var("BENCH_SHAPE").as_deref().map(str::trim) {
            Err(_) | Ok("") | Ok("independent") => Shape::Independent,
            Ok("shared") => Shape::Shared,
            Ok(other) => panic!("BENCH_SHAPE={other}: expected `independent` or `shared`"),
        }
    }

    /// Data units (a `svc`, or a route) for `slos` SLOs.
    fn units(self, slos: usize) -> usize {
        match self {
            Shape::Independent => slos,
            Shape::Shared => slos.div_ceil(2),
        }
    }

    /// Series per unit.
    fn series_per_unit(self) -> usize {
        match self {
            Shape::Independent => 2,
            // requests 200 and 500; buckets le="0.5" and le="+Inf"; _count.
            Shape::Shared => 5,
        }
    }
}

/// The service and route of unit `i` in the shared shape.
fn service_route(i: usize) -> (String, String) {
    (
        format!("svc{:03}", i / ROUTES_PER_SERVICE),
        format!("/r{:02}", i % ROUTES_PER_SERVICE),
    )
}

/// Deterministic request counters for every unit, advanced one scrape at a time.
struct Traffic {
    shape: Shape,
    units: usize,
    scrape_s: i64,
    /// Timestamp (s) of the next scrape step to produce.
    next_step_s: i64,
    ok: Vec<u64>,
    err: Vec<u64>,
    /// Requests slower than 0.5 s (shared shape).
    slow: Vec<u64>,
    /// Fractional errors (slow requests) carried to the next scrape, so counts stay integers.
    err_frac: Vec<f64>,
    slow_frac: Vec<f64>,
}

/// One unit's counters at a scrape.
#[derive(Clone, Copy)]
struct Counts {
    ok: u64,
    err: u64,
    slow: u64,
}

impl Traffic {
    fn new(shape: Shape, units: usize, scrape_s: i64, first_step_s: i64) -> Self {
        Traffic {
            shape,
            units,
            scrape_s,
            next_step_s: first_step_s,
            ok: vec![0; units],
            err: vec![0; units],
            slow: vec![0; units],
            err_frac: vec![0.0; units],
            slow_frac: vec![0.0; units],
        }
    }

    fn svc(i: usize) -> String {
        format!("s{i:04}")
    }

    /// Seconds after the step at which unit `i`'s target is scraped.
    fn offset_s(i: usize) -> i64 {
        (i as i64 * 7) % MAX_OFFSET_S
    }

    /// Requests per second: 2..21 at peak, a daily cycle between 30% and 100%.
    fn rate(i: usize, t: i64) -> f64 {
        let peak = 2.0 + (i % 20) as f64;
        let phase = ((t + i as i64 * 977).rem_euclid(86_400)) as f64 / 86_400.0;
        peak * (0.65 + 0.35 * (2.0 * std::f64::consts::PI * phase).sin())
    }

    /// 0.05% errors, 5% during a weekly 30-minute incident (different per unit).
    fn error_ratio(i: usize, t: i64) -> f64 {
        let minute_of_week = (t / 60 + i as i64 * 131).rem_euclid(7 * 1440);
        if minute_of_week < 30 { 0.05 } else { 0.0005 }
    }

    /// 0.5% of requests slower than 0.5 s, 20% during a weekly 45-minute
    /// slowdown (at another time than the error incident).
    fn slow_ratio(i: usize, t: i64) -> f64 {
        let minute_of_week = (t / 60 + i as i64 * 173 + 3 * 1440).rem_euclid(7 * 1440);
        if minute_of_week < 45 { 0.2 } else { 0.005 }
    }

    /// Advances every counter by one scrape; calls `emit(i, ts_s, counts)`.
    fn step(&mut self, mut emit: impl FnMut(usize, i64, Counts)) {
        let t = self.next_step_s;
        for i in 0..self.units {
            let ts = t + Self::offset_s(i);
            let requests = (Self::rate(i, ts) * self.scrape_s as f64).round();
            let errors = requests * Self::error_ratio(i, ts) + self.err_frac[i];
            let whole = errors.floor();
            self.err_frac[i] = errors - whole;
            self.err[i] += whole as u64;
            self.ok[i] += (requests - whole) as u64;
            if self.shape == Shape::Shared {
                let slow = requests * Self::slow_ratio(i, ts) + self.slow_frac[i];
                let whole = slow.floor().min(requests);
                self.slow_frac[i] = slow - whole;
                self.slow[i] += whole as u64;
            }
            emit(
                i,
                ts,
                Counts {
                    ok: self.ok[i],
                    err: self.err[i],
                    slow: self.slow[i],
                },
            );
        }
        self.next_step_s += self.scrape_s;
    }

    /// Calls `f(metric, labels, value)` for each series of unit `i`.
    fn series_of(shape: Shape, i: usize, c: Counts, mut f: impl FnMut(&str, &[(&str, &str)], u64)) {
        match shape {
            Shape::Independent => {
                let svc = Self::svc(i);
                f(
                    "http_requests_total",
                    &[("svc", &svc), ("code", "200")],
                    c.ok,
                );
                f(
                    "http_requests_total",
                    &[("svc", &svc), ("code", "500")],
                    c.err,
                );
            }
            Shape::Shared => {
                let (service, route) = service_route(i);
                let (s, r) = (service.as_str(), route.as_str());
                let total = c.ok + c.err;
                let requests = "http_requests_total";
                f(
                    requests,
                    &[("service", s), ("route", r), ("code", "200")],
                    c.ok,
                );
                f(
                    requests,
                    &[("service", s), ("route", r), ("code", "500")],
                    c.err,
                );
                let bucket = "http_request_duration_seconds_bucket";
                let fast = total - c.slow;
                f(bucket, &[("service", s), ("route", r), ("le", "0.5")], fast);
                f(
                    bucket,
                    &[("service", s), ("route", r), ("le", "+Inf")],
                    total,
                );
                f(
                    "http_request_duration_seconds_count",
                    &[("service", s), ("route", r)],
                    total,
                );
            }
        }
    }

    /// Every step whose scrapes all lie before `now_s`, as remote-write series.
    fn due_series(&mut self, now_s: i64) -> Vec<Series> {
        let mut samples: Vec<Vec<(i64, Counts)>> = vec![Vec::new(); self.units];
        while self.next_step_s + MAX_OFFSET_S <= now_s {
            self.step(|i, ts, c| samples[i].push((ts * 1000, c)));
        }
        if samples.first().is_none_or(Vec::is_empty) {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(self.shape.series_per_unit() * self.units);
        for (i, unit) in samples.into_iter().enumerate() {
            // (metric, labels, samples) of each of the unit's series.
            type Labelled = (String, Vec<(String, String)>, SeriesSamples);
            let mut per_series: Vec<Labelled> = Vec::new();
            for &(ts, c) in &unit {
                let mut k = 0;
                Self::series_of(self.shape, i, c, |metric, labels, value| {
                    if per_series.len() <= k {
                        let labels = labels
                            .iter()
                            .map(|(a, b)| (a.to_string(), b.to_string()))
                            .collect();
                        per_series.push((metric.to_string(), labels, Vec::new()));
                    }
                    per_series[k].2.push((ts, value as f64));
                    k += 1;
                });
            }
            for (metric, labels, samples) in per_series {
                let labels: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                out.push(Series::new(&metric, &labels, samples));
            }
        }
        out
    }

    /// One OpenMetrics line per series of unit `i` at `ts` into `line`.
    fn openmetrics(shape: Shape, i: usize, ts: i64, c: Counts, line: &mut String) {
        Self::series_of(shape, i, c, |metric, labels, value| {
            line.push_str(metric);
            line.push('{');
            for (k, (name, v)) in labels.iter().enumerate() {
                if k > 0 {
                    line.push(',');
                }
                let _ = write!(line, "{name}=\"{v}\"");
            }
            let _ = writeln!(line, "}} {value} {ts}");
        });
    }
}

struct Seeded {
    traffic: Traffic,
    blocks: tempfile::TempDir,
    samples: u64,
    generate: Duration,
    promtool: Duration,
}

/// Writes the history up to `end_s` as OpenMetrics files, one per block
/// range, and runs promtool on each as soon as it is complete.
fn seed(cfg: &Config, end_s: i64) -> Seeded {
    let promtool = support::process::find_binary("PROMTOOL_BIN", "promtool");
    let blocks = tempfile::Builder::new()
        .prefix("burnrate-bench-blocks-")
        .tempdir()
        .expect("temp dir");
    let history_s = cfg.days * 86_400 + 2 * 3600;
    let mut first = end_s - history_s;
    first -= first.rem_euclid(cfg.scrape_s);
    let units = cfg.shape.units(cfg.slos);
    let series = (cfg.shape.series_per_unit() * units) as u64;
    let mut traffic = Traffic::new(cfg.shape, units, cfg.scrape_s, first);
    let started = Instant::now();
    let mut files: BTreeMap<i64, (PathBuf, BufWriter<std::fs::File>)> = BTreeMap::new();
    let mut jobs: Vec<(PathBuf, Child)> = Vec::new();
    let mut samples = 0u64;
    let mut line = String::with_capacity(96);
    let finish = |range: i64,
                  (path, mut w): (PathBuf, BufWriter<std::fs::File>),
                  jobs: &mut Vec<(PathBuf, Child)>| {
        w.write_all(b"# EOF\n").expect("write openmetrics");
        w.flush().expect("flush openmetrics");
        drop(w);
        let out = blocks.path().join(format!("out-{range}"));
        let child = Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg("--max-block-duration=720h")
            .arg(&path)
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", promtool.display()));
        log(format!(
            "promtool started on {} ({} MB)",
            path.display(),
            std::fs::metadata(&path).map_or(0, |m| m.len() >> 20)
        ));
        jobs.push((path, child));
    };
    while traffic.next_step_s + MAX_OFFSET_S < end_s {
        let t = traffic.next_step_s;
        // A block range is complete once every later scrape lies beyond it.
        let complete: Vec<i64> = files
            .keys()
            .copied()
            .filter(|r| (r + 1) * BLOCK_RANGE_S <= t)
            .collect();
        for r in complete {
            let file = files.remove(&r).expect("file");
            finish(r, file, &mut jobs);
        }
        let shape = traffic.shape;
        traffic.step(|i, ts, c| {
            let range = ts.div_euclid(BLOCK_RANGE_S);
            let (_, w) = files.entry(range).or_insert_with(|| {
                let path = blocks.path().join(format!("history-{range}.om"));
                let f = std::fs::File::create(&path).expect("create openmetrics file");
                (path, BufWriter::with_capacity(8 << 20, f))
            });
            line.clear();
            Traffic::openmetrics(shape, i, ts, c, &mut line);
            w.write_all(line.as_bytes()).expect("write openmetrics");
        });
        samples += series;
    }
    for (r, file) in std::mem::take(&mut files) {
        finish(r, file, &mut jobs);
    }
    let gen_done = started.elapsed();
    for (path, child) in jobs {
        let out = child.wait_with_output().expect("wait for promtool");
        assert!(
            out.status.success(),
            "promtool failed on {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_file(&path);
    }
    let total = started.elapsed();
    log(format!(
        "seeded {samples} samples ({series} series) in {:.0} s: generation {:.0} s, promtool until {:.0} s",
        total.as_secs_f64(),
        gen_done.as_secs_f64(),
        total.as_secs_f64()
    ));
    Seeded {
        traffic,
        blocks,
        samples,
        generate: gen_done,
        promtool: total - gen_done,
    }
}

/// Moves every block promtool made into Prometheus's data dir.
fn install_blocks(blocks: &Path, data_dir: &Path) -> usize {
    let mut n = 0;
    for out in std::fs::read_dir(blocks).expect("read blocks dir") {
        let out = out.expect("entry").path();
        if !out.is_dir() {
            continue;
        }
        for block in std::fs::read_dir(&out).expect("read promtool output") {
            let block = block.expect("entry").path();
            if block.join("meta.json").is_file() {
                let name = block.file_name().expect("block name");
                std::fs::rename(&block, data_dir.join(name)).expect("move block");
                n += 1;
            }
        }
    }
    n
}

fn catalog(dir: &Path, cfg: &Config) {
    std::fs::write(
        dir.join("defaults.yaml"),
        format!(
            "version: burnrate/v1\nkind: Defaults\nlabels: {{env: bench}}\nwindow: {}d\n",
            cfg.days
        ),
    )
    .expect("write catalog");
    match cfg.shape {
        Shape::Independent => catalog_independent(dir, cfg),
        Shape::Shared => catalog_shared(dir, cfg),
    }
}

fn catalog_independent(dir: &Path, cfg: &Config) {
    let per_file = 100;
    for (f, start) in (0..cfg.slos).step_by(per_file).enumerate() {
        let mut doc = format!("version: burnrate/v1\nservice: svc-{f:02}\nslos:\n");
        for i in start..(start + per_file).min(cfg.slos) {
            let svc = Traffic::svc(i);
            let _ = write!(
                doc,
                "  - name: {svc}\n    objective: 99.9\n    indicator:\n      ratio:\n        \
                 errors: http_requests_total{{svc=\"{svc}\",code=\"500\"}}\n        \
                 total: http_requests_total{{svc=\"{svc}\"}}\n"
            );
        }
        std::fs::write(dir.join(format!("svc-{f:02}.yaml")), doc).expect("write catalog");
    }
}

/// One file per service; per route an availability and a latency SLO.
fn catalog_shared(dir: &Path, cfg: &Config) {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for slo in 0..cfg.slos {
        let (service, route) = service_route(slo / 2);
        let doc = files
            .entry(service.clone())
            .or_insert_with(|| format!("version: burnrate/v1\nservice: {service}\nslos:\n"));
        let name = shared_slo_name(slo);
        if slo % 2 == 0 {
            let _ = write!(
                doc,
                "  - name: {name}\n    objective: 99.9\n    indicator:\n      ratio:\n        \
                 errors: http_requests_total{{service=\"{service}\",route=\"{route}\",code=~\"5..\"}}\n        \
                 total: http_requests_total{{service=\"{service}\",route=\"{route}\"}}\n"
            );
        } else {
            let _ = write!(
                doc,
                "  - name: {name}\n    objective: 99\n    indicator:\n      latency:\n        \
                 histogram: http_request_duration_seconds_bucket{{service=\"{service}\",route=\"{route}\"}}\n        \
                 threshold: 500ms\n"
            );
        }
    }
    for (service, doc) in files {
        std::fs::write(dir.join(format!("{service}.yaml")), doc).expect("write catalog");
    }
}

/// SLO `slo`'s name in the shared shape (unique within its service).
fn shared_slo_name(slo: usize) -> String {
    let route = (slo / 2) % ROUTES_PER_SERVICE;
    if slo.is_multiple_of(2) {
        format!("r{route:02}-availability")
    } else {
        format!("r{route:02}-latency")
    }
}

/// What full-window PromQL asks for one SLO: its key in burnrate's list
/// (`service/name`), and two `sum(increase(..[w]))` queries: of bad and
/// total events, or, when `good_first`, of good and total events.
struct SloQueries {
    key: String,
    first: String,
    total: String,
    good_first: bool,
}

fn slo_queries(cfg: &Config, slo: usize, w: &str) -> SloQueries {
    match cfg.shape {
        Shape::Independent => {
            let svc = Traffic::svc(slo);
            SloQueries {
                key: format!("svc-{:02}/{svc}", slo / 100),
                first: format!(
                    "sum(increase(http_requests_total{{svc=\"{svc}\",code=\"500\"}}[{w}]))"
                ),
                total: format!("sum(increase(http_requests_total{{svc=\"{svc}\"}}[{w}]))"),
                good_first: false,
            }
        }
        Shape::Shared => {
            let (service, route) = service_route(slo / 2);
            let key = format!("{service}/{}", shared_slo_name(slo));
            let sel = format!("service=\"{service}\",route=\"{route}\"");
            if slo.is_multiple_of(2) {
                SloQueries {
                    key,
                    first: format!(
                        "sum(increase(http_requests_total{{{sel},code=~\"5..\"}}[{w}]))"
                    ),
                    total: format!("sum(increase(http_requests_total{{{sel}}}[{w}]))"),
                    good_first: false,
                }
            } else {
                SloQueries {
                    key,
                    first: format!(
                        "sum(increase(http_request_duration_seconds_bucket{{{sel},le=\"0.5\"}}[{w}]))"
                    ),
                    total: format!(
                        "sum(increase(http_request_duration_seconds_count{{{sel}}}[{w}]))"
                    ),
                    good_first: true,
                }
            }
        }
    }
}

// --------------------------------------------------------- observation --

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / ticks)
}

/// `VmRSS`, `VmHWM`, `RssAnon` in kB.
fn memory_kb(pid: u32) -> BTreeMap<String, u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            if !["VmRSS", "VmHWM", "RssAnon", "RssFile"].contains(&k) {
                return None;
            }
            Some((
                k.to_string(),
                v.trim().trim_end_matches(" kB").parse().ok()?,
            ))
        })
        .collect()
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

/// CPU seconds a process's live threads have run, to the nanosecond: the
/// first field of each `/proc/PID/task/TID/schedstat`. `/proc/PID/stat`
/// counts 10 ms ticks, and a steady cycle costs Prometheus a few of them.
/// A thread that exits takes its time with it (Go seldom ends threads); the
/// report puts both measures of the backfill side by side as a check.
fn run_seconds(pid: u32) -> Option<f64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        if let Ok(text) = std::fs::read_to_string(path) {
            ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(ns as f64 / 1e9)
}

#[derive(Clone, Copy)]
struct CpuSample {
    at_ms: i64,
    prometheus: f64,
    burnrate: f64,
    /// Prometheus by [`run_seconds`].
    prometheus_run: f64,
}

type Samples = Arc<Mutex<Vec<CpuSample>>>;

fn start_sampler(prom_pid: u32, burnrate_pid: u32) -> Samples {
    let samples: Samples = Arc::default();
    let out = Arc::clone(&samples);
    std::thread::spawn(move || {
        loop {
            let (Some(prometheus), Some(burnrate)) =
                (cpu_seconds(prom_pid), cpu_seconds(burnrate_pid))
            else {
                return;
            };
            let prometheus_run = run_seconds(prom_pid).unwrap_or(f64::NAN);
            out.lock().expect("samples").push(CpuSample {
                at_ms: now_ms(),
                prometheus,
                burnrate,
                prometheus_run,
            });
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    samples
}

/// CPU used in `[from_ms, to_ms]`: last sample at or before `from` to the
/// first at or after `to`.
fn cpu_between(samples: &Samples, from_ms: i64, to_ms: i64) -> Option<(f64, f64, i64)> {
    samples_between(samples, from_ms, to_ms).map(|(a, b)| {
        (
            b.prometheus - a.prometheus,
            b.burnrate - a.burnrate,
            b.at_ms - a.at_ms,
        )
    })
}

/// Prometheus' run time in `[from_ms, to_ms]`, as [`cpu_between`], and the
/// span it covers.
fn run_between(samples: &Samples, from_ms: i64, to_ms: i64) -> Option<(f64, i64)> {
    samples_between(samples, from_ms, to_ms)
        .map(|(a, b)| (b.prometheus_run - a.prometheus_run, b.at_ms - a.at_ms))
}

fn samples_between(samples: &Samples, from_ms: i64, to_ms: i64) -> Option<(CpuSample, CpuSample)> {
    let s = samples.lock().expect("samples");
    let a = s.iter().rev().find(|x| x.at_ms <= from_ms)?;
    let b = s.iter().find(|x| x.at_ms >= to_ms)?;
    Some((*a, *b))
}

#[derive(Debug, Clone)]
struct CycleDone {
    at_ms: i64,
    duration_ms: i64,
}

#[derive(Default)]
struct LogState {
    cycles: Vec<CycleDone>,
    backfill_progress_lines: u64,
    /// SLOs that logged `backfilling history`.
    backfills_started: u64,
    /// `backfill done` lines: (at ms, duration ms, SLOs).
    backfills_done: Vec<(i64, i64, u64)>,
    lines: u64,
    warnings: Vec<String>,
    warning_count: u64,
}

/// Follows burnrate's JSON log.
fn start_log_follower(path: PathBuf) -> Arc<Mutex<LogState>> {
    let state: Arc<Mutex<LogState>> = Arc::default();
    let out = Arc::clone(&state);
    std::thread::spawn(move || {
        let mut pos = 0u64;
        let mut pending = String::new();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            if f.seek(SeekFrom::Start(pos)).is_err() {
                continue;
            }
            let mut buf = String::new();
            let Ok(n) = f.read_to_string(&mut buf) else {
                continue;
            };
            pos += n as u64;
            pending.push_str(&buf);
            let Some(end) = pending.rfind('\n') else {
                continue;
            };
            let complete: String = pending.drain(..=end).collect();
            let mut st = out.lock().expect("log state");
            for line in complete.lines() {
                st.lines += 1;
                let Ok(v) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                let msg = v["fields"]["message"].as_str().unwrap_or_default();
                let level = v["level"].as_str().unwrap_or_default();
                if level == "WARN" || level == "ERROR" {
                    st.warning_count += 1;
                    if st.warnings.len() < 5 {
                        st.warnings.push(line.to_string());
                    }
                }
                match msg {
                    "backfill progress" => st.backfill_progress_lines += 1,
                    "backfilling history" => st.backfills_started += 1,
                    "backfill done" => {
                        let at_ms = v["timestamp"]
                            .as_str()
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                            .map_or_else(now_ms, |t| t.timestamp_millis());
                        st.backfills_done.push((
                            at_ms,
                            v["fields"]["duration_ms"].as_i64().unwrap_or(0),
                            v["fields"]["slos"].as_u64().unwrap_or(0),
                        ));
                    }
                    "cycle done" => {
                        let at_ms = v["timestamp"]
                            .as_str()
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                            .map_or_else(now_ms, |t| t.timestamp_millis());
                        st.cycles.push(CycleDone {
                            at_ms,
                            duration_ms: v["fields"]["duration_ms"].as_i64().unwrap_or(0),
                        });
                    }
                    _ => {}
                }
            }
        }
    });
    state
}

/// Counters read between cycles.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    queries: f64,
    engine_seconds: f64,
    pg_commits: f64,
}

/// Sum of the samples of `name` whose label text contains every `filter`.
fn metric_sum(text: &str, name: &str, filters: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, labels) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && filters.iter().all(|f| labels.contains(f)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

async fn counters(client: &reqwest::Client, prom_url: &str, pool: &sqlx::PgPool) -> Counters {
    let text = client
        .get(format!("{prom_url}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    let queries = metric_sum(
        &text,
        "prometheus_http_requests_total",
        &["handler=\"/api/v1/query\""],
    ) + metric_sum(
        &text,
        "prometheus_http_requests_total",
        &["handler=\"/api/v1/query_range\""],
    ) + metric_sum(
        &text,
        "prometheus_http_requests_total",
        &["handler=\"/api/v1/read\""],
    );
    // Time Prometheus spent answering: in its query engine for PromQL, in
    // the handler for remote reads (which bypass the engine).
    let engine_seconds = ["inner_eval", "prepare_time", "result_sort"]
        .iter()
        .map(|slice| {
            metric_sum(
                &text,
                "prometheus_engine_query_duration_seconds_sum",
                &[&format!("slice=\"{slice}\"")],
            )
        })
        .sum::<f64>()
        + metric_sum(
            &text,
            "prometheus_http_request_duration_seconds_sum",
            &["handler=\"/api/v1/read\""],
        );
    let pg_commits: i64 = sqlx::query_scalar(
        "select xact_commit from pg_stat_database where datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .expect("pg_stat_database");
    Counters {
        queries,
        engine_seconds,
        pg_commits: pg_commits as f64,
    }
}

fn delta(a: Counters, b: Counters) -> Counters {
    Counters {
        queries: b.queries - a.queries,
        engine_seconds: b.engine_seconds - a.engine_seconds,
        // One commit is the reading query itself.
        pg_commits: b.pg_commits - a.pg_commits - 1.0,
    }
}

/// The scheduler's next tick after `ms` (scheduler.rs `until_next_tick`).
fn next_tick(ms: i64) -> i64 {
    (ms - SETTLE_MS).div_euclid(INTERVAL_MS) * INTERVAL_MS + INTERVAL_MS + SETTLE_MS
}

async fn sleep_until_ms(ms: i64) {
    let wait = ms - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

/// (table, total bytes, heap, indexes, TOAST, live rows) of every table in `public`.
type TableSize = (String, i64, i64, i64, i64, i64);

async fn table_sizes(pool: &sqlx::PgPool) -> Vec<TableSize> {
    sqlx::query_as(
        "select c.relname::text, pg_total_relation_size(c.oid), pg_relation_size(c.oid),
                pg_indexes_size(c.oid),
                coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0),
                coalesce(s.n_live_tup, 0)
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         left join pg_stat_user_tables s on s.relid = c.oid
         where n.nspname = 'public' and c.relkind = 'r' order by 2 desc",
    )
    .fetch_all(pool)
    .await
    .expect("table sizes")
}

// ------------------------------------------------------- full-window PromQL --

/// Runs instant queries `concurrency` at a time; the value of each (0 when empty).
async fn query_batch(
    client: &reqwest::Client,
    url: &str,
    queries: &[String],
    time_s: f64,
    concurrency: usize,
) -> Vec<f64> {
    let queries = Arc::new(queries.to_vec());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(vec![f64::NAN; queries.len()]));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url) = (client.clone(), url.to_string());
        let (queries, next, results) = (
            Arc::clone(&queries),
            Arc::clone(&next),
            Arc::clone(&results),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(q) = queries.get(i) else { break };
                let data = support::http::try_query(&client, &url, q, time_s)
                    .await
                    .unwrap_or_else(|e| panic!("{e:#}"));
                let value = data["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
                results.lock().expect("results")[i] = value;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("query task");
    }
    Arc::try_unwrap(results)
        .expect("results")
        .into_inner()
        .expect("results")
}

struct BatchCost {
    queries: usize,
    wall: Duration,
    /// Prometheus by [`run_seconds`].
    prometheus_run: f64,
    prometheus_cpu: f64,
    engine_seconds: f64,
}

async fn measured_batch(
    client: &reqwest::Client,
    prom_url: &str,
    prom_pid: u32,
    pool: &sqlx::PgPool,
    queries: &[String],
    time_s: f64,
    concurrency: usize,
) -> (BatchCost, Vec<f64>) {
    let before = counters(client, prom_url, pool).await;
    let cpu0 = cpu_seconds(prom_pid).expect("prometheus cpu");
    let run0 = run_seconds(prom_pid).expect("prometheus run time");
    let started = Instant::now();
    let values = query_batch(client, prom_url, queries, time_s, concurrency).await;
    let wall = started.elapsed();
    let cpu1 = cpu_seconds(prom_pid).expect("prometheus cpu");
    let after = counters(client, prom_url, pool).await;
    (
        BatchCost {
            queries: queries.len(),
            wall,
            prometheus_run: run_seconds(prom_pid).expect("prometheus run time") - run0,
            prometheus_cpu: cpu1 - cpu0,
            engine_seconds: after.engine_seconds - before.engine_seconds,
        },
        values,
    )
}

// ------------------------------------------------------------------ main --

/// The middle value (the upper of the two middle ones), NaN for none.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The report's rows from the threads' run time ([`run_seconds`]): a
/// steady cycle's Prometheus CPU to the nanosecond, and the ratio against
/// full-window PromQL (`promql`, for all SLOs) by the same measure.
/// `backfill` is (run time, /proc ticks) over the backfill.
fn run_time_rows(
    out: &mut String,
    steady: &[&CycleCost],
    idle_rate: f64,
    promql: f64,
    backfill: Option<(f64, f64)>,
) {
    let cycles: Vec<(f64, i64)> = steady.iter().filter_map(|c| c.prometheus_run).collect();
    let each = cycles
        .iter()
        .map(|c| format!("{:.4}", c.0))
        .collect::<Vec<_>>()
        .join(", ");
    let cycle = median(cycles.iter().map(|c| c.0).collect());
    let net = median(
        cycles
            .iter()
            .map(|(cpu, span)| cpu - idle_rate * *span as f64 / 1e3)
            .collect(),
    );
    let check = backfill.map_or("not measured".to_string(), |(run, ticks)| {
        format!("{run:.2} s, against {ticks:.2} s in /proc ticks")
    });
    let _ = writeln!(
        out,
        "| Prometheus CPU by the threads' run time (schedstat) | steady cycles {each} s from tick to `cycle done`, median **{cycle:.4} s**, {net:.4} s net of idle background ({idle_rate:.4} s/s); full-window PromQL for all SLOs {promql:.1} s; backfill {check} |"
    );
    let _ = writeln!(
        out,
        "| **Prometheus CPU ratio by run time, full-window / steady cycle** | **{:.0}x**; net of idle background {} |",
        promql / cycle,
        if net > 0.0 {
            format!("{:.0}x", promql / net)
        } else {
            "not measured (the background exceeds the cycle's)".to_string()
        }
    );
}

struct CycleCost {
    n: usize,
    wall_ms: i64,
    prometheus_cpu: f64,
    /// Prometheus CPU seconds by [`run_seconds`] from the tick to the
    /// `cycle done` line, and the span they cover (ms).
    prometheus_run: Option<(f64, i64)>,
    burnrate_cpu: f64,
    counters: Option<Counters>,
    rss_kb: u64,
}

fn mb(bytes: f64) -> String {
    format!("{:.2} MB", bytes / 1e6)
}

fn kb(bytes: f64) -> String {
    format!("{:.0} kB", bytes / 1e3)
}

fn main() {
    let cfg = Config::from_env();
    let bench_started = Instant::now();
    log(format!(
        "ingest_cost: {} SLOs, {}d window, {} s scrape interval, {} steady cycles",
        cfg.slos, cfg.days, cfg.scrape_s, cfg.steady_cycles
    ));
    let end_s = now_ms() / 1000 / 60 * 60;
    let seeded = seed(&cfg, end_s);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(cfg, seeded, bench_started));
}

async fn run(cfg: Config, seeded: Seeded, bench_started: Instant) {
    let Seeded {
        traffic,
        blocks,
        samples: seeded_samples,
        generate,
        promtool,
    } = seeded;

    // Prometheus on the promtool blocks.
    let started = Instant::now();
    let mut prom = TestPrometheus::builder().start().await;
    prom.stop().await;
    let n_blocks = install_blocks(blocks.path(), &prom.data_dir());
    drop(blocks);
    prom.start_again().await;
    let prom_url = prom.url();
    let prom_pid = find_pid(&format!(
        "--storage.tsdb.path={}",
        prom.data_dir().display()
    ));
    log(format!(
        "Prometheus {prom_url} (pid {prom_pid}) up on {n_blocks} blocks in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let client = support::http::client();

    // From now on the generator remote-writes each scrape as it falls due.
    let traffic = Arc::new(tokio::sync::Mutex::new(traffic));
    let write_due = {
        let traffic = Arc::clone(&traffic);
        let (client, url) = (client.clone(), prom_url.clone());
        move || {
            let traffic = Arc::clone(&traffic);
            let (client, url) = (client.clone(), url.clone());
            async move {
                let series = traffic.lock().await.due_series(now_ms() / 1000);
                if !series.is_empty() {
                    support::remote_write::try_remote_write(&client, &url, &series)
                        .await
                        .unwrap_or_else(|e| panic!("remote write: {e:#}"));
                }
            }
        }
    };
    write_due().await;
    let writer = tokio::spawn({
        let write_due = write_due.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                write_due().await;
            }
        }
    });
    let probe_at = now_ms() as f64 / 1000.0;
    let series_now = prom
        .query("count(http_requests_total)", probe_at)
        .await
        .to_string();
    let history = prom
        .query(
            &format!(
                "count_over_time(http_requests_total{{{},code=\"200\"}}[{}d])",
                match cfg.shape {
                    Shape::Independent => "svc=\"s0000\"",
                    Shape::Shared => "service=\"svc000\",route=\"/r00\"",
                },
                cfg.days
            ),
            probe_at,
        )
        .await;
    log(format!(
        "data check: count(http_requests_total) = {}, samples of one series over {}d = {}",
        series_now_value(&series_now),
        cfg.days,
        history["result"][0]["value"][1].as_str().unwrap_or("none")
    ));

    // PostgreSQL and the catalog.
    let db = TestDatabase::create().await;
    let pool = db.pool().await;
    let catalog_dir = tempfile::Builder::new()
        .prefix("burnrate-bench-catalog-")
        .tempdir()
        .expect("temp dir");
    // The log must not live under the catalog: serve reloads on any file change there.
    let catalog_path = catalog_dir.path().join("catalog");
    std::fs::create_dir(&catalog_path).expect("create catalog dir");
    catalog(&catalog_path, &cfg);

    // burnrate serve.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_burnrate"));
    let log_path = catalog_dir.path().join("burnrate.log");
    let log_file = std::fs::File::create(&log_path).expect("create log");
    let listen = format!("127.0.0.1:{}", support::free_port());
    let mut cmd = Command::new(&bin);
    cmd.arg("serve")
        .arg("--catalog")
        .arg(&catalog_path)
        .args(["--prometheus-url", &prom_url])
        .args(["--database-url", db.url()])
        .args(["--listen", &listen])
        .args(["--interval", "1m", "--log-format", "json"])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log handle"))
        .stderr(log_file);
    if let Some(c) = cfg.burnrate_concurrency {
        cmd.args(["--concurrency", &c.to_string()]);
    }
    // SAFETY: prctl is async-signal-safe; the burnrate process dies with the bench.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let c0 = counters(&client, &prom_url, &pool).await;
    let prom_cpu_at_spawn = cpu_seconds(prom_pid).expect("prometheus cpu");
    let prom_run_at_spawn = run_seconds(prom_pid).expect("prometheus run time");
    let spawned_ms = now_ms();
    let mut burnrate = cmd.spawn().expect("spawn burnrate serve");
    let pid = burnrate.id();
    log(format!(
        "burnrate serve (pid {pid}) started: {} --interval 1m, log {}",
        bin.display(),
        log_path.display()
    ));
    let samples = start_sampler(prom_pid, pid);
    let logs = start_log_follower(log_path.clone());
    let fail = |burnrate: &mut Child, why: &str| -> ! {
        let _ = burnrate.kill();
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: String = text
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!("{why}; burnrate log tail:\n{tail}");
    };

    // Cycle 1 finds every SLO without history and starts their backfill,
    // which runs beside the cycles until it logs `backfill done`.
    let mut last_report = Instant::now();
    let backfill = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Ok(Some(status)) = burnrate.try_wait() {
            fail(&mut burnrate, &format!("burnrate exited: {status}"));
        }
        if now_ms() - spawned_ms > 60 * 60_000 {
            fail(&mut burnrate, "the backfill did not finish within an hour");
        }
        let st = logs.lock().expect("log state");
        let done: u64 = st.backfills_done.iter().map(|d| d.2).sum();
        if done as usize >= cfg.slos
            && let Some(&(at_ms, duration_ms, _)) = st.backfills_done.last()
        {
            break CycleDone { at_ms, duration_ms };
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            let mem = memory_kb(pid);
            log(format!(
                "backfilling: {done} of {} SLOs done, {} cycles, {} warnings, RSS {} MB",
                cfg.slos,
                st.cycles.len(),
                st.warning_count,
                mem.get("VmRSS").copied().unwrap_or(0) / 1024
            ));
        }
    };
    // The first cycle that starts after the backfill is done cycles its SLOs.
    let base = loop {
        let found = logs
            .lock()
            .expect("log state")
            .cycles
            .iter()
            .position(|c| c.at_ms - c.duration_ms > backfill.at_ms);
        if let Some(j) = found {
            break j.max(1);
        }
        if let Ok(Some(status)) = burnrate.try_wait() {
            fail(&mut burnrate, &format!("burnrate exited: {status}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c1 = counters(&client, &prom_url, &pool).await;
    // CPU from the spawn (burnrate at zero) to the end of cycle 1.
    let backfill_cpu = samples
        .lock()
        .expect("samples")
        .iter()
        .find(|x| x.at_ms >= backfill.at_ms)
        .map(|x| (x.prometheus - prom_cpu_at_spawn, x.burnrate));
    // The same span in run time: tells whether threads' time went missing.
    let backfill_run = samples
        .lock()
        .expect("samples")
        .iter()
        .find(|x| x.at_ms >= backfill.at_ms)
        .map(|x| x.prometheus_run - prom_run_at_spawn);
    let mem_after_backfill = memory_kb(pid);
    let mut backfill_counters = delta(c0, c1);
    log(format!(
        "backfill done: {:.1} s in the backfill task, {:.1} s since start; {} Prometheus queries; \
         Prometheus CPU {:.1} s, burnrate CPU {:.1} s; RSS {} MB (peak {} MB)",
        backfill.duration_ms as f64 / 1e3,
        (backfill.at_ms - spawned_ms) as f64 / 1e3,
        backfill_counters.queries,
        backfill_cpu.map_or(f64::NAN, |c| c.0),
        backfill_cpu.map_or(f64::NAN, |c| c.1),
        mem_after_backfill.get("VmRSS").copied().unwrap_or(0) / 1024,
        mem_after_backfill.get("VmHWM").copied().unwrap_or(0) / 1024
    ));

    // Steady cycles: the first after the backfill catches up the minutes
    // it took; the following ones are steady.
    let mut costs: Vec<CycleCost> = Vec::new();
    let mut idle_rates: Vec<f64> = Vec::new();
    let mut idle_run_rates: Vec<f64> = Vec::new();
    let mut pre_tick: Option<(i64, Counters)> = None;
    let mut seen = base;
    let catch_up = base + 1;
    let last_cycle = catch_up + cfg.steady_cycles;
    while seen < last_cycle {
        // Counters just before the next tick, so deltas hold exactly one cycle.
        let done_at = logs.lock().expect("log state").cycles[seen - 1].at_ms;
        let tick = next_tick(done_at);
        sleep_until_ms(tick - 1_500).await;
        let snapshot = if now_ms() < tick - 200 {
            Some(counters(&client, &prom_url, &pool).await)
        } else {
            None
        };
        if let (Some((_, before)), Some(after)) = (pre_tick, snapshot)
            && let Some(cost) = costs.last_mut()
        {
            cost.counters = Some(delta(before, after));
        }
        if seen == base
            && let Some(after) = snapshot
        {
            // PostgreSQL publishes statistics lazily: read the backfill's
            // once burnrate has been idle for a while.
            backfill_counters = delta(c0, after);
        }
        pre_tick = snapshot.map(|s| (tick, s));
        let cycle = loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Ok(Some(status)) = burnrate.try_wait() {
                fail(&mut burnrate, &format!("burnrate exited: {status}"));
            }
            if now_ms() - tick > 10 * 60_000 {
                fail(&mut burnrate, "no cycle finished within 10 minutes");
            }
            if let Some(c) = logs.lock().expect("log state").cycles.get(seen) {
                break c.clone();
            }
        };
        seen += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Prometheus's own background CPU between cycles (head, remote write).
        let idle_from = done_at + 3_000;
        let idle_to = tick - 1_500;
        if idle_to - idle_from > 20_000
            && let Some((p, _, span)) = cpu_between(&samples, idle_from, idle_to)
        {
            idle_rates.push(p / (span as f64 / 1e3));
        }
        if idle_to - idle_from > 20_000
            && let Some((p, span)) = run_between(&samples, idle_from, idle_to)
        {
            idle_run_rates.push(p / (span as f64 / 1e3));
        }
        // From the tick the scheduler woke at to the `cycle done` line: the
        // line comes after sharing and publishing statuses, so its timestamp
        // less the cycle's duration starts after the cycle's reads.
        let cycle_run = run_between(&samples, tick, cycle.at_ms);
        let (p, b, _) = cpu_between(&samples, tick, cycle.at_ms).unwrap_or((f64::NAN, f64::NAN, 0));
        let rss_kb = memory_kb(pid).get("VmRSS").copied().unwrap_or(0);
        log(format!(
            "cycle {seen}: {} ms, Prometheus CPU {p:.2} s (run time {}), burnrate CPU {b:.2} s, burnrate RSS {} MB",
            cycle.duration_ms,
            cycle_run.map_or("n/a".to_string(), |(c, span)| format!(
                "{c:.4} s in {span} ms"
            )),
            rss_kb / 1024
        ));
        costs.push(CycleCost {
            n: seen,
            wall_ms: cycle.duration_ms,
            prometheus_cpu: p,
            prometheus_run: cycle_run,
            burnrate_cpu: b,
            counters: None,
            rss_kb,
        });
    }
    // The last cycle's counters: read before the following tick.
    {
        let done_at = logs.lock().expect("log state").cycles[seen - 1].at_ms;
        let tick = next_tick(done_at);
        sleep_until_ms(tick - 1_500).await;
        if now_ms() < tick - 200 {
            let after = counters(&client, &prom_url, &pool).await;
            if let (Some((_, before)), Some(cost)) = (pre_tick, costs.last_mut()) {
                cost.counters = Some(delta(before, after));
            }
        }
    }
    for c in &costs {
        if let Some(k) = c.counters {
            log(format!(
                "cycle {}: {} Prometheus queries, {:.3} s Prometheus query time, {} PostgreSQL commits",
                c.n, k.queries, k.engine_seconds, k.pg_commits
            ));
        }
    }
    let mem = memory_kb(pid);

    // What burnrate reports, for the cross-check against full-window PromQL.
    // Every page: /api/v1/slos returns 100 instances unless asked for more.
    let mut items: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("http://{listen}/api/v1/slos?limit=1000");
        if let Some(c) = &cursor {
            url.push_str("&cursor=");
            url.push_str(
                &c.replace('%', "%25")
                    .replace('&', "%26")
                    .replace('+', "%2B"),
            );
        }
        let page: Value = client
            .get(&url)
            .send()
            .await
            .expect("GET /api/v1/slos")
            .json()
            .await
            .expect("JSON");
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = Some(next.to_string()),
            _ => break,
        }
    }
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    let mut burnrate_totals: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut evaluated_at = None;
    for item in &items {
        *states
            .entry(item["data_state"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        let good = item["events"]["good"].as_f64().unwrap_or(f64::NAN);
        let total = item["events"]["total"].as_f64().unwrap_or(f64::NAN);
        burnrate_totals.insert(
            format!(
                "{}/{}",
                item["service"].as_str().unwrap_or_default(),
                item["name"].as_str().unwrap_or_default()
            ),
            (total - good, total),
        );
        evaluated_at = evaluated_at.or(item["evaluated_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()));
    }
    log(format!(
        "burnrate reports {} instances: {states:?}",
        items.len()
    ));

    // PostgreSQL footprint.
    let instances: i64 = sqlx::query_scalar("select count(*) from slo_instances")
        .fetch_one(&pool)
        .await
        .expect("count instances");
    let tables = table_sizes(&pool).await;
    let bucket_rows: i64 = sqlx::query_scalar("select count(*) from event_buckets")
        .fetch_one(&pool)
        .await
        .expect("count buckets");
    let dead_bucket_rows: i64 = sqlx::query_scalar(
        "select coalesce(n_dead_tup, 0) from pg_stat_user_tables where relname = 'event_buckets'",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(0);
    let eval_rows: i64 = sqlx::query_scalar("select count(*) from evaluations")
        .fetch_one(&pool)
        .await
        .expect("count evaluations");
    // Evaluations accumulate for as long as the window, thinned as pruning
    // leaves them (tests/serve/store.rs): every 5 minutes for the last day, the last
    // of each hour before. That many rows for 10 instances, written like
    // burnrate writes them.
    let per_window = 288 + (cfg.days - 1) * 24;
    let sample_item = items.first().cloned().unwrap_or(Value::Null);
    let burn_rates = sample_item["burn_rates"].clone();
    sqlx::query("create table bench_eval_projection (like evaluations including all)")
        .execute(&pool)
        .await
        .expect("create projection table");
    sqlx::query(
        "insert into bench_eval_projection (instance_id, evaluated_at, data_state, good, total, sli, budget_remaining, burn_rates)
         select i.id, now() - make_interval(mins => case when g <= 288 then 5 * g else 60 * (g - 264) end),
                'ok', $1, $2, $3, $4, $5
         from (select id from slo_instances order by id limit 10) i cross join generate_series(1, $6) g",
    )
    .bind(sample_item["events"]["good"].as_f64().unwrap_or(1e6))
    .bind(sample_item["events"]["total"].as_f64().unwrap_or(1e6))
    .bind(sample_item["sli"].as_f64().unwrap_or(0.999))
    .bind(sample_item["error_budget"]["remaining"].as_f64().unwrap_or(0.5))
    .bind(&burn_rates)
    .bind(per_window as i32)
    .execute(&pool)
    .await
    .expect("fill projection table");
    let projected_instances: i64 =
        sqlx::query_scalar("select count(distinct instance_id) from bench_eval_projection")
            .fetch_one(&pool)
            .await
            .expect("count");
    let eval_projection: i64 =
        sqlx::query_scalar("select pg_total_relation_size('bench_eval_projection')")
            .fetch_one(&pool)
            .await
            .expect("size");
    sqlx::query("drop table bench_eval_projection")
        .execute(&pool)
        .await
        .expect("drop projection table");
    let eval_per_instance = eval_projection as f64 / projected_instances.max(1) as f64;

    // Stop burnrate; Prometheus now only serves the full-window queries.
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    let _ = tokio::task::spawn_blocking(move || burnrate.wait()).await;
    // The same tables without the dead row versions of updates (what
    // autovacuum converges to): VACUUM FULL now that nobody writes.
    sqlx::raw_sql("vacuum full event_buckets, evaluations, ingestion_state, slo_instances")
        .execute(&pool)
        .await
        .expect("vacuum full");
    let compact = table_sizes(&pool).await;
    let compact_of = |name: &str| compact.iter().find(|t| t.0 == name).map_or(0, |t| t.1) as f64;
    let (warning_count, warnings, log_lines, progress_lines) = {
        let st = logs.lock().expect("log state");
        (
            st.warning_count,
            st.warnings.clone(),
            st.lines,
            st.backfill_progress_lines,
        )
    };

    // Full-window PromQL, at the time of burnrate's last evaluation.
    let at_s = evaluated_at.map_or(now_ms() as f64 / 1000.0, |t| t.timestamp() as f64);
    let window = format!("{}d", cfg.days);
    // Every SLO, or an even sample of BENCH_PROMQL_SLOS of them.
    let sampled: Vec<usize> = (0..cfg.promql_slos)
        .map(|k| k * cfg.slos / cfg.promql_slos)
        .collect();
    let scale = cfg.slos as f64 / sampled.len().max(1) as f64;
    let full_window: Vec<String> = sampled
        .iter()
        .flat_map(|&i| {
            let q = slo_queries(&cfg, i, &window);
            [q.first, q.total]
        })
        .collect();
    let cfg_ref = &cfg;
    let alert_windows: Vec<String> = sampled
        .iter()
        .flat_map(|&i| {
            ALERT_WINDOWS.iter().flat_map(move |w| {
                let q = slo_queries(cfg_ref, i, w);
                [q.first, q.total]
            })
        })
        .collect();
    log(format!(
        "full-window PromQL: {} queries over {window} at t={at_s}",
        full_window.len()
    ));
    let (pq_window, window_values) = measured_batch(
        &client,
        &prom_url,
        prom_pid,
        &pool,
        &full_window,
        at_s,
        cfg.promql_concurrency,
    )
    .await;
    log(format!(
        "  {:.1} s wall, Prometheus CPU {:.1} s",
        pq_window.wall.as_secs_f64(),
        pq_window.prometheus_cpu
    ));
    log(format!(
        "alert-window PromQL: {} queries",
        alert_windows.len()
    ));
    let (pq_alerts, _) = measured_batch(
        &client,
        &prom_url,
        prom_pid,
        &pool,
        &alert_windows,
        at_s,
        cfg.promql_concurrency,
    )
    .await;
    log(format!(
        "  {:.1} s wall, Prometheus CPU {:.1} s",
        pq_alerts.wall.as_secs_f64(),
        pq_alerts.prometheus_cpu
    ));
    writer.abort();

    // burnrate's exact 30-day counts against increase() over the same window.
    let mut rel_total: Vec<f64> = Vec::new();
    let mut rel_bad: Vec<f64> = Vec::new();
    let mut unmatched = 0usize;
    for (k, &i) in sampled.iter().enumerate() {
        let q = slo_queries(&cfg, i, &window);
        let Some(&(bad, total)) = burnrate_totals.get(&q.key) else {
            unmatched += 1;
            continue;
        };
        let (first, pq_total) = (window_values[2 * k], window_values[2 * k + 1]);
        let pq_bad = if q.good_first {
            pq_total - first
        } else {
            first
        };
        rel_total.push(((total - pq_total) / pq_total).abs());
        if pq_bad > 0.0 {
            rel_bad.push(((bad - pq_bad) / pq_bad).abs());
        }
    }
    let max = |v: &[f64]| v.iter().copied().fold(0.0f64, f64::max);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;

    // ---------------------------------------------------------- report --
    let steady: Vec<&CycleCost> = costs.iter().filter(|c| c.n > catch_up).collect();
    let steady_wall = median(steady.iter().map(|c| c.wall_ms as f64).collect());
    let steady_prom = median(steady.iter().map(|c| c.prometheus_cpu).collect());
    let steady_burn = median(steady.iter().map(|c| c.burnrate_cpu).collect());
    let steady_queries = median(
        steady
            .iter()
            .filter_map(|c| c.counters.map(|k| k.queries))
            .collect(),
    );
    let steady_engine = median(
        steady
            .iter()
            .filter_map(|c| c.counters.map(|k| k.engine_seconds))
            .collect(),
    );
    let steady_commits = median(
        steady
            .iter()
            .filter_map(|c| c.counters.map(|k| k.pg_commits))
            .collect(),
    );
    let idle_rate = median(idle_rates.clone());
    let pq_total_cpu = pq_window.prometheus_cpu + pq_alerts.prometheus_cpu;
    let pq_total_wall = pq_window.wall + pq_alerts.wall;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n=== ingest_cost: {} SLOs, {:?} shape ({} instances), {}d window, {} s scrape, {} series, {} seeded samples ===",
        cfg.slos,
        cfg.shape,
        instances,
        cfg.days,
        cfg.scrape_s,
        cfg.shape.series_per_unit() * cfg.shape.units(cfg.slos),
        seeded_samples
    );
    let _ = writeln!(
        out,
        "seeding: generation {:.0} s, promtool {:.0} s more; bench total {:.0} s\n",
        generate.as_secs_f64(),
        promtool.as_secs_f64(),
        bench_started.elapsed().as_secs_f64()
    );
    let _ = writeln!(out, "| measure | value |\n|---|---|");
    let _ = writeln!(
        out,
        "| backfill, {}d x {} SLOs (`backfill done`) | {:.0} s wall; Prometheus CPU {:.0} s; burnrate CPU {:.0} s; {:.0} queries; {:.0} PostgreSQL commits; burnrate RSS after it {:.0} MB |",
        cfg.days,
        cfg.slos,
        backfill.duration_ms as f64 / 1e3,
        backfill_cpu.map_or(f64::NAN, |c| c.0),
        backfill_cpu.map_or(f64::NAN, |c| c.1),
        backfill_counters.queries,
        backfill_counters.pg_commits,
        mem_after_backfill.get("VmRSS").copied().unwrap_or(0) as f64 * 1024.0 / 1e6
    );
    for c in &costs {
        let k = c.counters.map_or("n/a".to_string(), |k| {
            format!(
                "{:.0} queries ({:.3} s query time); {:.0} PostgreSQL commits",
                k.queries, k.engine_seconds, k.pg_commits
            )
        });
        let label = if c.n == catch_up {
            format!("cycle {} (catch-up after backfill)", c.n)
        } else {
            format!("steady cycle {}", c.n)
        };
        let _ = writeln!(
            out,
            "| {label} | {} ms wall; Prometheus CPU {:.2} s; burnrate CPU {:.2} s; {k}; burnrate RSS after it {:.0} MB |",
            c.wall_ms,
            c.prometheus_cpu,
            c.burnrate_cpu,
            c.rss_kb as f64 * 1024.0 / 1e6
        );
    }
    let _ = writeln!(
        out,
        "| **steady cycle (median)** | **{:.0} ms wall; Prometheus CPU {:.2} s** (idle background {:.3} s/s); burnrate CPU {:.2} s; {:.0} queries ({:.3} s query time); {:.0} commits |",
        steady_wall,
        steady_prom,
        idle_rate,
        steady_burn,
        steady_queries,
        steady_engine,
        steady_commits
    );
    let _ = writeln!(
        out,
        "| full-window PromQL, {window} only ({} queries, {}-way) | {:.1} s wall; Prometheus CPU {:.1} s ({:.1} s engine) |",
        pq_window.queries,
        cfg.promql_concurrency,
        pq_window.wall.as_secs_f64(),
        pq_window.prometheus_cpu,
        pq_window.engine_seconds
    );
    let _ = writeln!(
        out,
        "| full-window PromQL, alert windows 5m..3d ({} queries) | {:.1} s wall; Prometheus CPU {:.1} s ({:.1} s engine) |",
        pq_alerts.queries,
        pq_alerts.wall.as_secs_f64(),
        pq_alerts.prometheus_cpu,
        pq_alerts.engine_seconds
    );
    let _ = writeln!(
        out,
        "| **full-window PromQL, all ({} queries)** | **{:.1} s wall; Prometheus CPU {:.1} s** |",
        pq_window.queries + pq_alerts.queries,
        pq_total_wall.as_secs_f64(),
        pq_total_cpu
    );
    if sampled.len() < cfg.slos {
        let _ = writeln!(
            out,
            "| full-window PromQL above is for an even sample of {} of the {} SLOs | scaled by {scale:.1} for all: Prometheus CPU {:.1} s |",
            sampled.len(),
            cfg.slos,
            pq_total_cpu * scale
        );
    }
    // The cycle's Prometheus CPU includes its background work (remote
    // write, head) during the cycle's wall time; net of it too.
    let steady_net = steady_prom - idle_rate * steady_wall / 1e3;
    // Query time: engine time of PromQL queries, handler time of remote
    // reads.
    let engine_ratio = if steady_engine > 0.0 {
        let ratio = (pq_window.engine_seconds + pq_alerts.engine_seconds) * scale / steady_engine;
        format!("{ratio:.0}x")
    } else {
        "not measured (no query time recorded)".to_string()
    };
    // SAFETY: sysconf has no preconditions.
    let tick = 1.0 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    if steady_prom < tick {
        // Below /proc's resolution: bound the ratio by one tick per cycle.
        let steady_mean =
            steady.iter().map(|c| c.prometheus_cpu).sum::<f64>() / steady.len().max(1) as f64;
        let _ = writeln!(
            out,
            "| Prometheus CPU ratio, full-window / steady cycle | the cycle's Prometheus CPU is below /proc's {tick} s resolution (mean of {} cycles {steady_mean:.4} s): at least {:.0}x ({:.0}x for the {window} queries alone), counting {tick} s per cycle; Prometheus query time (engine, or remote-read handler) {engine_ratio} |",
            steady.len(),
            pq_total_cpu * scale / tick,
            pq_window.prometheus_cpu * scale / tick,
        );
    } else {
        let _ = writeln!(
            out,
            "| Prometheus CPU ratio, full-window / steady cycle | {:.0}x ({:.0}x for the {window} queries alone); net of idle background ({:.3} s): {:.0}x; Prometheus query time (engine, or remote-read handler) {engine_ratio} |",
            pq_total_cpu * scale / steady_prom,
            pq_window.prometheus_cpu * scale / steady_prom,
            steady_net,
            pq_total_cpu * scale / steady_net,
        );
    }
    run_time_rows(
        &mut out,
        &steady,
        median(idle_run_rates.clone()),
        (pq_window.prometheus_run + pq_alerts.prometheus_run) * scale,
        backfill_run.zip(backfill_cpu.map(|c| c.0)),
    );
    let _ = writeln!(
        out,
        "| burnrate {window} counts vs increase({window}) | total events: mean {:.4}%, max {:.4}% relative; bad events: mean {:.4}%, max {:.4}% |",
        100.0 * mean(&rel_total),
        100.0 * max(&rel_total),
        100.0 * mean(&rel_bad),
        100.0 * max(&rel_bad)
    );
    if unmatched > 0 {
        let _ = writeln!(out, "| SLOs missing from burnrate's list | {unmatched} |");
    }
    let per_instance = |bytes: f64| bytes / instances.max(1) as f64;
    for (name, total, heap, index, toast, live) in &tables {
        let _ = writeln!(
            out,
            "| PostgreSQL `{name}` | {} total ({} heap, {} indexes, {} TOAST), {live} live rows; after VACUUM FULL {}; per instance {} ({} after VACUUM FULL) |",
            mb(*total as f64),
            mb(*heap as f64),
            mb(*index as f64),
            kb(*toast as f64),
            mb(compact_of(name)),
            kb(per_instance(*total as f64)),
            kb(per_instance(compact_of(name)))
        );
    }
    let all_raw: f64 = tables.iter().map(|t| t.1 as f64).sum();
    let all_compact: f64 = compact.iter().map(|t| t.1 as f64).sum();
    let _ = writeln!(
        out,
        "| event_buckets rows | {bucket_rows} ({:.0} per instance; {dead_bucket_rows} dead before VACUUM) |",
        per_instance(bucket_rows as f64)
    );
    let _ = writeln!(
        out,
        "| **PostgreSQL bytes per instance after backfill** | **{}** after VACUUM FULL, {} as found (event_buckets {} / {}; {eval_rows} evaluation rows so far) |",
        kb(per_instance(all_compact)),
        kb(per_instance(all_raw)),
        kb(per_instance(compact_of("event_buckets"))),
        kb(per_instance(
            tables
                .iter()
                .find(|t| t.0 == "event_buckets")
                .map_or(0, |t| t.1) as f64
        ))
    );
    let _ = writeln!(
        out,
        "| evaluations for a full {window} (projected: {per_window} rows per instance, 5 min for a day, hourly before) | {} per instance |",
        kb(eval_per_instance)
    );
    let steady_state = per_instance(all_compact - compact_of("evaluations")) + eval_per_instance;
    let _ = writeln!(
        out,
        "| **PostgreSQL bytes per instance, {window} of buckets + {window} of evaluations** | **{}** (target < 1 MB) |",
        mb(steady_state)
    );
    let rss = mem.get("VmRSS").copied().unwrap_or(0) as f64 * 1024.0;
    let hwm = mem.get("VmHWM").copied().unwrap_or(0) as f64 * 1024.0;
    let _ = writeln!(
        out,
        "| **burnrate resident memory after backfill + steady cycles** | **VmRSS {}** (RssAnon {}), peak VmHWM {} (target < 150 MB) |",
        mb(rss),
        mb(mem.get("RssAnon").copied().unwrap_or(0) as f64 * 1024.0),
        mb(hwm)
    );
    let _ = writeln!(
        out,
        "| burnrate log | {log_lines} lines ({progress_lines} backfill progress), {warning_count} warnings/errors |"
    );
    println!("{out}");
    for w in warnings {
        println!("warning: {w}");
    }
    drop(db);
    drop(prom);
}

fn series_now_value(data: &str) -> String {
    serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|v| v["result"][0]["value"][1].as_str().map(str::to_string))
        .unwrap_or_else(|| data.to_string())
}
