//! Small helpers for the Prometheus-compatible HTTP query API, shared by
//! [`super::TestPrometheus`] and [`super::TestVictoriaMetrics`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// An HTTP client for talking to local test servers (no proxy, short timeouts).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("build reqwest client")
}

/// GET `{base}{path}` with query parameters and return the `data` field of a
/// Prometheus API response, or an error naming the status and body.
pub async fn try_api_get(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    params: &[(&str, String)],
) -> anyhow::Result<Value> {
    let url = format!("{base}{path}");
    let resp = client.get(&url).query(params).send().await?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        anyhow::bail!("GET {url} {params:?}: HTTP {status}: {body}");
    }
    let json: Value = serde_json::from_str(&body)
        .map_err(|e| anyhow::anyhow!("GET {url}: response is not JSON ({e}): {body}"))?;
    if json["status"] != "success" {
        anyhow::bail!("GET {url} {params:?}: API error: {body}");
    }
    Ok(json["data"].clone())
}

/// Instant query at `time` (seconds since the epoch, fractions allowed);
/// returns the `data` object (`resultType` and `result`).
pub async fn try_query(
    client: &reqwest::Client,
    base: &str,
    promql: &str,
    time_s: f64,
) -> anyhow::Result<Value> {
    try_api_get(
        client,
        base,
        "/api/v1/query",
        &[("query", promql.to_string()), ("time", fmt_time(time_s))],
    )
    .await
}

/// Range query; returns the `data` object (a matrix).
pub async fn try_query_range(
    client: &reqwest::Client,
    base: &str,
    promql: &str,
    start_s: f64,
    end_s: f64,
    step_s: f64,
) -> anyhow::Result<Value> {
    try_api_get(
        client,
        base,
        "/api/v1/query_range",
        &[
            ("query", promql.to_string()),
            ("start", fmt_time(start_s)),
            ("end", fmt_time(end_s)),
            ("step", format!("{step_s}")),
        ],
    )
    .await
}

fn fmt_time(t: f64) -> String {
    format!("{t:.3}")
}

/// One series of a matrix result, timestamps in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<(i64, f64)>,
}

/// Parses the `data` of a `matrix` result (from a range query, or an instant
/// query of a range vector) into series sorted by labels. Panics on any
/// other shape.
pub fn parse_matrix(data: &Value) -> Vec<RangeSeries> {
    assert_eq!(
        data["resultType"], "matrix",
        "expected a matrix result, got {data}"
    );
    let mut out: Vec<RangeSeries> = data["result"]
        .as_array()
        .unwrap_or_else(|| panic!("matrix without result array: {data}"))
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .unwrap_or_else(|| panic!("series without metric: {s}"))
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let samples = s["values"]
                .as_array()
                .unwrap_or_else(|| panic!("series without values: {s}"))
                .iter()
                .map(|pair| {
                    let ts = pair[0]
                        .as_f64()
                        .unwrap_or_else(|| panic!("bad timestamp in {pair}"));
                    let v: f64 = pair[1]
                        .as_str()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_else(|| panic!("bad value in {pair}"));
                    ((ts * 1000.0).round() as i64, v)
                })
                .collect();
            RangeSeries { labels, samples }
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}
