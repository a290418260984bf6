//! Bringing one SLO's counts up to date: the span to read next, reading it
//! chunk by chunk, storing it with the progress, and mirroring it in memory.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use super::{CycleError, Services, SloRuntime};
use crate::engine::EventCounts;
use crate::ingest::history::EventHistory;
use crate::ingest::prefetch::{Read, Reader};
use crate::ingest::{self};
use crate::labels::group_key_text;
use crate::store::{EvaluationRow, IngestionState};
use crate::time::{HOUR_MS, MINUTE_MS, Minute, floor_minute, to_time};

/// One SLO's span read from Prometheus: minute counts per instance id, and
/// the progress they bring it to once stored.
pub struct Chunk {
    pub buckets: BTreeMap<i64, BTreeMap<Minute, EventCounts>>,
    pub state: IngestionState,
}

impl SloRuntime {
    pub(super) async fn ingest(
        &mut self,
        services: &Services,
        reader: &Reader,
        now_ms: i64,
    ) -> Result<(), CycleError> {
        if !self.loaded {
            self.load(services, now_ms).await?;
        }
        self.ingest_until(services, reader, now_ms).await
    }

    /// Where the next span to ingest starts: from where the stored counts
    /// end (less the re-read span), or the start of the history needed.
    pub(super) fn next_span_start(&self, services: &Services, now_ms: i64) -> (i64, i64) {
        let reread = services.settings.reread.as_millis() as i64;
        let (from, history_from) = match &self.state {
            Some(s) => (
                (s.ingested_until - reread).max(s.history_from),
                s.history_from,
            ),
            None => {
                let start = floor_minute(now_ms) - self.history_needed().as_millis() as i64;
                (start, start)
            }
        };
        (floor_minute(from), history_from)
    }

    /// What a cycle at `now` will read from Prometheus, when it is one span
    /// (a loaded SLO with stored counts): for fanning in with the others.
    pub fn planned_reads(&self, services: &Services, now: DateTime<Utc>) -> Vec<Read> {
        let now_ms = now.timestamp_millis();
        if !self.loaded || self.state.is_none() {
            return Vec::new();
        }
        let target = now_ms - now_ms.rem_euclid(1000);
        let (from, _) = self.next_span_start(services, now_ms);
        let to = (from + services.settings.chunk.as_millis() as i64).min(target);
        if from >= target {
            return Vec::new();
        }
        ingest::span_reads(&self.slo, Minute::floor(from), to, &self.carry)
    }

    /// Ingests up to `now_ms` in chunks, from where the stored counts end
    /// (less the re-read span) or from the start of the history needed.
    pub(super) async fn ingest_until(
        &mut self,
        services: &Services,
        reader: &Reader,
        now_ms: i64,
    ) -> Result<(), CycleError> {
        let target = now_ms - now_ms.rem_euclid(1000);
        let reread = services.settings.reread.as_millis() as i64;
        let (mut from, history_from) = self.next_span_start(services, now_ms);
        if self.state.is_none() {
            info!(from = %to_time(from), "backfilling history");
        }
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
            let span = self
                .fetch_chunk(services, reader, (from, to, next_from), history_from)
                .await?;
            services
                .store
                .write_span(&self.lease, &span.buckets, &span.state)
                .await?;
            self.apply_chunk(services, span).await?;
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

    /// Reads `(from, to]` and turns it into minute counts per instance id
    /// (new instances get their id), with the progress it reaches. Nothing
    /// is stored; memory changes only in what the next span needs (carried
    /// samples, instances, when data was last seen).
    pub(super) async fn fetch_chunk(
        &mut self,
        services: &Services,
        reader: &Reader,
        (from, to, next_from): (i64, i64, i64),
        history_from: i64,
    ) -> Result<Chunk, CycleError> {
        let (grouped, last_seen) = match ingest::fetch_span(
            reader,
            &self.slo,
            Minute::floor(from),
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
        let mut buckets: BTreeMap<i64, BTreeMap<Minute, EventCounts>> = BTreeMap::new();
        let limit = services.settings.max_instances;
        let mut refused = Vec::new();
        for (group, minutes) in grouped {
            if !self.instances.contains_key(&group) {
                if self.instances.len() >= limit {
                    if self.untracked.insert(group.clone()) {
                        refused.push(group_key_text(&group));
                    }
                    continue;
                }
                let id = services
                    .store
                    .instance_id(self.slo.id.as_str(), &group)
                    .await?;
                info!(group = %group_key_text(&group), "new instance");
                self.insert_instance(
                    id,
                    group.clone(),
                    EventHistory::new(self.slo.budgeting.timeslices()),
                );
            }
            let instance = self.instances.get_mut(&group).expect("inserted above");
            if let Some(minute) = last_seen.get(&group) {
                // The bucket (m, m + 1m] holds the sample.
                instance.last_data = Some(minute.ms() + MINUTE_MS);
            }
            buckets.insert(instance.id, minutes);
        }
        if !refused.is_empty() {
            crate::health::add(&crate::health::UNTRACKED_LABEL_SETS, refused.len() as u64);
            warn!(
                limit,
                refused = refused.len(),
                untracked = self.untracked.len(),
                first = ?refused.iter().take(10).collect::<Vec<_>>(),
                "group_by instance limit reached: these label sets are not counted \
                 (raise --max-instances-per-slo, or group by fewer labels)"
            );
        }
        let state = IngestionState {
            sli_fingerprint: self.fingerprint.clone(),
            ingested_until: floor_minute(to),
            history_from,
            retention: self.state.as_ref().and_then(|s| s.retention),
        };
        Ok(Chunk { buckets, state })
    }

    /// Takes a stored span into memory, with the progress it reached.
    pub(super) async fn apply_chunk(
        &mut self,
        services: &Services,
        span: Chunk,
    ) -> Result<(), CycleError> {
        self.apply_to_memory(services, &span.buckets).await?;
        self.state = Some(span.state);
        Ok(())
    }

    /// This cycle's span, read but not stored, for storing many SLOs' spans
    /// in one transaction. `None` when the cycle is not one plain span (not
    /// loaded yet, nothing stored yet, more than a chunk behind, or nothing
    /// new): [`SloRuntime::cycle_with`] does those.
    pub async fn fetch_cycle_span(
        &mut self,
        services: &Services,
        reader: &Reader,
        now: DateTime<Utc>,
    ) -> Option<Result<Chunk, CycleError>> {
        let now_ms = now.timestamp_millis();
        let target = now_ms - now_ms.rem_euclid(1000);
        let (from, history_from) = self.next_span_start(services, now_ms);
        let chunk = services.settings.chunk.as_millis() as i64;
        if !self.loaded || self.state.is_none() || from >= target || from + chunk < target {
            return None;
        }
        let reread = services.settings.reread.as_millis() as i64;
        let next_from = floor_minute((floor_minute(target) - reread).max(history_from));
        let span = (from, target, next_from);
        Some(self.fetch_chunk(services, reader, span, history_from).await)
    }

    /// After the batch holding this SLO's span was written (`stored`):
    /// memory, evaluation and the plan of this hour's prune, as
    /// [`SloRuntime::cycle_with`] does them. Returns the evaluations to
    /// record for history.
    pub async fn finish_cycle(
        &mut self,
        services: &Services,
        stored: Result<Chunk, CycleError>,
        now: DateTime<Utc>,
    ) -> Vec<EvaluationRow> {
        let result = match stored {
            Ok(span) => self.apply_chunk(services, span).await,
            Err(e) => Err(e),
        };
        self.after_ingest(services, result, Minute::floor(now.timestamp_millis()))
            .await
    }

    /// Mirrors a written span in memory; hours whose detail was dropped are
    /// reloaded from the database, which now holds the merged truth.
    async fn apply_to_memory(
        &mut self,
        services: &Services,
        written: &BTreeMap<i64, BTreeMap<Minute, EventCounts>>,
    ) -> Result<(), CycleError> {
        for instance in self.instances.values_mut() {
            let Some(minutes) = written.get(&instance.id) else {
                continue;
            };
            let hours: BTreeSet<i64> = minutes.keys().map(|m| m.hour()).collect();
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
                    let written = minutes.range(Minute::floor(hour)..Minute::floor(hour + HOUR_MS));
                    instance
                        .history
                        .set_minutes(hour, written.map(|(&m, &c)| (m, c)));
                }
            }
        }
        Ok(())
    }
}
