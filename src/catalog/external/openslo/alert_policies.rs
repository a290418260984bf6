//! `alertPolicies`: AlertPolicy, AlertCondition and AlertNotificationTarget
//! objects, inline or referenced, as burnrate alert tiers.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::btree_map::Entry;

use super::resolve::Resolver;
use super::time_window::{Shorthand, shorthand};
use super::{Kind, NOTIFICATION_TARGET_LABEL, list, metadata_name};
use crate::catalog::alerting::{AlertingSpec, TierSpec, WORKBOOK_TIERS};
use crate::catalog::decode::{self, Ctx, Fields};
use crate::catalog::diagnostic::Pos;
use crate::catalog::external::{scalar, whole_minutes};
use crate::catalog::model::Severity;
use crate::catalog::yaml::{Node, Value};
use crate::duration::Duration;

impl Resolver<'_, '_> {
    pub(super) fn policy(
        &self,
        ctx: Ctx,
        node: &Node,
        path: &str,
    ) -> Option<Vec<(String, TierSpec)>> {
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

    /// The tiers of every policy; `None` when one has errors.
    pub(super) fn alert_policies(&self, ctx: Ctx, node: &Node, path: &str) -> Option<AlertingSpec> {
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
                if !crate::catalog::layers::is_valid_name(&name) {
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

pub(super) fn target(ctx: Ctx, node: &Node, path: &str) -> Option<()> {
    let mut f = Fields::new(ctx, node, path, &["description", "target"])?;
    f.get("description");
    let target = f.require("target", "where notifications go, e.g. `slack`");
    f.finish();
    target.map(|_| ())
}

/// An AlertCondition as a single-window tier.
pub(super) fn condition(ctx: Ctx, node: &Node, path: &str, pos: Pos) -> Option<TierSpec> {
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
