//! Delivery to Alertmanager's v2 API (`POST /api/v2/alerts`), one background
//! worker per URL, so evaluation never waits for an Alertmanager.
//!
//! Each worker owns a bounded queue. [`AlertSender::send`] appends to every
//! queue and returns at once; when a queue is full its oldest alerts are
//! dropped (and counted). The worker takes everything queued, keeps only the
//! newest version of each alert (by label set), and posts it. On failure it
//! keeps that set, waits with exponential back-off, merges whatever arrived
//! meanwhile (newer versions win) and tries again: nothing is lost and
//! nothing stale is sent after something newer.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tracing::{info, warn};

/// One alert as Alertmanager's v2 API takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(
        rename = "generatorURL",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub generator_url: String,
}

/// Tunables of the sender.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Alerts each queue holds before dropping its oldest.
    pub queue_capacity: usize,
    /// Alerts per POST.
    pub batch_size: usize,
    pub request_timeout: StdDuration,
    pub initial_backoff: StdDuration,
    pub max_backoff: StdDuration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            queue_capacity: 10_000,
            batch_size: 1_000,
            request_timeout: StdDuration::from_secs(10),
            initial_backoff: StdDuration::from_millis(500),
            max_backoff: StdDuration::from_secs(30),
        }
    }
}

/// Counters of one Alertmanager URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    pub url: String,
    /// Alerts Alertmanager accepted.
    pub sent: u64,
    /// POSTs that failed (each is retried).
    pub failed_attempts: u64,
    /// Alerts dropped unsent because the queue was full.
    pub dropped: u64,
    /// Alerts waiting: queued plus held for a retry.
    pub pending: u64,
    /// When a POST last succeeded (Unix ms); none yet.
    pub last_success_ms: Option<i64>,
}

struct Queue {
    url: String,
    endpoint: String,
    buffer: Mutex<VecDeque<PostableAlert>>,
    notify: Notify,
    /// True while the worker holds alerts it has not delivered yet.
    holding: AtomicBool,
    held: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    /// Unix ms of the last successful POST; 0 before the first.
    last_success_ms: AtomicI64,
}

/// A handle to the delivery workers; cheap to clone.
#[derive(Clone)]
pub struct AlertSender {
    queues: Arc<Vec<Arc<Queue>>>,
    capacity: usize,
}

impl std::fmt::Debug for AlertSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<&str> = self.queues.iter().map(|q| q.url.as_str()).collect();
        f.debug_struct("AlertSender").field("urls", &urls).finish()
    }
}

/// The v2 alerts endpoint under an Alertmanager base URL (which may have a path prefix).
pub fn alerts_endpoint(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/api/v2/alerts") {
        base.to_string()
    } else {
        format!("{base}/api/v2/alerts")
    }
}

impl AlertSender {
    /// Starts one worker per URL on the current Tokio runtime.
    pub fn start(urls: &[String], settings: DeliverySettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout)
            .build()?;
        let queues: Vec<Arc<Queue>> = urls
            .iter()
            .map(|url| {
                Arc::new(Queue {
                    url: crate::secret::url_without_credentials(url),
                    endpoint: alerts_endpoint(url),
                    buffer: Mutex::new(VecDeque::new()),
                    notify: Notify::new(),
                    holding: AtomicBool::new(false),
                    held: AtomicU64::new(0),
                    sent: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                    last_success_ms: AtomicI64::new(0),
                })
            })
            .collect();
        for queue in &queues {
            tokio::spawn(worker(Arc::clone(queue), client.clone(), settings.clone()));
        }
        Ok(AlertSender {
            queues: Arc::new(queues),
            capacity: settings.queue_capacity.max(1),
        })
    }

    /// Queues alerts for every Alertmanager; never waits.
    pub fn send(&self, alerts: &[PostableAlert]) {
        if alerts.is_empty() {
            return;
        }
        for queue in self.queues.iter() {
            let mut dropped = 0u64;
            if let Ok(mut buffer) = queue.buffer.lock() {
                buffer.extend(alerts.iter().cloned());
                while buffer.len() > self.capacity {
                    buffer.pop_front();
                    dropped += 1;
                }
            }
            if dropped > 0 {
                queue.dropped.fetch_add(dropped, Ordering::Relaxed);
                warn!(url = %queue.url, dropped, "alert queue full: oldest alerts dropped");
            }
            queue.notify.notify_one();
        }
    }

    pub fn stats(&self) -> Vec<DeliveryStats> {
        self.queues
            .iter()
            .map(|q| DeliveryStats {
                url: q.url.clone(),
                sent: q.sent.load(Ordering::Relaxed),
                failed_attempts: q.failed.load(Ordering::Relaxed),
                dropped: q.dropped.load(Ordering::Relaxed),
                pending: q.buffer.lock().map_or(0, |b| b.len() as u64)
                    + q.held.load(Ordering::Relaxed),
                last_success_ms: Some(q.last_success_ms.load(Ordering::Relaxed))
                    .filter(|&ms| ms > 0),
            })
            .collect()
    }

    /// Waits until every queue is empty and nothing is held for a retry;
    /// false if that did not happen within `timeout`.
    pub async fn wait_idle(&self, timeout: StdDuration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let idle = self.queues.iter().all(|q| {
                !q.holding.load(Ordering::Acquire) && q.buffer.lock().map_or(true, |b| b.is_empty())
            });
            if idle {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
    }
}

/// Moves everything queued into `held`, newer versions replacing older ones.
fn take_queued(queue: &Queue, held: &mut BTreeMap<BTreeMap<String, String>, PostableAlert>) {
    let drained: Vec<PostableAlert> = match queue.buffer.lock() {
        Ok(mut buffer) => buffer.drain(..).collect(),
        Err(_) => Vec::new(),
    };
    for alert in drained {
        held.insert(alert.labels.clone(), alert);
    }
}

async fn post(
    client: &reqwest::Client,
    endpoint: &str,
    alerts: &[&PostableAlert],
) -> Result<(), String> {
    let response = client
        .post(endpoint)
        .json(alerts)
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(format!(
        "HTTP {status}: {}",
        body.chars().take(300).collect::<String>()
    ))
}

async fn worker(queue: Arc<Queue>, client: reqwest::Client, settings: DeliverySettings) {
    let mut held: BTreeMap<BTreeMap<String, String>, PostableAlert> = BTreeMap::new();
    // Exponential from `initial_backoff` to `max_backoff`, with jitter so
    // several burnrate replicas do not retry in step.
    let delays = ExponentialBuilder::default()
        .with_min_delay(settings.initial_backoff)
        .with_max_delay(settings.max_backoff)
        .with_jitter()
        .without_max_times();
    let mut backoff = delays.build();
    let mut failing_since: Option<DateTime<Utc>> = None;
    loop {
        // Mark before draining, so wait_idle never sees an empty queue and an idle worker
        // while alerts are in hand.
        queue.holding.store(true, Ordering::Release);
        take_queued(&queue, &mut held);
        queue.held.store(held.len() as u64, Ordering::Relaxed);
        if held.is_empty() {
            queue.holding.store(false, Ordering::Release);
            queue.notify.notified().await;
            continue;
        }
        let alerts: Vec<&PostableAlert> = held.values().collect();
        let mut result = Ok(());
        let mut delivered = 0usize;
        for chunk in alerts.chunks(settings.batch_size.max(1)) {
            result = post(&client, &queue.endpoint, chunk).await;
            if result.is_err() {
                break;
            }
            delivered += chunk.len();
        }
        queue.sent.fetch_add(delivered as u64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                queue
                    .last_success_ms
                    .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
                held.clear();
                queue.held.store(0, Ordering::Relaxed);
                if let Some(since) = failing_since.take() {
                    info!(url = %queue.url, failing_since = %since, "Alertmanager reachable again");
                }
                backoff = delays.build();
            }
            Err(error) => {
                queue.failed.fetch_add(1, Ordering::Relaxed);
                if failing_since.is_none() {
                    failing_since = Some(Utc::now());
                }
                let delay = backoff
                    .next()
                    .unwrap_or(settings.max_backoff)
                    .min(settings.max_backoff);
                warn!(url = %queue.url, %error, alerts = held.len(), retry_in_ms = delay.as_millis() as u64, "cannot deliver alerts to Alertmanager; retrying");
                // Chunks that went through are sent again with the rest: harmless, Alertmanager merges.
                tokio::time::sleep(delay).await;
                // Alerts long past their end are of no use to anyone any more.
                let horizon = Utc::now() - chrono::Duration::hours(1);
                held.retain(|_, a| a.ends_at > horizon);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_path_prefixes() {
        assert_eq!(
            alerts_endpoint("http://am:9093"),
            "http://am:9093/api/v2/alerts"
        );
        assert_eq!(
            alerts_endpoint("http://h/alertmanager/"),
            "http://h/alertmanager/api/v2/alerts"
        );
        assert_eq!(
            alerts_endpoint("http://h/api/v2/alerts"),
            "http://h/api/v2/alerts"
        );
    }

    #[test]
    fn alerts_serialise_as_alertmanager_expects() {
        let alert = PostableAlert {
            labels: [("alertname".to_string(), "SLOBurnRate".to_string())].into(),
            annotations: BTreeMap::new(),
            starts_at: DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
            ends_at: DateTime::parse_from_rfc3339("2025-03-01T12:04:00Z")
                .expect("time")
                .with_timezone(&Utc),
            generator_url: "http://b/api/v1/slos/x".into(),
        };
        let json = serde_json::to_value(&alert).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "labels": {"alertname": "SLOBurnRate"},
                "annotations": {},
                "startsAt": "2025-03-01T12:00:00Z",
                "endsAt": "2025-03-01T12:04:00Z",
                "generatorURL": "http://b/api/v1/slos/x",
            })
        );
    }

    /// A full queue drops its oldest alerts and counts them, without waiting.
    #[tokio::test]
    async fn full_queues_drop_the_oldest() {
        // Port 9 (discard) on localhost: nothing listens, every POST fails fast.
        let settings = DeliverySettings {
            queue_capacity: 3,
            initial_backoff: StdDuration::from_secs(60),
            ..DeliverySettings::default()
        };
        let sender =
            AlertSender::start(&["http://127.0.0.1:9".to_string()], settings).expect("sender");
        let alert = |n: u32| PostableAlert {
            labels: [("n".to_string(), n.to_string())].into(),
            annotations: BTreeMap::new(),
            starts_at: Utc::now(),
            ends_at: Utc::now() + chrono::Duration::minutes(4),
            generator_url: String::new(),
        };
        // Let the worker take the first alert and fail on it (it then sleeps a minute).
        sender.send(&[alert(0)]);
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        while sender.stats()[0].failed_attempts == 0 {
            assert!(std::time::Instant::now() < deadline, "no attempt made");
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
        let started = std::time::Instant::now();
        let batch: Vec<PostableAlert> = (1..=5).map(alert).collect();
        sender.send(&batch);
        assert!(started.elapsed() < StdDuration::from_millis(100));
        let stats = &sender.stats()[0];
        assert_eq!(stats.dropped, 2);
        assert_eq!(stats.pending, 4, "three queued and one held: {stats:?}");
        assert!(!sender.wait_idle(StdDuration::from_millis(50)).await);
    }
}
