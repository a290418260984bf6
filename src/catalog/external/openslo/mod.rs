//! OpenSLO: `openslo/v1` objects, and the `openslo/v1alpha` SLOs Sloth reads.
//!
//! `openslo/v1` objects refer to each other by name (`indicatorRef`,
//! `alertPolicyRef`, `conditionRef`, `targetRef`, `metricSourceRef`), possibly
//! across files, so the loader collects them all in a [`Registry`] first and
//! [`Registry::resolve`]s the SLOs once every file is parsed.
//!
//! Meaning, as the specification gives it:
//! - An SLO's `spec.service` and `metadata.name` make its id; each entry of
//!   `objectives` is a target for the same SLI, so a list of several becomes
//!   one burnrate SLO each (named `<name>-<displayName>`, or `<name>-<index>`
//!   when display names do not tell them apart). `metadata.labels` become the
//!   SLO's labels; `spec.description` (else `metadata.displayName`) its description.
//! - `ratioMetric` good (or bad) over total: two series selectors of counters
//!   (`counter: true`; a selector may sit inside a plain `sum(...)`) make a
//!   `ratio` indicator; queries counting events over `{{.window}}` make an
//!   `events` one. Only Prometheus data sources can be read.
//! - `timeWindow`: rolling (`isRolling: true`, `d`/`w`/`h` durations) or
//!   calendar-aligned (`1w`, `1M`, `1Q` starting at local midnight of the
//!   period's first day, in `calendar.timeZone`).
//! - `budgetingMethod: Occurrences` is what burnrate computes.
//! - Alerts come only from `alertPolicies`: each `AlertCondition` of kind
//!   `burnrate` is one single-window tier (`lookbackWindow` as both windows,
//!   `threshold` as the factor, `alertAfter` as `for`), named after the
//!   condition; notification targets go on its alerts as the
//!   `notification_target` label (the routing the specification suggests).
//!   An SLO without alert policies has no alerts.

use std::cell::RefCell;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike, Weekday};
use chrono_tz::Tz;
use promql_parser::parser::{self, Expr};

use super::super::alerting::{AlertingSpec, TierSpec, WORKBOOK_TIERS};
use super::super::decode::{self, Ctx, Fields};
use super::super::diagnostic::{Diagnostics, Pos};
use super::super::layers::{Layer, SloDraft};
use super::super::model::{Counts, Indicator, Severity};
use super::super::native;
use super::super::objective::Objective;
use super::super::promql::{Selector, WindowedQuery};
use super::super::window::{CalendarPeriod, SloWindow};
use super::super::yaml::{Node, Value};
use super::{key_pos, scalar, skip, slug, whole_minutes};
use crate::duration::Duration;

pub const API_VERSION: &str = "openslo/v1";
pub const V1ALPHA: &str = "openslo/v1alpha";

/// The label carrying an alert policy's notification targets.
pub const NOTIFICATION_TARGET_LABEL: &str = "notification_target";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Slo,
    Sli,
    Service,
    DataSource,
    AlertPolicy,
    AlertCondition,
    AlertNotificationTarget,
}

const KINDS: [Kind; 7] = [
    Kind::Slo,
    Kind::Sli,
    Kind::Service,
    Kind::DataSource,
    Kind::AlertPolicy,
    Kind::AlertCondition,
    Kind::AlertNotificationTarget,
];

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Slo => "SLO",
            Kind::Sli => "SLI",
            Kind::Service => "Service",
            Kind::DataSource => "DataSource",
            Kind::AlertPolicy => "AlertPolicy",
            Kind::AlertCondition => "AlertCondition",
            Kind::AlertNotificationTarget => "AlertNotificationTarget",
        }
    }
    pub fn parse(text: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const OBJECT_FIELDS: [&str; 4] = ["apiVersion", "kind", "metadata", "spec"];
/// OpenSLO's metadata fields, and Kubernetes' (OpenSLO follows its object format).
const METADATA_FIELDS: [&str; 16] = [
    "name",
    "displayName",
    "labels",
    "annotations",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "generateName",
    "selfLink",
];

struct Object<'a> {
    path: &'a Path,
    doc: &'a Node,
    kind: Kind,
    name: String,
    name_pos: Pos,
}

impl Object<'_> {
    fn spec(&self) -> Option<&Node> {
        self.doc.get("spec")
    }
}

/// Every `openslo/v1` object of a catalog, by kind and name.
#[derive(Default)]
pub struct Registry<'a> {
    objects: Vec<Object<'a>>,
    index: HashMap<(Kind, String), usize>,
}

impl<'a> Registry<'a> {
    /// Records one document (its spec is read by [`Registry::resolve`]).
    pub fn add(&mut self, ctx: Ctx, path: &'a Path, doc: &'a Node) {
        let Some(mut f) = Fields::new(ctx, doc, "", &OBJECT_FIELDS) else {
            return;
        };
        f.get("apiVersion");
        f.get("spec");
        let kind = f.require("kind", "the object kind").and_then(|n| {
            let text = scalar(ctx, n, "kind", "an OpenSLO kind")?;
            let kind = Kind::parse(text);
            if kind.is_none() {
                let all: Vec<&str> = KINDS.iter().map(|k| k.as_str()).collect();
                ctx.error(
                    n.pos,
                    "kind",
                    format!(
                        "unknown OpenSLO kind `{text}`: expected one of {}",
                        decode::quote_list(&all)
                    ),
                );
            }
            kind
        });
        let name = f
            .require("metadata", "`name`")
            .and_then(|m| metadata_name(ctx, m, "metadata"));
        f.finish();
        let (Some(kind), Some((name, name_pos))) = (kind, name) else {
            return;
        };
        if let Some(&i) = self.index.get(&(kind, name.clone())) {
            let first = &self.objects[i];
            ctx.error(
                name_pos,
                "metadata.name",
                format!(
                    "duplicate {kind} `{name}`: already defined at {}:{}",
                    first.path.display(),
                    first.name_pos.line
                ),
            );
            return;
        }
        self.index.insert((kind, name.clone()), self.objects.len());
        self.objects.push(Object {
            path,
            doc,
            kind,
            name,
            name_pos,
        });
    }

    fn get(&self, kind: Kind, name: &str) -> Option<&Object<'a>> {
        self.index
            .get(&(kind, name.to_string()))
            .map(|&i| &self.objects[i])
    }

    fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Object<'a>> {
        self.objects.iter().filter(move |o| o.kind == kind)
    }

    /// Reads every object and returns the SLO drafts, with the file each came from.
    pub fn resolve(&self, diags: &RefCell<Diagnostics>) -> Vec<(&'a Path, SloDraft)> {
        let ctx_of = |o: &Object<'a>| Ctx::new(o.path, diags);
        let mut r = Resolver {
            registry: self,
            sources: HashMap::new(),
            targets: HashMap::new(),
            conditions: HashMap::new(),
            policies: HashMap::new(),
            slis: HashMap::new(),
        };
        // A Service only names what SLOs' `spec.service` refer to; its spec is optional.
        for o in self.of_kind(Kind::Service) {
            let ctx = ctx_of(o);
            if let Some(spec) = o.spec()
                && let Some(mut f) = Fields::new(ctx, spec, "spec", &["description"])
            {
                f.get("description");
                f.finish();
            }
        }
        r.sources = self
            .of_kind(Kind::DataSource)
            .map(|o| {
                let ctx = ctx_of(o);
                let def = required_spec(ctx, o).and_then(|s| data_source(ctx, s, "spec"));
                (o.name.clone(), def)
            })
            .collect();
        r.targets = self
            .of_kind(Kind::AlertNotificationTarget)
            .map(|o| {
                let ctx = ctx_of(o);
                let def = required_spec(ctx, o).and_then(|s| target(ctx, s, "spec"));
                (o.name.clone(), def)
            })
            .collect();
        r.conditions = self
            .of_kind(Kind::AlertCondition)
            .map(|o| {
                let ctx = ctx_of(o);
                let def = required_spec(ctx, o).and_then(|s| condition(ctx, s, "spec", o.name_pos));
                (o.name.clone(), def)
            })
            .collect();
        let policies = self
            .of_kind(Kind::AlertPolicy)
            .map(|o| {
                let ctx = ctx_of(o);
                let def = required_spec(ctx, o).and_then(|s| r.policy(ctx, s, "spec"));
                (o.name.clone(), def)
            })
            .collect();
        r.policies = policies;
        let slis = self
            .of_kind(Kind::Sli)
            .map(|o| {
                let ctx = ctx_of(o);
                let def = required_spec(ctx, o).and_then(|s| r.sli(ctx, s, "spec"));
                (o.name.clone(), def)
            })
            .collect();
        r.slis = slis;
        let mut out = Vec::new();
        for o in self.of_kind(Kind::Slo) {
            for draft in r.slo(ctx_of(o), o) {
                out.push((o.path, draft));
            }
        }
        out
    }
}

fn required_spec<'n>(ctx: Ctx, o: &'n Object) -> Option<&'n Node> {
    let spec = o.spec();
    if spec.is_none() {
        ctx.error(
            o.doc.pos,
            "spec",
            format!(
                "missing required field `spec` (the {}'s definition)",
                o.kind
            ),
        );
    }
    spec
}

/// Checks a `metadata` mapping and returns its name.
fn metadata_name(ctx: Ctx, node: &Node, path: &str) -> Option<(String, Pos)> {
    let mut f = Fields::new(ctx, node, path, &METADATA_FIELDS)?;
    let name = f.require("name", "the object's name").and_then(|n| {
        let text = scalar(ctx, n, &decode::join(path, "name"), "a name")?;
        if text.is_empty() {
            ctx.error(n.pos, &decode::join(path, "name"), "the name is empty");
            return None;
        }
        Some((text.to_string(), n.pos))
    });
    skip(&mut f, &METADATA_FIELDS);
    f.finish();
    name
}

/// A metric source's query, classified by what burnrate can count with it.
#[derive(Debug, Clone)]
enum Query {
    /// A series selector, perhaps inside `sum(...)`: counters whose increases are counted.
    Selector(Selector),
    /// A query counting events over `{{.window}}`.
    Windowed(WindowedQuery),
    /// Anything else.
    Other(String),
}

struct Resolver<'r, 'a> {
    registry: &'r Registry<'a>,
    /// DataSource name → its `type`.
    sources: HashMap<String, Option<String>>,
    /// AlertNotificationTarget names.
    targets: HashMap<String, Option<()>>,
    conditions: HashMap<String, Option<TierSpec>>,
    /// AlertPolicy name → its tiers by name.
    policies: HashMap<String, Option<Vec<(String, TierSpec)>>>,
    slis: HashMap<String, Option<Indicator>>,
}

impl Resolver<'_, '_> {
    /// The decoded object `name` of `kind`, reporting a missing or broken one at the reference.
    fn lookup<'m, T>(
        &self,
        map: &'m HashMap<String, Option<T>>,
        kind: Kind,
        ctx: Ctx,
        node: &Node,
        path: &str,
    ) -> Option<(&'m T, String)> {
        let name = scalar(ctx, node, path, &format!("the name of an {kind}"))?;
        match map.get(name) {
            Some(Some(def)) => Some((def, name.to_string())),
            Some(None) => {
                if let Some(o) = self.registry.get(kind, name) {
                    ctx.error(
                        node.pos,
                        path,
                        format!(
                            "the {kind} `{name}` this refers to has errors (defined at {}:{})",
                            o.path.display(),
                            o.name_pos.line
                        ),
                    );
                }
                None
            }
            None => {
                ctx.error(
                    node.pos,
                    path,
                    format!("no {kind} named `{name}` (`apiVersion: {API_VERSION}`, `kind: {kind}`) in the loaded files"),
                );
                None
            }
        }
    }

    fn policy(&self, ctx: Ctx, node: &Node, path: &str) -> Option<Vec<(String, TierSpec)>> {
        const FIELDS: [&str; 6] = [
            "description",
            "alertWhenNoData",
            "alertWhenResolved",
            "alertWhenBreaching",
            "conditions",
            "notificationTargets",
        ];
        let errors_before = ctx.error_count();
        let mut f = Fields::new(ctx, node, path, &FIELDS)?;
        f.get("description");
        match f.boolean("alertWhenBreaching") {
            Some(true) => {}
            Some(false) | None if ctx.error_count() == errors_before => {
                let pos = f.get("alertWhenBreaching").map_or(f.pos(), |n| n.pos);
                ctx.error(pos, &f.field("alertWhenBreaching"), "burnrate alerts when an SLO burns its error budget too fast, which is `alertWhenBreaching: true`; a policy that does not alert when breaching has no burnrate equivalent");
            }
            _ => {}
        }
        if f.boolean("alertWhenNoData") == Some(true) {
            let n = f.get("alertWhenNoData").map_or(f.pos(), |n| n.pos);
            ctx.error(n, &f.field("alertWhenNoData"), "burnrate has no alert for missing data: it reports an SLO without data as a state of its own (see `burnrate status`); remove `alertWhenNoData` or set it to `false`");
        }
        if let Some(n) = f.get("alertWhenResolved") {
            decode::boolean(ctx, n, &f.field("alertWhenResolved"));
            ctx.warn(n.pos, &f.field("alertWhenResolved"), "whether resolved alerts are notified is Alertmanager's `send_resolved` receiver setting; burnrate does not decide it, so this has no effect here");
        }
        let mut target_names = Vec::new();
        if let Some(n) = f.get("notificationTargets") {
            let field = f.field("notificationTargets");
            for (i, item) in list(ctx, n, &field) {
                let item_path = format!("{field}[{i}]");
                if let Some(name) = self.reference_or_inline(
                    ctx,
                    item,
                    &item_path,
                    "targetRef",
                    Kind::AlertNotificationTarget,
                    |ctx, spec, path, _| target(ctx, spec, path),
                    &self.targets,
                ) {
                    target_names.push(name.1);
                }
            }
        }
        let mut tiers = Vec::new();
        if let Some(n) = f.require("conditions", "the alert condition") {
            let field = f.field("conditions");
            let items = list(ctx, n, &field);
            if items.is_empty() {
                ctx.error(n.pos, &field, "expected one alert condition");
            }
            for (i, item) in items {
                let item_path = format!("{field}[{i}]");
                if let Some((mut tier, name)) = self.reference_or_inline(
                    ctx,
                    item,
                    &item_path,
                    "conditionRef",
                    Kind::AlertCondition,
                    condition,
                    &self.conditions,
                ) {
                    if !target_names.is_empty() {
                        tier.labels.insert(
                            NOTIFICATION_TARGET_LABEL.to_string(),
                            target_names.join(","),
                        );
                    }
                    tiers.push((name, tier));
                }
            }
        }
        f.finish();
        (ctx.error_count() == errors_before).then_some(tiers)
    }

    /// An item that is either `{<ref_key>: name}` or an inline object of `kind`.
    #[allow(clippy::too_many_arguments)]
    fn reference_or_inline<T: Clone>(
        &self,
        ctx: Ctx,
        item: &Node,
        path: &str,
        ref_key: &'static str,
        kind: Kind,
        decode_inline: impl Fn(Ctx, &Node, &str, Pos) -> Option<T>,
        map: &HashMap<String, Option<T>>,
    ) -> Option<(T, String)> {
        if let Some(r) = item.get(ref_key) {
            if let Some(m) = item.as_map() {
                for e in m.iter().filter(|e| e.key != ref_key) {
                    ctx.error(
                        e.key_pos,
                        &decode::join(path, &e.key),
                        format!("`{}` cannot be combined with `{ref_key}`", e.key),
                    );
                }
            }
            return self
                .lookup(map, kind, ctx, r, &decode::join(path, ref_key))
                .map(|(def, name)| (def.clone(), name));
        }
        let fields: &'static [&'static str] = match ref_key {
            "conditionRef" => &["conditionRef", "apiVersion", "kind", "metadata", "spec"],
            "targetRef" => &["targetRef", "apiVersion", "kind", "metadata", "spec"],
            _ => &["alertPolicyRef", "apiVersion", "kind", "metadata", "spec"],
        };
        let mut f = Fields::new(ctx, item, path, fields)?;
        f.get("apiVersion");
        if let Some(k) = f.get("kind") {
            let text = scalar(ctx, k, &f.field("kind"), "a kind")?;
            if text != kind.as_str() {
                ctx.error(
                    k.pos,
                    &f.field("kind"),
                    format!("expected `{kind}` here, found `{text}`"),
                );
            }
        }
        let name = f
            .require("metadata", &format!("`name`, or use `{ref_key}`"))
            .and_then(|m| metadata_name(ctx, m, &f.field("metadata")));
        let def = f
            .require(
                "spec",
                &format!("the {kind}'s definition, or use `{ref_key}`"),
            )
            .and_then(|s| decode_inline(ctx, s, &f.field("spec"), item.pos));
        f.finish();
        Some((def?, name?.0))
    }

    fn sli(&self, ctx: Ctx, node: &Node, path: &str) -> Option<Indicator> {
        const FIELDS: [&str; 3] = ["description", "thresholdMetric", "ratioMetric"];
        let mut f = Fields::new(ctx, node, path, &FIELDS)?;
        f.get("description");
        let out = match (f.get("thresholdMetric"), f.get("ratioMetric")) {
            (Some(t), None) => {
                let pos = key_pos(node, "thresholdMetric").unwrap_or(t.pos);
                ctx.error(pos, &f.field("thresholdMetric"), THRESHOLD_REJECTION);
                None
            }
            (None, Some(r)) => self.ratio(ctx, r, &f.field("ratioMetric")),
            (Some(_), Some(_)) | (None, None) => {
                ctx.error(
                    f.pos(),
                    path,
                    "expected exactly one of `ratioMetric` and `thresholdMetric`",
                );
                None
            }
        };
        f.finish();
        out
    }

    fn ratio(&self, ctx: Ctx, node: &Node, path: &str) -> Option<Indicator> {
        const FIELDS: [&str; 6] = ["counter", "good", "bad", "total", "rawType", "raw"];
        let errors_before = ctx.error_count();
        let mut f = Fields::new(ctx, node, path, &FIELDS)?;
        let counter = f.boolean("counter");
        f.get("rawType");
        if let Some(raw) = f.get("raw") {
            let pos = key_pos(node, "raw").unwrap_or(raw.pos);
            ctx.error(
                pos,
                &f.field("raw"),
                format!(
                    "`raw`: {}",
                    super::sloth::RAW_REJECTION.replace(
                        "Write the SLI as `sli.events` with an `error_query` and a `total_query`",
                        "Use `good` (or `bad`) and `total` queries"
                    )
                ),
            );
            skip(&mut f, &FIELDS);
            f.finish();
            return None;
        }
        let counted = match (f.has("good"), f.has("bad")) {
            (true, false) => Some((Counts::Good, "good")),
            (false, true) => Some((Counts::Bad, "bad")),
            (both, _) => {
                let what = if both { "both" } else { "neither" };
                ctx.error(
                    f.pos(),
                    path,
                    format!("expected exactly one of `good` and `bad`, found {what}"),
                );
                f.get("good");
                f.get("bad");
                None
            }
        };
        let counted = counted.and_then(|(counts, key)| {
            let n = f.get(key)?;
            let (q, pos, field) = self.metric(ctx, n, &f.field(key))?;
            Some((counts, q, pos, field))
        });
        let total_node = f.require("total", "the query for all events");
        let total = total_node.and_then(|n| self.metric(ctx, n, &f.field("total")));
        f.finish();
        let ((counts, query, pos, field), (total, total_pos, total_field)) = (counted?, total?);
        if ctx.error_count() > errors_before {
            return None;
        }
        let query_kind = query.clone();
        match (query, total) {
            (Query::Windowed(query), Query::Windowed(total)) => Some(Indicator::Events {
                counts,
                query,
                total,
            }),
            (Query::Selector(selector), Query::Selector(total)) => match counter {
                Some(true) => Some(Indicator::Ratio {
                    counts,
                    selector,
                    total,
                }),
                Some(false) => {
                    let pos = node.get("counter").map_or(pos, |n| n.pos);
                    ctx.error(pos, &decode::join(path, "counter"), "`counter: false` says these series are gauges, whose values cannot be added up into event counts; burnrate needs counters (`counter: true`), or queries that count events over `{{.window}}`");
                    None
                }
                None => {
                    ctx.error(node.pos, path, "say `counter: true` if these series are counters (burnrate counts their increases); a gauge's values cannot be added up into event counts");
                    None
                }
            },
            (Query::Other(text), _) | (_, Query::Other(text)) => {
                let (pos, field) = if matches!(query_kind, Query::Other(_)) {
                    (pos, field)
                } else {
                    (total_pos, total_field)
                };
                ctx.error(pos, &field, format!("burnrate needs series selectors of counters (optionally inside a plain `sum(...)`), whose increases it counts, or queries that count events over `{{{{.window}}}}`; `{text}` is neither"));
                None
            }
            _ => {
                ctx.error(pos, &field, "the two queries must be of one kind: both series selectors of counters, or both queries counting events over `{{.window}}`");
                None
            }
        }
    }

    /// `{metricSource: {metricSourceRef | type, spec: {query}}}`: the query,
    /// where it is written and its field.
    fn metric(&self, ctx: Ctx, node: &Node, path: &str) -> Option<(Query, Pos, String)> {
        const SOURCE_FIELDS: [&str; 3] = ["metricSourceRef", "type", "spec"];
        let mut f = Fields::new(ctx, node, path, &["metricSource"])?;
        let field = f.field("metricSource");
        let source = f.require("metricSource", "`type` and `spec.query`");
        f.finish();
        let mut s = Fields::new(ctx, source?, &field, &SOURCE_FIELDS)?;
        let referenced = s.get("metricSourceRef").and_then(|n| {
            self.lookup(
                &self.sources,
                Kind::DataSource,
                ctx,
                n,
                &s.field("metricSourceRef"),
            )
            .map(|(t, name)| (t.clone(), name, n.pos))
        });
        let typed = s.get("type").and_then(|n| {
            scalar(ctx, n, &s.field("type"), "a data source type").map(|t| (t.to_string(), n.pos))
        });
        let source_type = match (typed, referenced) {
            (Some((t, pos)), Some((r, name, _))) if !t.eq_ignore_ascii_case(&r) => {
                ctx.error(
                    pos,
                    &s.field("type"),
                    format!("`type: {t}` contradicts the DataSource `{name}`, whose type is `{r}`"),
                );
                None
            }
            (Some((t, pos)), _) => Some((t, pos, None)),
            (None, Some((r, name, pos))) => Some((r, pos, Some(name))),
            (None, None) => {
                if !s.has("metricSourceRef") {
                    ctx.error(
                        s.pos(),
                        &field,
                        "missing `type` (e.g. `Prometheus`) or `metricSourceRef` (a DataSource's name)",
                    );
                }
                None
            }
        };
        let supported = source_type.is_some_and(|(t, pos, via)| {
            let ok = t.eq_ignore_ascii_case("prometheus");
            let why = "burnrate reads Prometheus (and servers speaking its query API, such as VictoriaMetrics) only";
            match via {
                _ if ok => {}
                None => ctx.error(pos, &s.field("type"), format!("data source type `{t}` is not supported: {why}")),
                Some(name) => ctx.error(pos, &s.field("metricSourceRef"), format!("the DataSource `{name}` has type `{t}`, which is not supported: {why}")),
            }
            ok
        });
        let spec = s.require("spec", "`query`: the PromQL query");
        let spec_field = s.field("spec");
        s.finish();
        let spec = spec?;
        if !supported {
            return None;
        }
        let mut q = Fields::new(ctx, spec, &spec_field, &["query"])?;
        let query_node = q.require("query", "the PromQL query");
        let query_field = q.field("query");
        q.finish();
        let query_node = query_node?;
        let text = scalar(ctx, query_node, &query_field, "a PromQL query")?;
        let query = if text.contains("{{") {
            Query::Windowed(native::events_query(ctx, query_node, &query_field)?)
        } else if let Ok(selector) = Selector::parse(text) {
            Query::Selector(selector)
        } else {
            match parser::parse(text.trim()) {
                Ok(expr) => match summed_selector(&expr) {
                    Some(selector) => Query::Selector(selector),
                    None => Query::Other(text.trim().to_string()),
                },
                Err(e) => {
                    let e = e.split_whitespace().collect::<Vec<_>>().join(" ");
                    ctx.error(query_node.pos, &query_field, format!("invalid PromQL: {e}"));
                    return None;
                }
            }
        };
        Some((query, query_node.pos, query_field))
    }

    fn slo(&self, ctx: Ctx, o: &Object) -> Vec<SloDraft> {
        const FIELDS: [&str; 8] = [
            "description",
            "service",
            "indicator",
            "indicatorRef",
            "timeWindow",
            "budgetingMethod",
            "objectives",
            "alertPolicies",
        ];
        let Some(spec) = required_spec(ctx, o) else {
            return Vec::new();
        };
        let service_text = spec
            .get("service")
            .and_then(Node::scalar_text)
            .unwrap_or("?");
        let id = format!("{service_text}/{}", o.name);
        let ctx = ctx.for_slo(&id);
        let errors_before = ctx.error_count();
        let name = native::name(
            ctx,
            o.doc
                .get("metadata")
                .and_then(|m| m.get("name"))
                .unwrap_or(o.doc),
            "metadata.name",
        );
        let labels = o
            .doc
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .map(|n| decode::label_map(ctx, n, "metadata.labels", true))
            .unwrap_or_default();
        let Some(mut f) = Fields::new(ctx, spec, "spec", &FIELDS) else {
            return Vec::new();
        };
        let service = f
            .require("service", "the service this SLO belongs to")
            .and_then(|n| native::name(ctx, n, "spec.service"));
        let description = f.string("description").or_else(|| {
            o.doc
                .get("metadata")
                .and_then(|m| m.get("displayName"))
                .and_then(Node::scalar_text)
                .map(str::to_string)
        });

        // The indicator, and whether it is a threshold metric (then objectives carry `op`/`value`).
        let mut threshold = false;
        let indicator = match (f.get("indicator"), f.get("indicatorRef")) {
            (Some(inline), None) => {
                threshold = inline
                    .get("spec")
                    .and_then(|s| s.get("thresholdMetric"))
                    .is_some();
                self.inline_sli(ctx, inline, "spec.indicator")
            }
            (None, Some(r)) => {
                let name = r.scalar_text().unwrap_or_default();
                threshold = self
                    .registry
                    .get(Kind::Sli, name)
                    .and_then(|o| o.spec())
                    .and_then(|s| s.get("thresholdMetric"))
                    .is_some();
                self.lookup(&self.slis, Kind::Sli, ctx, r, "spec.indicatorRef")
                    .map(|(i, _)| i.clone())
            }
            (Some(_), Some(r)) => {
                ctx.error(
                    r.pos,
                    "spec.indicatorRef",
                    "give either `indicator` or `indicatorRef`, not both",
                );
                None
            }
            (None, None) => {
                ctx.error(
                    f.pos(),
                    "spec",
                    "missing `indicator` (an inline SLI) or `indicatorRef` (an SLI's name)",
                );
                None
            }
        };

        let window = match f.get("timeWindow") {
            Some(n) => time_window(ctx, n, "spec.timeWindow"),
            None => Some(None),
        };

        let method = f
            .require("budgetingMethod", "`Occurrences`")
            .and_then(|n| {
                let text = scalar(ctx, n, "spec.budgetingMethod", "a budgeting method")?;
                match text {
                    "Occurrences" => Some(true),
                    "Timeslices" | "RatioTimeslices" => {
                        ctx.error(n.pos, "spec.budgetingMethod", format!("`{text}` budgeting is not supported: burnrate counts good and bad events over the window (`Occurrences`); it does not judge time slices one by one. Use `budgetingMethod: Occurrences` (the SLO then weighs every event equally)"));
                        Some(false)
                    }
                    _ => {
                        ctx.expected(n, "spec.budgetingMethod", "`Occurrences`, `Timeslices` or `RatioTimeslices`");
                        None
                    }
                }
            });

        let objectives = match f.require("objectives", "at least one target") {
            Some(n) => {
                let items = list(ctx, n, "spec.objectives");
                if items.is_empty() {
                    ctx.error(
                        n.pos,
                        "spec.objectives",
                        "at least one objective is required",
                    );
                }
                items
                    .into_iter()
                    .filter_map(|(i, item)| {
                        objective(
                            ctx,
                            item,
                            &format!("spec.objectives[{i}]"),
                            threshold,
                            method,
                        )
                    })
                    .collect::<Vec<_>>()
            }
            None => Vec::new(),
        };

        let alerting = match f.get("alertPolicies") {
            Some(n) => self.alert_policies(ctx, n, "spec.alertPolicies"),
            None => Some(AlertingSpec {
                enabled: Some(false),
                ..AlertingSpec::default()
            }),
        };
        f.finish();
        if ctx.error_count() > errors_before {
            return Vec::new();
        }
        let (Some(name), Some(service), Some(indicator), Some(window), Some(alerting)) =
            (name, service, indicator, window, alerting)
        else {
            return Vec::new();
        };

        let names = objective_names(&name, &objectives);
        objectives
            .into_iter()
            .zip(names)
            .map(|((objective, _, pos), name)| SloDraft {
                pos,
                service: service.clone(),
                name,
                description: description.clone(),
                objective: Some(objective),
                indicator: Some(indicator.clone()),
                group_by: Vec::new(),
                own: Layer {
                    labels: labels.clone(),
                    window,
                    alerting: alerting.clone(),
                    ..Layer::default()
                },
            })
            .collect()
    }

    fn inline_sli(&self, ctx: Ctx, node: &Node, path: &str) -> Option<Indicator> {
        let mut f = Fields::new(ctx, node, path, &OBJECT_FIELDS)?;
        f.get("apiVersion");
        if let Some(k) = f.get("kind")
            && k.scalar_text() != Some("SLI")
        {
            ctx.expected(k, &f.field("kind"), "`SLI`");
        }
        if let Some(m) = f.get("metadata") {
            metadata_name(ctx, m, &f.field("metadata"));
        }
        let out = f
            .require("spec", "the SLI's `ratioMetric`")
            .and_then(|s| self.sli(ctx, s, &f.field("spec")));
        f.finish();
        out
    }

    /// The tiers of every policy; `None` when one has errors.
    fn alert_policies(&self, ctx: Ctx, node: &Node, path: &str) -> Option<AlertingSpec> {
        let errors_before = ctx.error_count();
        let items = match &node.value {
            Value::Null => Vec::new(),
            _ => list(ctx, node, path),
        };
        if items.is_empty() {
            return Some(AlertingSpec {
                enabled: Some(false),
                ..AlertingSpec::default()
            });
        }
        let mut tiers: BTreeMap<String, TierSpec> = BTreeMap::new();
        for (i, item) in items {
            let item_path = format!("{path}[{i}]");
            let Some((policy, _)) = self.reference_or_inline(
                ctx,
                item,
                &item_path,
                "alertPolicyRef",
                Kind::AlertPolicy,
                |ctx, spec, path, _| self.policy(ctx, spec, path),
                &self.policies,
            ) else {
                continue;
            };
            for (name, tier) in policy {
                if !super::super::layers::is_valid_name(&name) {
                    ctx.error(item.pos, &item_path, format!("the alert condition name `{name}` cannot name a burnrate alert tier: use letters, digits, `_`, `-` and `.`"));
                    continue;
                }
                match tiers.entry(name) {
                    Entry::Occupied(e) => ctx.error(item.pos, &item_path, format!("two alert conditions named `{}`: each becomes an alert tier, whose names must differ", e.key())),
                    Entry::Vacant(e) => {
                        e.insert(tier);
                    }
                }
            }
        }
        if ctx.error_count() > errors_before {
            return None;
        }
        for w in &WORKBOOK_TIERS {
            tiers.entry(w.name.to_string()).or_insert(TierSpec {
                pos: node.pos,
                enabled: Some(false),
                ..TierSpec::default()
            });
        }
        Some(AlertingSpec {
            tiers,
            ..AlertingSpec::default()
        })
    }
}

/// Why `thresholdMetric` SLIs cannot be read.
pub const THRESHOLD_REJECTION: &str = "a `thresholdMetric` SLI compares each raw value of a metric with the objective's `op`/`value`, and its data points are not events: burnrate counts good and bad events and cannot weigh arbitrary samples. Express it as a `ratioMetric` of good (or bad) to total events, e.g. the histogram bucket under the latency threshold over the histogram's count";

/// `sum(selector)` (no grouping): the same events as the selector alone.
fn summed_selector(expr: &Expr) -> Option<Selector> {
    match expr {
        Expr::Paren(p) => summed_selector(&p.expr),
        Expr::Aggregate(a)
            if a.op.to_string() == "sum"
                && a.param.is_none()
                && a.modifier
                    .as_ref()
                    .is_none_or(|m| m.labels().labels.is_empty()) =>
        {
            let mut inner = &*a.expr;
            while let Expr::Paren(p) = inner {
                inner = &p.expr;
            }
            match inner {
                Expr::VectorSelector(vs) => Selector::parse(&vs.to_string()).ok(),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The items of a list, reporting anything else.
fn list<'n>(ctx: Ctx, node: &'n Node, path: &str) -> Vec<(usize, &'n Node)> {
    match &node.value {
        Value::Seq(items) => items.iter().enumerate().collect(),
        _ => {
            ctx.expected(node, path, "a list");
            Vec::new()
        }
    }
}

fn data_source(ctx: Ctx, node: &Node, path: &str) -> Option<String> {
    let mut f = Fields::new(
        ctx,
        node,
        path,
        &["description", "type", "connectionDetails"],
    )?;
    f.get("description");
    let kind = f
        .require("type", "the data source type, e.g. `Prometheus`")
        .and_then(|n| {
            scalar(ctx, n, &decode::join(path, "type"), "a data source type").map(str::to_string)
        });
    if let Some(n) = f.get("connectionDetails")
        && kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("prometheus"))
    {
        let pos = key_pos(node, "connectionDetails").unwrap_or(n.pos);
        ctx.warn(pos, &f.field("connectionDetails"), "burnrate queries the Prometheus server it is configured with; these connection details are not used");
    }
    f.finish();
    kind
}

fn target(ctx: Ctx, node: &Node, path: &str) -> Option<()> {
    let mut f = Fields::new(ctx, node, path, &["description", "target"])?;
    f.get("description");
    let target = f.require("target", "where notifications go, e.g. `slack`");
    f.finish();
    target.map(|_| ())
}

/// An AlertCondition as a single-window tier.
fn condition(ctx: Ctx, node: &Node, path: &str, pos: Pos) -> Option<TierSpec> {
    const CONDITION_FIELDS: [&str; 4] = ["kind", "threshold", "lookbackWindow", "alertAfter"];
    let errors_before = ctx.error_count();
    let mut f = Fields::new(ctx, node, path, &["description", "severity", "condition"])?;
    f.get("description");
    let severity = f.require("severity", "`page` or `ticket`").and_then(|n| {
        let text = scalar(ctx, n, &decode::join(path, "severity"), "a severity")?;
        let s = Severity::parse(text);
        if s.is_none() {
            ctx.error(
                n.pos,
                &decode::join(path, "severity"),
                format!("burnrate's alert severities are `page` and `ticket`, found `{text}`"),
            );
        }
        s
    });
    let mut tier = TierSpec {
        pos,
        severity,
        ..TierSpec::default()
    };
    if let Some(n) = f.require(
        "condition",
        "`kind: burnrate`, `threshold`, `lookbackWindow`",
    ) {
        let field = f.field("condition");
        if let Some(mut c) = Fields::new(ctx, n, &field, &CONDITION_FIELDS) {
            if let Some(k) = c.get("kind")
                && k.scalar_text() != Some("burnrate")
            {
                ctx.expected(k, &c.field("kind"), "`burnrate` (the only condition kind)");
            }
            tier.burn_rate = c
                .require("threshold", "the burn rate to alert at")
                .and_then(|n| {
                    let v =
                        decode::number(ctx, n, &c.field("threshold"), "a burn rate such as `2`")?;
                    if v <= 0.0 {
                        ctx.error(
                            n.pos,
                            &c.field("threshold"),
                            "the burn-rate threshold must be greater than zero",
                        );
                        return None;
                    }
                    Some(v)
                });
            let lookback = c
                .require(
                    "lookbackWindow",
                    "the window the burn rate is computed over, e.g. `1h`",
                )
                .and_then(|n| alert_duration(ctx, n, &c.field("lookbackWindow"), false));
            tier.long_window = lookback;
            tier.short_window = lookback;
            tier.for_duration = c
                .get("alertAfter")
                .and_then(|n| alert_duration(ctx, n, &c.field("alertAfter"), true));
            c.finish();
        }
    }
    f.finish();
    (ctx.error_count() == errors_before).then_some(tier)
}

/// An OpenSLO duration used by an alert: minutes to weeks.
fn alert_duration(ctx: Ctx, node: &Node, path: &str, zero_ok: bool) -> Option<Duration> {
    let text = scalar(ctx, node, path, "a duration such as `1h`")?;
    match shorthand(text) {
        Ok(Shorthand::Fixed(d)) if zero_ok && d.is_zero() => Some(d),
        Ok(Shorthand::Fixed(d)) => whole_minutes(ctx, d, node.pos, path),
        Ok(_) => {
            ctx.error(node.pos, path, format!("`{text}`: months, quarters and years have no fixed length; write alert durations in minutes, hours, days or weeks"));
            None
        }
        Err(e) => {
            ctx.error(node.pos, path, e);
            None
        }
    }
}

/// OpenSLO's duration shorthand: a number and one of `m h d w M Q Y`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shorthand {
    Fixed(Duration),
    Months(u64),
    Quarters(u64),
    Years(u64),
}

fn shorthand(text: &str) -> Result<Shorthand, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let bad = || {
        format!(
            "`{text}` is not an OpenSLO duration: expected a whole number and one of `m` (minutes), `h`, `d`, `w`, `M` (months), `Q` (quarters), `Y` (years), e.g. `28d` or `1M`"
        )
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    Ok(match unit {
        "m" => Shorthand::Fixed(Duration::from_mins(n)),
        "h" => Shorthand::Fixed(Duration::from_hours(n)),
        "d" => Shorthand::Fixed(Duration::from_days(n)),
        "w" => Shorthand::Fixed(Duration::from_days(n * 7)),
        "M" => Shorthand::Months(n),
        "Q" => Shorthand::Quarters(n),
        "Y" => Shorthand::Years(n),
        _ => return Err(bad()),
    })
}

/// `timeWindow`: `Some(None)` when absent, `None` on error.
fn time_window(ctx: Ctx, node: &Node, path: &str) -> Option<Option<(SloWindow, Pos)>> {
    const FIELDS: [&str; 3] = ["duration", "isRolling", "calendar"];
    let items = list(ctx, node, path);
    if items.len() != 1 {
        ctx.error(
            node.pos,
            path,
            format!("expected exactly one time window, found {}", items.len()),
        );
        return None;
    }
    let (_, item) = items[0];
    let path = format!("{path}[0]");
    let errors_before = ctx.error_count();
    let mut f = Fields::new(ctx, item, &path, &FIELDS)?;
    let duration_node = f.require("duration", "the window's length, e.g. `28d` or `1M`");
    let duration = duration_node.and_then(|n| {
        let text = scalar(ctx, n, &f.field("duration"), "a duration")?;
        match shorthand(text) {
            Ok(d) => Some((d, text.trim().to_string(), n.pos)),
            Err(e) => {
                ctx.error(n.pos, &f.field("duration"), e);
                None
            }
        }
    });
    let rolling = f.boolean("isRolling");
    let calendar = f.get("calendar");
    let calendar_field = f.field("calendar");
    f.finish();
    let (duration, text, pos) = duration?;
    let window = match (rolling, calendar) {
        (Some(true), Some(c)) => {
            ctx.error(c.pos, &calendar_field, "a rolling window (`isRolling: true`) has no calendar; remove `calendar` or set `isRolling: false`");
            None
        }
        // Without a calendar, only a rolling window is possible.
        (Some(true), None) | (None, None) => match duration {
            Shorthand::Fixed(d) if d >= Duration::from_hours(1) => Some(SloWindow::Rolling(d)),
            Shorthand::Fixed(_) => {
                ctx.error(pos, &decode::join(&path, "duration"), format!("the window `{text}` is too short: an SLO window must be at least 1h (`m` is minutes; months are `M`)"));
                None
            }
            _ => {
                ctx.error(pos, &decode::join(&path, "duration"), format!("a rolling window of `{text}` has no fixed length (months, quarters and years vary); write it in days or weeks, e.g. `30d` or `4w`, or make it calendar-aligned"));
                None
            }
        },
        (Some(false), None) => {
            ctx.error(item.pos, &path, "a calendar-aligned window (`isRolling: false`) needs `calendar` with `startTime` and `timeZone`");
            None
        }
        (_, Some(c)) => calendar_window(ctx, duration, &text, pos, &path, c, &calendar_field),
    };
    if ctx.error_count() > errors_before {
        return None;
    }
    window.map(|w| Some((w, pos)))
}

fn calendar_window(
    ctx: Ctx,
    duration: Shorthand,
    text: &str,
    pos: Pos,
    path: &str,
    calendar: &Node,
    calendar_field: &str,
) -> Option<SloWindow> {
    let period = match duration {
        Shorthand::Fixed(d) if d == Duration::from_days(7) => Some(CalendarPeriod::Week),
        Shorthand::Months(1) => Some(CalendarPeriod::Month),
        Shorthand::Quarters(1) => Some(CalendarPeriod::Quarter),
        Shorthand::Fixed(d) if d < Duration::from_hours(1) => {
            let n = d.as_mins();
            ctx.error(pos, &decode::join(path, "duration"), format!("`{text}` is {n} minute{} in OpenSLO's duration shorthand (`m` is minutes, `M` months), far too short for a calendar-aligned SLO window; did you mean `{n}M` (a calendar month)?", if n == 1 { "" } else { "s" }));
            None
        }
        _ => {
            ctx.error(pos, &decode::join(path, "duration"), format!("burnrate's calendar-aligned windows are one week (`1w`), one month (`1M`) or one quarter (`1Q`), found `{text}`"));
            None
        }
    };
    let mut f = Fields::new(ctx, calendar, calendar_field, &["startTime", "timeZone"])?;
    let time_zone = f.require("timeZone", "an IANA time zone such as `UTC` or `America/New_York`").and_then(|n| {
        let text = scalar(ctx, n, &decode::join(calendar_field, "timeZone"), "a time zone")?;
        match text.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                ctx.error(n.pos, &decode::join(calendar_field, "timeZone"), format!("unknown time zone `{text}`: expected an IANA name such as `America/New_York` or `UTC`"));
                None
            }
        }
    });
    let start = f.require(
        "startTime",
        "the first window's start, e.g. `2024-01-01 00:00:00`",
    );
    let start_field = f.field("startTime");
    f.finish();
    if let (Some(period), Some(n)) = (period, start) {
        let text = scalar(ctx, n, &start_field, "a date and time")?;
        let parsed = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|fmt| NaiveDateTime::parse_from_str(text.trim(), fmt).ok())
            .or_else(|| {
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            });
        let Some(start) = parsed else {
            ctx.expected(
                n,
                &start_field,
                "a local date and time such as `2024-01-01 00:00:00`",
            );
            return None;
        };
        let day_ok = match period {
            CalendarPeriod::Week => start.weekday() == Weekday::Mon,
            CalendarPeriod::Month => start.day() == 1,
            CalendarPeriod::Quarter => start.day() == 1 && start.month0() % 3 == 0,
        };
        let midnight = start.hour() == 0 && start.minute() == 0 && start.second() == 0;
        if !day_ok || !midnight {
            let boundary = match period {
                CalendarPeriod::Week => "on Mondays",
                CalendarPeriod::Month => "on the first day of each month",
                CalendarPeriod::Quarter => "on the first day of January, April, July and October",
            };
            ctx.error(n.pos, &start_field, format!("burnrate's calendar {}s start at local midnight {boundary}; `{text}` is a {} at {:02}:{:02}, so its windows would not line up with burnrate's", period.as_str(), start.format("%A"), start.hour(), start.minute()));
            return None;
        }
    }
    Some(SloWindow::Calendar {
        period: period?,
        time_zone: time_zone?,
    })
}

/// One objective: the target, its display name and position.
fn objective(
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
        (Some(n), None) => {
            let v = decode::number(ctx, n, &f.field("target"), "a ratio such as `0.995`")?;
            match Objective::from_ratio(v) {
                Ok(o) => Some(o),
                Err(_) => {
                    ctx.error(n.pos, &f.field("target"), format!("the target must be a ratio strictly between 0 and 1, found `{v}` (use `targetPercent` for percentages)"));
                    None
                }
            }
        }
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
fn objective_names(name: &str, objectives: &[(Objective, Option<String>, Pos)]) -> Vec<String> {
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
        .and_then(|n| {
            let v = decode::number(ctx, n, &f.field("target"), "a ratio such as `0.999`")?;
            Objective::from_ratio(v)
                .map_err(|_| {
                    ctx.error(
                        n.pos,
                        &f.field("target"),
                        format!("the target must be a ratio strictly between 0 and 1, found `{v}`"),
                    )
                })
                .ok()
        });
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
        .and_then(|n| native::events_query(ctx, n, &f.field("query")));
    f.finish();
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_shorthand() {
        assert_eq!(
            shorthand("28d"),
            Ok(Shorthand::Fixed(Duration::from_days(28)))
        );
        assert_eq!(
            shorthand("4w"),
            Ok(Shorthand::Fixed(Duration::from_days(28)))
        );
        assert_eq!(
            shorthand("1m"),
            Ok(Shorthand::Fixed(Duration::from_mins(1)))
        );
        assert_eq!(shorthand("1M"), Ok(Shorthand::Months(1)));
        assert_eq!(shorthand("1Q"), Ok(Shorthand::Quarters(1)));
        assert_eq!(shorthand("1Y"), Ok(Shorthand::Years(1)));
        for bad in ["", "d", "1.5d", "1h30m", "5s", "-1d"] {
            assert!(shorthand(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn summed_selectors_are_selectors() {
        let parse = |q: &str| summed_selector(&parser::parse(q).unwrap()).map(|s| s.to_string());
        assert_eq!(
            parse("sum(x_total{a=\"b\"})").as_deref(),
            Some("x_total{a=\"b\"}")
        );
        assert_eq!(parse("(sum((x_total)))").as_deref(), Some("x_total"));
        assert_eq!(parse("sum by (a) (x_total)"), None);
        assert_eq!(parse("sum(rate(x_total[5m]))"), None);
        assert_eq!(parse("max(x_total)"), None);
    }

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
