//! What readers see of an SLO while it backfills in its own task.

use std::sync::{Arc, Mutex};

use crate::evaluation::InstanceStatus;

/// What readers see of an SLO while it backfills in its own task: its
/// instances' statuses, `backfilling` with the share loaded so far. The task
/// writes, the scheduler reads when it publishes.
#[derive(Debug, Clone, Default)]
pub struct BackfillProgress(Arc<Mutex<Vec<InstanceStatus>>>);

impl BackfillProgress {
    pub fn statuses(&self) -> Vec<InstanceStatus> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(super) fn set(&self, statuses: Vec<InstanceStatus>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = statuses;
        }
    }
}
