//! Whole `burnrate serve` processes sharing one PostgreSQL and one
//! Prometheus, beside a reference process on a database of its own: the
//! harness for the replica tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use burnrate::store::{Store, StoredHour};
use serde_json::Value;
use testkit::Series;
use testkit::synthetic::{DAY, HOUR, Incident, MINUTE, ROUTES, Scenario, exact_increase};
use testkit::{TestDatabase, TestPrometheus};

/// `--interval`: the shortest `serve` accepts.
pub const INTERVAL: Duration = Duration::from_secs(10);

pub fn scenario(end: i64) -> Scenario {
    let start = end - 4 * DAY;
    Scenario {
        start,
        end,
        scrape: 60_000,
        incidents: vec![
            Incident {
                from: start + 20 * HOUR,
                to: start + 21 * HOUR,
                route: "/pay",
                error_ratio: 0.3,
            },
            // Recent enough that the page-6h tier fires through every test.
            Incident {
                from: end - 40 * MINUTE,
                to: end - 5 * MINUTE,
                route: "/cart",
                error_ratio: 0.9,
            },
        ],
        outages: vec![],
        restarts: vec![("i1", start + DAY + 7 * MINUTE)],
        late_routes: vec![],
    }
}

/// One SLO per route and one over all routes, each with a 7-day and a
/// 3-day window: every SLO reads the same series through its own matcher.
pub fn catalog(objective_of_all: &str) -> String {
    let mut out = String::from("version: burnrate/v1\nservice: shop\nslos:\n");
    let routes = ROUTES
        .iter()
        .map(|r| (r.trim_start_matches('/'), format!("route=\"{r}\"")));
    for (name, matcher) in std::iter::once(("all", String::new())).chain(routes) {
        for window in ["7d", "3d"] {
            let objective = if name == "all" {
                objective_of_all
            } else {
                "99"
            };
            let sep = if matcher.is_empty() { "" } else { "," };
            out.push_str(&format!(
                "  - name: {name}-{window}\n    objective: {objective}\n    window: {window}\n    indicator:\n      ratio:\n        errors: http_requests_total{{code=\"500\"{sep}{matcher}}}\n        total: http_requests_total{{{matcher}}}\n"
            ));
        }
    }
    out
}

pub const SLOS: usize = 8;

/// Exact budget remaining of an SLO (`name-window`) evaluated at `at`.
pub fn exact_budget(series: &[Series], slo: &str, at: i64, objective: f64) -> f64 {
    let (name, window) = slo.rsplit_once('-').expect("name-window");
    let window = if window == "7d" { 7 * DAY } else { 3 * DAY };
    let route = format!("/{name}");
    let keep = |get: &dyn Fn(&str) -> String| name == "all" || get("route") == route;
    let bad = exact_increase(series, |g| keep(g) && g("code") == "500", at - window, at);
    let total = exact_increase(series, keep, at - window, at);
    1.0 - bad / total / (1.0 - objective)
}

/// A `burnrate serve` process.
pub struct Replica {
    pub port: u16,
    pub log: PathBuf,
    child: Option<Child>,
    catalog: PathBuf,
    prom: String,
    db: String,
    interval: String,
}

impl Replica {
    pub fn start(catalog: &Path, prom: &str, db: &str, log: PathBuf) -> Replica {
        Replica::start_every(catalog, prom, db, log, "10s")
    }

    /// A replica cycling every `interval` (a `--interval` value).
    pub fn start_every(
        catalog: &Path,
        prom: &str,
        db: &str,
        log: PathBuf,
        interval: &str,
    ) -> Replica {
        let mut r = Replica {
            port: testkit::ports::free_port(),
            log,
            child: None,
            catalog: catalog.to_path_buf(),
            prom: prom.to_string(),
            db: db.to_string(),
            interval: interval.to_string(),
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_burnrate"))
            .args(["serve", "--catalog"])
            .arg(&self.catalog)
            .args(["--prometheus-url", &self.prom, "--database-url", &self.db])
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--interval", &self.interval, "--backfill-chunk", "6h"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start burnrate serve");
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on a child this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0, "kill");
    }

    /// SIGKILL, then the same command again (same port, log appended).
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Restarts with another catalog after a graceful stop (SIGTERM).
    pub async fn roll(&mut self, catalog: &Path) {
        self.signal(libc::SIGTERM);
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.catalog = catalog.to_path_buf();
        self.spawn();
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text[text.len().saturating_sub(6_000)..].to_string()
    }

    pub async fn get(&self, path: &str) -> Option<(u16, Value)> {
        let resp = testkit::http::client()
            .get(format!("{}{path}", self.url()))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.json().await.ok()?))
    }

    pub async fn ready(&self) -> bool {
        matches!(self.get("/readyz").await, Some((200, _)))
    }

    /// `/api/v1/slos` as (SLO id, evaluated_at, data_state, budget remaining).
    pub async fn budgets(&self) -> Vec<(String, i64, String, Option<f64>)> {
        let Some((200, body)) = self.get("/api/v1/slos?limit=1000").await else {
            return Vec::new();
        };
        body["items"]
            .as_array()
            .or(body["slos"].as_array())
            .into_iter()
            .flatten()
            .map(|s| {
                let at = s["evaluated_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.timestamp_millis())
                    .unwrap_or(0);
                (
                    s["id"].as_str().unwrap_or_default().to_string(),
                    at,
                    s["data_state"].as_str().unwrap_or_default().to_string(),
                    s["error_budget"]["remaining"].as_f64(),
                )
            })
            .collect()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- {}:\n{}", self.log.display(), self.log_text());
        }
    }
}

/// Polls `check` every 200 ms until it holds or `limit` passes.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prometheus' count of the queries it has answered.
pub async fn queries_answered(prom: &TestPrometheus) -> f64 {
    metrics_text(&prom.url())
        .await
        .lines()
        .filter(|l| {
            l.starts_with("prometheus_http_requests_total{")
                && (l.contains("handler=\"/api/v1/query") || l.contains("handler=\"/api/v1/read\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The `/metrics` page of a server at `url`.
pub async fn metrics_text(url: &str) -> String {
    testkit::http::client()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// Sleeps until `offset` after the next cycle tick (ticks are aligned to
/// the interval plus a 5 s settle delay).
pub async fn until_tick(offset: Duration) {
    let period = INTERVAL.as_millis() as i64;
    let now = testkit::now_ms();
    let next =
        (now - 5_000).div_euclid(period) * period + period + 5_000 + offset.as_millis() as i64;
    tokio::time::sleep(Duration::from_millis((next - now) as u64)).await;
}

/// The database's SLO leases: SLO id to (owner, epoch).
pub async fn leases(db: &TestDatabase) -> BTreeMap<String, (uuid::Uuid, i64)> {
    let pool = db.pool().await;
    // Empty until the first replica has created the tables.
    let rows: Vec<(String, uuid::Uuid, i64)> =
        sqlx::query_as("select slo_id, owner, epoch from slo_leases")
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
    rows.into_iter().map(|(s, o, e)| (s, (o, e))).collect()
}

/// Live members' ids.
pub async fn live_members(db: &TestDatabase) -> BTreeSet<uuid::Uuid> {
    let store = Store::connect(db.url()).await.expect("store");
    store
        .members()
        .await
        .expect("members")
        .into_iter()
        .filter(|m| m.live)
        .map(|m| m.id)
        .collect()
}

/// Every SLO's progress (`ingested_until`, ms).
pub async fn progress(db: &TestDatabase) -> BTreeMap<String, i64> {
    let pool = db.pool().await;
    let rows: Vec<(String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "select slo_id, ingested_until from ingestion_state where retired_at is null",
    )
    .fetch_all(&pool)
    .await
    .unwrap_or_default();
    rows.into_iter()
        .map(|(s, t)| (s, t.timestamp_millis()))
        .collect()
}

/// Stored minutes up to `cut` (later minutes masked, and zero minutes read
/// as unfetched ones), without each instance's first hour: runs that started and stopped at different
/// instants compare equal on what both must have.
pub async fn buckets_until(db: &TestDatabase, cut: i64) -> Vec<StoredHour> {
    let store = Store::connect(db.url()).await.expect("store");
    let mut first: BTreeMap<String, i64> = BTreeMap::new();
    store
        .stored_hours()
        .await
        .expect("buckets")
        .into_iter()
        .filter(|h| {
            let hour = h.hour.timestamp_millis();
            let start = *first.entry(h.instance.clone()).or_insert(hour);
            hour > start + HOUR && hour < cut
        })
        .map(|mut h| {
            for (i, m) in h.minutes.iter_mut().enumerate() {
                // A minute after the series went quiet is stored as zero or
                // not at all depending on where the fetch began; sums read
                // both as zero, so they compare equal.
                let quiet = m.is_some_and(|c| c.good == 0.0 && c.total == 0.0);
                if quiet || h.hour.timestamp_millis() + (i as i64 + 1) * MINUTE > cut {
                    *m = None;
                }
            }
            h
        })
        // An hour with nothing counted is the same as an hour not stored:
        // which of them a run leaves depends on where its first fetch began.
        .filter(|h| h.minutes.iter().any(Option::is_some))
        .collect()
}

/// Asserts two runs stored the same buckets, naming the first difference.
pub fn assert_same_buckets(got: &[StoredHour], want: &[StoredHour], what: &str) {
    for (a, b) in got.iter().zip(want) {
        assert!(
            a == b,
            "{what}: first difference at {} {}:\n{a:?}\n{b:?}",
            a.instance,
            a.hour
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: hours stored");
    assert!(
        want.len() > 8 * 24,
        "{what}: only {} hours compared",
        want.len()
    );
}

/// Alert transitions as (instance, alert, transition), in order.
pub async fn transitions(db: &TestDatabase) -> Vec<(String, String, String)> {
    let pool = db.pool().await;
    sqlx::query_as(
        "select i.slo_id || i.group_key, t.alert, t.transition from alert_transitions t
         join slo_instances i on i.id = t.instance_id order by 1, 2, t.at, t.id",
    )
    .fetch_all(&pool)
    .await
    .expect("transitions")
}

/// Prometheus seeded with the scenario, ending ten minutes ago.
pub async fn seeded_prometheus() -> (TestPrometheus, Vec<Series>) {
    let prom = TestPrometheus::start().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    prom.remote_write(&series).await;
    (prom, series)
}
