//! `openslo/v1alpha` SLOs, read on their own the way Sloth reads them.

use super::{API_VERSION, OBJECT_FIELDS, THRESHOLD_REJECTION, V1ALPHA, list, metadata_name};
use crate::catalog::alerting::AlertingSpec;
use crate::catalog::decode::{self, Ctx, Fields};
use crate::catalog::diagnostic::Pos;
use crate::catalog::external::{key_pos, scalar, skip};
use crate::catalog::layers::{Layer, SloDraft};
use crate::catalog::model::{Counts, Indicator};
use crate::catalog::native;
use crate::catalog::objective::Objective;
use crate::catalog::promql::WindowedQuery;
use crate::catalog::window::SloWindow;
use crate::catalog::yaml::Node;
use crate::duration::Duration;

/// An `openslo/v1alpha` SLO, read the way Sloth reads it: each objective is
/// an SLO named `<name>-<index>` with Sloth's `ratioMetrics` (good and total
/// queries over `{{.window}}`, from a `prometheus` or `sloth` source), the
/// single time window as a rolling window, and no alerts (Sloth generates
/// none for OpenSLO specifications).
pub fn decode_v1alpha(ctx: Ctx, doc: &Node) -> Vec<SloDraft> {
    const SPEC_FIELDS: [&str; 6] = [
        "service",
        "description",
        "budgetingMethod",
        "objectives",
        "timeWindows",
        "indicator",
    ];
    let Some(mut top) = Fields::new(ctx, doc, "", &OBJECT_FIELDS) else {
        return Vec::new();
    };
    top.get("apiVersion");
    match top.get("kind").and_then(Node::scalar_text) {
        Some("SLO") => {}
        other => {
            let pos = top.get("kind").map_or(doc.pos, |n| n.pos);
            ctx.error(pos, "kind", format!("only `kind: SLO` is read from `{V1ALPHA}` (as Sloth does), found {}; write other objects as `{API_VERSION}`", other.map_or("none".to_string(), |k| format!("`{k}`"))));
            skip(&mut top, &OBJECT_FIELDS);
            top.finish();
            return Vec::new();
        }
    }
    let name = top
        .require("metadata", "`name`")
        .and_then(|m| metadata_name(ctx, m, "metadata"))
        .map(|(n, _)| n);
    let spec = top.require("spec", "the SLO");
    top.finish();
    let (Some(name), Some(spec)) = (name, spec) else {
        return Vec::new();
    };
    let service_text = spec
        .get("service")
        .and_then(Node::scalar_text)
        .unwrap_or("?");
    let id = format!("{service_text}/{name}");
    let ctx = ctx.for_slo(&id);
    let errors_before = ctx.error_count();
    let Some(mut f) = Fields::new(ctx, spec, "spec", &SPEC_FIELDS) else {
        return Vec::new();
    };
    let service = f
        .require("service", "the service")
        .and_then(|n| native::name(ctx, n, "spec.service"));
    let description = f.string("description");
    if let Some(n) = f.get("indicator") {
        let pos = key_pos(spec, "indicator").unwrap_or(n.pos);
        ctx.error(pos, "spec.indicator", THRESHOLD_REJECTION);
    }
    if let Some(n) = f.require("budgetingMethod", "`Occurrences`") {
        match n.scalar_text() {
            Some("Occurrences") => {}
            Some(m @ ("Timeslices" | "RatioTimeslices")) => ctx.error(n.pos, "spec.budgetingMethod", format!("`{m}` budgeting is not supported: burnrate counts good and bad events over the window (`Occurrences`)")),
            _ => ctx.expected(n, "spec.budgetingMethod", "`Occurrences`"),
        }
    }
    let window = f
        .require("timeWindows", "one window, e.g. `{count: 30, unit: Day}`")
        .and_then(|n| v1alpha_window(ctx, n, "spec.timeWindows"));
    let mut drafts = Vec::new();
    if let Some(n) = f.require("objectives", "at least one objective") {
        let items = list(ctx, n, "spec.objectives");
        if items.is_empty() {
            ctx.error(
                n.pos,
                "spec.objectives",
                "at least one objective is required",
            );
        }
        for (i, item) in items {
            let path = format!("spec.objectives[{i}]");
            if let Some((objective, indicator)) = v1alpha_objective(ctx, item, &path) {
                drafts.push((i, item.pos, objective, indicator));
            }
        }
    }
    f.finish();
    if ctx.error_count() > errors_before {
        return Vec::new();
    }
    let (Some(service), Some(window)) = (service, window) else {
        return Vec::new();
    };
    drafts
        .into_iter()
        .map(|(i, pos, objective, indicator)| SloDraft {
            pos,
            service: service.clone(),
            name: format!("{name}-{i}"),
            description: description.clone(),
            objective: Some(objective),
            indicator: Some(indicator),
            group_by: Vec::new(),
            own: Layer {
                window: Some(window),
                alerting: AlertingSpec {
                    enabled: Some(false),
                    ..AlertingSpec::default()
                },
                ..Layer::default()
            },
        })
        .collect()
}

fn v1alpha_window(ctx: Ctx, node: &Node, path: &str) -> Option<(SloWindow, Pos)> {
    let items = list(ctx, node, path);
    if items.len() != 1 {
        ctx.error(
            node.pos,
            path,
            format!(
                "expected exactly one time window (as Sloth requires), found {}",
                items.len()
            ),
        );
        return None;
    }
    let (_, item) = items[0];
    let path = format!("{path}[0]");
    let mut f = Fields::new(
        ctx,
        item,
        &path,
        &["count", "unit", "isRolling", "calendar"],
    )?;
    let count = f
        .require("count", "a whole number")
        .and_then(|n| decode::unsigned(ctx, n, &decode::join(&path, "count")));
    let unit = f.require("unit", "`Day`, `Week`, ...");
    let unit_field = f.field("unit");
    if f.boolean("isRolling") == Some(false) || f.has("calendar") {
        let pos = f.get("calendar").map_or(item.pos, |n| n.pos);
        ctx.error(pos, &path, format!("calendar-aligned `{V1ALPHA}` windows are not read; write the SLO as `{API_VERSION}`"));
    }
    f.finish();
    let unit = unit?;
    let text = scalar(ctx, unit, &unit_field, "a unit")?;
    let size = match text {
        "Minute" => Duration::from_mins(1),
        "Hour" => Duration::from_hours(1),
        "Day" => Duration::from_days(1),
        "Week" => Duration::from_days(7),
        "Month" | "Quarter" | "Year" => {
            ctx.error(unit.pos, &unit_field, format!("a rolling window counted in `{text}`s has no fixed length; count days instead (e.g. `count: 30, unit: Day`)"));
            return None;
        }
        _ => {
            ctx.expected(unit, &unit_field, "`Minute`, `Hour`, `Day` or `Week`");
            return None;
        }
    };
    let d = Duration::from_millis(size.as_millis() * count?);
    if d < Duration::from_hours(1) {
        ctx.error(item.pos, &path, "an SLO window must be at least 1h");
        return None;
    }
    Some((SloWindow::Rolling(d), item.pos))
}

fn v1alpha_objective(ctx: Ctx, node: &Node, path: &str) -> Option<(Objective, Indicator)> {
    const FIELDS: [&str; 6] = [
        "displayName",
        "value",
        "ratioMetrics",
        "target",
        "op",
        "timeSliceTarget",
    ];
    let errors_before = ctx.error_count();
    let mut f = Fields::new(ctx, node, path, &FIELDS)?;
    skip(&mut f, &["displayName", "value", "op"]);
    if let Some(n) = f.get("timeSliceTarget") {
        ctx.error(
            n.pos,
            &f.field("timeSliceTarget"),
            "`timeSliceTarget` belongs to `Timeslices` budgeting, which burnrate does not support",
        );
    }
    let objective = f
        .require("target", "a ratio such as `0.999`")
        .and_then(|n| native::ratio_objective(ctx, n, &f.field("target"), ""));
    let indicator = f
        .require(
            "ratioMetrics",
            "`good` and `total` queries (Sloth reads only these)",
        )
        .and_then(|n| {
            let field = f.field("ratioMetrics");
            let mut r = Fields::new(ctx, n, &field, &["good", "total", "incremental"])?;
            r.get("incremental");
            let good = r
                .require("good", "the query counting good events")
                .and_then(|n| v1alpha_metric(ctx, n, &decode::join(&field, "good")));
            let total = r
                .require("total", "the query counting all events")
                .and_then(|n| v1alpha_metric(ctx, n, &decode::join(&field, "total")));
            r.finish();
            Some(Indicator::Events {
                counts: Counts::Good,
                query: good?,
                total: total?,
            })
        });
    f.finish();
    if ctx.error_count() > errors_before {
        return None;
    }
    Some((objective?, indicator?))
}

fn v1alpha_metric(ctx: Ctx, node: &Node, path: &str) -> Option<WindowedQuery> {
    let mut f = Fields::new(
        ctx,
        node,
        path,
        &["source", "queryType", "query", "metadata"],
    )?;
    f.get("metadata");
    if let Some(n) = f.require("source", "`prometheus`") {
        match n.scalar_text() {
            Some("prometheus" | "sloth") => {}
            Some(other) => ctx.error(n.pos, &f.field("source"), format!("source `{other}` is not supported: burnrate reads Prometheus only (`source: prometheus`)")),
            None => ctx.expected(n, &f.field("source"), "`prometheus`"),
        }
    }
    if let Some(n) = f.require("queryType", "`promql`")
        && n.scalar_text() != Some("promql")
    {
        ctx.expected(n, &f.field("queryType"), "`promql`");
    }
    let query = f
        .require("query", "a PromQL query counting events over `{{.window}}`")
        .and_then(|n| native::indicator::events_query(ctx, n, &f.field("query")));
    f.finish();
    query
}
