//! Query strings, parsed strictly: unknown parameters, repeated single-valued
//! parameters and malformed values are 400s naming the parameter, so a typo
//! (`?servce=x`) never silently returns everything.

use axum::http::Uri;
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, TimeZone, Utc};
use utoipa::PartialSchema;
use utoipa::openapi::schema::{
    AnyOfBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{RefOr, schema::ArrayBuilder};

use super::problem::Problem;

/// A parameter's schema: a unit type whose OpenAPI schema is the block.
macro_rules! parameter_schema {
    ($(#[$doc:meta])* $name:ident => $schema:block) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::ToSchema for $name {}

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> $schema
        }
    };
}

// The schemas of the parameters below, for the OpenAPI document: what a
// client may send is exactly what these functions accept, so a generated
// value that fits the document is never refused as malformed.

parameter_schema! {
    /// Non-empty text (`minLength: 1`).
    Text => {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .pattern(Some(NO_NUL))
            .into()
    }
}

/// Unix seconds as [`parse_time`] reads them: up to 11 digits, optionally
/// a fraction.
const UNIX_SECONDS: &str = r"^[0-9]{1,11}(\.[0-9]{1,9})?$";

parameter_schema! {
    /// A time: RFC 3339 or Unix seconds ([`Params::time`]).
    Time => {
        AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    .description(Some("RFC 3339, e.g. `2026-11-30T12:00:00Z`")),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(UNIX_SECONDS))
                    .description(Some("Unix seconds, e.g. `1796040000` or `1796040000.5`")),
            )
            .into()
    }
}

pub const DURATION_PATTERN: &str = "^([0-9]{1,6}y)?([0-9]{1,6}w)?([0-9]{1,6}d)?([0-9]{1,6}h)?\
                                    ([0-9]{1,6}m)?([0-9]{1,6}s)?([0-9]{1,6}ms)?$";

parameter_schema! {
    /// A duration as [`Params::duration`] reads it: Prometheus units, largest
    /// first, e.g. `5m` or `1h30m`.
    DurationText => {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(2))
            .pattern(Some(DURATION_PATTERN))
            .into()
    }
}

/// A report period as [`crate::report::parse_period`] reads it.
pub const PERIOD_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2]|[Qq][1-4])$";

parameter_schema! {
    /// A month (`2026-11`) or a quarter (`2026-Q4`), in UTC.
    Period => {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(PERIOD_PATTERN))
            .into()
    }
}

/// The longest `actor`, `request_id` or override reason kept, in characters.
pub const MAX_TEXT: usize = 1000;

parameter_schema! {
    /// Non-empty text of at most 1,000 characters.
    ShortText => {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_TEXT))
            .pattern(Some(NO_NUL))
            .into()
    }
}

/// Text PostgreSQL can store: no NUL character, which [`Params::only`]
/// and the request bodies' checks refuse.
pub const NO_NUL: &str = "^[^\\x00]*$";

/// A problem when `text` holds a NUL character.
pub fn no_nul(name: &str, text: &str) -> Result<(), Problem> {
    if text.contains('\0') {
        return Err(Problem::bad_param(name, "must not contain a NUL character"));
    }
    Ok(())
}

parameter_schema! {
    /// Required text: not empty, at most 1,000 characters, no NUL. (Regex
    /// engines disagree on what `\s` is, so "not only spaces" is not part
    /// of the contract.)
    Reason => {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_TEXT))
            .pattern(Some(NO_NUL))
            .into()
    }
}

parameter_schema! {
    /// A repeatable free-text filter ([`Params::texts`]).
    Texts => {
        ArrayBuilder::new().items(Text::schema()).into()
    }
}

/// A repeatable filter of words ([`Params::words`]): each value one word or
/// a comma-separated list of them.
fn words_schema(words: &[&str]) -> RefOr<Schema> {
    let word = words.join("|");
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(format!("^({word})(,({word}))*$"))),
        )
        .into()
}

parameter_schema! {
    /// `data_state` values.
    DataStates => {
        words_schema(&crate::engine::DataState::ALL.map(crate::engine::DataState::as_str))
    }
}

parameter_schema! {
    /// `alert_state` values.
    AlertStates => {
        words_schema(&crate::engine::AlertState::ALL.map(crate::engine::AlertState::as_str))
    }
}

parameter_schema! {
    /// The states an active alert can be in.
    ActiveStates => {
        words_schema(&["pending", "firing"])
    }
}

/// The decoded `name=value` pairs of a query string, in order.
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// What an operation without query parameters accepts.
pub const NO_PARAMETERS: &[&str] = &[];

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

    /// Refuses any parameter not in `known`, and NUL characters anywhere.
    pub fn only(&self, known: &[&str]) -> Result<(), Problem> {
        for (name, value) in &self.pairs {
            no_nul(name, value)?;
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

    /// A repeatable free-text filter: every value non-empty; a value may
    /// hold comma-separated names, which are trimmed, empty ones ignored.
    /// No names: no filter. Schema [`Texts`].
    pub fn texts(&self, name: &str) -> Result<Vec<&str>, Problem> {
        let values = self.all(name, false);
        if values.iter().any(|v| v.is_empty()) {
            return Err(Problem::bad_param(name, "must not be empty"));
        }
        Ok(values
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect())
    }

    /// A repeatable filter of words: each value a word or a comma-separated
    /// list of them, exactly as `parse` knows them.
    pub fn words<'a, T>(
        &'a self,
        name: &str,
        parse: impl Fn(&'a str) -> Option<T>,
        expected: &str,
    ) -> Result<Vec<T>, Problem> {
        self.all(name, false)
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(|word| {
                parse(word).ok_or_else(|| {
                    Problem::bad_param(name, format!("`{word}`: expected {expected}"))
                })
            })
            .collect()
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

    /// A time: RFC 3339 (`2026-01-02T03:04:05Z`) or Unix seconds (`1767322800`, `1767322800.5`);
    /// schema [`Time`].
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

    /// A duration such as `5m` or `1h30m`, with no surrounding spaces;
    /// schema [`DurationText`].
    pub fn duration(&self, name: &str) -> Result<Option<crate::duration::Duration>, Problem> {
        let Some(text) = self.one(name)? else {
            return Ok(None);
        };
        if text.trim() != text {
            return Err(Problem::bad_param(
                name,
                format!("`{text}`: no spaces around a duration"),
            ));
        }
        text.parse::<crate::duration::Duration>()
            .map(Some)
            .map_err(|e| Problem::bad_param(name, e.to_string()))
    }
}

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    // Exactly the document's Unix-seconds pattern: no sign, exponent or
    // spaces, which `f64::from_str` would take.
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "1"));
    let digits =
        |s: &str, max: usize| (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole, 11) || !digits(fraction, 9) {
        return None;
    }
    let secs: f64 = text.parse().ok()?;
    // Years 1970 to 9999, like Prometheus's own range.
    if !(0.0..=253_402_300_799.0).contains(&secs) {
        return None;
    }
    Utc.timestamp_millis_opt((secs * 1000.0).round() as i64)
        .single()
}

pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The cursor alphabet: unpadded base64url of a whole number of bytes.
pub const CURSOR_PATTERN: &str = "^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$";

/// A cursor is a position in id order: any text the pattern allows is one
/// (bits past the last byte are ignored, bytes that are not UTF-8 are read
/// as U+FFFD), so a client can never hold an unusable cursor.
pub fn decode_cursor(text: &str) -> Result<String, Problem> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    LENIENT
        .decode(text.as_bytes())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|_| {
            Problem::bad_param("cursor", "not a cursor returned by this API (next_cursor)")
        })
}

parameter_schema! {
    /// `cursor`'s schema: [`CURSOR_PATTERN`].
    Cursor => {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(2))
            .pattern(Some(CURSOR_PATTERN))
            .into()
    }
}

parameter_schema! {
    /// `label`'s schema: `name:value`, the name not empty.
    LabelMatch => {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[^:\\x00]+:[^\\x00]*$")),
            )
            .into()
    }
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
    fn cursors_round_trip_and_any_pattern_text_is_a_position() {
        for id in ["a/b", "shop/by-route{route=\"/pay\"}", "é/ü"] {
            assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        }
        let pattern = regex::Regex::new(CURSOR_PATTERN).unwrap();
        for bad in ["!!", "abcde", "a", "ab=="] {
            assert!(!pattern.is_match(bad), "{bad}");
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
        // Not UTF-8, and a stray bit past the last byte: still positions.
        for odd in [URL_SAFE_NO_PAD.encode([0xff, 0xfe]), "AB".to_string()] {
            assert!(pattern.is_match(&odd), "{odd}");
            assert!(decode_cursor(&odd).is_ok(), "{odd}");
        }
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
            "1e3",
            "+5",
            ".5",
            "5.",
            " 5",
            "123456789012",
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
