//! Exact event counts from raw samples.
//!
//! Ground truth for a counter: the increase between two consecutive samples
//! of a series (after a reset, the new value) belongs to the later sample's
//! timestamp, and a bucket `(t, t + 1m]` counts the increases stamped in it.
//! Computing that from raw samples, rather than with `increase()`, avoids
//! extrapolation at bucket edges.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::AddAssign;

use crate::engine::EventCounts;
use crate::labels::Labels;
use crate::prom::RawSeries;
use crate::time::Minute;

/// Per group (the values of the `group_by` labels), per bucket start: a number.
pub type Grouped<T> = BTreeMap<Labels, BTreeMap<Minute, T>>;

/// The labels that identify a series across queries (`__name__` is dropped by functions).
pub fn series_key(labels: &Labels) -> Labels {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The instance a series belongs to: its values of the `group_by` labels (missing = empty).
pub fn group_key(labels: &Labels, group_by: &[String]) -> Labels {
    group_by
        .iter()
        .map(|name| (name.clone(), labels.get(name).cloned().unwrap_or_default()))
        .collect()
}

/// Each series' last sample (timestamp, value) at or before some instant, keyed by [`series_key`].
pub type LastSamples = HashMap<Labels, (i64, f64)>;

/// Sums counter increments of samples stamped in `(from, to]` into buckets,
/// per group. `predecessors` holds each series' last sample at or before
/// `from`; a series without one starts counting at its second sample, as it
/// has no earlier value to increase from.
pub fn counter_increments<S: Borrow<RawSeries>>(
    series: &[S],
    predecessors: &LastSamples,
    group_by: &[String],
    from: i64,
    to: i64,
) -> Grouped<f64> {
    // Increments are stamped in a vector and summed per bucket at the end:
    // a B-tree lookup per sample cost more than all the arithmetic.
    let mut stamped: BTreeMap<Labels, Vec<(Minute, f64)>> = BTreeMap::new();
    for s in series {
        let s = s.borrow();
        let key = series_key(&s.labels);
        let mut prev = predecessors.get(&key).map(|&(_, v)| v);
        let increments = stamped.entry(group_key(&s.labels, group_by)).or_default();
        for &(ts, value) in &s.samples {
            if ts <= from {
                prev = Some(value);
                continue;
            }
            if ts > to {
                break;
            }
            let increase = match prev {
                Some(p) if value >= p => value - p,
                Some(_) => value, // counter reset: it restarted from zero
                None => 0.0,
            };
            increments.push((Minute::bucket_of(ts), increase));
            prev = Some(value);
        }
    }
    sum_groups(stamped)
}

/// Per group, the values stamped with each minute summed in the order they
/// were stamped: to the bit what adding them into each bucket one by one
/// gives (the sort is stable), without a map lookup per value.
fn sum_groups<T: AddAssign + Default>(stamped: BTreeMap<Labels, Vec<(Minute, T)>>) -> Grouped<T> {
    stamped
        .into_iter()
        .map(|(group, mut values)| {
            values.sort_by_key(|&(minute, _)| minute);
            let mut sums: Vec<(Minute, T)> = Vec::with_capacity(values.len());
            for (minute, value) in values {
                match sums.last_mut() {
                    Some((last, sum)) if *last == minute => *sum += value,
                    _ => {
                        let mut sum = T::default();
                        sum += value;
                        sums.push((minute, sum));
                    }
                }
            }
            // Sorted and distinct: the map is built in bulk, not by search.
            (group, sums.into_iter().collect())
        })
        .collect()
}

/// Each series' last sample at or before `at`, starting from `predecessors`
/// (valid at an earlier instant) and updated with the samples fetched since.
/// Series silent since before `forget_before` are dropped.
pub fn last_samples_at<S: Borrow<RawSeries>>(
    series: &[S],
    predecessors: &LastSamples,
    at: i64,
    forget_before: i64,
) -> LastSamples {
    let mut out: LastSamples = predecessors
        .iter()
        .filter(|(_, (ts, _))| *ts >= forget_before)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for s in series {
        let s = s.borrow();
        if let Some(&last) = s.samples.iter().take_while(|(ts, _)| *ts <= at).last() {
            let entry = out.entry(series_key(&s.labels)).or_insert(last);
            if last.0 >= entry.0 {
                *entry = last;
            }
        }
    }
    out
}

/// For a 0/1 gauge: every sample in `(from, to]` is one event, good in
/// proportion to its value clamped to `[0, 1]`.
pub fn gauge_events<S: Borrow<RawSeries>>(
    series: &[S],
    group_by: &[String],
    from: i64,
    to: i64,
) -> Grouped<EventCounts> {
    let mut stamped: BTreeMap<Labels, Vec<(Minute, EventCounts)>> = BTreeMap::new();
    for s in series {
        let s = s.borrow();
        let events = stamped.entry(group_key(&s.labels, group_by)).or_default();
        for &(ts, value) in s.samples.iter().filter(|(ts, _)| *ts > from && *ts <= to) {
            let event = EventCounts {
                good: value.clamp(0.0, 1.0),
                total: 1.0,
            };
            events.push((Minute::bucket_of(ts), event));
        }
    }
    sum_groups(stamped)
}

/// Combines a counted series (bad or good) with totals into per-bucket counts.
/// Good is kept as `total - bad` even when a bucket goes negative (series
/// scraped a moment apart): sums over windows stay exact that way.
pub fn combine(
    counted: &Grouped<f64>,
    total: &Grouped<f64>,
    counted_is_bad: bool,
) -> Grouped<EventCounts> {
    let none = BTreeMap::new();
    let groups: BTreeSet<&Labels> = total.keys().chain(counted.keys()).collect();
    groups
        .into_iter()
        .map(|group| {
            let counted = counted.get(group).unwrap_or(&none);
            let total = total.get(group).unwrap_or(&none);
            (
                group.clone(),
                combine_buckets(counted, total, counted_is_bad),
            )
        })
        .collect()
}

/// One group's buckets of [`combine`], merged in minute order (both inputs
/// are sorted) and built in bulk. The sums are those of adding the total,
/// then the counted events, to an empty bucket.
fn combine_buckets(
    counted: &BTreeMap<Minute, f64>,
    total: &BTreeMap<Minute, f64>,
    counted_is_bad: bool,
) -> BTreeMap<Minute, EventCounts> {
    let mut totals = total.iter().peekable();
    let mut counts = counted.iter().peekable();
    let mut out: Vec<(Minute, EventCounts)> = Vec::with_capacity(total.len().max(counted.len()));
    loop {
        let next_total = totals.peek().map(|&(&minute, _)| minute);
        let next_count = counts.peek().map(|&(&minute, _)| minute);
        let Some(minute) = next_total.into_iter().chain(next_count).min() else {
            break;
        };
        let mut bucket = EventCounts::default();
        if let Some((_, &t)) = totals.next_if(|&(&m, _)| m == minute) {
            bucket.total += t;
            if counted_is_bad {
                bucket.good += t;
            }
        }
        if let Some((_, &c)) = counts.next_if(|&(&m, _)| m == minute) {
            bucket.good += if counted_is_bad { -c } else { c };
        }
        out.push((minute, bucket));
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> crate::labels::Labels {
        crate::labels::from_pairs(pairs)
    }

    fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> RawSeries {
        RawSeries {
            labels: labels(pairs),
            samples: samples.to_vec(),
        }
    }

    const M: i64 = 60_000;

    #[test]
    fn increments_are_stamped_at_the_later_sample() {
        let s = [series(
            &[("__name__", "x"), ("route", "/a")],
            &[
                (15_000, 10.0),
                (30_000, 12.0),
                (60_000, 15.0),
                (75_000, 20.0),
            ],
        )];
        let out = counter_increments(&s, &LastSamples::new(), &["route".into()], 0, 2 * M);
        // First sample has no predecessor; 2 and 3 land in (0, 1m]; 5 lands in (1m, 2m].
        assert_eq!(
            out[&labels(&[("route", "/a")])],
            BTreeMap::from([(Minute::nth(0), 5.0), (Minute::nth(1), 5.0)])
        );
    }

    #[test]
    fn predecessors_and_resets() {
        let s = [series(
            &[("__name__", "x"), ("pod", "a")],
            &[(70_000, 105.0), (80_000, 3.0), (90_000, 7.0)],
        )];
        let preds = LastSamples::from([(labels(&[("pod", "a")]), (0, 100.0))]);
        let out = counter_increments(&s, &preds, &[], M, 2 * M);
        // 5 from the predecessor, 3 after the reset (the new value), then 4.
        assert_eq!(
            out[&Labels::new()],
            BTreeMap::from([(Minute::nth(1), 12.0)])
        );
    }

    #[test]
    fn samples_outside_the_span_only_serve_as_predecessors() {
        let s = [series(
            &[("__name__", "x")],
            &[(10_000, 1.0), (M, 4.0), (M + 1, 6.0), (3 * M, 100.0)],
        )];
        let out = counter_increments(&s, &LastSamples::new(), &[], M, 2 * M);
        assert_eq!(out[&Labels::new()], BTreeMap::from([(Minute::nth(1), 2.0)]));
    }

    #[test]
    fn series_are_summed_per_group() {
        let s = [
            series(
                &[("route", "/a"), ("pod", "1")],
                &[(1_000, 0.0), (2_000, 1.0)],
            ),
            series(
                &[("route", "/a"), ("pod", "2")],
                &[(1_000, 0.0), (2_000, 2.0)],
            ),
            series(
                &[("route", "/b"), ("pod", "1")],
                &[(1_000, 0.0), (2_000, 4.0)],
            ),
            series(&[("pod", "3")], &[(1_000, 0.0), (2_000, 8.0)]),
        ];
        let out = counter_increments(&s, &LastSamples::new(), &["route".into()], 0, M);
        let got: Vec<(String, f64)> = out
            .iter()
            .map(|(k, v)| (k["route"].clone(), v[&Minute::nth(0)]))
            .collect();
        assert_eq!(
            got,
            [
                ("".to_string(), 8.0),
                ("/a".to_string(), 3.0),
                ("/b".to_string(), 4.0)
            ]
        );
    }

    #[test]
    fn last_samples_carry_across_spans() {
        let preds = LastSamples::from([
            (labels(&[("pod", "a")]), (5_000, 1.0)),
            (labels(&[("pod", "gone")]), (1_000, 9.0)),
            (labels(&[("pod", "b")]), (6_000, 2.0)),
        ]);
        let s = [series(
            &[("__name__", "x"), ("pod", "a")],
            &[(70_000, 3.0), (130_000, 4.0)],
        )];
        let carried = last_samples_at(&s, &preds, 2 * M, 2_000);
        assert_eq!(
            carried.get(&labels(&[("pod", "a")])),
            Some(&(70_000, 3.0)),
            "last sample at or before the instant"
        );
        assert_eq!(
            carried.get(&labels(&[("pod", "b")])),
            Some(&(6_000, 2.0)),
            "silent series keep their predecessor"
        );
        assert_eq!(
            carried.get(&labels(&[("pod", "gone")])),
            None,
            "series silent too long are forgotten"
        );
    }

    #[test]
    fn gauge_samples_are_events() {
        let s = [series(
            &[("__name__", "probe_success")],
            &[(10_000, 1.0), (20_000, 0.0), (30_000, 1.0), (70_000, 1.0)],
        )];
        let out = gauge_events(&s, &[], 0, 2 * M);
        assert_eq!(
            out[&Labels::new()][&Minute::nth(0)],
            EventCounts {
                good: 2.0,
                total: 3.0
            }
        );
        assert_eq!(
            out[&Labels::new()][&Minute::nth(1)],
            EventCounts {
                good: 1.0,
                total: 1.0
            }
        );
    }

    #[test]
    fn combine_bad_and_good() {
        let bad: Grouped<f64> =
            BTreeMap::from([(Labels::new(), BTreeMap::from([(Minute::nth(0), 2.0)]))]);
        let total: Grouped<f64> = BTreeMap::from([(
            Labels::new(),
            BTreeMap::from([(Minute::nth(0), 10.0), (Minute::nth(1), 5.0)]),
        )]);
        let out = combine(&bad, &total, true);
        assert_eq!(
            out[&Labels::new()][&Minute::nth(0)],
            EventCounts {
                good: 8.0,
                total: 10.0
            }
        );
        assert_eq!(
            out[&Labels::new()][&Minute::nth(1)],
            EventCounts {
                good: 5.0,
                total: 5.0
            }
        );
        let good_out = combine(&bad, &total, false);
        assert_eq!(
            good_out[&Labels::new()][&Minute::nth(0)],
            EventCounts {
                good: 2.0,
                total: 10.0
            }
        );
    }
}
