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
//!
//! The files: [`Registry`] (here) collects the objects; `resolve` maps SLOs
//! and SLIs onto drafts, `alert_policies` their alert policies, conditions
//! and notification targets, `time_window` and `objectives` their windows
//! and targets; `v1alpha` reads `openslo/v1alpha` SLOs on their own.

mod alert_policies;
mod objectives;
mod resolve;
mod time_window;
mod v1alpha;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use super::super::decode::{self, Ctx, Fields};
use super::super::diagnostic::{Diagnostics, Pos};
use super::super::dialect::Dialect;
use super::super::layers::{SloDraft, is_valid_name};
use super::super::yaml::{Node, Value};
use super::{K8S_METADATA_FIELDS, scalar, skip};

pub use v1alpha::decode_v1alpha;

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
/// Kubernetes object metadata (OpenSLO follows its object format), plus `displayName`.
const METADATA_FIELDS: [&str; K8S_METADATA_FIELDS.len() + 1] = {
    let mut fields = ["displayName"; K8S_METADATA_FIELDS.len() + 1];
    let mut i = 0;
    while i < K8S_METADATA_FIELDS.len() {
        fields[i + 1] = K8S_METADATA_FIELDS[i];
        i += 1;
    }
    fields
};

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
    pub fn resolve(
        &self,
        diags: &RefCell<Diagnostics>,
        dialect: Dialect,
    ) -> Vec<(&'a Path, SloDraft)> {
        resolve::drafts(self, diags, dialect)
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
        // Names become SLO ids and native `name:` fields, so they follow the native rule.
        if !is_valid_name(text) {
            ctx.error(n.pos, &decode::join(path, "name"), format!("`{text}` is not a valid name: use letters, digits, `_`, `-` and `.`, starting with a letter or digit"));
            return None;
        }
        Some((text.to_string(), n.pos))
    });
    skip(&mut f, &METADATA_FIELDS);
    f.finish();
    name
}

/// Why `thresholdMetric` SLIs cannot be read.
pub const THRESHOLD_REJECTION: &str = "a `thresholdMetric` SLI compares each raw value of a metric with the objective's `op`/`value`, and its data points are not events: burnrate counts good and bad events and cannot weigh arbitrary samples. Express it as a `ratioMetric` of good (or bad) to total events, e.g. the histogram bucket under the latency threshold over the histogram's count";

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
