//! The hourly prune of many SLOs in one batch (`Store::prune_all`): it
//! deletes exactly what pruning each SLO by itself deletes, and leaves the
//! data of an SLO whose lease moved on untouched.

use std::collections::BTreeMap;

use burnrate::duration::Duration;
use burnrate::engine::EventCounts;
use burnrate::store::{
    EvaluationRow, IngestionState, Lease, PruneDone, PruneJob, PrunePlan, Pruned, Retention, Store,
    StoreError,
};
use burnrate::time::Minute;
use chrono::{DateTime, TimeZone, Utc};
use testkit::TestDatabase;
use testkit::synthetic::{DAY, HOUR, MINUTE};
use uuid::Uuid;

const SLOS: [&str; 4] = ["shop/a", "shop/b", "shop/moved", "shop/retired"];

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

fn progress(fingerprint: &str, now: i64) -> IngestionState {
    IngestionState {
        sli_fingerprint: fingerprint.into(),
        ingested_until: now,
        history_from: now - 4 * DAY,
        retention: None,
    }
}

/// Four days of buckets (two minutes an hour), evaluations every 15
/// minutes and alert transitions for `slo`'s instances; returns its lease.
async fn seed_slo(store: &Store, pool: &sqlx::PgPool, slo: &str, now: i64) -> Lease {
    let lease = store.claim_lease(slo, Uuid::new_v4()).await.expect("lease");
    let mut groups = vec![BTreeMap::new()];
    if slo == "shop/b" {
        groups.push([("route".to_string(), "/pay".to_string())].into());
    }
    let mut buckets = BTreeMap::new();
    for labels in &groups {
        let id = store.instance_id(slo, labels).await.expect("instance");
        let mut minutes = BTreeMap::new();
        let mut rows = Vec::new();
        let mut at = now - 4 * DAY;
        while at <= now {
            if at % HOUR == 0 || at % HOUR == 30 * MINUTE {
                let counts = EventCounts {
                    good: (at / MINUTE % 7) as f64,
                    total: 10.0,
                };
                minutes.insert(Minute::floor(at), counts);
            }
            rows.push(EvaluationRow {
                instance: id,
                at,
                data_state: "ok",
                events: EventCounts {
                    good: 1.0,
                    total: 1.0,
                },
                sli: Some(1.0),
                budget_remaining: Some(1.0),
                burn_rates: BTreeMap::new(),
            });
            at += 15 * MINUTE;
        }
        buckets.insert(id, minutes);
        store
            .record_evaluations(&[(&lease, &rows)])
            .await
            .expect("evaluations");
        for days_ago in [120, 50, 3, 1] {
            sqlx::query(
                "insert into alert_transitions (instance_id, alert, transition, at, severity)
                 values ($1, 'page-1h', 'firing', $2, 'page')",
            )
            .bind(id)
            .bind(time(now - days_ago * DAY))
            .execute(pool)
            .await
            .expect("transition");
        }
    }
    store
        .write_span(&lease, &buckets, &progress("v1:now", now))
        .await
        .expect("buckets");
    lease
}

/// The same data in a fresh database: four SLOs, one of them with data of
/// an older SLI retired, and one whose lease another replica then took.
/// Returns the leases this replica holds, in [`SLOS`] order.
async fn seeded(now: i64) -> (TestDatabase, Store, Vec<Lease>) {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.expect("store");
    let pool = store.pool().clone();
    let old = seed_slo(&store, &pool, "shop/retired", now - DAY).await;
    let retired = store.retire_slo(&old, "v1:old").await.expect("retire");
    assert_eq!(retired, 1);
    let mut leases = Vec::new();
    for slo in SLOS {
        leases.push(seed_slo(&store, &pool, slo, now).await);
    }
    store
        .claim_lease("shop/moved", Uuid::new_v4())
        .await
        .expect("takeover");
    (db, store, leases)
}

/// Every row pruning may touch, in words, in a stable order.
async fn contents(store: &Store) -> Vec<String> {
    let pool = store.pool();
    let mut rows: Vec<String> = store
        .stored_hours()
        .await
        .expect("buckets")
        .into_iter()
        .map(|h| format!("bucket {} {} {:?}", h.instance, h.hour, h.minutes))
        .collect();
    for (what, sql) in [
        (
            "evaluation",
            "select i.slo_id || i.group_key || ' ' || e.evaluated_at::text from evaluations e
             join slo_instances i on i.id = e.instance_id order by 1",
        ),
        (
            "transition",
            "select i.slo_id || i.group_key || ' ' || t.at::text from alert_transitions t
             join slo_instances i on i.id = t.instance_id order by 1",
        ),
        (
            "state",
            "select slo_id || ' ' || coalesce(retention_ms::text, '-') || ' '
                    || coalesce(retention_needed_at::text, '-') from ingestion_state order by 1",
        ),
        (
            "instance",
            "select slo_id || group_key from slo_instances order by 1",
        ),
    ] {
        let found: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await.expect(what);
        rows.extend(found.into_iter().map(|r| format!("{what} {r}")));
    }
    rows
}

/// Each SLO's part: other cutoffs, another thinning span, its retention.
fn jobs(leases: &[Lease], now: i64) -> Vec<PruneJob<'_>> {
    let plans = [
        (DAY, 0, 2 * HOUR, 90 * DAY),
        (2 * DAY, 2 * DAY, 6 * HOUR, 2 * DAY),
        (DAY, 0, HOUR, 2 * DAY),
        (3 * DAY, 0, DAY, 30 * DAY),
    ];
    leases
        .iter()
        .zip(plans)
        .map(
            |(lease, (kept, thin_from, thin_before, transitions))| PruneJob {
                lease,
                retention: Some(Retention {
                    kept: Duration::from_millis(kept as u64),
                    needed_at: time(now),
                }),
                plan: Some(PrunePlan {
                    before: now - kept - HOUR,
                    thin_from: if thin_from == 0 { 0 } else { now - thin_from },
                    thin_before: now - thin_before,
                    transitions_before: now - transitions,
                }),
                retired_before: Some(time(now) + chrono::Duration::hours(1)),
            },
        )
        .collect()
}

fn is_fenced<T: std::fmt::Debug>(outcome: &Result<T, StoreError>) -> bool {
    matches!(outcome, Err(StoreError::Fenced { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_prune_deletes_what_pruning_each_slo_alone_deletes() {
    let now = testkit::now_ms() / HOUR * HOUR;

    // Each SLO by itself: the retention, the prune, the retired data.
    let (_one_db, one, one_leases) = seeded(now).await;
    let mut alone = Vec::new();
    for job in jobs(&one_leases, now) {
        let retention = one.set_retention(job.lease, &job.retention.unwrap()).await;
        let pruned = one.prune(job.lease, &job.plan.unwrap()).await;
        let purged = one
            .purge_retired(job.lease, job.retired_before.unwrap())
            .await;
        alone.push(match (retention, pruned, purged) {
            (Ok(()), Ok(pruned), Ok(purged)) => Ok(PruneDone { pruned, purged }),
            (r, p, u) => {
                assert!(is_fenced(&r) && is_fenced(&p) && is_fenced(&u));
                Err(())
            }
        });
    }

    // All of them in one batch.
    let (_batch_db, batch, batch_leases) = seeded(now).await;
    let before = contents(&batch).await;
    let together = batch
        .prune_all(&jobs(&batch_leases, now))
        .await
        .expect("the batch");

    let fenced: Vec<bool> = together.iter().map(is_fenced).collect();
    assert_eq!(fenced, [false, false, true, false]);
    let together: Vec<Result<PruneDone, ()>> =
        together.into_iter().map(|o| o.map_err(|_| ())).collect();
    assert_eq!(together, alone, "the same rows deleted per SLO");
    let after = contents(&batch).await;
    assert_eq!(after, contents(&one).await, "the same rows left");

    // Every kind of deletion happened, so the comparison means something.
    let a = together[0].as_ref().expect("shop/a pruned").pruned;
    assert!(a.buckets > 0 && a.evaluations > 0 && a.thinned > 0 && a.transitions > 0);
    assert_ne!(
        together[1].as_ref().expect("shop/b").pruned,
        Pruned::default()
    );
    let purged = &together[3].as_ref().expect("shop/retired").purged;
    assert_eq!(purged, &[("v1:old".to_string(), 1)]);

    // The SLO whose lease moved on: every row of it as it was.
    let moved = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .filter(|r| r.contains("shop/moved"))
            .cloned()
            .collect()
    };
    assert!(!moved(&before).is_empty());
    assert_eq!(moved(&after), moved(&before));
}
