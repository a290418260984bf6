//! Several replicas on one database, with real servers: each replica's
//! steady cycle, and how long a killed replica's SLOs take to move.
//!
//! 1. Seeds Prometheus with four days of `http_requests_total` (12 series,
//!    one sample a minute) and writes a catalog of `BENCH_SLOS` SLOs (1000),
//!    each a different matcher over those series with a 3-day window.
//! 2. Starts `BENCH_REPLICAS` (3) `burnrate serve` processes against one
//!    fresh database, cycling every `BENCH_INTERVAL` (1m), and waits until
//!    every SLO is backfilled and owned.
//! 3. Steady cycles: for three cycles, each replica's SLOs and cycle time
//!    (its `cycle done` log line).
//! 4. Failover: SIGKILL of the first replica; the time from its last
//!    heartbeat until the others hold all its leases, and until each of its
//!    SLOs has a status written by its new owner.
//!
//! Run it with `benches/replicas.sh`, which provides PostgreSQL and
//! Prometheus like the test suite does.

#[allow(dead_code)]
#[path = "../tests/replicas/cluster.rs"]
mod cluster;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cluster::{Replica, leases, seeded_prometheus, wait_until};
use testkit::TestDatabase;
use testkit::synthetic::ROUTES;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` SLOs, each over its own matcher on the seeded series.
fn catalog(n: usize) -> String {
    let mut matchers: Vec<String> = vec![String::new()];
    matchers.extend(ROUTES.iter().map(|r| format!("route=\"{r}\"")));
    matchers.extend(["i1", "i2"].iter().map(|i| format!("instance=\"{i}\"")));
    for r in ROUTES {
        for i in ["i1", "i2"] {
            matchers.push(format!("route=\"{r}\",instance=\"{i}\""));
        }
    }
    let mut out = String::from("version: burnrate/v1\nservice: bench\nslos:\n");
    for k in 0..n {
        let m = &matchers[k % matchers.len()];
        let sep = if m.is_empty() { "" } else { "," };
        out.push_str(&format!(
            "  - name: slo-{k:05}\n    objective: 99.{}\n    window: 3d\n    indicator:\n      ratio:\n        errors: http_requests_total{{code=\"500\"{sep}{m}}}\n        total: http_requests_total{{{m}}}\n",
            k % 10
        ));
    }
    out
}

/// `cycle done` lines of a log: (SLOs run, SLOs backfilling, duration ms).
fn cycles(log: &str) -> Vec<(usize, usize, u64)> {
    let field = |line: &str, name: &str| -> Option<u64> {
        let at = line.find(&format!("{name}="))? + name.len() + 1;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    log.lines()
        .filter(|l| l.contains("cycle done"))
        .filter_map(|l| {
            Some((
                field(l, "slos")? as usize,
                field(l, "backfilling")? as usize,
                field(l, "duration_ms")?,
            ))
        })
        .collect()
}

fn main() {
    let slos = env_num("BENCH_SLOS", 1000);
    let replicas = env_num("BENCH_REPLICAS", 3).max(2);
    let interval = std::env::var("BENCH_INTERVAL").unwrap_or_else(|_| "1m".into());
    let interval_d: burnrate::duration::Duration = interval.parse().expect("BENCH_INTERVAL");
    let interval_d = Duration::from_millis(interval_d.as_millis());
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(run(slos, replicas, &interval, interval_d));
}

async fn run(slos: usize, n: usize, interval: &str, every: Duration) {
    println!("replicas: {slos} SLOs, {n} replicas, --interval {interval}");
    let (prom, _series) = seeded_prometheus().await;
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("dir");
    let catalog_dir = dir.path().join("catalog");
    std::fs::create_dir_all(&catalog_dir).expect("dir");
    std::fs::write(catalog_dir.join("slos.yaml"), catalog(slos)).expect("catalog");
    let started = Instant::now();
    let mut group: Vec<Replica> = (0..n)
        .map(|k| {
            let log = dir.path().join(format!("r{k}.log"));
            Replica::start_every(&catalog_dir, &prom.url(), db.url(), log, interval)
        })
        .collect();
    let read = |r: &Replica| std::fs::read_to_string(&r.log).unwrap_or_default();
    // Backfilled and owned: every replica has finished a cycle with nothing
    // backfilling, after every SLO got its lease.
    wait_until(
        "every SLO backfilled and owned",
        Duration::from_secs(3600),
        || async {
            leases(&db).await.len() == slos
                && group.iter().all(|r| {
                    cycles(&read(r))
                        .iter()
                        .rev()
                        .take(1)
                        .any(|&(_, backfilling, _)| backfilling == 0)
                })
        },
    )
    .await;
    println!(
        "backfill of {slos} SLOs on {n} replicas: {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let seen: Vec<usize> = group.iter().map(|r| cycles(&read(r)).len()).collect();
    wait_until(
        "three steady cycles",
        6 * every + Duration::from_secs(60),
        || async {
            group
                .iter()
                .zip(&seen)
                .all(|(r, &s)| cycles(&read(r)).len() >= s + 3)
        },
    )
    .await;
    println!("| replica | SLOs run | steady cycle, ms (3 cycles) |");
    println!("|---|---|---|");
    for (k, (r, &s)) in group.iter().zip(&seen).enumerate() {
        let steady = cycles(&read(r))[s..s + 3].to_vec();
        let times: Vec<String> = steady.iter().map(|c| c.2.to_string()).collect();
        println!("| {k} | {} | {} |", steady[2].0, times.join(", "));
    }

    // Failover of the first replica.
    let store = burnrate::store::Store::connect(db.url())
        .await
        .expect("store");
    let members = store.members().await.expect("members");
    let victim = members
        .iter()
        .find(|m| m.pid == group[0].pid())
        .expect("its row")
        .id;
    let owned: BTreeSet<String> = leases(&db)
        .await
        .into_iter()
        .filter(|(_, (owner, _))| *owner == victim)
        .map(|(slo, _)| slo)
        .collect();
    let pool = db.pool().await;
    let last_heartbeat: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select heartbeat_at from replicas where id = $1")
            .bind(victim)
            .fetch_one(&pool)
            .await
            .expect("heartbeat");
    group[0].kill();
    let killed_at = chrono::Utc::now();
    wait_until(
        "its leases taken over",
        4 * every + Duration::from_secs(60),
        || async {
            leases(&db)
                .await
                .iter()
                .all(|(slo, (o, _))| !owned.contains(slo) || *o != victim)
        },
    )
    .await;
    let taken = chrono::Utc::now();
    wait_until(
        "its SLOs evaluated by their new owners",
        4 * every + Duration::from_secs(60),
        || async {
            let fresh: i64 = sqlx::query_scalar(
                "select count(*) from slo_status where slo_id = any($1) and updated_at > $2",
            )
            .bind(owned.iter().cloned().collect::<Vec<_>>())
            .bind(taken)
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
            fresh as usize == owned.len()
        },
    )
    .await;
    let evaluated = chrono::Utc::now();
    let secs = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
        (b - a).num_milliseconds() as f64 / 1000.0
    };
    println!(
        "failover of {} SLOs: leases taken {:.1} s after the last heartbeat ({:.1} s after SIGKILL), \
         evaluated by the new owners {:.1} s after the last heartbeat; lease TTL {:.1} s, interval {:.0} s",
        owned.len(),
        secs(last_heartbeat, taken),
        secs(killed_at, taken),
        secs(last_heartbeat, evaluated),
        (every.as_secs_f64() * 0.75).max(3.0),
        every.as_secs_f64()
    );
    drop(group);
}
