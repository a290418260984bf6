//! Per-instance event counts in memory: one-minute buckets grouped in hours.
//!
//! Minute detail is kept only where a window edge can fall inside an hour
//! (the recent alert windows, and the far edge of the SLO window); older hours
//! keep just their sums. That keeps a 30-day window at a few kilobytes while
//! every window sum stays exact to the minute.
//!
//! Detail kept for a window edge is packed (`packed`, a few bytes a
//! minute rather than sixteen): at 10,000 instances with seven cut hours
//! each, unpacked detail alone would take about 70 MB. The two newest hours
//! stay unpacked, as ingestion rewrites them every cycle.
//!
//! Under timeslice budgeting an hour's sum is its good and counted slices,
//! judged from its minutes when they are set: what the budget counts is
//! summed the same way either way.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::packed;
use crate::catalog::Timeslices;
use crate::engine::{EventCounts, slice_counts};
use crate::time::{HOUR_MS, MINUTE_MS, Minute, hour_of};

/// Hours at the newest end of a history that compaction leaves unpacked.
const OPEN_HOURS: i64 = 2;

/// An hour's minutes: as an array while ingestion may still rewrite them,
/// packed once only a window edge reads them.
#[derive(Debug, Clone)]
enum Detail {
    Open(Box<[EventCounts; 60]>),
    Packed(Box<[u8]>),
}

impl Detail {
    fn pack(minutes: &[EventCounts; 60]) -> Detail {
        Detail::Packed(packed::pack(&minutes.map(Some)).into_boxed_slice())
    }

    /// The minutes, or `None` if packed bytes do not unpack (they always
    /// should: `pack` and `unpack` round-trip exactly).
    fn minutes(&self) -> Option<[EventCounts; 60]> {
        match self {
            Detail::Open(m) => Some(**m),
            Detail::Packed(bytes) => packed::unpack(bytes)
                .ok()
                .map(|m| m.map(Option::unwrap_or_default)),
        }
    }

    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        match self {
            Detail::Open(_) => std::mem::size_of::<[EventCounts; 60]>(),
            Detail::Packed(bytes) => bytes.len(),
        }
    }
}

/// Counts for one SLO instance, in one-minute buckets (Unix ms, minute
/// aligned) grouped in hours.
///
/// Hour sums are held densely, one slot an hour from the first held: 17
/// bytes an hour, a few times less than a map's nodes take. At 10,000
/// instances of a 30-day window the sums are most of what burnrate holds.
#[derive(Debug, Clone, Default)]
pub struct EventHistory {
    /// Start of the hour of `sums[0]`.
    first: i64,
    /// What the budget counts in each hour from `first` on: events, or good
    /// and counted slices.
    sums: VecDeque<EventCounts>,
    /// Whether anything was set in each hour; the first and last always are.
    held: VecDeque<bool>,
    /// Minute detail, for the hours that keep it.
    detail: BTreeMap<i64, Detail>,
    /// Set under timeslice budgeting, for the history's whole life: hours
    /// compacted to their sums cannot be judged again another way.
    slicing: Option<Timeslices>,
}

impl EventHistory {
    /// A history counting events (`None`) or time slices.
    pub fn new(slicing: Option<Timeslices>) -> Self {
        EventHistory {
            slicing,
            ..EventHistory::default()
        }
    }

    /// What the budget counts among consecutive minutes.
    fn counted(&self, minutes: &[EventCounts]) -> EventCounts {
        match self.slicing {
            None => minutes.iter().copied().sum(),
            Some(t) => slice_counts(minutes, t),
        }
    }

    /// The slot of `hour`, if the history spans it.
    fn index(&self, hour: i64) -> Option<usize> {
        if self.sums.is_empty() || hour < self.first {
            return None;
        }
        let i = ((hour - self.first) / HOUR_MS) as usize;
        (i < self.sums.len()).then_some(i)
    }

    fn is_held(&self, hour: i64) -> bool {
        self.index(hour).is_some_and(|i| self.held[i])
    }

    /// Marks `hour` held with `sum`, growing the history to span it.
    fn hold(&mut self, hour: i64, sum: EventCounts) {
        if self.sums.is_empty() {
            self.first = hour;
        }
        while hour < self.first {
            self.first -= HOUR_MS;
            self.sums.push_front(EventCounts::default());
            self.held.push_front(false);
        }
        let i = ((hour - self.first) / HOUR_MS) as usize;
        if i >= self.sums.len() {
            // Grown by a sixteenth at a time: a window grows an hour at a
            // time, and doubling would leave up to half of it unused.
            let more = i + 1 - self.sums.len();
            if self.sums.capacity() < i + 1 {
                let slack = more + self.sums.len() / 16 + 4;
                self.sums.reserve_exact(slack);
                self.held.reserve_exact(slack);
            }
            self.sums.resize(i + 1, EventCounts::default());
            self.held.resize(i + 1, false);
        }
        self.sums[i] = sum;
        self.held[i] = true;
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
        let mut held = match self.detail.remove(&hour) {
            Some(Detail::Open(m)) => m,
            packed => Box::new(
                packed
                    .and_then(|d| d.minutes())
                    .unwrap_or([EventCounts::default(); 60]),
            ),
        };
        for (minute, counts) in minutes {
            if minute.hour() == hour {
                held[minute.slot()] = counts;
            }
        }
        self.hold(hour, self.counted(&held[..]));
        self.detail.insert(hour, Detail::Open(held));
    }

    /// Replaces an hour's minutes wholesale (loading from storage).
    pub fn load_hour(&mut self, hour: i64, minutes: [EventCounts; 60]) {
        self.hold(hour, self.counted(&minutes));
        self.detail.insert(hour, Detail::Open(Box::new(minutes)));
    }

    /// Whether `hour` is present with minute detail.
    pub fn has_detail(&self, hour: i64) -> bool {
        self.detail.contains_key(&hour)
    }

    /// Hours a sum over `[from, to)` (bucket starts) would cut through without detail.
    pub fn missing_detail(&self, from: i64, to: i64) -> Vec<i64> {
        let mut out = Vec::new();
        for edge in [from, to] {
            let hour = hour_of(edge);
            if edge != hour
                && self.is_held(hour)
                && !self.detail.contains_key(&hour)
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
        if from >= to || self.sums.is_empty() {
            return Some(total);
        }
        let mut hour = hour_of(from).max(self.first);
        while hour < to {
            let Some(i) = self.index(hour) else { break };
            let end = hour + HOUR_MS;
            if self.held[i] {
                total += if hour >= from && end <= to {
                    self.sums[i]
                } else {
                    let minutes = self.detail.get(&hour)?.minutes()?;
                    let first = ((from.max(hour) - hour) / MINUTE_MS) as usize;
                    let last = ((to.min(end) - hour) / MINUTE_MS) as usize;
                    self.counted(&minutes[first..last])
                };
            }
            hour = end;
        }
        Some(total)
    }

    /// Keeps minute detail only for the hours in `keep_detail` (the hours a
    /// window edge falls in, and the newest ones ingestion rewrites), packed
    /// but for the two newest hours; other hours keep their sums. Drops
    /// everything wholly before `keep_from`.
    pub fn compact(&mut self, keep_detail: &BTreeSet<i64>, keep_from: i64) {
        while !self.sums.is_empty() && (self.first + HOUR_MS <= keep_from || !self.held[0]) {
            self.sums.pop_front();
            self.held.pop_front();
            self.first += HOUR_MS;
        }
        self.detail.retain(|&hour, _| hour + HOUR_MS > keep_from);
        self.compact_between(keep_detail, i64::MIN, i64::MAX);
    }

    /// As [`Self::compact`] for the hours starting in `[from, to]` only, and
    /// dropping nothing: a backfill compacts what each chunk touched without
    /// visiting the month before it again.
    pub fn compact_between(&mut self, keep_detail: &BTreeSet<i64>, from: i64, to: i64) {
        let last = self.first + (self.sums.len() as i64 - 1) * HOUR_MS;
        let open_from = last - (OPEN_HOURS - 1) * HOUR_MS;
        self.detail.retain(|&hour, detail| {
            if hour < from || hour > to {
                return true;
            }
            if !keep_detail.contains(&hour) {
                return false;
            }
            if hour < open_from
                && let Detail::Open(minutes) = detail
            {
                *detail = Detail::pack(minutes);
            }
            true
        });
    }

    /// The earliest bucket held, if any.
    pub fn first_hour(&self) -> Option<i64> {
        (!self.sums.is_empty()).then_some(self.first)
    }

    /// Approximate heap bytes held, for the size tests below.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        let sums = self.sums.capacity() * std::mem::size_of::<EventCounts>();
        let detail: usize = self.detail.values().map(|d| 48 + d.heap_bytes()).sum();
        sums + self.held.capacity() + detail
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

    #[test]
    fn packed_detail_sums_as_the_open_minutes_did() {
        use crate::catalog::Timeslices;
        use crate::duration::Duration;
        let slicing = Timeslices {
            slice: Duration::from_mins(5),
            slice_target: 0.9,
        };
        // Whole counts in hours 0 to 2, fractions (packed as floats) in hour 3.
        let counts = |m: i64| match m / 60 {
            3 => c(0.1 * m as f64, 0.3 * m as f64),
            _ => c((m % 7) as f64, 6.0 + (m % 11) as f64),
        };
        for slices in [None, Some(slicing)] {
            let mut h = EventHistory::new(slices);
            for m in 0..300 {
                h.set_minute(Minute::nth(m), counts(m));
            }
            let open = h.clone();
            h.compact(&(0..5).map(|k| k * HOUR_MS).collect(), 0);
            let packed = |h: &EventHistory| {
                h.detail
                    .values()
                    .filter(|d| matches!(d, Detail::Packed(_)))
                    .count()
            };
            assert_eq!(packed(&h), 3, "all but the two newest hours");
            assert!(h.heap_bytes() < open.heap_bytes() - 3 * 480);
            let ranges = [
                (0, 300),
                (5, 65),
                (59, 61),
                (100, 235),
                (185, 190),
                (180, 300),
            ];
            for (from, to) in ranges {
                let (from, to) = (from * MINUTE_MS, to * MINUTE_MS);
                assert_eq!(h.sum(from, to), open.sum(from, to), "[{from}, {to})");
            }
            // Rewriting a packed hour's minute keeps its other minutes.
            let (mut h, mut open) = (h, open);
            h.set_minute(Minute::nth(70), c(1.0, 2.0));
            open.set_minute(Minute::nth(70), c(1.0, 2.0));
            assert_eq!(packed(&h), 2);
            for (from, to) in ranges {
                let (from, to) = (from * MINUTE_MS, to * MINUTE_MS);
                assert_eq!(h.sum(from, to), open.sum(from, to), "[{from}, {to})");
            }
        }
    }

    #[test]
    fn hours_between_held_ones_count_nothing_and_need_no_detail() {
        let mut h = EventHistory::default();
        h.set_minute(Minute::nth(10), c(1.0, 2.0));
        h.set_minute(Minute::nth(5 * 60 + 10), c(3.0, 4.0));
        h.compact(&BTreeSet::new(), 0);
        assert!(
            h.missing_detail(2 * HOUR_MS + MINUTE_MS, 6 * HOUR_MS)
                .is_empty()
        );
        assert_eq!(
            h.sum(2 * HOUR_MS + MINUTE_MS, 6 * HOUR_MS),
            Some(c(3.0, 4.0))
        );
        assert_eq!(h.missing_detail(MINUTE_MS, 6 * HOUR_MS), vec![0]);
        assert_eq!(h.sum(MINUTE_MS, 6 * HOUR_MS), None);
        // Dropping the first hour drops the empty ones after it too.
        h.compact(&BTreeSet::new(), 2 * HOUR_MS);
        assert_eq!(h.first_hour(), Some(5 * HOUR_MS));
        assert_eq!(h.sum(0, 6 * HOUR_MS), Some(c(3.0, 4.0)));
        // An hour before the first held one extends the history back.
        h.load_hour(HOUR_MS, [c(1.0, 1.0); 60]);
        assert_eq!(h.first_hour(), Some(HOUR_MS));
        assert_eq!(h.sum(0, 6 * HOUR_MS), Some(c(63.0, 64.0)));
    }

    #[test]
    fn a_sliding_month_holds_about_seventeen_bytes_an_hour() {
        let month = 720;
        let mut h = EventHistory::default();
        let keep = |now: i64| BTreeSet::from([now - HOUR_MS, now]);
        for hour in 0..month + 48 {
            let minutes = (0..60).map(|m| (Minute::nth(hour * 60 + m), c(1.0, 1.0)));
            h.set_minutes(hour * HOUR_MS, minutes);
            h.compact(&keep(hour * HOUR_MS), (hour - month + 1) * HOUR_MS);
        }
        assert_eq!(h.first_hour(), Some(48 * HOUR_MS));
        assert_eq!(
            h.sum(0, (month + 48) * HOUR_MS),
            Some(c(43_200.0, 43_200.0))
        );
        let detail = 2 * (48 + 960);
        let per_hour = (h.heap_bytes() - detail) as f64 / month as f64;
        assert!(per_hour < 20.0, "{per_hour} bytes an hour");
    }
}
