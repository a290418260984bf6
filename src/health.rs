//! burnrate's own health counters, read by `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Cycles that failed because Prometheus did not answer or answered an error.
pub static PROMETHEUS_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Cycles that failed because PostgreSQL did not answer or answered an error.
pub static DATABASE_ERRORS: AtomicU64 = AtomicU64::new(0);

pub fn prometheus_errors() -> u64 {
    PROMETHEUS_ERRORS.load(Ordering::Relaxed)
}

pub fn database_errors() -> u64 {
    DATABASE_ERRORS.load(Ordering::Relaxed)
}
