//! Prometheus remote write (protocol 1.0): snappy-compressed protobuf
//! `prometheus.WriteRequest` POSTed to `/api/v1/write`. Accepted by Prometheus
//! (with `--web.enable-remote-write-receiver`) and VictoriaMetrics alike.
//!
//! The protobuf messages are declared by hand with prost derives (the subset
//! of prometheus/prompb/{remote,types}.proto needed here), so no protoc.

use std::time::Duration;

/// Samples per request; larger writes are split into several requests.
pub const BATCH_SAMPLES: usize = 50_000;

/// A series to write: labels including `__name__` (any order; sorted on the
/// wire) and samples as (timestamp in ms, value).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    pub samples: Vec<(i64, f64)>,
}

impl Series {
    /// `Series::new("http_requests_total", &[("code", "200")], samples)`.
    pub fn new(
        name: &str,
        labels: &[(&str, &str)],
        samples: impl IntoIterator<Item = (i64, f64)>,
    ) -> Self {
        let mut all = vec![("__name__".to_string(), name.to_string())];
        all.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self {
            labels: all,
            samples: samples.into_iter().collect(),
        }
    }
}

pub mod proto {
    //! `prometheus.WriteRequest` and friends.

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// Splits `series` into write requests of at most [`BATCH_SAMPLES`] samples
/// (a long series is split across requests), labels sorted by name.
pub fn build_requests(series: &[Series]) -> Vec<proto::WriteRequest> {
    let mut requests = Vec::new();
    let mut current = proto::WriteRequest::default();
    let mut in_current = 0usize;
    for s in series {
        let mut labels: Vec<proto::Label> = s
            .labels
            .iter()
            .map(|(name, value)| proto::Label {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let mut rest = &s.samples[..];
        while !rest.is_empty() {
            let room = BATCH_SAMPLES - in_current;
            let (now, later) = rest.split_at(room.min(rest.len()));
            current.timeseries.push(proto::TimeSeries {
                labels: labels.clone(),
                samples: now
                    .iter()
                    .map(|&(timestamp, value)| proto::Sample { value, timestamp })
                    .collect(),
            });
            in_current += now.len();
            rest = later;
            if in_current == BATCH_SAMPLES {
                requests.push(std::mem::take(&mut current));
                in_current = 0;
            }
        }
    }
    if !current.timeseries.is_empty() {
        requests.push(current);
    }
    requests
}

/// Encodes one request as the wire body: protobuf, then snappy block format
/// (not the framed/stream format).
pub fn encode(request: &proto::WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(request);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compression")
}

/// Writes `series` to `{base_url}/api/v1/write`, in batches; fails on the
/// first non-2xx answer (with its body, e.g. "out of bounds").
pub async fn try_remote_write(
    client: &reqwest::Client,
    base_url: &str,
    series: &[Series],
) -> anyhow::Result<()> {
    let url = format!("{base_url}/api/v1/write");
    for request in build_requests(series) {
        let resp = client
            .post(&url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .timeout(Duration::from_secs(120))
            .body(encode(&request))
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            anyhow::bail!("POST {url}: HTTP {status}: {}", body.trim());
        }
    }
    Ok(())
}
