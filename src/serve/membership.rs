//! This replica's place among the others: it registers in PostgreSQL with a
//! random id, heartbeats, and each round takes the leases of the SLOs the
//! ownership rules give it and hands back the others. No flag, id or start
//! order is needed: the same `burnrate serve` command runs any number of times.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tracing::{info, warn};
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::ownership;
use crate::store::leases::{MemberReport, live_members};
use crate::store::{Lease, Store, StoreError};

pub struct Membership {
    pub id: Uuid,
    store: Store,
    /// A member, and so its leases, is dead this long after its last heartbeat.
    pub ttl: std::time::Duration,
    report: Mutex<MemberReport>,
}

impl Membership {
    pub fn new(store: Store, ttl: std::time::Duration, catalog: &Catalog) -> Self {
        let id = Uuid::new_v4();
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        let report = MemberReport {
            id,
            host,
            pid: std::process::id(),
            ttl,
            catalog_hash: ownership::catalog_hash(catalog),
            catalog_slos: catalog.slos.len(),
            owned_slos: 0,
            ready: false,
        };
        Membership {
            id,
            store,
            ttl,
            report: Mutex::new(report),
        }
    }

    fn report(&self) -> MemberReport {
        self.report
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn update(&self, f: impl FnOnce(&mut MemberReport)) {
        if let Ok(mut r) = self.report.lock() {
            f(&mut r);
        }
    }

    /// Records whether this replica's cycle and status refresh are on time.
    pub fn set_ready(&self, ready: bool) {
        self.update(|r| r.ready = ready);
    }

    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        self.store.heartbeat(&self.report()).await
    }

    /// Heartbeats every third of the TTL, whatever the cycle is doing: a
    /// long cycle must not make a live replica look dead.
    pub fn spawn_heartbeats(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(me.ttl / 3);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(e) = me.heartbeat().await {
                    warn!(error = %e, "heartbeat failed; other replicas take this one's SLOs over if it lasts");
                }
            }
        })
    }

    /// One round: heartbeat, then hand back the leases this replica should
    /// not hold (except those in `busy`, still being written by a task that
    /// is stopping) and take those it should. Returns the leases to run.
    pub async fn round(
        &self,
        catalog: &Catalog,
        busy: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, Lease>, StoreError> {
        let hash = ownership::catalog_hash(catalog);
        self.update(|r| {
            r.catalog_hash = hash.clone();
            r.catalog_slos = catalog.slos.len();
        });
        self.heartbeat().await?;
        let members = live_members(&self.store.members().await?);
        let held = self.store.leases_of(self.id).await?;
        let slo_ids: Vec<&str> = catalog.slos.iter().map(|s| s.id.as_str()).collect();
        let plan = ownership::plan(self.id, &hash, &slo_ids, &members, &held);
        let release: Vec<String> = plan
            .release
            .iter()
            .filter(|id| !busy.contains(*id))
            .cloned()
            .collect();
        if !release.is_empty() {
            let n = self.store.release_leases(self.id, &release).await?;
            crate::health::add(&crate::health::LEASES_RELEASED, n);
            info!(released = n, "leases handed over to other replicas");
        }
        let missing: Vec<String> = plan
            .wanted
            .iter()
            .filter(|id| !held.contains_key(*id))
            .cloned()
            .collect();
        let acquired = self.store.acquire_leases(self.id, &missing).await?;
        if !acquired.is_empty() {
            crate::health::add(&crate::health::LEASES_ACQUIRED, acquired.len() as u64);
            info!(
                acquired = acquired.len(),
                waiting = missing.len() - acquired.len(),
                "leases taken"
            );
        }
        let mut run: BTreeMap<String, Lease> = held
            .into_iter()
            .filter(|(id, _)| plan.wanted.contains(id))
            .map(|(slo_id, epoch)| {
                let lease = Lease {
                    slo_id: slo_id.clone(),
                    owner: self.id,
                    epoch,
                };
                (slo_id, lease)
            })
            .collect();
        run.extend(acquired.into_iter().map(|l| (l.slo_id.clone(), l)));
        let owned = run.len();
        self.update(|r| r.owned_slos = owned);
        if ownership::winning_catalog(&members) == Some(hash.as_str()) {
            let ids: Vec<String> = slo_ids.iter().map(|s| s.to_string()).collect();
            self.store.drop_statuses_except(&ids).await?;
        }
        Ok(run)
    }

    /// Leaves the group at shutdown, so the others take over at once.
    pub async fn leave(&self) {
        match self.store.deregister(self.id).await {
            Ok(n) => info!(released = n, "left the replica group"),
            Err(e) => {
                warn!(error = %e, "could not leave the replica group; its leases expire with the TTL")
            }
        }
    }
}
