//! Timeslice budgeting: minutes of event counts judged slice by slice, so
//! the budget arithmetic counts good and bad slices as it counts events.

use super::budget::EventCounts;
use crate::catalog::Timeslices;

/// Good and counted slices among consecutive minutes, the first minute
/// starting a slice: `good` the good slices, `total` those with events. A
/// trailing partial slice is judged on the minutes given.
pub fn slice_counts(minutes: &[EventCounts], slices: Timeslices) -> EventCounts {
    let mut out = EventCounts::default();
    for slice in minutes.chunks(slices.minutes().max(1)) {
        let events: EventCounts = slice.iter().copied().sum();
        if let Some(good) = slices.judge(events.good, events.total) {
            out.total += 1.0;
            if good {
                out.good += 1.0;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Duration;

    fn rule(mins: u64, target: f64) -> Timeslices {
        Timeslices {
            slice: Duration::from_mins(mins),
            slice_target: target,
        }
    }

    fn m(good: f64, total: f64) -> EventCounts {
        EventCounts::new(good, total)
    }

    /// (name, minutes, slice minutes, target, good slices, counted slices)
    type Case = (&'static str, Vec<EventCounts>, u64, f64, f64, f64);

    #[test]
    fn slices_are_judged_by_their_own_events_table() {
        let cases: [Case; 8] = [
            ("no minutes", vec![], 1, 0.99, 0.0, 0.0),
            (
                "a quiet minute counts neither way",
                vec![m(0.0, 0.0)],
                1,
                0.99,
                0.0,
                0.0,
            ),
            (
                "exactly at the target is good",
                vec![m(99.0, 100.0)],
                1,
                0.99,
                1.0,
                1.0,
            ),
            ("just below is bad", vec![m(98.0, 100.0)], 1, 0.99, 0.0, 1.0),
            (
                "one busy bad minute and three quiet good ones",
                vec![m(0.0, 1.0), m(10.0, 10.0), m(10.0, 10.0), m(0.0, 0.0)],
                1,
                0.99,
                2.0,
                3.0,
            ),
            (
                "two-minute slices sum their minutes before judging",
                vec![m(90.0, 100.0), m(1000.0, 1000.0), m(0.0, 0.0), m(0.0, 0.0)],
                2,
                0.99,
                1.0,
                1.0,
            ),
            (
                "a slice with a bad share over the target is bad",
                vec![m(50.0, 100.0), m(100.0, 100.0)],
                2,
                0.99,
                0.0,
                1.0,
            ),
            (
                "a target of 100% needs every event good",
                vec![m(999.0, 1000.0), m(5.0, 5.0)],
                1,
                1.0,
                1.0,
                2.0,
            ),
        ];
        for (name, minutes, mins, target, good, total) in cases {
            let got = slice_counts(&minutes, rule(mins, target));
            assert_eq!(got, EventCounts::new(good, total), "{name}");
        }
    }
}
