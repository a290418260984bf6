//! Prometheus-style durations (`30s`, `5m`, `1h30m`, `28d`, `4w`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative span of time with millisecond resolution, written the way
/// Prometheus writes durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    millis: u64,
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error(
        "`{0}` is not a duration: expected a number followed by a unit (ms, s, m, h, d, w, y), e.g. `5m` or `1h30m`"
    )]
    Malformed(String),
    #[error("`{0}`: units must go from largest to smallest, each at most once (e.g. `1h30m`)")]
    UnitOrder(String),
    #[error("`{0}` is too long")]
    Overflow(String),
}

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

impl Duration {
    pub const ZERO: Duration = Duration { millis: 0 };

    pub const fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }
    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            millis: secs * 1000,
        }
    }
    pub const fn from_mins(mins: u64) -> Self {
        Duration::from_secs(mins * 60)
    }
    pub const fn from_hours(hours: u64) -> Self {
        Duration::from_mins(hours * 60)
    }
    pub const fn from_days(days: u64) -> Self {
        Duration::from_hours(days * 24)
    }
    pub const fn as_millis(self) -> u64 {
        self.millis
    }
    pub fn as_secs_f64(self) -> f64 {
        self.millis as f64 / 1000.0
    }
    /// Whole minutes, rounded down.
    pub const fn as_mins(self) -> u64 {
        self.millis / 60_000
    }
    pub fn is_zero(self) -> bool {
        self.millis == 0
    }
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.millis as i64)
    }

    /// Parses a Prometheus duration: one or more `<number><unit>` terms,
    /// units in decreasing order, e.g. `90s`, `1h30m`, `4w`.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let s = text.trim();
        if s.is_empty() {
            return Err(DurationError::Empty);
        }
        let malformed = || DurationError::Malformed(text.to_string());
        let mut rest = s;
        let mut total: u64 = 0;
        let mut last_unit_index: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(malformed());
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| DurationError::Overflow(text.into()))?;
            rest = &rest[digits..];
            // "ms" must be tried before "m".
            let (index, unit_len, scale) = if rest.starts_with("ms") {
                (6, 2, 1)
            } else {
                let found = UNITS
                    .iter()
                    .position(|(u, _)| u.len() == 1 && rest.starts_with(u))
                    .ok_or_else(malformed)?;
                (found, 1, UNITS[found].1)
            };
            if last_unit_index.is_some_and(|last| index <= last) {
                return Err(DurationError::UnitOrder(text.to_string()));
            }
            last_unit_index = Some(index);
            rest = &rest[unit_len..];
            let part = number
                .checked_mul(scale)
                .ok_or_else(|| DurationError::Overflow(text.into()))?;
            total = total
                .checked_add(part)
                .ok_or_else(|| DurationError::Overflow(text.into()))?;
        }
        Ok(Duration { millis: total })
    }
}

impl FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl fmt::Display for Duration {
    /// Canonical Prometheus form: largest units first, `0s` for zero.
    /// Days are the largest unit, so `30d` stays `30d` and `4w` prints as `28d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.millis;
        for (unit, scale) in UNITS.iter().skip(2) {
            if rest >= *scale {
                write!(f, "{}{}", rest / scale, unit)?;
                rest %= scale;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let cases = [
            ("5m", 5 * 60_000),
            ("30s", 30_000),
            ("1h30m", 90 * 60_000),
            ("28d", 28 * 86_400_000),
            ("4w", 28 * 86_400_000),
            ("2w", 14 * 86_400_000),
            ("1y", 365 * 86_400_000),
            ("100ms", 100),
            ("1m30s500ms", 90_500),
            ("0s", 0),
        ];
        for (text, millis) in cases {
            assert_eq!(
                Duration::parse(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_malformed_durations() {
        for text in [
            "", "5", "m", "5x", "1.5h", "-5m", "5 m", "1m1h", "1h1h", "5mm",
        ] {
            assert!(
                Duration::parse(text).is_err(),
                "{text:?} should be rejected"
            );
        }
        assert!(matches!(
            Duration::parse("1m1h"),
            Err(DurationError::UnitOrder(_))
        ));
        assert!(matches!(
            Duration::parse("99999999999999999999d"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn displays_canonical_form() {
        let cases = [
            (Duration::from_mins(90), "1h30m"),
            (Duration::from_days(28), "28d"),
            (Duration::from_days(30), "30d"),
            (Duration::from_hours(26), "1d2h"),
            (Duration::ZERO, "0s"),
            (Duration::from_millis(1500), "1s500ms"),
        ];
        for (d, text) in cases {
            assert_eq!(d.to_string(), text);
            assert_eq!(Duration::parse(text), Ok(d));
        }
    }
}
