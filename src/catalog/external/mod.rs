//! SLO specifications written for other tools, read as they are.
//!
//! Each reader maps a document onto burnrate's drafts and layers with the
//! meaning the original tool gives it, so the normal `finish()` path validates
//! the result. What burnrate cannot honour is reported at its file and line
//! with the reason and what to write instead; nothing is dropped silently.
//!
//! - [`sloth`]: Sloth's `version: prometheus/v1` and its Kubernetes
//!   `PrometheusServiceLevel` (and its `AlertWindows` catalogs, rejected).
//! - [`pyrra`]: Pyrra's `pyrra.dev/v1alpha1` `ServiceLevelObjective`.
//! - [`openslo`]: OpenSLO `openslo/v1` objects, resolved across files, and
//!   the `openslo/v1alpha` SLOs Sloth reads.

pub mod openslo;
pub mod pyrra;
pub mod sloth;

use super::decode::{Ctx, Fields};
use super::diagnostic::Pos;
use super::yaml::Node;
use crate::duration::Duration;

/// Kubernetes `ObjectMeta` fields a manifest may carry (for instance when it
/// comes from `kubectl get -o yaml`); they say nothing about the SLO itself.
pub const K8S_METADATA_FIELDS: [&str; 15] = [
    "name",
    "namespace",
    "labels",
    "annotations",
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

/// Marks every listed field as read (their values do not matter here).
fn skip(f: &mut Fields, keys: &[&str]) {
    for key in keys {
        f.get(key);
    }
}

/// Where `key` is written in the mapping `parent`: the line a reader looks
/// for, where a block value (a mapping, a `|` scalar) starts on the next one.
fn key_pos(parent: &Node, key: &str) -> Option<Pos> {
    parent
        .as_map()?
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.key_pos)
}

/// The text of a scalar, or an error naming what was expected.
fn scalar<'n>(ctx: Ctx, node: &'n Node, path: &str, what: &str) -> Option<&'n str> {
    match node.scalar_text() {
        Some(text) => Some(text),
        None => {
            ctx.expected(node, path, what);
            None
        }
    }
}

/// A window of whole minutes, at least one minute long.
fn whole_minutes(ctx: Ctx, d: Duration, pos: Pos, path: &str) -> Option<Duration> {
    if d.is_zero() || !d.as_millis().is_multiple_of(60_000) {
        ctx.error(
            pos,
            path,
            format!("expected whole minutes of at least 1m, found `{d}`"),
        );
        return None;
    }
    Some(d)
}

/// A name usable as a burnrate SLO name suffix: lower-case letters, digits and `-`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs() {
        assert_eq!(slug("Internal objective"), "internal-objective");
        assert_eq!(slug("SLA"), "sla");
        assert_eq!(slug("  p99 < 500ms!"), "p99-500ms");
        assert_eq!(slug("---"), "");
    }
}
