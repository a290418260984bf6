//! Per-instance event counts in memory: one-minute buckets grouped in hours.
//!
//! Minute detail is kept only where a window edge can fall inside an hour
//! (the recent alert windows, and the far edge of the SLO window); older hours
//! keep just their sums. That keeps a 30-day window at a few kilobytes while
//! every window sum stays exact to the minute.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::EventCounts;
use crate::time::{HOUR_MS, MINUTE_MS, Minute, hour_of};

#[derive(Debug, Clone, Default)]
struct HourBlock {
    sum: EventCounts,
    minutes: Option<Box<[EventCounts; 60]>>,
}

/// Counts for one SLO instance, keyed by bucket start (Unix ms, minute aligned).
#[derive(Debug, Clone, Default)]
pub struct EventHistory {
    hours: BTreeMap<i64, HourBlock>,
}

impl EventHistory {
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
        let block = self.hours.entry(hour).or_insert_with(|| HourBlock {
            sum: EventCounts::default(),
            minutes: Some(Box::new([EventCounts::default(); 60])),
        });
        let held = block
            .minutes
            .get_or_insert_with(|| Box::new([EventCounts::default(); 60]));
        for (minute, counts) in minutes {
            if minute.hour() == hour {
                held[minute.slot()] = counts;
            }
        }
        block.sum = held.iter().copied().sum();
    }

    /// Replaces an hour's minutes wholesale (loading from storage).
    pub fn load_hour(&mut self, hour: i64, minutes: [EventCounts; 60]) {
        let sum = minutes.iter().copied().sum();
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

    /// Sum of the buckets starting in `[from, to)`: events in `(from, to]`.
    /// `None` when an hour cut by the range has no minute detail in memory.
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
            total += minutes[first..last].iter().copied().sum();
        }
        Some(total)
    }

    /// Keeps minute detail only for the hours in `keep_detail` (the hours a
    /// window edge falls in, and the newest ones ingestion rewrites); other
    /// hours keep their sums. Drops everything wholly before `keep_from`.
    pub fn compact(&mut self, keep_detail: &BTreeSet<i64>, keep_from: i64) {
        self.hours.retain(|&hour, _| hour + HOUR_MS > keep_from);
        for (hour, block) in self.hours.iter_mut() {
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
    fn overwriting_a_minute_is_idempotent() {
        let mut h = EventHistory::default();
        h.set_minute(Minute::nth(0), c(5.0, 10.0));
        h.set_minute(Minute::nth(0), c(5.0, 10.0));
        h.set_minute(Minute::nth(1), c(1.0, 1.0));
        assert_eq!(h.sum(0, HOUR_MS), Some(c(6.0, 11.0)));
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
