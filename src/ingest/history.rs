//! Per-instance event counts in memory: one-minute buckets grouped in hours.
//!
//! Minute detail is kept only where a window edge can fall inside an hour
//! (the recent alert windows, and the far edge of the SLO window); older hours
//! keep just their sums. That keeps a 30-day window at a few kilobytes while
//! every window sum stays exact to the minute.
//!
//! Under timeslice budgeting an hour's sum is its good and counted slices,
//! judged from its minutes when they are set: what the budget counts is
//! summed the same way either way.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::Timeslices;
use crate::engine::{EventCounts, slice_counts};
use crate::time::{HOUR_MS, MINUTE_MS, Minute, hour_of};

#[derive(Debug, Clone, Default)]
struct HourBlock {
    /// What the budget counts in the hour: events, or good and counted slices.
    sum: EventCounts,
    minutes: Option<Box<[EventCounts; 60]>>,
}

/// Counts for one SLO instance, keyed by bucket start (Unix ms, minute aligned).
#[derive(Debug, Clone, Default)]
pub struct EventHistory {
    hours: BTreeMap<i64, HourBlock>,
    /// Set under timeslice budgeting, for the history's whole life: hours
    /// compacted to their sums cannot be judged again another way.
    slicing: Option<Timeslices>,
}

impl EventHistory {
    /// A history counting events (`None`) or time slices.
    pub fn new(slicing: Option<Timeslices>) -> Self {
        EventHistory {
            hours: BTreeMap::new(),
            slicing,
        }
    }

    /// What the budget counts among consecutive minutes.
    fn counted(&self, minutes: &[EventCounts]) -> EventCounts {
        match self.slicing {
            None => minutes.iter().copied().sum(),
            Some(t) => slice_counts(minutes, t),
        }
    }

    /// Overwrites one minute. The hour's detail must be present (or the hour new).
    pub fn set_minute(&mut self, minute: Minute, counts: EventCounts) {
        self.set_minutes(minute.hour(), [(minute, counts)]);
    }

    /// Overwrites the given minutes of one hour, as [`Self::set_minute`]
    /// does each, summing the hour once. Minutes outside `hour` are ignored.
    pub fn set_minutes(
        &mut self,
        hour: i64,
        minutes: impl IntoIterator<Item = (Minute, EventCounts)>,
    ) {
        let slicing = self.slicing;
        let block = self.hours.entry(hour).or_default();
        let held = block
            .minutes
            .get_or_insert_with(|| Box::new([EventCounts::default(); 60]));
        for (minute, counts) in minutes {
            if minute.hour() == hour {
                held[minute.slot()] = counts;
            }
        }
        block.sum = match slicing {
            None => held.iter().copied().sum(),
            Some(t) => slice_counts(&held[..], t),
        };
    }

    /// Replaces an hour's minutes wholesale (loading from storage).
    pub fn load_hour(&mut self, hour: i64, minutes: [EventCounts; 60]) {
        let sum = self.counted(&minutes);
        self.hours.insert(
            hour,
            HourBlock {
                sum,
                minutes: Some(Box::new(minutes)),
            },
        );
    }

    /// Whether `hour` is present with minute detail.
    pub fn has_detail(&self, hour: i64) -> bool {
        self.hours.get(&hour).is_some_and(|b| b.minutes.is_some())
    }

    /// Hours a sum over `[from, to)` (bucket starts) would cut through without detail.
    pub fn missing_detail(&self, from: i64, to: i64) -> Vec<i64> {
        let mut out = Vec::new();
        for edge in [from, to] {
            let hour = hour_of(edge);
            if edge != hour
                && self.hours.get(&hour).is_some_and(|b| b.minutes.is_none())
                && !out.contains(&hour)
            {
                out.push(hour);
            }
        }
        out
    }

    /// Sum of the buckets starting in `[from, to)`: events in `(from, to]`,
    /// or under timeslices the slices there (the bounds then on the slice
    /// grid). `None` when an hour cut by the range has no minute detail in
    /// memory.
    pub fn sum(&self, from: i64, to: i64) -> Option<EventCounts> {
        let mut total = EventCounts::default();
        if from >= to {
            return Some(total);
        }
        for (&hour, block) in self.hours.range(hour_of(from)..to) {
            let end = hour + HOUR_MS;
            if hour >= from && end <= to {
                total += block.sum;
                continue;
            }
            let minutes = block.minutes.as_ref()?;
            let first = ((from.max(hour) - hour) / MINUTE_MS) as usize;
            let last = ((to.min(end) - hour) / MINUTE_MS) as usize;
            total += self.counted(&minutes[first..last]);
        }
        Some(total)
    }

    /// Keeps minute detail only for the hours in `keep_detail` (the hours a
    /// window edge falls in, and the newest ones ingestion rewrites); other
    /// hours keep their sums. Drops everything wholly before `keep_from`.
    pub fn compact(&mut self, keep_detail: &BTreeSet<i64>, keep_from: i64) {
        if self
            .first_hour()
            .is_some_and(|first| first + HOUR_MS <= keep_from)
        {
            self.hours.retain(|&hour, _| hour + HOUR_MS > keep_from);
        }
        self.compact_between(keep_detail, i64::MIN, i64::MAX);
    }

    /// As [`Self::compact`] for the hours starting in `[from, to]` only, and
    /// dropping nothing: a backfill compacts what each chunk touched without
    /// visiting the month before it again.
    pub fn compact_between(&mut self, keep_detail: &BTreeSet<i64>, from: i64, to: i64) {
        for (hour, block) in self.hours.range_mut(from..=to) {
            if !keep_detail.contains(hour) {
                block.minutes = None;
            }
        }
    }

    /// The earliest bucket held, if any.
    pub fn first_hour(&self) -> Option<i64> {
        self.hours.keys().next().copied()
    }

    /// Approximate heap bytes held, for the memory benchmark.
    pub fn heap_bytes(&self) -> usize {
        self.hours
            .values()
            .map(|b| {
                48 + b
                    .minutes
                    .as_ref()
                    .map_or(0, |_| std::mem::size_of::<[EventCounts; 60]>())
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(good: f64, total: f64) -> EventCounts {
        EventCounts { good, total }
    }

    #[test]
    fn sums_are_exact_across_hours_and_partial_hours() {
        let mut h = EventHistory::default();
        // Three hours of one event per minute, the minute index as good events.
        for m in 0..180 {
            h.set_minute(Minute::nth(m), c(m as f64, 1.0));
        }
        let expect =
            |from: i64, to: i64| -> EventCounts { (from..to).map(|m| c(m as f64, 1.0)).sum() };
        let cases = [
            (0, 180),
            (0, 60),
            (30, 90),
            (59, 61),
            (5, 6),
            (100, 100),
            (179, 180),
            (0, 1000),
        ];
        for (from, to) in cases {
            let want = expect(from, to.min(180));
            assert_eq!(
                h.sum(from * MINUTE_MS, to * MINUTE_MS),
                Some(want),
                "[{from}, {to})"
            );
        }
    }

    #[test]
    fn compaction_keeps_sums_and_asks_for_detail_at_cut_hours() {
        let mut h = EventHistory::default();
        for m in 0..180 {
            h.set_minute(Minute::nth(m), c(1.0, 2.0));
        }
        h.compact(&BTreeSet::from([2 * HOUR_MS]), 0);
        assert!(!h.has_detail(0) && !h.has_detail(HOUR_MS) && h.has_detail(2 * HOUR_MS));
        // Whole hours are still exact; a cut through a compacted hour needs detail.
        assert_eq!(h.sum(0, 3 * HOUR_MS), Some(c(180.0, 360.0)));
        assert_eq!(h.sum(30 * MINUTE_MS, 3 * HOUR_MS), None);
        assert_eq!(h.missing_detail(30 * MINUTE_MS, 3 * HOUR_MS), vec![0]);
        h.load_hour(0, [c(1.0, 2.0); 60]);
        assert_eq!(h.sum(30 * MINUTE_MS, 3 * HOUR_MS), Some(c(150.0, 300.0)));
        h.compact(&BTreeSet::new(), 2 * HOUR_MS);
        assert_eq!(h.first_hour(), Some(2 * HOUR_MS));
    }

    #[test]
    fn compacting_a_range_leaves_the_hours_outside_it() {
        let mut h = EventHistory::default();
        for m in 0..300 {
            h.set_minute(Minute::nth(m), c(1.0, 2.0));
        }
        h.compact_between(&BTreeSet::from([2 * HOUR_MS]), HOUR_MS, 3 * HOUR_MS);
        let detail: Vec<bool> = (0..5).map(|k| h.has_detail(k * HOUR_MS)).collect();
        assert_eq!(detail, [true, false, true, false, true]);
        assert_eq!(h.sum(0, 5 * HOUR_MS), Some(c(300.0, 600.0)));
        assert_eq!(h.first_hour(), Some(0), "nothing dropped");
    }

    #[test]
    fn overwriting_a_minute_is_idempotent() {
        let mut h = EventHistory::default();
        h.set_minute(Minute::nth(0), c(5.0, 10.0));
        h.set_minute(Minute::nth(0), c(5.0, 10.0));
        h.set_minute(Minute::nth(1), c(1.0, 1.0));
        assert_eq!(h.sum(0, HOUR_MS), Some(c(6.0, 11.0)));
    }

    #[test]
    fn under_timeslices_sums_count_slices_and_survive_compaction() {
        use crate::catalog::Timeslices;
        use crate::duration::Duration;
        let slicing = Timeslices {
            slice: Duration::from_mins(5),
            slice_target: 0.9,
        };
        let mut h = EventHistory::new(Some(slicing));
        // Three hours; minute m has 10 events, all bad in minutes 7 and 8 (one
        // slice: 80% good, bad), quiet in minutes 60 to 64 (a slice without events).
        let minute = |m: i64| match m {
            7 | 8 => c(0.0, 10.0),
            60..=64 => c(0.0, 0.0),
            _ => c(10.0, 10.0),
        };
        for m in 0..180 {
            h.set_minute(Minute::nth(m), minute(m));
        }
        let truth = |from: i64, to: i64| -> EventCounts {
            let mut out = c(0.0, 0.0);
            for start in (from..to).step_by(5) {
                let e: EventCounts = (start..start + 5).map(minute).sum();
                if e.total > 0.0 {
                    out.total += 1.0;
                    out.good += if e.good / e.total >= 0.9 { 1.0 } else { 0.0 };
                }
            }
            out
        };
        let cases = [(0, 180), (0, 60), (5, 10), (55, 70), (60, 65), (120, 180)];
        for (from, to) in cases {
            assert_eq!(
                h.sum(from * MINUTE_MS, to * MINUTE_MS),
                Some(truth(from, to)),
                "[{from}, {to})"
            );
        }
        assert_eq!(h.sum(0, 3 * HOUR_MS), Some(c(34.0, 35.0)));
        // Whole hours keep their slice counts without their minutes.
        h.compact(&BTreeSet::new(), 0);
        assert_eq!(h.sum(0, 3 * HOUR_MS), Some(c(34.0, 35.0)));
        assert_eq!(h.sum(5 * MINUTE_MS, HOUR_MS), None);
    }

    #[test]
    fn setting_an_hours_minutes_at_once_is_setting_each() {
        // Fractions whose float sums depend on the order they are added in.
        let counts = |m: i64| c(0.1 * m as f64, 1.0 / (m + 3) as f64);
        let (mut one_by_one, mut at_once) = (EventHistory::default(), EventHistory::default());
        for m in [3, 59, 0, 17, 3] {
            one_by_one.set_minute(Minute::nth(m), counts(m));
        }
        at_once.set_minutes(0, [3, 59, 0, 17, 3].map(|m| (Minute::nth(m), counts(m))));
        // A minute of another hour is not this hour's.
        at_once.set_minutes(0, [(Minute::nth(60), counts(60))]);
        for (from, to) in [(0, 60), (3, 18), (59, 60), (0, 120)] {
            let (from, to) = (from * MINUTE_MS, to * MINUTE_MS);
            assert_eq!(
                at_once.sum(from, to),
                one_by_one.sum(from, to),
                "[{from}, {to})"
            );
        }
        assert!(!at_once.has_detail(HOUR_MS));
    }
}
