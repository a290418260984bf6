//! Corrections: spans whose minutes count neither as good nor as bad events
//! (planned maintenance, a known false alarm), once or on an RFC 5545
//! recurrence rule.
//!
//! Corrections are minute-granular. A correction over `[start, start +
//! duration)` excludes the one-minute buckets that lie wholly inside it: the
//! buckets from `start` rounded up to a minute until `start + duration`
//! rounded down. A bucket only partly covered keeps its events, so a
//! correction never hides more than it says.
//!
//! Expansion is bounded: only occurrences that touch the span asked for are
//! produced, and rules with a fixed period (minutely to weekly, without
//! `COUNT`) start iterating just before that span instead of at `start`.

use std::fmt;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use rrule::{Frequency, RRule, Unvalidated};
use serde::{Serialize, Serializer};

use crate::duration::Duration;
use crate::time::{MINUTE_MS, floor_minute};

/// Occurrences a rule may have in one SLO window; `check` refuses rules
/// with more, and expansion never looks at more than this per span.
pub const MAX_OCCURRENCES: usize = 10_000;

/// One correction: a span (or a recurring span) excluded from every window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correction {
    pub reason: String,
    pub start: DateTime<FixedOffset>,
    pub duration: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Recurrence>,
}

/// A parsed RFC 5545 `RRULE` value, kept with the text it was written as.
#[derive(Clone)]
pub struct Recurrence {
    text: String,
    rule: RRule<Unvalidated>,
}

impl PartialEq for Recurrence {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Recurrence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl Recurrence {
    /// Parses `FREQ=...;...` (an `RRULE:` prefix is allowed) and checks it
    /// against the correction's start. The message says what is wrong.
    pub fn parse(text: &str, start: DateTime<FixedOffset>) -> Result<Recurrence, String> {
        let body = text.trim();
        let body = body.strip_prefix("RRULE:").unwrap_or(body);
        let rule: RRule<Unvalidated> = body
            .parse()
            .map_err(|e| format!("`{text}` is not a valid RFC 5545 RRULE: {e}"))?;
        if rule.get_freq() == Frequency::Secondly {
            return Err(format!(
                "`{text}`: corrections are minute-granular, `FREQ=SECONDLY` cannot be honoured; use `MINUTELY` or coarser"
            ));
        }
        if rule
            .get_count()
            .is_some_and(|c| c as usize > MAX_OCCURRENCES)
        {
            return Err(format!(
                "`{text}`: `COUNT` may be at most {MAX_OCCURRENCES}; write an `UNTIL` or no end instead"
            ));
        }
        let recurrence = Recurrence {
            text: body.to_string(),
            rule,
        };
        recurrence
            .set(local_start(start), 0)
            .map_err(|e| format!("`{text}` is not a valid RFC 5545 RRULE here: {e}"))?;
        Ok(recurrence)
    }

    /// The fixed length of one period, for rules that have one.
    fn period_ms(&self) -> Option<i64> {
        if self.rule.get_count().is_some() {
            return None;
        }
        let unit = match self.rule.get_freq() {
            Frequency::Minutely => MINUTE_MS,
            Frequency::Hourly => 60 * MINUTE_MS,
            Frequency::Daily => 24 * 60 * MINUTE_MS,
            Frequency::Weekly => 7 * 24 * 60 * MINUTE_MS,
            _ => return None,
        };
        Some(unit * i64::from(self.rule.get_interval().max(1)))
    }

    /// The rule set starting at `start` (wall-clock time in the correction's
    /// offset, written as UTC), its `UNTIL` moved by `offset_ms` likewise.
    fn set(&self, start: DateTime<rrule::Tz>, offset_ms: i64) -> Result<rrule::RRuleSet, String> {
        let mut rule = self.rule.clone();
        if let Some(until) = rule.get_until().copied() {
            rule = rule.until(until + chrono::Duration::milliseconds(offset_ms));
        }
        rule.build(start).map_err(|e| e.to_string())
    }
}

/// The wall-clock time of `t` in its own offset, as if it were UTC: a fixed
/// offset makes this exact, and weekdays and hours follow the offset written.
fn local_start(t: DateTime<FixedOffset>) -> DateTime<rrule::Tz> {
    rrule::Tz::UTC.from_utc_datetime(&t.naive_local())
}

impl Correction {
    fn start_ms(&self) -> i64 {
        self.start.timestamp_millis()
    }

    /// Every occurrence `(start, end)` in Unix ms that overlaps `[from, to)`,
    /// in order; at most [`MAX_OCCURRENCES`] are looked at.
    pub fn occurrences(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        let length = self.duration.as_millis() as i64;
        let start = self.start_ms();
        let Some(repeat) = &self.repeat else {
            return if start < to && start + length > from {
                vec![(start, start + length)]
            } else {
                Vec::new()
            };
        };
        let offset_ms = i64::from(self.start.offset().local_minus_utc()) * 1000;
        // Fixed periods: begin a whole number of periods after `start`, early
        // enough that an occurrence still running at `from` is produced.
        let skip = match repeat.period_ms() {
            Some(period) if from - length > start => (from - length - start) / period * period,
            _ => 0,
        };
        let local = local_start(self.start) + chrono::Duration::milliseconds(skip);
        let Ok(set) = repeat.set(local, offset_ms) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for occurrence in set.into_iter().take(MAX_OCCURRENCES) {
            let begin = occurrence.timestamp_millis() - offset_ms;
            if begin >= to {
                break;
            }
            if begin + length > from {
                out.push((begin, begin + length));
            }
        }
        out
    }

    /// The minute buckets excluded inside `[from, to)`, as `[first, end)`
    /// bucket starts: only buckets wholly inside an occurrence.
    pub fn excluded(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        self.occurrences(from, to)
            .into_iter()
            .filter_map(|(begin, end)| {
                let first = ceil_minute(begin).max(from);
                let last = floor_minute(end).min(to);
                (first < last).then_some((first, last))
            })
            .collect()
    }
}

fn ceil_minute(ms: i64) -> i64 {
    floor_minute(ms + MINUTE_MS - 1)
}

/// The minutes every correction excludes inside `[from, to)`: sorted,
/// overlaps and neighbours merged. Empty, and free, without corrections.
pub fn excluded_minutes(corrections: &[Correction], from: i64, to: i64) -> Vec<(i64, i64)> {
    if corrections.is_empty() {
        return Vec::new();
    }
    let mut all: Vec<(i64, i64)> = corrections
        .iter()
        .flat_map(|c| c.excluded(from, to))
        .collect();
    all.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(all.len());
    for (a, b) in all {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// How many occurrences `correction` has in the first `window` after its
/// start, at most [`MAX_OCCURRENCES`]: what `check` compares.
pub fn occurrences_in_window(correction: &Correction, window: Duration) -> usize {
    let from = correction.start_ms();
    correction
        .occurrences(from, from.saturating_add(window.as_millis() as i64))
        .len()
}

/// `start` as text in UTC, for messages.
pub fn utc_text(t: DateTime<FixedOffset>) -> String {
    t.with_timezone(&Utc).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 60 * MINUTE_MS;
    const D: i64 = 24 * H;

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }
    fn ms(text: &str) -> i64 {
        at(text).timestamp_millis()
    }
    fn correction(start: &str, minutes: u64, repeat: Option<&str>) -> Correction {
        Correction {
            reason: "test".into(),
            start: at(start),
            duration: Duration::from_millis(minutes * MINUTE_MS as u64),
            repeat: repeat.map(|r| Recurrence::parse(r, at(start)).unwrap()),
        }
    }

    #[test]
    fn occurrences_of_one_off_and_weekly_corrections() {
        // 2026-11-01 is a Sunday.
        let weekly = correction("2026-11-01T02:00:00Z", 120, Some("FREQ=WEEKLY;BYDAY=SU"));
        let once = correction("2026-11-01T02:00:00Z", 120, None);
        let sun = ms("2026-11-01T02:00:00Z");
        // The correction, the span asked about, the occurrences expected.
        type Case<'a> = (&'a Correction, i64, i64, Vec<(i64, i64)>);
        let cases: [Case; 6] = [
            (&once, sun - D, sun + D, vec![(sun, sun + 2 * H)]),
            (&once, sun + 2 * H, sun + D, vec![]),
            (&once, sun + H, sun + D, vec![(sun, sun + 2 * H)]),
            (
                &weekly,
                sun - D,
                sun + 15 * D,
                vec![
                    (sun, sun + 2 * H),
                    (sun + 7 * D, sun + 7 * D + 2 * H),
                    (sun + 14 * D, sun + 14 * D + 2 * H),
                ],
            ),
            // Years later: only the occurrences in the span, one of them
            // still running at its start.
            (
                &weekly,
                sun + 700 * D + H,
                sun + 708 * D,
                vec![
                    (sun + 700 * D, sun + 700 * D + 2 * H),
                    (sun + 707 * D, sun + 707 * D + 2 * H),
                ],
            ),
            (&weekly, sun - 30 * D, sun, vec![]),
        ];
        for (i, (c, from, to, want)) in cases.into_iter().enumerate() {
            assert_eq!(c.occurrences(from, to), want, "case {i}");
        }
    }

    #[test]
    fn weekdays_follow_the_offset_written() {
        // Sunday 01:00 in Tokyo is Saturday 16:00 UTC.
        let c = correction(
            "2026-11-01T01:00:00+09:00",
            60,
            Some("FREQ=WEEKLY;BYDAY=SU"),
        );
        let first = ms("2026-10-31T16:00:00Z");
        assert_eq!(
            c.occurrences(first, first + 8 * D),
            vec![(first, first + H), (first + 7 * D, first + 7 * D + H)]
        );
        let until = correction(
            "2026-11-01T01:00:00+09:00",
            60,
            Some("FREQ=DAILY;UNTIL=20261102T160000Z"),
        );
        // UNTIL is an instant: the 3rd (16:00 UTC on the 2nd) is the last.
        assert_eq!(until.occurrences(first, first + 10 * D).len(), 3);
    }

    #[test]
    fn a_rule_with_millions_of_occurrences_expands_only_the_span() {
        let c = correction("2000-01-01T00:00:00Z", 1, Some("FREQ=MINUTELY;INTERVAL=2"));
        let from = ms("2026-11-01T00:00:00Z");
        let got = c.occurrences(from, from + H);
        assert_eq!(got.len(), 30);
        assert_eq!(got[0], (from, from + MINUTE_MS));
        // COUNT cannot skip ahead, so it is bounded instead.
        assert!(
            Recurrence::parse("FREQ=MINUTELY;COUNT=20000", at("2026-01-01T00:00:00Z")).is_err()
        );
    }

    #[test]
    fn only_minutes_wholly_inside_are_excluded() {
        let m = ms("2026-11-01T02:00:00Z");
        let cases = [
            // start, seconds, excluded buckets in minutes after `m`
            ("2026-11-01T02:00:00Z", 120, vec![(0, 2)]),
            ("2026-11-01T02:00:30Z", 120, vec![(1, 2)]),
            ("2026-11-01T02:00:30Z", 90, vec![(1, 2)]),
            ("2026-11-01T02:00:30Z", 60, vec![]),
            ("2026-11-01T02:00:00Z", 59, vec![]),
            ("2026-11-01T01:59:59Z", 62, vec![(0, 1)]),
        ];
        for (start, secs, want) in cases {
            let c = Correction {
                reason: "r".into(),
                start: at(start),
                duration: Duration::from_secs(secs),
                repeat: None,
            };
            let want: Vec<(i64, i64)> = want
                .into_iter()
                .map(|(a, b)| (m + a * MINUTE_MS, m + b * MINUTE_MS))
                .collect();
            assert_eq!(c.excluded(m - H, m + H), want, "{start} for {secs}s");
        }
    }

    #[test]
    fn excluded_minutes_are_clipped_sorted_and_merged() {
        let m = ms("2026-11-01T02:00:00Z");
        let a = correction("2026-11-01T02:00:00Z", 30, None);
        let b = correction("2026-11-01T02:20:00Z", 20, None);
        let c = correction("2026-11-01T02:40:00Z", 5, None);
        let d = correction("2026-11-01T03:00:00Z", 5, None);
        let all = [d.clone(), a.clone(), b.clone(), c.clone()];
        assert_eq!(
            excluded_minutes(&all, m + 10 * MINUTE_MS, m + 62 * MINUTE_MS),
            vec![
                (m + 10 * MINUTE_MS, m + 45 * MINUTE_MS),
                (m + 60 * MINUTE_MS, m + 62 * MINUTE_MS)
            ]
        );
        assert!(excluded_minutes(&[], m, m + H).is_empty());
        assert!(excluded_minutes(&all, m + 2 * H, m + 3 * H).is_empty());
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let start = at("2026-11-01T02:00:00Z");
        for (rule, part) in [
            ("FREQ=FORTNIGHTLY", "not a valid RFC 5545 RRULE"),
            ("BYDAY=SU", "not a valid RFC 5545 RRULE"),
            ("FREQ=SECONDLY", "minute-granular"),
            ("FREQ=WEEKLY;BYDAY=XX", "not a valid RFC 5545 RRULE"),
        ] {
            let err = Recurrence::parse(rule, start).unwrap_err();
            assert!(err.contains(part), "{rule}: {err}");
        }
        assert!(Recurrence::parse("RRULE:FREQ=DAILY;BYHOUR=3", start).is_ok());
    }
}
