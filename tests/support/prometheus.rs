//! A real Prometheus server for tests.

use std::ffi::OsString;
use std::path::PathBuf;

use super::http::{self, RangeSeries};
use super::tsdb_server::{TsdbBuilder, TsdbKind, TsdbServer, TsdbSpec};

/// Options for [`TestPrometheus`]; see [`TestPrometheus::builder`].
pub type PrometheusBuilder = TsdbBuilder<PrometheusOptions>;

/// The options only Prometheus has; set them with [`PrometheusBuilder`].
#[derive(Debug, Clone)]
pub struct PrometheusOptions {
    config_extra: String,
    scrape_interval: String,
    evaluation_interval: String,
    external_labels: Vec<(String, String)>,
}

impl Default for PrometheusOptions {
    fn default() -> Self {
        Self {
            config_extra: String::new(),
            scrape_interval: "1s".into(),
            evaluation_interval: "1s".into(),
            external_labels: Vec::new(),
        }
    }
}

impl PrometheusBuilder {
    /// YAML appended to the generated config after the `global` and
    /// `storage` sections, e.g. a `scrape_configs:` or `rule_files:` block.
    pub fn config_extra(mut self, yaml: &str) -> Self {
        self.kind.config_extra = yaml.to_string();
        self
    }

    /// `global.scrape_interval` (default `1s`).
    pub fn scrape_interval(mut self, interval: &str) -> Self {
        self.kind.scrape_interval = interval.to_string();
        self
    }

    /// `global.external_labels` (default none).
    pub fn external_label(mut self, name: &str, value: &str) -> Self {
        self.kind
            .external_labels
            .push((name.to_string(), value.to_string()));
        self
    }

    /// `global.evaluation_interval` (default `1s`).
    pub fn evaluation_interval(mut self, interval: &str) -> Self {
        self.kind.evaluation_interval = interval.to_string();
        self
    }
}

/// A Prometheus process on `127.0.0.1:<free port>` with a temp data dir,
/// started with:
///
/// * `--storage.tsdb.retention.time=60d` (without it, backfilled data older
///   than 15 days is deleted at start-up);
/// * `--web.enable-remote-write-receiver`, and
///   `storage.tsdb.out_of_order_time_window: 31d` in its config, so tests can
///   write history up to 31 days old with [`TsdbServer::remote_write`];
/// * `--web.enable-lifecycle` (for [`TestPrometheus::set_config_extra`]) and
///   `--web.enable-admin-api`.
///
/// [`TsdbServer::stop`] / [`TsdbServer::kill`] and
/// [`TsdbServer::start_again`] restart it on the same port and data dir. The
/// process is killed and the dir removed on drop.
pub type TestPrometheus = TsdbServer<PrometheusOptions>;

impl TsdbKind for PrometheusOptions {
    const SPEC: TsdbSpec = TsdbSpec::new("Prometheus", "prometheus", "/-/ready");

    fn args(server: &TestPrometheus) -> Vec<OsString> {
        vec![
            format!("--config.file={}", server.config_path().display()).into(),
            format!("--storage.tsdb.path={}", server.data_dir().display()).into(),
            format!("--web.listen-address=127.0.0.1:{}", server.port()).into(),
            "--storage.tsdb.retention.time=60d".into(),
            "--web.enable-remote-write-receiver".into(),
            "--web.enable-lifecycle".into(),
            "--web.enable-admin-api".into(),
        ]
    }

    fn prepare(server: &TestPrometheus) {
        std::fs::create_dir(server.data_dir()).expect("create Prometheus data dir");
        server.write_config();
    }
}

impl TestPrometheus {
    /// A Prometheus with `config_yaml_extra` appended to its config.
    pub async fn start_with(config_yaml_extra: &str) -> Self {
        Self::builder()
            .config_extra(config_yaml_extra)
            .start()
            .await
    }

    fn config_text(&self) -> String {
        let external: String = self
            .kind()
            .external_labels
            .iter()
            .map(|(k, v)| format!("    {k}: {v:?}\n"))
            .collect();
        let external = if external.is_empty() {
            external
        } else {
            format!("  external_labels:\n{external}")
        };
        format!(
            "global:\n  scrape_interval: {}\n  evaluation_interval: {}\n{external}\
             storage:\n  tsdb:\n    out_of_order_time_window: 31d\n{}\n",
            self.kind().scrape_interval,
            self.kind().evaluation_interval,
            self.kind().config_extra
        )
    }

    fn write_config(&self) {
        std::fs::write(self.config_path(), self.config_text()).expect("write prometheus.yml");
    }

    pub fn config_path(&self) -> PathBuf {
        self.work_dir().join("prometheus.yml")
    }

    /// Replaces the extra config YAML and reloads it (`POST /-/reload`).
    pub async fn set_config_extra(&mut self, yaml: &str) {
        self.kind_mut().config_extra = yaml.to_string();
        self.write_config();
        let resp = self
            .client()
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

    /// The raw stored samples in `(at - range, at]` of every series matching
    /// `selector`: an instant query of `selector[range]` at `at_ms`.
    /// `range` is a PromQL duration such as `10m`.
    pub async fn raw_samples(&self, selector: &str, range: &str, at_ms: i64) -> Vec<RangeSeries> {
        let data = self
            .query(&format!("{selector}[{range}]"), at_ms as f64 / 1000.0)
            .await;
        http::parse_matrix(&data)
    }
}
