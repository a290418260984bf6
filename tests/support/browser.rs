//! A real Chromium for the web UI's tests and benchmarks, driven through
//! WebDriver: `chromedriver` runs as a child process on a free port and
//! starts a headless Chromium with a profile of its own.
//!
//! The binaries come from `CHROMEDRIVER_BIN` and `CHROMIUM_BIN` (else
//! `chromedriver` and `chromium` on `PATH`); `scripts/test.sh` installs
//! Debian's `chromium` and `chromium-driver` and sets both.

use std::path::Path;
use std::time::Duration;

pub use fantoccini;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

use super::free_port;
use super::process::{ServerProcess, find_binary};

/// How to start the browser.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    pub javascript: bool,
    pub width: u32,
    pub height: u32,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            javascript: true,
            width: 1280,
            height: 900,
        }
    }
}

/// A headless Chromium session. Dropping it ends the WebDriver session
/// (chromedriver then closes Chromium and waits for it) and stops the
/// driver; killing the driver alone would leave Chromium running.
pub struct TestBrowser {
    pub client: Client,
    /// chromedriver's `127.0.0.1:port`, and the session's id.
    driver_addr: String,
    session: Option<String>,
    driver: ServerProcess,
    _dir: tempfile::TempDir,
}

impl Drop for TestBrowser {
    fn drop(&mut self) {
        // fantoccini ends the session too once the client is gone, but on the
        // runtime, which may never run it: the test is ending. So here, and
        // blocking, before the driver goes.
        let ended = self
            .session
            .take()
            .map(|id| (delete_session(&self.driver_addr, &id), id));
        if let Some((Err(e), id)) = ended {
            eprintln!("ending WebDriver session {id} at {}: {e}", self.driver_addr);
        }
        self.driver.kill();
    }
}

/// `DELETE /session/{id}` over a plain socket (no runtime needed), waiting for
/// chromedriver's answer, which comes once the browser has quit.
fn delete_session(addr: &str, id: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "DELETE /session/{id} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // The status line is all that matters, and chromedriver may keep the
    // connection open after its answer: read up to the end of the headers.
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default().to_string();
    if status.split(' ').nth(1) == Some("200") {
        Ok(status)
    } else {
        Err(std::io::Error::other(format!("answer `{status}`")))
    }
}

/// One line of the browser's console log.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleEntry {
    pub level: String,
    pub message: String,
}

/// A chromedriver extension command: `POST /session/{id}/{path}` with `body`.
#[derive(Debug)]
struct Extension {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for Extension {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(self.body.to_string()))
    }
}

impl TestBrowser {
    /// Makes pages see `prefers-color-scheme: scheme` (`light` or `dark`),
    /// as a system setting would.
    pub async fn prefer_color_scheme(&self, scheme: &str) {
        self.client
            // The Chrome DevTools Protocol, passed through.
            .issue_cmd(Extension {
                path: "goog/cdp/execute",
                body: json!({
                    "cmd": "Emulation.setEmulatedMedia",
                    "params": {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
                }),
            })
            .await
            .unwrap_or_else(|e| panic!("emulate prefers-color-scheme: {scheme}: {e}"));
    }

    /// Starts chromedriver and a headless Chromium session.
    pub async fn start(options: BrowserOptions) -> TestBrowser {
        let dir = tempfile::Builder::new()
            .prefix("burnrate-chromium-")
            .tempdir()
            .expect("browser temp dir");
        let driver_bin = find_binary("CHROMEDRIVER_BIN", "chromedriver");
        let chromium = find_binary("CHROMIUM_BIN", "chromium");
        let port = free_port();
        let mut driver = ServerProcess::new(
            "chromedriver",
            driver_bin,
            vec![format!("--port={port}").into()],
            dir.path().join("chromedriver.log"),
        );
        driver.spawn();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        driver
            .wait_ready(&http, &format!("{base}/status"), Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let caps = capabilities(&chromium, &dir.path().join("profile"), &options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("{base}/"))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start Chromium ({}) through chromedriver: {e}; log:\n{}",
                    chromium.display(),
                    driver.log_tail(4000)
                )
            });
        let session = client.session_id().await.ok().flatten();
        TestBrowser {
            client,
            driver_addr: format!("127.0.0.1:{port}"),
            session,
            driver,
            _dir: dir,
        }
    }

    /// Console entries since the last call (chromedriver keeps them per session).
    pub async fn console(&self) -> Vec<ConsoleEntry> {
        let value = self
            .client
            // chromedriver's log extension: entries since the last call.
            .issue_cmd(Extension {
                path: "se/log",
                body: json!({"type": "browser"}),
            })
            .await
            .expect("read the browser's console log");
        value
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| ConsoleEntry {
                        level: e["level"].as_str().unwrap_or_default().to_string(),
                        message: e["message"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// First contentful paint of the current page in milliseconds since
    /// navigation started, once the browser has recorded it.
    pub async fn first_contentful_paint(&self) -> Option<f64> {
        for _ in 0..50 {
            let v = self
                .eval("const e = performance.getEntriesByName('first-contentful-paint')[0]; return e ? e.startTime : null;")
                .await;
            if let Some(ms) = v.as_f64() {
                return Some(ms);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// A PNG of the whole page (the window is stretched to the page's height,
    /// at most 4000 px, then put back).
    pub async fn screenshot_page(&self, path: &Path, width: u32) {
        // The window's height includes the browser's own bars.
        let height = self
            .eval(
                "return Math.ceil(document.documentElement.scrollHeight \
                 + window.outerHeight - window.innerHeight);",
            )
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(400, 4000) as u32;
        let (w0, h0) = self.client.get_window_size().await.expect("window size");
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize the window");
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the screenshot directory");
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.client
            .set_window_size(w0 as u32, h0 as u32)
            .await
            .expect("resize the window back");
    }
}

fn capabilities(chromium: &Path, profile: &Path, options: &BrowserOptions) -> Capabilities {
    // As the machines' Chromium wants it: root needs --no-sandbox, and
    // without the networking flags it keeps calling Google's hosts.
    let args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-extensions".into(),
        "--hide-scrollbars".into(),
        format!("--window-size={},{}", options.width, options.height),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut chrome = json!({
        "binary": chromium.display().to_string(),
        "args": args,
    });
    if !options.javascript {
        chrome["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
    }
    let mut caps = Capabilities::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), chrome);
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    caps
}
