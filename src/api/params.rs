//! Query strings, parsed strictly: unknown parameters, repeated single-valued
//! parameters and malformed values are 400s naming the parameter, so a typo
//! (`?servce=x`) never silently returns everything.

use axum::http::Uri;
use chrono::{DateTime, TimeZone, Utc};

use super::problem::Problem;

/// The decoded `name=value` pairs of a query string, in order.
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn from_uri(uri: &Uri) -> Params {
        Params::parse(uri.query().unwrap_or(""))
    }

    pub fn parse(query: &str) -> Params {
        Params {
            pairs: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// Refuses any parameter not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), Problem> {
        for (name, _) in &self.pairs {
            if !known.contains(&name.as_str()) {
                let expected = if known.is_empty() {
                    "this endpoint takes no parameters".to_string()
                } else {
                    format!("known parameters: {}", known.join(", "))
                };
                return Err(Problem::bad_param(
                    name,
                    format!("unknown parameter; {expected}"),
                ));
            }
        }
        Ok(())
    }

    /// Every value of a repeatable parameter; `a=x,y` counts as `a=x&a=y` when `split`.
    pub fn all(&self, name: &str, split: bool) -> Vec<&str> {
        let values = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        if split {
            values.flat_map(|v| v.split(',')).map(str::trim).collect()
        } else {
            values.collect()
        }
    }

    /// The value of a single-valued parameter.
    pub fn one(&self, name: &str) -> Result<Option<&str>, Problem> {
        let mut values = self.all(name, false).into_iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(Problem::bad_param(name, "given more than once"));
        }
        Ok(first)
    }

    /// A required, non-empty single value.
    pub fn required(&self, name: &str) -> Result<&str, Problem> {
        match self.one(name)? {
            Some(v) if !v.is_empty() => Ok(v),
            Some(_) => Err(Problem::bad_param(name, "must not be empty")),
            None => Err(Problem::bad_param(name, "is required")),
        }
    }

    /// An optional non-empty single value.
    pub fn non_empty(&self, name: &str) -> Result<Option<&str>, Problem> {
        match self.one(name)? {
            Some("") => Err(Problem::bad_param(name, "must not be empty")),
            other => Ok(other),
        }
    }

    /// An integer within `[min, max]`.
    pub fn integer(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, Problem> {
        let Some(text) = self.one(name)? else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(Problem::bad_param(
                name,
                format!("`{text}` is not an integer from {min} to {max}"),
            )),
        }
    }

    /// A time: RFC 3339 (`2026-01-02T03:04:05Z`) or Unix seconds (`1767322800`, `1767322800.5`).
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, Problem> {
        let Some(text) = self.one(name)? else {
            return Ok(None);
        };
        parse_time(text).map(Some).ok_or_else(|| {
            Problem::bad_param(
                name,
                format!("`{text}` is not an RFC 3339 time or Unix seconds"),
            )
        })
    }

    /// A duration such as `5m` or `1h30m`.
    pub fn duration(&self, name: &str) -> Result<Option<crate::duration::Duration>, Problem> {
        let Some(text) = self.one(name)? else {
            return Ok(None);
        };
        text.parse::<crate::duration::Duration>()
            .map(Some)
            .map_err(|e| Problem::bad_param(name, e.to_string()))
    }
}

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let secs: f64 = text.parse().ok()?;
    // Years 1970 to 9999, like Prometheus's own range.
    if !secs.is_finite() || !(0.0..=253_402_300_799.0).contains(&secs) {
        return None;
    }
    Utc.timestamp_millis_opt((secs * 1000.0).round() as i64)
        .single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing() {
        let p = Params::parse("service=a&service=b,c&limit=5&label=team%3Apay&x=");
        assert_eq!(p.all("service", true), ["a", "b", "c"]);
        assert_eq!(p.all("label", false), ["team:pay"]);
        assert_eq!(p.integer("limit", 1, 10).unwrap(), Some(5));
        assert!(p.integer("limit", 6, 10).is_err());
        assert!(p.one("service").is_err());
        assert!(p.only(&["service", "limit", "label"]).is_err());
        assert!(p.non_empty("x").is_err());
        assert!(p.required("nope").is_err());
        let e = p.only(&["service"]).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.invalid_params[0].name, "limit");
    }

    #[test]
    fn times() {
        let t = parse_time("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(t.timestamp(), 1_767_323_045);
        assert_eq!(
            parse_time("1767323045.5").unwrap().timestamp_millis(),
            1_767_323_045_500
        );
        for bad in [
            "",
            "NaN",
            "inf",
            "-1",
            "1e300",
            "yesterday",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
    }
}
