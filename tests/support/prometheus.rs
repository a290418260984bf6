//! A real Prometheus server for tests.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::http::{self, RangeSeries};
use super::ports::free_port;
use super::process::{ServerProcess, find_binary};
use super::remote_write::{self, Series};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 5;

/// Options for [`TestPrometheus`]; see [`TestPrometheus::builder`].
#[derive(Debug, Clone)]
pub struct PrometheusBuilder {
    config_extra: String,
    scrape_interval: String,
    evaluation_interval: String,
    args: Vec<String>,
}

impl Default for PrometheusBuilder {
    fn default() -> Self {
        Self {
            config_extra: String::new(),
            scrape_interval: "1s".into(),
            evaluation_interval: "1s".into(),
            args: Vec::new(),
        }
    }
}

impl PrometheusBuilder {
    /// YAML appended to the generated config after the `global` and
    /// `storage` sections, e.g. a `scrape_configs:` or `rule_files:` block.
    pub fn config_extra(mut self, yaml: &str) -> Self {
        self.config_extra = yaml.to_string();
        self
    }

    /// `global.scrape_interval` (default `1s`).
    pub fn scrape_interval(mut self, interval: &str) -> Self {
        self.scrape_interval = interval.to_string();
        self
    }

    /// `global.evaluation_interval` (default `1s`).
    pub fn evaluation_interval(mut self, interval: &str) -> Self {
        self.evaluation_interval = interval.to_string();
        self
    }

    /// An extra command-line flag, e.g. `--query.lookback-delta=1m`.
    pub fn arg(mut self, flag: &str) -> Self {
        self.args.push(flag.to_string());
        self
    }

    /// Starts Prometheus and waits until `/-/ready` answers.
    pub async fn start(self) -> TestPrometheus {
        TestPrometheus::start_from(self).await
    }
}

/// A Prometheus process on `127.0.0.1:<free port>` with a temp data dir,
/// started with:
///
/// * `--storage.tsdb.retention.time=60d` (without it, backfilled data older
///   than 15 days is deleted at start-up);
/// * `--web.enable-remote-write-receiver`, and
///   `storage.tsdb.out_of_order_time_window: 31d` in its config, so tests can
///   write history up to 31 days old with [`Self::remote_write`];
/// * `--web.enable-lifecycle` (for [`Self::set_config_extra`]) and
///   `--web.enable-admin-api`.
///
/// [`Self::stop`] / [`Self::kill`] and [`Self::start_again`] restart it on the
/// same port and data dir. The process is killed and the dir removed on drop.
pub struct TestPrometheus {
    dir: TempDir,
    port: u16,
    builder: PrometheusBuilder,
    process: ServerProcess,
    client: reqwest::Client,
}

impl TestPrometheus {
    /// A Prometheus with the default config (no scrape targets).
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A Prometheus with `config_yaml_extra` appended to its config.
    pub async fn start_with(config_yaml_extra: &str) -> Self {
        Self::builder()
            .config_extra(config_yaml_extra)
            .start()
            .await
    }

    pub fn builder() -> PrometheusBuilder {
        PrometheusBuilder::default()
    }

    async fn start_from(builder: PrometheusBuilder) -> Self {
        let program = find_binary("PROMETHEUS_BIN", "prometheus");
        let dir = tempfile::Builder::new()
            .prefix("burnrate-prometheus-")
            .tempdir()
            .expect("create temp dir for Prometheus");
        std::fs::create_dir(dir.path().join("data")).expect("create Prometheus data dir");
        let mut this = Self {
            process: ServerProcess::new(
                "prometheus",
                program,
                Vec::new(),
                dir.path().join("prometheus.log"),
            ),
            dir,
            port: 0,
            builder,
            client: http::client(),
        };
        this.write_config();
        let mut last_err = String::new();
        for _ in 0..START_ATTEMPTS {
            this.port = free_port();
            this.process.set_args(this.args());
            this.process.spawn();
            match this.wait_ready().await {
                Ok(()) => return this,
                Err(e) => {
                    this.process.kill();
                    // Someone else took the port between free_port() and the
                    // bind: try another one. Anything else is fatal.
                    if !e.contains("address already in use") {
                        panic!("Prometheus failed to start: {e}");
                    }
                    last_err = e;
                }
            }
        }
        panic!("Prometheus failed to start after {START_ATTEMPTS} attempts: {last_err}");
    }

    fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            format!("--config.file={}", self.config_path().display()).into(),
            format!("--storage.tsdb.path={}", self.data_dir().display()).into(),
            format!("--web.listen-address=127.0.0.1:{}", self.port).into(),
            "--storage.tsdb.retention.time=60d".into(),
            "--web.enable-remote-write-receiver".into(),
            "--web.enable-lifecycle".into(),
            "--web.enable-admin-api".into(),
        ];
        args.extend(self.builder.args.iter().map(OsString::from));
        args
    }

    fn config_text(&self) -> String {
        format!(
            "global:\n  scrape_interval: {}\n  evaluation_interval: {}\n\
             storage:\n  tsdb:\n    out_of_order_time_window: 31d\n{}\n",
            self.builder.scrape_interval,
            self.builder.evaluation_interval,
            self.builder.config_extra
        )
    }

    fn write_config(&self) {
        std::fs::write(self.config_path(), self.config_text()).expect("write prometheus.yml");
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let url = format!("{}/-/ready", self.url());
        self.process
            .wait_ready(&self.client, &url, READY_TIMEOUT)
            .await
    }

    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TSDB directory (`--storage.tsdb.path`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.yml")
    }

    /// A directory for the test's own files (rule files, targets), removed
    /// with the server.
    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything Prometheus has logged so far (all runs).
    pub fn log(&self) -> String {
        self.process.log_tail(usize::MAX)
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Graceful shutdown (SIGTERM, Prometheus flushes its head); the data dir
    /// and port are kept for [`Self::start_again`].
    pub async fn stop(&mut self) {
        self.process.terminate(Duration::from_secs(30)).await;
    }

    /// Hard crash (SIGKILL): on restart Prometheus replays its WAL.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts Prometheus again on the same port with the same data dir and
    /// config, after [`Self::stop`] or [`Self::kill`]; waits until ready.
    pub async fn start_again(&mut self) {
        assert!(!self.process.is_running(), "Prometheus is still running");
        self.process.set_args(self.args());
        self.process.spawn();
        if let Err(e) = self.wait_ready().await {
            self.process.kill();
            panic!(
                "Prometheus failed to start again on port {}: {e}",
                self.port
            );
        }
    }

    /// Replaces the extra config YAML and reloads it (`POST /-/reload`).
    pub async fn set_config_extra(&mut self, yaml: &str) {
        self.builder.config_extra = yaml.to_string();
        self.write_config();
        let resp = self
            .client
            .post(format!("{}/-/reload", self.url()))
            .send()
            .await
            .expect("POST /-/reload");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "config reload failed: HTTP {status}: {body}"
        );
    }

    /// Remote-writes `series` (panics on failure; see [`Self::try_remote_write`]).
    /// Samples are queryable as soon as this returns.
    pub async fn remote_write(&self, series: &[Series]) {
        self.try_remote_write(series)
            .await
            .unwrap_or_else(|e| panic!("remote write to Prometheus failed: {e:#}"));
    }

    /// Remote write returning the error, e.g. for samples outside the
    /// out-of-order window, which Prometheus 2.42 answers with HTTP 500
    /// "too old sample".
    pub async fn try_remote_write(&self, series: &[Series]) -> anyhow::Result<()> {
        remote_write::try_remote_write(&self.client, &self.url(), series).await
    }

    /// Instant query at `time_s` (seconds since the epoch); the `data` object.
    pub async fn query(&self, promql: &str, time_s: f64) -> Value {
        http::try_query(&self.client, &self.url(), promql, time_s)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Range query; the `data` object.
    pub async fn query_range(&self, promql: &str, start_s: f64, end_s: f64, step_s: f64) -> Value {
        http::try_query_range(&self.client, &self.url(), promql, start_s, end_s, step_s)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// The raw stored samples in `(at - range, at]` of every series matching
    /// `selector`: an instant query of `selector[range]` at `at_ms`.
    /// `range` is a PromQL duration such as `10m`.
    pub async fn raw_samples(&self, selector: &str, range: &str, at_ms: i64) -> Vec<RangeSeries> {
        let data = self
            .query(&format!("{selector}[{range}]"), at_ms as f64 / 1000.0)
            .await;
        http::parse_matrix(&data)
    }

    /// A client for other requests to this server.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}
