//! What the API's handlers read: the published snapshot, the running
//! catalog, the store for history, and the freshness limit of the gate.
//! `serve` builds it and its scheduler publishes into it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use chrono::Utc;

use crate::duration::Duration;
use crate::evaluation::{InstanceStatus, Snapshot};
use crate::reload::Reloader;
use crate::store::Store;

/// State shared by the scheduler and the HTTP handlers.
pub struct AppState {
    snapshot: RwLock<Arc<Snapshot>>,
    pub reloader: Reloader,
    pub store: Store,
    evaluated: AtomicBool,
    /// How old an evaluation may be before the gate stops trusting it.
    pub max_status_age: Duration,
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
    ) {
        let snapshot = Snapshot {
            instances: statuses.map(|s| (s.id.clone(), s)).collect(),
            published_at: Some(Utc::now()),
            cycle_duration,
        };
        if let Ok(mut slot) = self.snapshot.write() {
            *slot = Arc::new(snapshot);
        }
        self.evaluated.store(true, Ordering::Release);
    }

    /// True once the first cycle has finished.
    pub fn evaluated(&self) -> bool {
        self.evaluated.load(Ordering::Acquire)
    }
}

impl AppState {
    /// A state with nothing published yet.
    pub fn new(reloader: Reloader, store: Store, max_status_age: Duration) -> AppState {
        AppState {
            snapshot: RwLock::default(),
            reloader,
            store,
            evaluated: AtomicBool::new(false),
            max_status_age,
        }
    }
}
