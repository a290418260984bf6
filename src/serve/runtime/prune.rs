//! Retention of one SLO's stored data: what its windows no longer need is
//! deleted once an hour, evaluations past the detail span are thinned.

use tracing::{debug, info, warn};

use super::{Services, SloRuntime};
use crate::duration::Duration;
use crate::store::{PrunePlan, Pruned, Retention};
use crate::time::{HOUR_MS, Minute, hour_of, to_time};

/// Alert transitions are kept this long, or the SLO window if longer.
const ALERT_HISTORY: Duration = Duration::from_days(90);

impl SloRuntime {
    /// Drops stored data no window needs any more and thins evaluations
    /// past the detail span, once an hour.
    pub(super) async fn prune(&mut self, services: &Services, at: Minute) {
        let now = at.time();
        let at = at.ms();
        let hour = hour_of(at);
        let previous = std::mem::replace(&mut self.last_pruned_hour, hour);
        if hour == previous {
            return;
        }
        let store = &services.store;
        let grace = services.settings.retired_grace;
        let needed = self.history_needed();
        let before = self.state.as_ref().and_then(|s| s.retention);
        let retention = Retention::next(before, needed, now, grace);
        if before != Some(retention) && self.state.is_some() {
            if let Some(b) = before
                && retention.kept < b.kept
            {
                info!(from = %b.kept, to = %retention.kept, %grace,
                    "windows shrank longer ago than the grace period: data older than the shorter span is deleted");
            }
            if let Err(e) = store.set_retention(&self.lease, &retention).await {
                warn!(error = %e, "pruning skipped: cannot record the retention");
                return;
            }
            if let Some(state) = self.state.as_mut() {
                state.retention = Some(retention);
            }
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
        let plan = PrunePlan {
            before: keep_from,
            thin_from,
            thin_before,
            // Alert history outlives short windows: postmortems look back a quarter.
            transitions_before: keep_from.min(at - ALERT_HISTORY.as_millis() as i64),
        };
        match store.prune(&self.lease, &plan).await {
            Ok(p) if p == Pruned::default() => {}
            Ok(p) => debug!(buckets = p.buckets, evaluations = p.evaluations, thinned = p.thinned,
                transitions = p.transitions, before = %to_time(keep_from),
                "deleted data older than any window needs, and thinned old evaluations to one an hour"),
            Err(e) => warn!(error = %e, "pruning failed"),
        }
        match store
            .purge_retired(&self.lease, now - grace.to_chrono())
            .await
        {
            Ok(purged) => {
                for (sli, instances) in purged {
                    info!(instances, %sli, %grace, "deleted data retired longer ago than the grace period");
                }
            }
            Err(e) => warn!(error = %e, "deleting retired data failed"),
        }
    }
}
