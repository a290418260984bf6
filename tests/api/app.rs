//! A whole `burnrate serve` for HTTP API tests: a real Prometheus seeded by
//! remote write, a fresh PostgreSQL database, a catalog of three services,
//! five minutes of stored history, and the app listening on 127.0.0.1:0.
//!
//! What the seeded data gives, once the first cycle is done:
//!
//! | id | data state | gate |
//! |---|---|---|
//! | `checkout/availability` | ok, ~0.05% errors of a 1% budget | allow |
//! | `checkout/by-route{route="/cart"}`, `{route="/pay"}` | ok | allow |
//! | `search/availability` | ok, 50% errors for 2h: budget overspent, `page-1h` firing | deny |
//! | `ghost/availability` | no_data (policy: undecided) | undecided |
//! | `ghost/lenient` | no_data (policy: allow) | allow |

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burnrate::api::AppState;
use burnrate::api::{ApiSettings, Secret, Tokens};
use burnrate::catalog;
use burnrate::evaluation::DataState;
use burnrate::prom::{Prometheus, PrometheusConfig};
use burnrate::serve::runtime::{IngestSettings, Services, SloRuntime};
use burnrate::serve::{App, ServeSettings};
use burnrate::store::Store;
use chrono::{TimeZone, Utc};
use tempfile::TempDir;
use tokio::sync::oneshot;

use testkit::{Series, TestDatabase, TestPrometheus, now_ms};

pub const READ_TOKEN: &str = "read-token-for-tests-0123456789";
pub const WRITE_TOKEN: &str = "write-token-for-tests-9876543210";
pub const MINUTE: i64 = 60_000;

pub const CHECKOUT: &str = r#"version: burnrate/v1
service: checkout
labels:
  team: payments
slos:
  - name: availability
    objective: 99
    window: 3d
    indicator:
      ratio:
        errors: api_requests_total{service="checkout",code="500"}
        total: api_requests_total{service="checkout"}
  - name: by-route
    objective: 99
    window: 3d
    group_by: [route]
    indicator:
      ratio:
        errors: api_requests_total{service="checkout",code="500"}
        total: api_requests_total{service="checkout"}
"#;

pub const SEARCH: &str = r#"version: burnrate/v1
service: search
labels:
  team: discovery
slos:
  - name: availability
    objective: 99.9
    window: 3d
    indicator:
      ratio:
        errors: api_requests_total{service="search",code="500"}
        total: api_requests_total{service="search"}
    alerting:
      tiers:
        page-1h: {for: 0s}
"#;

pub const GHOST: &str = r#"version: burnrate/v1
service: ghost
slos:
  - name: availability
    objective: 99
    window: 3d
    indicator:
      ratio:
        errors: ghost_requests_total{code="500"}
        total: ghost_requests_total
  - name: lenient
    objective: 99
    window: 3d
    indicator:
      ratio:
        errors: ghost_requests_total{code="500"}
        total: ghost_requests_total
    gate:
      on_no_data: allow
"#;

pub const IDS: [&str; 6] = [
    "checkout/availability",
    "checkout/by-route{route=\"/cart\"}",
    "checkout/by-route{route=\"/pay\"}",
    "ghost/availability",
    "ghost/lenient",
    "search/availability",
];

/// The seeded counters: 3 hours up to `end` at a 30 s scrape, and 20 minutes
/// beyond it, so the short alert windows still hold data while tests run.
pub fn series(end: i64) -> Vec<Series> {
    series_over(end, 180)
}

/// The same counters over `minutes` up to `end` (and 20 minutes beyond).
pub fn series_over(end: i64, minutes: i64) -> Vec<Series> {
    let start = end - minutes * MINUTE;
    let times: Vec<i64> = (0..=(minutes + 20) * 2)
        .map(|i| start + i * 30_000)
        .collect();
    let counter = |per_scrape: &dyn Fn(i64) -> f64| -> Vec<(i64, f64)> {
        let mut value = 0.0;
        times
            .iter()
            .map(|&t| {
                value += per_scrape(t);
                (t, value)
            })
            .collect()
    };
    let mut out = Vec::new();
    for route in ["/pay", "/cart"] {
        out.push(Series::new(
            "api_requests_total",
            &[("service", "checkout"), ("route", route), ("code", "200")],
            counter(&|_| 100.0),
        ));
        out.push(Series::new(
            "api_requests_total",
            &[("service", "checkout"), ("route", route), ("code", "500")],
            counter(&|t| if (t / 30_000) % 20 == 0 { 1.0 } else { 0.0 }),
        ));
    }
    out.push(Series::new(
        "api_requests_total",
        &[("service", "search"), ("route", "/q"), ("code", "200")],
        counter(&|_| 10.0),
    ));
    out.push(Series::new(
        "api_requests_total",
        &[("service", "search"), ("route", "/q"), ("code", "500")],
        counter(&|t| if t > end - 120 * MINUTE { 10.0 } else { 0.0 }),
    ));
    out
}

pub struct Options {
    pub tokens: Tokens,
    /// Evaluations every 5 minutes over the last hour, for the history endpoint.
    pub history: bool,
    /// More history: evaluations every 30 minutes over this many hours
    /// (counters seeded to match), for the web UI's charts.
    pub history_hours: Option<i64>,
    pub cors: burnrate::api::CorsOrigins,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tokens: Tokens {
                read: Some(Secret::new(READ_TOKEN)),
                write: Some(Secret::new(WRITE_TOKEN)),
            },
            history: true,
            history_hours: None,
            cors: Default::default(),
        }
    }
}

pub struct Fixture {
    /// Held so the servers run as long as the fixture.
    #[allow(dead_code)]
    pub prom: TestPrometheus,
    #[allow(dead_code)]
    pub db: TestDatabase,
    pub catalog_dir: TempDir,
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub client: reqwest::Client,
    /// "Now" of the seeded data (ms, minute aligned): history ends here.
    #[allow(dead_code)]
    pub end: i64,
    /// History was recorded at these times (ms).
    pub history_times: Vec<i64>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// A runtime and a started fixture, for tests that run child processes
/// (blocking) against it while the server runs on the runtime's workers.
pub fn fixture_on_runtime(options: Options) -> (tokio::runtime::Runtime, Fixture) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(Fixture::start(options));
    (rt, f)
}

impl Fixture {
    pub async fn start(options: Options) -> Fixture {
        let prom = TestPrometheus::start().await;
        let db = TestDatabase::create().await;
        let end = now_ms() / MINUTE * MINUTE - MINUTE;
        let minutes = options.history_hours.map_or(180, |h| (h + 1) * 60).max(180);
        prom.remote_write(&series_over(end, minutes)).await;
        let catalog_dir = tempfile::Builder::new()
            .prefix("burnrate-api-catalog-")
            .tempdir()
            .expect("catalog dir");
        for (file, text) in [
            ("checkout.yaml", CHECKOUT),
            ("search.yaml", SEARCH),
            ("ghost.yaml", GHOST),
        ] {
            std::fs::write(catalog_dir.path().join(file), text).expect("write catalog");
        }
        let history_times = if options.history {
            let (step, count) = match options.history_hours {
                Some(hours) => (30 * MINUTE, hours * 2),
                None => (5 * MINUTE, 12),
            };
            let dir = catalog_dir.path().to_path_buf();
            seed_history(&prom, &db, &dir, end, step, count).await
        } else {
            Vec::new()
        };
        let settings = ServeSettings {
            catalog: vec![catalog_dir.path().to_path_buf()],
            promql_dialect: Default::default(),
            prometheus: PrometheusConfig::new(prom.url()),
            database_url: burnrate::secret::Secret::new(db.url()),
            listen: "127.0.0.1:0".parse().unwrap(),
            interval: burnrate::duration::Duration::from_secs(10),
            concurrency: 4,
            backfill_concurrency: 2,
            ingest: IngestSettings::default(),
            // Reloads in these tests are the API's, not the file watch's.
            watch_interval: Duration::from_secs(3600),
            lease_ttl: None,
            api: ApiSettings {
                tokens: options.tokens,
                cors: options.cors,
                // The web UI's tests wait for polls: several a cycle.
                ui_poll: Duration::from_secs(2),
                ..ApiSettings::default()
            },
            alerting: Default::default(),
        };
        let app = App::build(settings).await.expect("App::build");
        let addr = app.local_addr();
        let state = app.state();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let fixture = Fixture {
            prom,
            db,
            catalog_dir,
            addr,
            state,
            client,
            end,
            history_times,
            shutdown: Some(tx),
        };
        fixture.wait_ready().await;
        fixture
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ok = self
                .client
                .get(self.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            // Ready means the first cycle ran; SLOs without stored counts are
            // evaluated on the cycle after their backfill.
            let evaluated = self
                .state
                .snapshot()
                .instances
                .values()
                .all(|s| !matches!(s.data_state, DataState::Pending | DataState::Backfilling));
            if ok && evaluated {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "burnrate did not become ready and evaluate every SLO within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Evaluations at `count + 1` marks `step` apart up to the last 5-minute
/// mark, stored the way the scheduler stores them (SloRuntime cycles
/// against the same database).
async fn seed_history(
    prom: &TestPrometheus,
    db: &TestDatabase,
    dir: &PathBuf,
    end: i64,
    step: i64,
    count: i64,
) -> Vec<i64> {
    let catalog = burnrate::reload::load_catalog(std::slice::from_ref(dir))
        .unwrap_or_else(|e| panic!("test catalog invalid: {e}"));
    let services = Services {
        prometheus: Prometheus::new(&PrometheusConfig::new(prom.url())).expect("client"),
        store: Store::connect(db.url()).await.expect("store"),
        settings: IngestSettings::default(),
        alerting: burnrate::alerting::AlertingConfig::default()
            .start()
            .expect("alerting without Alertmanager"),
    };
    let mut runtimes: Vec<SloRuntime> = Vec::new();
    for s in catalog.slos {
        runtimes.push(SloRuntime::claim(s, &services).await.expect("lease"));
    }
    let last = end - end.rem_euclid(5 * MINUTE);
    let times: Vec<i64> = (0..=count).rev().map(|k| last - k * step).collect();
    for &at in &times {
        let now = Utc.timestamp_millis_opt(at + 20_000).unwrap();
        for runtime in &mut runtimes {
            runtime.cycle(&services, now).await;
        }
    }
    times
}

/// Checks the test catalog on its own (a typo would otherwise surface as a timeout).
pub fn catalog_is_valid() {
    for text in [CHECKOUT, SEARCH, GHOST] {
        if let Err(d) = catalog::load_str(std::path::Path::new("t.yaml"), text).into_result() {
            panic!("test catalog invalid: {d:?}");
        }
    }
}
