//! Several `burnrate serve` processes on one database: they split the SLOs,
//! query Prometheus as one would, take over from a killed or frozen peer
//! with nothing lost or counted twice, and roll to a new catalog without
//! losing data of SLOs that did not change.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use testkit::Series;
use testkit::TestDatabase;
use testkit::synthetic::MINUTE;

use super::cluster::{
    INTERVAL, Replica, SLOS, assert_same_buckets, buckets_until, catalog, exact_budget, leases,
    live_members, metrics_text, progress, queries_answered, seeded_prometheus, transitions,
    until_tick, wait_until,
};

fn write_catalog(dir: &Path, name: &str, objective_of_all: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).expect("dir");
    std::fs::write(path.join("slos.yaml"), catalog(objective_of_all)).expect("write");
    path
}

/// Every SLO has one lease, held by the live member rendezvous hashing
/// gives it, and `members` replicas are live.
async fn owned_once_by_live_members(db: &TestDatabase, members: usize) -> bool {
    let leases = leases(db).await;
    let live: Vec<_> = live_members(db).await.into_iter().collect();
    live.len() == members
        && leases.len() == SLOS
        && leases
            .iter()
            .all(|(slo, (owner, _))| burnrate::ownership::owner_of(slo, &live) == Some(*owner))
}

/// Each replica's API answers for every SLO with the exact budget.
async fn answers_exactly(replica: &Replica, series: &[Series]) -> Result<(), String> {
    answers_exactly_with(replica, series, 0.99).await
}

/// The same, where the SLOs over all routes have objective `all_objective`.
async fn answers_exactly_with(
    replica: &Replica,
    series: &[Series],
    all_objective: f64,
) -> Result<(), String> {
    let budgets = replica.budgets().await;
    if budgets.len() != SLOS {
        return Err(format!("{} SLOs listed", budgets.len()));
    }
    for (id, at, state, remaining) in budgets {
        let name = id.trim_start_matches("shop/");
        let objective = if name.starts_with("all-") {
            all_objective
        } else {
            0.99
        };
        let want = exact_budget(series, name, at, objective);
        match remaining {
            Some(got) if state == "ok" && (got - want).abs() < 1e-9 => {}
            other => return Err(format!("{id} at {at}: {state} {other:?}, exact {want}")),
        }
    }
    Ok(())
}

async fn all_ready(replicas: &[Replica]) -> bool {
    for r in replicas {
        if !r.ready().await {
            return false;
        }
    }
    true
}

/// Replicas on one database beside a reference replica on its own, all
/// reading the same seeded Prometheus and running catalog `v1`.
struct Setup {
    _prom: testkit::TestPrometheus,
    series: Vec<Series>,
    db: TestDatabase,
    reference_db: TestDatabase,
    dir: tempfile::TempDir,
    replicas: Vec<Replica>,
    _reference: Replica,
}

impl Setup {
    async fn start(replicas: usize) -> Setup {
        let (prom, series) = seeded_prometheus().await;
        let (db, reference_db) = (TestDatabase::create().await, TestDatabase::create().await);
        let dir = tempfile::tempdir().expect("dir");
        let v1 = write_catalog(dir.path(), "v1", "99");
        let log = |name: String| dir.path().join(name);
        let reference = Replica::start(&v1, &prom.url(), reference_db.url(), log("ref.log".into()));
        let replicas = (0..replicas)
            .map(|n| Replica::start(&v1, &prom.url(), db.url(), log(format!("r{n}.log"))))
            .collect();
        let setup = Setup {
            _prom: prom,
            series,
            db,
            reference_db,
            dir,
            replicas,
            _reference: reference,
        };
        let n = setup.replicas.len();
        wait_until(
            "every replica owning its share",
            Duration::from_secs(120),
            || owned_once_by_live_members(&setup.db, n),
        )
        .await;
        setup
    }

    /// Once every run has stored past now, the replicas' buckets equal the
    /// reference's, their alert transitions too, and every replica answers
    /// exactly.
    async fn assert_like_the_reference(&self, what: &str) {
        let cut = testkit::now_ms() / MINUTE * MINUTE;
        wait_until(
            "every run past the cut",
            Duration::from_secs(60),
            || async {
                let (a, b) = (progress(&self.db).await, progress(&self.reference_db).await);
                a.len() == SLOS
                    && b.len() == SLOS
                    && a.values().chain(b.values()).all(|&t| t >= cut)
            },
        )
        .await;
        assert_same_buckets(
            &buckets_until(&self.db, cut).await,
            &buckets_until(&self.reference_db, cut).await,
            what,
        );
        // Transitions are recorded after the cycle's buckets, so a run past
        // the cut may still owe the last ones for a cycle or two.
        let settle = Instant::now();
        let (got, want) = loop {
            let (got, want) = (
                transitions(&self.db).await,
                transitions(&self.reference_db).await,
            );
            if got == want || settle.elapsed() > 3 * INTERVAL {
                break (got, want);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(!want.is_empty(), "the scenario has alerts");
        assert_eq!(
            got, want,
            "{what}: no alert transition duplicated or missing"
        );
        for r in &self.replicas {
            wait_until(
                "exact answers on every replica",
                Duration::from_secs(40),
                || async { answers_exactly(r, &self.series).await.is_ok() },
            )
            .await;
        }
    }
}

/// Queries Prometheus answered over three whole cycles.
async fn queries_per_cycle(prom: &testkit::TestPrometheus, replicas: &[Replica]) -> (f64, f64) {
    until_tick(Duration::from_secs(8)).await;
    let before = (queries_answered(prom).await, selector_reads(replicas).await);
    for _ in 0..3 {
        until_tick(Duration::from_secs(8)).await;
    }
    let after = (queries_answered(prom).await, selector_reads(replicas).await);
    ((after.0 - before.0) / 3.0, (after.1 - before.1) / 3.0)
}

/// The selector reads the replicas' cycles asked for, summed over replicas.
async fn selector_reads(replicas: &[Replica]) -> f64 {
    let mut total = 0.0;
    for r in replicas {
        total += metrics_text(&r.url())
            .await
            .lines()
            .find_map(|l| l.strip_prefix("burnrate_fanin_reads_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("burnrate_fanin_reads_total");
    }
    total
}

/// Three replicas on one database: each SLO has exactly one owner, its
/// selectors are read once per cycle whatever the number of replicas (each
/// replica fans its own SLOs' reads into at most one query per metric), and
/// every replica answers for every SLO with the exact numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_split_the_work_and_query_prometheus_once() {
    let (prom, series) = seeded_prometheus().await;
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("dir");
    let v1 = write_catalog(dir.path(), "v1", "99");
    let start = |n: usize| {
        Replica::start(
            &v1,
            &prom.url(),
            db.url(),
            dir.path().join(format!("r{n}.log")),
        )
    };
    let mut replicas = vec![start(0)];
    wait_until(
        "the first replica's exact answers",
        Duration::from_secs(120),
        || async { answers_exactly(&replicas[0], &series).await.is_ok() },
    )
    .await;
    let (alone, reads_alone) = queries_per_cycle(&prom, &replicas).await;

    replicas.push(start(1));
    replicas.push(start(2));
    wait_until("three owners", Duration::from_secs(60), || {
        owned_once_by_live_members(&db, 3)
    })
    .await;
    wait_until("every replica ready", Duration::from_secs(60), || {
        all_ready(&replicas)
    })
    .await;
    let (three, reads_three) = queries_per_cycle(&prom, &replicas).await;
    assert!(alone > 0.0 && reads_alone > 0.0);
    assert!(
        (reads_three - reads_alone).abs() <= 0.1 * reads_alone,
        "selector reads per cycle: {reads_alone} alone, {reads_three} with three replicas"
    );
    assert!(
        three <= 3.3 * alone,
        "queries per cycle: {alone} alone, {three} with three replicas"
    );
    assert!(
        owned_once_by_live_members(&db, 3).await,
        "{:?}",
        leases(&db).await
    );
    // Every replica shows the members, one catalog, and who owns how much.
    for r in &replicas {
        let (code, status) = r.get("/api/v1/status").await.expect("status");
        assert_eq!(code, 200, "{status}");
        let members = status["members"].as_array().expect("members");
        assert_eq!(members.len(), 3, "{status}");
        assert!(
            members
                .iter()
                .all(|m| m["live"] == true && m["catalog_hash"] == status["winning_catalog"])
        );
        let owned: i64 = members
            .iter()
            .map(|m| m["owned_slos"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(owned, SLOS as i64, "{status}");
        assert_eq!(members.iter().filter(|m| m["this"] == true).count(), 1);
    }
    for r in &replicas {
        wait_until(
            "exact answers on every replica",
            Duration::from_secs(30),
            || async { answers_exactly(r, &series).await.is_ok() },
        )
        .await;
    }
}

/// A frozen replica (SIGSTOP) loses its SLOs to the other within two
/// intervals of its last heartbeat; resumed (SIGCONT), none of its stale
/// writes land: the buckets equal a lone replica's and no alert transition
/// is doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_replica_is_fenced_off_and_its_work_taken_over() {
    let setup = Setup::start(2).await;
    let (db, replicas) = (&setup.db, &setup.replicas);
    wait_until("both ready", Duration::from_secs(120), || {
        all_ready(replicas)
    })
    .await;

    // Frozen just as a cycle starts, so some of its writes are in flight.
    until_tick(Duration::from_millis(30)).await;
    replicas[0].signal(libc::SIGSTOP);
    let frozen_at = Instant::now();
    let store = burnrate::store::Store::connect(db.url())
        .await
        .expect("store");
    let members = store.members().await.expect("members");
    assert_eq!(members.iter().filter(|m| m.live).count(), 2);
    let frozen = members
        .into_iter()
        .find(|m| m.pid == replicas[0].pid())
        .expect("its row");
    wait_until(
        "the other replica to own everything",
        3 * INTERVAL,
        || async {
            leases(db)
                .await
                .values()
                .all(|(owner, _)| *owner != frozen.id)
        },
    )
    .await;
    let took = frozen_at.elapsed();
    assert!(
        took <= 2 * INTERVAL + Duration::from_secs(2),
        "takeover after {took:?}"
    );

    replicas[0].signal(libc::SIGCONT);
    wait_until("both owning again", Duration::from_secs(60), || {
        owned_once_by_live_members(db, 2)
    })
    .await;
    setup.assert_like_the_reference("after a freeze").await;
}

/// Three replicas for a while, one of them killed with SIGKILL and started
/// again every 30 s (`BURNRATE_CHAOS_SECS`, default 150 s; the documented
/// long run is 600 s): afterwards the buckets equal an undisturbed
/// replica's, every replica answers exactly, and no alert transition is
/// duplicated or missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_killed_every_30s_lose_and_double_nothing() {
    let duration = std::env::var("BURNRATE_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150u64);
    let mut setup = Setup::start(3).await;
    let start = Instant::now();
    let mut kills = 0;
    while start.elapsed() < Duration::from_secs(duration) {
        tokio::time::sleep(Duration::from_secs(30)).await;
        setup.replicas[kills % 3].kill_and_restart();
        kills += 1;
    }
    assert!(kills >= 4, "{kills} kills");
    wait_until(
        "three owners after the chaos",
        Duration::from_secs(60),
        || owned_once_by_live_members(&setup.db, 3),
    )
    .await;
    setup.assert_like_the_reference("after the chaos").await;
}

/// Replicas restarted one by one with a changed catalog (one objective
/// changed): while they disagree the newer catalog's replicas own every
/// SLO, and no data of any SLO is lost (its SLI did not change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_loses_no_data() {
    let mut setup = Setup::start(3).await;
    let v2 = write_catalog(setup.dir.path(), "v2", "99.5");
    setup.replicas[0].roll(&v2).await;
    wait_until(
        "the new catalog's replica owns everything",
        Duration::from_secs(60),
        || async {
            let leases = leases(&setup.db).await;
            let owners: BTreeSet<_> = leases.values().map(|(o, _)| *o).collect();
            owners.len() == 1 && leases.len() == SLOS && live_members(&setup.db).await.len() == 3
        },
    )
    .await;
    for r in &mut setup.replicas[1..] {
        r.roll(&v2).await;
        tokio::time::sleep(INTERVAL).await;
    }
    wait_until(
        "three owners on the new catalog",
        Duration::from_secs(60),
        || owned_once_by_live_members(&setup.db, 3),
    )
    .await;
    // The SLOs over all routes changed objective: checked against the
    // reference (on the old catalog) for buckets and transitions only.
    let cut = testkit::now_ms() / MINUTE * MINUTE;
    wait_until(
        "every run past the cut",
        Duration::from_secs(60),
        || async {
            let (a, b) = (
                progress(&setup.db).await,
                progress(&setup.reference_db).await,
            );
            a.len() == SLOS && b.len() == SLOS && a.values().chain(b.values()).all(|&t| t >= cut)
        },
    )
    .await;
    assert_same_buckets(
        &buckets_until(&setup.db, cut).await,
        &buckets_until(&setup.reference_db, cut).await,
        "no bucket lost in the rollout",
    );
    for r in &setup.replicas {
        wait_until(
            "the new objective served",
            Duration::from_secs(40),
            || async { answers_exactly_with(r, &setup.series, 0.995).await.is_ok() },
        )
        .await;
    }
}
