//! Error-budget arithmetic over event counts: SLI, burn rate, budget left and
//! time to exhaustion (REFERENCE.md section 1).
//!
//! Every function takes counts already SUMMED over its window and divides once.
//! Averaging per-interval ratios instead (Sloth's 30d rule) weights a quiet
//! 5-minute slice like a busy one and is biased whenever traffic is uneven.

use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use serde::Serialize;

use super::states::DataState;
use crate::catalog::objective::Objective;
use crate::duration::Duration;

/// Good and total events over one window (f64: `increase()` returns fractions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct EventCounts {
    pub good: f64,
    pub total: f64,
}

impl EventCounts {
    /// Counts from good and total events.
    pub const fn new(good: f64, total: f64) -> Self {
        EventCounts { good, total }
    }

    /// Counts from bad and total events, for indicators that count errors.
    pub fn from_bad(bad: f64, total: f64) -> Self {
        EventCounts {
            good: total - bad,
            total,
        }
    }

    /// Bad events, never negative: good and total come from two counters
    /// extrapolated separately, so good can slightly exceed total.
    pub fn bad(&self) -> f64 {
        (self.total - self.good).max(0.0)
    }

    /// True when the window holds no events (also for NaN, which means no usable data).
    pub fn is_empty(&self) -> bool {
        self.total.is_nan() || self.total <= 0.0
    }
}

impl Add for EventCounts {
    type Output = EventCounts;
    fn add(self, other: EventCounts) -> EventCounts {
        EventCounts {
            good: self.good + other.good,
            total: self.total + other.total,
        }
    }
}

impl AddAssign for EventCounts {
    fn add_assign(&mut self, other: EventCounts) {
        *self = *self + other;
    }
}

impl Sub for EventCounts {
    type Output = EventCounts;
    fn sub(self, other: EventCounts) -> EventCounts {
        EventCounts {
            good: self.good - other.good,
            total: self.total - other.total,
        }
    }
}

impl SubAssign for EventCounts {
    fn sub_assign(&mut self, other: EventCounts) {
        *self = *self - other;
    }
}

impl Sum for EventCounts {
    fn sum<I: Iterator<Item = EventCounts>>(iter: I) -> EventCounts {
        iter.fold(EventCounts::default(), Add::add)
    }
}

/// SLI, error ratio and burn rate over one window; all `None` without data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowStatus {
    pub events: EventCounts,
    pub data_state: DataState,
    pub sli: Option<f64>,
    pub error_ratio: Option<f64>,
    pub burn_rate: Option<f64>,
}

/// Classifies how much a window's counts can say about an objective.
pub fn data_state(objective: Objective, events: EventCounts) -> DataState {
    if events.is_empty() {
        DataState::NoData
    } else if objective.budget() * events.total < 1.0 {
        DataState::LowTraffic
    } else {
        DataState::Ok
    }
}

/// SLI, error ratio and burn rate of events summed over one window.
pub fn window_status(objective: Objective, events: EventCounts) -> WindowStatus {
    let data_state = data_state(objective, events);
    if data_state == DataState::NoData {
        return WindowStatus {
            events,
            data_state,
            sli: None,
            error_ratio: None,
            burn_rate: None,
        };
    }
    let error_ratio = events.bad() / events.total;
    WindowStatus {
        events,
        data_state,
        // From the clamped bad count, so sli + error_ratio = 1 even if good > total.
        sli: Some((events.total - events.bad()) / events.total),
        error_ratio: Some(error_ratio),
        burn_rate: Some(error_ratio / objective.budget()),
    }
}

/// When the budget runs out at the current burn rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ExhaustionEta {
    /// Nothing is burning (or the current burn rate is unknown).
    Never,
    /// The budget is already spent (remaining <= 0).
    AlreadyExhausted,
    /// Seconds from now until the remaining budget reaches zero.
    In { seconds: f64 },
}

impl ExhaustionEta {
    /// The time left as a std duration, when the budget is still burning down.
    pub fn duration(&self) -> Option<std::time::Duration> {
        match *self {
            ExhaustionEta::In { seconds } => std::time::Duration::try_from_secs_f64(seconds).ok(),
            _ => None,
        }
    }
}

/// The error budget of one SLO window, in ratio, event and time terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BudgetStatus {
    pub window: WindowStatus,
    /// Share of the budget spent (1.0 = all of it); equals the window's burn rate.
    pub consumed: Option<f64>,
    /// `1 - consumed`, negative once overspent: clamping would hide how far over it is.
    pub remaining: Option<f64>,
    /// Bad events the window may hold: `budget * total`.
    pub budget_events: Option<f64>,
    /// `budget_events - bad`, negative once overspent.
    pub remaining_events: Option<f64>,
    /// The budget as "bad minutes" of the window (time-based view): `budget * window`.
    pub budget_minutes: f64,
    /// `remaining * budget_minutes`.
    pub remaining_minutes: Option<f64>,
    pub time_to_exhaustion: Option<ExhaustionEta>,
}

/// The budget of an SLO window of `window_length` holding `events`, with the
/// time left at `current_burn_rate` (the caller's choice, e.g. the 1h rate).
pub fn budget_status(
    objective: Objective,
    window_length: Duration,
    events: EventCounts,
    current_burn_rate: Option<f64>,
) -> BudgetStatus {
    let budget = objective.budget();
    let window = window_status(objective, events);
    let window_secs = window_length.as_secs_f64();
    let budget_minutes = budget * window_secs / 60.0;
    let consumed = window.burn_rate;
    let remaining = consumed.map(|c| 1.0 - c);
    let budget_events = (window.data_state != DataState::NoData).then_some(budget * events.total);
    BudgetStatus {
        window,
        consumed,
        remaining,
        budget_events,
        remaining_events: budget_events.map(|b| b - events.bad()),
        budget_minutes,
        remaining_minutes: remaining.map(|r| r * budget_minutes),
        time_to_exhaustion: remaining.map(|r| exhaustion_eta(r, window_length, current_burn_rate)),
    }
}

/// At burn rate `r` a whole budget lasts `window / r`; what is left lasts
/// `remaining * window / r`.
pub fn exhaustion_eta(
    remaining: f64,
    window_length: Duration,
    current_burn_rate: Option<f64>,
) -> ExhaustionEta {
    if remaining <= 0.0 {
        return ExhaustionEta::AlreadyExhausted;
    }
    match current_burn_rate {
        Some(rate) if rate > 0.0 && rate.is_finite() => ExhaustionEta::In {
            seconds: remaining * window_length.as_secs_f64() / rate,
        },
        _ => ExhaustionEta::Never,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_SECS: f64 = 86_400.0;

    fn objective(percent: &str) -> Objective {
        Objective::parse_percent(percent).expect("test objective")
    }

    fn close(got: Option<f64>, want: f64) -> bool {
        got.is_some_and(|g| (g - want).abs() < 1e-9)
    }

    #[test]
    fn event_counts_arithmetic() {
        let a = EventCounts::new(90.0, 100.0);
        let b = EventCounts::from_bad(5.0, 50.0);
        assert_eq!(a.bad(), 10.0);
        assert_eq!(b, EventCounts::new(45.0, 50.0));
        assert_eq!(a + b, EventCounts::new(135.0, 150.0));
        assert_eq!(a - b, EventCounts::new(45.0, 50.0));
        let mut c = a;
        c += b;
        c -= a;
        assert_eq!(c, b);
        let summed: EventCounts = [a, b, b].into_iter().sum();
        assert_eq!(summed, EventCounts::new(180.0, 200.0));
        // Separately extrapolated counters can overshoot: no negative bad events.
        assert_eq!(EventCounts::new(100.5, 100.0).bad(), 0.0);
        let empties = [
            (EventCounts::default(), true),
            (EventCounts::new(0.0, -1.0), true),
            (EventCounts::new(0.0, f64::NAN), true),
            (EventCounts::new(0.0, 0.5), false),
        ];
        for (events, empty) in empties {
            assert_eq!(events.is_empty(), empty, "{events:?}");
        }
    }

    #[test]
    fn window_status_table() {
        use DataState::{LowTraffic, NoData, Ok};
        // (objective, good, total, state, sli, error ratio, burn rate)
        #[rustfmt::skip]
        let cases = [
            ("99.9", 999_000.0, 1_000_000.0, Ok,         Some(0.999),  Some(0.001),  Some(1.0)),
            ("99.9", 985_600.0, 1_000_000.0, Ok,         Some(0.9856), Some(0.0144), Some(14.4)),
            ("99",   100.0,     100.0,       Ok,         Some(1.0),    Some(0.0),    Some(0.0)),
            ("99.9", 1_000.0,   1_000.0,     Ok,         Some(1.0),    Some(0.0),    Some(0.0)),
            ("99.9", 499.0,     500.0,       LowTraffic, Some(0.998),  Some(0.002),  Some(2.0)),
            ("99.9", 0.0,       0.0,         NoData,     None,         None,         None),
            ("99.9", 5.0,       0.0,         NoData,     None,         None,         None),
            ("99",   101.0,     100.0,       Ok,         Some(1.0),    Some(0.0),    Some(0.0)),
        ];
        for (percent, good, total, state, sli, ratio, burn) in cases {
            let status = window_status(objective(percent), EventCounts::new(good, total));
            let label = format!("{percent}% {good}/{total}");
            assert_eq!(status.data_state, state, "{label}");
            for (got, want, what) in [
                (status.sli, sli, "sli"),
                (status.error_ratio, ratio, "error ratio"),
                (status.burn_rate, burn, "burn rate"),
            ] {
                match want {
                    Some(w) => assert!(close(got, w), "{label} {what}: {got:?} != {w}"),
                    None => assert_eq!(got, None, "{label} {what}"),
                }
            }
        }
    }

    #[test]
    fn low_traffic_boundary_is_one_budget_event() {
        #[rustfmt::skip]
        let cases = [
            ("99.9", 500.0,   DataState::LowTraffic),
            ("99.9", 999.0,   DataState::LowTraffic),
            ("99.9", 1_000.0, DataState::Ok),
            ("99",   99.0,    DataState::LowTraffic),
            ("99",   100.0,   DataState::Ok),
            ("99.9", 0.0,     DataState::NoData),
        ];
        for (percent, total, state) in cases {
            let events = EventCounts::new(total, total);
            assert_eq!(
                data_state(objective(percent), events),
                state,
                "{percent}% {total}"
            );
        }
    }

    #[test]
    fn overspent_budget_is_reported_negative() {
        let events = EventCounts::from_bad(1_500.0, 1_000_000.0);
        let status = budget_status(objective("99.9"), Duration::from_days(30), events, None);
        let checks = [
            (status.consumed, 1.5, "consumed"),
            (status.remaining, -0.5, "remaining"),
            (status.budget_events, 1_000.0, "budget events"),
            (status.remaining_events, -500.0, "remaining events"),
            (status.remaining_minutes, -21.6, "remaining minutes"),
        ];
        for (got, want, what) in checks {
            assert!(
                got.is_some_and(|g| (g - want).abs() < 1e-12),
                "{what}: {got:?} != {want}"
            );
        }
        let eta = status.time_to_exhaustion;
        assert_eq!(eta, Some(ExhaustionEta::AlreadyExhausted));
    }

    #[test]
    fn budget_status_table() {
        // (objective, window days, bad, total, consumed, remaining, budget events, budget minutes)
        #[rustfmt::skip]
        let cases = [
            ("99.9",  30, 0.0,     1_000_000.0, 0.0, 1.0,  1_000.0, 43.2),
            ("99.9",  30, 500.0,   1_000_000.0, 0.5, 0.5,  1_000.0, 43.2),
            ("99.9",  30, 1_000.0, 1_000_000.0, 1.0, 0.0,  1_000.0, 43.2),
            ("99.5",  28, 100.0,   10_000.0,    2.0, -1.0, 50.0,    201.6),
            ("99.99", 7,  1.0,     100_000.0,   0.1, 0.9,  10.0,    1.008),
        ];
        for (percent, days, bad, total, consumed, remaining, budget_events, minutes) in cases {
            let label = format!("{percent}% {days}d {bad}/{total}");
            let events = EventCounts::from_bad(bad, total);
            let s = budget_status(objective(percent), Duration::from_days(days), events, None);
            assert!(close(s.consumed, consumed), "{label}: {s:?}");
            assert!(close(s.remaining, remaining), "{label}: {s:?}");
            assert!(close(s.budget_events, budget_events), "{label}: {s:?}");
            assert!(
                close(s.remaining_events, budget_events - bad),
                "{label}: {s:?}"
            );
            assert!(close(Some(s.budget_minutes), minutes), "{label}: {s:?}");
            assert!(
                close(s.remaining_minutes, remaining * minutes),
                "{label}: {s:?}"
            );
        }
    }

    #[test]
    fn no_data_is_neither_full_nor_nan() {
        let thirty = Duration::from_days(30);
        let s = budget_status(objective("99.9"), thirty, EventCounts::default(), Some(2.0));
        let w = s.window;
        assert_eq!(w.data_state, DataState::NoData);
        assert_eq!((w.sli, w.error_ratio, w.burn_rate), (None, None, None));
        let numbers = (s.consumed, s.remaining, s.budget_events, s.remaining_events);
        assert_eq!(numbers, (None, None, None, None));
        assert_eq!((s.remaining_minutes, s.time_to_exhaustion), (None, None));
        // The time-based budget exists without traffic.
        assert!(close(Some(s.budget_minutes), 43.2), "{}", s.budget_minutes);
        let json = serde_json::to_value(s).expect("serialisable");
        assert_eq!(json["remaining"], serde_json::Value::Null);
        assert_eq!(json["window"]["data_state"], "no_data");
    }

    #[test]
    fn low_traffic_window_still_reports_numbers() {
        let events = EventCounts::from_bad(1.0, 500.0);
        let s = budget_status(objective("99.9"), Duration::from_days(30), events, None);
        assert_eq!(s.window.data_state, DataState::LowTraffic);
        assert!(close(s.remaining, -1.0), "{:?}", s.remaining);
    }

    #[test]
    fn time_to_exhaustion_of_a_full_30_day_budget() {
        let full = EventCounts::new(1_000_000.0, 1_000_000.0);
        // (current burn rate, expected seconds)
        #[rustfmt::skip]
        let cases = [
            (1.0,    30.0 * DAY_SECS),
            (2.0,    15.0 * DAY_SECS),
            (10.0,   3.0 * DAY_SECS),
            (1000.0, 2592.0),
        ];
        for (rate, seconds) in cases {
            let s = budget_status(objective("99.9"), Duration::from_days(30), full, Some(rate));
            let want = Some(ExhaustionEta::In { seconds });
            assert_eq!(s.time_to_exhaustion, want, "burn rate {rate}");
        }
        let fast = exhaustion_eta(1.0, Duration::from_days(30), Some(1000.0));
        let left = fast.duration().expect("finite");
        assert_eq!(left, std::time::Duration::from_secs(2592));
        assert_eq!((left.as_secs_f64() / 60.0).round(), 43.0);
    }

    #[test]
    fn exhaustion_eta_table() {
        use ExhaustionEta::{AlreadyExhausted, In, Never};
        let week_and_a_half = In {
            seconds: 7.5 * DAY_SECS,
        };
        // (remaining, current burn rate, expected)
        #[rustfmt::skip]
        let cases = [
            (0.5,  Some(2.0),      week_and_a_half),
            (0.25, Some(1.0),      week_and_a_half),
            (1.0,  Some(0.0),      Never),
            (1.0,  None,           Never),
            (1.0,  Some(f64::NAN), Never),
            (0.0,  Some(2.0),      AlreadyExhausted),
            (-0.5, Some(0.0),      AlreadyExhausted),
            (-0.5, None,           AlreadyExhausted),
        ];
        for (remaining, rate, want) in cases {
            let got = exhaustion_eta(remaining, Duration::from_days(30), rate);
            assert_eq!(got, want, "remaining {remaining}, rate {rate:?}");
        }
        assert_eq!(Never.duration(), None);
    }

    #[test]
    fn half_budget_at_burn_rate_two_lasts_a_week_and_a_half() {
        let events = EventCounts::from_bad(500.0, 1_000_000.0);
        let s = budget_status(
            objective("99.9"),
            Duration::from_days(30),
            events,
            Some(2.0),
        );
        let eta = s.time_to_exhaustion.and_then(|eta| eta.duration());
        let seconds = eta.map(|d| d.as_secs_f64());
        assert!(
            seconds.is_some_and(|sec| (sec - 7.5 * DAY_SECS).abs() < 1e-6),
            "{seconds:?}"
        );
    }

    #[test]
    fn eta_serialises_with_a_state_tag() {
        use serde_json::json;
        let cases = [
            (ExhaustionEta::Never, json!({"state": "never"})),
            (
                ExhaustionEta::AlreadyExhausted,
                json!({"state": "already_exhausted"}),
            ),
            (
                ExhaustionEta::In { seconds: 60.0 },
                json!({"state": "in", "seconds": 60.0}),
            ),
        ];
        for (eta, want) in cases {
            assert_eq!(serde_json::to_value(eta).expect("serialisable"), want);
        }
    }
}
