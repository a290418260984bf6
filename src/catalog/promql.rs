//! PromQL as the catalog uses it: series selectors we build queries from, and
//! free-form queries checked offline with a real PromQL parser.

use std::fmt;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use serde::{Serialize, Serializer};

use super::dialect::{self, Dialect};

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
        // `{__name__="..."}` parses to any metric name, but only some print
        // bare and read back as one: not `nan`, `Inf` or `a-b`, and not
        // beside another `__name__` matcher.
        let bare = self.metric.as_deref().filter(|metric| {
            reads_back_as_metric(metric) && !self.matchers.iter().any(|m| m.name == "__name__")
        });
        if let Some(metric) = bare {
            f.write_str(metric)?;
            if self.matchers.is_empty() {
                return Ok(());
            }
        }
        f.write_str("{")?;
        let mut first = true;
        if let (Some(metric), None) = (&self.metric, bare) {
            write!(f, "__name__={}", quote(metric))?;
            first = false;
        }
        for m in &self.matchers {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if is_identifier(&m.name) {
                f.write_str(&m.name)?;
            } else {
                f.write_str(&quote(&m.name))?;
            }
            write!(f, "{}{}", m.kind.as_str(), quote(&m.value))?;
        }
        f.write_str("}")
    }
}

/// A label name PromQL reads without quotes (`"a.b"` needs them).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// True when `name` alone parses as a selector of that metric: an identifier
/// (colons allowed) that is not a PromQL keyword or a number such as `Inf`.
fn reads_back_as_metric(name: &str) -> bool {
    // Selectors are printed for every read of every cycle and a catalog
    // has few metric names: each is parsed once per thread, not per print.
    thread_local! {
        static KNOWN: std::cell::RefCell<std::collections::HashMap<String, bool>> =
            Default::default();
    }
    if let Some(known) = KNOWN.with(|k| k.borrow().get(name).copied()) {
        return known;
    }
    let reads_back = is_identifier(&name.replace(':', "_"))
        && matches!(parser::parse(name), Ok(Expr::VectorSelector(vs)) if vs.name.as_deref() == Some(name));
    KNOWN.with(|k| {
        let mut k = k.borrow_mut();
        // Bounded: names from a fuzzer or a huge catalog must not grow it forever.
        if k.len() >= 4096 {
            k.clear();
        }
        k.insert(name.to_string(), reads_back);
    });
    reads_back
}

impl Serialize for Selector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A PromQL string literal, escaped the way Go's `strconv.Quote` does for
/// ASCII; other control characters as `\u` and four hex digits.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
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

impl FunctionsUsed {
    fn call(&mut self, name: &str) {
        match name {
            "rate" | "irate" => self.rate = true,
            "increase" | "sum_over_time" | "count_over_time" => self.increase = true,
            _ => {}
        }
    }
}

impl promql_parser::util::ExprVisitor for FunctionsUsed {
    type Error = std::convert::Infallible;
    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
        if let Expr::Call(call) = expr {
            self.call(call.func.name);
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

    /// Checks the query in `dialect`. With MetricsQL, a query PromQL refuses
    /// only for calling functions it does not know is accepted unchecked,
    /// with the names of those functions (to be reported as a warning).
    pub fn parse_in(text: &str, dialect: Dialect) -> Result<(Self, Vec<String>), String> {
        let refused = match Self::parse(text) {
            Ok(query) => return Ok((query, Vec::new())),
            Err(e) if e.contains("unknown function") => e,
            Err(e) => return Err(e),
        };
        if dialect == Dialect::Promql {
            return Err(format!(
                "{refused} (for VictoriaMetrics' MetricsQL, run with `--promql-dialect metricsql`)"
            ));
        }
        let text = text.trim();
        let filled = text.replace(WINDOW_PLACEHOLDER, "5m");
        let unknown = dialect::unknown_functions(&filled);
        if unknown.is_empty() {
            return Err(refused);
        }
        let mut used = FunctionsUsed::default();
        for name in dialect::called_names(&filled) {
            used.call(name);
        }
        let query = WindowedQuery {
            query: text.to_string(),
            per_second: used.rate && !used.increase,
        };
        Ok((query, unknown))
    }

    /// The query as a ratio (an error ratio over the window): its values are
    /// used as they are, never scaled from per-second rates.
    pub fn as_ratio(mut self) -> Self {
        self.per_second = false;
        self
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

    /// A metric name that would not read back bare prints as a `__name__` matcher.
    #[test]
    fn unusual_metric_names_round_trip() {
        let cases = [
            ("{__name__=\"nan\"}", "{__name__=\"nan\"}"),
            (
                "{__name__=\"Inf\",job=\"a\"}",
                "{__name__=\"Inf\",job=\"a\"}",
            ),
            ("{__name__=\"a-b\"}", "{__name__=\"a-b\"}"),
            (
                "{__name__=\"x\",__name__=\"y\"}",
                "{__name__=\"x\",__name__=\"y\"}",
            ),
            ("{__name__=\"sum\"}", "sum"),
            ("{__name__=\"a:b_1\"}", "a:b_1"),
            ("{\"}\"}", "{__name__=\"}\"}"),
            ("{\"a.b\"=\"x\\by\"}", "{\"a.b\"=\"x\\u0008y\"}"),
        ];
        for (input, output) in cases {
            let selector = Selector::parse(input).unwrap();
            assert_eq!(selector.to_string(), output);
            assert_eq!(Selector::parse(output).unwrap(), selector, "{input}");
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

    #[test]
    fn metricsql_functions_are_named_and_left_to_the_server() {
        let text = "1 - histogram_share(0.2, sum by (vmrange) (rate(d_bucket[{{.window}}])))";
        let refused = WindowedQuery::parse_in(text, Dialect::Promql).unwrap_err();
        assert!(refused.contains("histogram_share"), "{refused}");
        assert!(refused.contains("--promql-dialect metricsql"), "{refused}");
        let (query, unknown) = WindowedQuery::parse_in(text, Dialect::Metricsql).unwrap();
        assert_eq!(unknown, ["histogram_share"]);
        assert_eq!(query.as_str(), text);
        assert!(query.per_second());
        // Other mistakes are still errors, and PromQL is checked as ever.
        assert!(WindowedQuery::parse_in("sum(rate(x[{{.window}}])", Dialect::Metricsql).is_err());
        let (plain, unknown) =
            WindowedQuery::parse_in("sum(increase(x[{{.window}}]))", Dialect::Metricsql).unwrap();
        assert!(unknown.is_empty() && !plain.per_second());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            "[a-zA-Z_][a-zA-Z0-9_]{0,8}"
        }

        fn matcher() -> impl Strategy<Value = LabelMatcher> {
            let kind = prop_oneof![
                Just(MatchKind::Equal),
                Just(MatchKind::NotEqual),
                Just(MatchKind::Regex),
                Just(MatchKind::NotRegex),
            ];
            // Values with quotes, backslashes, newlines, tabs and non-ASCII;
            // regex matchers get values that are valid regexes.
            let any_value = "(\\PC|[\"\\\\\n\t]){0,12}";
            let regex_value = "([a-z0-9.]|\\\\[.|]|\\|){0,12}";
            (name(), kind, any_value, regex_value).prop_map(|(name, kind, any, regex)| {
                let value = match kind {
                    MatchKind::Equal | MatchKind::NotEqual => any,
                    MatchKind::Regex | MatchKind::NotRegex => regex,
                };
                LabelMatcher { name, kind, value }
            })
        }

        fn selector() -> impl Strategy<Value = Selector> {
            (
                proptest::option::of(name()),
                proptest::collection::vec(matcher(), 0..4),
            )
                // PromQL wants a metric name or a matcher that cannot match "".
                .prop_filter("a selector needs a non-empty matcher", |(m, ms)| {
                    m.is_some()
                        || ms
                            .iter()
                            .any(|m| m.kind == MatchKind::Equal && !m.value.is_empty())
                })
                .prop_map(|(metric, matchers)| Selector { metric, matchers })
        }

        /// Text near PromQL: its punctuation, keywords and placeholder, in any order.
        fn promql_ish() -> impl Strategy<Value = String> {
            let token = prop_oneof![
                Just("{".to_string()),
                Just("}".to_string()),
                Just("[".to_string()),
                Just("]".to_string()),
                Just("(".to_string()),
                Just(")".to_string()),
                Just("\"".to_string()),
                Just("=~".to_string()),
                Just("!~".to_string()),
                Just("!=".to_string()),
                Just("=".to_string()),
                Just(",".to_string()),
                Just(" or ".to_string()),
                Just(" offset 5m".to_string()),
                Just(" @ 1".to_string()),
                Just("rate".to_string()),
                Just("sum by (a)".to_string()),
                Just("{{.window}}".to_string()),
                Just("{{".to_string()),
                Just("__name__".to_string()),
                name(),
                "\\PC{0,3}",
            ];
            proptest::collection::vec(token, 0..16).prop_map(|t| t.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn parsers_never_panic(text in prop_oneof!["\\PC{0,40}", promql_ish()]) {
                if let Ok(selector) = Selector::parse(&text) {
                    let printed = selector.to_string();
                    prop_assert_eq!(Selector::parse(&printed).ok(), Some(selector), "{}", printed);
                }
                if let Ok(query) = WindowedQuery::parse(&text) {
                    let _ = query.with_window("1m");
                }
            }

            #[test]
            fn valid_selectors_round_trip(selector in selector()) {
                let printed = selector.to_string();
                prop_assert_eq!(Selector::parse(&printed), Ok(selector), "{}", printed);
            }
        }
    }
}
