//! burnrate's own health counters, read by `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Cycles that failed because Prometheus did not answer or answered an error.
pub static PROMETHEUS_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Cycles that failed because PostgreSQL did not answer or answered an error.
pub static DATABASE_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Samples skipped because their value was NaN or infinite.
pub static NONFINITE_SAMPLES: AtomicU64 = AtomicU64::new(0);
/// Label sets of grouped SLOs not counted because the SLO had reached its
/// instance limit.
pub static UNTRACKED_LABEL_SETS: AtomicU64 = AtomicU64::new(0);
/// Catalog reloads refused because the new catalog had errors.
pub static CATALOG_RELOAD_FAILURES: AtomicU64 = AtomicU64::new(0);
/// Writes refused because the SLO's lease had passed to another replica.
pub static FENCED_WRITES: AtomicU64 = AtomicU64::new(0);
/// Leases this replica took over or released (handovers between replicas).
pub static LEASES_ACQUIRED: AtomicU64 = AtomicU64::new(0);
pub static LEASES_RELEASED: AtomicU64 = AtomicU64::new(0);
/// Fan-in of Prometheus reads: selector reads the SLOs asked for, union
/// queries sent, reads those served, and the series they returned and used.
pub static FANIN_READS: AtomicU64 = AtomicU64::new(0);
pub static FANIN_UNION_QUERIES: AtomicU64 = AtomicU64::new(0);
pub static FANIN_READS_SERVED: AtomicU64 = AtomicU64::new(0);
pub static FANIN_SERIES_RETURNED: AtomicU64 = AtomicU64::new(0);
pub static FANIN_SERIES_USED: AtomicU64 = AtomicU64::new(0);
/// Raw-sample reads by the API that answered them: JSON (a range selector),
/// remote read with streamed chunks, remote read with samples.
pub static RAW_READS_JSON: AtomicU64 = AtomicU64::new(0);
pub static RAW_READS_REMOTE_CHUNKS: AtomicU64 = AtomicU64::new(0);
pub static RAW_READS_REMOTE_SAMPLES: AtomicU64 = AtomicU64::new(0);

/// Adds one to a counter.
pub fn count(counter: &AtomicU64) {
    add(counter, 1);
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

pub fn prometheus_errors() -> u64 {
    read(&PROMETHEUS_ERRORS)
}

pub fn database_errors() -> u64 {
    read(&DATABASE_ERRORS)
}
