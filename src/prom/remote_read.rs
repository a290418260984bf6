//! Raw samples over Prometheus' remote read API (`/api/v1/read`, sampled
//! responses): snappy-compressed protobuf both ways. The server copies stored
//! samples into the answer with no query engine and no float-to-text
//! formatting, and burnrate decodes them with no text parsing: for a backfill,
//! where nearly all the work is moving raw samples, several times cheaper on
//! both sides than a range selector over the JSON API.
//!
//! Used only where it answers exactly what the JSON API would (see
//! [`Availability`]); everything else reads the JSON API.

use prost::Message as _;

use crate::catalog::promql::{MatchKind, Selector};
use crate::labels::Labels;

/// The subset of prometheus/prompb/{remote,types}.proto used here, declared
/// with prost derives so that no protoc is needed.
pub(super) mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReadRequest {
        #[prost(message, repeated, tag = "1")]
        pub queries: Vec<Query>,
        /// Empty: the sampled response type, which every version serves.
        #[prost(int32, repeated, tag = "2")]
        pub accepted_response_types: Vec<i32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Query {
        #[prost(int64, tag = "1")]
        pub start_timestamp_ms: i64,
        #[prost(int64, tag = "2")]
        pub end_timestamp_ms: i64,
        #[prost(message, repeated, tag = "3")]
        pub matchers: Vec<LabelMatcher>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelMatcher {
        /// EQ = 0, NEQ = 1, RE = 2, NRE = 3.
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(string, tag = "3")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReadResponse {
        #[prost(message, repeated, tag = "1")]
        pub results: Vec<QueryResult>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryResult {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// Exemplars and native histograms (tags 3 and 4) are skipped unread.
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

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// Prometheus' staleness marker: a NaN with this bit pattern, stored when a
/// series disappears. The JSON API never returns it; remote read does.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether remote read answers exactly what the JSON API does, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// The server reports no external labels: remote read returns series
    /// labelled as the JSON API does.
    Exact,
    /// Not used, for the reason given.
    Unused(String),
}

/// Decides from the server's configuration (the YAML that
/// `/api/v1/status/config` returns) whether remote read is exact. Prometheus
/// adds its `global.external_labels` to every series remote read returns
/// (and not to JSON answers), and rewrites matchers on those names; a series
/// of its own with the same label and value could not be told apart, so a
/// server with external labels is read over the JSON API only.
pub fn availability_from_config(yaml: &str) -> Availability {
    let config: yaml_serde::Value = match yaml_serde::from_str(yaml) {
        Ok(config) => config,
        Err(e) => return Availability::Unused(format!("its configuration is unreadable: {e}")),
    };
    let external = config
        .get("global")
        .and_then(|g| g.get("external_labels"))
        .and_then(|l| l.as_mapping())
        .map_or(0, |m| m.len());
    if external > 0 {
        Availability::Unused(format!(
            "it has {external} external label(s), which remote read adds to every series"
        ))
    } else {
        Availability::Exact
    }
}

/// The request for raw samples of `selector` stamped in `[start_ms, end_ms]`
/// (both ends included, as in a range selector), snappy-compressed.
pub fn encode_request(selector: &Selector, start_ms: i64, end_ms: i64) -> Vec<u8> {
    let mut matchers: Vec<proto::LabelMatcher> = selector
        .metric
        .iter()
        .map(|metric| proto::LabelMatcher {
            r#type: 0,
            name: "__name__".into(),
            value: metric.clone(),
        })
        .collect();
    matchers.extend(selector.matchers.iter().map(|m| proto::LabelMatcher {
        r#type: match m.kind {
            MatchKind::Equal => 0,
            MatchKind::NotEqual => 1,
            MatchKind::Regex => 2,
            MatchKind::NotRegex => 3,
        },
        name: m.name.clone(),
        value: m.value.clone(),
    }));
    let request = proto::ReadRequest {
        queries: vec![proto::Query {
            start_timestamp_ms: start_ms,
            end_timestamp_ms: end_ms,
            matchers,
        }],
        accepted_response_types: Vec::new(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy compresses any input")
}

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not snappy-compressed: {0}")]
    Snappy(#[from] snap::Error),
    #[error("decompresses to {0} bytes, over the cap")]
    TooLarge(usize),
    #[error("not a remote-read response: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("{0} results for one query")]
    Results(usize),
}

/// One decoded series: labels, and samples as (ms, value) in stored order,
/// staleness markers dropped (other non-finite values are kept, for the
/// caller to drop and count as it does for JSON answers).
pub type Decoded = (Labels, Vec<(i64, f64)>);

/// Decodes a snappy-compressed `ReadResponse` of one query, refusing one that
/// would decompress to more than `max_bytes`.
pub fn decode_response(body: &[u8], max_bytes: usize) -> Result<Vec<Decoded>, DecodeError> {
    let len = snap::raw::decompress_len(body)?;
    if len > max_bytes {
        return Err(DecodeError::TooLarge(len));
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body)?;
    let mut response = proto::ReadResponse::decode(raw.as_slice())?;
    let result = match response.results.len() {
        0 => return Ok(Vec::new()),
        1 => response.results.pop().expect("one result"),
        n => return Err(DecodeError::Results(n)),
    };
    Ok(result
        .timeseries
        .into_iter()
        .map(|series| {
            let labels = series
                .labels
                .into_iter()
                .map(|l| (l.name, l.value))
                .collect();
            let samples = series
                .samples
                .iter()
                .filter(|s| s.value.to_bits() != STALE_NAN_BITS)
                .map(|s| (s.timestamp, s.value))
                .collect();
            (labels, samples)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(series: Vec<proto::TimeSeries>) -> Vec<u8> {
        let message = proto::ReadResponse {
            results: vec![proto::QueryResult { timeseries: series }],
        };
        snap::raw::Encoder::new()
            .compress_vec(&message.encode_to_vec())
            .unwrap()
    }

    fn label(name: &str, value: &str) -> proto::Label {
        proto::Label {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_request_carries_every_matcher_with_its_kind_and_the_closed_range() {
        let selector =
            Selector::parse(r#"http_requests_total{a="1",b!="2",c=~"3|4",d!~"5.*",e=""}"#).unwrap();
        let body = encode_request(&selector, 1_000, 61_000);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let request = proto::ReadRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(request.queries.len(), 1);
        let query = &request.queries[0];
        assert_eq!(
            (query.start_timestamp_ms, query.end_timestamp_ms),
            (1_000, 61_000)
        );
        let matchers: Vec<(i32, &str, &str)> = query
            .matchers
            .iter()
            .map(|m| (m.r#type, m.name.as_str(), m.value.as_str()))
            .collect();
        assert_eq!(
            matchers,
            [
                (0, "__name__", "http_requests_total"),
                (0, "a", "1"),
                (1, "b", "2"),
                (2, "c", "3|4"),
                (3, "d", "5.*"),
                (0, "e", ""),
            ]
        );
    }

    #[test]
    fn answers_decode_to_labels_and_samples_without_staleness_markers() {
        let body = response(vec![proto::TimeSeries {
            labels: vec![label("__name__", "up"), label("job", "api")],
            samples: vec![
                proto::Sample {
                    value: 1.0,
                    timestamp: 60_000,
                },
                proto::Sample {
                    value: f64::from_bits(STALE_NAN_BITS),
                    timestamp: 120_000,
                },
                proto::Sample {
                    value: f64::NAN,
                    timestamp: 180_000,
                },
            ],
        }]);
        let decoded = decode_response(&body, 1 << 20).unwrap();
        assert_eq!(decoded.len(), 1);
        let (labels, samples) = &decoded[0];
        assert_eq!(
            labels,
            &crate::labels::from_pairs(&[("__name__", "up"), ("job", "api")])
        );
        // The stale marker goes; an ordinary NaN is left for the caller.
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0], (60_000, 1.0));
        assert!(samples[1].0 == 180_000 && samples[1].1.is_nan());
    }

    #[test]
    fn answers_over_the_cap_or_not_remote_read_are_refused() {
        let body = response(vec![proto::TimeSeries {
            labels: vec![label("__name__", "up")],
            samples: vec![
                proto::Sample {
                    value: 1.0,
                    timestamp: 1,
                };
                1000
            ],
        }]);
        assert!(matches!(
            decode_response(&body, 100),
            Err(DecodeError::TooLarge(_))
        ));
        assert!(matches!(
            decode_response(b"<html>404 page not found</html>", 1 << 20),
            Err(DecodeError::Snappy(_) | DecodeError::Protobuf(_))
        ));
        let json = snap::raw::Encoder::new()
            .compress_vec(br#"{"status":"error"}"#)
            .unwrap();
        assert!(decode_response(&json, 1 << 20).is_err());
    }

    #[test]
    fn only_a_server_without_external_labels_is_read_over_remote_read() {
        #[rustfmt::skip]
        let cases = [
            ("global:\n  scrape_interval: 15s\n", true),
            ("global:\n  external_labels: {}\n", true),
            ("scrape_configs: []\n", true),
            ("", true),
            ("global:\n  external_labels:\n    cluster: eu-1\n", false),
            ("global:\n  external_labels:\n    cluster: eu-1\n    replica: a\n", false),
            ("global: [unclosed\n", false),
        ];
        for (yaml, exact) in cases {
            assert_eq!(
                availability_from_config(yaml) == Availability::Exact,
                exact,
                "{yaml:?}: {:?}",
                availability_from_config(yaml)
            );
        }
    }
}
