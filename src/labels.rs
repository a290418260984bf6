//! Label sets: the group labels that tell a grouped SLO's instances apart,
//! and their canonical text in instance ids.

use std::collections::BTreeMap;

/// Label names to values, ordered by name.
pub type Labels = BTreeMap<String, String>;

/// The canonical text of group labels: `{a="1",b="2"}`, or empty.
pub fn group_key_text(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::catalog::promql::quote(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A label set from name/value pairs.
pub fn from_pairs(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
