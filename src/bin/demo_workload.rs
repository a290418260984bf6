//! Demo workload for burnrate: a simulated checkout/search/payments fleet that
//! exposes, on `/metrics`, every SLI the example catalog in `slo-definitions/`
//! reads.
//!
//! Every second a background task advances the simulation: request rates follow
//! a sine-shaped "day" (`--day-length`), a small baseline of errors and slow
//! requests stays well inside the objectives, and every few minutes an incident
//! (server errors or slow responses on one route, a failing payment-gateway
//! probe, or failing settlement jobs) burns budget for 1–3 minutes. Incidents
//! are logged to stderr. The same `--seed` replays the same story.
//!
//! The exposition text (format 0.0.4) is written by hand. Every series exists
//! from the start, at zero, so the first errors of a route are counted exactly.

use std::f64::consts::TAU;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use burnrate::duration::Duration;
use clap::Parser;

/// Serves simulated SLI metrics (HTTP requests, latency histograms, a probe,
/// batch jobs) for trying burnrate against a real Prometheus.
#[derive(Parser, Debug)]
#[command(name = "demo_workload", version)]
struct Args {
    /// Address to serve `/metrics` on.
    #[arg(long, default_value = "127.0.0.1:9101")]
    listen: SocketAddr,
    /// Seed of the pseudo-random generator: the same seed replays the same traffic and incidents.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Period of the simulated day: request rates follow a sine wave over it (e.g. `10m`, `1h`, `24h`).
    #[arg(long, default_value = "10m")]
    day_length: Duration,
    /// Mean quiet time between incidents; the first starts after 1–2 minutes and each lasts 1–3
    /// minutes (`0s` disables incidents).
    #[arg(long, default_value = "4m")]
    incident_every: Duration,
    /// Multiplies every route's request rate (at 1, about 48 requests/s on average).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Simulate a process restart now and then (every 30 minutes on average): all counters drop to zero.
    #[arg(long)]
    resets: bool,
}

/// Simulated endpoints: service, route, mean requests per second, median latency in seconds.
const ROUTES: [(&str, &str, f64, f64); 5] = [
    ("checkout", "/cart", 8.0, 0.06),
    ("checkout", "/pay", 3.0, 0.09),
    ("search", "/search", 20.0, 0.12),
    ("search", "/suggest", 12.0, 0.04),
    ("search", "/browse", 5.0, 0.15),
];
/// Status codes every route reports (`404` is a client error: not an SLO error).
const CODES: [&str; 4] = ["200", "404", "500", "503"];
/// Histogram bucket bounds (`le`, printed as 0.05 … 1 … 2.5); 0.3 and 0.5 are the
/// catalog's latency thresholds.
const BUCKETS: [f64; 7] = [0.05, 0.1, 0.25, 0.3, 0.5, 1.0, 2.5];
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Spread (sigma of the log) of the log-normal latencies.
const LATENCY_SIGMA: f64 = 0.45;
const BASE_5XX: f64 = 0.0002;
const BASE_4XX: f64 = 0.015;
const BASE_PROBE_FAILURE: f64 = 0.0002;
const BASE_JOB_FAILURE: f64 = 0.002;
const MEAN_SECS_BETWEEN_RESETS: f64 = 1800.0;

/// xorshift64* seeded through splitmix64: tiny, deterministic, good enough for a demo.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (1.0 - self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (TAU * u2).cos()
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `.1` of the requests to route `.0` fail with a 5xx.
    Errors(usize, f64),
    /// Latencies of route `.0` are multiplied by `.1`.
    Slow(usize, f64),
    ProbeDown,
    SettlementFailures,
}

struct Incident {
    kind: Kind,
    ends_at: u64,
}

/// Counters of one route; `buckets[i]` counts requests at most `BUCKETS[i]`.
#[derive(Default, Clone)]
struct RouteCounters {
    codes: [u64; CODES.len()],
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

struct Sim {
    rng: Rng,
    tick: u64,
    routes: Vec<RouteCounters>,
    probe_up: bool,
    jobs_processed: u64,
    jobs_failed: u64,
    incident: Option<Incident>,
    /// Tick at which the next incident starts, when none is running.
    next_incident: u64,
}

impl Sim {
    fn new(seed: u64) -> Self {
        Sim {
            rng: Rng::new(seed),
            tick: 0,
            routes: vec![RouteCounters::default(); ROUTES.len()],
            probe_up: true,
            jobs_processed: 0,
            jobs_failed: 0,
            incident: None,
            // The first incident comes early, so that a demo shows one soon.
            next_incident: 60 + seed % 61,
        }
    }

    /// Advances the simulation by one second.
    fn step(&mut self, args: &Args) {
        self.tick += 1;
        self.update_incident(args);
        if args.resets && self.rng.chance(1.0 / MEAN_SECS_BETWEEN_RESETS) {
            log("simulated restart: every counter resets to zero");
            self.routes.fill(RouteCounters::default());
            (self.jobs_processed, self.jobs_failed) = (0, 0);
        }
        let kind = self.incident.as_ref().map(|i| i.kind);
        let day = 1.0 + 0.6 * (TAU * self.tick as f64 / args.day_length.as_secs_f64()).sin();
        for (i, &(_, _, rps, median)) in ROUTES.iter().enumerate() {
            let (mut p5xx, mut median) = (BASE_5XX, median);
            match kind {
                Some(Kind::Errors(route, ratio)) if route == i => p5xx = ratio,
                Some(Kind::Slow(route, factor)) if route == i => median *= factor,
                _ => {}
            }
            let expected = rps * args.scale * day * self.rng.between(0.85, 1.15);
            let n = expected.floor() as u64 + u64::from(self.rng.chance(expected.fract()));
            for _ in 0..n {
                let code = if self.rng.chance(p5xx) {
                    2 + self.rng.below(2)
                } else {
                    usize::from(self.rng.chance(BASE_4XX))
                };
                let secs = median * (LATENCY_SIGMA * self.rng.normal()).exp();
                let c = &mut self.routes[i];
                c.codes[code] += 1;
                c.count += 1;
                c.sum += secs;
                for (b, le) in c.buckets.iter_mut().zip(BUCKETS) {
                    *b += u64::from(secs <= le);
                }
            }
        }
        let (mut p_probe, mut p_fail) = (BASE_PROBE_FAILURE, BASE_JOB_FAILURE);
        match kind {
            Some(Kind::ProbeDown) => p_probe = 0.9,
            Some(Kind::SettlementFailures) => p_fail = 0.3,
            _ => {}
        }
        self.probe_up = !self.rng.chance(p_probe);
        // A settlement batch of 1–10 jobs finishes every 5 seconds on average.
        if self.rng.chance(0.2) {
            for _ in 0..1 + self.rng.below(10) {
                self.jobs_processed += 1;
                self.jobs_failed += u64::from(self.rng.chance(p_fail));
            }
        }
    }

    /// Ends the running incident when due, or starts the next one when due
    /// (the quiet time between incidents is exponential: their mean is
    /// `--incident-every`).
    fn update_incident(&mut self, args: &Args) {
        if let Some(incident) = &self.incident {
            if self.tick >= incident.ends_at {
                log(&format!("incident over: {}", describe(incident.kind)));
                self.incident = None;
                let quiet = -args.incident_every.as_secs_f64() * (1.0 - self.rng.unit()).ln();
                self.next_incident = self.tick + quiet.round() as u64;
            }
            return;
        }
        if args.incident_every.is_zero() || self.tick < self.next_incident {
            return;
        }
        let route = self.rng.below(ROUTES.len());
        let kind = match self.rng.below(4) {
            0 => Kind::Errors(route, self.rng.between(0.2, 0.8)),
            1 => Kind::Slow(route, self.rng.between(4.0, 10.0)),
            2 => Kind::ProbeDown,
            _ => Kind::SettlementFailures,
        };
        let secs = 60 + self.rng.below(121) as u64;
        log(&format!(
            "incident start ({}m{:02}s): {}",
            secs / 60,
            secs % 60,
            describe(kind)
        ));
        self.incident = Some(Incident {
            kind,
            ends_at: self.tick + secs,
        });
    }

    /// The Prometheus text exposition of the current counters.
    fn render(&self) -> String {
        let mut o = String::with_capacity(16 * 1024);
        let labels = |r: &(&str, &str, f64, f64)| format!("service=\"{}\",route=\"{}\"", r.0, r.1);
        let r = "http_requests_total";
        writeln!(
            o,
            "# HELP {r} HTTP requests served, by status code.\n# TYPE {r} counter"
        )
        .unwrap();
        for (route, c) in ROUTES.iter().zip(&self.routes) {
            for (code, n) in CODES.iter().zip(c.codes) {
                writeln!(o, "{r}{{{},code=\"{code}\"}} {n}", labels(route)).unwrap();
            }
        }
        let h = "http_request_duration_seconds";
        writeln!(
            o,
            "# HELP {h} Time to serve an HTTP request.\n# TYPE {h} histogram"
        )
        .unwrap();
        for (route, c) in ROUTES.iter().zip(&self.routes) {
            let l = labels(route);
            for (le, n) in BUCKETS.iter().zip(c.buckets) {
                writeln!(o, "{h}_bucket{{{l},le=\"{le}\"}} {n}").unwrap();
            }
            let (count, sum) = (c.count, c.sum);
            writeln!(o, "{h}_bucket{{{l},le=\"+Inf\"}} {count}").unwrap();
            writeln!(o, "{h}_sum{{{l}}} {sum}\n{h}_count{{{l}}} {count}").unwrap();
        }
        let (p, up) = ("probe_success", u8::from(self.probe_up));
        writeln!(
            o,
            "# HELP {p} Whether the last probe succeeded.\n# TYPE {p} gauge"
        )
        .unwrap();
        writeln!(o, "{p}{{target=\"payments-gateway\"}} {up}").unwrap();
        let jobs = [
            ("processed", self.jobs_processed),
            ("failed", self.jobs_failed),
        ];
        for (what, n) in jobs {
            let j = format!("jobs_{what}_total");
            writeln!(o, "# HELP {j} Batch jobs {what}.\n# TYPE {j} counter").unwrap();
            writeln!(o, "{j}{{job_name=\"settlement\"}} {n}").unwrap();
        }
        o
    }
}

fn describe(kind: Kind) -> String {
    let name = |r: usize| format!("{} {}", ROUTES[r].0, ROUTES[r].1);
    match kind {
        Kind::Errors(route, ratio) => format!(
            "{} fails {:.0}% of requests with 5xx",
            name(route),
            ratio * 100.0
        ),
        Kind::Slow(route, factor) => format!("{} is {factor:.1}x slower", name(route)),
        Kind::ProbeDown => "payments-gateway probe fails".to_owned(),
        Kind::SettlementFailures => "settlement jobs fail 30% of the time".to_owned(),
    }
}

fn log(message: &str) {
    eprintln!(
        "{} demo_workload: {message}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
}

async fn metrics(State(sim): State<Arc<Mutex<Sim>>>) -> impl IntoResponse {
    let body = sim.lock().unwrap().render();
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], body)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(!args.day_length.is_zero(), "--day-length must be positive");
    anyhow::ensure!(
        args.scale.is_finite() && args.scale >= 0.0,
        "--scale must be a non-negative number"
    );
    let listen = args.listen;
    let sim = Arc::new(Mutex::new(Sim::new(args.seed)));

    let ticker = Arc::clone(&sim);
    tokio::spawn(async move {
        let mut every_second = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every_second.tick().await;
            ticker.lock().unwrap().step(&args);
        }
    });

    let app = Router::new()
        .route("/metrics", get(metrics))
        .route(
            "/",
            get(|| async { "burnrate demo workload: see /metrics\n" }),
        )
        .with_state(sim);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    log(&format!(
        "serving http://{}/metrics",
        listener.local_addr()?
    ));
    axum::serve(listener, app).await?;
    Ok(())
}
