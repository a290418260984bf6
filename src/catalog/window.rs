//! SLO windows: rolling (`30d`) or aligned to the calendar (`month` in a time zone).

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};

use crate::duration::{Duration, DurationError};

/// The longest window or other duration a catalog may give: five years.
/// Anything longer is a typo, and far-off times overflow date arithmetic.
pub const MAX_DURATION: Duration = Duration::from_days(5 * 365);

/// Why `text` (which reads as longer than [`MAX_DURATION`]) is refused.
pub fn too_long(text: &str) -> String {
    format!("`{text}` is longer than {MAX_DURATION} (5y), the longest duration a catalog may give")
}

/// A Prometheus duration of at most [`MAX_DURATION`], or why it is not one.
pub fn bounded_duration(text: &str) -> Result<Duration, String> {
    match Duration::parse(text) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        Ok(_) | Err(DurationError::Overflow(_)) => Err(too_long(text)),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CalendarPeriod {
    Week,
    Month,
    Quarter,
}

impl CalendarPeriod {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "week" => Some(CalendarPeriod::Week),
            "month" => Some(CalendarPeriod::Month),
            "quarter" => Some(CalendarPeriod::Quarter),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarPeriod::Week => "week",
            CalendarPeriod::Month => "month",
            CalendarPeriod::Quarter => "quarter",
        }
    }
    /// Length used to derive burn-rate factors: 7, 30 and 90 days.
    pub fn nominal_length(self) -> Duration {
        match self {
            CalendarPeriod::Week => Duration::from_days(7),
            CalendarPeriod::Month => Duration::from_days(30),
            CalendarPeriod::Quarter => Duration::from_days(90),
        }
    }
    /// The longest a period can be (used to size storage).
    pub fn max_length(self) -> Duration {
        match self {
            CalendarPeriod::Week => Duration::from_days(7),
            CalendarPeriod::Month => Duration::from_days(31),
            CalendarPeriod::Quarter => Duration::from_days(92),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SloWindow {
    Rolling(Duration),
    Calendar {
        period: CalendarPeriod,
        time_zone: Tz,
    },
}

impl SloWindow {
    /// Window length used to derive alert factors: the rolling length, or the
    /// calendar period's nominal length.
    pub fn nominal_length(&self) -> Duration {
        match self {
            SloWindow::Rolling(d) => *d,
            SloWindow::Calendar { period, .. } => period.nominal_length(),
        }
    }

    /// How far back data is ever needed.
    pub fn max_length(&self) -> Duration {
        match self {
            SloWindow::Rolling(d) => *d,
            SloWindow::Calendar { period, .. } => period.max_length(),
        }
    }

    /// The start of the window that ends at `at` (exclusive start: events in `(start, at]`).
    pub fn start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            SloWindow::Rolling(d) => at - d.to_chrono(),
            SloWindow::Calendar { period, time_zone } => calendar_start(*period, *time_zone, at),
        }
    }

    /// The end of the current calendar period (for budget per period), or `at + length` when rolling.
    pub fn end(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            SloWindow::Rolling(d) => at + d.to_chrono(),
            SloWindow::Calendar { period, time_zone } => {
                let start = calendar_start(*period, *time_zone, at);
                let probe = start + period.max_length().to_chrono() + chrono::Duration::days(1);
                calendar_start(*period, *time_zone, probe)
            }
        }
    }
}

fn calendar_start(period: CalendarPeriod, tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&tz).date_naive();
    let first_day = match period {
        CalendarPeriod::Week => {
            local - chrono::Duration::days(local.weekday().num_days_from_monday() as i64)
        }
        CalendarPeriod::Month => {
            NaiveDate::from_ymd_opt(local.year(), local.month(), 1).unwrap_or(local)
        }
        CalendarPeriod::Quarter => {
            NaiveDate::from_ymd_opt(local.year(), (local.month0() / 3) * 3 + 1, 1).unwrap_or(local)
        }
    };
    let midnight = first_day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A DST gap at midnight (rare, e.g. America/Havana) moves the start to the first valid instant.
    match tz.from_local_datetime(&midnight).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => tz
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(at),
    }
}

impl fmt::Display for SloWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SloWindow::Rolling(d) => write!(f, "{d}"),
            SloWindow::Calendar { period, time_zone } if *time_zone == Tz::UTC => {
                f.write_str(period.as_str())
            }
            SloWindow::Calendar { period, time_zone } => {
                write!(f, "{} ({})", period.as_str(), time_zone.name())
            }
        }
    }
}

impl Serialize for SloWindow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn calendar_windows_start_at_local_midnight() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let cases = [
            (
                CalendarPeriod::Month,
                Tz::UTC,
                "2026-11-22T10:00:00Z",
                "2026-11-01T00:00:00Z",
            ),
            (
                CalendarPeriod::Month,
                berlin,
                "2026-11-22T10:00:00Z",
                "2026-10-31T23:00:00Z",
            ),
            // 2026-07-01 00:30 in Berlin is still June 30th in UTC.
            (
                CalendarPeriod::Month,
                berlin,
                "2026-06-30T22:30:00Z",
                "2026-06-30T22:00:00Z",
            ),
            (
                CalendarPeriod::Quarter,
                Tz::UTC,
                "2026-11-22T10:00:00Z",
                "2026-10-01T00:00:00Z",
            ),
            (
                CalendarPeriod::Quarter,
                Tz::UTC,
                "2026-03-31T23:59:00Z",
                "2026-01-01T00:00:00Z",
            ),
            (
                CalendarPeriod::Week,
                Tz::UTC,
                "2026-11-22T10:00:00Z",
                "2026-11-16T00:00:00Z",
            ),
        ];
        for (period, tz, at, start) in cases {
            let w = SloWindow::Calendar {
                period,
                time_zone: tz,
            };
            assert_eq!(w.start(utc(at)), utc(start), "{period:?} {tz} {at}");
        }
    }

    #[test]
    fn calendar_period_end_is_next_start() {
        let w = SloWindow::Calendar {
            period: CalendarPeriod::Month,
            time_zone: Tz::UTC,
        };
        assert_eq!(
            w.end(utc("2026-02-10T00:00:00Z")),
            utc("2026-03-01T00:00:00Z")
        );
        let q = SloWindow::Calendar {
            period: CalendarPeriod::Quarter,
            time_zone: Tz::UTC,
        };
        assert_eq!(
            q.end(utc("2026-11-22T00:00:00Z")),
            utc("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn rolling_window_start() {
        let w = SloWindow::Rolling(Duration::from_days(30));
        assert_eq!(
            w.start(utc("2026-11-22T00:00:00Z")),
            utc("2026-10-23T00:00:00Z")
        );
        assert_eq!(w.to_string(), "30d");
    }
}
