//! Retention of one SLO's stored data: what its windows no longer need is
//! deleted once an hour, evaluations past the detail span are thinned. The
//! runtime plans its prune; the cycle prunes all SLOs due in one batch
//! (`serve::cycle`).

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use super::{CycleError, Services, SloRuntime};
use crate::duration::Duration;
use crate::store::{PruneDone, PruneJob, PrunePlan, Pruned, Retention, StoreError};
use crate::time::{HOUR_MS, Minute, hour_of, to_time};

/// Alert transitions are kept this long, or the SLO window if longer.
const ALERT_HISTORY: Duration = Duration::from_days(90);

/// This hour's prune of one SLO, planned and waiting for its batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DuePrune {
    /// The retention to record; none when it did not change.
    retention: Option<Retention>,
    plan: PrunePlan,
    retired_before: DateTime<Utc>,
    /// How long retired data is kept, for the log.
    grace: Duration,
}

impl SloRuntime {
    /// Plans this hour's prune, once an hour: it drops stored data no
    /// window needs any more and thins evaluations past the detail span.
    pub(super) fn plan_prune(&mut self, services: &Services, at: Minute) {
        let now = at.time();
        let at = at.ms();
        let hour = hour_of(at);
        let previous = std::mem::replace(&mut self.last_pruned_hour, hour);
        if hour == previous {
            return;
        }
        let grace = services.settings.retired_grace;
        let needed = self.history_needed();
        let before = self.state.as_ref().and_then(|s| s.retention);
        let retention = Retention::next(before, needed, now, grace);
        let changed = before != Some(retention) && self.state.is_some();
        if changed
            && let Some(b) = before
            && retention.kept < b.kept
        {
            info!(from = %b.kept, to = %retention.kept, %grace,
                "windows shrank longer ago than the grace period: data older than the shorter span is deleted");
        }
        if needed < retention.kept {
            debug!(needed = %needed, kept = %retention.kept, %grace,
                "windows shrank: the longer span is kept until the grace period has passed");
        }
        let keep_from = at - retention.kept.as_millis() as i64 - HOUR_MS;
        let thin_before = hour_of(at - services.settings.history_detail.as_millis() as i64);
        // A run's first prune thins everything; later ones the hours that aged since.
        let thin_from = if previous == 0 {
            0
        } else {
            thin_before - (hour - previous) - HOUR_MS
        };
        self.due_prune = Some(DuePrune {
            retention: changed.then_some(retention),
            plan: PrunePlan {
                before: keep_from,
                thin_from,
                thin_before,
                // Alert history outlives short windows: postmortems look back a quarter.
                transitions_before: keep_from.min(at - ALERT_HISTORY.as_millis() as i64),
            },
            retired_before: now - grace.to_chrono(),
            grace,
        });
    }

    /// The planned prune as a batch takes it, if one is due.
    pub fn prune_job(&self) -> Option<PruneJob<'_>> {
        let due = self.due_prune.as_ref()?;
        Some(PruneJob {
            lease: &self.lease,
            retention: due.retention,
            plan: Some(due.plan),
            retired_before: Some(due.retired_before),
        })
    }

    /// Prunes by itself, if a prune is due.
    pub(super) async fn prune_alone(&mut self, services: &Services) {
        let Some(job) = self.prune_job() else {
            return;
        };
        let outcome = match services.store.prune_all(&[job]).await {
            Ok(mut outcomes) => outcomes.pop().unwrap_or(Ok(PruneDone::default())),
            Err(e) => Err(e),
        };
        self.pruned(outcome);
    }

    /// Takes the outcome of the planned prune.
    #[tracing::instrument(name = "slo", skip_all, fields(slo = %self.slo.id))]
    pub fn pruned(&mut self, outcome: Result<PruneDone, StoreError>) {
        let Some(due) = self.due_prune.take() else {
            return;
        };
        let done = match outcome {
            Ok(done) => done,
            Err(e) => {
                let e = CycleError::from(e);
                if !self.note_fenced(&e) {
                    warn!(error = %e, "pruning failed");
                }
                return;
            }
        };
        if let (Some(retention), Some(state)) = (due.retention, self.state.as_mut()) {
            state.retention = Some(retention);
        }
        let p = done.pruned;
        if p != Pruned::default() {
            debug!(buckets = p.buckets, evaluations = p.evaluations, thinned = p.thinned,
                transitions = p.transitions, before = %to_time(due.plan.before),
                "deleted data older than any window needs, and thinned old evaluations to one an hour");
        }
        for (sli, instances) in done.purged {
            info!(instances, %sli, grace = %due.grace, "deleted data retired longer ago than the grace period");
        }
    }
}
