//! What an evaluation sums: the trailing windows, the SLO window, and the
//! minutes corrections take out of all of them. Under timeslice budgeting
//! every span is cut to whole slices on the grid: a window holds the slices
//! that lie wholly inside it (the current slice counts once it is
//! complete), and a slice a correction touches is left out whole.

use std::collections::{BTreeMap, BTreeSet};

use super::instance::REPORTED_WINDOWS;
use crate::catalog::correction::excluded_minutes;
use crate::catalog::{Correction, Slo};
use crate::duration::Duration;
use crate::engine::EventCounts;
use crate::time::{MINUTE_MS, Minute, floor_minute};

/// The spans an SLO's evaluation at `at` sums: every reported and alert
/// window ending at `at`, and the SLO window, less the corrected minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPlan {
    pub at: Minute,
    /// Where every span ends: `at`, or under timeslices the end of the last
    /// complete slice.
    pub end: i64,
    /// The grid spans are cut to, in ms: a minute, or a slice.
    pub step: i64,
    /// Trailing windows `(at - w, at]`.
    pub windows: BTreeSet<Duration>,
    /// Where the SLO window starts (rolling or calendar), minute-aligned.
    pub window_start: i64,
    /// Buckets corrections exclude, `[from, to)` bucket starts inside the
    /// earliest span and `at`, on the grid: sorted, disjoint. Empty without
    /// corrections.
    pub excluded: Vec<(i64, i64)>,
}

pub fn floor_to(ms: i64, step: i64) -> i64 {
    ms - ms.rem_euclid(step)
}

pub fn ceil_to(ms: i64, step: i64) -> i64 {
    floor_to(ms + step - 1, step)
}

/// Excluded spans widened to whole steps, cut at `end`, neighbours joined.
pub fn on_grid(excluded: Vec<(i64, i64)>, step: i64, end: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (a, b) in excluded {
        let (a, b) = (floor_to(a, step), ceil_to(b, step).min(end));
        match out.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ if a < b => out.push((a, b)),
            _ => {}
        }
    }
    out
}

/// Sums `[from, end)` with `sum`, skipping the excluded spans (sorted,
/// disjoint): the pieces between them are summed, never subtracted, so a
/// fully excluded span is exactly empty.
pub fn sum_kept(
    from: i64,
    end: i64,
    excluded: &[(i64, i64)],
    sum: &mut impl FnMut(i64, i64) -> EventCounts,
) -> EventCounts {
    let mut total = EventCounts::default();
    let mut cursor = from;
    for &(a, b) in excluded {
        if b <= cursor {
            continue;
        }
        if a >= end {
            break;
        }
        if a > cursor {
            total += sum(cursor, a);
        }
        cursor = cursor.max(b);
    }
    if cursor < end {
        total += sum(cursor, end);
    }
    total
}

impl WindowPlan {
    pub fn new(slo: &Slo, at: Minute) -> WindowPlan {
        WindowPlan::with_corrections(slo, &[], at)
    }

    /// The plan with `extra` corrections (added at run time) beside the catalog's.
    pub fn with_corrections(slo: &Slo, extra: &[Correction], at: Minute) -> WindowPlan {
        let mut windows: BTreeSet<Duration> = REPORTED_WINDOWS.iter().copied().collect();
        for tier in &slo.alerting.tiers {
            windows.insert(tier.long_window);
            windows.insert(tier.short_window);
        }
        let step = slo
            .budgeting
            .timeslices()
            .map_or(MINUTE_MS, |t| t.slice.as_millis() as i64);
        let mut plan = WindowPlan {
            at,
            end: floor_to(at.ms(), step),
            step,
            windows,
            window_start: floor_minute(slo.window.start(at.time()).timestamp_millis()),
            excluded: Vec::new(),
        };
        let (from, to) = (plan.earliest(), at.ms());
        let excluded = if extra.is_empty() {
            excluded_minutes(&slo.corrections, from, to)
        } else {
            let all: Vec<Correction> = slo.corrections.iter().chain(extra).cloned().collect();
            excluded_minutes(&all, from, to)
        };
        // Widened to whole slices, which may join neighbours.
        plan.excluded = on_grid(excluded, step, plan.end);
        plan
    }

    /// Every span summed, `(from, to)` in ms: the windows and the excluded
    /// spans (whose edges also need minute detail).
    pub fn ranges(&self) -> Vec<(i64, i64)> {
        self.window_edges()
            .filter(|from| *from < self.end)
            .map(|from| (from, self.end))
            .chain(self.excluded.iter().copied())
            .collect()
    }

    /// Where each window starts: on the grid, past any partial slice.
    fn window_edges(&self) -> impl Iterator<Item = i64> + '_ {
        let at = self.at.ms();
        self.windows
            .iter()
            .map(move |w| at - w.as_millis() as i64)
            .chain([self.window_start])
            .map(|from| ceil_to(from, self.step))
    }

    /// The far edge of every window, and both edges of every excluded span.
    pub fn edges(&self) -> impl Iterator<Item = i64> + '_ {
        self.window_edges()
            .chain(self.excluded.iter().flat_map(|&(a, b)| [a, b]))
    }

    /// The earliest instant any span reaches back to.
    pub fn earliest(&self) -> i64 {
        self.window_edges().min().unwrap_or(self.at.ms())
    }

    /// Sums every span with `sum(from, to)`, the events in `(from, to]`,
    /// skipping the excluded minutes: the pieces between them are summed,
    /// never subtracted, so a fully corrected window is exactly empty.
    pub fn sums(&self, mut sum: impl FnMut(i64, i64) -> EventCounts) -> WindowSums {
        let at = self.at.ms();
        let end = self.end;
        let mut kept = |from: i64| sum_kept(from, end, &self.excluded, &mut sum);
        let windows = self
            .windows
            .iter()
            .map(|w| (*w, kept(ceil_to(at - w.as_millis() as i64, self.step))))
            .collect();
        let slo_window = kept(ceil_to(self.window_start, self.step));
        // What the corrections took out of the SLO window, for the status.
        let corrected = (!self.excluded.is_empty()).then(|| {
            let mut total = EventCounts::default();
            for &(a, b) in &self.excluded {
                let a = a.max(ceil_to(self.window_start, self.step));
                if a < b {
                    total += sum(a, b);
                }
            }
            total
        });
        WindowSums {
            windows,
            slo_window,
            corrected,
            absent: false,
        }
    }
}

/// Events in each span of a [`WindowPlan`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowSums {
    pub windows: BTreeMap<Duration, EventCounts>,
    pub slo_window: EventCounts,
    /// Events corrections excluded from the SLO window; none without
    /// corrections in the spans evaluated.
    pub corrected: Option<EventCounts>,
    /// The instance's series sent no samples for longer than the absence
    /// threshold.
    pub absent: bool,
}

impl WindowSums {
    pub(super) fn of(&self, window: Duration) -> EventCounts {
        self.windows.get(&window).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::catalog;
    use crate::time::MINUTE_MS;

    fn slo(corrections: &str) -> Slo {
        let source = format!(
            "version: burnrate/v1\nservice: s\nslos:\n  - name: a\n    objective: 99\n    window: 1d\n    alerting: {{enabled: false}}\n    indicator:\n      ratio:\n        errors: e\n        total: t\n{corrections}"
        );
        match catalog::load_str(Path::new("t.yaml"), &source).into_result() {
            Ok(mut c) => std::sync::Arc::unwrap_or_clone(c.slos.remove(0)),
            Err(d) => panic!("{d:?}"),
        }
    }

    /// 2026-11-02T00:00:00Z, a Monday.
    const AT: i64 = 1_793_577_600_000;
    const M: i64 = MINUTE_MS;

    /// One bad and one total event per minute, bucket `m` holding `m`'s
    /// events: a sum counts the minutes it covers.
    fn per_minute(from: i64, to: i64) -> EventCounts {
        let minutes = ((to - from) / M) as f64;
        EventCounts::from_bad(minutes, minutes)
    }

    #[test]
    fn window_sums_skip_corrected_minutes_table() {
        let day = 24 * 60;
        // Corrections, then minutes counted in the 5m, 1h, 1d windows.
        let cases: [(&str, &str, [i64; 3]); 6] = [
            ("none", "", [5, 60, day]),
            (
                "10 minutes, 20 to 10 minutes before",
                "    corrections:\n      - {reason: r, start: '2026-11-01T23:40:00Z', duration: 10m}\n",
                [5, 50, day - 10],
            ),
            (
                "the last 3 minutes, and beyond `at`",
                "    corrections:\n      - {reason: r, start: '2026-11-01T23:57:00Z', duration: 1h}\n",
                [2, 57, day - 3],
            ),
            (
                "a correction before the window counts nowhere",
                "    corrections:\n      - {reason: r, start: '2026-10-01T00:00:00Z', duration: 2h}\n",
                [5, 60, day],
            ),
            (
                "overlapping corrections are not excluded twice",
                "    corrections:\n      - {reason: a, start: '2026-11-01T23:00:00Z', duration: 30m}\n      - {reason: b, start: '2026-11-01T23:20:00Z', duration: 30m}\n",
                [5, 10, day - 50],
            ),
            (
                "hourly at :30 for 90s with an offset start: one whole minute each",
                "    corrections:\n      - {reason: r, start: '2026-11-01T00:30:30+00:00', duration: 90s, repeat: FREQ=HOURLY}\n",
                [5, 59, day - 24],
            ),
        ];
        for (name, corrections, [five, hour, whole]) in cases {
            let slo = slo(corrections);
            let plan = WindowPlan::new(&slo, Minute::exact(AT).unwrap());
            let sums = plan.sums(per_minute);
            let counted = |w: Duration| sums.windows[&w].total as i64;
            assert_eq!(counted(Duration::from_mins(5)), five, "{name}: 5m");
            assert_eq!(counted(Duration::from_hours(1)), hour, "{name}: 1h");
            assert_eq!(sums.slo_window.total as i64, whole, "{name}: SLO window");
            assert_eq!(sums.slo_window.good, 0.0, "{name}");
            for (a, b) in plan.ranges() {
                assert!(a < b && b <= AT && a >= plan.earliest(), "{name}: {a}..{b}");
            }
        }
    }

    #[test]
    fn a_fully_corrected_window_is_exactly_empty() {
        let slo = slo(
            "    corrections:\n      - {reason: r, start: '2026-10-01T00:00:00Z', duration: 60d}\n",
        );
        let plan = WindowPlan::new(&slo, Minute::exact(AT).unwrap());
        let sums = plan.sums(per_minute);
        // What was excluded is still told: the whole 1d SLO window.
        assert_eq!(sums.corrected.map(|c| c.total), Some(24.0 * 60.0));
        assert_eq!(sums.slo_window, EventCounts::default());
        assert_eq!(plan.excluded, vec![(plan.earliest(), AT)]);
    }

    #[test]
    fn without_corrections_the_plan_asks_nothing_more() {
        let slo = slo("");
        let plan = WindowPlan::new(&slo, Minute::exact(AT).unwrap());
        assert!(plan.excluded.is_empty());
        assert_eq!(plan.ranges().len(), plan.windows.len() + 1);
        let mut calls = 0;
        plan.sums(|_, to| {
            calls += 1;
            assert_eq!(to, AT);
            EventCounts::default()
        });
        assert_eq!(calls, plan.windows.len() + 1);
        assert_eq!(plan.sums(per_minute).corrected, None);
    }

    #[test]
    fn timeslice_plans_cut_every_span_to_whole_slices() {
        let sliced = |corrections: &str| {
            slo(&format!(
                "    budgeting: {{method: timeslices, slice: 10m, slice_target: 99}}\n{corrections}"
            ))
        };
        // 7 minutes into a 10-minute slice: the current slice is not complete.
        let at = Minute::exact(AT + 7 * M).unwrap();
        let plan = WindowPlan::new(&sliced(""), at);
        assert_eq!(plan.end, AT);
        for (from, to) in plan.ranges() {
            assert_eq!((from % (10 * M), to % (10 * M)), (0, 0), "{from}..{to}");
        }
        // One slice per 10 minutes: the 1h window (from 53 minutes before AT)
        // holds the 5 whole slices after its start.
        let sums = plan.sums(|from, to| EventCounts::new(0.0, ((to - from) / (10 * M)) as f64));
        assert_eq!(sums.windows[&Duration::from_hours(1)].total, 5.0);
        assert_eq!(sums.windows[&Duration::from_mins(5)].total, 0.0);
        assert_eq!(sums.slo_window.total, 144.0 - 1.0);

        // A correction of 2 minutes takes out the slice it touches, whole.
        let corrected = sliced(
            "    corrections:\n      - {reason: r, start: '2026-11-01T23:43:00Z', duration: 2m}\n",
        );
        let plan = WindowPlan::new(&corrected, at);
        assert_eq!(plan.excluded, vec![(AT - 20 * M, AT - 10 * M)]);
        let sums = plan.sums(|from, to| EventCounts::new(0.0, ((to - from) / (10 * M)) as f64));
        assert_eq!(sums.windows[&Duration::from_hours(1)].total, 4.0);
        assert_eq!(sums.corrected.map(|c| c.total), Some(1.0));
    }
}
