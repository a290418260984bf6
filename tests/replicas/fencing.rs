//! Leases and fencing against a real PostgreSQL: the database itself
//! refuses a write from a replica whose lease has passed to another, a
//! takeover needs the owner to be dead, and concurrent first writes of an
//! hour merge instead of overwriting each other.

use std::collections::BTreeMap;
use std::time::Duration;

use burnrate::engine::{AlertPhase, EventCounts};
use burnrate::evaluation::AlertKey;
use burnrate::store::alerts::StoredAlert;
use burnrate::store::leases::MemberReport;
use burnrate::store::{EvaluationRow, IngestionState, PrunePlan, SpanWrite, Store, StoreError};
use burnrate::time::Minute;
use testkit::TestDatabase;
use testkit::synthetic::{HOUR, MINUTE};
use uuid::Uuid;

async fn store() -> (TestDatabase, Store) {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.expect("store");
    (db, store)
}

fn member(id: Uuid, ttl: Duration) -> MemberReport {
    MemberReport {
        id,
        host: "test".into(),
        pid: 1,
        ttl,
        catalog_hash: "v1".into(),
        catalog_slos: 1,
        owned_slos: 0,
        ready: true,
    }
}

fn minutes(hour: i64, slots: std::ops::Range<i64>, good: f64) -> BTreeMap<Minute, EventCounts> {
    slots
        .map(|m| {
            (
                Minute::floor(hour + m * MINUTE),
                EventCounts {
                    good,
                    total: good + 1.0,
                },
            )
        })
        .collect()
}

fn state(until: i64) -> IngestionState {
    IngestionState {
        sli_fingerprint: "v1:test".into(),
        ingested_until: until,
        history_from: until - 10 * HOUR,
        retention: None,
    }
}

fn is_fenced<T: std::fmt::Debug>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Fenced { .. }))
}

/// After a takeover, every kind of write of the old owner is refused, and
/// what the new owner wrote stays as it wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_of_a_superseded_lease_are_refused() {
    let (_db, store) = store().await;
    let slo = "shop/fenced";
    let id = store
        .instance_id(slo, &Default::default())
        .await
        .expect("instance");
    let hour = testkit::now_ms() / HOUR * HOUR - 3 * HOUR;
    let old = store.claim_lease(slo, Uuid::new_v4()).await.expect("lease");
    store
        .write_span(
            &old,
            &[(id, minutes(hour, 0..60, 1.0))].into(),
            &state(hour + HOUR),
        )
        .await
        .expect("the owner writes");
    let new = store
        .claim_lease(slo, Uuid::new_v4())
        .await
        .expect("takeover");
    assert_eq!(new.epoch, old.epoch + 1);
    store
        .write_span(
            &new,
            &[(id, minutes(hour, 0..60, 5.0))].into(),
            &state(hour + HOUR),
        )
        .await
        .expect("the new owner writes");
    let before = store.stored_hours().await.expect("rows");

    let stale = [(id, minutes(hour, 0..60, 9.0))].into();
    assert!(is_fenced(
        store
            .write_span(&old, &stale, &state(hour + 2 * HOUR))
            .await
    ));
    assert!(is_fenced(
        store.record_evaluation(&old, evaluation(id, hour)).await
    ));
    let alert = StoredAlert {
        instance_id: id,
        alert: AlertKey::Tier("page-1h".into()),
        phase: AlertPhase::Firing {
            since: chrono::Utc::now(),
        },
        resolved: None,
    };
    assert!(is_fenced(
        store.record_alert_changes(&old, &[], &[alert]).await
    ));
    assert!(store.alert_states(slo).await.expect("states").is_empty());
    let plan = PrunePlan {
        before: hour + 2 * HOUR,
        thin_from: 0,
        thin_before: 0,
        transitions_before: 0,
    };
    assert!(is_fenced(store.prune(&old, &plan).await));
    assert!(is_fenced(store.retire_slo(&old, "v1:test").await));
    assert!(is_fenced(
        store.purge_retired(&old, chrono::Utc::now()).await
    ));

    assert_eq!(
        store.stored_hours().await.expect("rows"),
        before,
        "nothing stale landed"
    );
    let progress = store
        .ingestion_state(slo)
        .await
        .expect("state")
        .expect("some");
    assert_eq!(progress.ingested_until, hour + HOUR, "progress untouched");
    store
        .record_evaluation(&new, evaluation(id, hour))
        .await
        .expect("the current owner still writes");
}

/// A cycle's batch of writes for many SLOs leaves out only the SLOs whose
/// lease moved on: the others' spans, progress and evaluations are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refuses_only_the_superseded_leases() {
    let (_db, store) = store().await;
    let hour = testkit::now_ms() / HOUR * HOUR - 3 * HOUR;
    let mut slos = Vec::new();
    for slo in ["shop/kept-a", "shop/moved", "shop/kept-b"] {
        let id = store
            .instance_id(slo, &Default::default())
            .await
            .expect("instance");
        let lease = store.claim_lease(slo, Uuid::new_v4()).await.expect("lease");
        slos.push((slo, id, lease, [(id, minutes(hour, 0..60, 2.0))].into()));
    }
    store
        .claim_lease("shop/moved", Uuid::new_v4())
        .await
        .expect("takeover");
    let progress = state(hour + HOUR);
    let writes: Vec<SpanWrite> = slos
        .iter()
        .map(|(_, _, lease, buckets)| SpanWrite {
            lease,
            buckets,
            state: &progress,
        })
        .collect();
    let outcomes = store.write_spans(&writes).await.expect("the batch");
    let fenced: Vec<bool> = outcomes.into_iter().map(is_fenced).collect();
    assert_eq!(fenced, [false, true, false]);
    let stored: Vec<String> = store
        .stored_hours()
        .await
        .expect("rows")
        .into_iter()
        .map(|h| h.instance)
        .collect();
    assert_eq!(stored, ["shop/kept-a", "shop/kept-b"]);
    for (slo, _, _, _) in &slos {
        let state = store.ingestion_state(slo).await.expect("state");
        assert_eq!(state.is_some(), *slo != "shop/moved", "{slo}");
    }

    let rows: Vec<(_, Vec<EvaluationRow>)> = slos
        .iter()
        .map(|(_, id, lease, _)| {
            (
                lease,
                vec![evaluation(*id, hour), evaluation(*id, hour + HOUR)],
            )
        })
        .collect();
    let refs: Vec<_> = rows.iter().map(|(l, r)| (*l, r.as_slice())).collect();
    let outcomes = store.record_evaluations(&refs).await.expect("the batch");
    let fenced: Vec<bool> = outcomes.into_iter().map(is_fenced).collect();
    assert_eq!(fenced, [false, true, false]);
    let pool = store.pool();
    let recorded: Vec<(String, i64)> = sqlx::query_as(
        "select i.slo_id, count(*) from evaluations e join slo_instances i on i.id = e.instance_id group by 1 order by 1",
    )
    .fetch_all(pool)
    .await
    .expect("evaluations");
    assert_eq!(
        recorded,
        [
            ("shop/kept-a".to_string(), 2),
            ("shop/kept-b".to_string(), 2)
        ]
    );
}

/// A live owner's lease cannot be taken; a dead one's is taken with a new
/// epoch; released leases go to whoever asks first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_move_only_from_dead_or_releasing_owners() {
    let (_db, store) = store().await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let ids: Vec<String> = (0..4).map(|i| format!("shop/slo-{i}")).collect();
    store
        .heartbeat(&member(a, Duration::from_secs(2)))
        .await
        .expect("a joins");
    store
        .heartbeat(&member(b, Duration::from_secs(60)))
        .await
        .expect("b joins");
    let taken = store.acquire_leases(a, &ids).await.expect("acquire");
    assert_eq!(taken.len(), 4);
    assert!(taken.iter().all(|l| l.epoch == 1 && l.owner == a));
    assert!(
        store.acquire_leases(b, &ids).await.expect("try").is_empty(),
        "a is live"
    );

    assert_eq!(
        store.release_leases(a, &ids[..1]).await.expect("release"),
        1
    );
    let handed = store
        .acquire_leases(b, &ids)
        .await
        .expect("take the released");
    assert_eq!(
        handed
            .iter()
            .map(|l| (&*l.slo_id, l.epoch))
            .collect::<Vec<_>>(),
        [(&*ids[0], 1)]
    );

    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let members = store.members().await.expect("members");
    assert_eq!(
        members
            .iter()
            .filter(|m| m.live)
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        [b]
    );
    let stolen = store.acquire_leases(b, &ids).await.expect("take over");
    assert_eq!(stolen.len(), 3);
    assert!(stolen.iter().all(|l| l.epoch == 2 && l.owner == b));
    assert_eq!(store.leases_of(a).await.expect("a's").len(), 0);
    assert_eq!(store.leases_of(b).await.expect("b's").len(), 4);

    // A graceful leave frees everything at once.
    assert_eq!(store.deregister(b).await.expect("leave"), 4);
    assert!(
        store
            .members()
            .await
            .expect("members")
            .iter()
            .all(|m| m.id != b)
    );
}

/// A takeover never waits on, and never slips under, a write in flight: the
/// lease row a write holds is skipped until the write ends, and the write
/// that held it still checked the epoch it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_skips_a_lease_whose_write_is_in_flight() {
    let (db, store) = store().await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let ids = vec!["shop/busy".to_string()];
    store
        .heartbeat(&member(a, Duration::from_secs(1)))
        .await
        .expect("a joins");
    store
        .heartbeat(&member(b, Duration::from_secs(60)))
        .await
        .expect("b joins");
    store.acquire_leases(a, &ids).await.expect("a owns");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    // A write of a's holds the lease row, as write_span's fence does.
    let pool = db.pool().await;
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("select epoch from slo_leases where slo_id = $1 for share")
        .bind(&ids[0])
        .execute(&mut *tx)
        .await
        .expect("hold");
    let skipped = tokio::time::timeout(Duration::from_secs(5), store.acquire_leases(b, &ids))
        .await
        .expect("the takeover does not wait")
        .expect("acquire");
    assert!(skipped.is_empty(), "{skipped:?}");
    tx.rollback().await.expect("end the write");
    let taken = store.acquire_leases(b, &ids).await.expect("acquire");
    assert_eq!(taken.len(), 1);
}

/// Two writers of the same new hour (minutes 0-29 and 30-59), many times
/// over: every minute of both lands. Progress never moves backwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_writes_of_an_hour_merge_and_progress_never_moves_back() {
    let (_db, store) = store().await;
    let slo = "shop/race";
    let id = store
        .instance_id(slo, &Default::default())
        .await
        .expect("instance");
    let lease = store.claim_lease(slo, Uuid::new_v4()).await.expect("lease");
    let first = testkit::now_ms() / HOUR * HOUR - 40 * HOUR;
    for k in 0..30 {
        let hour = first + k * HOUR;
        let (s1, s2, l1, l2) = (store.clone(), store.clone(), lease.clone(), lease.clone());
        let one = tokio::spawn(async move {
            s1.write_span(
                &l1,
                &[(id, minutes(hour, 0..30, 1.0))].into(),
                &state(hour + HOUR),
            )
            .await
        });
        let two = tokio::spawn(async move {
            s2.write_span(
                &l2,
                &[(id, minutes(hour, 30..60, 2.0))].into(),
                &state(hour),
            )
            .await
        });
        one.await.expect("join").expect("write");
        two.await.expect("join").expect("write");
    }
    let rows = store.stored_hours().await.expect("rows");
    assert_eq!(rows.len(), 30);
    for row in rows {
        assert!(
            row.minutes.iter().all(Option::is_some),
            "a minute lost in {}",
            row.hour
        );
    }
    let progress = store
        .ingestion_state(slo)
        .await
        .expect("state")
        .expect("some");
    assert_eq!(
        progress.ingested_until,
        first + 30 * HOUR,
        "the later of each pair wins"
    );
}

fn evaluation(instance: i64, at: i64) -> EvaluationRow {
    EvaluationRow {
        instance,
        at,
        data_state: "ok",
        events: EventCounts::default(),
        sli: None,
        budget_remaining: None,
        burn_rates: BTreeMap::new(),
    }
}
