//! PromQL as the catalog uses it: series selectors we build queries from, and
//! free-form queries checked offline with a real PromQL parser.

use std::fmt;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use serde::{Serialize, Serializer};

/// The placeholder Sloth popularised for the query window; burnrate accepts the same.
pub const WINDOW_PLACEHOLDER: &str = "{{.window}}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchKind {
    fn as_str(self) -> &'static str {
        match self {
            MatchKind::Equal => "=",
            MatchKind::NotEqual => "!=",
            MatchKind::Regex => "=~",
            MatchKind::NotRegex => "!~",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelMatcher {
    pub name: String,
    pub kind: MatchKind,
    pub value: String,
}

/// A plain series selector, `metric{label="value",...}`, with no functions or offsets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    pub metric: Option<String>,
    pub matchers: Vec<LabelMatcher>,
}

impl Selector {
    /// Parses a series selector; anything else (a function, an operator, a range) is refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expr =
            parser::parse(text.trim()).map_err(|e| format!("invalid PromQL: {}", one_line(&e)))?;
        let Expr::VectorSelector(vs) = expr else {
            return Err(format!(
                "expected a series selector such as `http_requests_total{{code=~\"5..\"}}`, found the expression `{}`; write arbitrary PromQL with the `events` indicator",
                text.trim()
            ));
        };
        if vs.offset.is_some() || vs.at.is_some() {
            return Err("a selector here may not use `offset` or `@`".into());
        }
        if !vs.matchers.or_matchers.is_empty() {
            return Err("`or` inside a selector is not supported here".into());
        }
        let mut metric = vs.name.clone();
        let mut matchers = Vec::new();
        for m in &vs.matchers.matchers {
            let kind = match &m.op {
                MatchOp::Equal => MatchKind::Equal,
                MatchOp::NotEqual => MatchKind::NotEqual,
                MatchOp::Re(_) => MatchKind::Regex,
                MatchOp::NotRe(_) => MatchKind::NotRegex,
            };
            if m.name == "__name__" && kind == MatchKind::Equal && metric.is_none() {
                metric = Some(m.value.clone());
                continue;
            }
            matchers.push(LabelMatcher {
                name: m.name.clone(),
                kind,
                value: m.value.clone(),
            });
        }
        Ok(Selector { metric, matchers })
    }

    /// A copy with one more matcher (replacing any matcher on the same label).
    pub fn with_matcher(&self, name: &str, kind: MatchKind, value: &str) -> Selector {
        let mut out = self.clone();
        out.matchers.retain(|m| m.name != name);
        out.matchers.push(LabelMatcher {
            name: name.to_string(),
            kind,
            value: value.to_string(),
        });
        out
    }

    /// A copy with another metric name.
    pub fn with_metric(&self, metric: &str) -> Selector {
        Selector {
            metric: Some(metric.to_string()),
            matchers: self.matchers.clone(),
        }
    }

    /// The value of an `=` matcher on `name`, if any.
    pub fn equal_value(&self, name: &str) -> Option<&str> {
        self.matchers
            .iter()
            .find(|m| m.name == name && m.kind == MatchKind::Equal)
            .map(|m| m.value.as_str())
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(metric) = &self.metric {
            f.write_str(metric)?;
        }
        if self.matchers.is_empty() && self.metric.is_some() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}{}{}", m.name, m.kind.as_str(), quote(&m.value))?;
        }
        f.write_str("}")
    }
}

impl Serialize for Selector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A PromQL string literal, escaped the way Go's `strconv.Quote` does for ASCII.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A free-form PromQL query that may use the `{{.window}}` placeholder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct WindowedQuery {
    query: String,
    /// The query returns per-second rates (`rate`/`irate` and no `increase`):
    /// burnrate multiplies its result by the interval length to get events.
    per_second: bool,
}

/// Finds which counter functions a query calls.
#[derive(Default)]
struct FunctionsUsed {
    rate: bool,
    increase: bool,
}

impl promql_parser::util::ExprVisitor for FunctionsUsed {
    type Error = std::convert::Infallible;
    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
        if let Expr::Call(call) = expr {
            match call.func.name {
                "rate" | "irate" => self.rate = true,
                "increase" | "sum_over_time" | "count_over_time" => self.increase = true,
                _ => {}
            }
        }
        Ok(true)
    }
}

impl WindowedQuery {
    /// Checks the query parses once the placeholder is filled in.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the query is empty".into());
        }
        let filled = text.replace(WINDOW_PLACEHOLDER, "5m");
        if filled.contains("{{") {
            return Err(format!(
                "unknown template placeholder in `{text}`: only `{WINDOW_PLACEHOLDER}` is supported"
            ));
        }
        let expr =
            parser::parse(&filled).map_err(|e| format!("invalid PromQL: {}", one_line(&e)))?;
        let mut used = FunctionsUsed::default();
        let _ = promql_parser::util::walk_expr(&mut used, &expr);
        Ok(WindowedQuery {
            query: text.to_string(),
            per_second: used.rate && !used.increase,
        })
    }

    /// True when the query yields per-second rates rather than event counts.
    pub fn per_second(&self) -> bool {
        self.per_second
    }

    /// The query with the placeholder replaced by `window` (e.g. `1m`).
    pub fn with_window(&self, window: &str) -> String {
        self.query.replace(WINDOW_PLACEHOLDER, window)
    }

    pub fn uses_window(&self) -> bool {
        self.query.contains(WINDOW_PLACEHOLDER)
    }

    pub fn as_str(&self) -> &str {
        &self.query
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_round_trip() {
        let cases = [
            ("http_requests_total", "http_requests_total"),
            (
                "http_requests_total{code=~\"5..\",job=\"api\"}",
                "http_requests_total{code=~\"5..\",job=\"api\"}",
            ),
            ("{__name__=\"up\", job!=\"x\"}", "up{job!=\"x\"}"),
            ("x{a=\"q\\\"uote\"}", "x{a=\"q\\\"uote\"}"),
        ];
        for (input, output) in cases {
            assert_eq!(Selector::parse(input).unwrap().to_string(), output);
        }
    }

    #[test]
    fn selectors_refuse_expressions() {
        for text in [
            "rate(x[5m])",
            "x / y",
            "x[5m]",
            "x offset 5m",
            "x{",
            "sum(x)",
        ] {
            assert!(Selector::parse(text).is_err(), "{text}");
        }
        assert!(
            Selector::parse("rate(x[5m])")
                .unwrap_err()
                .contains("events")
        );
        assert!(
            Selector::parse("x{a=~\"(\"}").is_err(),
            "bad regex must be refused"
        );
    }

    #[test]
    fn with_matcher_replaces_existing() {
        let s = Selector::parse("h_bucket{le=\"1\",job=\"a\"}")
            .unwrap()
            .with_matcher("le", MatchKind::Equal, "0.3");
        assert_eq!(s.to_string(), "h_bucket{job=\"a\",le=\"0.3\"}");
    }

    #[test]
    fn windowed_queries_are_parsed_with_the_placeholder_filled() {
        let q = WindowedQuery::parse("sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))")
            .unwrap();
        assert_eq!(
            q.with_window("1m"),
            "sum(rate(http_requests_total{code=~\"5..\"}[1m]))"
        );
        assert!(WindowedQuery::parse("sum(rate(x[{{.window}}])").is_err());
        assert!(
            WindowedQuery::parse("rate(x[{{.win}}])")
                .unwrap_err()
                .contains("placeholder")
        );
        assert!(WindowedQuery::parse("  ").is_err());
        assert!(q.per_second());
        assert!(
            !WindowedQuery::parse("sum(increase(x[{{.window}}]))")
                .unwrap()
                .per_second()
        );
        assert!(
            !WindowedQuery::parse("sum(x_rate_total)")
                .unwrap()
                .per_second()
        );
    }
}
