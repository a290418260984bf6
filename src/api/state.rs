//! What the API's handlers read: the published snapshot, the running
//! catalog, the store for history, and the freshness limit of the gate.
//! `serve` builds it and its scheduler publishes into it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use crate::alerting::AlertSender;
use crate::duration::Duration;
use crate::evaluation::{InstanceStatus, Snapshot};
use crate::reload::Reloader;
use crate::store::Store;

/// State shared by the scheduler and the HTTP handlers.
pub struct AppState {
    snapshot: RwLock<Arc<Snapshot>>,
    /// Counts published snapshots, except those published between cycles
    /// that changed no instance; with the catalog's generation and the
    /// replica id it names what readers see (the API's `ETag`).
    generation: AtomicU64,
    pub reloader: Reloader,
    pub store: Store,
    evaluated: AtomicBool,
    /// How old an evaluation may be before the gate stops trusting it.
    pub max_status_age: Duration,
    /// How old the last completed cycle may be before `/readyz` fails.
    pub max_cycle_age: Duration,
    /// Alert delivery, for its metrics; none without Alertmanager URLs.
    pub alert_sender: Option<AlertSender>,
    /// This replica's id among those sharing the database.
    pub replica_id: uuid::Uuid,
    /// When the other replicas' statuses were last read.
    followed_at: RwLock<Option<DateTime<Utc>>>,
}

impl AppState {
    /// The current snapshot; readers never wait for a cycle.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|s| Arc::clone(&s))
            .unwrap_or_default()
    }

    pub fn publish(
        &self,
        statuses: impl Iterator<Item = InstanceStatus>,
        cycle_duration: std::time::Duration,
        after_cycle: bool,
    ) {
        let snapshot = Snapshot {
            instances: statuses.map(|s| (s.id.clone(), s)).collect(),
            published_at: Some(Utc::now()),
            cycle_duration,
        };
        if let Ok(mut slot) = self.snapshot.write() {
            // Between cycles the other replicas' statuses are read and
            // published again every few seconds: when no instance changed,
            // the generation (and with it the API's ETag) stays, so clients
            // polling with If-None-Match keep getting 304s until the next
            // cycle or a change.
            let changed =
                after_cycle || slot.published_at.is_none() || slot.instances != snapshot.instances;
            *slot = Arc::new(snapshot);
            if changed {
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
        }
        self.evaluated.store(true, Ordering::Release);
    }

    /// Records a successful read of the other replicas' statuses.
    pub fn mark_followed(&self, at: DateTime<Utc>) {
        if let Ok(mut slot) = self.followed_at.write() {
            *slot = Some(at);
        }
    }

    /// True while the other replicas' statuses were read within three
    /// intervals: what this replica serves of their SLOs is fresh.
    pub fn following(&self, now: DateTime<Utc>) -> bool {
        let at = self.followed_at.read().map(|t| *t).unwrap_or_default();
        recent(at, now, self.max_cycle_age)
    }

    /// 0 before the first publish, then one more for each.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// True once the first cycle has finished.
    pub fn evaluated(&self) -> bool {
        self.evaluated.load(Ordering::Acquire)
    }
}

impl AppState {
    /// A state with nothing published yet, for a scheduler that cycles every
    /// `interval`. `store` should be a pool of the API's own, so readers can
    /// never starve ingestion.
    pub fn new(
        reloader: Reloader,
        store: Store,
        interval: Duration,
        alert_sender: Option<AlertSender>,
        replica_id: uuid::Uuid,
    ) -> AppState {
        AppState {
            snapshot: RwLock::default(),
            generation: AtomicU64::new(0),
            reloader,
            store,
            evaluated: AtomicBool::new(false),
            max_status_age: crate::gate::max_status_age(interval),
            max_cycle_age: Duration::from_millis(interval.as_millis().saturating_mul(3)),
            alert_sender,
            replica_id,
            followed_at: RwLock::default(),
        }
    }

    /// True while the last completed cycle is recent enough (three intervals):
    /// a stuck scheduler makes the process unready.
    pub fn cycling(&self, now: chrono::DateTime<Utc>) -> bool {
        recent(self.snapshot().published_at, now, self.max_cycle_age)
    }
}

/// Whether `at` is no older than `max_age` at `now` (never: not recent).
fn recent(at: Option<DateTime<Utc>>, now: DateTime<Utc>, max_age: Duration) -> bool {
    at.is_some_and(|at| (now - at).num_milliseconds() <= max_age.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_cycle_is_recent_for_three_intervals() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("time");
        let ago = |s: i64| Some(now - chrono::Duration::seconds(s));
        let limit = Duration::from_mins(3);
        #[rustfmt::skip]
        let cases = [(None, false), (ago(0), true), (ago(180), true), (ago(181), false), (ago(-5), true)];
        for (at, want) in cases {
            assert_eq!(recent(at, now, limit), want, "{at:?}");
        }
    }
}
