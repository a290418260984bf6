//! A real single-node VictoriaMetrics server for tests.
//!
//! Flags and why (VictoriaMetrics 1.79, Debian's `victoria-metrics`):
//!
//! * `-retentionPeriod=1y`: samples outside the retention period are dropped
//!   on ingestion, so backfilled history needs a long one.
//! * `-search.disableCache`: VictoriaMetrics caches rollup results of range
//!   queries for data older than `-search.cacheTimestampOffset` (5m); tests
//!   backfill the past, so a cached answer could hide samples written later.
//! * `-search.latencyOffset=0s`: by default `/api/v1/query_range` drops or
//!   adjusts points newer than now-30s as "possibly incomplete".
//! * After each remote write this helper calls `/internal/force_flush`:
//!   ingested rows are buffered in memory and become searchable only when
//!   flushed (about once a second otherwise).
//! * `-search.maxStalenessInterval` is left alone: VictoriaMetrics detects the
//!   sample interval per series instead of using Prometheus' fixed 5m
//!   lookback.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::http::{self, RangeSeries};
use super::ports::free_port;
use super::process::{ServerProcess, find_binary};
use super::remote_write::{self, Series};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 5;

/// Options for [`TestVictoriaMetrics`].
#[derive(Debug, Clone, Default)]
pub struct VictoriaMetricsBuilder {
    args: Vec<String>,
}

impl VictoriaMetricsBuilder {
    /// An extra flag, e.g. `-dedup.minScrapeInterval=1m`.
    pub fn arg(mut self, flag: &str) -> Self {
        self.args.push(flag.to_string());
        self
    }

    pub async fn start(self) -> TestVictoriaMetrics {
        TestVictoriaMetrics::start_from(self).await
    }
}

/// A VictoriaMetrics process on `127.0.0.1:<free port>` with a temp data dir;
/// it speaks the Prometheus query API and accepts Prometheus remote write at
/// `/api/v1/write`. Killed and its dir removed on drop.
pub struct TestVictoriaMetrics {
    dir: TempDir,
    port: u16,
    builder: VictoriaMetricsBuilder,
    process: ServerProcess,
    client: reqwest::Client,
}

impl TestVictoriaMetrics {
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    pub fn builder() -> VictoriaMetricsBuilder {
        VictoriaMetricsBuilder::default()
    }

    async fn start_from(builder: VictoriaMetricsBuilder) -> Self {
        let program = find_binary("VICTORIA_METRICS_BIN", "victoria-metrics");
        let dir = tempfile::Builder::new()
            .prefix("burnrate-victoria-")
            .tempdir()
            .expect("create temp dir for VictoriaMetrics");
        let mut this = Self {
            process: ServerProcess::new(
                "victoria-metrics",
                program,
                Vec::new(),
                dir.path().join("victoria-metrics.log"),
            ),
            dir,
            port: 0,
            builder,
            client: http::client(),
        };
        let mut last_err = String::new();
        for _ in 0..START_ATTEMPTS {
            this.port = free_port();
            this.process.set_args(this.args());
            this.process.spawn();
            match this.wait_ready().await {
                Ok(()) => return this,
                Err(e) => {
                    this.process.kill();
                    if !e.contains("address already in use") {
                        panic!("VictoriaMetrics failed to start: {e}");
                    }
                    last_err = e;
                }
            }
        }
        panic!("VictoriaMetrics failed to start after {START_ATTEMPTS} attempts: {last_err}");
    }

    fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            format!("-httpListenAddr=127.0.0.1:{}", self.port).into(),
            format!("-storageDataPath={}", self.data_dir().display()).into(),
            "-retentionPeriod=1y".into(),
            "-search.disableCache".into(),
            "-search.latencyOffset=0s".into(),
        ];
        args.extend(self.builder.args.iter().map(OsString::from));
        args
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let url = format!("{}/health", self.url());
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

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log(&self) -> String {
        self.process.log_tail(usize::MAX)
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Graceful shutdown (SIGTERM); data dir and port kept for
    /// [`Self::start_again`].
    pub async fn stop(&mut self) {
        self.process.terminate(Duration::from_secs(30)).await;
    }

    /// Hard crash (SIGKILL).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts again on the same port and data dir; waits until healthy.
    pub async fn start_again(&mut self) {
        assert!(
            !self.process.is_running(),
            "VictoriaMetrics is still running"
        );
        self.process.set_args(self.args());
        self.process.spawn();
        if let Err(e) = self.wait_ready().await {
            self.process.kill();
            panic!(
                "VictoriaMetrics failed to start again on port {}: {e}",
                self.port
            );
        }
    }

    /// Remote-writes `series` and flushes, so they are queryable at once.
    pub async fn remote_write(&self, series: &[Series]) {
        self.try_remote_write(series)
            .await
            .unwrap_or_else(|e| panic!("remote write to VictoriaMetrics failed: {e:#}"));
    }

    pub async fn try_remote_write(&self, series: &[Series]) -> anyhow::Result<()> {
        remote_write::try_remote_write(&self.client, &self.url(), series).await?;
        self.try_flush().await
    }

    /// Makes everything ingested so far searchable (`/internal/force_flush`).
    pub async fn try_flush(&self) -> anyhow::Result<()> {
        let url = format!("{}/internal/force_flush", self.url());
        let resp = self.client.get(&url).send().await?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            anyhow::bail!("GET {url}: HTTP {status}: {body}");
        }
        Ok(())
    }

    pub async fn query(&self, promql: &str, time_s: f64) -> Value {
        http::try_query(&self.client, &self.url(), promql, time_s)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub async fn query_range(&self, promql: &str, start_s: f64, end_s: f64, step_s: f64) -> Value {
        http::try_query_range(&self.client, &self.url(), promql, start_s, end_s, step_s)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Every stored sample of the series matching `selector` with
    /// `start_ms <= t <= end_ms`, read through `/api/v1/export` (JSON lines),
    /// which returns raw samples rather than evaluated query points.
    pub async fn export(&self, selector: &str, start_ms: i64, end_ms: i64) -> Vec<RangeSeries> {
        let url = format!("{}/api/v1/export", self.url());
        let resp = self
            .client
            .get(&url)
            .query(&[
                ("match[]", selector.to_string()),
                ("start", format!("{:.3}", start_ms as f64 / 1000.0)),
                ("end", format!("{:.3}", end_ms as f64 / 1000.0)),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {url}: HTTP {status}: {body}");
        // A series may come in several lines (one per stored block): merge.
        let mut merged: std::collections::BTreeMap<_, Vec<(i64, f64)>> = Default::default();
        for part in body.lines().filter(|l| !l.trim().is_empty()).map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("bad export line ({e}): {line}"));
            let labels = v["metric"]
                .as_object()
                .unwrap_or_else(|| panic!("export line without metric: {line}"))
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let values = v["values"].as_array().cloned().unwrap_or_default();
            let timestamps = v["timestamps"].as_array().cloned().unwrap_or_default();
            let samples = timestamps
                .iter()
                .zip(values.iter())
                .map(|(t, v)| {
                    let t = t
                        .as_i64()
                        .unwrap_or_else(|| panic!("bad timestamp in {line}"));
                    // Plain numbers, or strings for NaN/Inf.
                    let v = v
                        .as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .unwrap_or_else(|| panic!("bad value in {line}"));
                    (t, v)
                })
                .collect();
            RangeSeries { labels, samples }
        }) {
            merged.entry(part.labels).or_default().extend(part.samples);
        }
        merged
            .into_iter()
            .map(|(labels, mut samples)| {
                samples.sort_by_key(|&(t, _)| t);
                RangeSeries { labels, samples }
            })
            .collect()
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}
