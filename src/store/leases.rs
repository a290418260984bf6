//! Replicas, SLO leases and the fence every write passes. PostgreSQL is the
//! only coordinator: a replica is live while its heartbeat (on the
//! database's clock) is younger than its TTL, and a lease is valid while its
//! owner is live. Taking over a lease increments its epoch; a write checks
//! the epoch in its own transaction with the lease row locked `for share`,
//! so a takeover waits for a write in flight and every later write of the
//! old owner is refused.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{Store, StoreError, query_err};

/// The right to write one SLO's data, as of one takeover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub slo_id: String,
    pub owner: Uuid,
    pub epoch: i64,
}

/// What a replica reports of itself at each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberReport {
    pub id: Uuid,
    pub host: String,
    pub pid: u32,
    pub ttl: std::time::Duration,
    pub catalog_hash: String,
    pub catalog_slos: usize,
    pub owned_slos: usize,
    pub ready: bool,
}

/// A registered replica as the database sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MemberRow {
    pub id: Uuid,
    pub host: String,
    pub pid: i32,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub live: bool,
    pub ready: bool,
    pub catalog_hash: String,
    pub catalog_first_seen: DateTime<Utc>,
    pub catalog_slos: i32,
    pub owned_slos: i32,
}

/// The live members, as the ownership rules take them.
pub fn live_members(rows: &[MemberRow]) -> Vec<crate::ownership::Member> {
    rows.iter()
        .filter(|r| r.live)
        .map(|r| crate::ownership::Member {
            id: r.id,
            catalog_hash: r.catalog_hash.clone(),
            catalog_first_seen: r.catalog_first_seen,
        })
        .collect()
}

/// The liveness test of a replica row `r`, on the database's clock.
macro_rules! live {
    () => {
        "r.heartbeat_at + r.ttl_ms * interval '1 millisecond' > now()"
    };
}

impl Store {
    /// Registers or renews a replica, records its catalog version, and
    /// forgets replicas dead for an hour.
    pub async fn heartbeat(&self, me: &MemberReport) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(query_err("begin"))?;
        sqlx::query(
            "insert into catalog_versions (hash, slos) values ($1, $2) on conflict (hash) do nothing",
        )
        .bind(&me.catalog_hash)
        .bind(me.catalog_slos as i32)
        .execute(&mut *tx)
        .await
        .map_err(query_err("record catalog version"))?;
        sqlx::query(
            "insert into replicas (id, host, pid, ttl_ms, catalog_hash, catalog_slos, owned_slos, ready)
             values ($1, $2, $3, $4, $5, $6, $7, $8)
             on conflict (id) do update set heartbeat_at = now(), ttl_ms = excluded.ttl_ms,
               catalog_hash = excluded.catalog_hash, catalog_slos = excluded.catalog_slos,
               owned_slos = excluded.owned_slos, ready = excluded.ready",
        )
        .bind(me.id)
        .bind(&me.host)
        .bind(me.pid as i32)
        .bind(me.ttl.as_millis() as i64)
        .bind(&me.catalog_hash)
        .bind(me.catalog_slos as i32)
        .bind(me.owned_slos as i32)
        .bind(me.ready)
        .execute(&mut *tx)
        .await
        .map_err(query_err("heartbeat"))?;
        // Members dead for an hour are forgotten.
        sqlx::query(
            "delete from replicas r where r.heartbeat_at + r.ttl_ms * interval '1 millisecond' + interval '1 hour' < now()",
        )
        .execute(&mut *tx)
        .await
        .map_err(query_err("forget dead replicas"))?;
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(())
    }

    /// Leaves the group: its leases go at once, so others need not wait for
    /// the TTL (a graceful shutdown or redeploy).
    pub async fn deregister(&self, id: Uuid) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await.map_err(query_err("begin"))?;
        let released = sqlx::query("delete from slo_leases where owner = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(query_err("release leases"))?
            .rows_affected();
        sqlx::query("delete from replicas where id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(query_err("deregister"))?;
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(released)
    }

    /// Every registered replica, live or not, oldest first.
    pub async fn members(&self) -> Result<Vec<MemberRow>, StoreError> {
        sqlx::query_as(concat!(
            "select r.id, r.host, r.pid, r.started_at, r.heartbeat_at, (",
            live!(),
            ") as live, r.ready,
                    r.catalog_hash, coalesce(c.first_seen, r.started_at) as catalog_first_seen,
                    r.catalog_slos, r.owned_slos
             from replicas r left join catalog_versions c on c.hash = r.catalog_hash
             order by r.started_at, r.id"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(query_err("list replicas"))
    }

    /// The leases `owner` holds: SLO id to epoch.
    pub async fn leases_of(&self, owner: Uuid) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("select slo_id, epoch from slo_leases where owner = $1")
                .bind(owner)
                .fetch_all(self.pool())
                .await
                .map_err(query_err("list leases"))?;
        Ok(rows.into_iter().collect())
    }

    /// How many SLOs each owner holds, live or not.
    pub async fn lease_counts(&self) -> Result<BTreeMap<Uuid, i64>, StoreError> {
        let rows: Vec<(Uuid, i64)> =
            sqlx::query_as("select owner, count(*) from slo_leases group by owner")
                .fetch_all(self.pool())
                .await
                .map_err(query_err("count leases"))?;
        Ok(rows.into_iter().collect())
    }

    /// Takes the leases of `slo_ids` that are free or whose owner is dead;
    /// each takeover increments the epoch. A lease whose row a write holds
    /// is skipped, not waited for: the next round tries again. Returns the
    /// leases taken.
    pub async fn acquire_leases(
        &self,
        owner: Uuid,
        slo_ids: &[String],
    ) -> Result<Vec<Lease>, StoreError> {
        if slo_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut taken: Vec<(String, i64)> = sqlx::query_as(
            "insert into slo_leases (slo_id, owner, epoch) select unnest($1::text[]), $2, 1
             on conflict (slo_id) do nothing returning slo_id, epoch",
        )
        .bind(slo_ids)
        .bind(owner)
        .fetch_all(self.pool())
        .await
        .map_err(query_err("take free leases"))?;
        let stolen: Vec<(String, i64)> = sqlx::query_as(concat!(
            "update slo_leases l set owner = $2, epoch = l.epoch + 1, acquired_at = now()
             where l.slo_id in (
               select d.slo_id from slo_leases d
               where d.slo_id = any($1) and d.owner <> $2
                 and not exists (select 1 from replicas r where r.id = d.owner and ",
            live!(),
            ")
               for update skip locked)
             returning l.slo_id, l.epoch"
        ))
        .bind(slo_ids)
        .bind(owner)
        .fetch_all(self.pool())
        .await
        .map_err(query_err("take over leases"))?;
        taken.extend(stolen);
        Ok(taken
            .into_iter()
            .map(|(slo_id, epoch)| Lease {
                slo_id,
                owner,
                epoch,
            })
            .collect())
    }

    /// Hands leases back, so their new owner can take them at once.
    pub async fn release_leases(&self, owner: Uuid, slo_ids: &[String]) -> Result<u64, StoreError> {
        if slo_ids.is_empty() {
            return Ok(0);
        }
        Ok(
            sqlx::query("delete from slo_leases where owner = $1 and slo_id = any($2)")
                .bind(owner)
                .bind(slo_ids)
                .execute(self.pool())
                .await
                .map_err(query_err("release leases"))?
                .rows_affected(),
        )
    }

    /// Takes an SLO's lease whoever holds it: for a process that runs one
    /// SLO by itself (tests, tools), never for a serving replica.
    pub async fn claim_lease(&self, slo_id: &str, owner: Uuid) -> Result<Lease, StoreError> {
        let epoch: i64 = sqlx::query_scalar(
            "insert into slo_leases (slo_id, owner, epoch) values ($1, $2, 1)
             on conflict (slo_id) do update set owner = excluded.owner, epoch = slo_leases.epoch + 1,
               acquired_at = now()
             returning epoch",
        )
        .bind(slo_id)
        .bind(owner)
        .fetch_one(self.pool())
        .await
        .map_err(query_err("claim lease"))?;
        Ok(Lease {
            slo_id: slo_id.to_string(),
            owner,
            epoch,
        })
    }
}

/// Checks, inside a write's transaction, that `lease` is still current, and
/// keeps the lease row locked until the transaction ends (see [`fence_all`]).
pub(super) async fn fence(
    tx: &mut Transaction<'_, Postgres>,
    lease: &Lease,
    instances: &[i64],
) -> Result<(), StoreError> {
    match fence_all(tx, &[lease], instances).await?.is_empty() {
        true => Ok(()),
        false => Err(StoreError::Fenced {
            slo_id: lease.slo_id.clone(),
            epoch: lease.epoch,
        }),
    }
}

/// Checks, inside a write's transaction, which of `leases` are no longer
/// current, and keeps their rows locked (`for share`) until the transaction
/// ends, so no takeover can slip in before the commit. The rows of
/// `instances` are locked too (in id order), so two writes of the same new
/// hour cannot both insert it and overwrite each other. One round trip;
/// returns the ids of the SLOs whose lease passed to another replica.
pub(super) async fn fence_all(
    tx: &mut Transaction<'_, Postgres>,
    leases: &[&Lease],
    instances: &[i64],
) -> Result<std::collections::BTreeSet<String>, StoreError> {
    let ids: Vec<&str> = leases.iter().map(|l| l.slo_id.as_str()).collect();
    let current: Vec<(String, Uuid, i64)> = sqlx::query_as(
        "with locked as (select id from slo_instances where id = any($2) order by id for update)
         select slo_id, owner, epoch from slo_leases
         where slo_id = any($1) and (select count(*) from locked) >= 0
         order by slo_id
         for share",
    )
    .bind(&ids)
    .bind(instances)
    .fetch_all(&mut **tx)
    .await
    .map_err(query_err("check the lease"))?;
    let current: std::collections::HashMap<&str, (Uuid, i64)> = current
        .iter()
        .map(|(id, owner, epoch)| (id.as_str(), (*owner, *epoch)))
        .collect();
    let fenced: std::collections::BTreeSet<String> = leases
        .iter()
        .filter(|l| current.get(l.slo_id.as_str()) != Some(&(l.owner, l.epoch)))
        .map(|l| l.slo_id.clone())
        .collect();
    crate::health::add(&crate::health::FENCED_WRITES, fenced.len() as u64);
    Ok(fenced)
}
