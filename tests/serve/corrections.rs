//! Corrections against a real Prometheus and PostgreSQL: minutes inside a
//! correction count neither as good nor as bad, in the SLO window and every
//! alert window, applied retroactively to the stored buckets.

use std::sync::Arc;

use burnrate::evaluation::InstanceStatus;
use burnrate::serve::runtime::SloRuntime;
use chrono::{Datelike, FixedOffset, TimeZone, Utc};
use testkit::synthetic::{DAY, HOUR, Incident, MINUTE, Scenario, exact_increase};
use testkit::{Series, TestDatabase, TestPrometheus};

use super::ingestion::{Seeded, seeded, services, slo};

const BUDGET: f64 = 0.001;

/// Exact events with some buckets left out: `excluded` holds bucket starts
/// `[a, b)`, whose events are those stamped in `(a, b]`.
struct Truth<'a> {
    series: &'a [Series],
    excluded: Vec<(i64, i64)>,
}

impl Truth<'_> {
    fn raw(&self, from: i64, to: i64) -> (f64, f64) {
        let bad = exact_increase(self.series, |get| get("code") == "500", from, to);
        let total = exact_increase(self.series, |_| true, from, to);
        (bad, total)
    }
    /// (bad, total) in `(from, to]`, less the excluded buckets.
    fn events(&self, from: i64, to: i64) -> (f64, f64) {
        let (mut bad, mut total) = self.raw(from, to);
        for &(a, b) in &self.excluded {
            let (a, b) = (a.max(from), b.min(to));
            if a < b {
                let (xb, xt) = self.raw(a, b);
                bad -= xb;
                total -= xt;
            }
        }
        (bad, total)
    }
    fn burn_rate(&self, at: i64, window: i64) -> f64 {
        let (bad, total) = self.events(at - window, at);
        bad / total / BUDGET
    }
}

fn yaml(window: &str, corrections: &str) -> String {
    format!(
        "  - name: availability
    objective: 99.9
    window: {window}
    indicator:
      ratio:
        errors: http_requests_total{{code=\"500\"}}
        total: http_requests_total
{corrections}"
    )
}

fn rfc3339(ms: i64, offset_hours: i32) -> String {
    let offset = FixedOffset::east_opt(offset_hours * 3600).unwrap();
    offset.timestamp_millis_opt(ms).unwrap().to_rfc3339()
}

/// Budget remaining within 0.01 pp of truth, burn rates within 0.1%.
fn check(status: &InstanceStatus, truth: &Truth, at: i64, window: i64) -> f64 {
    let id = &status.id;
    assert_eq!(
        status.evaluated_at,
        Some(Utc.timestamp_millis_opt(at).unwrap()),
        "{id}"
    );
    let remaining = status.error_budget.remaining.expect("budget remaining");
    let exact = 1.0 - truth.burn_rate(at, window);
    assert!(
        (remaining - exact).abs() <= 0.0001,
        "{id}: budget remaining {remaining} vs exact {exact} with the corrected minutes excluded; events {:?} vs exact {:?}",
        status.events,
        truth.events(at - window, at)
    );
    for (name, ms) in [("1h", HOUR), ("6h", 6 * HOUR), ("1d", DAY), ("3d", 3 * DAY)] {
        let got = status.burn_rates[name].expect("burn rate");
        let exact = truth.burn_rate(at, ms);
        assert!(
            (got - exact).abs() <= exact.abs() * 0.001 + 1e-9,
            "{id}: {name} burn rate {got} vs exact {exact}"
        );
    }
    exact
}

/// A correction added after the incidents (one on the minute grid, one off
/// it) changes the budget at the next cycle, from the stored buckets alone:
/// the hours it cuts were compacted in memory and are read back as minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_over_an_incident_restores_the_exact_budget() {
    let Seeded {
        prom: _prom,
        db: _db,
        end,
        scenario,
        series,
        services,
        ..
    } = seeded().await;
    let now = Utc.timestamp_millis_opt(end + 20_000).unwrap();

    let plain = slo(&yaml("7d", "")).remove(0);
    let mut runtime = SloRuntime::claim(Arc::new(plain), &services)
        .await
        .expect("lease");
    runtime.cycle(&services, now).await;
    let uncorrected = Truth {
        series: &series,
        excluded: Vec::new(),
    };
    let status = runtime.statuses().next().unwrap();
    let before = check(status, &uncorrected, end, 7 * DAY);
    assert!(
        status.corrections.is_none(),
        "no corrections, none in the status"
    );

    // The /pay incident six days ago, on the minute grid (written in
    // +02:00), and the /cart one three hours ago, starting 90 s before it.
    let pay = scenario.start + 2 * DAY;
    let cart = end - 3 * HOUR;
    let corrections = format!(
        "    corrections:
      - reason: planned database migration
        start: {}
        duration: 1h
      - reason: known false alarm
        start: {}
        duration: 12m
",
        rfc3339(pay - 5 * MINUTE, 2),
        rfc3339(cart - 90_000, 0),
    );
    let corrected = slo(&yaml("7d", &corrections)).remove(0);
    assert_eq!(corrected.corrections.len(), 2);
    runtime.update_definition(Arc::new(corrected));
    runtime.cycle(&services, now).await;
    // Whole minutes only: 90 s before the /cart incident rounds up to the
    // next minute, 10.5 min after it rounds down.
    let truth = Truth {
        series: &series,
        excluded: vec![
            (pay - 5 * MINUTE, pay + 55 * MINUTE),
            (cart - MINUTE, cart + 10 * MINUTE),
        ],
    };
    let status = runtime.statuses().next().unwrap();
    let after = check(status, &truth, end, 7 * DAY);
    // The status says what the corrections took out, and the budget without them.
    let applied = status.corrections.as_ref().expect("corrections in force");
    let without = applied.budget_remaining_without.expect("a budget");
    assert!(
        (without - before).abs() <= 0.0001,
        "budget without corrections {without} vs exact {before}"
    );
    let (bad, total) = uncorrected.raw(end - 7 * DAY, end);
    let (kept_bad, kept_total) = truth.events(end - 7 * DAY, end);
    let excluded = applied.excluded;
    assert!(
        (excluded.total - (total - kept_total)).abs() < 0.5
            && ((excluded.total - excluded.good) - (bad - kept_bad)).abs() < 0.5,
        "excluded {excluded:?} vs exact bad {} total {}",
        bad - kept_bad,
        total - kept_total
    );
    assert!(
        after - before > 0.05,
        "the corrections must matter here: {before} before, {after} after"
    );
}

/// A weekly correction, written in -05:00 on the local weekday, excludes
/// every occurrence inside a 21-day window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_correction_excludes_every_occurrence() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = testkit::now_ms() / MINUTE * MINUTE - 10 * MINUTE;
    // 03:00 UTC, 22:00 the day before in -05:00: the weekdays differ.
    let first = (end - 20 * DAY) / DAY * DAY + 3 * HOUR;
    let mut incidents: Vec<Incident> = (0..3)
        .map(|k| Incident {
            from: first + k * 7 * DAY,
            to: first + k * 7 * DAY + 90 * MINUTE,
            route: "/pay",
            error_ratio: 0.4,
        })
        .collect();
    incidents.push(Incident {
        from: end - 2 * DAY,
        to: end - 2 * DAY + 30 * MINUTE,
        route: "/cart",
        error_ratio: 0.02,
    });
    let scenario = Scenario {
        start: end - 22 * DAY,
        end,
        scrape: 60_000,
        incidents,
        outages: Vec::new(),
        restarts: Vec::new(),
        late_routes: Vec::new(),
    };
    let series = scenario.series();
    prom.remote_write(&series).await;
    let services = services(&prom, &db).await;

    let start = first - 15 * MINUTE;
    let local = FixedOffset::east_opt(-5 * 3600)
        .unwrap()
        .timestamp_millis_opt(start)
        .unwrap();
    assert_ne!(
        local.weekday(),
        Utc.timestamp_millis_opt(start).unwrap().weekday()
    );
    let day =
        ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][local.weekday().num_days_from_monday() as usize];
    let corrections = format!(
        "    corrections:
      - reason: weekly maintenance
        start: {}
        duration: 2h
        repeat: FREQ=WEEKLY;BYDAY={day}
",
        rfc3339(start, -5)
    );
    let slo = slo(&yaml("21d", &corrections)).remove(0);
    let mut runtime = SloRuntime::claim(Arc::new(slo), &services)
        .await
        .expect("lease");
    let truth = Truth {
        series: &series,
        excluded: (0..3)
            .map(|k| (start + k * 7 * DAY, start + k * 7 * DAY + 2 * HOUR))
            .collect(),
    };
    // Right after the last occurrence, then at the end.
    for at in [first + 14 * DAY + 30 * MINUTE, end] {
        let now = Utc.timestamp_millis_opt(at + 20_000).unwrap();
        runtime.cycle(&services, now).await;
        let after = check(runtime.statuses().next().unwrap(), &truth, at, 21 * DAY);
        let uncorrected = Truth {
            series: &series,
            excluded: Vec::new(),
        };
        let (bad, total) = uncorrected.events(at - 21 * DAY, at);
        let before = 1.0 - bad / total / BUDGET;
        assert!(
            after - before > 0.1,
            "every occurrence must matter: {before} without, {after} with the correction"
        );
    }
}
