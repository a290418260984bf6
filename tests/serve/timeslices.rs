//! Timeslice budgeting against a real Prometheus and PostgreSQL: the budget
//! and burn rates count good and bad slices, equal to exact truth computed
//! slice by slice from the raw samples.

use std::collections::HashMap;
use std::sync::Arc;

use burnrate::api::view::SloStatus;
use burnrate::evaluation::InstanceStatus;
use burnrate::serve::runtime::SloRuntime;
use burnrate::ui::detail::{Detail, render};
use burnrate::ui::format;
use chrono::{TimeZone, Utc};
use testkit::Series;
use testkit::synthetic::{DAY, HOUR, MINUTE};

use super::ingestion::{Seeded, seeded, slo};

/// Exact (bad, total) events per bucket start `m` (stamped in `(m, m + 1m]`),
/// as `exact_increase` counts them: the increase between consecutive
/// samples, the new value after a reset.
fn exact_minutes(series: &[Series]) -> HashMap<i64, (f64, f64)> {
    let mut out: HashMap<i64, (f64, f64)> = HashMap::new();
    for s in series {
        let bad = s.labels.iter().any(|(k, v)| k == "code" && v == "500");
        for pair in s.samples.windows(2) {
            let ((_, prev), (ts, value)) = (pair[0], pair[1]);
            let increase = if value >= prev { value - prev } else { value };
            let minute = out.entry((ts - 1).div_euclid(MINUTE) * MINUTE).or_default();
            minute.1 += increase;
            if bad {
                minute.0 += increase;
            }
        }
    }
    out
}

/// Slices judged from the raw samples: `[start, start + slice)` bucket
/// starts on the UTC grid, events stamped in `(start, start + slice]`.
struct SliceTruth<'a> {
    minutes: &'a HashMap<i64, (f64, f64)>,
    slice: i64,
    target: f64,
    budget: f64,
    /// Bucket starts `[a, b)` corrections exclude (already on the grid).
    excluded: Vec<(i64, i64)>,
}

impl SliceTruth<'_> {
    /// (good slices, counted slices) among the whole slices in `[from, to)`.
    fn slices(&self, from: i64, to: i64) -> (f64, f64) {
        let first = (from + self.slice - 1).div_euclid(self.slice) * self.slice;
        let last = to.div_euclid(self.slice) * self.slice;
        let (mut good, mut counted) = (0.0, 0.0);
        let mut start = first;
        while start < last {
            let end = start + self.slice;
            start = end;
            if self
                .excluded
                .iter()
                .any(|&(a, b)| a < end && b > end - self.slice)
            {
                continue;
            }
            let (mut bad, mut total) = (0.0, 0.0);
            for m in (end - self.slice..end).step_by(MINUTE as usize) {
                let (b, t) = self.minutes.get(&m).copied().unwrap_or_default();
                bad += b;
                total += t;
            }
            if total > 0.0 {
                counted += 1.0;
                if (total - bad) / total >= self.target {
                    good += 1.0;
                }
            }
        }
        (good, counted)
    }

    fn burn_rate(&self, at: i64, window: i64) -> f64 {
        let (good, counted) = self.slices(at - window, at);
        (counted - good) / counted / self.budget
    }
}

/// Events are slices, the budget and every burn rate exact.
fn check(status: &InstanceStatus, truth: &SliceTruth, at: i64) {
    let id = &status.id;
    assert_eq!(
        status.evaluated_at,
        Some(Utc.timestamp_millis_opt(at).unwrap()),
        "{id}"
    );
    let sliced = status.timeslices.as_ref().expect("the status says slices");
    assert_eq!(sliced.slice_target, truth.target, "{id}");
    let (good, counted) = truth.slices(at - 7 * DAY, at);
    assert_eq!(
        (status.events.good, status.events.total),
        (good, counted),
        "{id}: good and counted slices over the window"
    );
    let remaining = status.error_budget.remaining.expect("budget remaining");
    let exact = 1.0 - truth.burn_rate(at, 7 * DAY);
    assert!(
        (remaining - exact).abs() <= 1e-9,
        "{id}: budget remaining {remaining} vs exact {exact}"
    );
    for (name, ms) in [("1h", HOUR), ("6h", 6 * HOUR), ("1d", DAY), ("3d", 3 * DAY)] {
        let got = status.burn_rates[name].expect("burn rate");
        let exact = truth.burn_rate(at, ms);
        assert!(
            (got - exact).abs() <= 1e-9,
            "{id}: {name} burn rate {got} vs exact {exact}"
        );
    }
}

fn yaml(budgeting: &str, corrections: &str) -> String {
    format!(
        "  - name: availability
    objective: 99
    window: 7d
    indicator:
      ratio:
        errors: http_requests_total{{code=\"500\"}}
        total: http_requests_total
{budgeting}{corrections}"
    )
}

/// One-minute slices after the SLO switches from events (its stored minutes
/// are judged again), then five-minute slices with a correction, evaluated
/// mid-slice: the current slice waits until it is complete, and the slices
/// the correction touches are left out whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeslice_budgets_equal_exact_truth_slice_by_slice() {
    let Seeded {
        prom: _prom,
        db: _db,
        end,
        series,
        services,
        ..
    } = seeded().await;
    let minutes = exact_minutes(&series);

    let counted = slo(&yaml("", "")).remove(0);
    let mut runtime = SloRuntime::claim(Arc::new(counted), &services)
        .await
        .expect("lease");
    let early = end - 2 * HOUR - 3 * MINUTE;
    runtime
        .cycle(&services, Utc.timestamp_millis_opt(early + 20_000).unwrap())
        .await;
    let status = runtime.statuses().next().unwrap();
    assert!(
        status.timeslices.is_none(),
        "events until budgeting says otherwise"
    );
    let events_total = status.events.total;

    let one_minute = slo(&yaml(
        "    budgeting: {method: timeslices, slice: 1m, slice_target: 99}\n",
        "",
    ))
    .remove(0);
    runtime.update_definition(Arc::new(one_minute));
    let at = end - 2 * HOUR;
    runtime
        .cycle(&services, Utc.timestamp_millis_opt(at + 20_000).unwrap())
        .await;
    let truth = SliceTruth {
        minutes: &minutes,
        slice: MINUTE,
        target: 0.99,
        budget: 0.01,
        excluded: Vec::new(),
    };
    let status = runtime.statuses().next().unwrap();
    check(status, &truth, at);
    assert!(
        status.events.total < events_total / 10.0,
        "slices, not events: {} slices against {events_total} events",
        status.events.total
    );
    let (good, counted) = truth.slices(at - 7 * DAY, at);
    assert!(
        counted - good >= 45.0,
        "the incidents must make bad slices: {good} good of {counted}"
    );

    // The /cart incident three hours before the end, corrected from 90 s
    // before it for 12 minutes: the 5-minute slices it touches go, whole.
    let cart = end - 3 * HOUR;
    let from = cart - 90_000;
    let corrections = format!(
        "    corrections:
      - reason: known false alarm
        start: {}
        duration: 12m
",
        Utc.timestamp_millis_opt(from).unwrap().to_rfc3339()
    );
    let five_minutes = slo(&yaml(
        "    budgeting: {method: timeslices, slice: 5m, slice_target: 99.5}\n",
        &corrections,
    ))
    .remove(0);
    runtime.update_definition(Arc::new(five_minutes));
    // `end` may fall anywhere in a slice; evaluate where the current slice is
    // incomplete (unless `end` is on the grid, then one minute past it).
    let at = if end % (5 * MINUTE) == 0 {
        end - 4 * MINUTE
    } else {
        end
    };
    runtime
        .cycle(&services, Utc.timestamp_millis_opt(at + 20_000).unwrap())
        .await;
    let slice = 5 * MINUTE;
    let a = (from.div_euclid(MINUTE) + 1) * MINUTE;
    let truth = SliceTruth {
        minutes: &minutes,
        slice,
        target: 0.995,
        budget: 0.01,
        excluded: vec![(
            a.div_euclid(slice) * slice,
            (a + 12 * MINUTE - MINUTE + slice - 1).div_euclid(slice) * slice,
        )],
    };
    let status = runtime.statuses().next().unwrap();
    check(status, &truth, at);
    let applied = status.corrections.as_ref().expect("corrections in force");
    assert!(applied.excluded.total >= 2.0, "{applied:?}");
    let uncorrected = SliceTruth {
        excluded: Vec::new(),
        ..truth
    };
    let without = applied.budget_remaining_without.expect("a budget");
    let exact = 1.0 - uncorrected.burn_rate(at, 7 * DAY);
    assert!(
        (without - exact).abs() <= 1e-9,
        "budget without corrections {without} vs exact {exact}"
    );
    assert!(without < status.error_budget.remaining.unwrap());

    // The SLO's page counts slices, and says what the corrections excluded.
    let view = SloStatus::of(status);
    let now = Utc.timestamp_millis_opt(at).unwrap();
    let page = render(&Detail {
        status: &view,
        definition: None,
        window_start: now - chrono::Duration::days(7),
        window_end: now,
        range: None,
        now,
        history: &[],
        history_unavailable: false,
        step_ms: MINUTE,
        transitions: None,
        prometheus: None,
    })
    .into_string();
    for shown in [
        format!("of {} 5m slices", format::count(view.events.total)),
        "Bad 5m slices left".to_string(),
        "5m slices, each good at 99.5% good events".to_string(),
        format!(
            "excluded {} 5m slices",
            format::count(applied.excluded.total)
        ),
        format!("without them {} of the budget", format::percent(without)),
    ] {
        assert!(page.contains(&shown), "{shown:?} not on the page");
    }
    assert!(!page.contains("Bad events left"), "events, not slices");
}
