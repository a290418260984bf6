//! What [`super::TestPrometheus`] and [`super::TestVictoriaMetrics`] share: a
//! time-series server process on `127.0.0.1:<free port>` with a temp dir,
//! restartable on the same port and dir, queried through the Prometheus API
//! and fed with Prometheus remote write.
//!
//! Both are a [`TsdbServer`] started from a [`TsdbBuilder`], told apart by
//! their [`TsdbKind`], which holds the options only that kind has; each kind's
//! module adds the methods only it has.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::http;
use super::ports::free_port;
use super::process::{ServerProcess, find_binary};
use super::remote_write::{self, Series};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 5;

/// Names and paths of one kind of server.
#[derive(Debug, Clone, Copy)]
pub struct TsdbSpec {
    /// The server's name in messages, e.g. `Prometheus`.
    label: &'static str,
    /// The binary on `PATH`, also the process name and the log file's stem.
    /// `<BINARY>_BIN` (e.g. `VICTORIA_METRICS_BIN`) names it instead, and
    /// the temp dir is named after its first word (`burnrate-victoria-...`).
    binary: &'static str,
    /// Path polled until it answers 2xx, e.g. `/-/ready`.
    ready_path: &'static str,
}

impl TsdbSpec {
    pub const fn new(label: &'static str, binary: &'static str, ready_path: &'static str) -> Self {
        Self {
            label,
            binary,
            ready_path,
        }
    }
}

/// One kind of server, with the options only it has.
pub trait TsdbKind: Default + Sized {
    const SPEC: TsdbSpec;

    /// A path to `GET` after each remote write, for servers that make
    /// ingested samples searchable only when they flush.
    const FLUSH_PATH: Option<&'static str> = None;

    /// The command line for the server's dir and port, without the flags the
    /// test added with [`TsdbBuilder::arg`].
    fn args(server: &TsdbServer<Self>) -> Vec<OsString>;

    /// Prepares the temp dir before the first start (e.g. writes a config).
    fn prepare(_server: &TsdbServer<Self>) {}
}

/// Options for a [`TsdbServer`]; see [`TsdbServer::builder`].
#[derive(Debug, Clone, Default)]
pub struct TsdbBuilder<K> {
    /// The options only this kind of server has.
    pub(super) kind: K,
    args: Vec<String>,
}

impl<K: TsdbKind> TsdbBuilder<K> {
    /// An extra command-line flag, e.g. `--query.lookback-delta=1m`.
    pub fn arg(mut self, flag: &str) -> Self {
        self.args.push(flag.to_string());
        self
    }

    /// Starts the server and waits until it is ready.
    pub async fn start(self) -> TsdbServer<K> {
        let mut server = TsdbServer::new(self);
        K::prepare(&server);
        server.launch().await;
        server
    }
}

/// The server process, its temp dir, the options it was started with and an
/// HTTP client for it. The process is killed and the dir removed on drop.
pub struct TsdbServer<K> {
    dir: TempDir,
    port: u16,
    builder: TsdbBuilder<K>,
    process: ServerProcess,
    client: reqwest::Client,
}

impl<K: TsdbKind> TsdbServer<K> {
    /// A server with the default options.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    pub fn builder() -> TsdbBuilder<K> {
        TsdbBuilder::default()
    }

    /// Finds the binary and creates the temp dir; [`Self::launch`] runs it.
    fn new(builder: TsdbBuilder<K>) -> Self {
        let TsdbSpec { label, binary, .. } = K::SPEC;
        let env_var = format!("{}_BIN", binary.to_uppercase().replace('-', "_"));
        let program = find_binary(&env_var, binary);
        let first_word = binary.split('-').next().unwrap_or(binary);
        let dir = tempfile::Builder::new()
            .prefix(&format!("burnrate-{first_word}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("create temp dir for {label}: {e:?}"));
        Self {
            process: ServerProcess::new(
                binary,
                program,
                Vec::new(),
                dir.path().join(format!("{binary}.log")),
            ),
            dir,
            port: 0,
            builder,
            client: http::client(),
        }
    }

    /// Starts the server on a free port and waits until it is ready.
    async fn launch(&mut self) {
        let label = K::SPEC.label;
        let mut last_err = String::new();
        for _ in 0..START_ATTEMPTS {
            self.port = free_port();
            self.spawn();
            let Err(e) = self.wait_ready().await else {
                return;
            };
            self.process.kill();
            // Someone else took the port between free_port() and the bind:
            // try another one. Anything else is fatal.
            assert!(
                e.contains("address already in use"),
                "{label} failed to start: {e}"
            );
            last_err = e;
        }
        panic!("{label} failed to start after {START_ATTEMPTS} attempts: {last_err}");
    }

    fn spawn(&mut self) {
        let mut args = K::args(self);
        args.extend(self.builder.args.iter().map(OsString::from));
        self.process.set_args(args);
        self.process.spawn();
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let url = format!("{}{}", self.url(), K::SPEC.ready_path);
        self.process
            .wait_ready(&self.client, &url, READY_TIMEOUT)
            .await
    }

    /// The options only this kind of server has.
    pub(super) fn kind(&self) -> &K {
        &self.builder.kind
    }

    pub(super) fn kind_mut(&mut self) -> &mut K {
        &mut self.builder.kind
    }

    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The storage directory (`<work dir>/data`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A directory for the test's own files (rule files, targets), removed
    /// with the server.
    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server has logged so far (all runs).
    pub fn log(&self) -> String {
        self.process.log_tail(usize::MAX)
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Graceful shutdown (SIGTERM; Prometheus flushes its head); the data dir
    /// and port are kept for [`Self::start_again`].
    pub async fn stop(&mut self) {
        self.process.terminate(Duration::from_secs(30)).await;
    }

    /// Hard crash (SIGKILL): on restart Prometheus replays its WAL.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the server again on the same port with the same data dir and
    /// config, after [`Self::stop`] or [`Self::kill`]; waits until ready.
    pub async fn start_again(&mut self) {
        let label = K::SPEC.label;
        assert!(!self.process.is_running(), "{label} is still running");
        self.spawn();
        if let Err(e) = self.wait_ready().await {
            self.process.kill();
            panic!("{label} failed to start again on port {}: {e}", self.port);
        }
    }

    /// Remote-writes `series` (panics on failure; see
    /// [`Self::try_remote_write`]). Samples are queryable as soon as this
    /// returns.
    pub async fn remote_write(&self, series: &[Series]) {
        self.try_remote_write(series)
            .await
            .unwrap_or_else(|e| panic!("remote write to {} failed: {e:#}", K::SPEC.label));
    }

    /// Remote write returning the error, e.g. for samples outside the
    /// out-of-order window, which Prometheus 2.42 answers with HTTP 500
    /// "too old sample". Flushes afterwards where the server needs it
    /// ([`TsdbKind::FLUSH_PATH`]).
    pub async fn try_remote_write(&self, series: &[Series]) -> anyhow::Result<()> {
        remote_write::try_remote_write(&self.client, &self.url(), series).await?;
        match K::FLUSH_PATH {
            Some(path) => self.try_get(path).await,
            None => Ok(()),
        }
    }

    /// `GET <url><path>`, failing unless it answers 2xx.
    pub(super) async fn try_get(&self, path: &str) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.url());
        let resp = self.client.get(&url).send().await?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            anyhow::bail!("GET {url}: HTTP {status}: {body}");
        }
        Ok(())
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

    /// A client for other requests to this server.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}
