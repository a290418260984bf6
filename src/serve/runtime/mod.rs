//! One SLO's life in `burnrate serve`: backfill, incremental ingestion,
//! evaluation of every window and alert tier, each cycle. The scheduler runs
//! long backfills (`SloRuntime::backfill`) in their own task, outside the
//! cycle; `SloRuntime::cycle` alone still does everything, for callers that
//! want one SLO brought up to date in one call.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::alerting::transitions::{self, InstanceRef};
use crate::alerting::{InstanceAlerts, TrackedAlert};
use crate::catalog::{Correction, Slo};
use crate::duration::Duration;
use crate::engine::EventCounts;
use crate::evaluation::{self, DataState, Evaluation, InstanceStatus, WindowPlan};
use crate::ingest::fingerprint::same_sli;
use crate::ingest::history::EventHistory;
use crate::ingest::prefetch::Reader;
use crate::ingest::{self};
use crate::labels::Labels;
use crate::labels::group_key_text;
use crate::store::corrections::StoredCorrection;
use crate::store::{EvaluationRow, IngestionState, Lease};
use crate::time::{HOUR_MS, MINUTE_MS, Minute, hour_of, to_time};

mod backfill;
mod ingestion;
pub use backfill::{BackfillSpan, BackfillStep};
pub use ingestion::Chunk;
mod prune;

use super::services::count_failure;
pub use super::services::{CycleError, IngestSettings, Services};

pub use super::progress::BackfillProgress;

struct Instance {
    id: i64,
    history: EventHistory,
    /// Alert phases and delivery state, restored from PostgreSQL at load.
    alerts: InstanceAlerts,
    status: InstanceStatus,
    /// The end of the last span in which the instance's series had samples;
    /// unknown until the first evaluation after a start.
    last_data: Option<i64>,
}

pub use crate::ingest::fingerprint::sli_fingerprint;

pub struct SloRuntime {
    slo: Arc<Slo>,
    /// The right to write this SLO's data; every write is checked against it.
    lease: Lease,
    /// Set when a write was refused because the lease passed to another
    /// replica: the runtime must stop, and send nothing more.
    fenced: bool,
    fingerprint: String,
    loaded: bool,
    state: Option<IngestionState>,
    /// Boxed: a map node holds eleven entries, and an instance inline would
    /// make even a one-instance SLO's node several kilobytes.
    instances: BTreeMap<Labels, Box<Instance>>,
    carry: Option<ingest::Carry>,
    last_pruned_hour: i64,
    /// This hour's prune, planned and not done yet.
    due_prune: Option<prune::DuePrune>,
    /// Label sets refused by the instance limit, reported once each.
    untracked: BTreeSet<Labels>,
    /// Corrections added at run time for this SLO or its service.
    stored_corrections: Vec<Correction>,
}

impl SloRuntime {
    pub fn new(slo: Arc<Slo>, lease: Lease) -> Self {
        debug_assert_eq!(slo.id.as_str(), lease.slo_id);
        let fingerprint = sli_fingerprint(&slo);
        SloRuntime {
            slo,
            lease,
            fenced: false,
            fingerprint,
            loaded: false,
            state: None,
            instances: BTreeMap::new(),
            carry: None,
            last_pruned_hour: 0,
            due_prune: None,
            untracked: BTreeSet::new(),
            stored_corrections: Vec::new(),
        }
    }

    /// A runtime that takes the SLO's lease whoever holds it: for a process
    /// that runs one SLO by itself (tools, tests), never beside replicas.
    pub async fn claim(slo: Arc<Slo>, services: &Services) -> Result<Self, CycleError> {
        let lease = services
            .store
            .claim_lease(slo.id.as_str(), uuid::Uuid::new_v4())
            .await?;
        Ok(SloRuntime::new(slo, lease))
    }

    pub fn slo(&self) -> &Arc<Slo> {
        &self.slo
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Whether a write was refused because another replica took the SLO over.
    pub fn fenced(&self) -> bool {
        self.fenced
    }

    /// Notes a refused write; true if `error` was one.
    fn note_fenced(&mut self, error: &CycleError) -> bool {
        if error.is_fenced() {
            if !self.fenced {
                warn!(
                    epoch = self.lease.epoch,
                    "lease lost to another replica: this SLO is no longer run here"
                );
            }
            self.fenced = true;
        }
        self.fenced
    }

    /// Takes a new definition with the same SLI (objective, window, alerting may differ).
    /// A change of budgeting reloads the stored minutes, which the new
    /// method judges from scratch.
    pub fn update_definition(&mut self, slo: Arc<Slo>) {
        debug_assert_eq!(sli_fingerprint(&slo), self.fingerprint);
        if slo.budgeting != self.slo.budgeting {
            self.loaded = false;
        }
        self.slo = slo;
    }

    /// Takes the corrections stored at run time (all of them; those for
    /// this SLO or its service apply from the next evaluation).
    pub fn set_stored_corrections(&mut self, all: &[StoredCorrection]) {
        self.stored_corrections = all
            .iter()
            .filter(|c| c.applies_to(self.slo.id.as_str(), &self.slo.service))
            .map(|c| Correction {
                reason: c.reason.clone(),
                start: c.start_at.fixed_offset(),
                duration: Duration::from_millis(c.duration_ms.max(0) as u64),
                repeat: None,
            })
            .collect();
    }

    pub fn statuses(&self) -> impl Iterator<Item = &InstanceStatus> {
        self.instances.values().map(|i| &i.status)
    }

    fn history_needed(&self) -> Duration {
        let alerts = self.slo.alerting.longest_window().unwrap_or(Duration::ZERO);
        self.slo
            .window
            .max_length()
            .max(alerts)
            .max(Duration::from_days(3))
    }

    /// Whether bringing this SLO up to `now` is a backfill, too long for a
    /// cycle: it has no stored counts yet (new, or its SLI changed), or its
    /// gap is longer than one chunk (after an outage). Loads the SLO first.
    pub async fn needs_backfill(
        &mut self,
        services: &Services,
        now: DateTime<Utc>,
    ) -> Result<bool, CycleError> {
        let now_ms = now.timestamp_millis();
        if !self.loaded {
            self.load(services, now_ms).await?;
        }
        let chunk = services.settings.chunk.as_millis() as i64;
        Ok(match &self.state {
            None => true,
            Some(s) => now_ms - s.ingested_until > chunk,
        })
    }

    /// Marks every instance `backfilling` at `progress` and shows it to readers.
    pub fn show_backfilling(&mut self, progress: f64, shared: &BackfillProgress) {
        for instance in self.instances.values_mut() {
            instance.status.data_state = DataState::Backfilling;
            instance.status.backfill_progress = Some(progress.clamp(0.0, 1.0));
        }
        shared.set(self.statuses().cloned().collect());
    }

    /// One cycle at `now`: ingest what is new, evaluate, and prune once an
    /// hour. On a Prometheus or database error the counts stay as they were
    /// and statuses turn stale.
    pub async fn cycle(&mut self, services: &Services, now: DateTime<Utc>) {
        let reader = Reader::direct(&services.prometheus);
        self.cycle_with(services, &reader, now).await;
        self.prune_alone(services).await;
    }

    /// [`Self::cycle`] without the prune, reading through `reader` (answers
    /// fanned in with other SLOs' for this cycle); the prune it plans waits
    /// for [`Self::prune_job`].
    #[tracing::instrument(name = "slo", skip_all, fields(slo = %self.slo.id))]
    pub async fn cycle_with(&mut self, services: &Services, reader: &Reader, now: DateTime<Utc>) {
        let now_ms = now.timestamp_millis();
        let result = self.ingest(services, reader, now_ms).await;
        let at = Minute::floor(now_ms);
        let rows = self.after_ingest(services, result, at).await;
        if !rows.is_empty() {
            let recorded = services
                .store
                .record_evaluations(&[(&self.lease, &rows)])
                .await;
            let outcome = match recorded {
                Ok(mut outcomes) => outcomes.pop().unwrap_or(Ok(())),
                Err(e) => Err(e),
            };
            self.recorded(services, outcome.map_err(CycleError::from), at);
        }
    }

    /// After ingestion (`result`): evaluation and the plan of this hour's
    /// prune, or stale statuses on a failure. Returns the evaluations to
    /// record for history.
    async fn after_ingest(
        &mut self,
        services: &Services,
        result: Result<(), CycleError>,
        at: Minute,
    ) -> Vec<EvaluationRow> {
        if let Err(e) = result {
            if !self.note_fenced(&e) {
                warn!(error = %e, "cycle failed; statuses are stale until the next good cycle");
                self.failed(services, &e, at);
            }
            return Vec::new();
        }
        let rows = match self.evaluate(services, at).await {
            Ok(rows) => rows,
            Err(e) => {
                if self.note_fenced(&e) {
                    return Vec::new();
                }
                self.failed(services, &e, at);
                Vec::new()
            }
        };
        self.mark_ingested();
        self.plan_prune(services, at);
        rows
    }

    /// Takes the outcome of recording this cycle's evaluations.
    pub fn recorded(&mut self, services: &Services, outcome: Result<(), CycleError>, at: Minute) {
        if let Err(e) = outcome
            && !self.note_fenced(&e)
        {
            self.failed(services, &e, at);
        }
    }

    /// A failed step: counted, statuses stale, firing alerts re-sent.
    fn failed(&mut self, services: &Services, error: &CycleError, at: Minute) {
        count_failure(error);
        self.mark_stale(&error.for_readers());
        self.resend_alerts(services, at);
    }

    /// Keeps firing alerts alive in Alertmanager through a failed cycle.
    /// Instances this cycle already evaluated were sent then and are not due.
    fn resend_alerts(&mut self, services: &Services, at: Minute) {
        if self.fenced {
            return;
        }
        let at = at.time();
        for instance in self.instances.values_mut() {
            transitions::resend_unchanged(
                &self.slo,
                &instance.status.group,
                &mut instance.alerts,
                &services.alerting,
                at,
            );
        }
    }

    fn mark_ingested(&mut self) {
        let until = self.state.as_ref().map(|s| to_time(s.ingested_until));
        for instance in self.instances.values_mut() {
            instance.status.ingested_until = until;
        }
    }

    fn mark_stale(&mut self, error: &str) {
        for instance in self.instances.values_mut() {
            instance.status.data_state = DataState::Stale;
            instance.status.error = Some(error.to_string());
        }
    }

    async fn load(&mut self, services: &Services, now_ms: i64) -> Result<(), CycleError> {
        let slo = Arc::clone(&self.slo);
        let slo_id = slo.id.as_str();
        self.state = self.stored_state(services).await?;
        let from = now_ms - self.history_needed().as_millis() as i64 - HOUR_MS;
        for (id, group) in services.store.instances(slo_id).await? {
            let mut history = EventHistory::new(self.slo.budgeting.timeslices());
            let mut last_counted = None;
            for (hour, minutes) in services
                .store
                .load_hours(id, from, now_ms + HOUR_MS)
                .await?
            {
                last_counted = last_counted_minute(hour, &minutes).or(last_counted);
                history.load_hour(hour, minutes);
            }
            // Sums only until evaluate() asks for the detail its window edges need.
            history.compact(&detail_hours(now_ms, std::iter::empty()), i64::MIN);
            self.insert_instance(id, group.clone(), history);
            // An instance absent before a restart or a takeover stays absent
            // (its alert keeps firing) until its series send samples again.
            if let Some(instance) = self.instances.get_mut(&group) {
                instance.last_data = last_counted.map(|m| m + MINUTE_MS);
            }
        }
        if self.slo.group_by.is_empty() && self.instances.is_empty() {
            let id = services.store.instance_id(slo_id, &Labels::new()).await?;
            self.insert_instance(
                id,
                Labels::new(),
                EventHistory::new(self.slo.budgeting.timeslices()),
            );
        }
        // Alerts pick up where they were: a firing alert keeps its start.
        for stored in services.store.alert_states(slo_id).await? {
            let tracked = TrackedAlert::restored(&stored);
            if let Some(instance) = self
                .instances
                .values_mut()
                .find(|i| i.id == stored.instance_id)
                && tracked != TrackedAlert::default()
            {
                instance.alerts.set(stored.alert, tracked);
            }
        }
        self.loaded = true;
        Ok(())
    }

    /// The stored ingestion state for this SLO's SLI. Data of another SLI
    /// is retired (kept for the grace period, not deleted), and data retired
    /// earlier for this SLI is brought back: a revert loses nothing.
    async fn stored_state(
        &self,
        services: &Services,
    ) -> Result<Option<IngestionState>, CycleError> {
        let store = &services.store;
        let slo_id = self.slo.id.as_str();
        match store.ingestion_state(slo_id).await? {
            Some(state) if same_sli(&state.sli_fingerprint, &self.slo) => return Ok(Some(state)),
            Some(state) => {
                let instances = store
                    .retire_slo(&self.lease, &state.sli_fingerprint)
                    .await?;
                info!(
                    instances,
                    grace = %services.settings.retired_grace,
                    old_sli = %state.sli_fingerprint,
                    "SLI definition changed: stored counts, evaluations and alert history retired \
                     (kept for the grace period; a revert brings them back)"
                );
            }
            None => {}
        }
        if let Some(instances) = store.restore_slo(&self.lease, &self.fingerprint).await? {
            info!(
                instances,
                "SLI definition matches retired data: counts, evaluations and alert history restored"
            );
            return Ok(store.ingestion_state(slo_id).await?);
        }
        Ok(None)
    }

    fn insert_instance(&mut self, id: i64, group: Labels, history: EventHistory) {
        let status = InstanceStatus::pending(
            &self.slo,
            format!("{}{}", self.slo.id, group_key_text(&group)),
            group.clone(),
        );
        self.instances.insert(
            group,
            Box::new(Instance {
                id,
                history,
                alerts: InstanceAlerts::default(),
                status,
                last_data: None,
            }),
        );
    }

    /// The `(instance, hour)` pairs the evaluation at `at` would load one
    /// by one: hours a window edge moved into whose minutes memory dropped
    /// (once an hour for each alert window, at 10,000 SLOs some 30,000).
    /// A cycle loads a batch's in one statement and hands them to
    /// [`Self::take_hours`].
    pub fn edge_hours_missing(&self, at: Minute) -> Vec<(i64, i64)> {
        if !self.loaded {
            return Vec::new();
        }
        let plan = WindowPlan::with_corrections(&self.slo, &self.stored_corrections, at);
        let mut out: Vec<(i64, i64)> = self
            .instances
            .values()
            .flat_map(|instance| {
                plan.ranges()
                    .into_iter()
                    .flat_map(|(from, to)| instance.history.missing_detail(from, to))
                    .map(|hour| (instance.id, hour))
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Takes hours loaded for [`Self::edge_hours_missing`] into memory.
    pub fn take_hours(&mut self, hours: &BTreeMap<i64, Vec<(i64, [EventCounts; 60])>>) {
        for instance in self.instances.values_mut() {
            for (hour, minutes) in hours.get(&instance.id).into_iter().flatten() {
                instance.history.load_hour(*hour, *minutes);
            }
        }
    }

    async fn evaluate(
        &mut self,
        services: &Services,
        at: Minute,
    ) -> Result<Vec<EvaluationRow>, CycleError> {
        let mut rows = Vec::new();
        let slo = Arc::clone(&self.slo);
        let plan = WindowPlan::with_corrections(&slo, &self.stored_corrections, at);
        let record =
            at.ms() % (services.settings.history_step.as_millis() as i64).max(MINUTE_MS) == 0;
        for instance in self.instances.values_mut() {
            for (from, to) in plan.ranges() {
                for hour in instance.history.missing_detail(from, to) {
                    for (h, m) in services
                        .store
                        .load_hours(instance.id, hour, hour + HOUR_MS)
                        .await?
                    {
                        instance.history.load_hour(h, m);
                    }
                }
            }
            let mut sums = plan.sums(|from, to| instance.history.sum(from, to).unwrap_or_default());
            let last_data = *instance.last_data.get_or_insert(at.ms());
            sums.absent = at.ms() - last_data > services.settings.absent_after.as_millis() as i64;
            let Evaluation {
                status,
                observations,
            } = evaluation::evaluate(
                &slo,
                &instance.status,
                |key| instance.alerts.phase(key),
                &sums,
                at,
            );
            // Stored before anything else changes: on a database error the
            // phases stay as they were and the next cycle tries again.
            transitions::commit(
                &services.store,
                &services.alerting,
                InstanceRef {
                    slo: &slo,
                    lease: &self.lease,
                    id: instance.id,
                    group: &instance.status.group,
                },
                &mut instance.alerts,
                &observations,
                at.time(),
            )
            .await?;
            instance.status = status;
            let status = &instance.status;
            if record {
                rows.push(EvaluationRow {
                    instance: instance.id,
                    at: at.ms(),
                    data_state: status.data_state.as_str(),
                    events: sums.slo_window,
                    sli: status.sli,
                    budget_remaining: status.error_budget.remaining,
                    burn_rates: status.burn_rates.clone(),
                });
            }
            // Minute detail only where a window edge cuts an hour, and for the
            // newest hours ingestion rewrites; the rest keep their sums.
            instance.history.compact(
                &detail_hours(at.ms(), plan.edges()),
                plan.earliest() - HOUR_MS,
            );
        }
        Ok(rows)
    }
}

/// The last minute of `hour` that counted any event: where the instance's
/// data was last seen, as far as stored counts tell.
fn last_counted_minute(hour: i64, minutes: &[EventCounts; 60]) -> Option<i64> {
    minutes
        .iter()
        .rposition(|c| c.total != 0.0 || c.good != 0.0)
        .map(|i| hour + i as i64 * MINUTE_MS)
}

/// Hours whose minute detail stays in memory: those holding a window edge,
/// and the newest two, which each cycle's re-read span rewrites.
fn detail_hours(at: i64, edges: impl Iterator<Item = i64>) -> BTreeSet<i64> {
    let now = hour_of(at);
    edges.map(hour_of).chain([now, now - HOUR_MS]).collect()
}
