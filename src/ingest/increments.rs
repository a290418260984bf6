//! Exact event counts from raw samples.
//!
//! Ground truth for a counter: the increase between two consecutive samples
//! of a series (after a reset, the new value) belongs to the later sample's
//! timestamp, and a bucket `(t, t + 1m]` counts the increases stamped in it.
//! Computing that from raw samples, rather than with `increase()`, avoids
//! extrapolation at bucket edges.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};

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
    let mut out: Grouped<f64> = BTreeMap::new();
    for s in series {
        let s = s.borrow();
        let key = series_key(&s.labels);
        let mut prev = predecessors.get(&key).map(|&(_, v)| v);
        let buckets = out.entry(group_key(&s.labels, group_by)).or_default();
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
            *buckets.entry(Minute::bucket_of(ts)).or_default() += increase;
            prev = Some(value);
        }
    }
    out
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
    let mut out: Grouped<EventCounts> = BTreeMap::new();
    for s in series {
        let s = s.borrow();
        let buckets = out.entry(group_key(&s.labels, group_by)).or_default();
        for &(ts, value) in s.samples.iter().filter(|(ts, _)| *ts > from && *ts <= to) {
            *buckets.entry(Minute::bucket_of(ts)).or_default() += EventCounts {
                good: value.clamp(0.0, 1.0),
                total: 1.0,
            };
        }
    }
    out
}

/// Combines a counted series (bad or good) with totals into per-bucket counts.
/// Good is kept as `total - bad` even when a bucket goes negative (series
/// scraped a moment apart): sums over windows stay exact that way.
pub fn combine(
    counted: &Grouped<f64>,
    total: &Grouped<f64>,
    counted_is_bad: bool,
) -> Grouped<EventCounts> {
    let mut out: Grouped<EventCounts> = BTreeMap::new();
    for (group, buckets) in total {
        let target = out.entry(group.clone()).or_default();
        for (&bucket, &t) in buckets {
            target.entry(bucket).or_default().total += t;
            if counted_is_bad {
                target.entry(bucket).or_default().good += t;
            }
        }
    }
    for (group, buckets) in counted {
        let target = out.entry(group.clone()).or_default();
        for (&bucket, &c) in buckets {
            target.entry(bucket).or_default().good += if counted_is_bad { -c } else { c };
        }
    }
    out
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
