//! Maps `openslo/v1` SLOs and SLIs onto burnrate's [`SloDraft`]s: the
//! [`Resolver`] decodes every referable object once, then reads each SLO,
//! following its references by name.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use promql_parser::parser::{self, Expr};

use super::alert_policies::{condition, target};
use super::objectives::{Method, objective, objective_names};
use super::time_window::time_window;
use super::{
    API_VERSION, Kind, OBJECT_FIELDS, Object, Registry, THRESHOLD_REJECTION, list, metadata_name,
    required_spec,
};
use crate::catalog::alerting::{AlertingSpec, TierSpec};
use crate::catalog::decode::{self, Ctx, Fields};
use crate::catalog::diagnostic::{Diagnostics, Pos};
use crate::catalog::dialect::Dialect;
use crate::catalog::external::{key_pos, scalar, skip};
use crate::catalog::layers::{Layer, SloDraft};
use crate::catalog::model::{Counts, Indicator};
use crate::catalog::native;
use crate::catalog::promql::{Selector, WindowedQuery};
use crate::catalog::yaml::Node;

/// Decodes every referable object of `registry`, then every SLO.
pub(super) fn drafts<'a>(
    registry: &Registry<'a>,
    diags: &RefCell<Diagnostics>,
    dialect: Dialect,
) -> Vec<(&'a Path, SloDraft)> {
    let ctx_of = |o: &Object<'a>| Ctx::new(o.path, diags).with_dialect(dialect);
    let mut r = Resolver {
        registry,
        sources: HashMap::new(),
        targets: HashMap::new(),
        conditions: HashMap::new(),
        policies: HashMap::new(),
        slis: HashMap::new(),
    };
    // A Service only names what SLOs' `spec.service` refer to; its spec is optional.
    for o in registry.of_kind(Kind::Service) {
        let ctx = ctx_of(o);
        if let Some(spec) = o.spec()
            && let Some(mut f) = Fields::new(ctx, spec, "spec", &["description"])
        {
            f.get("description");
            f.finish();
        }
    }
    r.sources = registry
        .of_kind(Kind::DataSource)
        .map(|o| {
            let ctx = ctx_of(o);
            let def = required_spec(ctx, o).and_then(|s| data_source(ctx, s, "spec"));
            (o.name.clone(), def)
        })
        .collect();
    r.targets = registry
        .of_kind(Kind::AlertNotificationTarget)
        .map(|o| {
            let ctx = ctx_of(o);
            let def = required_spec(ctx, o).and_then(|s| target(ctx, s, "spec"));
            (o.name.clone(), def)
        })
        .collect();
    r.conditions = registry
        .of_kind(Kind::AlertCondition)
        .map(|o| {
            let ctx = ctx_of(o);
            let def = required_spec(ctx, o).and_then(|s| condition(ctx, s, "spec", o.name_pos));
            (o.name.clone(), def)
        })
        .collect();
    let policies = registry
        .of_kind(Kind::AlertPolicy)
        .map(|o| {
            let ctx = ctx_of(o);
            let def = required_spec(ctx, o).and_then(|s| r.policy(ctx, s, "spec"));
            (o.name.clone(), def)
        })
        .collect();
    r.policies = policies;
    let slis = registry
        .of_kind(Kind::Sli)
        .map(|o| {
            let ctx = ctx_of(o);
            let def = required_spec(ctx, o).and_then(|s| r.sli(ctx, s, "spec"));
            (o.name.clone(), def)
        })
        .collect();
    r.slis = slis;
    let mut out = Vec::new();
    for o in registry.of_kind(Kind::Slo) {
        for draft in r.slo(ctx_of(o), o) {
            out.push((o.path, draft));
        }
    }
    out
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

pub(super) struct Resolver<'r, 'a> {
    registry: &'r Registry<'a>,
    /// DataSource name → its `type`.
    sources: HashMap<String, Option<String>>,
    /// AlertNotificationTarget names.
    pub(super) targets: HashMap<String, Option<()>>,
    pub(super) conditions: HashMap<String, Option<TierSpec>>,
    /// AlertPolicy name → its tiers by name.
    pub(super) policies: HashMap<String, Option<Vec<(String, TierSpec)>>>,
    slis: HashMap<String, Option<Indicator>>,
}

impl Resolver<'_, '_> {
    /// The decoded object `name` of `kind`, reporting a missing or broken one at the reference.
    pub(super) fn lookup<'m, T>(
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
                    crate::catalog::external::sloth::RAW_REJECTION.replace(
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
            Query::Windowed(native::indicator::events_query(
                ctx,
                query_node,
                &query_field,
            )?)
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
            .require("budgetingMethod", "`Occurrences` or `Timeslices`")
            .and_then(|n| {
                let text = scalar(ctx, n, "spec.budgetingMethod", "a budgeting method")?;
                match text {
                    "Occurrences" => Some(Method::Occurrences),
                    "Timeslices" => Some(Method::Timeslices),
                    "RatioTimeslices" => {
                        ctx.error(n.pos, "spec.budgetingMethod", "`RatioTimeslices` budgeting is not supported: it averages each slice's ratio, which weighs a quiet minute like a busy one. Use `Timeslices` (each slice good or bad by its `timeSliceTarget`) or `Occurrences` (every event counts equally)");
                        Some(Method::Unsupported)
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

        let displays: Vec<Option<&str>> = objectives.iter().map(|o| o.1.as_deref()).collect();
        let names = objective_names(&name, &displays);
        objectives
            .into_iter()
            .zip(names)
            .map(|((objective, _, pos, budgeting), name)| SloDraft {
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
                    budgeting: Some((budgeting, pos)),
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
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
