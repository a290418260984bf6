//! Retention of many SLOs' data in one transaction: the retention each
//! records, the buckets, evaluations and alert transitions no window needs
//! any more, evaluations thinned past the detail span, and retired data
//! past its grace period. An SLO whose lease passed to another replica is
//! left out (and told so); the others are pruned.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::{Lease, Retention, Store, StoreError, leases, query_err};
use crate::time::{HOUR_MS, hour_of, to_time};

/// What [`Store::prune`] deletes for one SLO (times in ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrunePlan {
    /// Buckets and evaluations before the hour preceding this one's hour.
    pub before: i64,
    /// Evaluations in the hours from `thin_from`'s up to `thin_before`'s are
    /// thinned to the last of each hour.
    pub thin_from: i64,
    pub thin_before: i64,
    /// Alert transitions before this.
    pub transitions_before: i64,
}

/// Rows [`Store::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Hourly bucket rows older than every window.
    pub buckets: u64,
    /// Evaluations older than every window.
    pub evaluations: u64,
    /// Evaluations thinned to the last of their hour.
    pub thinned: u64,
    /// Alert transitions past their retention.
    pub transitions: u64,
}

/// One SLO's part of a batch prune ([`Store::prune_all`]); each step is
/// optional.
#[derive(Debug, Clone, Copy)]
pub struct PruneJob<'a> {
    pub lease: &'a Lease,
    /// The retention to record, before anything is deleted.
    pub retention: Option<Retention>,
    pub plan: Option<PrunePlan>,
    /// Retired data set aside before this is deleted.
    pub retired_before: Option<DateTime<Utc>>,
}

/// What a batch prune did for one SLO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneDone {
    pub pruned: Pruned,
    /// Retired SLIs deleted, as `(fingerprint, instances)`.
    pub purged: Vec<(String, u64)>,
}

/// Per job of a batch prune: done, or refused because its lease moved on.
pub type PruneOutcomes = Vec<Result<PruneDone, StoreError>>;

/// Rows per instance that one batch delete removed.
type Counts = HashMap<i64, u64>;

/// One batch delete: its statement, the per-instance bounds it binds after
/// the ids, and what it does, for errors.
type Step<'a> = (&'static str, Vec<&'a [DateTime<Utc>]>, &'static str);

/// A batch delete `returning` the instance of each row deleted, counted
/// per instance.
macro_rules! per_instance {
    ($delete:literal) => {
        concat!(
            "with gone as (",
            $delete,
            ") select instance_id, count(*) from gone group by 1"
        )
    };
}

/// The per-instance bounds of the batch deletes, one entry per instance.
#[derive(Default)]
struct Bounds {
    ids: Vec<i64>,
    cutoff: Vec<DateTime<Utc>>,
    thin_from: Vec<DateTime<Utc>>,
    thin_before: Vec<DateTime<Utc>>,
    transitions_before: Vec<DateTime<Utc>>,
}

impl Bounds {
    fn push(&mut self, id: i64, plan: &PrunePlan) {
        self.ids.push(id);
        self.cutoff.push(to_time(hour_of(plan.before) - HOUR_MS));
        self.thin_from.push(to_time(hour_of(plan.thin_from)));
        self.thin_before.push(to_time(hour_of(plan.thin_before)));
        self.transitions_before
            .push(to_time(plan.transitions_before));
    }
}

impl Store {
    /// Records how far back an SLO's data is kept (see [`Retention`]).
    pub async fn set_retention(
        &self,
        lease: &Lease,
        retention: &Retention,
    ) -> Result<(), StoreError> {
        let job = PruneJob {
            lease,
            retention: Some(*retention),
            plan: None,
            retired_before: None,
        };
        self.prune_one(job).await.map(|_| ())
    }

    /// Deletes what an SLO's instances no longer need, as `plan` says.
    pub async fn prune(&self, lease: &Lease, plan: &PrunePlan) -> Result<Pruned, StoreError> {
        let job = PruneJob {
            lease,
            retention: None,
            plan: Some(*plan),
            retired_before: None,
        };
        self.prune_one(job).await.map(|done| done.pruned)
    }

    /// Deletes an SLO's retired data set aside before `before`: the SLIs
    /// and their instances, as `(fingerprint, instances)`.
    pub async fn purge_retired(
        &self,
        lease: &Lease,
        before: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let job = PruneJob {
            lease,
            retention: None,
            plan: None,
            retired_before: Some(before),
        };
        self.prune_one(job).await.map(|done| done.purged)
    }

    async fn prune_one(&self, job: PruneJob<'_>) -> Result<PruneDone, StoreError> {
        let mut outcomes = self.prune_all(&[job]).await?;
        outcomes.pop().unwrap_or(Ok(PruneDone::default()))
    }

    /// Prunes many SLOs in one transaction and a few statements: records
    /// their retentions, deletes what their plans say, and purges their
    /// retired data. The outer error is the database's; the inner ones name
    /// the SLOs whose lease passed to another replica.
    pub async fn prune_all(&self, jobs: &[PruneJob<'_>]) -> Result<PruneOutcomes, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(query_err("begin"))?;
        let all: Vec<&Lease> = jobs.iter().map(|j| j.lease).collect();
        let fenced = leases::fence_all(&mut tx, &all, &[]).await?;
        let kept: Vec<&PruneJob> = jobs
            .iter()
            .filter(|j| !fenced.contains(&j.lease.slo_id))
            .collect();
        // Freshly written tables have no statistics, and from the defaults
        // the planner joins the ids to a scan of the whole table. Every
        // delete here touches a few rows per instance: look each up by its
        // primary key, whatever the estimates say (and skip the JIT those
        // inflated estimates would start).
        sqlx::query(
            "select set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
                    set_config('enable_mergejoin', 'off', true), set_config('jit', 'off', true)",
        )
        .execute(&mut *tx)
        .await
        .map_err(query_err("plan the prune"))?;
        record_retentions(&mut tx, &kept).await?;
        let mut done: BTreeMap<&str, PruneDone> = kept
            .iter()
            .map(|j| (j.lease.slo_id.as_str(), PruneDone::default()))
            .collect();
        delete_old_rows(&mut tx, &kept, &mut done).await?;
        purge_retired_data(&mut tx, &kept, &mut done).await?;
        tx.commit().await.map_err(query_err("commit"))?;
        Ok(jobs
            .iter()
            .map(|j| match done.remove(j.lease.slo_id.as_str()) {
                Some(d) => Ok(d),
                None => Err(StoreError::Fenced {
                    slo_id: j.lease.slo_id.clone(),
                    epoch: j.lease.epoch,
                }),
            })
            .collect())
    }
}

type Tx<'t> = sqlx::Transaction<'t, sqlx::Postgres>;

async fn record_retentions(tx: &mut Tx<'_>, jobs: &[&PruneJob<'_>]) -> Result<(), StoreError> {
    let (ids, retentions): (Vec<&str>, Vec<Retention>) = jobs
        .iter()
        .filter_map(|j| Some((j.lease.slo_id.as_str(), j.retention?)))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "update ingestion_state s set retention_ms = k.kept, retention_needed_at = k.needed_at
         from unnest($1::text[], $2::int8[], $3::timestamptz[]) as k(slo_id, kept, needed_at)
         where s.slo_id = k.slo_id",
    )
    .bind(&ids)
    .bind(
        retentions
            .iter()
            .map(|r| r.kept.as_millis() as i64)
            .collect::<Vec<_>>(),
    )
    .bind(retentions.iter().map(|r| r.needed_at).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await
    .map_err(query_err("write retention"))?;
    Ok(())
}

/// The deletes of the jobs' plans, one statement per table, each counted
/// per instance and credited to its SLO.
async fn delete_old_rows(
    tx: &mut Tx<'_>,
    jobs: &[&PruneJob<'_>],
    done: &mut BTreeMap<&str, PruneDone>,
) -> Result<(), StoreError> {
    let plans: HashMap<&str, PrunePlan> = jobs
        .iter()
        .filter_map(|j| Some((j.lease.slo_id.as_str(), j.plan?)))
        .collect();
    if plans.is_empty() {
        return Ok(());
    }
    let slo_ids: Vec<&str> = plans.keys().copied().collect();
    let instances: Vec<(i64, String)> =
        sqlx::query_as("select id, slo_id from slo_instances where slo_id = any($1) order by id")
            .bind(&slo_ids)
            .fetch_all(&mut **tx)
            .await
            .map_err(query_err("list instances to prune"))?;
    let mut bounds = Bounds::default();
    for (id, slo_id) in &instances {
        bounds.push(*id, &plans[slo_id.as_str()]);
    }
    let steps: [Step; 4] = [
        (
            per_instance!("delete from event_buckets b using unnest($1::int8[], $2::timestamptz[]) as k(id, cutoff)
             where b.instance_id = k.id and b.hour < k.cutoff returning b.instance_id"),
            vec![&bounds.cutoff],
            "prune buckets",
        ),
        (
            per_instance!("delete from evaluations e using unnest($1::int8[], $2::timestamptz[]) as k(id, cutoff)
             where e.instance_id = k.id and e.evaluated_at < k.cutoff returning e.instance_id"),
            vec![&bounds.cutoff],
            "prune evaluations",
        ),
        // Hours by epoch arithmetic: date_trunc would follow the session's time zone.
        (
            per_instance!("delete from evaluations e
             using unnest($1::int8[], $2::timestamptz[], $3::timestamptz[]) as k(id, thin_from, thin_before)
             where e.instance_id = k.id and e.evaluated_at >= k.thin_from and e.evaluated_at < k.thin_before
               and exists (select 1 from evaluations later
                           where later.instance_id = e.instance_id and later.evaluated_at > e.evaluated_at
                             and later.evaluated_at < to_timestamp(floor(extract(epoch from e.evaluated_at) / 3600) * 3600 + 3600))
             returning e.instance_id"),
            vec![&bounds.thin_from, &bounds.thin_before],
            "thin evaluations",
        ),
        (
            per_instance!("delete from alert_transitions t using unnest($1::int8[], $2::timestamptz[]) as k(id, cutoff)
             where t.instance_id = k.id and t.at < k.cutoff returning t.instance_id"),
            vec![&bounds.transitions_before],
            "prune alert transitions",
        ),
    ];
    let mut counts = Vec::with_capacity(steps.len());
    for (sql, times, what) in steps {
        counts.push(counted(tx, sql, &bounds.ids, &times, what).await?);
    }
    let [buckets, evaluations, thinned, transitions] = &counts[..] else {
        unreachable!("four steps");
    };
    for (id, slo_id) in &instances {
        if let Some(d) = done.get_mut(slo_id.as_str()) {
            let n = |counts: &Counts| counts.get(id).copied().unwrap_or(0);
            d.pruned.buckets += n(buckets);
            d.pruned.evaluations += n(evaluations);
            d.pruned.thinned += n(thinned);
            d.pruned.transitions += n(transitions);
        }
    }
    Ok(())
}

/// Runs one of the batch deletes ([`per_instance`]) and collects its counts.
async fn counted(
    tx: &mut Tx<'_>,
    sql: &'static str,
    ids: &[i64],
    bounds: &[&[DateTime<Utc>]],
    what: &'static str,
) -> Result<Counts, StoreError> {
    let mut query = sqlx::query_as::<_, (i64, i64)>(sql).bind(ids);
    for bound in bounds {
        query = query.bind(*bound);
    }
    let rows = query.fetch_all(&mut **tx).await.map_err(query_err(what))?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, n.max(0) as u64))
        .collect())
}

/// Deletes the jobs' retired data set aside before their `retired_before`.
async fn purge_retired_data(
    tx: &mut Tx<'_>,
    jobs: &[&PruneJob<'_>],
    done: &mut BTreeMap<&str, PruneDone>,
) -> Result<(), StoreError> {
    let (ids, before): (Vec<&str>, Vec<DateTime<Utc>>) = jobs
        .iter()
        .filter_map(|j| Some((j.lease.slo_id.as_str(), j.retired_before?)))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    // Retired keys are `<slo_id>#<fingerprint>` (see `retired_key`).
    let keys: Vec<(String, String, String)> = sqlx::query_as(
        "delete from ingestion_state s using unnest($1::text[], $2::timestamptz[]) as k(slo_id, before)
         where s.retired_at < k.before and starts_with(s.slo_id, k.slo_id || '#')
         returning k.slo_id, s.slo_id, s.sli_fingerprint",
    )
    .bind(&ids)
    .bind(&before)
    .fetch_all(&mut **tx)
    .await
    .map_err(query_err("purge retired ingestion state"))?;
    if keys.is_empty() {
        return Ok(());
    }
    let retired: Vec<&str> = keys.iter().map(|(_, key, _)| key.as_str()).collect();
    let instances: Vec<(String, i64)> = sqlx::query_as(
        "with gone as (delete from slo_instances where slo_id = any($1) returning slo_id)
         select slo_id, count(*) from gone group by 1",
    )
    .bind(&retired)
    .fetch_all(&mut **tx)
    .await
    .map_err(query_err("purge retired instances"))?;
    let instances: HashMap<String, i64> = instances.into_iter().collect();
    for (slo_id, key, fingerprint) in keys {
        if let Some(d) = done.get_mut(slo_id.as_str()) {
            let n = instances.get(&key).copied().unwrap_or(0).max(0) as u64;
            d.purged.push((fingerprint, n));
        }
    }
    Ok(())
}
