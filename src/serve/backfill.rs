//! Backfills of many SLOs together, outside the evaluation cycle: chunk by
//! chunk on a common grid, each chunk's reads fanned in (one union query per
//! metric serves every SLO reading it), each chunk's spans stored in one
//! transaction per batch of SLOs. The grid adapts to the number of series a
//! union returns, so an answer stays far below the byte cap whatever the
//! catalog.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::Utc;
use tokio::sync::oneshot;
use tracing::info;

use super::cycle::{SLOS_PER_BATCH, each, store_spans};
use super::runtime::{BackfillProgress, BackfillSpan, BackfillStep, Services, SloRuntime};
use crate::ingest::prefetch::{FanInMemory, Prefetched, Read, Reader, prefetch};
use crate::time::{HOUR_MS, MINUTE_MS};

/// Raw samples one union answer should hold at most: about 100 MB of JSON.
const SAMPLES_PER_ANSWER: i64 = 4_000_000;
/// Samples per series and minute assumed when sizing chunks: 15-second
/// scrapes, the densest common setting.
const SAMPLES_PER_MINUTE: i64 = 4;
const MIN_GRID_MS: i64 = HOUR_MS;

/// An SLO handed to a backfill: the runtime, what readers see of it, a flag
/// that cancels its part, and where the runtime is handed back (with
/// whether its backfill succeeded) once it stops writing.
pub struct Enrolled {
    runtime: SloRuntime,
    progress: BackfillProgress,
    cancel: Arc<AtomicBool>,
    done: oneshot::Sender<(SloRuntime, bool)>,
}

/// The scheduler's side of an enrolled SLO.
pub struct Ticket {
    pub cancel: Arc<AtomicBool>,
    pub done: oneshot::Receiver<(SloRuntime, bool)>,
}

pub fn enrol(runtime: SloRuntime, progress: BackfillProgress) -> (Enrolled, Ticket) {
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = oneshot::channel();
    let enrolled = Enrolled {
        runtime,
        progress,
        cancel: Arc::clone(&cancel),
        done: tx,
    };
    (enrolled, Ticket { cancel, done: rx })
}

/// The chunk length for unions of `series` series: within
/// [`SAMPLES_PER_ANSWER`], between an hour and `largest` (the configured
/// `--backfill-chunk`), in whole hours so that chunks end on hour
/// boundaries and each stored hour is written once.
pub fn grid_for(series: usize, largest: i64) -> i64 {
    let per_minute = (series.max(1) as i64) * SAMPLES_PER_MINUTE;
    let grid = (SAMPLES_PER_ANSWER / per_minute * MINUTE_MS).min(largest);
    (grid / HOUR_MS * HOUR_MS).max(MIN_GRID_MS)
}

/// One member between chunks.
struct Member {
    enrolled: Enrolled,
    span: BackfillSpan,
}

impl Member {
    fn finish(mut self, services: &Services, result: Result<(), super::runtime::CycleError>) {
        let e = &mut self.enrolled;
        e.runtime
            .end_backfill(services, &result, Some(&self.span), &e.progress);
        let _ = self
            .enrolled
            .done
            .send((self.enrolled.runtime, result.is_ok()));
    }
}

/// Brings every enrolled SLO up to now, `concurrency` reads at a time, and
/// hands each runtime back through its ticket as soon as it is done,
/// failed or cancelled.
pub async fn backfill_together(
    services: Arc<Services>,
    enrolled: Vec<Enrolled>,
    concurrency: usize,
) {
    let now_ms = Utc::now().timestamp_millis();
    let (started, slos) = (Instant::now(), enrolled.len());
    // Loading the SLOs (their stored state, instances and alerts) runs
    // `concurrency` at a time too.
    let items = enrolled.into_iter().map(|e| ((), e)).collect();
    let begun = each(
        &services,
        items,
        concurrency,
        move |services, mut e: Enrolled| async move {
            let span = e.runtime.begin_backfill(&services, now_ms).await;
            (e, span)
        },
    )
    .await;
    let mut active = Vec::new();
    for ((), (mut e, span)) in begun {
        match span {
            Ok(span) => active.push(Member { enrolled: e, span }),
            Err(err) => {
                let result = Err(err);
                e.runtime
                    .end_backfill(&services, &result, None, &e.progress);
                let _ = e.done.send((e.runtime, false));
            }
        }
    }
    let largest = services.settings.chunk.as_millis() as i64;
    let mut grid = largest;
    let mut fanin = FanInMemory::default();
    let mut ahead: Option<Prefetched> = None;
    loop {
        let (cancelled, running): (Vec<Member>, Vec<Member>) = active
            .into_iter()
            .partition(|m| m.enrolled.cancel.load(Ordering::Relaxed));
        for m in cancelled {
            let _ = m.enrolled.done.send((m.enrolled.runtime, false));
        }
        let Some(cell) = running.iter().map(|m| m.span.from.div_euclid(grid)).min() else {
            let duration_ms = started.elapsed().as_millis() as u64;
            info!(slos, duration_ms, "backfill done");
            return;
        };
        // The SLOs furthest behind read first, so the others wait for them
        // and then read the same spans.
        let (step, waiting): (Vec<Member>, Vec<Member>) = running
            .into_iter()
            .partition(|m| m.span.from.div_euclid(grid) == cell);
        active = waiting;
        let steps: Vec<(Member, BackfillStep)> = step
            .into_iter()
            .map(|m| {
                let next = m.enrolled.runtime.backfill_step(&services, &m.span, grid);
                (m, next)
            })
            .collect();
        let reads: Vec<Read> = steps
            .iter()
            .flat_map(|(m, s)| m.enrolled.runtime.backfill_reads(s))
            .collect();
        let prom = &services.prometheus;
        // Read ahead during the last chunk's storing; what it did not cover
        // (a changed grid, a member that started later) is read now.
        let mut prefetched = ahead.take().unwrap_or_default();
        let missing: Vec<Read> = reads.into_iter().filter(|r| !prefetched.holds(r)).collect();
        if !missing.is_empty() {
            prefetched.absorb(prefetch(prom, missing, &mut fanin, concurrency, now_ms).await);
        }
        let widest = prefetched.stats.widest_union;
        if widest > 0 {
            grid = grid_for(widest, largest);
        }
        let reads_after: Vec<Read> = steps
            .iter()
            .flat_map(|(m, s)| {
                let runtime = &m.enrolled.runtime;
                runtime.backfill_reads_after(&services, s, &m.span, grid)
            })
            .collect();
        let reader = Reader::with(prom, Arc::new(prefetched));
        // The next chunk's answers arrive while this one is counted and
        // stored: Prometheus and burnrate work at the same time.
        let read_ahead = async {
            if reads_after.is_empty() {
                return None;
            }
            Some(prefetch(prom, reads_after, &mut fanin, concurrency, now_ms).await)
        };
        let store = store_chunk(&services, steps, reader, concurrency, &mut active);
        let (read_ahead, ()) = tokio::join!(read_ahead, store);
        ahead = read_ahead;
    }
}

/// Counts and stores one chunk for the SLOs of `steps`, a batch of SLOs at
/// a time, all reading the same prefetched answers; members that go on are
/// put back in `active`, the others are handed back.
async fn store_chunk(
    services: &Arc<Services>,
    mut steps: Vec<(Member, BackfillStep)>,
    reader: Reader,
    concurrency: usize,
    active: &mut Vec<Member>,
) {
    while !steps.is_empty() {
        let rest = steps.split_off(steps.len().min(SLOS_PER_BATCH));
        let batch = std::mem::replace(&mut steps, rest);
        let reader = reader.clone();
        let items = batch
            .into_iter()
            .map(|(m, step)| {
                let Enrolled {
                    runtime,
                    progress,
                    cancel,
                    done,
                } = m.enrolled;
                ((progress, cancel, done), (runtime, step, m.span))
            })
            .collect();
        let fetched = each(
            services,
            items,
            concurrency,
            move |services, (mut runtime, step, span)| {
                let reader = reader.clone();
                async move {
                    let chunk = runtime
                        .fetch_backfill_chunk(&services, &reader, &step, &span)
                        .await;
                    (runtime, chunk, step, span)
                }
            },
        )
        .await;
        let batch = fetched
            .into_iter()
            .map(|(parked, (runtime, chunk, step, span))| ((parked, step, span), (runtime, chunk)))
            .collect();
        for (((progress, cancel, done), step, mut span), (mut runtime, stored)) in
            store_spans(services, batch).await
        {
            let result = match stored {
                Ok(chunk) => {
                    runtime
                        .backfill_chunk_stored(services, chunk, &step, &mut span, &progress)
                        .await
                }
                Err(e) => Err(e),
            };
            let enrolled = Enrolled {
                runtime,
                progress,
                cancel,
                done,
            };
            let member = Member { enrolled, span };
            match result {
                Ok(false) => active.push(member),
                Ok(true) => member.finish(services, Ok(())),
                Err(e) => member.finish(services, Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_shrink_as_unions_widen() {
        let day = 24 * HOUR_MS;
        let minutes = |series, largest| grid_for(series, largest) / MINUTE_MS;
        #[rustfmt::skip]
        let cases = [
            (1, day, 1440), (500, day, 1440), (2_500, day, 360), (10_000, day, 60),
            (100_000, day, 60), (1, 16 * day, 16 * 1440), (2_500, 6 * HOUR_MS, 360),
            (2_500, 4 * HOUR_MS, 240), (1, 30 * MINUTE_MS, 60),
        ];
        for (series, largest, want) in cases {
            assert_eq!(
                minutes(series, largest),
                want,
                "{series} series, at most {largest} ms"
            );
        }
    }
}
