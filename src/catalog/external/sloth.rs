//! Sloth's `version: prometheus/v1` specification, and the same
//! specification as the `spec` of its Kubernetes `PrometheusServiceLevel`
//! (`apiVersion: sloth.slok.dev/v1`), where fields are spelt in camelCase
//! (`errorQuery`, `pageAlert`) and field paths in messages start at `spec`.
//!
//! Meaning, as Sloth gives it:
//! - `service` and each `slos[].name` make the SLO id; `labels` (document and
//!   SLO) go on every series and alert.
//! - `objective` is a percentage; `sli.events` are bad (`error_query`) and
//!   total events over `{{.window}}`.
//! - A Sloth document has no window: Sloth applies one period to every SLO,
//!   30 days unless run with `--default-slo-period`. The drafts leave the
//!   window unset, so burnrate's default (30d, [`DEFAULT_WINDOW`]) or a
//!   directory `kind: Defaults` document sets it, the way Sloth's flag does.
//! - Alerts: Sloth's default windows catalog for 30 days is the SRE Workbook
//!   table (page: 2% in 1h/5m and 5% in 6h/30m; ticket: 10% in 1d/2h and 10%
//!   in 3d/6h), with factors derived from the period as burnrate does, so the
//!   page alert is burnrate's `page-1h` + `page-6h` tiers and the ticket alert
//!   `ticket-1d` + `ticket-3d`. `disable: true` switches that severity's tiers
//!   off; `alerting.labels`/`annotations` go on every alert and
//!   `page_alert`/`ticket_alert` ones on that severity's tiers; `alerting.name`
//!   is the alert name.
//! - SLO plugin chains (`slo_plugins`/`sloPlugins`, and `plugins` per SLO)
//!   change or check the rules Sloth writes: Sloth's own are warned about as
//!   having no effect, any other is refused by its id.
//!
//! [`DEFAULT_WINDOW`]: crate::catalog::layers::DEFAULT_WINDOW

use std::collections::BTreeMap;

use super::super::alerting::{AlertingSpec, TierSpec, WORKBOOK_TIERS};
use super::super::decode::{self, Ctx, Fields};
use super::super::diagnostic::Pos;
use super::super::layers::{Layer, SloDraft};
use super::super::model::{Counts, Indicator, Severity};
use super::super::native;
use super::super::yaml::{Node, Value};
use super::{K8S_METADATA_FIELDS, key_pos, scalar, skip};
use crate::duration::Duration;

pub const VERSION: &str = "prometheus/v1";
/// The API version of Sloth's Kubernetes objects and alert-window catalogs.
pub const K8S_API_VERSION: &str = "sloth.slok.dev/v1";
/// Sloth's Kubernetes object holding a `prometheus/v1` specification in its `spec`.
pub const K8S_KIND: &str = "PrometheusServiceLevel";

/// How one of Sloth's formats spells its fields: `prometheus/v1` files in
/// snake_case, the Kubernetes CRD's `spec` in camelCase. Both mean the same.
struct Spelling {
    /// The mapping holding `service`, `labels` and `slos`.
    service_fields: &'static [&'static str],
    slo_fields: &'static [&'static str],
    /// `[error_query, total_query]`.
    events_fields: &'static [&'static str; 2],
    raw_field: &'static [&'static str; 1],
    alerting_fields: &'static [&'static str],
    /// `[page_alert, ticket_alert]`.
    alerts: [&'static str; 2],
    /// The service-wide SLO plugin chain.
    slo_plugins: &'static str,
}

impl Spelling {
    /// A message written in `prometheus/v1` words, in this spelling.
    fn words(&self, text: &str) -> String {
        let [error, total] = self.events_fields;
        text.replace("error_ratio_query", self.raw_field[0])
            .replace("error_query", error)
            .replace("total_query", total)
    }
}

const PROMETHEUS_V1: Spelling = Spelling {
    service_fields: &["version", "service", "labels", "slo_plugins", "slos"],
    slo_fields: &[
        "name",
        "description",
        "objective",
        "labels",
        "infoLabels",
        "plugins",
        "sli",
        "alerting",
        "interval",
    ],
    events_fields: &["error_query", "total_query"],
    raw_field: &["error_ratio_query"],
    alerting_fields: &[
        "name",
        "labels",
        "annotations",
        "page_alert",
        "ticket_alert",
    ],
    alerts: ["page_alert", "ticket_alert"],
    slo_plugins: "slo_plugins",
};

/// The `spec` of a `PrometheusServiceLevel` (Sloth's `pkg/kubernetes/api/sloth/v1`).
const CRD: Spelling = Spelling {
    service_fields: &["service", "labels", "sloPlugins", "slos"],
    slo_fields: &[
        "name",
        "description",
        "objective",
        "labels",
        "plugins",
        "sli",
        "alerting",
    ],
    events_fields: &["errorQuery", "totalQuery"],
    raw_field: &["errorRatioQuery"],
    alerting_fields: &["name", "labels", "annotations", "pageAlert", "ticketAlert"],
    alerts: ["pageAlert", "ticketAlert"],
    slo_plugins: "sloPlugins",
};

const SLI_KINDS: [&str; 3] = ["events", "raw", "plugin"];
const PLUGIN_FIELDS: [&str; 2] = ["id", "options"];
const ALERT_FIELDS: [&str; 3] = ["disable", "labels", "annotations"];
const INTERVAL_FIELDS: [&str; 4] = ["all", "slierror", "metadata", "alert"];
const PLUGIN_CHAIN_FIELDS: [&str; 2] = ["overridePrevious", "chain"];
const CHAIN_ITEM_FIELDS: [&str; 3] = ["id", "priority", "config"];
const CRD_FIELDS: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];

/// Decodes one `prometheus/v1` document: the document's labels as a layer, and its SLOs.
pub fn decode_document(ctx: Ctx, doc: &Node) -> Option<(Layer, Vec<SloDraft>)> {
    decode_service(ctx, doc, "", &PROMETHEUS_V1)
}

/// Decodes a Kubernetes `PrometheusServiceLevel`: its `spec` is a
/// `prometheus/v1` document in camelCase; its `metadata` (the object's name
/// and namespace) says nothing about the SLOs, as in Sloth, whose rules take
/// the service and SLO names from the `spec`.
pub fn decode_crd(ctx: Ctx, doc: &Node) -> Option<(Layer, Vec<SloDraft>)> {
    let mut f = Fields::new(ctx, doc, "", &CRD_FIELDS)?;
    skip(&mut f, &["apiVersion", "kind", "status"]);
    if let Some(meta) = f.get("metadata")
        && let Some(mut m) = Fields::new(ctx, meta, "metadata", &K8S_METADATA_FIELDS)
    {
        skip(&mut m, &K8S_METADATA_FIELDS);
        m.finish();
    }
    let decoded = f
        .require("spec", "`service` and `slos`")
        .and_then(|n| decode_service(ctx, n, "spec", &CRD));
    f.finish();
    decoded
}

fn decode_service(
    ctx: Ctx,
    doc: &Node,
    path: &str,
    spelling: &Spelling,
) -> Option<(Layer, Vec<SloDraft>)> {
    let mut f = Fields::new(ctx, doc, path, spelling.service_fields)?;
    if spelling.service_fields.contains(&"version") {
        f.get("version");
    }
    let service = f
        .require("service", "the service these SLOs belong to")
        .and_then(|n| native::name(ctx, n, &f.field("service")));
    let layer = Layer {
        labels: f.labels("labels"),
        ..Layer::default()
    };
    if let Some(n) = f.get(spelling.slo_plugins) {
        let pos = key_pos(doc, spelling.slo_plugins).unwrap_or(n.pos);
        slo_plugins(ctx, n, &f.field(spelling.slo_plugins), pos);
    }
    let mut slos = Vec::new();
    let slos_field = f.field("slos");
    match f.require("slos", "a list of SLOs") {
        Some(Node {
            value: Value::Seq(items),
            pos,
        }) => {
            if items.is_empty() {
                ctx.error(
                    *pos,
                    &slos_field,
                    "at least one SLO is required (as in Sloth)",
                );
            }
            for (i, item) in items.iter().enumerate() {
                let path = format!("{slos_field}[{i}]");
                if let Some(draft) = decode_slo(ctx, item, &path, service.as_deref(), spelling) {
                    slos.push(draft);
                }
            }
        }
        Some(other) => ctx.expected(other, &slos_field, "a list of SLOs"),
        None => {}
    }
    f.finish();
    Some((layer, slos))
}

fn decode_slo(
    ctx: Ctx,
    node: &Node,
    path: &str,
    service: Option<&str>,
    spelling: &Spelling,
) -> Option<SloDraft> {
    let slo_name = node.get("name").and_then(Node::scalar_text).unwrap_or("?");
    let id = format!("{}/{slo_name}", service.unwrap_or("?"));
    let ctx = ctx.for_slo(&id);
    let errors_before = ctx.error_count();
    let mut f = Fields::new(ctx, node, path, spelling.slo_fields)?;
    let name = f
        .require("name", "the SLO's name, unique within its service")
        .and_then(|n| native::name(ctx, n, &f.field("name")));
    let description = f.string("description");
    let objective = f
        .require("objective", "the target percentage, e.g. `99.9`")
        .and_then(|n| native::objective(ctx, n, &f.field("objective")));
    let labels = f.labels("labels");
    let sloth_only = spelling.slo_fields.contains(&"interval");
    if sloth_only && let Some(n) = f.get("infoLabels") {
        decode::label_map(ctx, n, &f.field("infoLabels"), true);
        ctx.warn(
            key_pos(node, "infoLabels").unwrap_or(n.pos),
            &f.field("infoLabels"),
            "Sloth puts `infoLabels` only on its `sloth_slo_info` series; burnrate publishes no such series, so they are not used",
        );
    }
    if sloth_only && let Some(n) = f.get("interval") {
        if let Some(mut i) = Fields::new(ctx, n, &f.field("interval"), &INTERVAL_FIELDS) {
            skip(&mut i, &INTERVAL_FIELDS);
            i.finish();
        }
        ctx.warn(
            key_pos(node, "interval").unwrap_or(n.pos),
            &f.field("interval"),
            "`interval` sets how often Prometheus evaluates the rule groups Sloth generates; burnrate evaluates SLOs itself, so it has no effect here",
        );
    }
    if let Some(n) = f.get("plugins") {
        slo_plugins(
            ctx,
            n,
            &f.field("plugins"),
            key_pos(node, "plugins").unwrap_or(n.pos),
        );
    }
    let indicator = f
        .require("sli", "one of `events`, `raw`, `plugin`")
        .and_then(|n| sli(ctx, n, &f.field("sli"), spelling));
    let alerting = f
        .get("alerting")
        .map(|n| alerting(ctx, n, &f.field("alerting"), spelling))
        .unwrap_or_default();
    f.finish();
    if ctx.error_count() > errors_before {
        return None;
    }
    Some(SloDraft {
        pos: node.pos,
        service: service?.to_string(),
        name: name?,
        description,
        objective: Some(objective?),
        indicator: Some(indicator?),
        group_by: Vec::new(),
        own: Layer {
            labels,
            alerting,
            ..Layer::default()
        },
    })
}

fn sli(ctx: Ctx, node: &Node, path: &str, spelling: &Spelling) -> Option<Indicator> {
    let (kind, body, field) = decode::one_kind(ctx, node, path, &SLI_KINDS, "SLI kind")?;
    match kind {
        "events" => {
            let [error, total] = spelling.events_fields;
            let mut e = Fields::new(ctx, body, &field, spelling.events_fields)?;
            let bad = e
                .require(error, "a query counting bad events over `{{.window}}`")
                .and_then(|n| native::indicator::events_query(ctx, n, &e.field(error)));
            let total = e
                .require(total, "a query counting all events over `{{.window}}`")
                .and_then(|n| native::indicator::events_query(ctx, n, &e.field(total)));
            e.finish();
            Some(Indicator::Events {
                counts: Counts::Bad,
                query: bad?,
                total: total?,
            })
        }
        "raw" => {
            let [ratio] = spelling.raw_field;
            let mut r = Fields::new(ctx, body, &field, spelling.raw_field)?;
            let pos = key_pos(body, ratio);
            let query = r
                .require(
                    ratio,
                    "a query returning the error ratio over `{{.window}}`",
                )
                .and_then(|n| {
                    let at = pos.unwrap_or(n.pos);
                    native::indicator::error_ratio_query(ctx, n, &r.field(ratio), at)
                });
            r.finish();
            Some(Indicator::ErrorRatio { query: query? })
        }
        _ => {
            let mut p = Fields::new(ctx, body, &field, &PLUGIN_FIELDS)?;
            let id = p.string("id").unwrap_or_else(|| "?".into());
            p.get("options");
            p.finish();
            ctx.error(
                key_pos(node, "plugin").unwrap_or(body.pos),
                &field,
                spelling.words(&format!(
                    "Sloth SLI plugins are Go code Sloth runs while generating rules; burnrate cannot run plugin `{id}`. Write the queries it generates as `sli.events` (`error_query` and `total_query` counting events over `{{{{.window}}}}`)"
                )),
            );
            None
        }
    }
}

/// A chain of Sloth SLO plugins: Go code that generates, changes or checks
/// the Prometheus rules Sloth writes. Sloth's own (`sloth.dev/core/...`) and
/// validation plugins do what burnrate does anyway, or nothing it uses, so
/// they are warned about; any other plugin is refused by name, since what it
/// changes would be lost.
fn slo_plugins(ctx: Ctx, node: &Node, path: &str, pos: Pos) {
    let Some(mut f) = Fields::new(ctx, node, path, &PLUGIN_CHAIN_FIELDS) else {
        return;
    };
    f.boolean("overridePrevious");
    let chain_field = f.field("chain");
    let mut ids = Vec::new();
    match f.get("chain") {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("{chain_field}[{i}]");
                let Some(mut p) = Fields::new(ctx, item, &path, &CHAIN_ITEM_FIELDS) else {
                    continue;
                };
                let id = p.require("id", "the plugin's id").and_then(|n| {
                    let id = decode::string(ctx, n, &p.field("id"))?;
                    Some((id, n.pos))
                });
                skip(&mut p, &["priority", "config"]);
                p.finish();
                let Some((id, id_pos)) = id else { continue };
                if id.starts_with("sloth.dev/core/") || id.contains("/validate_") {
                    ids.push(id);
                } else {
                    ctx.error(
                        id_pos,
                        &format!("{path}.id"),
                        format!("Sloth SLO plugins are Go code that changes the Prometheus rules Sloth generates; burnrate evaluates SLOs without those rules and cannot run plugin `{id}`, so what it changes would be lost. Write its effect into the SLO itself (for instance its queries), then remove it"),
                    );
                }
            }
        }
        Some(other) => ctx.expected(other, &chain_field, "a list of plugins"),
        None => {}
    }
    f.finish();
    if !ids.is_empty() {
        ids.dedup();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        ctx.warn(
            pos,
            path,
            format!(
                "Sloth's own SLO plugins ({}) generate or check the Prometheus rules Sloth writes; burnrate evaluates SLOs itself, so they have no effect here",
                decode::quote_list(&ids)
            ),
        );
    }
}

/// Why `raw.error_ratio_query` (and OpenSLO's `raw` ratios) cannot be read.
pub const RAW_REJECTION: &str = "a precomputed error ratio cannot be weighted by traffic: burnrate sums bad and total events over the SLO window, and ratios cannot be summed (Sloth averages its 5-minute ratios, which is biased whenever traffic is uneven). Write the SLI as `sli.events` with an `error_query` and a `total_query` that count events over `{{.window}}`, e.g. `sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))` and `sum(rate(http_requests_total[{{.window}}]))`";

fn alerting(ctx: Ctx, node: &Node, path: &str, spelling: &Spelling) -> AlertingSpec {
    let Some(mut f) = Fields::new(ctx, node, path, spelling.alerting_fields) else {
        return AlertingSpec::default();
    };
    let mut spec = AlertingSpec {
        name: f.string("name"),
        labels: f.labels("labels"),
        annotations: f
            .get("annotations")
            .map(|n| decode::label_map(ctx, n, &f.field("annotations"), false))
            .unwrap_or_default(),
        ..AlertingSpec::default()
    };
    let [page, ticket] = spelling.alerts;
    for (key, severity) in [(page, Severity::Page), (ticket, Severity::Ticket)] {
        let Some(n) = f.get(key) else { continue };
        let field = f.field(key);
        let Some(mut a) = Fields::new(ctx, n, &field, &ALERT_FIELDS) else {
            continue;
        };
        let disable = a.boolean("disable");
        let labels = a.labels("labels");
        let annotations = a
            .get("annotations")
            .map(|n| decode::label_map(ctx, n, &a.field("annotations"), false))
            .unwrap_or_default();
        a.finish();
        for tier in WORKBOOK_TIERS.iter().filter(|t| t.severity == severity) {
            spec.tiers.insert(
                tier.name.to_string(),
                TierSpec {
                    pos: n.pos,
                    enabled: (disable == Some(true)).then_some(false),
                    labels: labels.clone(),
                    annotations: annotations.clone(),
                    ..TierSpec::default()
                },
            );
        }
    }
    f.finish();
    spec
}

const WINDOWS_DOC_FIELDS: [&str; 4] = ["apiVersion", "kind", "metadata", "spec"];
const WINDOWS_SPEC_FIELDS: [&str; 3] = ["sloPeriod", "page", "ticket"];
const WINDOWS_SPEED_FIELDS: [&str; 2] = ["quick", "slow"];
const WINDOW_FIELDS: [&str; 3] = ["errorBudgetPercent", "shortWindow", "longWindow"];

/// A Sloth alert-window catalog (`kind: AlertWindows`) is rejected: Sloth
/// applies it only when run with `--default-slo-period` set to its period, a
/// command-line choice no file states, so honouring it would change SLOs
/// Sloth itself would leave alone. The message gives the native `Defaults`
/// document that has the same effect.
pub fn reject_alert_windows(ctx: Ctx, doc: &Node) {
    let Some(mut f) = Fields::new(ctx, doc, "", &WINDOWS_DOC_FIELDS) else {
        return;
    };
    skip(&mut f, &["apiVersion", "kind", "metadata"]);
    let errors_before = ctx.error_count();
    let catalog = f
        .require("spec", "the alert windows")
        .and_then(|n| windows_spec(ctx, n, "spec"));
    f.finish();
    let pos = doc.get("kind").map_or(doc.pos, |n| n.pos);
    let base = "a Sloth alert-window catalog (`kind: AlertWindows`) is not an SLO specification: Sloth uses it only when run with `--slo-period-windows-path` and `--default-slo-period` set to its period, a command-line choice burnrate cannot read from a file";
    match catalog {
        Some((period, tiers)) if ctx.error_count() == errors_before => {
            let mut rendered: Vec<String> = tiers.values().cloned().collect();
            for w in &WORKBOOK_TIERS {
                if !tiers.contains_key(w.name) {
                    rendered.push(format!("{}: {{enabled: false}}", w.name));
                }
            }
            ctx.error(
                pos,
                "kind",
                format!(
                    "{base}. For the same alerts, put a `version: burnrate/v1`, `kind: Defaults` document next to the SLOs it should govern, with `window: {period}` and `alerting: {{tiers: {{{}}}}}`",
                    rendered.join(", ")
                ),
            );
        }
        _ => ctx.error(
            pos,
            "kind",
            format!(
                "{base}; write the period and alert tiers in a `version: burnrate/v1`, `kind: Defaults` document instead"
            ),
        ),
    }
}

/// The catalog's period and its four windows as native tier settings, by tier name.
fn windows_spec(ctx: Ctx, node: &Node, path: &str) -> Option<(Duration, BTreeMap<String, String>)> {
    let mut f = Fields::new(ctx, node, path, &WINDOWS_SPEC_FIELDS)?;
    let period = f
        .require("sloPeriod", "the SLO period, e.g. `30d`")
        .and_then(|n| decode::duration(ctx, n, &f.field("sloPeriod")));
    let mut tiers = BTreeMap::new();
    for (key, severity) in [("page", Severity::Page), ("ticket", Severity::Ticket)] {
        let Some(n) = f.require(key, "the `quick` and `slow` windows") else {
            continue;
        };
        let field = f.field(key);
        let Some(mut s) = Fields::new(ctx, n, &field, &WINDOWS_SPEED_FIELDS) else {
            continue;
        };
        for speed in WINDOWS_SPEED_FIELDS {
            let Some(w) = s.require(speed, "a window") else {
                continue;
            };
            let field = s.field(speed);
            let Some(mut wf) = Fields::new(ctx, w, &field, &WINDOW_FIELDS) else {
                continue;
            };
            let budget = wf
                .require("errorBudgetPercent", "the share of the budget, in percent")
                .and_then(|n| {
                    let text = scalar(ctx, n, &wf.field("errorBudgetPercent"), "a percentage")?;
                    match text.parse::<f64>() {
                        Ok(v) if v > 0.0 && v <= 100.0 => Some(text.trim().to_string()),
                        _ => {
                            ctx.expected(
                                n,
                                &wf.field("errorBudgetPercent"),
                                "a percentage above 0 and at most 100",
                            );
                            None
                        }
                    }
                });
            let short = wf
                .require("shortWindow", "a duration")
                .and_then(|n| decode::duration(ctx, n, &wf.field("shortWindow")));
            let long = wf
                .require("longWindow", "a duration")
                .and_then(|n| decode::duration(ctx, n, &wf.field("longWindow")));
            wf.finish();
            if let (Some(budget), Some(short), Some(long)) = (budget, short, long) {
                let name = format!("{}-{long}", severity.as_str());
                let rendered = format!(
                    "{name}: {{severity: {}, long_window: {long}, short_window: {short}, budget_consumed: {budget}%}}",
                    severity.as_str()
                );
                tiers.insert(name, rendered);
            }
        }
        s.finish();
    }
    f.finish();
    Some((period?, tiers))
}
