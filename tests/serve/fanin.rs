//! Fan-in of Prometheus reads: SLOs whose selectors share a metric are read
//! with one union query per cycle, the series handed to each SLO by local
//! matching. Selectors of every shape (`=`, `!=`, `=~`, `!~`, an empty
//! value, SLOs overlapping on the same series) must store exactly the
//! buckets they store when each SLO queries Prometheus itself, and budgets
//! equal to exact truth.

use std::sync::Arc;

use burnrate::catalog::Slo;
use burnrate::health;
use burnrate::ingest::prefetch::{FanInMemory, FanInStats};
use burnrate::serve::backfill::{backfill_together, enrol};
use burnrate::serve::cycle::cycle_together;
use burnrate::serve::runtime::BackfillProgress;
use burnrate::serve::runtime::{Services, SloRuntime};
use burnrate::store::StoredHour;
use chrono::{TimeZone, Utc};
use testkit::synthetic::{DAY, HOUR, MINUTE, exact_increase};
use testkit::{Series, TestDatabase, TestPrometheus};

use super::ingestion::{all_buckets, scenario, services, slo};

fn ratio(name: &str, errors: &str, total: &str, extra: &str) -> String {
    format!(
        "  - name: {name}
    objective: 99.9
    window: 7d{extra}
    indicator:
      ratio:
        errors: '{errors}'
        total: '{total}'
"
    )
}

type Keep = fn(&dyn Fn(&str) -> String) -> bool;

/// (name, errors, total, which series are errors, which count in the total).
#[rustfmt::skip]
const SHAPES: [(&str, &str, &str, Keep, Keep); 6] = [
    ("eq", r#"http_requests_total{route="/pay",code="500"}"#, r#"http_requests_total{route="/pay"}"#,
        |l| l("route") == "/pay" && l("code") == "500", |l| l("route") == "/pay"),
    ("neq", r#"http_requests_total{route!="/pay",code="500"}"#, r#"http_requests_total{route!="/pay"}"#,
        |l| l("route") != "/pay" && l("code") == "500", |l| l("route") != "/pay"),
    ("regex", r#"http_requests_total{route=~"/ca.*|/new",code=~"5.."}"#, r#"http_requests_total{route=~"/ca.*|/new"}"#,
        |l| l("route") != "/pay" && l("code") == "500", |l| l("route") != "/pay"),
    ("not-regex", r#"http_requests_total{route!~"/ca.*",code!~"2.."}"#, r#"http_requests_total{route!~"/ca.*"}"#,
        |l| l("route") != "/cart" && l("code") == "500", |l| l("route") != "/cart"),
    // Only instance i1's series carry `tier`: an empty value selects i2's.
    ("no-tier", r#"http_requests_total{tier="",code="500"}"#, r#"http_requests_total{tier=""}"#,
        |l| l("instance") == "i2" && l("code") == "500", |l| l("instance") == "i2"),
    ("some-tier", r#"http_requests_total{tier!="",code="500"}"#, r#"http_requests_total{tier!=""}"#,
        |l| l("instance") == "i1" && l("code") == "500", |l| l("instance") == "i1"),
];

/// SLOs whose every selector constrains `route` positively: the union merges
/// their values into one anchored regex.
#[rustfmt::skip]
const ROUTES: [(&str, &str, &str); 3] = [
    ("cart", r#"http_requests_total{route="/cart",code="500"}"#, r#"http_requests_total{route="/cart"}"#),
    ("pay", r#"http_requests_total{route="/pay",code="500"}"#, r#"http_requests_total{route="/pay"}"#),
    ("new", r#"http_requests_total{route=~"/ne.",code="500"}"#, r#"http_requests_total{route=~"/ne."}"#),
];

fn catalog() -> (Vec<Slo>, Vec<Slo>) {
    let mut shapes: String = SHAPES
        .iter()
        .map(|(name, errors, total, _, _)| ratio(name, errors, total, ""))
        .collect();
    // Overlapping every other SLO's series, one instance per route.
    shapes += &ratio(
        "by-route",
        r#"http_requests_total{code="500"}"#,
        "http_requests_total",
        "\n    group_by: [route]",
    );
    let routes: String = ROUTES
        .iter()
        .map(|(name, errors, total)| ratio(&format!("route-{name}"), errors, total, ""))
        .collect();
    (slo(&shapes), slo(&routes))
}

async fn claim_all(slos: &[Slo], services: &Services) -> Vec<(usize, SloRuntime)> {
    let mut out = Vec::new();
    for (i, s) in slos.iter().enumerate() {
        let runtime = SloRuntime::claim(Arc::new(s.clone()), services).await;
        out.push((i, runtime.expect("lease")));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanned_in_reads_store_what_separate_reads_store() {
    let prom = TestPrometheus::start().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series: Vec<Series> = scenario(end)
        .series()
        .into_iter()
        .map(|mut s| {
            if s.labels.iter().any(|(k, v)| k == "instance" && v == "i1") {
                s.labels.push(("tier".into(), "gold".into()));
            }
            s
        })
        .collect();
    prom.remote_write(&series).await;
    let (fanned_db, alone_db) = (TestDatabase::create().await, TestDatabase::create().await);
    let fanned = Arc::new(services(&prom, &fanned_db).await);
    let alone = services(&prom, &alone_db).await;
    let (shapes, routes) = catalog();

    let mut groups = [
        claim_all(&shapes, &fanned).await,
        claim_all(&routes, &fanned).await,
    ];
    let mut separate = claim_all(&[shapes.clone(), routes.clone()].concat(), &alone).await;
    let at = |t: i64| Utc.timestamp_millis_opt(t + 20_000).unwrap();
    // The first cycle backfills, SLO by SLO; the later ones are fanned in.
    let times = [end - 3 * HOUR, end - 2 * HOUR, end - HOUR + 7 * MINUTE, end];
    for (_, runtime) in groups.iter_mut().flatten() {
        runtime.cycle(&fanned, at(times[0])).await;
    }
    for (_, runtime) in &mut separate {
        runtime.cycle(&alone, at(times[0])).await;
    }
    let mut fanin = FanInMemory::default();
    let mut stats = [FanInStats::default(); 2];
    for &t in &times[1..] {
        for (group, stats) in groups.iter_mut().zip(&mut stats) {
            let runtimes = std::mem::take(group);
            let (cycled, got) = cycle_together(&fanned, runtimes, at(t), &mut fanin, 4).await;
            *group = cycled;
            *stats = got;
        }
        for (_, runtime) in &mut separate {
            runtime.cycle(&alone, at(t)).await;
        }
    }

    // Every read was served by a union: one query per read kind (raw samples).
    for (what, s) in ["every shape", "one label merged"].iter().zip(stats) {
        assert_eq!(s.union_queries, 1, "{what}: {s:?}");
        assert_eq!(s.served, s.distinct_reads, "{what}: {s:?}");
        assert!(s.reads >= 6, "{what}: {s:?}");
    }
    // `by-route` selects every series, so the union wastes none.
    assert_eq!(stats[0].series_returned, series.len(), "{:?}", stats[0]);
    assert_eq!(stats[0].series_used, series.len());
    // The merged regex reads exactly the three routes' series, all of them.
    assert_eq!(stats[1].series_returned, stats[1].series_used);

    let (got, want) = (all_buckets(&fanned_db).await, all_buckets(&alone_db).await);
    assert!(want.len() > 8 * 24, "{} hours stored", want.len());
    assert_same_hours(&got, &want, "fanned-in buckets equal separately read ones");

    let last = *times.last().unwrap();
    let window = 7 * DAY;
    let mut checked = 0;
    for (_, runtime) in &groups[0] {
        let id = runtime.slo().id.to_string();
        let Some((name, _, _, errors, total)) =
            SHAPES.iter().find(|s| id == format!("shop/{}", s.0))
        else {
            continue;
        };
        checked += 1;
        let bad = exact_increase(&series, errors, last - window, last);
        let all = exact_increase(&series, total, last - window, last);
        let status = runtime.statuses().next().expect("one instance");
        assert_eq!(status.events.total, all, "{name} total");
        assert_eq!(status.events.bad(), bad, "{name} bad events");
    }
    assert_eq!(checked, SHAPES.len());
}

/// Backfills fanned in: SLOs enrolled together read each chunk with one
/// union query per metric and store the same buckets as SLOs that backfill
/// alone, reading Prometheus themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanned_in_backfills_store_what_separate_backfills_store() {
    let prom = TestPrometheus::start().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    let series = scenario(end).series();
    prom.remote_write(&series).await;
    let (fanned_db, alone_db) = (TestDatabase::create().await, TestDatabase::create().await);
    let fanned = Arc::new(services(&prom, &fanned_db).await);
    let alone = services(&prom, &alone_db).await;
    let (shapes, routes) = catalog();
    let slos = [shapes, routes].concat();

    let mut tickets = Vec::new();
    let mut enrolled = Vec::new();
    for (_, runtime) in claim_all(&slos, &fanned).await {
        let (member, ticket) = enrol(runtime, BackfillProgress::default());
        enrolled.push(member);
        tickets.push(ticket);
    }
    let unions_before = health::read(&health::FANIN_UNION_QUERIES);
    backfill_together(Arc::clone(&fanned), enrolled, 4).await;
    for ticket in tickets {
        let (runtime, ok) = ticket.done.await.expect("handed back");
        assert!(ok, "{} backfilled", runtime.slo().id);
    }
    let unions = health::read(&health::FANIN_UNION_QUERIES) - unions_before;
    for (_, mut runtime) in claim_all(&slos, &alone).await {
        runtime.cycle(&alone, Utc::now()).await;
    }

    // A week and a day of 3-day-or-longer history in chunks of at most a
    // day: every chunk of every SLO came from a handful of unions.
    assert!((8..=40).contains(&unions), "{unions} union queries");
    let comparable = |hours: Vec<StoredHour>| -> Vec<StoredHour> {
        let first = hours.iter().map(|h| h.hour).min().expect("hours");
        // A quiet minute is stored as zero or not at all depending on where
        // a chunk began; sums read both as zero, so both compare as absent.
        hours
            .into_iter()
            .filter(|h| {
                let t = h.hour.timestamp_millis();
                t > first.timestamp_millis() + HOUR && t + HOUR <= end
            })
            .map(|mut h| {
                for m in &mut h.minutes {
                    if m.is_some_and(|c| c.good == 0.0 && c.total == 0.0) {
                        *m = None;
                    }
                }
                h
            })
            .filter(|h| h.minutes.iter().any(Option::is_some))
            .collect()
    };
    let (got, want) = (
        comparable(all_buckets(&fanned_db).await),
        comparable(all_buckets(&alone_db).await),
    );
    assert!(want.len() > 8 * 24, "{} hours compared", want.len());
    assert_same_hours(&got, &want, "fanned-in backfill equals separate backfills");
}

/// Equal stored hours, or the first difference named.
fn assert_same_hours(got: &[StoredHour], want: &[StoredHour], what: &str) {
    let key = |h: &StoredHour| (h.instance.clone(), h.hour);
    for (a, b) in got.iter().zip(want) {
        assert!(
            a == b,
            "{what}: first difference at {:?} / {:?}:\n{:?}\n{:?}",
            key(a),
            key(b),
            a.minutes,
            b.minutes
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: hours stored");
}
