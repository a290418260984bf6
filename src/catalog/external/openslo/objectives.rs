//! An SLO's `objectives`: each one's target, and the names of the burnrate
//! SLOs they become.

use crate::catalog::decode::{self, Ctx, Fields};
use crate::catalog::diagnostic::Pos;
use crate::catalog::external::slug;
use crate::catalog::model::{Budgeting, Timeslices};
use crate::catalog::native;
use crate::catalog::native::budgeting::{slice, slice_target};
use crate::catalog::objective::Objective;
use crate::catalog::yaml::Node;

/// `spec.budgetingMethod`, where burnrate can honour it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Occurrences,
    Timeslices,
    /// Refused (already reported): the objectives' slice fields go unremarked.
    Unsupported,
}

/// One objective: the target, its display name and position, and how its
/// budget counts (each `Timeslices` objective has its own slice target).
pub(super) fn objective(
    ctx: Ctx,
    node: &Node,
    path: &str,
    threshold: bool,
    method: Option<Method>,
) -> Option<(Objective, Option<String>, Pos, Budgeting)> {
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
    let supported = matches!(method, Some(Method::Occurrences | Method::Timeslices));
    if !threshold && supported {
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
    let budgeting = if method == Some(Method::Timeslices) {
        let target = f
            .require(
                "timeSliceTarget",
                "the share of good events a slice needs, a ratio such as `0.99`",
            )
            .and_then(|n| {
                let field = f.field("timeSliceTarget");
                let ratio = decode::number(ctx, n, &field, "a ratio such as `0.99`")?;
                slice_target(ctx, n, &field, ratio, &format!("{ratio}"))
            });
        let slice = f
            .require("timeSliceWindow", "the slice length, such as `1m`")
            .and_then(|n| slice(ctx, n, &f.field("timeSliceWindow")));
        target.zip(slice).map(|(slice_target, slice)| {
            Budgeting::Timeslices(Timeslices {
                slice,
                slice_target,
            })
        })
    } else {
        for key in ["timeSliceTarget", "timeSliceWindow"] {
            if let Some(n) = f.get(key)
                && method == Some(Method::Occurrences)
            {
                ctx.error(n.pos, &f.field(key), format!("`{key}` belongs to `Timeslices` budgeting; with `Occurrences` it has no meaning"));
            }
        }
        Some(Budgeting::Occurrences)
    };
    f.finish();
    if ctx.error_count() > errors_before {
        return None;
    }
    Some((objective?, display, node.pos, budgeting?))
}

/// One name per objective: the SLO's own for one, else suffixed by display name or index.
pub(super) fn objective_names(name: &str, displays: &[Option<&str>]) -> Vec<String> {
    if displays.len() == 1 {
        return vec![name.to_string()];
    }
    let slugs: Vec<String> = displays
        .iter()
        .map(|d| d.map(slug).unwrap_or_default())
        .collect();
    let distinct = slugs.iter().all(|s| !s.is_empty())
        && slugs
            .iter()
            .enumerate()
            .all(|(i, s)| !slugs[..i].contains(s));
    if distinct {
        slugs.iter().map(|s| format!("{name}-{s}")).collect()
    } else {
        (0..displays.len()).map(|i| format!("{name}-{i}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objective_names_prefer_display_names() {
        let with = |names: &[Option<&str>]| objective_names("slo", names);
        assert_eq!(with(&[Some("anything")]), ["slo"]);
        assert_eq!(
            with(&[Some("Internal objective"), Some("SLA")]),
            ["slo-internal-objective", "slo-sla"]
        );
        assert_eq!(with(&[Some("SLA"), Some("sla")]), ["slo-0", "slo-1"]);
        assert_eq!(with(&[Some("SLA"), None]), ["slo-0", "slo-1"]);
    }
}
