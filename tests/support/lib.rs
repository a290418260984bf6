//! Shared helpers for burnrate's integration tests and benchmarks.
//!
//! A crate of its own, so each test binary and benchmark depends on it
//! instead of including its files. It starts real servers as child
//! processes (there is no Docker here):
//!
//! * [`TestPrometheus`]: a Prometheus on a free port with a temp data dir,
//!   accepting remote write (including out-of-order samples up to 31 days
//!   old), restartable on the same port and data dir for outage tests.
//! * [`TestVictoriaMetrics`]: the same for VictoriaMetrics.
//! * [`TestDatabase`]: a fresh, uniquely named database on the PostgreSQL
//!   server in `DATABASE_URL`, dropped again when the value is dropped.
//! * [`TestPostgres`]: a PostgreSQL cluster of a test's own, which it can
//!   stop and start again (database outages).
//! * [`TestAlertmanager`]: `prometheus-alertmanager` on a free port, and
//!   [`CaptureServer`], which records what is POSTed to it (webhooks).
//! * [`Series`] and `remote_write`: seed history with Prometheus remote
//!   write (snappy-compressed protobuf).
//! * [`TestBrowser`]: a headless Chromium driven through chromedriver
//!   (WebDriver, the `fantoccini` crate), for the web UI.
//! * [`free_port`], [`now_ms`].
//! * [`upstream`]: the upstream Sloth, Pyrra and OpenSLO files that
//!   `tests/upstream.toml` pins, found and checked against their sha256.
//!
//! Binaries come from `PROMETHEUS_BIN`, `PROMTOOL_BIN`, `ALERTMANAGER_BIN`,
//! `VICTORIA_METRICS_BIN`, `CHROMIUM_BIN` and `CHROMEDRIVER_BIN` (else from
//! `PATH`); `scripts/test.sh` installs the servers, exports those variables
//! and provides `DATABASE_URL`.
//!
//! Every helper is async and meant to be called from `#[tokio::test]`
//! functions (either runtime flavour). Helpers panic with a descriptive
//! message on failure, except the `try_*` variants, which return errors.

pub mod alertmanager;
pub mod browser;
pub mod database;
pub mod hostile;
pub mod http;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod remote_write;
pub mod synthetic;
pub mod tsdb_server;
pub mod upstream;
pub mod victoria;

pub use alertmanager::{CaptureServer, TestAlertmanager};
pub use browser::{BrowserOptions, TestBrowser};
pub use database::TestDatabase;
pub use http::{RangeSeries, parse_matrix};
pub use ports::free_port;
pub use postgres::TestPostgres;
pub use prometheus::{PrometheusBuilder, TestPrometheus};
pub use remote_write::Series;
pub use victoria::{TestVictoriaMetrics, VictoriaMetricsBuilder};

/// Milliseconds since the Unix epoch, the unit of sample timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock before 1970")
        .as_millis() as i64
}
