//! Raw samples over Prometheus' remote read API (`/api/v1/read`): a
//! snappy-compressed protobuf request, answered with streamed XOR chunks
//! (frames of whole chunks copied from the server's storage, decoded here by
//! [`super::xor`]) or, by servers without them, with sampled protobuf. The
//! server runs no query engine, decodes no chunk and formats no float, and
//! burnrate parses no text: for a backfill, where nearly all the work is
//! moving raw samples, far cheaper on both sides than a range selector over
//! the JSON API.
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
        /// Streamed XOR chunks (1) first; a server without them answers
        /// with samples (0).
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

    /// One frame of a streamed answer: series, each with whole chunks.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ChunkedReadResponse {
        #[prost(message, repeated, tag = "1")]
        pub chunked_series: Vec<ChunkedSeries>,
        #[prost(int64, tag = "2")]
        pub query_index: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ChunkedSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub chunks: Vec<Chunk>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Chunk {
        #[prost(int64, tag = "1")]
        pub min_time_ms: i64,
        #[prost(int64, tag = "2")]
        pub max_time_ms: i64,
        /// XOR = 1; histogram chunks (2, 3) are skipped, as the JSON
        /// answers' `histograms` are.
        #[prost(int32, tag = "3")]
        pub r#type: i32,
        #[prost(bytes = "vec", tag = "4")]
        pub data: Vec<u8>,
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

const SAMPLES: i32 = 0;
const STREAMED_XOR_CHUNKS: i32 = 1;
const XOR: i32 = 1;

/// The media type of a streamed answer (a sampled one is
/// `application/x-protobuf`).
pub const STREAMED_TYPE: &str = "application/x-streamed-protobuf";

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

/// How the server is asked to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// Streamed XOR chunks, copied whole from storage (sampled protobuf
    /// from servers without them): cheapest for long spans.
    Chunks,
    /// Sampled protobuf only: just the span's samples, for short spans,
    /// where whole chunks would mostly carry samples outside them.
    Samples,
}

/// The request for raw samples of `selector` stamped in `[start_ms, end_ms]`
/// (both ends included, as in a range selector), snappy-compressed.
pub fn encode_request(
    selector: &Selector,
    start_ms: i64,
    end_ms: i64,
    kind: AnswerKind,
) -> Vec<u8> {
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
        accepted_response_types: match kind {
            AnswerKind::Chunks => vec![STREAMED_XOR_CHUNKS, SAMPLES],
            AnswerKind::Samples => vec![SAMPLES],
        },
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
    #[error("frame {0}: {1}")]
    Frame(usize, &'static str),
    #[error(transparent)]
    Chunk(#[from] super::xor::ChunkError),
}

/// One decoded series: labels, and samples as (ms, value) in stored order,
/// staleness markers dropped (other non-finite values are kept, for the
/// caller to drop and count as it does for JSON answers).
pub type Decoded = (Labels, Vec<(i64, f64)>);

/// Decodes a snappy-compressed `ReadResponse` of one query, refusing one that
/// would decompress to more than `max_bytes`. Samples are kept in `[start,
/// end]`, as in [`decode_streamed`]: Prometheus trims them to the span, but
/// a server that did not would otherwise count minutes twice.
pub fn decode_response(
    body: &[u8],
    start: i64,
    end: i64,
    max_bytes: usize,
) -> Result<Vec<Decoded>, DecodeError> {
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
        .filter_map(|series| {
            let labels = series
                .labels
                .into_iter()
                .map(|l| (l.name, l.value))
                .collect();
            let samples = series
                .samples
                .iter()
                .filter(|s| {
                    s.value.to_bits() != STALE_NAN_BITS && (start..=end).contains(&s.timestamp)
                })
                .map(|s| (s.timestamp, s.value))
                .collect::<Vec<_>>();
            // A series with no sample in the span is not in a JSON answer.
            (!samples.is_empty()).then_some((labels, samples))
        })
        .collect())
}

/// Decodes a streamed answer: frames of `uvarint length, CRC-32C (big
/// endian), ChunkedReadResponse`, a series' chunks possibly spread over
/// consecutive frames. Samples are kept in `[start, end]` (chunks are whole,
/// so they reach past the span), staleness markers dropped, and the decoded
/// samples held to `max_bytes` at 16 bytes each.
pub fn decode_streamed(
    body: &[u8],
    start: i64,
    end: i64,
    max_bytes: usize,
) -> Result<Vec<Decoded>, DecodeError> {
    let mut out: Vec<Decoded> = Vec::new();
    let (mut rest, mut frame, mut kept) = (body, 0usize, 0usize);
    while !rest.is_empty() {
        frame += 1;
        let (len, used) = uvarint(rest).ok_or(DecodeError::Frame(frame, "bad length"))?;
        rest = &rest[used..];
        let len = usize::try_from(len).map_err(|_| DecodeError::Frame(frame, "bad length"))?;
        if rest.len() < 4 + len {
            return Err(DecodeError::Frame(frame, "truncated"));
        }
        let crc = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let data = &rest[4..4 + len];
        rest = &rest[4 + len..];
        if crc32c(data) != crc {
            return Err(DecodeError::Frame(frame, "checksum mismatch"));
        }
        let response = proto::ChunkedReadResponse::decode(data)?;
        if response.query_index != 0 {
            return Err(DecodeError::Frame(frame, "answers a query not asked"));
        }
        for series in response.chunked_series {
            let labels: Labels = series
                .labels
                .into_iter()
                .map(|l| (l.name, l.value))
                .collect();
            if out.last().is_none_or(|(last, _)| *last != labels) {
                out.push((labels, Vec::new()));
            }
            let samples = &mut out.last_mut().expect("pushed").1;
            let before = samples.len();
            for chunk in series
                .chunks
                .iter()
                .filter(|c| c.r#type == XOR && c.max_time_ms >= start && c.min_time_ms <= end)
            {
                super::xor::decode(&chunk.data, start, end, samples)?;
            }
            kept += samples.len() - before;
            if kept.saturating_mul(16) > max_bytes {
                return Err(DecodeError::TooLarge(kept * 16));
            }
        }
    }
    // A series with no sample in the span is not in a JSON answer either.
    out.retain_mut(|(_, samples)| {
        samples.retain(|(_, v)| v.to_bits() != STALE_NAN_BITS);
        // Chunks of one series may overlap (out-of-order data): order them
        // and keep one sample per timestamp, as a query merges them.
        if samples.windows(2).any(|w| w[0].0 >= w[1].0) {
            samples.sort_by_key(|(t, _)| *t);
            samples.dedup_by_key(|(t, _)| *t);
        }
        !samples.is_empty()
    });
    Ok(out)
}

/// A uvarint and the bytes it took.
fn uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut out = 0u64;
    for (k, &byte) in bytes.iter().enumerate().take(10) {
        out |= u64::from(byte & 0x7f) << (7 * k);
        if byte & 0x80 == 0 {
            return Some((out, k + 1));
        }
    }
    None
}

/// CRC-32C (Castagnoli), as the frames carry it.
fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u32; 256];
        for (n, entry) in table.iter_mut().enumerate() {
            let mut c = n as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0x82f6_3b78 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *entry = c;
        }
        table
    });
    !data.iter().fold(!0u32, |c, &b| {
        table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
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
        let body = encode_request(&selector, 1_000, 61_000, AnswerKind::Chunks);
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
    fn a_request_for_samples_accepts_no_chunks() {
        let selector = Selector::parse(r#"up{job="api"}"#).unwrap();
        let accepted = |kind| {
            let body = encode_request(&selector, 1_000, 61_000, kind);
            let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
            proto::ReadRequest::decode(raw.as_slice())
                .unwrap()
                .accepted_response_types
        };
        assert_eq!(accepted(AnswerKind::Samples), [SAMPLES]);
        assert_eq!(accepted(AnswerKind::Chunks), [STREAMED_XOR_CHUNKS, SAMPLES]);
    }

    #[test]
    fn answers_decode_to_labels_and_samples_without_staleness_markers() {
        let body = response(vec![proto::TimeSeries {
            labels: vec![label("__name__", "up"), label("job", "api")],
            samples: vec![
                // Before the span asked for: dropped.
                proto::Sample {
                    value: 0.5,
                    timestamp: 59_999,
                },
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
                // Past the span asked for: dropped.
                proto::Sample {
                    value: 2.0,
                    timestamp: 180_001,
                },
            ],
        }]);
        let decoded = decode_response(&body, 60_000, 180_000, 1 << 20).unwrap();
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
            decode_response(&body, 0, 10, 100),
            Err(DecodeError::TooLarge(_))
        ));
        assert!(matches!(
            decode_response(b"<html>404 page not found</html>", 0, 10, 1 << 20),
            Err(DecodeError::Snappy(_) | DecodeError::Protobuf(_))
        ));
        let json = snap::raw::Encoder::new()
            .compress_vec(br#"{"status":"error"}"#)
            .unwrap();
        assert!(decode_response(&json, 0, 10, 1 << 20).is_err());
    }

    fn frame(message: &proto::ChunkedReadResponse) -> Vec<u8> {
        let data = message.encode_to_vec();
        let mut out = Vec::new();
        let mut len = data.len() as u64;
        while len >= 0x80 {
            out.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend(crc32c(&data).to_be_bytes());
        out.extend(data);
        out
    }

    fn chunked(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::ChunkedSeries {
        proto::ChunkedSeries {
            labels: labels.iter().map(|(k, v)| label(k, v)).collect(),
            chunks: vec![proto::Chunk {
                min_time_ms: samples[0].0,
                max_time_ms: samples[samples.len() - 1].0,
                r#type: XOR,
                data: crate::prom::xor::tests::encode(samples),
            }],
        }
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn streamed_answers_join_a_series_across_frames_and_keep_the_span() {
        let a = [("__name__", "up"), ("job", "a")];
        let b = [("__name__", "up"), ("job", "b")];
        let stale = f64::from_bits(STALE_NAN_BITS);
        let first = proto::ChunkedReadResponse {
            chunked_series: vec![chunked(&a, &[(0, 1.0), (60, 2.0), (120, 3.0)])],
            query_index: 0,
        };
        let second = proto::ChunkedReadResponse {
            chunked_series: vec![
                chunked(&a, &[(180, 4.0), (240, stale), (300, 6.0)]),
                chunked(&b, &[(0, 9.0), (400, 9.5)]),
            ],
            query_index: 0,
        };
        let body = [frame(&first), frame(&second)].concat();
        let decoded = decode_streamed(&body, 60, 300, 1 << 20).unwrap();
        let samples: Vec<(String, Vec<(i64, f64)>)> = decoded
            .into_iter()
            .map(|(l, s)| (l["job"].clone(), s))
            .collect();
        assert_eq!(
            samples,
            // b has no sample in the span, so it is not in the answer.
            [(
                "a".to_string(),
                vec![(60, 2.0), (120, 3.0), (180, 4.0), (300, 6.0)]
            )]
        );
        // A flipped bit, a cut frame and too many samples are refused.
        let mut corrupt = body.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert!(matches!(
            decode_streamed(&corrupt, 0, 500, 1 << 20),
            Err(DecodeError::Frame(2, "checksum mismatch"))
        ));
        assert!(matches!(
            decode_streamed(&body[..body.len() - 3], 0, 500, 1 << 20),
            Err(DecodeError::Frame(2, "truncated"))
        ));
        assert!(matches!(
            decode_streamed(&body, 0, 500, 64),
            Err(DecodeError::TooLarge(_))
        ));
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
