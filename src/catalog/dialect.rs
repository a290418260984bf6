//! The query language a catalog's free-form queries are written in: PromQL,
//! or VictoriaMetrics' MetricsQL, whose extra functions the offline PromQL
//! parser does not know.

use std::fmt;
use std::str::FromStr;

use promql_parser::parser;

/// How free-form queries are checked offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// Every query must parse as PromQL.
    #[default]
    Promql,
    /// A call to a function PromQL does not know is a warning naming the
    /// function, and the query is left to the server to check when it runs.
    Metricsql,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Promql => "promql",
            Dialect::Metricsql => "metricsql",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "promql" => Ok(Dialect::Promql),
            "metricsql" => Ok(Dialect::Metricsql),
            other => Err(format!(
                "unknown query dialect `{other}`: expected `promql` or `metricsql`"
            )),
        }
    }
}

/// The names a query calls as functions (`name(`), in order, outside string
/// literals. Aggregations and keywords followed by `(` (`sum`, `by`) are
/// included; [`unknown_functions`] sorts them out.
pub fn called_names(query: &str) -> Vec<&str> {
    let bytes = query.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if matches!(c, b'"' | b'\'' | b'`') {
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                i += if bytes[i] == b'\\' && c != b'`' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || b"_:".contains(&bytes[i]))
            {
                i += 1;
            }
            let rest = query[i..].trim_start();
            if !c.is_ascii_digit() && rest.starts_with('(') {
                names.push(&query[start..i]);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The functions `query` calls that PromQL does not know, each once, in order.
pub fn unknown_functions(query: &str) -> Vec<String> {
    let mut unknown: Vec<String> = Vec::new();
    for name in called_names(query) {
        if !unknown.iter().any(|u| u == name) && !is_promql_function(name) {
            unknown.push(name.to_string());
        }
    }
    unknown
}

/// Whether the PromQL parser knows `name` as a function, an aggregation or a
/// keyword: it refuses only unknown functions as such.
fn is_promql_function(name: &str) -> bool {
    match parser::parse(&format!("{name}()")) {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("unknown function"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_dialects_both_ways() {
        for d in [Dialect::Promql, Dialect::Metricsql] {
            assert_eq!(d.as_str().parse::<Dialect>(), Ok(d));
        }
        assert!(
            "MetricsQL"
                .parse::<Dialect>()
                .unwrap_err()
                .contains("`metricsql`")
        );
    }

    #[test]
    fn finds_the_functions_promql_does_not_know() {
        #[rustfmt::skip]
        let cases: [(&str, &[&str]); 5] = [
            ("1 - histogram_share(0.2, sum by (vmrange) (rate(x_bucket{a=\"b\"}[5m])))", &["histogram_share"]),
            ("sum(rate(x[5m])) / sum(rate(y[5m]))", &[]),
            ("rollup_rate(x[5m]) + range_median(rollup_rate(x[5m])) and on (job) up", &["rollup_rate", "range_median"]),
            ("count(x{path=\"/a(b)\"}) or label_set(vector(0), 'f(x)', \"y\")", &["label_set"]),
            ("max_over_time(x[1h:5m]) offset 5m > bool 1e3", &[]),
        ];
        for (query, expected) in cases {
            assert_eq!(unknown_functions(query), expected, "{query}");
        }
    }
}
