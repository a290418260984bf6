//! What an SLO's cycle needs from the outside world (the Prometheus client,
//! the store, alert delivery, the tunables), and how a cycle fails.

use crate::alerting::Alerting;
use crate::duration::Duration;
use crate::prom::Prometheus;
use crate::store::{Store, StoreError};

/// Tunables shared by all runtimes.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Span re-read every cycle so that late samples are counted.
    pub reread: Duration,
    /// Largest span fetched in one go during backfill and gap healing.
    pub chunk: Duration,
    /// Evaluations are stored for history every this often.
    pub history_step: Duration,
    /// Older evaluations are thinned to the last of each hour.
    pub history_detail: Duration,
    /// Data of a changed SLI, and data beyond a shrunk window, is kept this
    /// long before it is deleted, so that a revert brings it back.
    pub retired_grace: Duration,
    /// A grouped SLO tracks at most this many instances; label sets beyond
    /// it are reported and not counted, so one bad label cannot flood memory.
    pub max_instances: usize,
    /// An instance whose series send no samples for longer than this turns
    /// `absent`.
    pub absent_after: Duration,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            reread: Duration::from_mins(2),
            chunk: Duration::from_hours(6),
            history_step: Duration::from_mins(5),
            history_detail: Duration::from_days(1),
            retired_grace: Duration::from_days(7),
            max_instances: 1000,
            absent_after: Duration::from_mins(30),
        }
    }
}

/// What a cycle needs from the outside world.
pub struct Services {
    pub prometheus: Prometheus,
    pub store: Store,
    pub settings: IngestSettings,
    /// Alert delivery (settings, and the Alertmanager sender when configured).
    pub alerting: Alerting,
}

#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error(transparent)]
    Prometheus(#[from] crate::prom::PrometheusError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CycleError {
    /// Whether the SLO's lease passed to another replica.
    pub fn is_fenced(&self) -> bool {
        matches!(self, CycleError::Store(StoreError::Fenced { .. }))
    }

    /// What API readers see in an instance's `error`: the Prometheus query
    /// and server (without credentials) and the server's message, but of a
    /// database failure only which step failed, never the database's text.
    pub fn for_readers(&self) -> String {
        match self {
            CycleError::Prometheus(e) => e.to_string(),
            CycleError::Store(e) => format!("the database failed ({})", e.step()),
        }
    }
}

/// Counts a failed cycle by the dependency that failed, for `/metrics`.
pub(super) fn count_failure(error: &CycleError) {
    let counter = match error {
        CycleError::Prometheus(_) => &crate::health::PROMETHEUS_ERRORS,
        CycleError::Store(_) => &crate::health::DATABASE_ERRORS,
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}
