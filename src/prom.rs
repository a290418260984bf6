//! The Prometheus HTTP API as burnrate uses it: raw samples, instant and range
//! queries, against Prometheus or anything that speaks its API (Thanos, Mimir,
//! VictoriaMetrics).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::catalog::promql::Selector;
use crate::duration::Duration;
use crate::labels::Labels;
use crate::secret::{Secret, url_without_credentials};

mod answer;
pub mod remote_read;
mod xor;
use answer::Data;
use remote_read::Availability;

/// One series' raw samples as Prometheus stored them (ms timestamps, ascending).
#[derive(Debug, Clone, PartialEq)]
pub struct RawSeries {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    pub url: String,
    pub bearer_token: Option<Secret>,
    /// User name and password.
    pub basic_auth: Option<(String, Secret)>,
    /// Extra headers on every request, e.g. `X-Scope-OrgID` for Mimir.
    pub headers: Vec<(String, String)>,
    pub timeout: StdDuration,
    /// PEM bundle of extra CA certificates.
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
    /// Answers larger than this are refused as they stream in, so one huge
    /// answer cannot exhaust memory; callers split the span and retry.
    pub max_answer_bytes: usize,
    /// Read raw samples over the remote read API where it is exact (see
    /// [`remote_read`]); otherwise always over the JSON API.
    pub remote_read: bool,
    /// Shorter spans are read over the JSON API even where remote read is
    /// used (see [`DEFAULT_REMOTE_READ_MIN_SPAN`]).
    pub remote_read_min_span: StdDuration,
}

/// Remote read answers with whole chunks (120 samples: two hours of
/// one-minute data, 30 minutes of 15-second data), so for a cycle's few
/// minutes chunks carry mostly samples outside the span; shorter spans are
/// asked for samples, which the server trims to the span. Over a 30-day
/// backfill in 6-hour chunks, chunks cost Prometheus half the CPU of the
/// JSON API (6.3 s against 13.6 s); over a steady cycle of 1,000 shared
/// SLOs (3-minute spans) they cost it 0.028 s against JSON's 0.011 s, and
/// samples cost half what JSON did on another machine (0.029 s against
/// 0.060 s; BENCHMARKS.md). The crossover lies between those spans; half
/// an hour is one chunk of 15-second data.
pub const DEFAULT_REMOTE_READ_MIN_SPAN: StdDuration = StdDuration::from_secs(30 * 60);

/// The default cap on one answer: far above a six-hour chunk of a few
/// hundred series, far below what would hurt a 2 GiB container.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 256 << 20;

impl PrometheusConfig {
    pub fn new(url: impl Into<String>) -> Self {
        PrometheusConfig {
            url: url.into(),
            bearer_token: None,
            basic_auth: None,
            headers: Vec::new(),
            timeout: StdDuration::from_secs(30),
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            ca_file: None,
            insecure_skip_verify: false,
            remote_read: true,
            remote_read_min_span: DEFAULT_REMOTE_READ_MIN_SPAN,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("invalid Prometheus configuration: {0}")]
    Config(String),
    /// The request did not complete (connection, timeout, transport).
    #[error("query `{query}` against {server} failed: {source}")]
    Transport {
        server: String,
        query: String,
        source: reqwest::Error,
    },
    /// The request failed inside the client library.
    #[error("query `{query}` against {server} failed: {source}")]
    Client {
        server: String,
        query: String,
        source: prometheus_http_query::Error,
    },
    /// The server answered with an error of its own.
    #[error("query `{query}` against {server} failed: HTTP {status}, {kind}: {message}")]
    Answer {
        server: String,
        query: String,
        status: u16,
        kind: String,
        message: String,
    },
    /// The answer grew past the cap while it streamed in.
    #[error(
        "query `{query}` against {server}: the answer exceeds {limit} bytes; the span is split and fetched in smaller pieces"
    )]
    TooLarge {
        server: String,
        query: String,
        limit: usize,
    },
    /// The answer is not the API's JSON envelope.
    #[error(
        "query `{query}` against {server} failed: HTTP {status}, unreadable answer ({source}): {excerpt}"
    )]
    Unreadable {
        server: String,
        query: String,
        status: u16,
        source: serde_json::Error,
        excerpt: String,
    },
    #[error("query `{query}` against {server} returned {found}, expected {expected}")]
    Shape {
        server: String,
        query: String,
        expected: &'static str,
        found: &'static str,
    },
}

/// A client for one server.
#[derive(Clone)]
pub struct Prometheus {
    client: prometheus_http_query::Client,
    server: String,
    max_answer_bytes: usize,
    /// Whether raw samples go over remote read: shared by every clone.
    remote: Option<Arc<tokio::sync::Mutex<RemoteState>>>,
    remote_read_min_span: StdDuration,
}

/// What is known of the server's remote read API.
#[derive(Debug)]
enum RemoteState {
    Unknown,
    Exact,
    /// Not used until then (unsupported, or not exact), then asked again:
    /// servers are upgraded and reconfigured.
    Unused(std::time::Instant),
}

/// How long remote read stays unused once it was found unusable.
const REMOTE_READ_RETRY: StdDuration = StdDuration::from_secs(3600);

/// A remote read that failed: either it says nothing of the data (the server
/// does not serve remote read, or not exactly) and the JSON API answers
/// instead, or it is the answer (the server is down, the span too large).
enum RemoteFailure {
    Unsupported(String),
    Failed(PrometheusError),
}

impl Prometheus {
    pub fn new(config: &PrometheusConfig) -> Result<Self, PrometheusError> {
        let bad =
            |what: &str, e: &dyn std::fmt::Display| PrometheusError::Config(format!("{what}: {e}"));
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| bad(&format!("header name `{name}`"), &e))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| bad(&format!("value of header `{name}`"), &e))?;
            headers.insert(name, value);
        }
        let authorization = match (&config.bearer_token, &config.basic_auth) {
            (Some(_), Some(_)) => {
                return Err(PrometheusError::Config(
                    "give a bearer token or basic auth, not both".into(),
                ));
            }
            (Some(token), None) => Some(format!("Bearer {}", token.expose().trim())),
            (None, Some((user, password))) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", password.expose()))
            )),
            (None, None) => None,
        };
        if let Some(auth) = authorization {
            let mut value = HeaderValue::from_str(&auth).map_err(|e| bad("authorization", &e))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(StdDuration::from_secs(5))
            .user_agent(concat!("burnrate/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem =
                std::fs::read(path).map_err(|e| bad(&format!("CA file {}", path.display()), &e))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| bad(&format!("CA file {}", path.display()), &e))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| bad("HTTP client", &e))?;
        let client = prometheus_http_query::Client::from(http, &config.url)
            .map_err(|e| bad(&format!("URL `{}`", config.url), &e))?;
        Ok(Prometheus {
            client,
            server: url_without_credentials(&config.url),
            max_answer_bytes: config.max_answer_bytes,
            remote: config
                .remote_read
                .then(|| Arc::new(tokio::sync::Mutex::new(RemoteState::Unknown))),
            remote_read_min_span: config.remote_read_min_span,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// The body, read chunk by chunk, refused once it passes the cap.
    async fn capped_body(
        &self,
        query: &str,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, PrometheusError> {
        let limit = self.max_answer_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(self.too_large(query));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Err(self.too_large(query));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body),
                Err(source) => {
                    return Err(PrometheusError::Transport {
                        server: self.server.clone(),
                        query: query.to_string(),
                        source,
                    });
                }
            }
        }
    }

    fn too_large(&self, query: &str) -> PrometheusError {
        PrometheusError::TooLarge {
            server: self.server.clone(),
            query: query.to_string(),
            limit: self.max_answer_bytes,
        }
    }

    fn client_error(&self, query: &str, source: prometheus_http_query::Error) -> PrometheusError {
        PrometheusError::Client {
            server: self.server.clone(),
            query: query.to_string(),
            source,
        }
    }

    /// Every stored sample of the series matching `selector` from `at - range`
    /// to `at`, over the JSON API (see [`Self::raw_samples`] on the start).
    async fn json_raw_samples(
        &self,
        selector: &str,
        at_ms: i64,
        range: Duration,
    ) -> Result<Vec<RawSeries>, PrometheusError> {
        let query = format!("{selector}[{range}]");
        crate::health::count(&crate::health::RAW_READS_JSON);
        let data = self.instant_data(&query, at_ms).await?;
        match data {
            Data::Matrix(series) => Ok(series.into_iter().map(to_raw).collect()),
            other => Err(self.shape(&query, "a range vector", &other)),
        }
    }

    /// Every stored sample of the series matching `selector` from `at - range`
    /// to `at`: over remote read where the server serves it exactly (as chunks
    /// for spans of at least `remote_read_min_span`, as samples for shorter
    /// ones), else over the JSON API. A sample exactly at `at - range` is
    /// included by remote read and Prometheus 2's range selectors but not by
    /// Prometheus 3's, so callers do not depend on it: they know the value at
    /// a span's start from the span before, or from an instant query.
    pub async fn raw_samples(
        &self,
        selector: &Selector,
        at_ms: i64,
        range: Duration,
    ) -> Result<Vec<RawSeries>, PrometheusError> {
        let start_ms = at_ms - range.as_millis() as i64;
        let kind = if range.to_std() >= self.remote_read_min_span {
            remote_read::AnswerKind::Chunks
        } else {
            remote_read::AnswerKind::Samples
        };
        if self.remote_read_usable().await {
            match self.remote_raw(selector, start_ms, at_ms, kind).await {
                Ok(series) => return Ok(series),
                Err(RemoteFailure::Failed(e)) => return Err(e),
                Err(RemoteFailure::Unsupported(why)) => {
                    self.remote_read_unused(&why).await;
                }
            }
        }
        self.json_raw_samples(&selector.to_string(), at_ms, range)
            .await
    }

    /// Whether remote read is to be used now, asking the server's
    /// configuration first when that is not known.
    async fn remote_read_usable(&self) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        let mut state = remote.lock().await;
        match *state {
            RemoteState::Exact => return true,
            RemoteState::Unused(until) if std::time::Instant::now() < until => return false,
            _ => {}
        }
        let availability = self.remote_read_availability().await;
        match availability {
            Availability::Exact => {
                tracing::info!(server = %self.server, "raw samples are read over remote read");
                *state = RemoteState::Exact;
                true
            }
            Availability::Unused(why) => {
                tracing::info!(server = %self.server, reason = %why, "raw samples are read over the JSON API, not remote read");
                *state = RemoteState::Unused(std::time::Instant::now() + REMOTE_READ_RETRY);
                false
            }
        }
    }

    async fn remote_read_unused(&self, why: &str) {
        if let Some(remote) = &self.remote {
            tracing::info!(server = %self.server, reason = %why, "remote read failed: raw samples are read over the JSON API for an hour");
            *remote.lock().await =
                RemoteState::Unused(std::time::Instant::now() + REMOTE_READ_RETRY);
        }
    }

    fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/{path}",
            self.client.base_url().as_str().trim_end_matches('/')
        )
    }

    /// Remote read is exact when the server's configuration has no external
    /// labels; a server that does not report its configuration is not asked.
    async fn remote_read_availability(&self) -> Availability {
        #[derive(serde::Deserialize)]
        struct Envelope {
            data: ConfigData,
        }
        #[derive(serde::Deserialize)]
        struct ConfigData {
            yaml: String,
        }
        let what = "GET /api/v1/status/config";
        let response = match self
            .client
            .inner()
            .get(self.endpoint("api/v1/status/config"))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => return Availability::Unused(format!("{what}: HTTP {}", r.status())),
            Err(e) => return Availability::Unused(format!("{what}: {e}")),
        };
        let body = match self.capped_body(what, response).await {
            Ok(body) => body,
            Err(e) => return Availability::Unused(e.to_string()),
        };
        match serde_json::from_slice::<Envelope>(&body) {
            Ok(envelope) => remote_read::availability_from_config(&envelope.data.yaml),
            Err(e) => Availability::Unused(format!("{what}: {e}")),
        }
    }

    /// Raw samples of `selector` in `[start_ms, end_ms]` over remote read.
    async fn remote_raw(
        &self,
        selector: &Selector,
        start_ms: i64,
        end_ms: i64,
        kind: remote_read::AnswerKind,
    ) -> Result<Vec<RawSeries>, RemoteFailure> {
        let what = format!("remote read of {selector} in [{start_ms}, {end_ms}] ms");
        let response = self
            .client
            .inner()
            .post(self.endpoint("api/v1/read"))
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header("X-Prometheus-Remote-Read-Version", "0.1.0")
            .body(remote_read::encode_request(
                selector, start_ms, end_ms, kind,
            ))
            .send()
            .await
            .map_err(|source| {
                RemoteFailure::Failed(PrometheusError::Transport {
                    server: self.server.clone(),
                    query: what.clone(),
                    source,
                })
            })?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = self
            .capped_body(&what, response)
            .await
            .map_err(RemoteFailure::Failed)?;
        if status.is_server_error() {
            let message: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(RemoteFailure::Failed(PrometheusError::Answer {
                server: self.server.clone(),
                query: what,
                status: status.as_u16(),
                kind: "remote read".into(),
                message: message.trim().to_string(),
            }));
        }
        if !status.is_success() {
            return Err(RemoteFailure::Unsupported(format!("{what}: HTTP {status}")));
        }
        let streamed = content_type.starts_with(remote_read::STREAMED_TYPE);
        crate::health::count(if streamed {
            &crate::health::RAW_READS_REMOTE_CHUNKS
        } else {
            &crate::health::RAW_READS_REMOTE_SAMPLES
        });
        let decoded = if streamed {
            remote_read::decode_streamed(&body, start_ms, end_ms, self.max_answer_bytes)
        } else {
            remote_read::decode_response(&body, start_ms, end_ms, self.max_answer_bytes)
        };
        match decoded {
            Ok(series) => Ok(series
                .into_iter()
                .map(|(labels, samples)| finite(labels, samples))
                .collect()),
            Err(remote_read::DecodeError::TooLarge(_)) => {
                Err(RemoteFailure::Failed(self.too_large(&what)))
            }
            Err(e) => Err(RemoteFailure::Unsupported(format!("{what}: {e}"))),
        }
    }

    /// An instant query at `at_ms`: one value per series.
    pub async fn instant(
        &self,
        query: &str,
        at_ms: i64,
    ) -> Result<Vec<(Labels, f64)>, PrometheusError> {
        match self.instant_data(query, at_ms).await? {
            Data::Vector(samples) => Ok(samples
                .into_iter()
                .map(|v| (v.metric, v.value.value))
                .collect()),
            other => Err(self.shape(query, "an instant vector", &other)),
        }
    }

    /// A range query evaluated every `step` from `start_ms` to `end_ms` (inclusive).
    pub async fn range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step: Duration,
    ) -> Result<Vec<RawSeries>, PrometheusError> {
        let response = self
            .client
            .query_range(query, start_ms / 1000, end_ms / 1000, step.as_secs_f64())
            .post_raw()
            .await
            .map_err(|e| self.client_error(query, e))?;
        match self.decode(query, response).await? {
            Data::Matrix(series) => Ok(series.into_iter().map(to_raw).collect()),
            other => Err(self.shape(query, "a range vector", &other)),
        }
    }

    async fn instant_data(&self, query: &str, at_ms: i64) -> Result<Data, PrometheusError> {
        // The API takes whole seconds; callers pass second-aligned times.
        let response = self
            .client
            .query(query)
            .at(at_ms.div_euclid(1000))
            .post_raw()
            .await
            .map_err(|e| self.client_error(query, e))?;
        self.decode(query, response).await
    }

    /// Reads the API envelope ourselves: compatible servers differ in details
    /// such as the media type (VictoriaMetrics answers range vectors with
    /// `application/stream+json`, which the client library refuses).
    async fn decode(
        &self,
        query: &str,
        response: reqwest::Response,
    ) -> Result<Data, PrometheusError> {
        #[derive(serde::Deserialize)]
        struct Envelope {
            status: String,
            data: Option<Data>,
            #[serde(rename = "errorType")]
            error_type: Option<String>,
            error: Option<String>,
        }
        let status = response.status();
        let body = self.capped_body(query, response).await?;
        let envelope: Envelope = match serde_json::from_slice(&body) {
            Ok(envelope) => envelope,
            Err(e) => {
                let excerpt: String = String::from_utf8_lossy(&body).chars().take(200).collect();
                return Err(PrometheusError::Unreadable {
                    server: self.server.clone(),
                    query: query.to_string(),
                    status: status.as_u16(),
                    source: e,
                    excerpt,
                });
            }
        };
        match (envelope.status.as_str(), envelope.data) {
            ("success", Some(data)) => Ok(data),
            _ => Err(PrometheusError::Answer {
                server: self.server.clone(),
                query: query.to_string(),
                status: status.as_u16(),
                kind: envelope.error_type.unwrap_or_else(|| "error".into()),
                message: envelope.error.unwrap_or_default(),
            }),
        }
    }

    fn shape(&self, query: &str, expected: &'static str, found: &Data) -> PrometheusError {
        PrometheusError::Shape {
            server: self.server.clone(),
            query: query.to_string(),
            expected,
            found: found.shape(),
        }
    }
}

fn to_raw(series: answer::RangeSeries) -> RawSeries {
    let samples = series.values.into_iter().map(|p| (p.ms, p.value)).collect();
    finite(series.metric, samples)
}

/// NaN and infinities are no counts: one would poison its bucket, and the
/// sample after it would look like a counter reset. They are dropped, and
/// counted.
fn finite(labels: Labels, mut samples: Vec<(i64, f64)>) -> RawSeries {
    let total = samples.len();
    samples.retain(|(_, value)| value.is_finite());
    let skipped = total - samples.len();
    if skipped > 0 {
        crate::health::add(&crate::health::NONFINITE_SAMPLES, skipped as u64);
    }
    RawSeries { labels, samples }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_errors_or_debug_output() {
        #[rustfmt::skip]
        let cases = [
            ("http://user:pw@prom:9090/api", "http://prom:9090/api"),
            ("https://user@prom/",           "https://prom/"),
            ("http://prom:9090",             "http://prom:9090"),
            ("not a url",                    "not a url"),
        ];
        for (url, shown) in cases {
            assert_eq!(url_without_credentials(url), shown, "{url}");
        }
        let mut config = PrometheusConfig::new("http://user:pw@prom:9090");
        config.bearer_token = Some(Secret::new("token-123"));
        config.basic_auth = Some(("u".into(), Secret::new("pass-456")));
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("token-123") && !debug.contains("pass-456"),
            "{debug}"
        );
        config.basic_auth = None;
        let client = Prometheus::new(&config).expect("client");
        assert_eq!(client.server(), "http://prom:9090/");
    }
}
