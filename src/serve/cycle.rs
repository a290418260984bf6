//! One evaluation cycle over many SLOs together: their reads fanned in (one
//! query per metric serves every SLO that reads it), their spans stored in
//! one transaction, each SLO's evaluation, their evaluations recorded in
//! one statement, and the hourly prune of those due in one transaction. A
//! batch the database refuses as a whole is written SLO by
//! SLO, so one bad row fails only its own SLO.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tracing::warn;

use super::runtime::{Chunk, CycleError, Services, SloRuntime};
use crate::engine::EventCounts;
use crate::ingest::prefetch::{FanInMemory, FanInStats, Reader, prefetch};
use crate::store::{EvaluationRow, PruneDone, PruneJob, SpanWrite, StoreError};
use crate::time::Minute;

pub(super) type Fetched = (SloRuntime, Result<Chunk, CycleError>);

/// SLOs whose spans are read into memory, stored, evaluated and recorded
/// together: what a cycle or a backfill chunk holds at once (each SLO's
/// counts, rows and evaluations) stays bounded whatever the catalog's size,
/// for two more transactions per batch. All batches read the same
/// prefetched answers.
pub(super) const SLOS_PER_BATCH: usize = 1_000;

/// Cycles `runtimes` (each with a key of the caller's) at `now`,
/// `concurrency` at a time. Runtimes come back in the order given; one
/// whose cycle panicked is dropped (it is loaded afresh next time).
pub async fn cycle_together<K: Send + 'static>(
    services: &Arc<Services>,
    runtimes: Vec<(K, SloRuntime)>,
    now: DateTime<Utc>,
    fanin: &mut FanInMemory,
    concurrency: usize,
) -> (Vec<(K, SloRuntime)>, FanInStats) {
    let reads = runtimes
        .iter()
        .flat_map(|(_, r)| r.planned_reads(services, now))
        .collect();
    let prom = &services.prometheus;
    let prefetched = prefetch(prom, reads, fanin, concurrency, now.timestamp_millis()).await;
    let stats = prefetched.stats;
    let reader = Reader::with(prom, Arc::new(prefetched));
    let mut runtimes: Vec<((usize, K), SloRuntime)> = runtimes
        .into_iter()
        .enumerate()
        .map(|(i, (k, r))| ((i, k), r))
        .collect();
    let mut done = Vec::new();
    while !runtimes.is_empty() {
        let rest = runtimes.split_off(runtimes.len().min(SLOS_PER_BATCH));
        let batch = std::mem::replace(&mut runtimes, rest);
        let reader = reader.clone();
        // Each SLO reads its span; one that is not a plain span cycles alone.
        let fetched = each(
            services,
            batch,
            concurrency,
            move |services, mut runtime| {
                let reader = reader.clone();
                async move {
                    let span = runtime.fetch_cycle_span(&services, &reader, now).await;
                    if span.is_none() {
                        runtime.cycle_with(&services, &reader, now).await;
                    }
                    (runtime, span)
                }
            },
        )
        .await;
        let mut spans = Vec::new();
        for (key, (runtime, span)) in fetched {
            match span {
                Some(span) => spans.push((key, (runtime, span))),
                None => done.push((key, runtime)),
            }
        }
        let mut stored = store_spans(services, spans).await;
        load_edge_hours(services, &mut stored, Minute::floor(now.timestamp_millis())).await;
        let finished = each(
            services,
            stored,
            concurrency,
            move |services, (mut runtime, stored)| async move {
                let rows = runtime.finish_cycle(&services, stored, now).await;
                (runtime, rows)
            },
        )
        .await;
        done.extend(record(services, finished, Minute::floor(now.timestamp_millis())).await);
    }
    prune(services, &mut done).await;
    done.sort_by_key(|((i, _), _)| *i);
    (done.into_iter().map(|((_, k), r)| (k, r)).collect(), stats)
}

/// Runs `step` on every item, `concurrency` at a time, keeping each key.
/// Only the running steps are spawned: a step's future is created when it
/// starts, so 10,000 waiting items cost their own size, not a task each.
pub(super) async fn each<K, T, U, F, Fut>(
    services: &Arc<Services>,
    items: Vec<(K, T)>,
    concurrency: usize,
    step: F,
) -> Vec<(K, U)>
where
    K: Send + 'static,
    U: Send + 'static,
    F: Fn(Arc<Services>, T) -> Fut,
    Fut: Future<Output = U> + Send + 'static,
{
    let mut out = Vec::with_capacity(items.len());
    let mut waiting = items.into_iter();
    let mut tasks = JoinSet::new();
    loop {
        while tasks.len() < concurrency.max(1) {
            let Some((key, item)) = waiting.next() else {
                break;
            };
            let work = step(Arc::clone(services), item);
            tasks.spawn(async move { (key, work.await) });
        }
        match tasks.join_next().await {
            Some(Ok(done)) => out.push(done),
            Some(Err(e)) => warn!(error = %e, "an SLO cycle panicked"),
            None => return out,
        }
    }
}

/// Loads the edge hours the batch's evaluations will need in one statement,
/// not one per instance and hour. If it fails, each evaluation loads its
/// own as before.
async fn load_edge_hours<K>(services: &Services, batch: &mut [(K, Fetched)], at: Minute) {
    let wanted: Vec<(i64, i64)> = batch
        .iter()
        .filter(|(_, (_, stored))| stored.is_ok())
        .flat_map(|(_, (runtime, _))| runtime.edge_hours_missing(at))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let rows = match services.store.load_hours_of(&wanted).await {
        Ok(rows) => rows,
        Err(e) => {
            warn!(error = %e, hours = wanted.len(), "loading the batch's edge hours failed: each SLO loads its own");
            return;
        }
    };
    let mut by_instance: BTreeMap<i64, Vec<(i64, [EventCounts; 60])>> = BTreeMap::new();
    for (instance, hour, minutes) in rows {
        by_instance
            .entry(instance)
            .or_default()
            .push((hour, minutes));
    }
    for (_, (runtime, stored)) in batch.iter_mut() {
        if stored.is_ok() {
            runtime.take_hours(&by_instance);
        }
    }
}

/// Stores the spans read, with their progress, in one transaction.
pub(super) async fn store_spans<K>(
    services: &Services,
    batch: Vec<(K, Fetched)>,
) -> Vec<(K, Fetched)> {
    let writes: Vec<SpanWrite> = batch
        .iter()
        .filter_map(|(_, (runtime, span))| {
            let span = span.as_ref().ok()?;
            Some(SpanWrite {
                lease: runtime.lease(),
                buckets: &span.buckets,
                state: &span.state,
            })
        })
        .collect();
    let outcomes: Vec<Result<(), StoreError>> = match services.store.write_spans(&writes).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            warn!(error = %e, spans = writes.len(), "writing the cycle's spans in one batch failed: writing them one by one");
            let mut outcomes = Vec::with_capacity(writes.len());
            for w in &writes {
                outcomes.push(services.store.write_span(w.lease, w.buckets, w.state).await);
            }
            outcomes
        }
    };
    drop(writes);
    let mut outcomes = outcomes.into_iter();
    batch
        .into_iter()
        .map(|(key, (runtime, span))| {
            let stored = match span {
                Ok(span) => match outcomes.next().unwrap_or(Ok(())) {
                    Ok(()) => Ok(span),
                    Err(e) => Err(e.into()),
                },
                Err(e) => Err(e),
            };
            (key, (runtime, stored))
        })
        .collect()
}

/// Records the cycle's evaluations in one statement, and tells each runtime
/// how its own fared.
async fn record<K>(
    services: &Services,
    finished: Vec<(K, (SloRuntime, Vec<EvaluationRow>))>,
    at: Minute,
) -> Vec<(K, SloRuntime)> {
    let mut runtimes = Vec::with_capacity(finished.len());
    let mut batches = Vec::new();
    for (key, (runtime, rows)) in finished {
        if !rows.is_empty() {
            batches.push((runtimes.len(), rows));
        }
        runtimes.push((key, runtime));
    }
    let leased: Vec<_> = batches
        .into_iter()
        .map(|(i, rows)| (i, runtimes[i].1.lease().clone(), rows))
        .collect();
    let refs: Vec<_> = leased
        .iter()
        .map(|(_, l, rows)| (l, rows.as_slice()))
        .collect();
    let outcomes = match services.store.record_evaluations(&refs).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            warn!(error = %e, "recording the cycle's evaluations in one batch failed: recording them one by one");
            let mut outcomes = Vec::with_capacity(refs.len());
            for one in &refs {
                let got = services
                    .store
                    .record_evaluations(std::slice::from_ref(one))
                    .await;
                outcomes.push(got.and_then(|mut o| o.pop().unwrap_or(Ok(()))));
            }
            outcomes
        }
    };
    drop(refs);
    for ((i, _, _), outcome) in leased.iter().zip(outcomes) {
        runtimes[*i]
            .1
            .recorded(services, outcome.map_err(CycleError::from), at);
    }
    runtimes
}

/// Prunes every SLO whose hourly prune is due, in one transaction, and
/// tells each runtime how its own fared.
async fn prune<K>(services: &Services, runtimes: &mut [(K, SloRuntime)]) {
    let jobs: Vec<(usize, PruneJob)> = runtimes
        .iter()
        .enumerate()
        .filter_map(|(i, (_, r))| Some((i, r.prune_job()?)))
        .collect();
    if jobs.is_empty() {
        return;
    }
    let batch: Vec<PruneJob> = jobs.iter().map(|(_, j)| *j).collect();
    let outcomes: Vec<Result<PruneDone, StoreError>> = match services.store.prune_all(&batch).await
    {
        Ok(outcomes) => outcomes,
        Err(e) => {
            warn!(error = %e, slos = batch.len(), "pruning the cycle's SLOs in one batch failed: pruning them one by one");
            let mut outcomes = Vec::with_capacity(batch.len());
            for job in &batch {
                let got = services.store.prune_all(std::slice::from_ref(job)).await;
                outcomes.push(got.and_then(|mut o| o.pop().unwrap_or(Ok(PruneDone::default()))));
            }
            outcomes
        }
    };
    let indices: Vec<usize> = jobs.into_iter().map(|(i, _)| i).collect();
    drop(batch);
    for (i, outcome) in indices.into_iter().zip(outcomes) {
        runtimes[i].1.pruned(outcome);
    }
}
