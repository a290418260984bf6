//! One SLO's life in `burnrate serve`: backfill, incremental ingestion,
//! evaluation of every window and alert tier, each cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use crate::alerting::evaluation::{self, InstanceRef, Observation};
use crate::alerting::{AlertFigures, AlertKey, AlertRef, Alerting, InstanceAlerts, TrackedAlert};
use crate::catalog::Slo;
use crate::duration::Duration;
use crate::engine::{self, EventCounts, ExhaustionEta, Suppression};
use crate::evaluation::{DataState, ErrorBudget, ExhaustionStatus, InstanceStatus, TierStatus};
use crate::ingest::history::EventHistory;
use crate::ingest::{self};
use crate::labels::Labels;
use crate::labels::group_key_text;
use crate::prom::Prometheus;
use crate::store::{IngestionState, PrunePlan, Store, StoreError};
use crate::time::{HOUR_MS, MINUTE_MS, floor_minute, hour_of, to_time};

/// Windows every instance reports a burn rate for.
pub const REPORTED_WINDOWS: [Duration; 7] = [
    Duration::from_mins(5),
    Duration::from_mins(30),
    Duration::from_hours(1),
    Duration::from_hours(2),
    Duration::from_hours(6),
    Duration::from_days(1),
    Duration::from_days(3),
];

/// The window whose burn rate counts as "current" for time-to-exhaustion.
const CURRENT_BURN_WINDOW: Duration = Duration::from_hours(1);

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
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            reread: Duration::from_mins(2),
            chunk: Duration::from_hours(6),
            history_step: Duration::from_mins(5),
            history_detail: Duration::from_days(1),
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

struct Instance {
    id: i64,
    history: EventHistory,
    /// Alert phases and delivery state, restored from PostgreSQL at load.
    alerts: InstanceAlerts,
    status: InstanceStatus,
}

/// A fingerprint of what an SLO counts: if it changes, stored counts are void.
pub fn sli_fingerprint(slo: &Slo) -> String {
    let indicator = serde_json::to_string(&slo.indicator).unwrap_or_default();
    format!("{indicator}|group_by={}", slo.group_by.join(","))
}

/// Alert transitions are kept this long, or the SLO window if longer.
const ALERT_HISTORY: Duration = Duration::from_days(90);

pub struct SloRuntime {
    slo: Arc<Slo>,
    fingerprint: String,
    loaded: bool,
    state: Option<IngestionState>,
    instances: BTreeMap<Labels, Instance>,
    carry: Option<ingest::Carry>,
    last_pruned_hour: i64,
}

impl SloRuntime {
    pub fn new(slo: Arc<Slo>) -> Self {
        let fingerprint = sli_fingerprint(&slo);
        SloRuntime {
            slo,
            fingerprint,
            loaded: false,
            state: None,
            instances: BTreeMap::new(),
            carry: None,
            last_pruned_hour: 0,
        }
    }

    pub fn slo(&self) -> &Arc<Slo> {
        &self.slo
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Takes a new definition with the same SLI (objective, window, alerting may differ).
    pub fn update_definition(&mut self, slo: Arc<Slo>) {
        debug_assert_eq!(sli_fingerprint(&slo), self.fingerprint);
        self.slo = slo;
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

    /// One cycle at `now`: ingest what is new, then evaluate. On a Prometheus
    /// or database error the counts stay as they were and statuses turn stale.
    #[tracing::instrument(name = "slo", skip_all, fields(slo = %self.slo.id))]
    pub async fn cycle(&mut self, services: &Services, now: DateTime<Utc>) {
        let now_ms = now.timestamp_millis();
        let result = self.ingest(services, now_ms).await;
        let evaluated_at = now_ms - now_ms.rem_euclid(MINUTE_MS);
        match result {
            Ok(()) => {
                if let Err(e) = self.evaluate(services, evaluated_at).await {
                    count_failure(&e);
                    self.mark_stale(&e.to_string());
                    self.resend_alerts(services, evaluated_at);
                }
                self.mark_ingested();
                self.prune(services, evaluated_at).await;
            }
            Err(e) => {
                warn!(error = %e, "cycle failed; statuses are stale until the next good cycle");
                count_failure(&e);
                self.mark_stale(&e.to_string());
                self.resend_alerts(services, evaluated_at);
            }
        }
    }

    /// Keeps firing alerts alive in Alertmanager through a failed cycle.
    /// Instances this cycle already evaluated were sent then and are not due.
    fn resend_alerts(&mut self, services: &Services, at: i64) {
        let at = to_time(at);
        for instance in self.instances.values_mut() {
            evaluation::resend_unchanged(
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
        let state = services.store.ingestion_state(slo_id).await?;
        self.state = match state {
            Some(s) if s.sli_fingerprint != self.fingerprint => {
                info!("SLI definition changed: discarding stored counts and backfilling again");
                services.store.reset_slo(slo_id).await?;
                None
            }
            other => other,
        };
        let from = now_ms - self.history_needed().as_millis() as i64 - HOUR_MS;
        for (id, group) in services.store.instances(slo_id).await? {
            let mut history = EventHistory::default();
            for (hour, minutes) in services
                .store
                .load_hours(id, from, now_ms + HOUR_MS)
                .await?
            {
                history.load_hour(hour, minutes);
            }
            // Sums only until evaluate() asks for the detail its window edges need.
            history.compact(&detail_hours(now_ms, std::iter::empty()), i64::MIN);
            self.insert_instance(id, group, history);
        }
        if self.slo.group_by.is_empty() && self.instances.is_empty() {
            let id = services.store.instance_id(slo_id, &Labels::new()).await?;
            self.insert_instance(id, Labels::new(), EventHistory::default());
        }
        // Alerts pick up where they were: a firing alert keeps its start.
        for (id, key, tracked) in services.store.alert_states(slo_id).await? {
            if let Some(instance) = self.instances.values_mut().find(|i| i.id == id)
                && tracked != TrackedAlert::default()
            {
                instance.alerts.set(key, tracked);
            }
        }
        self.loaded = true;
        Ok(())
    }

    fn insert_instance(&mut self, id: i64, group: Labels, history: EventHistory) {
        let status = InstanceStatus::pending(
            &self.slo,
            format!("{}{}", self.slo.id, group_key_text(&group)),
            group.clone(),
        );
        self.instances.insert(
            group,
            Instance {
                id,
                history,
                alerts: InstanceAlerts::default(),
                status,
            },
        );
    }

    async fn ingest(&mut self, services: &Services, now_ms: i64) -> Result<(), CycleError> {
        if !self.loaded {
            self.load(services, now_ms).await?;
        }
        let target = now_ms - now_ms.rem_euclid(1000);
        let reread = services.settings.reread.as_millis() as i64;
        let (mut from, history_from) = match &self.state {
            Some(s) => (
                (s.ingested_until - reread).max(s.history_from),
                s.history_from,
            ),
            None => {
                let start = floor_minute(now_ms) - self.history_needed().as_millis() as i64;
                info!(from = %to_time(start), "backfilling history");
                (start, start)
            }
        };
        from = floor_minute(from);
        let chunk = services.settings.chunk.as_millis() as i64;
        let started = std::time::Instant::now();
        // Progress every 10 s: a thousand SLOs backfilling must not flood the log.
        let mut reported = started;
        let total_span = (target - from).max(1);
        while from < target {
            let to = (from + chunk).min(target);
            // The next span starts where this one ends, or a re-read span before it.
            let next_from = if to < target {
                floor_minute(to)
            } else {
                floor_minute((floor_minute(to) - reread).max(history_from))
            };
            let grouped = match ingest::fetch_span(
                &services.prometheus,
                &self.slo,
                from,
                to,
                &mut self.carry,
                next_from,
            )
            .await
            {
                Ok(grouped) => grouped,
                Err(e) => {
                    self.carry = None;
                    return Err(e.into());
                }
            };
            let mut by_instance: BTreeMap<i64, BTreeMap<i64, EventCounts>> = BTreeMap::new();
            for (group, minutes) in grouped {
                if !self.instances.contains_key(&group) {
                    let id = services
                        .store
                        .instance_id(self.slo.id.as_str(), &group)
                        .await?;
                    info!(group = %group_key_text(&group), "new instance");
                    self.insert_instance(id, group.clone(), EventHistory::default());
                }
                let id = self.instances[&group].id;
                by_instance.insert(id, minutes);
            }
            let state = IngestionState {
                sli_fingerprint: self.fingerprint.clone(),
                ingested_until: floor_minute(to),
                history_from,
            };
            services
                .store
                .write_span(self.slo.id.as_str(), &by_instance, &state)
                .await?;
            self.apply_to_memory(services, &by_instance).await?;
            self.state = Some(state);
            debug!(until = %to_time(to), "backfill chunk stored");
            if chunk < total_span && to < target && reported.elapsed().as_secs() >= 10 {
                reported = std::time::Instant::now();
                info!(progress = format!("{:.0}%", 100.0 * (to - (target - total_span)) as f64 / total_span as f64), until = %to_time(to), elapsed_s = started.elapsed().as_secs(), "backfill progress");
            }
            from = floor_minute(to);
            if to == target {
                break;
            }
        }
        Ok(())
    }

    /// Mirrors a written span in memory; hours whose detail was dropped are
    /// reloaded from the database, which now holds the merged truth.
    async fn apply_to_memory(
        &mut self,
        services: &Services,
        written: &BTreeMap<i64, BTreeMap<i64, EventCounts>>,
    ) -> Result<(), CycleError> {
        for instance in self.instances.values_mut() {
            let Some(minutes) = written.get(&instance.id) else {
                continue;
            };
            let hours: BTreeSet<i64> = minutes.keys().map(|&m| hour_of(m)).collect();
            for hour in hours {
                let compacted = !instance.history.has_detail(hour)
                    && instance
                        .history
                        .sum(hour, hour + HOUR_MS)
                        .is_some_and(|c| c.total != 0.0 || c.good != 0.0);
                if compacted {
                    for (h, m) in services
                        .store
                        .load_hours(instance.id, hour, hour + HOUR_MS)
                        .await?
                    {
                        instance.history.load_hour(h, m);
                    }
                } else {
                    for (&minute, &counts) in minutes.range(hour..hour + HOUR_MS) {
                        instance.history.set_minute(minute, counts);
                    }
                }
            }
        }
        Ok(())
    }

    async fn evaluate(&mut self, services: &Services, at: i64) -> Result<(), CycleError> {
        let slo = Arc::clone(&self.slo);
        let at_time = to_time(at);
        let window_start = floor_minute(slo.window.start(at_time).timestamp_millis());
        let window_length = slo.window.nominal_length();
        let mut windows: BTreeSet<Duration> = REPORTED_WINDOWS.iter().copied().collect();
        for tier in &slo.alerting.tiers {
            windows.insert(tier.long_window);
            windows.insert(tier.short_window);
        }
        let record = at % (services.settings.history_step.as_millis() as i64).max(MINUTE_MS) == 0;
        for instance in self.instances.values_mut() {
            let mut ranges: Vec<(i64, i64)> = windows
                .iter()
                .map(|w| (at - w.as_millis() as i64, at))
                .collect();
            ranges.push((window_start, at));
            for (from, to) in &ranges {
                for hour in instance.history.missing_detail(*from, *to) {
                    for (h, m) in services
                        .store
                        .load_hours(instance.id, hour, hour + HOUR_MS)
                        .await?
                    {
                        instance.history.load_hour(h, m);
                    }
                }
            }
            let sum = |from: i64| instance.history.sum(from, at).unwrap_or_default();
            let mut burn_rates = BTreeMap::new();
            let mut sums: BTreeMap<Duration, EventCounts> = BTreeMap::new();
            for w in &windows {
                let events = sum(at - w.as_millis() as i64);
                sums.insert(*w, events);
                if REPORTED_WINDOWS.contains(w) {
                    burn_rates.insert(
                        w.to_string(),
                        engine::window_status(slo.objective, events).burn_rate,
                    );
                }
            }
            let slo_events = sum(window_start);
            let current =
                engine::window_status(slo.objective, sums[&CURRENT_BURN_WINDOW]).burn_rate;
            let budget = engine::budget_status(slo.objective, window_length, slo_events, current);
            burn_rates.insert(slo.window.to_string(), budget.window.burn_rate);

            let mut alerts = Vec::new();
            let mut observations = Vec::new();
            for tier in &slo.alerting.tiers {
                let eval = engine::evaluate_tier(
                    tier,
                    slo.objective,
                    sums[&tier.long_window],
                    sums[&tier.short_window],
                );
                let prev = instance.alerts.phase(&AlertKey::Tier(tier.name.clone()));
                let (phase, transition) =
                    engine::step(&prev, eval.condition, at_time, tier.for_duration);
                observations.push(Observation {
                    alert: AlertRef::Tier(tier),
                    phase,
                    transition,
                    figures: AlertFigures {
                        long_burn_rate: eval.long.burn_rate,
                        short_burn_rate: eval.short.burn_rate,
                        budget_remaining: budget.remaining,
                    },
                    threshold: tier.burn_rate,
                });
                alerts.push(TierStatus {
                    tier: tier.name.clone(),
                    severity: tier.severity,
                    state: phase.state(),
                    since: phase.since(),
                    long_window: tier.long_window.to_string(),
                    short_window: tier.short_window.to_string(),
                    burn_rate_threshold: tier.burn_rate,
                    long_burn_rate: eval.long.burn_rate,
                    short_burn_rate: eval.short.burn_rate,
                    suppressed: eval.suppressed.map(|s| match s {
                        Suppression::NoData => "no_data".to_string(),
                        Suppression::BelowMinEvents { events, min_events } => format!(
                            "{events} events in the long window, below the minimum of {min_events}"
                        ),
                    }),
                });
            }
            let budget_exhausted = slo.alerting.budget_exhausted.as_ref().map(|alert| {
                let firing = engine::evaluate_exhaustion(alert, &budget);
                let prev = instance.alerts.phase(&AlertKey::BudgetExhausted);
                let (phase, transition) = engine::step(&prev, firing, at_time, Duration::ZERO);
                observations.push(Observation {
                    alert: AlertRef::BudgetExhausted(alert),
                    phase,
                    transition,
                    figures: AlertFigures {
                        long_burn_rate: current,
                        short_burn_rate: None,
                        budget_remaining: budget.remaining,
                    },
                    threshold: alert.threshold,
                });
                ExhaustionStatus {
                    severity: alert.severity,
                    state: phase.state(),
                    threshold: alert.threshold,
                }
            });
            // Stored before anything else changes: on a database error the
            // phases stay as they were and the next cycle tries again.
            evaluation::commit(
                &services.store,
                &services.alerting,
                InstanceRef {
                    slo: &slo,
                    id: instance.id,
                    group: &instance.status.group,
                },
                &mut instance.alerts,
                &observations,
                at_time,
            )
            .await?;

            let status = &mut instance.status;
            status.objective = slo.objective.ratio();
            status.window = slo.window.to_string();
            status.evaluated_at = Some(at_time);
            status.data_state = budget.window.data_state;
            status.sli = budget.window.sli;
            status.events = slo_events;
            status.error_budget = ErrorBudget {
                remaining: budget.remaining,
                consumed: budget.consumed,
                total_events: budget.budget_events,
                remaining_events: budget.remaining_events,
                total_minutes: budget.budget_minutes,
                remaining_minutes: budget.remaining_minutes,
                exhaustion_at: match budget.time_to_exhaustion {
                    Some(ExhaustionEta::In { seconds }) => {
                        Some(at_time + chrono::Duration::milliseconds((seconds * 1000.0) as i64))
                    }
                    Some(ExhaustionEta::AlreadyExhausted) => Some(at_time),
                    _ => None,
                },
            };
            status.burn_rates = burn_rates;
            status.alerts = alerts;
            status.budget_exhausted = budget_exhausted;
            status.error = None;
            if record {
                services
                    .store
                    .record_evaluation(
                        instance.id,
                        at,
                        status.data_state.as_str(),
                        slo_events,
                        status.sli,
                        budget.remaining,
                        &status.burn_rates,
                    )
                    .await?;
            }
            // Minute detail only where a window edge cuts an hour, and for the
            // newest hours ingestion rewrites; the rest keep their sums.
            let edges = windows
                .iter()
                .map(|w| at - w.as_millis() as i64)
                .chain([window_start]);
            let longest = windows
                .iter()
                .max()
                .copied()
                .unwrap_or(Duration::ZERO)
                .as_millis() as i64;
            instance.history.compact(
                &detail_hours(at, edges),
                window_start.min(at - longest) - HOUR_MS,
            );
        }
        Ok(())
    }

    /// Drops stored data no window needs any more and thins evaluations
    /// past the detail span, once an hour.
    async fn prune(&mut self, services: &Services, at: i64) {
        let hour = hour_of(at);
        let previous = std::mem::replace(&mut self.last_pruned_hour, hour);
        if hour == previous {
            return;
        }
        let keep_from = at - self.history_needed().as_millis() as i64 - HOUR_MS;
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
        match services.store.prune(self.slo.id.as_str(), &plan).await {
            Ok(0) => {}
            Ok(rows) => debug!(rows, before = %to_time(keep_from), "pruned old data"),
            Err(e) => warn!(error = %e, "pruning failed"),
        }
    }
}

/// Hours whose minute detail stays in memory: those holding a window edge,
/// and the newest two, which each cycle's re-read span rewrites.
fn detail_hours(at: i64, edges: impl Iterator<Item = i64>) -> BTreeSet<i64> {
    let now = hour_of(at);
    edges.map(hour_of).chain([now, now - HOUR_MS]).collect()
}

/// Counts a failed cycle by the dependency that failed, for `/metrics`.
fn count_failure(error: &CycleError) {
    let counter = match error {
        CycleError::Prometheus(_) => &super::health::PROMETHEUS_ERRORS,
        CycleError::Store(_) => &super::health::DATABASE_ERRORS,
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}
