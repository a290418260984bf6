//! The `data` of a query answer, decoded straight into what burnrate keeps:
//! label sets, and samples as (ms, value) pairs. Values arrive as quoted
//! strings (`"12.5"`, `"NaN"`); they are parsed where they lie in the body,
//! with no string allocated per sample.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use crate::labels::Labels;

/// The result of an instant or range query, by its `resultType`.
#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub(super) enum Data {
    Vector(Vec<InstantSeries>),
    Matrix(Vec<RangeSeries>),
    Scalar(de::IgnoredAny),
}

impl Data {
    /// The result type in words, for errors.
    pub(super) fn shape(&self) -> &'static str {
        match self {
            Data::Vector(_) => "an instant vector",
            Data::Matrix(_) => "a range vector",
            Data::Scalar(_) => "a scalar",
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct InstantSeries {
    pub metric: Labels,
    pub value: Point,
}

#[derive(Debug, Deserialize)]
pub(super) struct RangeSeries {
    pub metric: Labels,
    /// Absent when a series holds only native histograms.
    #[serde(default)]
    pub values: Vec<Point>,
}

/// One sample: `[unix seconds (ms precision), "value"]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Point {
    pub ms: i64,
    pub value: f64,
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(PointVisitor)
    }
}

struct PointVisitor;

impl<'de> Visitor<'de> for PointVisitor {
    type Value = Point;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sample: [unix seconds, \"value\"]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Point, A::Error> {
        let seconds: f64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let QuotedFloat(value) = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok(Point {
            ms: (seconds * 1000.0).round() as i64,
            value,
        })
    }
}

/// A float written as a JSON string, as Prometheus writes sample values.
struct QuotedFloat(f64);

impl<'de> Deserialize<'de> for QuotedFloat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(QuotedFloatVisitor)
    }
}

struct QuotedFloatVisitor;

impl Visitor<'_> for QuotedFloatVisitor {
    type Value = QuotedFloat;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a float value inside a quoted JSON string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<QuotedFloat, E> {
        text.parse()
            .map(QuotedFloat)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_decode_to_milliseconds_and_values() {
        let body = r#"{"resultType":"matrix","result":[
            {"metric":{"__name__":"up","job":"a\"b"},"values":[[1700000000.123,"1"],[1700000015,"2.5e3"],[1700000030.5,"NaN"],[1700000045,"+Inf"]]},
            {"metric":{},"histograms":[]}]}"#;
        let Data::Matrix(series) = serde_json::from_str(body).expect("decodes") else {
            panic!("a matrix");
        };
        assert_eq!(series[0].metric["job"], "a\"b");
        let got: Vec<(i64, String)> = series[0]
            .values
            .iter()
            .map(|p| (p.ms, p.value.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (1_700_000_000_123, "1".to_string()),
                (1_700_000_015_000, "2500".to_string()),
                (1_700_000_030_500, "NaN".to_string()),
                (1_700_000_045_000, "inf".to_string()),
            ]
        );
        assert!(series[1].values.is_empty());

        let body = r#"{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1700000000,"0.25"]}]}"#;
        let Data::Vector(values) = serde_json::from_str(body).expect("decodes") else {
            panic!("a vector");
        };
        assert_eq!(values[0].value.value, 0.25);

        for bad in [
            r#"{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}"#,
            r#"{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}"#,
            r#"{"resultType":"vector","result":[{"metric":{},"value":[1]}]}"#,
        ] {
            assert!(serde_json::from_str::<Data>(bad).is_err(), "{bad}");
        }
    }
}
