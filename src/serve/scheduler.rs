//! The evaluation loop: every interval, each SLO's cycle, a bounded number at
//! a time. Long backfills run beside it, each in its own task with a bounded
//! share of Prometheus and PostgreSQL, so one SLO loading a month of history
//! never holds back the evaluation and alerts of the others.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use std::sync::atomic::Ordering;

use tokio::sync::oneshot::{self, error::TryRecvError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::backfill::{Ticket, backfill_together, enrol};
use super::cycle::{cycle_together, each};
use super::membership::Membership;
use super::runtime::{BackfillProgress, Services, SloRuntime, sli_fingerprint};
use super::shared::{SharedStatuses, to_shared};
use crate::api::AppState;
use crate::catalog::Catalog;
use crate::duration::Duration;
use crate::ingest::prefetch::FanInMemory;
use crate::store::Lease;
use crate::store::status::STATUS_ROWS_PER_STATEMENT;

/// Samples scraped at a minute boundary need a moment to land in Prometheus.
const SETTLE: Duration = Duration::from_secs(5);

pub struct Scheduler {
    pub services: Arc<Services>,
    pub state: Arc<AppState>,
    pub interval: Duration,
    pub concurrency: usize,
    /// Backfills running at once; the others wait for a slot.
    pub backfill_concurrency: usize,
    /// This replica among the others: which SLOs it runs.
    pub membership: Arc<Membership>,
}

/// The longest wait between two attempts at a failing backfill.
const MAX_BACKFILL_BACKOFF: Duration = Duration::from_mins(30);

/// An SLO loading its history in its own task. The task always hands the
/// runtime back, with whether the backfill succeeded; a failed one is tried
/// again from the cycle once its back-off has passed.
struct Backfill {
    fingerprint: String,
    lease: Lease,
    progress: BackfillProgress,
    ticket: Ticket,
}

/// Failed backfills of an SLO in a row, and when the next attempt may start.
#[derive(Debug, Clone, PartialEq)]
struct Retry {
    fingerprint: String,
    failures: u32,
    not_before: DateTime<Utc>,
}

impl Retry {
    /// The retry state after one more failure at `now`.
    fn after_failure(
        previous: Option<&Retry>,
        fingerprint: &str,
        now: DateTime<Utc>,
        interval: Duration,
    ) -> Retry {
        let failures = match previous {
            Some(r) if r.fingerprint == fingerprint => r.failures.saturating_add(1),
            _ => 1,
        };
        Retry {
            fingerprint: fingerprint.to_string(),
            failures,
            not_before: now + backfill_backoff(failures, interval).to_chrono(),
        }
    }
}

/// How long to wait after `failures` failed backfills in a row: one interval
/// after the first, doubling with each further failure, at most
/// [`MAX_BACKFILL_BACKOFF`] (or one interval, when that is longer). A
/// Prometheus that is down is then not asked for a month of history every
/// cycle.
fn backfill_backoff(failures: u32, interval: Duration) -> Duration {
    let cap = MAX_BACKFILL_BACKOFF.max(interval);
    let factor = 1u64 << failures.saturating_sub(1).min(20);
    Duration::from_millis(interval.as_millis().saturating_mul(factor)).min(cap)
}

/// The SLOs the scheduler runs, by id: in the cycle, backfilling, or cancelled.
#[derive(Default)]
struct Running {
    runtimes: BTreeMap<String, SloRuntime>,
    backfills: BTreeMap<String, Backfill>,
    /// Backfills cancelled by a catalog change that have not stopped yet: the
    /// SLO's new runtime waits for them, so no old write lands after its own.
    cancelled: BTreeMap<String, oneshot::Receiver<(SloRuntime, bool)>>,
    /// The tasks backfilling groups of SLOs.
    groups: Vec<JoinHandle<()>>,
    /// SLOs whose last backfill failed, waiting out their back-off.
    retries: BTreeMap<String, Retry>,
}

impl Scheduler {
    pub async fn run(self, mut catalog: watch::Receiver<Arc<Catalog>>) {
        let mut running = Running::default();
        let mut shared = SharedStatuses::default();
        let mut fanin = FanInMemory::default();
        loop {
            let current = catalog.borrow_and_update().clone();
            running
                .join_finished_backfills(&current, Utc::now(), self.interval)
                .await;
            match self.membership.round(&current, &running.busy()).await {
                Ok(leases) => running.sync(&current, &leases),
                // The SLOs held so far keep running: their writes fail and
                // their statuses turn stale until the database is back.
                Err(e) => warn!(error = %e, "replica round failed; running the SLOs held so far"),
            }
            let started = Instant::now();
            let now = Utc::now();
            let (blocked, runtimes): (BTreeMap<_, _>, BTreeMap<_, _>) =
                std::mem::take(&mut running.runtimes)
                    .into_iter()
                    .partition(|(id, _)| running.cancelled.contains_key(id));
            let (cycled, to_backfill) = self.cycle_all(runtimes, now, &mut fanin).await;
            running.runtimes = cycled;
            running.runtimes.extend(blocked);
            let mut starting = Vec::new();
            for (id, runtime) in to_backfill {
                if running.retries.get(&id).is_some_and(|r| r.not_before > now) {
                    // Still backing off: it keeps showing its last attempt.
                    running.runtimes.insert(id, runtime);
                    continue;
                }
                starting.push((id, runtime));
            }
            self.start_backfills(&mut running, starting);
            running.drop_fenced();
            let elapsed = started.elapsed();
            self.share(&running).await;
            self.follow(&running, &mut shared, &current, elapsed, true)
                .await;
            info!(
                slos = running.runtimes.len(),
                backfilling = running.backfills.len(),
                duration_ms = elapsed.as_millis() as u64,
                "cycle done"
            );
            // Until the next tick, the other replicas' statuses are followed
            // a few times, so answers here are never far behind theirs.
            loop {
                let wait = until_next_tick(Utc::now(), self.interval);
                let step = self.follow_every();
                tokio::select! {
                    _ = tokio::time::sleep(wait.min(step)) => {
                        if wait <= step {
                            break;
                        }
                        let latest = catalog.borrow().clone();
                        self.follow(&running, &mut shared, &latest, elapsed, false)
                            .await;
                    }
                    changed = catalog.changed() => {
                        if changed.is_err() {
                            for group in &running.groups {
                                group.abort();
                            }
                            return;
                        }
                        break;
                    }
                }
            }
        }
    }

    /// How often other replicas' statuses are read between cycles.
    fn follow_every(&self) -> std::time::Duration {
        (std::time::Duration::from_millis(self.interval.as_millis()) / 4).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(15),
        )
    }

    /// Writes the statuses of the SLOs run here, for the other replicas. The
    /// JSON is made a few hundred SLOs at a time: for all of 10,000 SLOs at
    /// once it was hundreds of megabytes.
    async fn share(&self, running: &Running) {
        let mut rows = running
            .runtimes
            .iter()
            .map(|(id, r)| (id.clone(), r.lease().epoch, to_shared(r.statuses())))
            .chain(running.backfills.iter().map(|(id, b)| {
                let statuses = b.progress.statuses();
                (id.clone(), b.lease.epoch, to_shared(statuses.iter()))
            }));
        loop {
            let part: Vec<_> = rows.by_ref().take(STATUS_ROWS_PER_STATEMENT).collect();
            if part.is_empty() {
                return;
            }
            let shared = self
                .services
                .store
                .share_statuses(self.membership.id, &part)
                .await;
            if let Err(e) = shared {
                warn!(error = %e, "statuses not shared with the other replicas");
                return;
            }
        }
    }

    /// Reads the other replicas' statuses and publishes everything: the SLOs
    /// run here from memory, the others as their owners last wrote them.
    async fn follow(
        &self,
        running: &Running,
        shared: &mut SharedStatuses,
        catalog: &Catalog,
        elapsed: std::time::Duration,
        after_cycle: bool,
    ) {
        let followed = shared
            .refresh(&self.services.store, self.membership.id)
            .await;
        if let Err(e) = &followed {
            warn!(error = %e, "other replicas' statuses not refreshed");
        }
        let own: BTreeSet<String> = running
            .runtimes
            .keys()
            .chain(running.backfills.keys())
            .cloned()
            .collect();
        let backfilling: Vec<_> = running
            .backfills
            .values()
            .flat_map(|b| b.progress.statuses())
            .collect();
        self.state.publish(
            running
                .runtimes
                .values()
                .flat_map(|r| r.statuses().cloned())
                .chain(backfilling)
                .chain(shared.others(&own, catalog)),
            elapsed,
            after_cycle,
        );
        if followed.is_ok() {
            self.state.mark_followed(Utc::now());
        }
        self.membership
            .set_ready(self.state.cycling(Utc::now()) && self.state.following(Utc::now()));
    }

    /// Cycles every runtime that is up to date enough; hands back, unevaluated,
    /// those whose history must be backfilled first. The cycle's reads are
    /// fanned in first: one query per metric serves every SLO reading it.
    async fn cycle_all(
        &self,
        runtimes: BTreeMap<String, SloRuntime>,
        now: DateTime<Utc>,
        fanin: &mut FanInMemory,
    ) -> (BTreeMap<String, SloRuntime>, Vec<(String, SloRuntime)>) {
        // One read per cycle for all SLOs: corrections added through the API
        // (on any replica) apply from the next cycle. On an error the last
        // ones read stay in force.
        let stored = match self.services.store.corrections().await {
            Ok(stored) => Some(stored),
            Err(e) => {
                warn!(error = %e, "reading stored corrections failed; keeping the last ones read");
                None
            }
        };
        let mut runtimes: Vec<(String, SloRuntime)> = runtimes.into_iter().collect();
        if let Some(stored) = &stored {
            for (_, runtime) in &mut runtimes {
                runtime.set_stored_corrections(stored);
            }
        }
        let loaded = each(
            &self.services,
            runtimes,
            self.concurrency,
            move |services, mut runtime| async move {
                // On a load error the cycle tries again and reports it as stale.
                let backfill = matches!(runtime.needs_backfill(&services, now).await, Ok(true));
                (runtime, backfill)
            },
        )
        .await;
        let mut ready = Vec::new();
        let mut to_backfill = Vec::new();
        for (id, (runtime, backfill)) in loaded {
            if backfill {
                to_backfill.push((id, runtime));
            } else {
                ready.push((id, runtime));
            }
        }
        let (cycled, _) = cycle_together(&self.services, ready, now, fanin, self.concurrency).await;
        let out = cycled.into_iter().collect();
        (out, to_backfill)
    }

    /// Starts one backfill task for all of `starting`: their reads are
    /// fanned in and their chunks stored together.
    fn start_backfills(&self, running: &mut Running, starting: Vec<(String, SloRuntime)>) {
        running.groups.retain(|g| !g.is_finished());
        if starting.is_empty() {
            return;
        }
        let mut enrolled = Vec::with_capacity(starting.len());
        for (id, mut runtime) in starting {
            let progress = BackfillProgress::default();
            runtime.show_backfilling(0.0, &progress);
            let fingerprint = runtime.fingerprint().to_string();
            let lease = runtime.lease().clone();
            let (member, ticket) = enrol(runtime, progress.clone());
            enrolled.push(member);
            let backfill = Backfill {
                fingerprint,
                lease,
                progress,
                ticket,
            };
            running.backfills.insert(id, backfill);
        }
        let services = Arc::clone(&self.services);
        let concurrency = self.backfill_concurrency.max(1);
        running.groups.push(tokio::spawn(backfill_together(
            services,
            enrolled,
            concurrency,
        )));
    }
}

impl Running {
    /// SLOs with a task still writing: their leases cannot be handed over yet.
    fn busy(&self) -> BTreeSet<String> {
        self.backfills
            .keys()
            .chain(self.cancelled.keys())
            .cloned()
            .collect()
    }

    /// Stops running SLOs whose lease another replica took.
    fn drop_fenced(&mut self) {
        self.runtimes.retain(|_, r| !r.fenced());
    }

    /// Moves finished backfills into the cycle, unless the catalog dropped
    /// their SLO or changed its SLI meanwhile: such a result is discarded.
    /// A failed backfill sets the SLO's next attempt after a back-off.
    async fn join_finished_backfills(
        &mut self,
        catalog: &Catalog,
        now: DateTime<Utc>,
        interval: Duration,
    ) {
        self.cancelled
            .retain(|_, done| matches!(done.try_recv(), Err(TryRecvError::Empty)));
        let mut finished = Vec::new();
        for (id, backfill) in &mut self.backfills {
            match backfill.ticket.done.try_recv() {
                Err(TryRecvError::Empty) => {}
                handed => finished.push((id.clone(), handed)),
            }
        }
        for (id, handed) in finished {
            let Some(backfill) = self.backfills.remove(&id) else {
                continue;
            };
            let mut runtime = match handed {
                Ok((runtime, true)) => {
                    self.retries.remove(&id);
                    runtime
                }
                Ok((runtime, false)) => {
                    let retry = Retry::after_failure(
                        self.retries.get(&id),
                        &backfill.fingerprint,
                        now,
                        interval,
                    );
                    warn!(slo = %id, failures = retry.failures, next_attempt = %retry.not_before,
                        "backfill failed; backing off before the next attempt");
                    self.retries.insert(id.clone(), retry);
                    runtime
                }
                // Only that SLO's memory is lost; a new runtime loads it again.
                Err(_) => {
                    warn!(slo = %id, "a backfill stopped without handing its SLO back (it panicked)");
                    continue;
                }
            };
            match catalog.slos.iter().find(|s| s.id.as_str() == id) {
                _ if runtime.fenced() => {
                    info!(slo = %id, "backfill stopped: another replica took the SLO over")
                }
                Some(slo) if sli_fingerprint(slo) == backfill.fingerprint => {
                    runtime.update_definition(Arc::clone(slo));
                    self.runtimes.insert(id, runtime);
                }
                _ => {
                    info!(slo = %id, "backfill result discarded: the SLO changed or left the catalog")
                }
            }
        }
    }

    /// Runs the SLOs of the catalog this replica holds a lease for: adds new
    /// ones, drops the others, keeps history for changed SLOs whose SLI is
    /// the same, and cancels backfills the catalog or a handover made
    /// pointless. A lease taken anew (another epoch) starts from the database.
    fn sync(&mut self, catalog: &Catalog, leases: &BTreeMap<String, Lease>) {
        let mut next = BTreeMap::new();
        let mut backfills = BTreeMap::new();
        for slo in &catalog.slos {
            let id = slo.id.to_string();
            let Some(lease) = leases.get(&id) else {
                continue;
            };
            let slo = Arc::clone(slo);
            let fingerprint = sli_fingerprint(&slo);
            if let Some(backfill) = self.backfills.remove(&id) {
                if backfill.fingerprint == fingerprint && backfill.lease == *lease {
                    backfills.insert(id, backfill);
                    continue;
                }
                info!(slo = %id, "SLI or lease changed during its backfill: backfill cancelled");
                backfill.ticket.cancel.store(true, Ordering::Relaxed);
                self.cancelled.insert(id.clone(), backfill.ticket.done);
            }
            let runtime = match self.runtimes.remove(&id) {
                Some(mut existing)
                    if existing.fingerprint() == fingerprint && existing.lease() == lease =>
                {
                    existing.update_definition(slo);
                    existing
                }
                _ => SloRuntime::new(slo, lease.clone()),
            };
            next.insert(id, runtime);
        }
        for removed in self.runtimes.keys() {
            info!(slo = %removed, "SLO no longer run here (removed from the catalog, or handed to another replica)");
        }
        for (removed, backfill) in std::mem::take(&mut self.backfills) {
            info!(slo = %removed, "SLO removed from the catalog or handed over during its backfill: backfill cancelled");
            backfill.ticket.cancel.store(true, Ordering::Relaxed);
            self.cancelled.insert(removed, backfill.ticket.done);
        }
        // A changed SLI or a removed SLO starts over without waiting.
        self.retries.retain(|id, retry| {
            catalog
                .get(id)
                .is_some_and(|slo| sli_fingerprint(slo) == retry.fingerprint)
        });
        self.runtimes = next;
        self.backfills = backfills;
    }
}

/// Time until the next tick: ticks are aligned to the interval plus a short settle delay.
fn until_next_tick(now: DateTime<Utc>, interval: Duration) -> std::time::Duration {
    let interval_ms = (interval.as_millis() as i64).max(1000);
    let settle = SETTLE.as_millis() as i64;
    let now_ms = now.timestamp_millis();
    let next = (now_ms - settle).div_euclid(interval_ms) * interval_ms + interval_ms + settle;
    std::time::Duration::from_millis((next - now_ms).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_backfills_back_off_exponentially_up_to_a_bound() {
        let minute = Duration::from_mins(1);
        #[rustfmt::skip]
        let cases = [
            (1, minute, "1m"), (2, minute, "2m"), (3, minute, "4m"), (5, minute, "16m"),
            (6, minute, "30m"), (60, minute, "30m"), (u32::MAX, minute, "30m"),
            (1, Duration::from_secs(10), "10s"), (4, Duration::from_secs(10), "1m20s"),
            // An interval longer than the bound waits one interval.
            (3, Duration::from_hours(1), "1h"),
        ];
        for (failures, interval, want) in cases {
            assert_eq!(
                backfill_backoff(failures, interval).to_string(),
                want,
                "{failures} after {interval}"
            );
        }

        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let first = Retry::after_failure(None, "v1", t("2026-01-01T00:00:00Z"), minute);
        assert_eq!(
            (first.failures, first.not_before),
            (1, t("2026-01-01T00:01:00Z"))
        );
        let second = Retry::after_failure(Some(&first), "v1", t("2026-01-01T00:01:05Z"), minute);
        assert_eq!(
            (second.failures, second.not_before),
            (2, t("2026-01-01T00:03:05Z"))
        );
        let changed = Retry::after_failure(Some(&second), "v2", t("2026-01-01T00:04:00Z"), minute);
        assert_eq!(changed.failures, 1, "a changed SLI counts afresh");
    }

    #[test]
    fn ticks_align_to_the_interval_plus_settle() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let minute = Duration::from_mins(1);
        assert_eq!(
            until_next_tick(t("2026-01-01T00:00:00Z"), minute).as_secs(),
            5
        );
        assert_eq!(
            until_next_tick(t("2026-01-01T00:00:05Z"), minute).as_secs(),
            60
        );
        assert_eq!(
            until_next_tick(t("2026-01-01T00:00:30Z"), minute).as_secs(),
            35
        );
    }
}
