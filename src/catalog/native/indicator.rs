//! The `indicator` of a native SLO, and the selectors and queries every
//! format's indicators are made of.

use crate::catalog::decode::{self, Ctx, Fields};
use crate::catalog::model::{Counts, Indicator};
use crate::catalog::promql::{MatchKind, Selector, WindowedQuery};
use crate::catalog::yaml::Node;

const INDICATOR_KINDS: [&str; 5] = ["ratio", "latency", "bool_gauge", "events", "error_ratio"];
const RATIO_FIELDS: [&str; 3] = ["errors", "good", "total"];
const LATENCY_FIELDS: [&str; 3] = ["histogram", "threshold", "le"];
const BOOL_GAUGE_FIELDS: [&str; 1] = ["metric"];
const EVENTS_FIELDS: [&str; 3] = ["bad", "good", "total"];

pub(super) fn indicator(ctx: Ctx, node: &Node, path: &str) -> Option<Indicator> {
    let (kind, body, field) =
        decode::one_kind(ctx, node, path, &INDICATOR_KINDS, "indicator kind")?;
    match kind {
        "ratio" => {
            let mut r = Fields::new(ctx, body, &field, &RATIO_FIELDS)?;
            let (counts, key) = one_of(&mut r, "errors", "good")?;
            let counted = selector(ctx, r.get(key)?, &r.field(key));
            let total = r
                .require("total", "a selector for all events")
                .and_then(|n| selector(ctx, n, &r.field("total")));
            r.finish();
            Some(Indicator::Ratio {
                counts,
                selector: counted?,
                total: total?,
            })
        }
        "latency" => latency(ctx, body, &field),
        "bool_gauge" => {
            let mut g = Fields::new(ctx, body, &field, &BOOL_GAUGE_FIELDS)?;
            let metric = g
                .require(
                    "metric",
                    "a selector for a 0/1 gauge such as `probe_success`",
                )
                .and_then(|n| selector(ctx, n, &g.field("metric")));
            g.finish();
            Some(Indicator::BoolGauge { selector: metric? })
        }
        "events" => {
            let mut e = Fields::new(ctx, body, &field, &EVENTS_FIELDS)?;
            let (counts, key) = one_of(&mut e, "bad", "good")?;
            let query = events_query(ctx, e.get(key)?, &e.field(key));
            let total = e
                .require("total", "a query counting all events")
                .and_then(|n| events_query(ctx, n, &e.field("total")));
            e.finish();
            Some(Indicator::Events {
                counts,
                query: query?,
                total: total?,
            })
        }
        "error_ratio" => {
            let query = error_ratio_query(ctx, body, &field, body.pos)?;
            Some(Indicator::ErrorRatio { query })
        }
        _ => None,
    }
}

/// Why a time-weighted error ratio is biased, for `check`'s warning.
pub const TIME_WEIGHTED: &str = "an error ratio is time-weighted: burnrate counts each minute with a value as one event, as bad as its ratio, so a quiet minute weighs as much as a busy one and the SLI differs from good/total events whenever traffic is uneven. Count events (`events` with `bad` and `total` queries) where the metrics allow it";

/// A query returning an error ratio over `{{.window}}`, with the warning
/// (at `pos`, where the field is written) that says what time-weighting
/// does to it.
pub(crate) fn error_ratio_query(
    ctx: Ctx,
    node: &Node,
    path: &str,
    pos: crate::catalog::diagnostic::Pos,
) -> Option<WindowedQuery> {
    let query = events_query(ctx, node, path)?.as_ratio();
    ctx.warn(pos, path, TIME_WEIGHTED);
    Some(query)
}

/// Exactly one of two alternative fields (`errors` or `good`); `Bad` for the first.
fn one_of(f: &mut Fields, bad: &'static str, good: &'static str) -> Option<(Counts, &'static str)> {
    match (f.has(bad), f.has(good)) {
        (true, false) => Some((Counts::Bad, bad)),
        (false, true) => Some((Counts::Good, good)),
        (both, _) => {
            let what = if both { "both" } else { "neither" };
            f.ctx().error(
                f.pos(),
                f.path(),
                format!("expected exactly one of `{bad}` and `{good}`, found {what}"),
            );
            f.get(bad);
            f.get(good);
            None
        }
    }
}

pub(crate) fn selector(ctx: Ctx, node: &Node, path: &str) -> Option<Selector> {
    let text = decode::string(ctx, node, path)?;
    match Selector::parse(&text) {
        Ok(s)
            if s.metric.is_none()
                && s.matchers
                    .iter()
                    .all(|m| m.kind != MatchKind::Equal || m.value.is_empty()) =>
        {
            ctx.error(
                node.pos,
                path,
                "a selector needs a metric name or a non-empty `=` matcher",
            );
            None
        }
        Ok(s) => Some(s),
        Err(e) => {
            ctx.error(node.pos, path, e);
            None
        }
    }
}

pub(crate) fn events_query(ctx: Ctx, node: &Node, path: &str) -> Option<WindowedQuery> {
    let text = decode::string(ctx, node, path)?;
    match WindowedQuery::parse_in(&text, ctx.dialect) {
        Ok((q, _)) if !q.uses_window() => {
            ctx.error(node.pos, path, "the query must use the `{{.window}}` placeholder (e.g. `sum(increase(x[{{.window}}]))`) so burnrate can count events one interval at a time");
            None
        }
        Ok((q, unknown)) => {
            for name in unknown {
                ctx.warn(node.pos, path, format!("`{name}` is not a PromQL function: in the MetricsQL dialect the query is not checked offline, and the server checks it when burnrate runs it"));
            }
            Some(q)
        }
        Err(e) => {
            ctx.error(node.pos, path, e);
            None
        }
    }
}

fn latency(ctx: Ctx, node: &Node, path: &str) -> Option<Indicator> {
    let mut f = Fields::new(ctx, node, path, &LATENCY_FIELDS)?;
    let histogram = f
        .require("histogram", "the histogram's `_bucket` (or base) selector")
        .and_then(|n| selector(ctx, n, &f.field("histogram")));
    let histogram = histogram.and_then(|h| {
        let base = h
            .metric
            .as_deref()
            .map(|m| m.strip_suffix("_bucket").unwrap_or(m).to_string());
        match base {
            Some(base) => Some((h, base)),
            None => {
                let n = f.get("histogram")?;
                ctx.error(
                    n.pos,
                    &f.field("histogram"),
                    "the histogram selector needs a metric name",
                );
                None
            }
        }
    });
    let threshold = match (f.get("threshold"), f.get("le")) {
        (Some(_), Some(n)) => {
            ctx.error(
                n.pos,
                &f.field("le"),
                "give either `threshold` or `le`, not both",
            );
            None
        }
        (None, None) => {
            ctx.error(f.pos(), path, "missing `threshold` (a duration such as `300ms`) or `le` (the bucket's upper bound in the histogram's unit)");
            None
        }
        (None, Some(n)) => le_value(ctx, n, &f.field("le")),
        (Some(n), None) => {
            let d = decode::duration(ctx, n, &f.field("threshold"));
            match (d, &histogram) {
                (Some(d), Some((_, base))) => {
                    if d.is_zero() {
                        ctx.error(
                            n.pos,
                            &f.field("threshold"),
                            "the threshold must be greater than zero",
                        );
                        None
                    } else if base.ends_with("_seconds") {
                        Some(d.as_secs_f64())
                    } else if base.ends_with("_milliseconds") || base.ends_with("_ms") {
                        Some(d.as_millis() as f64)
                    } else {
                        ctx.error(n.pos, &f.field("threshold"), format!("cannot tell the unit of `{base}` (its name ends neither in `_seconds` nor `_milliseconds`): give the bucket bound with `le` instead"));
                        None
                    }
                }
                _ => None,
            }
        }
    };
    f.finish();
    let (histogram, base) = histogram?;
    let threshold = threshold?;
    if histogram.matchers.iter().any(|m| m.name == "le") {
        ctx.error(
            node.pos,
            path,
            "the histogram selector must not match on `le`: burnrate adds it from the threshold",
        );
        return None;
    }
    Some(Indicator::Latency {
        bucket: histogram.with_metric(&format!("{base}_bucket")),
        count: histogram.with_metric(&format!("{base}_count")),
        threshold,
        le: le_text(threshold),
    })
}

fn le_value(ctx: Ctx, node: &Node, path: &str) -> Option<f64> {
    let value = decode::number(ctx, node, path, "a bucket upper bound such as `0.3`")?;
    if value <= 0.0 {
        ctx.error(
            node.pos,
            path,
            format!("`le` must be greater than zero, found `{value}`"),
        );
        return None;
    }
    Some(value)
}

/// The `le` label value for a threshold, as Go clients write it (`0.3`, `1`).
pub fn le_text(threshold: f64) -> String {
    let text = format!("{threshold}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}
