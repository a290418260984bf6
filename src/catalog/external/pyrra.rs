//! Pyrra's `pyrra.dev/v1alpha1` `ServiceLevelObjective`.
//!
//! Meaning, as Pyrra gives it:
//! - `metadata.name` is the SLO's name and `metadata.namespace` scopes it;
//!   burnrate has services where Pyrra has namespaces, so the service is the
//!   `pyrra.dev/service` label when present (Pyrra would put it on every
//!   series as `service`, the label burnrate uses for the service), otherwise
//!   the namespace, otherwise `default` (where Kubernetes puts an object
//!   without one).
//! - Labels prefixed `pyrra.dev/` are propagated, without the prefix, to every
//!   series and alert; annotations prefixed `pyrra.dev/` to every alert. Other
//!   labels and annotations are Kubernetes metadata (e.g. the
//!   `prometheus: k8s` label that selects the rule file) and mean nothing to
//!   the SLO.
//! - `target` is a percentage in a string, `window` a rolling window.
//! - Indicators: `ratio` (errors over total counters, `grouping` = one SLO per
//!   label value), `latency` (the `le` bucket of a histogram over its count),
//!   `bool_gauge` (each sample of a 0/1 gauge is one event).
//! - Alerts: Pyrra keeps the burn-rate factors 14, 7, 2 and 1 and scales the
//!   windows and `for` durations with the SLO window ([`pyrra_tiers`], from
//!   Pyrra's `slo/rules.go`); its `critical` alerts are burnrate's `page`
//!   tiers and `warning` ones `ticket` tiers. These replace the Workbook tiers.
//!   `burnrates: false` (or the older `disabled: true`) switches them off.
//! - The absent alert is on unless `alerting.absent: false`, as in Pyrra;
//!   `absentName` is its `alertname` (default `SLOMetricAbsent`), its severity
//!   `page` (Pyrra's `critical`). It fires once an instance is `absent`, that
//!   is after `--absent-after` of silence, with no further `for`.
//! - `alerting.severities` (Pyrra's `AlertingSeverities`, added in 2026)
//!   sets the `severity` label of each alert: `fastBurn`, `mediumBurn`,
//!   `slowBurn` and `longTermBurn` are the four tiers in window order and
//!   `absent` the absent alert. An unset or empty one keeps Pyrra's default
//!   (`critical`, `critical`, `warning`, `warning`, and `critical` for
//!   absent; burnrate sends `page` and `ticket` there, as for every other SLO).
//!   Only the label changes: burnrate's own severity, which orders alerts and
//!   filters the API, stays that of the tier.
//! - `performanceOverAccuracy` trades accuracy for cheaper rules in Pyrra;
//!   burnrate's counts are exact either way, so it is accepted with a warning.

use std::collections::BTreeMap;

use super::super::alerting::{AbsentSpec, AlertingSpec, TierSpec, WORKBOOK_TIERS};
use super::super::decode::{self, Ctx, Fields};
use super::super::diagnostic::Pos;
use super::super::layers::{Layer, SloDraft, is_valid_name};
use super::super::model::{Counts, Indicator, Severity};
use super::super::native;
use super::super::objective::Objective;
use super::super::promql::{MatchKind, Selector};
use super::super::window::{SloWindow, bounded_duration};
use super::super::yaml::Node;
use super::{K8S_METADATA_FIELDS, key_pos, scalar, skip};
use crate::duration::Duration;

pub const API_VERSION: &str = "pyrra.dev/v1alpha1";
pub const KIND: &str = "ServiceLevelObjective";
/// Prefix of the labels and annotations Pyrra propagates to its rules.
pub const PROPAGATION_PREFIX: &str = "pyrra.dev/";

const DOC_FIELDS: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];
const SPEC_FIELDS: [&str; 7] = [
    "description",
    "target",
    "window",
    "indicator",
    "alerting",
    "partial_response_strategy",
    "performanceOverAccuracy",
];
const INDICATOR_KINDS: [&str; 4] = ["ratio", "latency", "latencyNative", "bool_gauge"];
const RATIO_FIELDS: [&str; 3] = ["errors", "total", "grouping"];
const LATENCY_FIELDS: [&str; 3] = ["success", "total", "grouping"];
const NATIVE_LATENCY_FIELDS: [&str; 3] = ["total", "latency", "grouping"];
const BOOL_GAUGE_FIELDS: [&str; 2] = ["metric", "grouping"];
const QUERY_FIELDS: [&str; 1] = ["metric"];
const ALERTING_FIELDS: [&str; 6] = [
    "disabled",
    "burnrates",
    "absent",
    "name",
    "absentName",
    "severities",
];
/// `alerting.severities`: one per tier in [`pyrra_tiers`] order, then the
/// absent alert (Pyrra's `alertSeverityLabel` in `slo/rules.go`).
const SEVERITY_FIELDS: [&str; 5] = [
    "fastBurn",
    "mediumBurn",
    "slowBurn",
    "longTermBurn",
    "absent",
];

/// Why `performanceOverAccuracy` is accepted and has no effect.
const PERFORMANCE_OVER_ACCURACY: &str = "`performanceOverAccuracy` lets Pyrra trade accuracy for cheaper recording rules over long windows; it is unnecessary here, because burnrate counts events exactly from raw samples whatever the window, so it has no effect";

/// One of Pyrra's multi-window alerts for a given SLO window.
#[derive(Debug, Clone, PartialEq)]
pub struct PyrraTier {
    pub severity: Severity,
    pub long: Duration,
    pub short: Duration,
    pub for_duration: Duration,
    pub factor: f64,
}

/// Pyrra's alert windows for an SLO window (`Windows` in Pyrra's
/// `slo/rules.go`): fractions of the window that give 1h/5m, 6h/30m, 1d/2h and
/// 4d/6h for 28 days, each computed with integer nanoseconds and rounded to
/// the minute (halves away from zero), as Go's `Duration.Round` does.
pub fn pyrra_tiers(window: Duration) -> [PyrraTier; 4] {
    let part = |divisor: u128| -> Duration {
        let nanos = window.as_millis() as u128 * 1_000_000 / divisor;
        let minute: u128 = 60 * 1_000_000_000;
        let rounded = (nanos + minute / 2) / minute * minute;
        Duration::from_millis((rounded / 1_000_000) as u64)
    };
    let tier = |severity, long, short, for_duration, factor| PyrraTier {
        severity,
        long: part(long),
        short: part(short),
        for_duration: part(for_duration),
        factor,
    };
    [
        tier(Severity::Page, 28 * 24, 28 * 24 * 12, 28 * 24 * 30, 14.0),
        tier(Severity::Page, 28 * 4, 28 * 24 * 2, 28 * 24 * 4, 7.0),
        tier(Severity::Ticket, 28, 28 * 12, 28 * 24, 2.0),
        tier(Severity::Ticket, 7, 28 * 4, 28 * 8, 1.0),
    ]
}

/// The name burnrate gives a Pyrra tier: severity and long window, `page-1h`.
pub fn tier_name(t: &PyrraTier) -> String {
    format!("{}-{}", t.severity.as_str(), t.long)
}

pub fn decode_document(ctx: Ctx, doc: &Node) -> Option<SloDraft> {
    let meta = doc.get("metadata");
    let name_text = meta
        .and_then(|m| m.get("name"))
        .and_then(Node::scalar_text)
        .unwrap_or("?");
    let service = meta.and_then(service_of);
    let id = format!("{}/{name_text}", service.as_deref().unwrap_or("default"));
    let ctx = ctx.for_slo(&id);
    let errors_before = ctx.error_count();

    let mut f = Fields::new(ctx, doc, "", &DOC_FIELDS)?;
    skip(&mut f, &["apiVersion", "kind", "status"]);
    let (name, service, labels, annotations) = match f.require("metadata", "`name` and `namespace`")
    {
        Some(m) => metadata(ctx, m).unwrap_or_default(),
        None => Default::default(),
    };
    let spec = f
        .require("spec", "the objective")
        .and_then(|n| decode_spec(ctx, n, "spec"));
    f.finish();
    if ctx.error_count() > errors_before {
        return None;
    }
    let (description, objective, window, window_pos, indicator, group_by, mut alerting) = spec?;
    alerting.annotations.extend(annotations);
    Some(SloDraft {
        pos: doc.pos,
        service: service?,
        name: name?,
        description,
        objective: Some(objective),
        indicator: Some(indicator),
        group_by,
        own: Layer {
            labels,
            window: Some((SloWindow::Rolling(window), window_pos)),
            alerting,
            ..Layer::default()
        },
    })
}

/// The `pyrra.dev/service` label, else the namespace (for messages, before decoding).
fn service_of(meta: &Node) -> Option<String> {
    meta.get("labels")
        .and_then(|l| l.get("pyrra.dev/service"))
        .or_else(|| meta.get("namespace"))
        .and_then(Node::scalar_text)
        .map(str::to_string)
}

type Metadata = (
    Option<String>,
    Option<String>,
    BTreeMap<String, String>,
    BTreeMap<String, String>,
);

/// Name, service, propagated labels and propagated annotations.
fn metadata(ctx: Ctx, node: &Node) -> Option<Metadata> {
    let mut f = Fields::new(ctx, node, "metadata", &K8S_METADATA_FIELDS)?;
    let name = f
        .require("name", "the SLO's name")
        .and_then(|n| native::name(ctx, n, "metadata.name"));
    let namespace = f
        .get("namespace")
        .and_then(|n| native::name(ctx, n, "metadata.namespace"));
    let mut service = namespace.unwrap_or_else(|| "default".to_string());
    let mut labels = BTreeMap::new();
    if let Some(n) = f.get("labels") {
        for (key, value) in decode::label_map(ctx, n, "metadata.labels", false) {
            let Some(label) = key.strip_prefix(PROPAGATION_PREFIX) else {
                continue;
            };
            let field = format!("metadata.labels.{key}");
            let pos = n
                .as_map()
                .and_then(|m| m.iter().find(|e| e.key == key))
                .map_or(n.pos, |e| e.key_pos);
            if label == "service" {
                if is_valid_name(&value) {
                    service = value;
                } else {
                    ctx.error(pos, &field, format!("`{value}` is not a valid service name: use letters, digits, `_`, `-` and `.`, starting with a letter or digit"));
                }
            } else if decode::is_valid_label_name(label) {
                labels.insert(label.to_string(), value);
            } else {
                ctx.error(pos, &field, format!("Pyrra propagates this label as `{label}`, which is not a valid Prometheus label name"));
            }
        }
    }
    let mut annotations = BTreeMap::new();
    if let Some(n) = f.get("annotations") {
        for (key, value) in decode::label_map(ctx, n, "metadata.annotations", false) {
            if let Some(a) = key.strip_prefix(PROPAGATION_PREFIX) {
                annotations.insert(a.to_string(), value);
            }
        }
    }
    skip(&mut f, &K8S_METADATA_FIELDS);
    f.finish();
    Some((name, Some(service), labels, annotations))
}

type Spec = (
    Option<String>,
    Objective,
    Duration,
    Pos,
    Indicator,
    Vec<String>,
    AlertingSpec,
);

fn decode_spec(ctx: Ctx, node: &Node, path: &str) -> Option<Spec> {
    let mut f = Fields::new(ctx, node, path, &SPEC_FIELDS)?;
    let description = f.string("description").filter(|d| !d.trim().is_empty());
    let objective = f
        .require(
            "target",
            "the target percentage as a string, e.g. `\"99.5\"`",
        )
        .and_then(|n| {
            let o = native::objective(ctx, n, &f.field("target"))?;
            if o.percent() < 1.0 {
                ctx.warn(
                    n.pos,
                    &f.field("target"),
                    format!(
                        "the target is a percentage from 0 to 100: `{}` means {}%, not {}%",
                        o,
                        o,
                        o.percent() * 100.0
                    ),
                );
            }
            Some(o)
        });
    let window = f
        .require("window", "a rolling window such as `4w` or `28d`")
        .and_then(|n| window(ctx, n, &f.field("window")).map(|w| (w, n.pos)));
    let indicator = f
        .require(
            "indicator",
            "one of `ratio`, `latency`, `latencyNative`, `bool_gauge`",
        )
        .and_then(|n| indicator(ctx, n, &f.field("indicator")));
    let (mut alerting, burn_rates_on, tier_severities) = match f.get("alerting") {
        Some(n) => alerting(ctx, n, &f.field("alerting")),
        None => (pyrra_defaults(node.pos), true, TierSeverities::default()),
    };
    if let Some(n) = f.get("partial_response_strategy") {
        ctx.warn(n.pos, &f.field("partial_response_strategy"), "only Thanos Ruler reads `partial_response_strategy`; burnrate queries Prometheus itself, so it has no effect here");
    }
    if let Some(n) = f.get("performanceOverAccuracy") {
        let field = f.field("performanceOverAccuracy");
        if decode::boolean(ctx, n, &field).is_some() {
            ctx.warn(n.pos, &field, PERFORMANCE_OVER_ACCURACY);
        }
    }
    f.finish();
    let (window, window_pos) = window?;
    alerting.tiers = if burn_rates_on {
        tiers(
            ctx,
            window,
            window_pos,
            &decode::join(path, "window"),
            tier_severities,
        )?
    } else {
        let mut off = BTreeMap::new();
        workbook_off(window_pos, &mut off);
        off
    };
    let (indicator, group_by) = indicator?;
    Some((
        description,
        objective?,
        window,
        window_pos,
        indicator,
        group_by,
        alerting,
    ))
}

fn window(ctx: Ctx, node: &Node, path: &str) -> Option<Duration> {
    let text = scalar(ctx, node, path, "a duration such as `4w`")?;
    let d = match bounded_duration(text) {
        Ok(d) => d,
        Err(e) => {
            ctx.error(node.pos, path, e);
            return None;
        }
    };
    if d.as_millis() % 60_000 != 0 || d < Duration::from_hours(1) {
        ctx.error(
            node.pos,
            path,
            format!("the window `{text}` must be whole minutes and at least 1h"),
        );
        return None;
    }
    Some(d)
}

/// Pyrra's four tiers for `window`, replacing the Workbook ones, with the
/// `severity` labels `alerting.severities` gives them.
fn tiers(
    ctx: Ctx,
    window: Duration,
    pos: Pos,
    path: &str,
    severities: TierSeverities,
) -> Option<BTreeMap<String, TierSpec>> {
    let mut out = BTreeMap::new();
    for (t, label) in pyrra_tiers(window).into_iter().zip(severities) {
        if t.short.is_zero() {
            ctx.error(pos, path, format!("from a {window} window Pyrra derives a {} alert with a 0m short window (its windows are fractions of the SLO window, rounded to the minute), which cannot be evaluated; use a window of at least 3d", t.severity.as_str()));
            return None;
        }
        out.insert(
            tier_name(&t),
            TierSpec {
                pos,
                severity: Some(t.severity),
                long_window: Some(t.long),
                short_window: Some(t.short),
                burn_rate: Some(t.factor),
                for_duration: Some(t.for_duration),
                labels: label
                    .map(|l| BTreeMap::from([("severity".to_string(), l)]))
                    .unwrap_or_default(),
                ..TierSpec::default()
            },
        );
    }
    workbook_off(pos, &mut out);
    Some(out)
}

/// The Workbook tiers switched off, where `out` has no tier of that name.
fn workbook_off(pos: Pos, out: &mut BTreeMap<String, TierSpec>) {
    for w in &WORKBOOK_TIERS {
        out.entry(w.name.to_string()).or_insert(TierSpec {
            pos,
            enabled: Some(false),
            ..TierSpec::default()
        });
    }
}

/// The `severity` label of each burn-rate tier, in [`pyrra_tiers`] order;
/// `None` keeps the default.
type TierSeverities = [Option<String>; 4];

/// Pyrra's `alerting`, whether its burn-rate alerts are on, and the tiers'
/// `severity` labels. The absent alert is on unless `absent: false`
/// (Pyrra's default), whatever the burn-rate alerts do, as in Pyrra.
fn alerting(ctx: Ctx, node: &Node, path: &str) -> (AlertingSpec, bool, TierSeverities) {
    let Some(mut f) = Fields::new(ctx, node, path, &ALERTING_FIELDS) else {
        return (pyrra_defaults(node.pos), true, TierSeverities::default());
    };
    let disabled = f.boolean("disabled");
    let burnrates = f.boolean("burnrates");
    let absent = f.boolean("absent");
    let name = f.string("name");
    let absent_name = f.get("absentName").and_then(|n| {
        let field = f.field("absentName");
        if absent == Some(false) {
            ctx.warn(n.pos, &field, "`absentName` names Pyrra's absent-metric alert, which `absent: false` switches off; it has no effect");
        }
        decode::string(ctx, n, &field).filter(|t| !t.trim().is_empty())
    });
    let pos = f
        .get("absentName")
        .or_else(|| f.get("absent"))
        .map_or(node.pos, |n| n.pos);
    let burn_rates_on = disabled != Some(true) && burnrates != Some(false);
    let (tier_severities, absent_severity) = match f.get("severities") {
        Some(n) => {
            let field = f.field("severities");
            severities(ctx, n, &field, burn_rates_on, absent != Some(false))
        }
        None => Default::default(),
    };
    f.finish();
    let mut spec = pyrra_defaults(pos);
    spec.name = name;
    if absent == Some(false) {
        spec.absent = Some(None);
    } else if let Some(Some(a)) = &mut spec.absent {
        a.name = absent_name;
        if let Some(label) = absent_severity {
            a.labels.insert("severity".into(), label);
        }
    }
    (spec, burn_rates_on, tier_severities)
}

/// `alerting.severities`: the tiers' `severity` labels and the absent
/// alert's. An empty value keeps the default, as in Pyrra; a value for an
/// alert that is switched off is warned about.
fn severities(
    ctx: Ctx,
    node: &Node,
    path: &str,
    burn_rates_on: bool,
    absent_on: bool,
) -> (TierSeverities, Option<String>) {
    let mut tiers = TierSeverities::default();
    let Some(mut f) = Fields::new(ctx, node, path, &SEVERITY_FIELDS) else {
        return (tiers, None);
    };
    let mut label = |key: &str, on: bool, off: &str| {
        let n = f.get(key)?;
        let field = f.field(key);
        let text = decode::string(ctx, n, &field)?;
        if text.trim().is_empty() {
            return None;
        }
        if !on {
            ctx.warn(n.pos, &field, format!("`{key}` sets the `severity` label of an alert that {off} switches off; it has no effect"));
        }
        Some(text)
    };
    for (slot, key) in tiers.iter_mut().zip(SEVERITY_FIELDS) {
        *slot = label(
            key,
            burn_rates_on,
            "`burnrates: false` (or `disabled: true`)",
        );
    }
    let absent = label("absent", absent_on, "`absent: false`");
    f.finish();
    (tiers, absent)
}

/// What Pyrra alerts on when its file says nothing: the burn-rate alerts,
/// and the absent alert (`SLOMetricAbsent`, `severity: critical`, burnrate's
/// `page`). Pyrra waits a `for` derived from the objective before it fires;
/// burnrate waits `--absent-after`, so no `for` is added on top.
fn pyrra_defaults(pos: Pos) -> AlertingSpec {
    AlertingSpec {
        absent: Some(Some(AbsentSpec {
            pos,
            severity: Some(Severity::Page),
            ..AbsentSpec::default()
        })),
        ..AlertingSpec::default()
    }
}

fn indicator(ctx: Ctx, node: &Node, path: &str) -> Option<(Indicator, Vec<String>)> {
    let (kind, body, field) = decode::one_kind(ctx, node, path, &INDICATOR_KINDS, "indicator")?;
    match kind {
        "ratio" => {
            let mut r = Fields::new(ctx, body, &field, &RATIO_FIELDS)?;
            let errors = r
                .require("errors", "`metric`: a selector for the error counter")
                .and_then(|n| query(ctx, n, &r.field("errors")));
            let total = r
                .require("total", "`metric`: a selector for the total counter")
                .and_then(|n| query(ctx, n, &r.field("total")));
            let grouping = grouping(&mut r);
            r.finish();
            Some((
                Indicator::Ratio {
                    counts: Counts::Bad,
                    selector: errors?,
                    total: total?,
                },
                grouping,
            ))
        }
        "latency" => {
            let mut l = Fields::new(ctx, body, &field, &LATENCY_FIELDS)?;
            let success_node = l.require("success", "`metric`: the histogram bucket with `le`");
            let success = success_node.and_then(|n| query(ctx, n, &l.field("success")));
            let total = l
                .require("total", "`metric`: the histogram count")
                .and_then(|n| query(ctx, n, &l.field("total")));
            let grouping = grouping(&mut l);
            l.finish();
            let (success, total) = (success?, total?);
            let pos = success_node.map_or(body.pos, |n| n.pos);
            latency(ctx, success, total, pos, &decode::join(&field, "success"))
                .map(|i| (i, grouping))
        }
        "latencyNative" => {
            let mut l = Fields::new(ctx, body, &field, &NATIVE_LATENCY_FIELDS)?;
            skip(&mut l, &NATIVE_LATENCY_FIELDS);
            l.finish();
            let pos = key_pos(node, "latencyNative").unwrap_or(body.pos);
            ctx.error(pos, &field, "native histograms are not supported: burnrate counts events from counters and classic histogram buckets, and a native histogram has no bucket series to count; use `latency` with the classic histogram's `_bucket{le=\"...\"}` and `_count` series");
            None
        }
        _ => {
            let mut g = Fields::new(ctx, body, &field, &BOOL_GAUGE_FIELDS)?;
            let metric = g
                .require("metric", "a selector for a 0/1 gauge")
                .and_then(|n| native::indicator::selector(ctx, n, &g.field("metric")));
            let grouping = grouping(&mut g);
            g.finish();
            Some((Indicator::BoolGauge { selector: metric? }, grouping))
        }
    }
}

/// A Pyrra `Query`: `{metric: <selector>}`.
fn query(ctx: Ctx, node: &Node, path: &str) -> Option<Selector> {
    let mut f = Fields::new(ctx, node, path, &QUERY_FIELDS)?;
    let selector = f
        .require("metric", "a series selector")
        .and_then(|n| native::indicator::selector(ctx, n, &f.field("metric")));
    f.finish();
    selector
}

fn grouping(f: &mut Fields) -> Vec<String> {
    let ctx = f.ctx();
    let field = f.field("grouping");
    match f.get("grouping") {
        Some(n) => native::label_names(ctx, n, &field),
        None => Vec::new(),
    }
}

/// Pyrra's latency indicator: good events are the `success` bucket, all events
/// the `total` count. When both are one histogram's `_bucket` and `_count`
/// with the same matchers, that is burnrate's `latency`; otherwise the same
/// ratio of good to total counters.
fn latency(
    ctx: Ctx,
    success: Selector,
    total: Selector,
    pos: Pos,
    path: &str,
) -> Option<Indicator> {
    let Some(le) = success
        .matchers
        .iter()
        .find(|m| m.name == "le" && m.kind == MatchKind::Equal)
    else {
        ctx.error(pos, path, "the success metric must select one histogram bucket with an `le=\"...\"` matcher, as Pyrra requires");
        return None;
    };
    let threshold = match le.value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => v,
        _ => {
            ctx.error(
                pos,
                path,
                format!(
                    "`le=\"{}\"` is not a bucket bound greater than zero",
                    le.value
                ),
            );
            return None;
        }
    };
    let without_le: Vec<_> = success
        .matchers
        .iter()
        .filter(|m| m.name != "le")
        .cloned()
        .collect();
    let base = success
        .metric
        .as_deref()
        .and_then(|m| m.strip_suffix("_bucket"));
    let same_histogram = base
        .is_some_and(|b| total.metric.as_deref() == Some(&format!("{b}_count")))
        && without_le.len() == total.matchers.len()
        && without_le.iter().all(|m| total.matchers.contains(m));
    match base {
        Some(base) if same_histogram => {
            let histogram = Selector {
                metric: Some(format!("{base}_bucket")),
                matchers: total.matchers.clone(),
            };
            Some(Indicator::Latency {
                count: histogram.with_metric(&format!("{base}_count")),
                bucket: histogram,
                threshold,
                le: native::indicator::le_text(threshold),
            })
        }
        _ => Some(Indicator::Ratio {
            counts: Counts::Good,
            selector: success,
            total,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyrra_windows_for_four_and_two_weeks() {
        let show = |days| -> Vec<(String, String, String, f64)> {
            pyrra_tiers(Duration::from_days(days))
                .iter()
                .map(|t| {
                    (
                        t.long.to_string(),
                        t.short.to_string(),
                        t.for_duration.to_string(),
                        t.factor,
                    )
                })
                .collect()
        };
        let s =
            |a: &str, b: &str, c: &str, f: f64| (a.to_string(), b.to_string(), c.to_string(), f);
        assert_eq!(
            show(28),
            [
                s("1h", "5m", "2m", 14.0),
                s("6h", "30m", "15m", 7.0),
                s("1d", "2h", "1h", 2.0),
                s("4d", "6h", "3h", 1.0)
            ]
        );
        // 2.5m and 7.5m round up, as Go's Duration.Round does.
        assert_eq!(
            show(14),
            [
                s("30m", "3m", "1m", 14.0),
                s("3h", "15m", "8m", 7.0),
                s("12h", "1h", "30m", 2.0),
                s("2d", "3h", "1h30m", 1.0)
            ]
        );
    }
}
