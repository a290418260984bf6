//! Bringing event counts up to date: which Prometheus queries an indicator
//! needs for a span of time, and turning their answers into minute buckets.

pub mod fanin;
pub mod fingerprint;
pub mod history;
pub mod increments;
pub mod matching;
pub mod packed;
pub mod prefetch;

use std::collections::{BTreeMap, HashMap};

use increments::{
    Grouped, LastSamples, combine, counter_increments, gauge_events, group_key, last_samples_at,
    series_key,
};

use crate::catalog::promql::{MatchKind, Selector};
use crate::catalog::{Counts, Indicator, Slo};
use crate::duration::Duration;
use crate::engine::EventCounts;
use crate::prom::{PrometheusError, RawSeries};
use crate::time::{MINUTE_MS, Minute};
use prefetch::{Read, ReadKind, Reader};

/// How far back to look for a series' last sample when no carried sample is
/// known (the first span after start-up). Between spans, last samples are
/// carried instead, for up to [`CARRY_FOR`].
pub const PREDECESSOR_LOOKBACK: Duration = Duration::from_hours(1);

/// A series silent for longer is treated as new: its next sample adds nothing.
pub const CARRY_FOR: Duration = Duration::from_days(1);

/// Each counter selector's last samples at an instant, handed from one span to the next.
#[derive(Debug, Clone, Default)]
pub struct Carry {
    pub at: i64,
    pub by_selector: HashMap<String, LastSamples>,
}

/// Per instance, the last minute bucket in a span holding one of its samples.
pub type LastSeen = BTreeMap<crate::labels::Labels, Minute>;

/// Like [`fetch_span_once`], but an answer over the byte cap splits the
/// span in two, each fetched the same way, down to single minutes: a burst
/// of series cannot exhaust memory, and nothing is skipped.
pub async fn fetch_span(
    prom: &Reader,
    slo: &Slo,
    start: Minute,
    to: i64,
    carry: &mut Option<Carry>,
    next_from: i64,
) -> Result<(Grouped<EventCounts>, LastSeen), PrometheusError> {
    match fetch_span_once(prom, slo, start, to, carry, next_from).await {
        Err(PrometheusError::TooLarge { limit, .. }) if to - start.ms() > MINUTE_MS => {
            let mid = Minute::floor(start.ms() + (to - start.ms()) / 2).max(start.next());
            tracing::warn!(
                limit,
                from = %start,
                to = %Minute::floor(to),
                "Prometheus answer over the byte cap: fetching the span in two halves"
            );
            let (mut merged, mut last_seen) =
                Box::pin(fetch_span(prom, slo, start, mid.ms(), carry, mid.ms())).await?;
            let (second, seen_later) =
                Box::pin(fetch_span(prom, slo, mid, to, carry, next_from)).await?;
            for (group, minutes) in second {
                merged.entry(group).or_default().extend(minutes);
            }
            last_seen.extend(seen_later);
            fill_zero_buckets(&mut merged, start, to);
            Ok((merged, last_seen))
        }
        other => other,
    }
}

/// Event counts per instance (group labels) and minute bucket for the span
/// `(from, to]`; both ends are Unix milliseconds, `from` minute-aligned and
/// `to` second-aligned. Every bucket the span covers is present for each
/// instance seen, zero when nothing happened, so writing them overwrites.
///
/// `carry` holds counters' last samples at `from` if the previous span left
/// them there; on return it holds them at `next_from`, where the next span
/// will start.
async fn fetch_span_once(
    prom: &Reader,
    slo: &Slo,
    start: Minute,
    to: i64,
    carry: &mut Option<Carry>,
    next_from: i64,
) -> Result<(Grouped<EventCounts>, LastSeen), PrometheusError> {
    let from = start.ms();
    let group_by = &slo.group_by;
    // Borrowed, not taken: a span refused over the byte cap is fetched again
    // in halves, and the first half needs the same predecessors.
    let previous = carry.as_ref().filter(|c| c.at == from);
    let mut next = Carry {
        at: next_from,
        by_selector: HashMap::new(),
    };
    let mut grouped = match &slo.indicator {
        Indicator::Ratio { .. } | Indicator::Latency { .. } => {
            let [counted, total] = counter_selectors(&slo.indicator).expect("a counter indicator");
            let counts_bad =
                matches!(&slo.indicator, Indicator::Ratio { counts, .. } if *counts == Counts::Bad);
            let (counted, total) = tokio::try_join!(
                counter_span(prom, &counted, group_by, from, to, previous, next_from),
                counter_span(prom, &total, group_by, from, to, previous, next_from)
            )?;
            next.by_selector.extend([counted.1, total.1]);
            combine(&counted.0, &total.0, counts_bad)
        }
        Indicator::BoolGauge { selector } => {
            let series = prom.raw(selector, from, to).await?;
            gauge_events(&series.items(), group_by, from, to)
        }
        Indicator::Events {
            counts,
            query,
            total,
        } => {
            // Whole minutes only: a range query's point at t covers (t - 1m, t].
            let end = to - to.rem_euclid(MINUTE_MS);
            if end <= from {
                return Ok((BTreeMap::new(), LastSeen::new()));
            }
            let (counted, total) = tokio::try_join!(
                events_span(prom, query, group_by, from, end),
                events_span(prom, total, group_by, from, end)
            )?;
            combine(&counted, &total, *counts == Counts::Bad)
        }
        Indicator::ErrorRatio { query } => {
            let end = to - to.rem_euclid(MINUTE_MS);
            if end <= from {
                return Ok((BTreeMap::new(), LastSeen::new()));
            }
            let (bad, total) = ratio_span(prom, query, group_by, from, end).await?;
            combine(&bad, &total, true)
        }
    };
    // Before the zero fill: the minutes that hold samples.
    let last_seen: LastSeen = grouped
        .iter()
        .filter_map(|(group, minutes)| Some((group.clone(), *minutes.keys().next_back()?)))
        .collect();
    fill_zero_buckets(&mut grouped, start, to);
    // Last samples at `next_from` are only known from this span if it starts there or earlier.
    *carry = (!next.by_selector.is_empty() && next_from >= from).then_some(next);
    Ok((grouped, last_seen))
}

fn span_range(from: i64, to: i64) -> Duration {
    Duration::from_millis((to - from).max(1000) as u64)
}

/// Counter increments in `(from, to]` from raw samples plus each series'
/// last sample at `from` (carried, or asked of Prometheus), and the last
/// samples at `next_from` for the next span.
async fn counter_span(
    prom: &Reader,
    selector: &Selector,
    group_by: &[String],
    from: i64,
    to: i64,
    carry: Option<&Carry>,
    next_from: i64,
) -> Result<(Grouped<f64>, (String, LastSamples)), PrometheusError> {
    let text = selector.to_string();
    let answer = prom.raw(selector, from, to).await?;
    let series = answer.items();
    let predecessors = match carry.and_then(|c| c.by_selector.get(&text)) {
        Some(carried) => carried.clone(),
        // Only the value matters; the time is used to forget silent series.
        None => prom
            .last(selector, from)
            .await?
            .items()
            .into_iter()
            .map(|(labels, value)| (series_key(labels), (from, *value)))
            .collect(),
    };
    let increments = counter_increments(&series, &predecessors, group_by, from, to);
    let forget_before = next_from - CARRY_FOR.as_millis() as i64;
    let last = last_samples_at(&series, &predecessors, next_from, forget_before);
    Ok((increments, (text, last)))
}

/// The two counters a ratio or latency indicator reads: the counted events
/// (good or bad) and the total.
fn counter_selectors(indicator: &Indicator) -> Option<[Selector; 2]> {
    match indicator {
        Indicator::Ratio {
            selector, total, ..
        } => Some([selector.clone(), total.clone()]),
        Indicator::Latency {
            bucket, count, le, ..
        } => Some([
            bucket.with_matcher("le", MatchKind::Regex, &le_regex(le)),
            count.clone(),
        ]),
        Indicator::BoolGauge { .. } | Indicator::Events { .. } | Indicator::ErrorRatio { .. } => {
            None
        }
    }
}

/// The reads [`fetch_span`] makes for `slo` over `(start, to]` when nothing
/// is over the byte cap: for fanning them in with other SLOs' beforehand.
pub fn span_reads(slo: &Slo, start: Minute, to: i64, carry: &Option<Carry>) -> Vec<Read> {
    let from = start.ms();
    let raw = ReadKind::Raw { from, to };
    let carried = carry.as_ref().filter(|c| c.at == from);
    match &slo.indicator {
        Indicator::BoolGauge { selector } => vec![Read {
            selector: selector.clone(),
            kind: raw,
        }],
        Indicator::Events { .. } | Indicator::ErrorRatio { .. } => Vec::new(),
        indicator => counter_selectors(indicator)
            .into_iter()
            .flatten()
            .flat_map(|selector| {
                let known =
                    carried.is_some_and(|c| c.by_selector.contains_key(&selector.to_string()));
                let last = (!known).then(|| Read {
                    selector: selector.clone(),
                    kind: ReadKind::Last { at: from },
                });
                [
                    Some(Read {
                        selector,
                        kind: raw,
                    }),
                    last,
                ]
            })
            .flatten()
            .collect(),
    }
}

/// A free-form events query evaluated once per minute with a one-minute window.
async fn events_span(
    prom: &Reader,
    query: &crate::catalog::promql::WindowedQuery,
    group_by: &[String],
    from: i64,
    end: i64,
) -> Result<Grouped<f64>, PrometheusError> {
    let text = query.with_window("1m");
    let scale = if query.per_second() { 60.0 } else { 1.0 };
    let series: Vec<RawSeries> = prom
        .range(&text, from + MINUTE_MS, end, Duration::from_mins(1))
        .await?;
    let mut out: Grouped<f64> = BTreeMap::new();
    for s in series {
        let buckets = out.entry(group_key(&s.labels, group_by)).or_default();
        for (ts, value) in s.samples {
            if value.is_finite() {
                *buckets.entry(Minute::bucket_of(ts)).or_default() += value * scale;
            }
        }
    }
    Ok(out)
}

/// An error-ratio query evaluated once per minute with a one-minute window:
/// every series' value in a minute is one time-weighted event, as bad as
/// its ratio (held to 0..1). Minutes without a value (no traffic: 0/0) hold
/// no event.
async fn ratio_span(
    prom: &Reader,
    query: &crate::catalog::promql::WindowedQuery,
    group_by: &[String],
    from: i64,
    end: i64,
) -> Result<(Grouped<f64>, Grouped<f64>), PrometheusError> {
    let series: Vec<RawSeries> = prom
        .range(
            &query.with_window("1m"),
            from + MINUTE_MS,
            end,
            Duration::from_mins(1),
        )
        .await?;
    let (mut bad, mut total): (Grouped<f64>, Grouped<f64>) = (BTreeMap::new(), BTreeMap::new());
    for s in series {
        let key = group_key(&s.labels, group_by);
        for (ts, value) in s.samples {
            if value.is_finite() {
                let minute = Minute::bucket_of(ts);
                *bad.entry(key.clone())
                    .or_default()
                    .entry(minute)
                    .or_default() += value.clamp(0.0, 1.0);
                *total
                    .entry(key.clone())
                    .or_default()
                    .entry(minute)
                    .or_default() += 1.0;
            }
        }
    }
    Ok((bad, total))
}

/// Every bucket in the span, for every instance seen, so a rewrite replaces stale values.
fn fill_zero_buckets(grouped: &mut Grouped<EventCounts>, from: Minute, to: i64) {
    let span = || std::iter::successors(Some(from), |m| Some(m.next())).take_while(|m| m.ms() < to);
    let wanted = span().count();
    for buckets in grouped.values_mut() {
        // Most instances have a sample every minute: nothing to add.
        if buckets
            .range(from..)
            .take_while(|(m, _)| m.ms() < to)
            .count()
            == wanted
        {
            continue;
        }
        // Merged in minute order and built in bulk, not inserted one by one.
        let mut held = std::mem::take(buckets).into_iter().peekable();
        let mut zeros = span().peekable();
        let mut merged = Vec::with_capacity(wanted);
        loop {
            let next = match (held.peek(), zeros.peek()) {
                (None, None) => break,
                (Some(_), None) => held.next(),
                (Some((h, _)), Some(z)) if h <= z => {
                    if h == z {
                        zeros.next();
                    }
                    held.next()
                }
                _ => zeros.next().map(|z| (z, EventCounts::default())),
            };
            merged.extend(next);
        }
        *buckets = merged.into_iter().collect();
    }
}

/// A regex matching every way exporters write the bound: `0.3`, `0.30`, `1`, `1.0`.
pub fn le_regex(le: &str) -> String {
    let escaped = le.replace('.', "\\.");
    if le.contains('.') {
        format!("{escaped}0*")
    } else {
        format!("{escaped}(\\.0*)?")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;

    #[test]
    fn le_regex_matches_equivalent_spellings() {
        assert_eq!(le_regex("0.3"), "0\\.30*");
        assert_eq!(le_regex("1"), "1(\\.0*)?");
    }

    #[test]
    fn zero_buckets_cover_the_span() {
        let mut g: Grouped<EventCounts> = BTreeMap::from([(
            Labels::new(),
            BTreeMap::from([(
                Minute::nth(1),
                EventCounts {
                    good: 1.0,
                    total: 1.0,
                },
            )]),
        )]);
        fill_zero_buckets(&mut g, Minute::nth(0), 2 * MINUTE_MS + 5_000);
        let keys: Vec<i64> = g[&Labels::new()].keys().map(|m| m.ms()).collect();
        assert_eq!(keys, [0, MINUTE_MS, 2 * MINUTE_MS]);
        assert_eq!(g[&Labels::new()][&Minute::nth(1)].total, 1.0);
    }

    #[test]
    fn zero_buckets_keep_every_count_inside_and_outside_the_span() {
        let counts = |n: f64| EventCounts { good: n, total: n };
        let group = |pairs: &[(&str, &str)]| crate::labels::from_pairs(pairs);
        let held = |minutes: &[(i64, f64)]| -> BTreeMap<Minute, EventCounts> {
            minutes
                .iter()
                .map(|&(m, n)| (Minute::nth(m), counts(n)))
                .collect()
        };
        let mut g: Grouped<EventCounts> = BTreeMap::from([
            (
                group(&[("r", "gaps")]),
                held(&[(1, 1.0), (3, 3.0), (4, 4.0), (9, 9.0)]),
            ),
            (
                group(&[("r", "full")]),
                held(&[(2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0)]),
            ),
            (group(&[("r", "none")]), BTreeMap::new()),
        ]);
        fill_zero_buckets(&mut g, Minute::nth(2), 6 * MINUTE_MS);
        let listed = |name: &str| -> Vec<(i64, f64)> {
            g[&group(&[("r", name)])]
                .iter()
                .map(|(m, c)| (m.ms() / MINUTE_MS, c.total))
                .collect()
        };
        assert_eq!(
            listed("gaps"),
            [(1, 1.0), (2, 0.0), (3, 3.0), (4, 4.0), (5, 0.0), (9, 9.0)]
        );
        assert_eq!(listed("full"), [(2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0)]);
        assert_eq!(listed("none"), [(2, 0.0), (3, 0.0), (4, 0.0), (5, 0.0)]);
    }
}
