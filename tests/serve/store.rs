//! The PostgreSQL store on its own: the packed bucket rows, rows from
//! before packing, and the thinning of evaluation history.

use std::collections::BTreeMap;

use burnrate::engine::EventCounts;
use burnrate::store::{
    EvaluationRow, IngestionState, Lease, PrunePlan, Pruned, ROWS_PER_STATEMENT, Store,
};
use burnrate::time::Minute;
use chrono::{TimeZone, Utc};
use testkit::TestDatabase;
use testkit::synthetic::{DAY, HOUR, MINUTE};

/// A fresh database, its store, one ungrouped instance of `slo_id`, and
/// the SLO's lease.
async fn store_with_instance(slo_id: &str) -> (TestDatabase, Store, i64, Lease) {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.expect("store");
    let id = store
        .instance_id(slo_id, &Default::default())
        .await
        .expect("instance");
    let lease = store
        .claim_lease(slo_id, uuid::Uuid::new_v4())
        .await
        .expect("lease");
    (db, store, id, lease)
}

/// Rows written as `float8[]` arrays before migration 0003 are read as they
/// are, and a partial write into one keeps its other minutes and packs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_from_before_packing_are_read_and_merged() {
    let (db, store, id, lease) = store_with_instance("shop/legacy").await;
    let hour = testkit::now_ms() / HOUR * HOUR - 5 * HOUR;
    // Minutes 0..30 fetched (i good of i + 1), 30..60 not fetched.
    let good: Vec<Option<f64>> = (0..60).map(|i| (i < 30).then_some(i as f64)).collect();
    let total: Vec<Option<f64>> = (0..60)
        .map(|i| (i < 30).then_some(i as f64 + 1.0))
        .collect();
    let pool = db.pool().await;
    sqlx::query(
        "insert into event_buckets (instance_id, hour, good, total) values ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(Utc.timestamp_millis_opt(hour).unwrap())
    .bind(&good)
    .bind(&total)
    .execute(&pool)
    .await
    .expect("legacy row");
    let loaded = store.load_hours(id, hour, hour + HOUR).await.expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        loaded[0].1[29],
        EventCounts {
            good: 29.0,
            total: 30.0
        }
    );
    assert_eq!(loaded[0].1[30], EventCounts::default());

    // Minutes 40 and 41 arrive.
    let minutes: BTreeMap<Minute, EventCounts> = [40, 41]
        .map(|m| {
            (
                Minute::exact(hour + m * MINUTE).expect("aligned"),
                EventCounts {
                    good: 7.0,
                    total: 9.0,
                },
            )
        })
        .into();
    let state = IngestionState {
        sli_fingerprint: "x".into(),
        retention: None,
        ingested_until: hour + 42 * MINUTE,
        history_from: hour,
    };
    store
        .write_span(&lease, &[(id, minutes)].into(), &state)
        .await
        .expect("write");
    let stored = store.stored_hours().await.expect("list");
    assert_eq!(stored.len(), 1);
    let m = &stored[0].minutes;
    assert_eq!(
        m[29],
        Some(EventCounts {
            good: 29.0,
            total: 30.0
        }),
        "kept"
    );
    assert_eq!(m[35], None, "still not fetched");
    assert_eq!(
        m[41],
        Some(EventCounts {
            good: 7.0,
            total: 9.0
        }),
        "written"
    );
    let (packed, arrays): (bool, bool) = sqlx::query_as(
        "select packed is not null, good is not null or total is not null from event_buckets",
    )
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!((packed, arrays), (true, false), "rewritten packed");
}

/// A batch larger than one insert statement holds (its rows are sent in
/// several, in the same transaction) stores every hour and evaluation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_larger_than_one_statement_store_every_row() {
    let (db, store, first, lease) = store_with_instance("shop/wide").await;
    let mut ids = vec![first];
    for route in ["/a", "/b"] {
        let group = [("route".to_string(), route.to_string())].into();
        ids.push(
            store
                .instance_id("shop/wide", &group)
                .await
                .expect("instance"),
        );
    }
    let hours = ROWS_PER_STATEMENT as i64 * 2 / 3;
    let start = testkit::now_ms() / HOUR * HOUR - (hours + 1) * HOUR;
    // Minute 7 of every hour, its counts telling instance and hour apart.
    let counts = |k: usize, h: i64| EventCounts {
        good: h as f64,
        total: (h + 1000 * k as i64) as f64,
    };
    let buckets: BTreeMap<i64, BTreeMap<Minute, EventCounts>> = ids
        .iter()
        .enumerate()
        .map(|(k, &id)| {
            let minutes = (0..hours)
                .map(|h| {
                    let at = Minute::exact(start + h * HOUR + 7 * MINUTE).expect("aligned");
                    (at, counts(k, h))
                })
                .collect();
            (id, minutes)
        })
        .collect();
    assert!(ids.len() * hours as usize > ROWS_PER_STATEMENT);
    let state = IngestionState {
        sli_fingerprint: "x".into(),
        retention: None,
        ingested_until: start + hours * HOUR,
        history_from: start,
    };
    store
        .write_span(&lease, &buckets, &state)
        .await
        .expect("write");
    for (k, &id) in ids.iter().enumerate() {
        let loaded = store
            .load_hours(id, start, start + hours * HOUR)
            .await
            .expect("load");
        assert_eq!(loaded.len(), hours as usize, "instance {k}");
        for (h, (hour, minutes)) in loaded.iter().enumerate() {
            assert_eq!(*hour, start + h as i64 * HOUR);
            assert_eq!(minutes[7], counts(k, h as i64), "instance {k} hour {h}");
        }
    }
    // Chosen pairs in one statement: the same minutes, and none for an
    // hour nothing was written in.
    let empty_hour = start + hours * HOUR;
    let wanted = [
        (ids[0], start),
        (ids[2], start + 5 * HOUR),
        (ids[1], empty_hour),
    ];
    let mut together = store.load_hours_of(&wanted).await.expect("load pairs");
    together.sort_by_key(|&(id, hour, _)| (hour, id));
    let mut one_by_one = Vec::new();
    for &(id, hour) in &wanted {
        for (h, minutes) in store.load_hours(id, hour, hour + HOUR).await.expect("load") {
            one_by_one.push((id, h, minutes));
        }
    }
    assert_eq!(together.len(), 2);
    assert_eq!(together, one_by_one);

    let rows: Vec<EvaluationRow> = (0..ROWS_PER_STATEMENT as i64 + 10)
        .map(|i| EvaluationRow {
            instance: ids[(i % 3) as usize],
            at: start + i / 3 * MINUTE,
            data_state: "ok",
            events: EventCounts {
                good: i as f64,
                total: i as f64,
            },
            sli: Some(1.0),
            budget_remaining: Some(1.0),
            burn_rates: BTreeMap::new(),
        })
        .collect();
    let outcomes = store
        .record_evaluations(&[(&lease, &rows)])
        .await
        .expect("record");
    assert!(outcomes.iter().all(Result::is_ok));
    let (count, sum): (i64, f64) = sqlx::query_as("select count(*), sum(good) from evaluations")
        .fetch_one(&db.pool().await)
        .await
        .expect("count");
    let n = rows.len() as f64;
    assert_eq!((count as f64, sum), (n, n * (n - 1.0) / 2.0));
}

/// Sharing more SLOs' statuses than one statement carries writes them all,
/// and still only those whose lease the writer holds at that epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_of_many_slos_are_shared_in_bounded_statements() {
    let db = TestDatabase::create().await;
    let store = Store::connect(db.url()).await.expect("store");
    let owner = uuid::Uuid::new_v4();
    let mut rows = Vec::new();
    for k in 0..600 {
        let id = format!("shop/slo-{k}");
        let lease = store.claim_lease(&id, owner).await.expect("lease");
        // Every seventh row names an epoch the writer does not hold.
        let epoch = if k % 7 == 0 {
            lease.epoch + 1
        } else {
            lease.epoch
        };
        rows.push((id, epoch, serde_json::json!([{"k": k}])));
    }
    let written = store.share_statuses(owner, &rows).await.expect("share");
    let shared = store.shared_statuses(None, None).await.expect("read");
    let expected: BTreeMap<String, serde_json::Value> = rows
        .iter()
        .filter(|(_, epoch, _)| *epoch == 1)
        .map(|(id, _, s)| (id.clone(), s.clone()))
        .collect();
    assert_eq!(written as usize, expected.len());
    let got: BTreeMap<String, serde_json::Value> =
        shared.into_iter().map(|s| (s.slo_id, s.statuses)).collect();
    assert_eq!(got, expected);
    // The writer does not read back its own: only the rows whose lease
    // moved on (none here, as the rows written are all its own).
    let others = store
        .shared_statuses(None, Some(owner))
        .await
        .expect("read");
    assert!(others.is_empty(), "{} own rows read back", others.len());
    let other = uuid::Uuid::new_v4();
    store.claim_lease("shop/slo-1", other).await.expect("taken");
    let others = store
        .shared_statuses(None, Some(owner))
        .await
        .expect("read");
    assert_eq!(
        others.iter().map(|s| s.slo_id.as_str()).collect::<Vec<_>>(),
        ["shop/slo-1"],
        "a row whose lease another replica holds now"
    );
}

/// Evaluations every 5 minutes for three days, pruned as the runtime does an
/// hour later: none before the cutoff, the last of each hour before the
/// detail span, every one inside it.
/// The runtime's first prune of a run: thin everything before `thin_before`.
fn plan(before: i64, thin_before: i64) -> PrunePlan {
    PrunePlan {
        before,
        thin_from: 0,
        thin_before,
        transitions_before: before,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_history_is_thinned_to_hours_past_the_detail_span() {
    let (db, store, id, lease) = store_with_instance("shop/thin").await;
    let now = testkit::now_ms() / HOUR * HOUR;
    let first = now - 3 * DAY;
    let mut at = first;
    while at <= now {
        store
            .record_evaluation(
                &lease,
                EvaluationRow {
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
                },
            )
            .await
            .expect("record");
        at += 5 * MINUTE;
    }
    let keep_from = first + 6 * HOUR + 10 * MINUTE;
    let thin_before = now - DAY;
    store
        .prune(&lease, &plan(keep_from, thin_before))
        .await
        .expect("prune");
    let pool = db.pool().await;
    let kept: Vec<i64> = sqlx::query_scalar(
        "select (extract(epoch from evaluated_at) * 1000)::bigint from evaluations order by 1",
    )
    .fetch_all(&pool)
    .await
    .expect("rows");
    // Rows are deleted before the hour holding `keep_from`, minus one.
    let cutoff = keep_from / HOUR * HOUR - HOUR;
    let mut want: Vec<i64> = Vec::new();
    let mut hour = cutoff;
    while hour < thin_before {
        want.push(hour + 55 * MINUTE);
        hour += HOUR;
    }
    let mut t = thin_before;
    while t <= now {
        want.push(t);
        t += 5 * MINUTE;
    }
    assert_eq!(kept.len(), want.len(), "{} rows kept", kept.len());
    assert_eq!(kept, want);
    // A second prune changes nothing.
    let again = store
        .prune(&lease, &plan(keep_from, thin_before))
        .await
        .expect("prune");
    assert_eq!(again, Pruned::default());
}

/// Alert transitions before `transitions_before` are deleted, later ones kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_alert_transitions_are_pruned() {
    let (db, store, id, lease) = store_with_instance("shop/alerts").await;
    let now = testkit::now_ms() / MINUTE * MINUTE;
    let pool = db.pool().await;
    for days in [120, 91, 89, 1] {
        sqlx::query(
            "insert into alert_transitions (instance_id, alert, transition, at, severity) values ($1, 'page-1h', 'firing', $2, 'page')",
        )
        .bind(id)
        .bind(Utc.timestamp_millis_opt(now - days * DAY).unwrap())
        .execute(&pool)
        .await
        .expect("insert transition");
    }
    let plan = PrunePlan {
        transitions_before: now - 90 * DAY,
        ..plan(now - 30 * DAY, now - DAY)
    };
    let pruned = store.prune(&lease, &plan).await.expect("prune");
    assert_eq!(
        pruned,
        Pruned {
            transitions: 2,
            ..Pruned::default()
        }
    );
    let left: Vec<i64> = sqlx::query_scalar(
        "select ((extract(epoch from at) * 1000)::bigint - $1) / $2 from alert_transitions order by at",
    )
    .bind(now)
    .bind(DAY)
    .fetch_all(&pool)
    .await
    .expect("rows");
    assert_eq!(left, [-89, -1]);
}
