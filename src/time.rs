//! Time as burnrate counts it: Unix milliseconds, one-minute buckets grouped
//! in hours. A [`Minute`] is a minute-aligned instant, checked when it is made,
//! so bucket arithmetic never meets a stray second.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;

/// Floors a Unix-millisecond timestamp to its hour.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// Floors a Unix-millisecond timestamp to its minute.
pub fn floor_minute(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// A Unix-millisecond timestamp as a UTC time (the epoch if out of range).
pub fn to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A minute-aligned instant, in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Minute(i64);

/// A timestamp that is not on a minute boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} ms is not on a minute boundary")]
pub struct NotAligned(pub i64);

impl Minute {
    /// The minute that starts at or before `ms`.
    pub fn floor(ms: i64) -> Minute {
        Minute(floor_minute(ms))
    }

    /// The start of the bucket holding a sample at `ms`. Buckets are
    /// left-open, `(start, start + 1m]`, to match windows `(T - W, T]`.
    pub fn bucket_of(ms: i64) -> Minute {
        Minute(floor_minute(ms - 1))
    }

    /// `ms` itself, if it is minute-aligned.
    pub fn exact(ms: i64) -> Result<Minute, NotAligned> {
        if ms.rem_euclid(MINUTE_MS) == 0 {
            Ok(Minute(ms))
        } else {
            Err(NotAligned(ms))
        }
    }

    /// The `n`th minute after the epoch.
    pub const fn nth(n: i64) -> Minute {
        Minute(n * MINUTE_MS)
    }

    pub const fn ms(self) -> i64 {
        self.0
    }

    /// The minute after this one.
    pub fn next(self) -> Minute {
        Minute(self.0 + MINUTE_MS)
    }

    /// The start of the hour holding this minute.
    pub fn hour(self) -> i64 {
        hour_of(self.0)
    }

    /// The minute's slot in its hour, 0 to 59.
    pub fn slot(self) -> usize {
        ((self.0 - self.hour()) / MINUTE_MS) as usize
    }

    pub fn time(self) -> DateTime<Utc> {
        to_time(self.0)
    }
}

impl fmt::Display for Minute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.time().format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_checked_when_made() {
        #[rustfmt::skip]
        let cases = [
            // ms,                      floor,     bucket_of, exact
            (0,                         0,         -MINUTE_MS, Some(0)),
            (1,                         0,         0,          None),
            (MINUTE_MS,                 MINUTE_MS, 0,          Some(MINUTE_MS)),
            (MINUTE_MS + 1,             MINUTE_MS, MINUTE_MS,  None),
            (-1,                        -MINUTE_MS, -MINUTE_MS, None),
            (HOUR_MS + 59 * MINUTE_MS,  HOUR_MS + 59 * MINUTE_MS, HOUR_MS + 58 * MINUTE_MS, Some(HOUR_MS + 59 * MINUTE_MS)),
        ];
        for (ms, floor, bucket, exact) in cases {
            assert_eq!(Minute::floor(ms).ms(), floor, "floor({ms})");
            assert_eq!(Minute::bucket_of(ms).ms(), bucket, "bucket_of({ms})");
            assert_eq!(Minute::exact(ms).ok().map(Minute::ms), exact, "exact({ms})");
        }
        assert_eq!(Minute::exact(1), Err(NotAligned(1)));
    }

    #[test]
    fn buckets_are_left_open() {
        let cases = [
            (1, 0),
            (60_000, 0),
            (60_001, 60_000),
            (119_999, 60_000),
            (120_000, 60_000),
            (0, -60_000),
        ];
        for (ms, start) in cases {
            assert_eq!(Minute::bucket_of(ms).ms(), start, "{ms}");
        }
    }

    #[test]
    fn slots_and_hours() {
        let m = Minute::nth(125);
        assert_eq!(m.hour(), 2 * HOUR_MS);
        assert_eq!(m.slot(), 5);
        assert_eq!(m.to_string(), "1970-01-01T02:05:00Z");
    }
}
