//! Fan-in of Prometheus reads: the selectors of many SLOs grouped by metric,
//! each group read with one selector that covers them all, and the answer's
//! series handed back to each selector that selects them (`matching`).
//!
//! The union of a group keeps the matchers every member has in common and,
//! for each label on which every member has an `=` or `=~` matcher, the
//! alternation of their values as one anchored regex. Each member selects
//! a subset of the union's series, so filtering the union's answer gives
//! each member exactly what its own query would have returned.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::promql::{LabelMatcher, MatchKind, Selector};

use super::matching::quote_meta;

/// How many series one more query costs Prometheus, in series read by a
/// steady cycle's span. A union that returns more unused series than
/// `(members - 1) * SERIES_PER_QUERY` costs more than the separate queries
/// it replaces, and is split. Measured with `bash benches/fanin_threshold.sh`
/// on 2026-11-30: 0.068 ms of Prometheus CPU per query against 0.0054 ms per
/// series returned (`selector[3m]` on one-minute data), a break-even of 13
/// series (BENCHMARKS.md, "Fan-in threshold").
pub const SERIES_PER_QUERY: usize = 13;

/// One query of a plan: the selector sent, and the indexes of the member
/// selectors its answer serves. A group of one is its member itself.
#[derive(Debug, Clone, PartialEq)]
pub struct UnionRead {
    pub selector: Selector,
    pub members: Vec<usize>,
}

impl UnionRead {
    /// Whether the answer must be filtered (more than one member).
    pub fn is_union(&self) -> bool {
        self.members.len() > 1
    }
}

/// Groups `selectors` (distinct) by metric name into union reads. Selectors
/// without a metric name, or matching on `__name__`, are read alone; so are
/// those in `split`, the unions measured as wasteful.
pub fn plan(selectors: &[Selector], split: &BTreeSet<String>) -> Vec<UnionRead> {
    let mut by_metric: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, selector) in selectors.iter().enumerate() {
        let plain = !selector.matchers.iter().any(|m| m.name == "__name__");
        match (&selector.metric, plain) {
            (Some(metric), true) => by_metric.entry(metric).or_default().push(i),
            _ => out.push(alone(selectors, i)),
        }
    }
    for members in by_metric.into_values() {
        if members.len() == 1 {
            out.push(alone(selectors, members[0]));
            continue;
        }
        let group: Vec<&Selector> = members.iter().map(|&i| &selectors[i]).collect();
        let union = union_of(&group);
        if split.contains(&union.to_string()) {
            out.extend(members.iter().map(|&i| alone(selectors, i)));
        } else {
            out.push(UnionRead {
                selector: union,
                members,
            });
        }
    }
    out
}

fn alone(selectors: &[Selector], i: usize) -> UnionRead {
    UnionRead {
        selector: selectors[i].clone(),
        members: vec![i],
    }
}

/// The narrowest selector of the form "common matchers, plus one regex per
/// label every member constrains positively" that selects every series any
/// member selects. All members must share one metric name.
pub fn union_of(members: &[&Selector]) -> Selector {
    let first = members[0];
    let common: Vec<LabelMatcher> = first
        .matchers
        .iter()
        .filter(|m| members.iter().all(|s| s.matchers.contains(m)))
        .cloned()
        .collect();
    let mut matchers = common.clone();
    let labels: BTreeSet<&str> = first.matchers.iter().map(|m| m.name.as_str()).collect();
    for label in labels {
        let mut alternatives = BTreeSet::new();
        for member in members {
            let positive = member
                .matchers
                .iter()
                .filter(|m| m.name == label && !common.contains(m))
                .find_map(|m| match m.kind {
                    MatchKind::Equal => Some(quote_meta(&m.value)),
                    MatchKind::Regex => Some(format!("(?:{})", m.value)),
                    _ => None,
                });
            match positive {
                Some(alternative) => {
                    alternatives.insert(alternative);
                }
                // No positive matcher of its own on the label (or only a
                // common one, already in the union): the label stays open.
                None => {
                    alternatives.clear();
                    break;
                }
            }
        }
        if !alternatives.is_empty() {
            matchers.push(LabelMatcher {
                name: label.to_string(),
                kind: MatchKind::Regex,
                value: alternatives.into_iter().collect::<Vec<_>>().join("|"),
            });
        }
    }
    Selector {
        metric: first.metric.clone(),
        matchers,
    }
}

/// Whether a union read's answer was wasteful enough to read its members
/// separately from now on: it returned `returned` series, of which `used`
/// matched at least one of its `members` selectors.
pub fn should_split(members: usize, returned: usize, used: usize) -> bool {
    returned.saturating_sub(used) > members.saturating_sub(1) * SERIES_PER_QUERY
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selectors(texts: &[&str]) -> Vec<Selector> {
        texts.iter().map(|t| Selector::parse(t).expect(t)).collect()
    }

    #[test]
    fn unions_keep_common_matchers_and_merge_positive_ones() {
        #[rustfmt::skip]
        let cases: &[(&[&str], &str)] = &[
            // Routes of one service: equality on one label merged.
            (&[r#"http_requests_total{service="a",route="/x"}"#,
               r#"http_requests_total{service="a",route="/y.z"}"#],
             r#"http_requests_total{service="a",route=~"/x|/y\\.z"}"#),
            // Errors and totals: the code matcher is not on every member.
            (&[r#"http_requests_total{service="a",code=~"5.."}"#,
               r#"http_requests_total{service="a"}"#],
             r#"http_requests_total{service="a"}"#),
            // Two labels constrained by every member: both merged.
            (&[r#"h_bucket{service="a",le=~"0\\.30*"}"#,
               r#"h_bucket{service="b",le=~"1(\\.0*)?"}"#],
             r#"h_bucket{le=~"(?:0\\.30*)|(?:1(\\.0*)?)",service=~"a|b"}"#),
            // Negative matchers survive only when common.
            (&[r#"m{code!="404",service="a"}"#, r#"m{code!="404",service="b"}"#, r#"m{code!~"5..",service="c"}"#],
             r#"m{service=~"a|b|c"}"#),
            (&[r#"m{code!="404",service="a"}"#, r#"m{code!="404",service="b"}"#],
             r#"m{code!="404",service=~"a|b"}"#),
            // An empty value is a literal empty alternative: missing labels match.
            (&[r#"m{tier=""}"#, r#"m{tier="gold"}"#],
             r#"m{tier=~"|gold"}"#),
            // A member without a positive matcher on a label leaves it open.
            (&[r#"m{route="/x"}"#, r#"m{route!="/y"}"#],
             r#"m"#),
        ];
        for (members, want) in cases {
            let members = selectors(members);
            let refs: Vec<&Selector> = members.iter().collect();
            assert_eq!(union_of(&refs).to_string(), *want, "{members:?}");
        }
    }

    #[test]
    fn plans_group_by_metric_and_read_the_rest_alone() {
        let mut all = selectors(&[
            r#"a{x="1"}"#,
            r#"b{x="1"}"#,
            r#"a{x="2"}"#,
            r#"{__name__=~"a|b"}"#,
        ]);
        all.push(Selector::parse("c").unwrap().with_matcher(
            "__name__",
            MatchKind::NotRegex,
            "x.*",
        ));
        let plan = plan(&all, &BTreeSet::new());
        let shown: Vec<(String, Vec<usize>)> = plan
            .iter()
            .map(|r| (r.selector.to_string(), r.members.clone()))
            .collect();
        assert_eq!(
            shown,
            [
                (r#"{__name__=~"a|b"}"#.to_string(), vec![3]),
                (all[4].to_string(), vec![4]),
                (r#"a{x=~"1|2"}"#.to_string(), vec![0, 2]),
                (r#"b{x="1"}"#.to_string(), vec![1]),
            ]
        );
        assert!(plan[2].is_union() && !plan[3].is_union());
        let split = BTreeSet::from([r#"a{x=~"1|2"}"#.to_string()]);
        let members: Vec<Vec<usize>> = super::plan(&all, &split)
            .into_iter()
            .map(|r| r.members)
            .collect();
        assert!(members.contains(&vec![0]) && members.contains(&vec![2]));
    }

    #[test]
    fn unions_are_split_when_unused_series_outweigh_the_queries_saved() {
        let q = SERIES_PER_QUERY;
        #[rustfmt::skip]
        let cases = [
            // members, returned, used, split
            (2, 10, 10, false),
            (2, q + 10, 10, false),
            (2, q + 11, 10, true),
            (100, 99 * q + 500, 500, false),
            (100, 99 * q + 501, 500, true),
            (1, 5, 4, true),
        ];
        for (members, returned, used, want) in cases {
            assert_eq!(
                should_split(members, returned, used),
                want,
                "{members} {returned} {used}"
            );
        }
    }
}
