use std::path::Path;

use super::*;
use crate::catalog;

#[test]
fn periods_are_months_and_quarters_in_utc() {
    let t = |s: &str| utc(DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis());
    let cases = [
        (
            "2026-11",
            Ok((t("2026-11-01T00:00:00Z"), t("2026-12-01T00:00:00Z"))),
        ),
        (
            "2026-12",
            Ok((t("2026-12-01T00:00:00Z"), t("2027-01-01T00:00:00Z"))),
        ),
        (
            "2026-Q4",
            Ok((t("2026-10-01T00:00:00Z"), t("2027-01-01T00:00:00Z"))),
        ),
        (
            "2026-q1",
            Ok((t("2026-01-01T00:00:00Z"), t("2026-04-01T00:00:00Z"))),
        ),
        ("2026-13", Err(())),
        ("2026-Q5", Err(())),
        ("2026-1", Err(())),
        ("26-11", Err(())),
        ("november", Err(())),
    ];
    for (text, want) in cases {
        match (parse_period(text), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
            (Err(e), Err(())) => assert!(e.contains(text) && e.contains("2026-Q4"), "{e}"),
            (got, want) => panic!("{text}: {got:?} vs {want:?}"),
        }
    }
}

fn slo(extra: &str) -> Slo {
    let source = format!(
        "version: burnrate/v1\nservice: s\nslos:\n  - name: a\n    objective: 99\n    alerting: {{enabled: false}}\n    indicator:\n      ratio: {{errors: e, total: t}}\n{extra}"
    );
    match catalog::load_str(Path::new("t.yaml"), &source).into_result() {
        Ok(mut c) => std::sync::Arc::unwrap_or_clone(c.slos.remove(0)),
        Err(d) => panic!("{d:?}"),
    }
}

/// 2026-11-02T00:00:00Z, a Monday.
const MONDAY: i64 = 1_793_577_600_000;
const DAY: i64 = 24 * HOUR_MS;

/// Ten days of hours, 100 events a minute, 10 bad in every minute of the
/// third hour of each day.
fn hours() -> Vec<(i64, [EventCounts; 60])> {
    (0..240)
        .map(|h| {
            let bad = if h % 24 == 2 { 10.0 } else { 0.0 };
            (
                MONDAY + h * HOUR_MS,
                [EventCounts::from_bad(bad, 100.0); 60],
            )
        })
        .collect()
}

#[test]
fn figures_sum_the_period_by_week_and_rank_the_worst_hours() {
    let f = figures(&slo(""), hours(), &[], MONDAY, MONDAY + 10 * DAY);
    let total = 240.0 * 60.0 * 100.0;
    let bad = 10.0 * 60.0 * 10.0;
    assert_eq!(f.period, EventCounts::from_bad(bad, total));
    let spent = bad / (0.01 * total);
    assert!((f.budget_spent.unwrap() - spent).abs() < 1e-12);
    // Two weeks: 7 days, then 3; their shares add up to the whole.
    assert_eq!(f.weeks.len(), 2);
    assert_eq!((f.weeks[0].0, f.weeks[1].0), (MONDAY, MONDAY + 7 * DAY));
    assert_eq!(f.weeks[0].1.bad(), 7.0 * 600.0);
    let shares: f64 = f.weeks.iter().map(|w| w.2.unwrap()).sum();
    assert!((shares - spent).abs() < 1e-12);
    // The five worst hours are the first five bad ones (ties oldest first).
    assert_eq!(f.worst_hours.len(), WORST_HOURS);
    assert_eq!(f.worst_hours[0].0, MONDAY + 2 * HOUR_MS);
    assert_eq!(f.worst_hours[1].0, MONDAY + DAY + 2 * HOUR_MS);
    assert_eq!(f.worst_hours[0].1.bad(), 600.0);
}

#[test]
fn corrections_leave_their_minutes_out_and_say_what_they_took() {
    let c = |start: &str, duration: &str, repeat: &str| {
        SourcedCorrection {
        correction: slo(&format!(
            "    corrections:\n      - {{reason: r, start: '{start}', duration: {duration}{repeat}}}\n"
        ))
        .corrections
        .remove(0),
        source: "catalog",
    }
    };
    // Every day's bad hour, by a daily repeat.
    let daily = c("2026-11-02T02:00:00Z", "1h", ", repeat: FREQ=DAILY");
    let f = figures(&slo(""), hours(), &[daily], MONDAY, MONDAY + 10 * DAY);
    assert_eq!(f.period.bad(), 0.0);
    assert_eq!(f.period.total, 230.0 * 6000.0);
    assert!(f.worst_hours.is_empty());
    let applied = &f.corrections[0];
    assert_eq!((applied.occurrences, applied.minutes), (10, 600.0));
    assert_eq!(
        (
            applied.excluded_total,
            applied.excluded_total - applied.excluded_good
        ),
        (60_000.0, 6_000.0)
    );
    // One outside the period is not listed.
    let before = c("2026-10-01T00:00:00Z", "1h", "");
    let f = figures(&slo(""), hours(), &[before], MONDAY, MONDAY + 10 * DAY);
    assert!(f.corrections.is_empty());
}

#[test]
fn under_timeslices_the_report_counts_slices() {
    let sliced = slo("    budgeting: {method: timeslices, slice: 1m, slice_target: 95}\n");
    let f = figures(&sliced, hours(), &[], MONDAY, MONDAY + 10 * DAY);
    // A bad minute is 10% bad: below 95%, so 60 bad slices a day.
    assert_eq!(f.period, EventCounts::from_bad(600.0, 14_400.0));
    assert_eq!(f.worst_hours[0].1, EventCounts::from_bad(60.0, 60.0));
}

#[test]
fn weeks_start_on_mondays() {
    assert_eq!(next_week(MONDAY), MONDAY + 7 * DAY);
    assert_eq!(next_week(MONDAY - 1), MONDAY);
    assert_eq!(next_week(MONDAY + 3 * DAY), MONDAY + 7 * DAY);
}
