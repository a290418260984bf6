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

use serde_json::Value;

use super::http::RangeSeries;
use super::tsdb_server::{TsdbBuilder, TsdbKind, TsdbServer, TsdbSpec};

const FORCE_FLUSH_PATH: &str = "/internal/force_flush";

/// Options for [`TestVictoriaMetrics`]: only extra flags
/// ([`TsdbBuilder::arg`]), e.g. `-dedup.minScrapeInterval=1m`.
pub type VictoriaMetricsBuilder = TsdbBuilder<VictoriaMetricsOptions>;

/// VictoriaMetrics has no options of its own here.
#[derive(Debug, Clone, Default)]
pub struct VictoriaMetricsOptions;

/// A VictoriaMetrics process on `127.0.0.1:<free port>` with a temp data dir;
/// it speaks the Prometheus query API and accepts Prometheus remote write at
/// `/api/v1/write`; [`TsdbServer::remote_write`] flushes afterwards, so the
/// samples are queryable at once. Killed and its dir removed on drop.
pub type TestVictoriaMetrics = TsdbServer<VictoriaMetricsOptions>;

impl TsdbKind for VictoriaMetricsOptions {
    const SPEC: TsdbSpec = TsdbSpec::new("VictoriaMetrics", "victoria-metrics", "/health");
    const FLUSH_PATH: Option<&'static str> = Some(FORCE_FLUSH_PATH);

    fn args(server: &TestVictoriaMetrics) -> Vec<OsString> {
        vec![
            format!("-httpListenAddr=127.0.0.1:{}", server.port()).into(),
            format!("-storageDataPath={}", server.data_dir().display()).into(),
            "-retentionPeriod=1y".into(),
            "-search.disableCache".into(),
            "-search.latencyOffset=0s".into(),
        ]
    }
}

impl TestVictoriaMetrics {
    /// Makes everything ingested so far searchable (`/internal/force_flush`).
    pub async fn try_flush(&self) -> anyhow::Result<()> {
        self.try_get(FORCE_FLUSH_PATH).await
    }

    /// Every stored sample of the series matching `selector` with
    /// `start_ms <= t <= end_ms`, read through `/api/v1/export` (JSON lines),
    /// which returns raw samples rather than evaluated query points.
    pub async fn export(&self, selector: &str, start_ms: i64, end_ms: i64) -> Vec<RangeSeries> {
        let url = format!("{}/api/v1/export", self.url());
        let resp = self
            .client()
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
}
