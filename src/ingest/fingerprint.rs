//! What an SLO counts, as a stable text: when it changes, stored counts mean
//! something else. Canonical (the order of `group_by` labels and matchers,
//! and a query's spacing, do not matter) and versioned (`v1:`), so that
//! neither a reordered file nor an upgrade of burnrate can void stored data
//! that Prometheus may no longer hold.

use promql_parser::parser;

use crate::catalog::promql::{Selector, WindowedQuery};
use crate::catalog::{Counts, Indicator, Slo};

/// The canonical fingerprint of an SLO's SLI. Its format never changes
/// under the same version prefix.
pub fn sli_fingerprint(slo: &Slo) -> String {
    let mut group_by: Vec<&str> = slo.group_by.iter().map(String::as_str).collect();
    group_by.sort_unstable();
    group_by.dedup();
    let counts = |c: &Counts| match c {
        Counts::Bad => "bad",
        Counts::Good => "good",
    };
    let indicator = match &slo.indicator {
        Indicator::Ratio {
            counts: c,
            selector,
            total,
        } => format!(
            "ratio;{}={};total={}",
            counts(c),
            canonical_selector(selector),
            canonical_selector(total)
        ),
        Indicator::Latency {
            bucket,
            count,
            threshold: _,
            le,
        } => format!(
            "latency;bucket={};count={};le={le}",
            canonical_selector(bucket),
            canonical_selector(count)
        ),
        Indicator::BoolGauge { selector } => {
            format!("bool_gauge;metric={}", canonical_selector(selector))
        }
        Indicator::Events {
            counts: c,
            query,
            total,
        } => format!(
            "events;{}={};total={}",
            counts(c),
            canonical_query(query),
            canonical_query(total)
        ),
        Indicator::ErrorRatio { query } => format!("error_ratio;{}", canonical_query(query)),
    };
    format!("v1:{indicator};group_by={}", group_by.join(","))
}

/// Whether a stored fingerprint names the same SLI as `slo`: the current
/// form, or the form burnrate stored before fingerprints were versioned.
pub fn same_sli(stored: &str, slo: &Slo) -> bool {
    stored == sli_fingerprint(slo) || stored == legacy_fingerprint(slo)
}

/// The fingerprint of releases before `v1`: the JSON of the indicator and
/// `group_by` as written. Kept only to recognise data those releases stored.
fn legacy_fingerprint(slo: &Slo) -> String {
    let indicator = serde_json::to_string(&slo.indicator).unwrap_or_default();
    format!("{indicator}|group_by={}", slo.group_by.join(","))
}

/// `metric{a="1",b=~"x"}` with its matchers sorted.
fn canonical_selector(selector: &Selector) -> String {
    let mut sorted = selector.clone();
    let key = |m: &crate::catalog::promql::LabelMatcher| {
        (m.name.clone(), format!("{:?}", m.kind), m.value.clone())
    };
    sorted.matchers.sort_by_key(key);
    sorted.matchers.dedup();
    sorted.to_string()
}

/// The query as PromQL prints it once parsed (spacing and quoting
/// normalised), or as written when it does not parse.
fn canonical_query(query: &WindowedQuery) -> String {
    let text = query.with_window("1m");
    parser::parse(&text).map_or(text, |expr| expr.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::catalog;

    fn slo(indicator: &str, group_by: &str) -> Slo {
        let source = format!(
            "version: burnrate/v1\nservice: shop\nslos:\n  - name: a\n    objective: 99\n    group_by: {group_by}\n    indicator:\n{indicator}"
        );
        match catalog::load_str(Path::new("t.yaml"), &source).into_result() {
            Ok(mut c) => std::sync::Arc::unwrap_or_clone(c.slos.remove(0)),
            Err(d) => panic!("{d:?}"),
        }
    }

    const RATIO: &str = "      ratio:\n        errors: http_requests_total{code=\"500\",job=\"api\"}\n        total: http_requests_total{job=\"api\"}\n";
    const EVENTS: &str = "      events:\n        bad: sum(increase(jobs_failed_total{a=\"1\"}[{{.window}}]))\n        total: sum(increase(jobs_total[{{.window}}]))\n";

    #[test]
    fn the_same_sli_however_it_is_written() {
        let base = sli_fingerprint(&slo(RATIO, "[route, code]"));
        #[rustfmt::skip]
        let same = [
            ("group_by reordered",  slo(RATIO, "[code, route]")),
            ("matchers reordered",  slo(&RATIO.replace("code=\"500\",job=\"api\"", "job=\"api\",code=\"500\""), "[route, code]")),
            ("spacing",             slo(&RATIO.replace("code=\"500\",job", "code = \"500\" , job"), "[route, code]")),
        ];
        for (case, other) in same {
            assert_eq!(sli_fingerprint(&other), base, "{case}");
        }
        let events = sli_fingerprint(&slo(EVENTS, "[]"));
        let spaced = EVENTS.replace("sum(increase(", "sum( increase(");
        assert_eq!(
            sli_fingerprint(&slo(&spaced, "[]")),
            events,
            "query spacing"
        );
    }

    #[test]
    fn a_different_sli_is_a_different_fingerprint() {
        let base = sli_fingerprint(&slo(RATIO, "[route]"));
        #[rustfmt::skip]
        let changed = [
            ("a matcher",      slo(&RATIO.replace("code=\"500\"", "code=~\"5..\""), "[route]")),
            ("good, not bad",  slo(&RATIO.replace("errors:", "good:"), "[route]")),
            ("group_by",       slo(RATIO, "[route, code]")),
            ("no group_by",    slo(RATIO, "[]")),
            ("another kind",   slo(EVENTS, "[route]")),
        ];
        for (case, other) in changed {
            assert_ne!(sli_fingerprint(&other), base, "{case}");
        }
    }

    #[test]
    fn fingerprints_are_versioned_and_fixed() {
        // The exact text is a stored format: changing it voids users' data.
        assert_eq!(
            sli_fingerprint(&slo(RATIO, "[route]")),
            "v1:ratio;bad=http_requests_total{code=\"500\",job=\"api\"};total=http_requests_total{job=\"api\"};group_by=route"
        );
        let s = slo(RATIO, "[route]");
        assert!(
            same_sli(&legacy_fingerprint(&s), &s),
            "data of earlier releases is recognised"
        );
        assert!(!same_sli("v1:something else", &s));
    }
}
