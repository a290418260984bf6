//! The Prometheus HTTP API as burnrate uses it: raw samples, instant and range
//! queries, against Prometheus or anything that speaks its API (Thanos, Mimir,
//! VictoriaMetrics).

use std::path::PathBuf;
use std::time::Duration as StdDuration;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::duration::Duration;
use crate::labels::Labels;
use crate::secret::{Secret, url_without_credentials};

mod answer;
use answer::Data;

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
}

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

    /// Every stored sample of the series matching `selector` in `(at - range, at]`.
    pub async fn raw_samples(
        &self,
        selector: &str,
        at_ms: i64,
        range: Duration,
    ) -> Result<Vec<RawSeries>, PrometheusError> {
        let query = format!("{selector}[{range}]");
        let data = self.instant_data(&query, at_ms).await?;
        match data {
            Data::Matrix(series) => Ok(series.into_iter().map(to_raw).collect()),
            other => Err(self.shape(&query, "a range vector", &other)),
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
    let total = series.values.len();
    // NaN and infinities are no counts: one would poison its bucket, and the
    // sample after it would look like a counter reset.
    let samples: Vec<(i64, f64)> = series
        .values
        .into_iter()
        .filter(|p| p.value.is_finite())
        .map(|p| (p.ms, p.value))
        .collect();
    let skipped = total - samples.len();
    if skipped > 0 {
        crate::health::add(&crate::health::NONFINITE_SAMPLES, skipped as u64);
    }
    RawSeries {
        labels: series.metric,
        samples,
    }
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
