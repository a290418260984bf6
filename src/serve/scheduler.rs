//! The evaluation loop: every interval, each SLO's cycle, a bounded number at a time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::runtime::{Services, SloRuntime, sli_fingerprint};
use crate::api::AppState;
use crate::catalog::Catalog;
use crate::duration::Duration;

/// Samples scraped at a minute boundary need a moment to land in Prometheus.
const SETTLE: Duration = Duration::from_secs(5);

pub struct Scheduler {
    pub services: Arc<Services>,
    pub state: Arc<AppState>,
    pub interval: Duration,
    pub concurrency: usize,
}

impl Scheduler {
    pub async fn run(self, mut catalog: watch::Receiver<Arc<Catalog>>) {
        let mut runtimes: BTreeMap<String, SloRuntime> = BTreeMap::new();
        loop {
            let current = catalog.borrow_and_update().clone();
            sync_runtimes(&mut runtimes, &current);
            let started = Instant::now();
            let now = Utc::now();
            runtimes = self.cycle_all(runtimes, now).await;
            let elapsed = started.elapsed();
            self.state.publish(
                runtimes.values().flat_map(|r| r.statuses().cloned()),
                elapsed,
            );
            info!(
                slos = runtimes.len(),
                duration_ms = elapsed.as_millis() as u64,
                "cycle done"
            );
            let wait = until_next_tick(Utc::now(), self.interval);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = catalog.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn cycle_all(
        &self,
        runtimes: BTreeMap<String, SloRuntime>,
        now: DateTime<Utc>,
    ) -> BTreeMap<String, SloRuntime> {
        let permits = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for (id, mut runtime) in runtimes {
            let services = Arc::clone(&self.services);
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                runtime.cycle(&services, now).await;
                (id, runtime)
            });
        }
        let mut out = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((id, runtime)) => {
                    out.insert(id, runtime);
                }
                // A panicking cycle loses that SLO's in-memory state only; it reloads next cycle.
                Err(e) => warn!(error = %e, "an SLO cycle panicked"),
            }
        }
        out
    }
}

/// Adds new SLOs, drops removed ones, and keeps history for changed SLOs whose SLI is the same.
fn sync_runtimes(runtimes: &mut BTreeMap<String, SloRuntime>, catalog: &Catalog) {
    let mut next = BTreeMap::new();
    for slo in &catalog.slos {
        let slo = Arc::new(slo.clone());
        let id = slo.id.to_string();
        let runtime = match runtimes.remove(&id) {
            Some(mut existing) if existing.fingerprint() == sli_fingerprint(&slo) => {
                existing.update_definition(slo);
                existing
            }
            _ => SloRuntime::new(slo),
        };
        next.insert(id, runtime);
    }
    for removed in runtimes.keys() {
        info!(slo = %removed, "SLO removed from the catalog; no longer evaluated");
    }
    *runtimes = next;
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
