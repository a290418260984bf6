//! Label matchers evaluated locally, with Prometheus' semantics, so that one
//! query's series can be handed to every selector they satisfy.
//!
//! The rules Prometheus applies, and this module with it:
//! - a label a series lacks has the empty value: `code=""` matches a series
//!   without `code`, `code!=""` only one that has a non-empty `code`, and a
//!   regex that matches the empty string matches a series without the label;
//! - regexes are fully anchored (`=~"5.."` is `^(?:5..)$`), and `.` matches a
//!   newline too, as in Prometheus 3.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;

use crate::catalog::promql::{MatchKind, Selector};
use crate::labels::Labels;

/// A selector whose matchers are ready to test label sets. The metric name is
/// not tested: series handed to it were read by a query on that metric.
#[derive(Debug, Clone)]
pub struct CompiledSelector {
    matchers: Vec<CompiledMatcher>,
}

#[derive(Debug, Clone)]
struct CompiledMatcher {
    name: String,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Equal(String),
    NotEqual(String),
    Regex(Arc<Regex>),
    NotRegex(Arc<Regex>),
}

/// A regex the selector holds that this engine cannot compile.
#[derive(Debug, thiserror::Error)]
#[error("label `{label}`: regex `{regex}` cannot be evaluated locally: {reason}")]
pub struct MatchError {
    pub label: String,
    pub regex: String,
    pub reason: String,
}

impl CompiledSelector {
    pub fn new(selector: &Selector) -> Result<Self, MatchError> {
        Self::sharing(selector, &mut HashMap::new())
    }

    /// As [`Self::new`], taking compiled regexes from `regexes` by pattern
    /// and adding those it compiles: thousands of selectors share a handful
    /// of patterns (`code=~"5.."`). They share one regex, not clones of it:
    /// each clone of a `Regex` has a cache pool of its own.
    pub fn sharing(
        selector: &Selector,
        regexes: &mut HashMap<String, Arc<Regex>>,
    ) -> Result<Self, MatchError> {
        let mut matchers = Vec::with_capacity(selector.matchers.len());
        for m in &selector.matchers {
            let mut regex = || -> Result<Arc<Regex>, MatchError> {
                if let Some(found) = regexes.get(&m.value) {
                    return Ok(Arc::clone(found));
                }
                let compiled = Arc::new(anchored(&m.value).map_err(|e| MatchError {
                    label: m.name.clone(),
                    regex: m.value.clone(),
                    reason: e.to_string(),
                })?);
                regexes.insert(m.value.clone(), Arc::clone(&compiled));
                Ok(compiled)
            };
            let test = match m.kind {
                MatchKind::Equal => Test::Equal(m.value.clone()),
                MatchKind::NotEqual => Test::NotEqual(m.value.clone()),
                MatchKind::Regex => Test::Regex(regex()?),
                MatchKind::NotRegex => Test::NotRegex(regex()?),
            };
            matchers.push(CompiledMatcher {
                name: m.name.clone(),
                test,
            });
        }
        Ok(CompiledSelector { matchers })
    }

    /// The `name="value"` matchers: a series must hold these values.
    pub fn equalities(&self) -> impl Iterator<Item = (&str, &str)> {
        self.matchers.iter().filter_map(|m| match &m.test {
            Test::Equal(v) => Some((m.name.as_str(), v.as_str())),
            _ => None,
        })
    }

    /// Whether a series with these labels is one the selector selects.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| {
            let value = labels.get(&m.name).map(String::as_str).unwrap_or("");
            match &m.test {
                Test::Equal(v) => value == v,
                Test::NotEqual(v) => value != v,
                Test::Regex(re) => re.is_match(value),
                Test::NotRegex(re) => !re.is_match(value),
            }
        })
    }
}

fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?s:{pattern})$"))
}

/// A literal for a Prometheus (RE2) regex: the characters Go's
/// `regexp.QuoteMeta` escapes, which both RE2 and this engine read back as
/// themselves.
pub fn quote_meta(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> crate::labels::Labels {
        crate::labels::from_pairs(pairs)
    }

    #[test]
    fn selectors_compiled_sharing_regexes_match_as_compiled_alone() {
        let texts = [
            r#"m{route="/a",code=~"5.."}"#,
            r#"m{route="/b",code=~"5.."}"#,
            r#"m{code!~"5..",tier=~"web|api"}"#,
        ];
        let mut regexes = HashMap::new();
        let series = [
            labels(&[("route", "/a"), ("code", "500")]),
            labels(&[("route", "/b"), ("code", "503"), ("tier", "web")]),
            labels(&[("route", "/b"), ("code", "200"), ("tier", "api")]),
            labels(&[("route", "/a"), ("code", "200")]),
        ];
        let mut kept = Vec::new();
        for text in texts {
            let selector = Selector::parse(text).unwrap();
            let alone = CompiledSelector::new(&selector).unwrap();
            let shared = CompiledSelector::sharing(&selector, &mut regexes).unwrap();
            for s in &series {
                assert_eq!(shared.matches(s), alone.matches(s), "{text} on {s:?}");
            }
            kept.push(shared);
        }
        // Four regex matchers, two patterns: `5..` is one regex, held by
        // the map and by the three selectors, not copied.
        assert_eq!(regexes.len(), 2);
        assert_eq!(Arc::strong_count(&regexes["5.."]), 4);
        drop(kept);
        assert_eq!(Arc::strong_count(&regexes["5.."]), 1);
    }

    #[test]
    fn matchers_follow_prometheus_semantics() {
        let with_code = labels(&[("code", "500"), ("route", "/a")]);
        let no_code = labels(&[("route", "/a")]);
        let empty_code = labels(&[("code", ""), ("route", "/a")]);
        let newline = labels(&[("code", "5\n0")]);
        #[rustfmt::skip]
        let cases = [
            // selector,                       series,       want
            (r#"m{code="500"}"#,              &with_code,   true),
            (r#"m{code="50"}"#,               &with_code,   false),
            (r#"m{code!="500"}"#,             &with_code,   false),
            (r#"m{code!="500"}"#,             &no_code,     true),
            // Fully anchored: "5." does not match "500".
            (r#"m{code=~"5."}"#,              &with_code,   false),
            (r#"m{code=~"5.."}"#,             &with_code,   true),
            (r#"m{code=~"2..|5.."}"#,         &with_code,   true),
            (r#"m{code!~"5.."}"#,             &with_code,   false),
            (r#"m{code!~"4.."}"#,             &with_code,   true),
            // A missing label is the empty value.
            (r#"m{code=""}"#,                 &no_code,     true),
            (r#"m{code=""}"#,                 &empty_code,  true),
            (r#"m{code=""}"#,                 &with_code,   false),
            (r#"m{code!=""}"#,                &no_code,     false),
            (r#"m{code!=""}"#,                &with_code,   true),
            (r#"m{code=~"5..|"}"#,            &no_code,     true),
            (r#"m{code=~".+"}"#,              &no_code,     false),
            (r#"m{code=~".*"}"#,              &no_code,     true),
            (r#"m{code!~".+"}"#,              &no_code,     true),
            (r#"m{code!~""}"#,                &no_code,     false),
            // `.` matches a newline, as in Prometheus 3.
            (r#"m{code=~"5.0"}"#,             &newline,     true),
            // Every matcher must hold.
            (r#"m{code="500",route="/b"}"#,   &with_code,   false),
            (r#"m{code="500",route=~"/.*"}"#, &with_code,   true),
            (r#"m"#,                          &no_code,     true),
        ];
        for (text, series, want) in cases {
            let selector = Selector::parse(text).expect(text);
            let compiled = CompiledSelector::new(&selector).expect(text);
            assert_eq!(compiled.matches(series), want, "{text} on {series:?}");
        }
    }

    #[test]
    fn quoted_literals_match_only_themselves() {
        for value in [
            "/api/v1/users.list",
            "a|b",
            "(x)",
            "^$",
            "a+b*c?",
            "[1]{2}",
            "back\\slash",
            "",
        ] {
            let re = anchored(&quote_meta(value)).expect(value);
            assert!(re.is_match(value), "{value}");
            assert!(!re.is_match(&format!("{value}x")), "{value}x");
        }
        assert!(!anchored(&quote_meta("a.b")).unwrap().is_match("axb"));
    }
}
