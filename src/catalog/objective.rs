//! The SLO objective, kept as an exact decimal so `99.995` stays `99.995`.

use std::fmt;

use serde::{Serialize, Serializer};

/// Ratio resolution: objectives are stored as an integer number of billionths.
const SCALE: u64 = 1_000_000_000;

/// A target ratio strictly between 0 and 1 (`99.9` percent is 0.999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Objective {
    billionths: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectiveError {
    #[error("expected a percentage such as `99.9`, found `{0}`")]
    NotANumber(String),
    #[error("the objective must be strictly between 0 and 100 percent, found `{0}`")]
    OutOfRange(String),
    #[error("`{text}` has more precision than supported (at most {max} decimal places of {unit})")]
    TooPrecise {
        text: String,
        max: usize,
        unit: &'static str,
    },
}

impl Objective {
    /// Parses a percentage written in decimal (`99.9`, `99.995`, `"99.5"`, `99.9%`).
    pub fn parse_percent(text: &str) -> Result<Self, ObjectiveError> {
        let t = text.trim().trim_end_matches('%').trim();
        // percent → ratio shifts two places, so 7 decimals of percent fill the 9-digit scale.
        Self::parse_decimal(text, t, 7, "percent")
    }

    /// Parses a ratio written in decimal (`0.999`), as OpenSLO writes targets;
    /// digits past the 9th are refused rather than rounded away.
    pub fn parse_ratio(text: &str) -> Result<Self, ObjectiveError> {
        Self::parse_decimal(text, text.trim(), 9, "a ratio")
    }

    /// `t` in units of 10^-`decimals` is the objective in billionths.
    fn parse_decimal(
        text: &str,
        t: &str,
        decimals: usize,
        unit: &'static str,
    ) -> Result<Self, ObjectiveError> {
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        let digits_ok = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !digits_ok(whole) || !digits_ok(frac) {
            return Err(ObjectiveError::NotANumber(text.to_string()));
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > decimals {
            return Err(ObjectiveError::TooPrecise {
                text: text.to_string(),
                max: decimals,
                unit,
            });
        }
        let out_of_range = || ObjectiveError::OutOfRange(text.to_string());
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| out_of_range())?
        };
        let frac_value: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse()
                .map_err(|_| ObjectiveError::NotANumber(text.to_string()))?
        };
        let unit_value = 10u64.pow(decimals as u32);
        let billionths = whole
            .checked_mul(unit_value)
            .and_then(|w| w.checked_add(frac_value * 10u64.pow((decimals - frac.len()) as u32)))
            .ok_or_else(out_of_range)?;
        if billionths == 0 || billionths >= SCALE {
            return Err(out_of_range());
        }
        Ok(Objective { billionths })
    }

    /// The target as a ratio (0.999).
    pub fn ratio(self) -> f64 {
        self.billionths as f64 / SCALE as f64
    }

    /// The error budget as a ratio of events, `1 - objective`, computed without cancellation.
    pub fn budget(self) -> f64 {
        (SCALE - self.billionths) as f64 / SCALE as f64
    }

    /// The target in percent (99.9).
    pub fn percent(self) -> f64 {
        self.billionths as f64 / (SCALE / 100) as f64
    }
}

impl fmt::Display for Objective {
    /// Shortest exact percent form: `99.9`, `99.995`, `95`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = SCALE / 100;
        let whole = self.billionths / per;
        let frac = self.billionths % per;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:07}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for Objective {
    /// Serialised as the ratio (0.999), the unit APIs use.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.ratio())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_percentages_exactly() {
        let cases = [
            ("99.9", 0.999, 0.001),
            ("99.995", 0.99995, 0.00005),
            ("95", 0.95, 0.05),
            ("99.5%", 0.995, 0.005),
            ("0.5", 0.005, 0.995),
            ("99.9999999", 0.999999999, 1e-9),
        ];
        for (text, ratio, budget) in cases {
            let o = Objective::parse_percent(text).unwrap();
            assert_eq!(o.ratio(), ratio, "{text}");
            assert_eq!(o.budget(), budget, "{text}");
        }
        assert_eq!(
            Objective::parse_percent("99.99500").unwrap().to_string(),
            "99.995"
        );
        assert_eq!(Objective::parse_percent("99").unwrap().to_string(), "99");
    }

    #[test]
    fn rejects_out_of_range_and_malformed() {
        for text in [
            "100", "0", "0.0", "100.5", "101", "-5", "abc", "", ".", "9 9",
        ] {
            assert!(Objective::parse_percent(text).is_err(), "{text:?}");
        }
        assert_eq!(
            Objective::parse_percent("99.99999999")
                .unwrap_err()
                .to_string(),
            "`99.99999999` has more precision than supported (at most 7 decimal places of percent)"
        );
        assert!(matches!(
            Objective::parse_percent("100.0"),
            Err(ObjectiveError::OutOfRange(_))
        ));
    }

    #[test]
    fn ratios_are_exact_and_never_rounded() {
        assert_eq!(
            Objective::parse_ratio("0.999").unwrap(),
            Objective::parse_percent("99.9").unwrap()
        );
        assert_eq!(
            Objective::parse_ratio("0.999999999").unwrap().to_string(),
            "99.9999999"
        );
        assert_eq!(
            Objective::parse_ratio(" .95 ").unwrap(),
            Objective::parse_percent("95").unwrap()
        );
        assert_eq!(
            Objective::parse_ratio("0.9999999999").unwrap_err(),
            ObjectiveError::TooPrecise {
                text: "0.9999999999".into(),
                max: 9,
                unit: "a ratio"
            }
        );
        for text in [
            "1",
            "0",
            "1.5",
            "99",
            "18446744073709551616",
            "-0.5",
            "9.99e-1",
        ] {
            assert!(Objective::parse_ratio(text).is_err(), "{text:?}");
        }
    }
}
