//! Raw samples over remote read, answered with chunks or with samples, must
//! be exactly what the JSON API returns, for selectors of every shape, on a
//! real Prometheus: same series, same labels, same samples at both ends of
//! the span, staleness markers and NaN dropped alike. A server with external
//! labels (which remote read adds to every series) must be read over the
//! JSON API only. Spans shorter than `remote_read_min_span` are asked for
//! samples, longer ones for chunks.

use burnrate::catalog::promql::Selector;
use burnrate::duration::Duration;
use burnrate::health;
use burnrate::prom::{Prometheus, PrometheusConfig, RawSeries};
use testkit::synthetic::MINUTE;
use testkit::{Series, TestPrometheus};

/// Prometheus' staleness marker.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// How a test client reads raw samples.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reads {
    Json,
    /// Remote read answered with chunks, for spans of any length.
    Chunks,
    /// Remote read answered with samples, for spans of any length.
    Samples,
}

fn client(prom: &TestPrometheus, reads: Reads) -> Prometheus {
    let mut config = PrometheusConfig::new(prom.url());
    config.remote_read = reads != Reads::Json;
    config.remote_read_min_span = match reads {
        Reads::Samples => std::time::Duration::MAX,
        Reads::Json | Reads::Chunks => std::time::Duration::ZERO,
    };
    Prometheus::new(&config).expect("client")
}

/// Two hours of 15-second samples ending at `end`: counters per route, code
/// and instance (only i1 has a `tier`), one reset, one series going stale
/// and coming back, one NaN.
fn series(end: i64) -> Vec<Series> {
    let start = end - 120 * MINUTE;
    let times = move || (0..=480).map(move |k| start + k * 15_000);
    let mut out = Vec::new();
    for route in ["/pay", "/cart", "/new"] {
        for code in ["200", "500"] {
            for instance in ["i1", "i2"] {
                let mut labels = vec![("route", route), ("code", code), ("instance", instance)];
                if instance == "i1" {
                    labels.push(("tier", "web"));
                }
                let samples: Vec<(i64, f64)> = times()
                    .enumerate()
                    .map(|(k, t)| {
                        let k = k as f64;
                        let value = match (route, code, instance) {
                            // A counter reset half-way.
                            ("/pay", "500", "i1") if k >= 240.0 => k - 240.0,
                            // Stale for ten minutes, then back.
                            ("/cart", "200", "i2") if (300.0..340.0).contains(&k) => {
                                f64::from_bits(STALE_NAN)
                            }
                            ("/new", "500", "i2") if k == 100.0 => f64::NAN,
                            _ => 3.0 * k,
                        };
                        (t, value)
                    })
                    .collect();
                out.push(Series::new("http_requests_total", &labels, samples));
            }
        }
    }
    out
}

const SELECTORS: [&str; 8] = [
    "http_requests_total",
    r#"http_requests_total{route="/pay",code="500"}"#,
    r#"http_requests_total{route!="/pay"}"#,
    r#"http_requests_total{route=~"/ca.*|/new",code=~"5.."}"#,
    r#"http_requests_total{route!~"/ca.*",code!~"2.."}"#,
    r#"http_requests_total{tier=""}"#,
    r#"http_requests_total{tier!="",instance="i1"}"#,
    r#"http_requests_total{route="/none"}"#,
];

fn sorted(mut series: Vec<RawSeries>) -> Vec<RawSeries> {
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    series
}

/// Remote read requests Prometheus has answered, from its own metrics.
async fn remote_reads(prom: &TestPrometheus) -> f64 {
    let text = reqwest::get(format!("{}/metrics", prom.url()))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| {
            l.starts_with("prometheus_http_requests_total{")
                && l.contains(r#"handler="/api/v1/read""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Reads every selector over the JSON API and as `reads`: spans of an hour,
/// of 90 s, and one whose both ends fall on sample timestamps.
async fn compare(prom: &TestPrometheus, end: i64, reads: Reads) -> usize {
    let (json, remote) = (client(prom, Reads::Json), client(prom, reads));
    let mut samples = 0;
    let spans = [
        (end, Duration::from_hours(1)),
        (end - 7 * MINUTE, Duration::from_secs(90)),
        (end - 45 * MINUTE, Duration::from_mins(30)),
    ];
    for text in SELECTORS {
        let selector = Selector::parse(text).expect("selector");
        for (at, range) in spans {
            let want = sorted(json.raw_samples(&selector, at, range).await.unwrap());
            let got = sorted(remote.raw_samples(&selector, at, range).await.unwrap());
            assert_eq!(got, want, "{text} over {range} at {at}");
            samples += want.iter().map(|s| s.samples.len()).sum::<usize>();
        }
    }
    samples
}

#[tokio::test]
async fn remote_read_returns_exactly_what_the_json_api_returns() {
    let prom = TestPrometheus::start().await;
    // Whole minutes, so that span ends fall on sample timestamps.
    let end = (chrono::Utc::now().timestamp_millis() / MINUTE - 1) * MINUTE;
    prom.remote_write(&series(end)).await;

    let reads = (SELECTORS.len() * 3) as u64;
    for (kind, (chunks, sampled)) in [
        (Reads::Chunks, (reads, 0)),
        (Reads::Samples, (reads, reads)),
    ] {
        let before = remote_reads(&prom).await;
        let samples = compare(&prom, end, kind).await;
        let used = remote_reads(&prom).await - before;
        assert!(samples > 5_000, "the spans hold samples: {samples}");
        // Every read of the remote-reading client went over remote read,
        // and was answered as asked.
        assert_eq!(used, reads as f64, "remote reads answered for {kind:?}");
        assert_eq!(health::read(&health::RAW_READS_REMOTE_CHUNKS), chunks);
        assert_eq!(health::read(&health::RAW_READS_REMOTE_SAMPLES), sampled);
    }

    // The stale span and the NaN are absent; the reset is there.
    let json = client(&prom, Reads::Json);
    let stale =
        Selector::parse(r#"http_requests_total{route="/cart",code="200",instance="i2"}"#).unwrap();
    let got = json
        .raw_samples(&stale, end, Duration::from_hours(2))
        .await
        .unwrap();
    assert_eq!(got[0].samples.len(), 481 - 40, "stale markers dropped");
}

#[tokio::test]
async fn a_server_with_external_labels_is_read_over_the_json_api() {
    let prom = TestPrometheus::builder()
        .external_label("cluster", "eu-1")
        .start()
        .await;
    let end = (chrono::Utc::now().timestamp_millis() / MINUTE - 1) * MINUTE;
    prom.remote_write(&series(end)).await;

    let before = remote_reads(&prom).await;
    let samples = compare(&prom, end, Reads::Chunks).await;
    assert!(samples > 5_000, "the spans hold samples: {samples}");
    assert_eq!(
        remote_reads(&prom).await - before,
        0.0,
        "no remote read of a server with external labels"
    );
    assert_eq!(health::read(&health::RAW_READS_REMOTE_CHUNKS), 0);
    assert!(health::read(&health::RAW_READS_JSON) >= (2 * SELECTORS.len() * 3) as u64);
    // Remote read would have labelled every series with the cluster.
    let any = client(&prom, Reads::Chunks)
        .raw_samples(
            &Selector::parse("http_requests_total").unwrap(),
            end,
            Duration::from_mins(5),
        )
        .await
        .unwrap();
    assert!(any.iter().all(|s| !s.labels.contains_key("cluster")));
}

#[tokio::test]
async fn spans_shorter_than_the_minimum_are_answered_with_samples() {
    let prom = TestPrometheus::start().await;
    let end = (chrono::Utc::now().timestamp_millis() / MINUTE - 1) * MINUTE;
    prom.remote_write(&series(end)).await;
    let mut config = PrometheusConfig::new(prom.url());
    config.remote_read_min_span = std::time::Duration::from_secs(30 * 60);
    let prometheus = Prometheus::new(&config).expect("client");
    let selector = Selector::parse("http_requests_total").unwrap();
    let json = client(&prom, Reads::Json);

    for (range, chunked) in [
        (Duration::from_mins(3), false),
        (Duration::from_secs(30 * 60 - 1), false),
        (Duration::from_mins(30), true),
        (Duration::from_hours(2), true),
    ] {
        let before = health::read(&health::RAW_READS_REMOTE_CHUNKS);
        let got = sorted(prometheus.raw_samples(&selector, end, range).await.unwrap());
        let used = health::read(&health::RAW_READS_REMOTE_CHUNKS) - before;
        assert_eq!(used, u64::from(chunked), "chunked reads for {range}");
        let want = sorted(json.raw_samples(&selector, end, range).await.unwrap());
        assert!(!want.is_empty());
        assert_eq!(got, want, "{range}");
    }
    assert_eq!(health::read(&health::RAW_READS_REMOTE_CHUNKS), 2);
    assert_eq!(health::read(&health::RAW_READS_REMOTE_SAMPLES), 2);
}
