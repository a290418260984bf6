//! Numbers and times as the pages print them. Pure, so every page (and the
//! tests) spell a budget or a burn rate the same way.

use chrono::{DateTime, Utc};

use crate::api::view::{Budgeting, BudgetingMethod};

/// A ratio as a percentage with up to `decimals` decimals, trailing zeros
/// dropped: `0.999` → `99.9%`, `-0.35` → `-35%`.
pub fn percent_with(ratio: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, ratio * 100.0);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    // `-0` reads as a sign error.
    let text = if text == "-0" { "0" } else { text };
    format!("{text}%")
}

/// A budget or an error ratio: one decimal is enough to compare at a glance.
pub fn percent(ratio: f64) -> String {
    percent_with(ratio, 1)
}

/// An objective: as many decimals as it has (up to the 7 the catalog keeps).
pub fn objective(ratio: f64) -> String {
    percent_with(ratio, 5)
}

/// A burn rate: `0.12×`, `3.4×`, `14×`, `1200×`.
pub fn burn(rate: f64) -> String {
    let digits = if rate.abs() < 10.0 {
        2
    } else if rate.abs() < 100.0 {
        1
    } else {
        0
    };
    let text = format!("{rate:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}×")
}

/// An optional number, or an em dash when there is none.
pub fn or_dash(value: Option<f64>, format: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "—".to_string(), format)
}

/// A count of events: `1,234,567`, rounded to whole events.
pub fn count(value: f64) -> String {
    let rounded = value.round();
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// What an SLO's budget counts, in the plural: `events`, or under
/// timeslice budgeting `1m slices` (its figures count slices, not events).
pub fn counted(budgeting: &Budgeting) -> String {
    match (budgeting.method, &budgeting.slice) {
        (BudgetingMethod::Timeslices, Some(slice)) => format!("{slice} slices"),
        (BudgetingMethod::Timeslices, None) => "slices".to_string(),
        (BudgetingMethod::Occurrences, _) => "events".to_string(),
    }
}

/// How an SLO's budget counts, in words: `events`, or `1m slices, each good
/// at 99% good events`.
pub fn budgeting(budgeting: &Budgeting) -> String {
    match budgeting.slice_target {
        Some(target) if budgeting.method == BudgetingMethod::Timeslices => format!(
            "{}, each good at {} good events",
            counted(budgeting),
            objective(target)
        ),
        _ => counted(budgeting),
    }
}

/// An instant, to the minute, in UTC: `2026-11-30 14:05 UTC`.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The machine-readable form for `<time datetime>`.
pub fn datetime(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A span in its two largest units: `3d 4h`, `2h 5m`, `45s`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// How far `at` lies from `now`: `in 3d 4h` or `2h 5m ago`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (at - now).num_seconds();
    if seconds >= 0 {
        format!("in {}", span(seconds))
    } else {
        format!("{} ago", span(-seconds))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn what_a_budget_counts() {
        let method = |method, slice: Option<&str>, slice_target| Budgeting {
            method,
            slice: slice.map(str::to_string),
            slice_target,
        };
        #[rustfmt::skip]
        let cases = [
            (method(BudgetingMethod::Occurrences, None, None),             "events",      "events"),
            (method(BudgetingMethod::Timeslices, Some("5m"), Some(0.99)),  "5m slices",   "5m slices, each good at 99% good events"),
            (method(BudgetingMethod::Timeslices, None, None),              "slices",      "slices"),
        ];
        for (b, unit, words) in cases {
            assert_eq!(
                (counted(&b), budgeting(&b)),
                (unit.to_string(), words.to_string())
            );
        }
    }

    #[test]
    fn numbers() {
        #[rustfmt::skip]
        let cases = [
            (percent(0.4213), "42.1%"), (percent(1.0), "100%"), (percent(-0.35), "-35%"),
            (percent(-0.0001), "0%"), (percent(0.0), "0%"),
            (objective(0.999), "99.9%"), (objective(0.99995), "99.995%"), (objective(0.95), "95%"),
            (burn(0.123), "0.12×"), (burn(14.4), "14.4×"), (burn(1.0), "1×"), (burn(1234.6), "1235×"),
            (count(1234567.4), "1,234,567"), (count(999.0), "999"), (count(-1000.0), "-1,000"),
            (or_dash(None, percent), "—"), (or_dash(Some(0.5), percent), "50%"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn times_and_spans() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 30, 14, 5, 59)
            .single()
            .expect("time");
        assert_eq!(time(now), "2026-11-30 14:05 UTC");
        assert_eq!(datetime(now), "2026-11-30T14:05:59Z");
        #[rustfmt::skip]
        let cases = [(0, "0s"), (45, "45s"), (300, "5m"), (7_500, "2h 5m"), (7_200, "2h"),
                     (86_400, "1d"), (273_600, "3d 4h"), (-5, "0s")];
        for (seconds, want) in cases {
            assert_eq!(span(seconds), want, "{seconds}");
        }
        let later = now + chrono::Duration::seconds(273_600);
        assert_eq!(relative(later, now), "in 3d 4h");
        assert_eq!(relative(now, later), "3d 4h ago");
    }
}
