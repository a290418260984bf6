//! An SLO's `objectives`: each one's target, and the names of the burnrate
//! SLOs they become.

use crate::catalog::decode::{Ctx, Fields};
use crate::catalog::diagnostic::Pos;
use crate::catalog::external::slug;
use crate::catalog::native;
use crate::catalog::objective::Objective;
use crate::catalog::yaml::Node;

/// One objective: the target, its display name and position.
pub(super) fn objective(
    ctx: Ctx,
    node: &Node,
    path: &str,
    threshold: bool,
    occurrences: Option<bool>,
) -> Option<(Objective, Option<String>, Pos)> {
    const FIELDS: [&str; 10] = [
        "displayName",
        "op",
        "value",
        "target",
        "targetPercent",
        "timeSliceTarget",
        "timeSliceWindow",
        "indicator",
        "indicatorRef",
        "compositeWeight",
    ];
    let errors_before = ctx.error_count();
    let mut f = Fields::new(ctx, node, path, &FIELDS)?;
    let display = f.string("displayName");
    for key in ["indicator", "indicatorRef", "compositeWeight"] {
        if let Some(n) = f.get(key) {
            ctx.error(n.pos, &f.field(key), "composite SLOs (an indicator per objective) are not supported: give each objective's SLI its own SLO");
        }
    }
    let objective = match (f.get("target"), f.get("targetPercent")) {
        (Some(_), Some(n)) => {
            ctx.error(
                n.pos,
                &f.field("targetPercent"),
                "give either `target` or `targetPercent`, not both",
            );
            None
        }
        (None, None) => {
            ctx.error(
                f.pos(),
                path,
                "missing `target` (a ratio such as `0.99`) or `targetPercent` (such as `99`)",
            );
            None
        }
        (Some(n), None) => native::ratio_objective(
            ctx,
            n,
            &f.field("target"),
            " (use `targetPercent` for percentages)",
        ),
        (None, Some(n)) => native::objective(ctx, n, &f.field("targetPercent")),
    };
    if !threshold && occurrences == Some(true) {
        if let Some(n) = f.get("op") {
            match n.scalar_text() {
                Some("gt" | "gte") => ctx.warn(n.pos, &f.field("op"), "`op` compares a threshold metric's values; a ratio objective is met while the SLI is at or above its target, so it has no effect here"),
                Some("lt" | "lte") => ctx.error(n.pos, &f.field("op"), "`op` compares a threshold metric's values; on a ratio objective `lt`/`lte` would ask the SLI to stay below its target, which burnrate cannot express (an objective is met while the SLI is at or above its target)"),
                _ => ctx.expected(n, &f.field("op"), "`lt`, `lte`, `gt` or `gte`"),
            }
        }
        if let Some(n) = f.get("value") {
            ctx.error(n.pos, &f.field("value"), "`value` is the threshold of a `thresholdMetric`; a ratio objective has only a `target`");
        }
    } else {
        f.get("op");
        f.get("value");
    }
    for key in ["timeSliceTarget", "timeSliceWindow"] {
        if let Some(n) = f.get(key)
            && occurrences == Some(true)
        {
            ctx.error(n.pos, &f.field(key), format!("`{key}` belongs to `Timeslices` budgeting; with `Occurrences` it has no meaning"));
        }
    }
    f.finish();
    if ctx.error_count() > errors_before {
        return None;
    }
    Some((objective?, display, node.pos))
}

/// One name per objective: the SLO's own for one, else suffixed by display name or index.
pub(super) fn objective_names(
    name: &str,
    objectives: &[(Objective, Option<String>, Pos)],
) -> Vec<String> {
    if objectives.len() == 1 {
        return vec![name.to_string()];
    }
    let slugs: Vec<String> = objectives
        .iter()
        .map(|(_, d, _)| d.as_deref().map(slug).unwrap_or_default())
        .collect();
    let distinct = slugs.iter().all(|s| !s.is_empty())
        && slugs
            .iter()
            .enumerate()
            .all(|(i, s)| !slugs[..i].contains(s));
    if distinct {
        slugs.iter().map(|s| format!("{name}-{s}")).collect()
    } else {
        (0..objectives.len())
            .map(|i| format!("{name}-{i}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objective_names_prefer_display_names() {
        let o = Objective::parse_percent("99").unwrap();
        let with = |names: &[Option<&str>]| {
            let objectives: Vec<_> = names
                .iter()
                .map(|n| (o, n.map(str::to_string), Pos::default()))
                .collect();
            objective_names("slo", &objectives)
        };
        assert_eq!(with(&[Some("anything")]), ["slo"]);
        assert_eq!(
            with(&[Some("Internal objective"), Some("SLA")]),
            ["slo-internal-objective", "slo-sla"]
        );
        assert_eq!(with(&[Some("SLA"), Some("sla")]), ["slo-0", "slo-1"]);
        assert_eq!(with(&[Some("SLA"), None]), ["slo-0", "slo-1"]);
    }
}
