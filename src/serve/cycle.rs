//! One evaluation cycle over many SLOs together: their reads fanned in (one
//! query per metric serves every SLO that reads it), then each SLO's
//! counting and evaluation, a bounded number at a time.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::warn;

use super::runtime::{Services, SloRuntime};
use crate::ingest::prefetch::{FanInStats, Reader, SplitUnions, prefetch};

/// Cycles `runtimes` (each with a key of the caller's) at `now`,
/// `concurrency` at a time, after fetching their reads together. Runtimes
/// come back in the order given; one whose cycle panicked is dropped (it is
/// loaded afresh next time).
pub async fn cycle_together<K: Send + 'static>(
    services: &Arc<Services>,
    runtimes: Vec<(K, SloRuntime)>,
    now: DateTime<Utc>,
    split: &mut SplitUnions,
    concurrency: usize,
) -> (Vec<(K, SloRuntime)>, FanInStats) {
    let reads = runtimes
        .iter()
        .flat_map(|(_, r)| r.planned_reads(services, now))
        .collect();
    let prom = &services.prometheus;
    let prefetched = prefetch(prom, reads, split, concurrency, now.timestamp_millis()).await;
    let stats = prefetched.stats;
    let reader = Reader::with(prom, Arc::new(prefetched));
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (i, (key, mut runtime)) in runtimes.into_iter().enumerate() {
        let services = Arc::clone(services);
        let permits = Arc::clone(&permits);
        let reader = reader.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            runtime.cycle_with(&services, &reader, now).await;
            (i, key, runtime)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => out.push(done),
            Err(e) => warn!(error = %e, "an SLO cycle panicked"),
        }
    }
    out.sort_by_key(|(i, _, _)| *i);
    (out.into_iter().map(|(_, k, r)| (k, r)).collect(), stats)
}
