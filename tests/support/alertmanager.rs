//! A real Alertmanager (`prometheus-alertmanager`) for tests, and a small
//! HTTP server that records what is POSTed to it (Alertmanager's webhook
//! notifications, or alerts sent to it in Alertmanager's stead).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::http;
use super::ports::free_port;
use super::process::{ServerProcess, find_binary};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 5;

/// An Alertmanager on `127.0.0.1:<port>` with a temp storage dir and
/// clustering off (`--cluster.listen-address=`). Its one route groups by
/// `alertname`, `service` and `slo`, waits 1s before the first notification
/// and 1s between updates, repeats after 4h, and, when a webhook URL is
/// given, notifies it of firing and resolved alerts. Killed on drop.
pub struct TestAlertmanager {
    dir: TempDir,
    port: u16,
    process: ServerProcess,
    client: reqwest::Client,
}

impl TestAlertmanager {
    /// Starts on a free port.
    pub async fn start(webhook_url: Option<&str>) -> Self {
        Self::start_inner(webhook_url, None).await
    }

    /// Starts on `port` (which must be free), e.g. where a sender already
    /// tries to deliver.
    pub async fn start_on(port: u16, webhook_url: Option<&str>) -> Self {
        Self::start_inner(webhook_url, Some(port)).await
    }

    async fn start_inner(webhook_url: Option<&str>, port: Option<u16>) -> Self {
        let program = find_binary("ALERTMANAGER_BIN", "prometheus-alertmanager");
        let dir = tempfile::Builder::new()
            .prefix("burnrate-alertmanager-")
            .tempdir()
            .expect("create temp dir for Alertmanager");
        let receiver = match webhook_url {
            Some(url) => format!(
                "  - name: capture\n    webhook_configs:\n      - url: {url}\n        send_resolved: true\n"
            ),
            None => "  - name: capture\n".to_string(),
        };
        let config = format!(
            "route:\n  receiver: capture\n  group_by: [alertname, service, slo]\n  \
             group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 4h\n\
             receivers:\n{receiver}"
        );
        std::fs::write(dir.path().join("alertmanager.yml"), config).expect("write config");
        std::fs::create_dir(dir.path().join("data")).expect("create storage dir");
        let mut this = Self {
            process: ServerProcess::new(
                "alertmanager",
                program,
                Vec::new(),
                dir.path().join("alertmanager.log"),
            ),
            dir,
            port: 0,
            client: http::client(),
        };
        let attempts = if port.is_some() { 1 } else { START_ATTEMPTS };
        let mut last_err = String::new();
        for _ in 0..attempts {
            this.port = port.unwrap_or_else(free_port);
            this.process.set_args(this.args());
            this.process.spawn();
            let url = format!("{}/-/ready", this.url());
            match this
                .process
                .wait_ready(&this.client, &url, READY_TIMEOUT)
                .await
            {
                Ok(()) => return this,
                Err(e) => {
                    this.process.kill();
                    if !e.contains("address already in use") {
                        panic!("Alertmanager failed to start: {e}");
                    }
                    last_err = e;
                }
            }
        }
        panic!("Alertmanager failed to start: {last_err}");
    }

    fn args(&self) -> Vec<OsString> {
        vec![
            format!(
                "--config.file={}",
                self.dir.path().join("alertmanager.yml").display()
            )
            .into(),
            format!("--storage.path={}", self.dir.path().join("data").display()).into(),
            format!("--web.listen-address=127.0.0.1:{}", self.port).into(),
            // An empty address switches the gossip cluster off.
            "--cluster.listen-address=".into(),
        ]
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Alertmanager's own view: `GET /api/v2/alerts` (active alerts; resolved
    /// ones are not listed).
    pub async fn alerts(&self) -> Vec<Value> {
        let url = format!("{}/api/v2/alerts", self.url());
        let resp = self.client.get(&url).send().await.expect("GET alerts");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {url}: HTTP {status}: {body}");
        serde_json::from_str::<Vec<Value>>(&body)
            .unwrap_or_else(|e| panic!("alerts are not a JSON array ({e}): {body}"))
    }

    pub fn log(&self) -> String {
        self.process.log_tail(usize::MAX)
    }
}

/// Records every POST body (as JSON) by path; answers 200.
pub struct CaptureServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CaptureServer {
    pub async fn start() -> Self {
        let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let store = Arc::clone(&received);
        let app =
            axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
                let store = Arc::clone(&store);
                async move {
                    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    store
                        .lock()
                        .expect("capture lock")
                        .push((uri.path().to_string(), json));
                    "ok"
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind capture server");
        let addr = listener.local_addr().expect("capture address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            received,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bodies POSTed to `path`, oldest first.
    pub fn received(&self, path: &str) -> Vec<Value> {
        self.received
            .lock()
            .expect("capture lock")
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
