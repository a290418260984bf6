//! burnrate's own catalog format, `version: burnrate/v1`.

pub mod budgeting;
mod corrections;
pub mod indicator;

use chrono_tz::Tz;

use super::alerting::{AbsentSpec, AlertingSpec, ExhaustionSpec, GateSpec, TierSpec};
use super::decode::{self, Ctx, Fields};
use super::diagnostic::Pos;
use super::layers::{Layer, SloDraft, is_valid_name};
use super::model::{NoDataDecision, Severity};
use super::objective::{Objective, ObjectiveError};
use super::window::{CalendarPeriod, MAX_DURATION, SloWindow, too_long};
use super::yaml::{Node, Value};
use crate::duration::{Duration, DurationError};

pub const VERSION: &str = "burnrate/v1";

/// A decoded native document.
pub enum NativeDoc {
    /// `kind: Defaults`: settings for every SLO in its directory and below.
    Defaults(Layer),
    /// `kind: Service` (the default): a service's SLOs, with the document's shared settings.
    Service { layer: Layer, slos: Vec<SloDraft> },
}

const DOC_FIELDS: [&str; 7] = [
    "version",
    "kind",
    "service",
    "labels",
    "defaults",
    "corrections",
    "slos",
];
const DEFAULTS_DOC_FIELDS: [&str; 8] = [
    "version",
    "kind",
    "labels",
    "window",
    "alerting",
    "gate",
    "budgeting",
    "corrections",
];
const LAYER_FIELDS: [&str; 6] = [
    "labels",
    "window",
    "alerting",
    "gate",
    "budgeting",
    "corrections",
];
const SLO_FIELDS: [&str; 12] = [
    "name",
    "description",
    "objective",
    "window",
    "labels",
    "indicator",
    "group_by",
    "alerting",
    "gate",
    "service",
    "budgeting",
    "corrections",
];

pub fn decode_document(ctx: Ctx, doc: &Node) -> Option<NativeDoc> {
    let kind = doc
        .get("kind")
        .and_then(Node::scalar_text)
        .unwrap_or("Service");
    match kind {
        "Defaults" => {
            let mut f = Fields::new(ctx, doc, "", &DEFAULTS_DOC_FIELDS)?;
            f.get("version");
            f.get("kind");
            let layer = decode_layer_fields(&mut f);
            f.finish();
            Some(NativeDoc::Defaults(layer))
        }
        "Service" => {
            let mut f = Fields::new(ctx, doc, "", &DOC_FIELDS)?;
            f.get("version");
            f.get("kind");
            let service = f
                .require("service", "the service these SLOs belong to")
                .and_then(|n| name(ctx, n, "service"));
            let mut layer = Layer {
                labels: f.labels("labels"),
                corrections: f
                    .get("corrections")
                    .map(|n| corrections::corrections(ctx, n, "corrections"))
                    .unwrap_or_default(),
                ..Layer::default()
            };
            if let Some(node) = f.get("defaults")
                && let Some(mut d) = Fields::new(ctx, node, "defaults", &LAYER_FIELDS)
            {
                layer.merge(&decode_layer_fields(&mut d));
                d.finish();
            }
            let mut slos = Vec::new();
            match f.require("slos", "a list of SLOs") {
                Some(Node {
                    value: Value::Seq(items),
                    ..
                }) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(draft) =
                            decode_slo(ctx, item, &format!("slos[{i}]"), service.as_deref())
                        {
                            slos.push(draft);
                        }
                    }
                }
                Some(other) => ctx.expected(other, "slos", "a list of SLOs"),
                None => {}
            }
            f.finish();
            Some(NativeDoc::Service { layer, slos })
        }
        other => {
            let pos = doc.get("kind").map_or(doc.pos, |n| n.pos);
            ctx.error(
                pos,
                "kind",
                format!("unknown kind `{other}`: expected `Service` or `Defaults`"),
            );
            None
        }
    }
}

fn decode_layer_fields(f: &mut Fields) -> Layer {
    let ctx = f.ctx();
    Layer {
        labels: f.labels("labels"),
        window: f
            .get("window")
            .and_then(|n| window(ctx, n, &f.field("window")))
            .map(|w| (w, f.get("window").map_or(f.pos(), |n| n.pos))),
        alerting: f
            .get("alerting")
            .map(|n| alerting(ctx, n, &f.field("alerting")))
            .unwrap_or_default(),
        gate: f
            .get("gate")
            .map(|n| gate(ctx, n, &f.field("gate")))
            .unwrap_or_default(),
        budgeting: f
            .get("budgeting")
            .and_then(|n| budgeting::budgeting(ctx, n, &f.field("budgeting"))),
        corrections: f
            .get("corrections")
            .map(|n| corrections::corrections(ctx, n, &f.field("corrections")))
            .unwrap_or_default(),
    }
}

pub(crate) fn name(ctx: Ctx, node: &Node, field: &str) -> Option<String> {
    let text = decode::string(ctx, node, field)?;
    if is_valid_name(&text) {
        Some(text)
    } else {
        ctx.error(node.pos, field, format!("`{text}` is not a valid name: use letters, digits, `_`, `-` and `.`, starting with a letter or digit"));
        None
    }
}

fn decode_slo(ctx: Ctx, node: &Node, path: &str, service: Option<&str>) -> Option<SloDraft> {
    let slo_name = node.get("name").and_then(Node::scalar_text).unwrap_or("?");
    let own_service = node.get("service").and_then(Node::scalar_text).or(service);
    let id = format!("{}/{slo_name}", own_service.unwrap_or("?"));
    let ctx = ctx.for_slo(&id);
    let errors_before = ctx.error_count();
    let mut f = Fields::new(ctx, node, path, &SLO_FIELDS)?;
    let name = f
        .require("name", "the SLO's name, unique within its service")
        .and_then(|n| name(ctx, n, &f.field("name")));
    let service = match f.get("service") {
        Some(n) => self::name(ctx, n, &f.field("service")),
        None => service.map(str::to_string),
    };
    let description = f.string("description");
    let objective = f
        .require("objective", "the target percentage, e.g. `99.9`")
        .and_then(|n| objective(ctx, n, &f.field("objective")));
    let indicator = f
        .require(
            "indicator",
            "one of `ratio`, `latency`, `bool_gauge`, `events`",
        )
        .and_then(|n| indicator::indicator(ctx, n, &f.field("indicator")));
    let group_by = match f.get("group_by") {
        Some(n) => label_names(ctx, n, &f.field("group_by")),
        None => Vec::new(),
    };
    let own = decode_layer_fields(&mut f);
    f.finish();
    // A draft with errors is still checked as a whole, but never becomes an SLO.
    let broken = ctx.error_count() > errors_before;
    Some(SloDraft {
        pos: node.pos,
        service: service?,
        name: name?,
        description,
        objective: objective.filter(|_| !broken),
        indicator,
        group_by,
        own,
    })
}

pub(crate) fn label_names(ctx: Ctx, node: &Node, path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (label, pos) in decode::string_list(ctx, node, path) {
        if !decode::is_valid_label_name(&label) {
            ctx.error(pos, path, format!("`{label}` is not a valid label name"));
        } else if out.contains(&label) {
            ctx.error(pos, path, format!("label `{label}` is listed twice"));
        } else {
            out.push(label);
        }
    }
    out
}

pub fn objective(ctx: Ctx, node: &Node, path: &str) -> Option<Objective> {
    let text = decode::string(ctx, node, path)?;
    match Objective::parse_percent(&text) {
        Ok(o) => Some(o),
        Err(e) => {
            ctx.error(node.pos, path, e.to_string());
            None
        }
    }
}

/// A target written as a ratio (`0.999`), as OpenSLO does; `hint` follows the out-of-range message.
pub fn ratio_objective(ctx: Ctx, node: &Node, path: &str, hint: &str) -> Option<Objective> {
    let text = decode::string(ctx, node, path)?;
    match Objective::parse_ratio(&text) {
        Ok(o) => Some(o),
        Err(ObjectiveError::OutOfRange(_)) => {
            ctx.error(
                node.pos,
                path,
                format!(
                    "the target must be a ratio strictly between 0 and 1, found `{text}`{hint}"
                ),
            );
            None
        }
        Err(ObjectiveError::NotANumber(_)) => {
            ctx.expected(node, path, "a ratio such as `0.999`");
            None
        }
        Err(e) => {
            ctx.error(node.pos, path, e.to_string());
            None
        }
    }
}

const WINDOW_FIELDS: [&str; 2] = ["calendar", "time_zone"];

/// `30d`, `4w`, `month`, or `{calendar: month, time_zone: Europe/Berlin}`.
pub fn window(ctx: Ctx, node: &Node, path: &str) -> Option<SloWindow> {
    let expected =
        "a rolling window such as `30d` or `4w`, or a calendar period `week`, `month` or `quarter`";
    match &node.value {
        Value::Scalar(s) => {
            if let Some(period) = CalendarPeriod::parse(&s.text) {
                return Some(SloWindow::Calendar {
                    period,
                    time_zone: Tz::UTC,
                });
            }
            match Duration::parse(&s.text) {
                Ok(d) if d > MAX_DURATION => {
                    ctx.error(node.pos, path, too_long(&s.text));
                    None
                }
                Ok(d) if d < Duration::from_hours(1) => {
                    ctx.error(
                        node.pos,
                        path,
                        format!(
                            "the window `{}` is too short: an SLO window must be at least 1h",
                            s.text
                        ),
                    );
                    None
                }
                Ok(d) if d.as_millis() % 60_000 != 0 => {
                    ctx.error(
                        node.pos,
                        path,
                        format!("the window `{}` must be a whole number of minutes", s.text),
                    );
                    None
                }
                Ok(d) => Some(SloWindow::Rolling(d)),
                Err(DurationError::Overflow(_)) => {
                    ctx.error(node.pos, path, too_long(&s.text));
                    None
                }
                Err(_) => {
                    ctx.expected(node, path, expected);
                    None
                }
            }
        }
        Value::Map(_) => {
            let mut f = Fields::new(ctx, node, path, &WINDOW_FIELDS)?;
            let period = f
                .require("calendar", "`week`, `month` or `quarter`")
                .and_then(|n| {
                    let text = decode::string(ctx, n, &f.field("calendar"))?;
                    let period = CalendarPeriod::parse(&text);
                    if period.is_none() {
                        ctx.expected(n, &f.field("calendar"), "`week`, `month` or `quarter`");
                    }
                    period
                });
            let time_zone = match f.get("time_zone") {
                Some(n) => {
                    let text = decode::string(ctx, n, &f.field("time_zone"))?;
                    match text.parse::<Tz>() {
                        Ok(tz) => Some(tz),
                        Err(_) => {
                            ctx.error(n.pos, &f.field("time_zone"), format!("unknown time zone `{text}`: expected an IANA name such as `Europe/Berlin` or `UTC`"));
                            None
                        }
                    }
                }
                None => Some(Tz::UTC),
            };
            f.finish();
            Some(SloWindow::Calendar {
                period: period?,
                time_zone: time_zone?,
            })
        }
        _ => {
            ctx.expected(node, path, expected);
            None
        }
    }
}

const ALERTING_FIELDS: [&str; 9] = [
    "enabled",
    "min_events",
    "for",
    "tiers",
    "budget_exhausted",
    "absent",
    "labels",
    "annotations",
    "name",
];
const TIER_FIELDS: [&str; 10] = [
    "enabled",
    "labels",
    "annotations",
    "severity",
    "long_window",
    "short_window",
    "budget_consumed",
    "burn_rate",
    "min_events",
    "for",
];
const EXHAUSTION_FIELDS: [&str; 2] = ["threshold", "severity"];
const ABSENT_FIELDS: [&str; 4] = ["for", "severity", "name", "labels"];

fn alerting(ctx: Ctx, node: &Node, path: &str) -> AlertingSpec {
    let Some(mut f) = Fields::new(ctx, node, path, &ALERTING_FIELDS) else {
        return AlertingSpec::default();
    };
    let mut spec = AlertingSpec {
        name: f.string("name"),
        enabled: f.boolean("enabled"),
        min_events: f
            .get("min_events")
            .and_then(|n| decode::unsigned(ctx, n, &f.field("min_events"))),
        for_duration: f.duration("for").map(|(d, _)| d),
        labels: f.labels("labels"),
        annotations: f
            .get("annotations")
            .map(|n| decode::label_map(ctx, n, &f.field("annotations"), false))
            .unwrap_or_default(),
        ..AlertingSpec::default()
    };
    if let Some(tiers) = f.get("tiers") {
        match &tiers.value {
            Value::Map(entries) => {
                for entry in entries {
                    let field = decode::join(&f.field("tiers"), &entry.key);
                    if !is_valid_name(&entry.key) {
                        ctx.error(entry.key_pos, &field, format!("`{}` is not a valid tier name", entry.key));
                        continue;
                    }
                    if let Some(t) = tier(ctx, &entry.value, &field, entry.key_pos) {
                        spec.tiers.insert(entry.key.clone(), t);
                    }
                }
            }
            _ => ctx.expected(tiers, &f.field("tiers"), "a mapping of tier names (`page-1h`, `page-6h`, `ticket-1d`, `ticket-3d`, or new ones) to tier settings"),
        }
    }
    if let Some(n) = f.get("budget_exhausted") {
        let field = f.field("budget_exhausted");
        spec.budget_exhausted = match &n.value {
            Value::Scalar(_) => {
                decode::boolean(ctx, n, &field).map(|on| on.then(ExhaustionSpec::default))
            }
            _ => Fields::new(ctx, n, &field, &EXHAUSTION_FIELDS).map(|mut e| {
                let out = ExhaustionSpec {
                    threshold: e
                        .get("threshold")
                        .and_then(|t| percent(ctx, t, &e.field("threshold"), true)),
                    severity: e
                        .get("severity")
                        .and_then(|s| severity(ctx, s, &e.field("severity"))),
                };
                e.finish();
                Some(out)
            }),
        };
    }
    if let Some(n) = f.get("absent") {
        spec.absent = absent(ctx, n, &f.field("absent"));
    }
    f.finish();
    spec
}

/// `absent: true|false`, or `absent: {for: 10m, severity: page, name: ..., labels: {...}}`.
fn absent(ctx: Ctx, node: &Node, path: &str) -> Option<Option<AbsentSpec>> {
    if let Value::Scalar(_) = &node.value {
        let pos = node.pos;
        return decode::boolean(ctx, node, path).map(|on| {
            on.then(|| AbsentSpec {
                pos,
                ..AbsentSpec::default()
            })
        });
    }
    let mut f = Fields::new(ctx, node, path, &ABSENT_FIELDS)?;
    let out = AbsentSpec {
        pos: f.get("name").map_or(node.pos, |n| n.pos),
        name: f.get("name").and_then(|n| {
            let name = decode::string(ctx, n, &f.field("name"))?;
            if name.trim().is_empty() {
                ctx.expected(
                    n,
                    &f.field("name"),
                    "an alert name such as `SLOMetricAbsent`",
                );
                return None;
            }
            Some(name)
        }),
        severity: f
            .get("severity")
            .and_then(|n| severity(ctx, n, &f.field("severity"))),
        for_duration: f.duration("for").map(|(d, _)| d),
        labels: f.labels("labels"),
    };
    f.finish();
    Some(Some(out))
}

fn tier(ctx: Ctx, node: &Node, path: &str, key_pos: Pos) -> Option<TierSpec> {
    let mut f = Fields::new(ctx, node, path, &TIER_FIELDS)?;
    let spec = TierSpec {
        pos: key_pos,
        enabled: f.boolean("enabled"),
        severity: f
            .get("severity")
            .and_then(|n| severity(ctx, n, &f.field("severity"))),
        long_window: f
            .get("long_window")
            .and_then(|n| alert_window(ctx, n, &f.field("long_window"))),
        short_window: f
            .get("short_window")
            .and_then(|n| alert_window(ctx, n, &f.field("short_window"))),
        budget_consumed: f
            .get("budget_consumed")
            .and_then(|n| percent(ctx, n, &f.field("budget_consumed"), false)),
        burn_rate: f.get("burn_rate").and_then(|n| {
            let rate = decode::number(
                ctx,
                n,
                &f.field("burn_rate"),
                "a burn-rate factor such as `14.4`",
            )?;
            if rate <= 0.0 {
                ctx.error(
                    n.pos,
                    &f.field("burn_rate"),
                    format!("the burn rate must be greater than zero, found `{rate}`"),
                );
                return None;
            }
            Some(rate)
        }),
        min_events: f
            .get("min_events")
            .and_then(|n| decode::unsigned(ctx, n, &f.field("min_events"))),
        for_duration: f.duration("for").map(|(d, _)| d),
        labels: f.labels("labels"),
        annotations: f
            .get("annotations")
            .map(|n| decode::label_map(ctx, n, &f.field("annotations"), false))
            .unwrap_or_default(),
    };
    if spec.burn_rate.is_some() && spec.budget_consumed.is_some() {
        ctx.error(
            key_pos,
            path,
            "give either `burn_rate` or `budget_consumed`, not both",
        );
    }
    f.finish();
    Some(spec)
}

fn alert_window(ctx: Ctx, node: &Node, path: &str) -> Option<Duration> {
    let d = decode::duration(ctx, node, path)?;
    if d.is_zero() || d.as_millis() % 60_000 != 0 {
        ctx.error(
            node.pos,
            path,
            format!("alert windows must be whole minutes of at least 1m, found `{d}`"),
        );
        return None;
    }
    Some(d)
}

fn severity(ctx: Ctx, node: &Node, path: &str) -> Option<Severity> {
    let text = decode::string(ctx, node, path)?;
    let s = Severity::parse(&text);
    if s.is_none() {
        ctx.expected(node, path, "`page` or `ticket`");
    }
    s
}

/// A share written in percent (`10`, `10%`, `2.5%`), returned as a ratio (0.1).
fn percent(ctx: Ctx, node: &Node, path: &str, allow_negative: bool) -> Option<f64> {
    let text = decode::string(ctx, node, path)?;
    let value = text
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite());
    match value {
        Some(v) if v > 100.0 || (!allow_negative && v <= 0.0) => {
            let range = if allow_negative {
                "of at most 100%"
            } else {
                "above 0% and at most 100%"
            };
            ctx.error(
                node.pos,
                path,
                format!("expected a percentage {range}, found `{text}`"),
            );
            None
        }
        Some(v) => Some(v / 100.0),
        None => {
            ctx.expected(node, path, "a percentage such as `10%`");
            None
        }
    }
}

const GATE_FIELDS: [&str; 3] = ["min_budget_remaining", "deny_when_firing", "on_no_data"];

fn gate(ctx: Ctx, node: &Node, path: &str) -> GateSpec {
    let Some(mut f) = Fields::new(ctx, node, path, &GATE_FIELDS) else {
        return GateSpec::default();
    };
    let spec = GateSpec {
        min_budget_remaining: f
            .get("min_budget_remaining")
            .and_then(|n| percent(ctx, n, &f.field("min_budget_remaining"), true)),
        deny_when_firing: f.get("deny_when_firing").map(|n| {
            let field = f.field("deny_when_firing");
            decode::string_list(ctx, n, &field)
                .into_iter()
                .filter_map(|(text, pos)| {
                    let s = Severity::parse(&text);
                    if s.is_none() {
                        ctx.error(
                            pos,
                            &field,
                            format!("expected `page` or `ticket`, found `{text}`"),
                        );
                    }
                    s
                })
                .collect()
        }),
        on_no_data: f.get("on_no_data").and_then(|n| {
            let text = decode::string(ctx, n, &f.field("on_no_data"))?;
            let decision = match text.as_str() {
                "allow" => Some(NoDataDecision::Allow),
                "deny" => Some(NoDataDecision::Deny),
                "undecided" => Some(NoDataDecision::Undecided),
                _ => None,
            };
            if decision.is_none() {
                ctx.expected(n, &f.field("on_no_data"), "`allow`, `deny` or `undecided`");
            }
            decision
        }),
    };
    f.finish();
    spec
}
