//! One SLO's part in a backfill: where it starts and ends, the chunk it
//! reads next, taking a stored chunk, and how it ends. The chunks of many
//! SLOs are read and stored together by `serve::backfill`.

use chrono::Utc;
use tracing::{debug, info, warn};

use super::ingestion::Chunk;
use super::{BackfillProgress, CycleError, Services, SloRuntime};
use crate::ingest::prefetch::{Read, ReadKind, Reader};
use crate::ingest::{self};
use crate::time::{HOUR_MS, Minute, floor_minute, hour_of, to_time};

/// How far a backfill has come: the next span starts at `from`, and the
/// backfill ends at `target`.
#[derive(Debug, Clone, Copy)]
pub struct BackfillSpan {
    pub from: i64,
    pub target: i64,
    history_from: i64,
    first: i64,
    started: std::time::Instant,
}

/// The next span of a backfill: `(from, to]`, and where the span after it
/// starts (the carried samples are kept for there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillStep {
    pub from: i64,
    pub to: i64,
    next_from: i64,
}

impl SloRuntime {
    /// Loads the SLO if needed and says what its backfill covers: from
    /// where stored counts end (less the re-read span), or the start of the
    /// history needed, up to `now_ms`.
    pub async fn begin_backfill(
        &mut self,
        services: &Services,
        now_ms: i64,
    ) -> Result<BackfillSpan, CycleError> {
        if !self.loaded {
            self.load(services, now_ms).await?;
        }
        let (from, history_from) = self.next_span_start(services, now_ms);
        if self.state.is_none() {
            info!(from = %to_time(from), "backfilling history");
        }
        Ok(BackfillSpan {
            from,
            target: now_ms - now_ms.rem_euclid(1000),
            history_from,
            first: from,
            started: std::time::Instant::now(),
        })
    }

    /// The next span: up to the end of the `grid`-long cell `span.from` is
    /// in, so that SLOs backfilling together read the same spans.
    pub fn backfill_step(
        &self,
        services: &Services,
        span: &BackfillSpan,
        grid: i64,
    ) -> BackfillStep {
        let to = ((span.from.div_euclid(grid) + 1) * grid).min(span.target);
        let reread = services.settings.reread.as_millis() as i64;
        let next_from = if to < span.target {
            floor_minute(to)
        } else {
            floor_minute((floor_minute(to) - reread).max(span.history_from))
        };
        BackfillStep {
            from: span.from,
            to,
            next_from,
        }
    }

    /// What [`Self::fetch_backfill_chunk`] will read, for fanning in.
    pub fn backfill_reads(&self, step: &BackfillStep) -> Vec<Read> {
        ingest::span_reads(&self.slo, Minute::floor(step.from), step.to, &self.carry)
    }

    /// What the chunk after `step` will read, if the backfill goes on as
    /// planned on `grid`: its raw samples (the samples at its start are
    /// carried from `step`). Read ahead while `step` is stored.
    pub fn backfill_reads_after(
        &self,
        services: &Services,
        step: &BackfillStep,
        span: &BackfillSpan,
        grid: i64,
    ) -> Vec<Read> {
        if step.to >= span.target {
            return Vec::new();
        }
        let after = BackfillSpan {
            from: floor_minute(step.to),
            ..*span
        };
        let next = self.backfill_step(services, &after, grid);
        ingest::span_reads(&self.slo, Minute::floor(next.from), next.to, &None)
            .into_iter()
            .filter(|read| matches!(read.kind, ReadKind::Raw { .. }))
            .collect()
    }

    pub async fn fetch_backfill_chunk(
        &mut self,
        services: &Services,
        reader: &Reader,
        step: &BackfillStep,
        span: &BackfillSpan,
    ) -> Result<Chunk, CycleError> {
        let range = (step.from, step.to, step.next_from);
        self.fetch_chunk(services, reader, range, span.history_from)
            .await
    }

    /// Takes a stored chunk into memory and shows the progress; true once
    /// the backfill reached its end.
    pub async fn backfill_chunk_stored(
        &mut self,
        services: &Services,
        chunk: Chunk,
        step: &BackfillStep,
        span: &mut BackfillSpan,
        shared: &BackfillProgress,
    ) -> Result<bool, CycleError> {
        self.apply_chunk(services, chunk).await?;
        // Minute detail only for the hours the next chunk and the cycles
        // rewrite: a month of history for thousands of SLOs stays at hour
        // sums in memory; evaluation loads the edge hours it needs.
        let keep = super::detail_hours(span.target, [step.to, step.to - HOUR_MS].into_iter());
        // Only this chunk's hours, and the hour before it that the previous
        // chunk kept, can hold detail to drop.
        let touched = (hour_of(step.from) - HOUR_MS, step.to);
        for instance in self.instances.values_mut() {
            instance
                .history
                .compact_between(&keep, touched.0, touched.1);
        }
        debug!(slo = %self.slo.id, until = %to_time(step.to), "backfill chunk stored");
        span.from = floor_minute(step.to);
        let whole = (span.target - span.first).max(1);
        self.show_backfilling((step.to - span.first) as f64 / whole as f64, shared);
        self.resend_alerts(services, Minute::floor(Utc::now().timestamp_millis()));
        Ok(step.to >= span.target)
    }

    /// Ends a backfill: on success the SLO is evaluated from the next cycle;
    /// on an error what was stored so far stays, and the next attempt
    /// continues from there.
    pub fn end_backfill(
        &mut self,
        services: &Services,
        result: &Result<(), CycleError>,
        span: Option<&BackfillSpan>,
        shared: &BackfillProgress,
    ) {
        self.resend_alerts(services, Minute::floor(Utc::now().timestamp_millis()));
        match result {
            Ok(()) => {
                self.mark_ingested();
                for instance in self.instances.values_mut() {
                    instance.status.error = None;
                }
                self.show_backfilling(1.0, shared);
                info!(
                    slo = %self.slo.id,
                    elapsed_s = span.map_or(0, |s| s.started.elapsed().as_secs()),
                    "backfill complete; evaluated from the next cycle"
                );
            }
            Err(e) if self.note_fenced(e) => {}
            Err(e) => {
                warn!(slo = %self.slo.id, error = %e, "backfill failed; it continues from where it stopped on a later cycle");
                super::count_failure(e);
                for instance in self.instances.values_mut() {
                    instance.status.error = Some(e.for_readers());
                }
                shared.set(self.statuses().cloned().collect());
            }
        }
    }
}
