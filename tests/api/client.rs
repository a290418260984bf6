//! Talking to the fixture over HTTP: requests, replies, problem documents.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use burnrate::api::ApiSettings;
use serde_json::Value;

use crate::app::{Fixture, READ_TOKEN};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): HTTP {} {}", self.status, self.text))
    }

    /// Asserts a problem document with this status, and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.text
        );
        let p = self.json();
        assert_eq!(p["status"], status, "{p}");
        assert!(p["title"].is_string() && p["detail"].is_string(), "{p}");
        p
    }
}

pub async fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Reply {
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    reply(req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"))).await
}

/// A response, read whole.
pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.unwrap_or_default();
    Reply {
        status,
        content_type,
        headers,
        text,
    }
}

impl Fixture {
    pub async fn get(&self, path: &str) -> Reply {
        request(
            &self.client,
            reqwest::Method::GET,
            &self.url(path),
            Some(READ_TOKEN),
            None,
        )
        .await
    }

    pub async fn get_ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text);
        assert_eq!(r.content_type, "application/json", "GET {path}");
        r.json()
    }

    pub async fn post(&self, path: &str, token: Option<&str>) -> Reply {
        request(
            &self.client,
            reqwest::Method::POST,
            &self.url(path),
            token,
            None,
        )
        .await
    }
}

pub fn enc(id: &str) -> String {
    utf8_percent_encode(id, NON_ALPHANUMERIC).to_string()
}

pub fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// Serves the API over the fixture's state with other settings, on another port.
pub async fn serve_router(f: &Fixture, settings: ApiSettings) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = burnrate::api::router(Arc::clone(&f.state), &settings);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

pub fn promtool_check_metrics(text: &str) {
    let promtool = testkit::process::find_binary("PROMTOOL_BIN", "promtool");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
