//! Turning YAML nodes into typed values while collecting every problem.
//!
//! Decoders never stop at the first error: each returns `None` for a value it
//! could not read, records why, and the caller carries on with the next field.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use super::diagnostic::{Diagnostic, Diagnostics, Pos};
use super::dialect::Dialect;
use super::window::bounded_duration;
use super::yaml::{Entry, Node, Value};
use crate::duration::Duration;

/// Where decoding happens: the file, the SLO being read (if any), the
/// dialect of its queries, and the sink for problems.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub file: &'a Path,
    pub slo: Option<&'a str>,
    pub dialect: Dialect,
    diags: &'a RefCell<Diagnostics>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, diags: &'a RefCell<Diagnostics>) -> Self {
        Ctx {
            file,
            slo: None,
            dialect: Dialect::default(),
            diags,
        }
    }

    pub fn with_dialect(self, dialect: Dialect) -> Self {
        Ctx { dialect, ..self }
    }

    pub fn for_slo<'b>(self, slo: &'b str) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            file: self.file,
            slo: Some(slo),
            dialect: self.dialect,
            diags: self.diags,
        }
    }

    /// Records an error about `field` at `pos`.
    pub fn error(&self, pos: Pos, field: &str, message: impl Into<String>) {
        self.diags.borrow_mut().push(
            Diagnostic::error(self.file, pos, message)
                .with_slo(self.slo)
                .with_field(field),
        );
    }

    pub fn warn(&self, pos: Pos, field: &str, message: impl Into<String>) {
        self.diags.borrow_mut().push(
            Diagnostic::error(self.file, pos, message)
                .with_slo(self.slo)
                .with_field(field)
                .warning(),
        );
    }

    /// Records an error of the kind "expected X, found <what the node is>".
    pub fn expected(&self, node: &Node, field: &str, what: &str) {
        let found = match &node.value {
            Value::Scalar(s) => format!("`{}`", s.text),
            _ => node.kind_name().to_string(),
        };
        self.error(node.pos, field, format!("expected {what}, found {found}"));
    }

    pub fn error_count(&self) -> usize {
        self.diags.borrow().error_count()
    }
}

/// Joins a field path: `slos[2]` + `objective` = `slos[2].objective`.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Reads the fields of one mapping, and reports the fields nobody asked for.
pub struct Fields<'n, 'c> {
    ctx: Ctx<'c>,
    pos: Pos,
    path: String,
    entries: &'n [Entry],
    used: Vec<bool>,
    allowed: &'static [&'static str],
}

impl<'n, 'c> Fields<'n, 'c> {
    /// `None` (with an error recorded) when the node is not a mapping.
    pub fn new(
        ctx: Ctx<'c>,
        node: &'n Node,
        path: &str,
        allowed: &'static [&'static str],
    ) -> Option<Self> {
        match &node.value {
            Value::Map(entries) => Some(Fields {
                ctx,
                pos: node.pos,
                path: path.to_string(),
                entries,
                used: vec![false; entries.len()],
                allowed,
            }),
            _ => {
                ctx.expected(
                    node,
                    path,
                    &format!("a mapping with fields {}", quote_list(allowed)),
                );
                None
            }
        }
    }

    pub fn ctx(&self) -> Ctx<'c> {
        self.ctx
    }
    pub fn pos(&self) -> Pos {
        self.pos
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The path of a field of this mapping.
    pub fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The field's node, if present and not null.
    pub fn get(&mut self, key: &str) -> Option<&'n Node> {
        debug_assert!(
            self.allowed.contains(&key),
            "field `{key}` missing from the allowed list"
        );
        let index = self.entries.iter().position(|e| e.key == key)?;
        self.used[index] = true;
        let node = &self.entries[index].value;
        (node.value != Value::Null).then_some(node)
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.key == key && e.value.value != Value::Null)
    }

    /// The field's node, recording an error when it is absent.
    pub fn require(&mut self, key: &str, what: &str) -> Option<&'n Node> {
        let node = self.get(key);
        if node.is_none() {
            self.ctx.error(
                self.pos,
                &self.path,
                format!("missing required field `{key}` ({what})"),
            );
        }
        node
    }

    pub fn string(&mut self, key: &str) -> Option<String> {
        let node = self.get(key)?;
        string(self.ctx, node, &self.field(key))
    }

    pub fn duration(&mut self, key: &str) -> Option<(Duration, Pos)> {
        let node = self.get(key)?;
        duration(self.ctx, node, &self.field(key)).map(|d| (d, node.pos))
    }

    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        let node = self.get(key)?;
        boolean(self.ctx, node, &self.field(key))
    }

    pub fn labels(&mut self, key: &str) -> BTreeMap<String, String> {
        match self.get(key) {
            Some(node) => label_map(self.ctx, node, &self.field(key), true),
            None => BTreeMap::new(),
        }
    }

    /// Reports every field that is not in the allowed list, suggesting the closest one.
    pub fn finish(self) {
        let mut unknown = self
            .entries
            .iter()
            .zip(&self.used)
            .filter(|(entry, used)| !**used && !self.allowed.contains(&entry.key.as_str()))
            .map(|(entry, _)| entry);
        for entry in unknown.by_ref().take(MAX_UNKNOWN_FIELDS) {
            let hint = match closest(&entry.key, self.allowed) {
                Some(best) => format!("; did you mean `{best}`?"),
                None => format!("; expected one of {}", quote_list(self.allowed)),
            };
            self.ctx.error(
                entry.key_pos,
                &join(&self.path, &entry.key),
                format!("unknown field `{}`{hint}", entry.key),
            );
        }
        if let Some(first) = unknown.next() {
            let more = 1 + unknown.count();
            self.ctx.error(
                first.key_pos,
                &self.path,
                format!(
                    "{more} more unknown fields from here on (only the first {MAX_UNKNOWN_FIELDS} of a mapping are listed); expected only {}",
                    quote_list(self.allowed)
                ),
            );
        }
    }
}

/// Unknown fields listed one by one per mapping: past this, a generated or
/// pasted file would bury the first problems (and take a while to compare
/// each against every allowed name).
const MAX_UNKNOWN_FIELDS: usize = 20;

/// The one kind a mapping such as `indicator: {ratio: …}` holds, out of
/// `kinds`: the kind, its body and its field path. Anything but exactly one is
/// reported as "expected exactly one {what} (…), found …".
pub fn one_kind<'n>(
    ctx: Ctx,
    node: &'n Node,
    path: &str,
    kinds: &'static [&'static str],
    what: &str,
) -> Option<(&'static str, &'n Node, String)> {
    let mut f = Fields::new(ctx, node, path, kinds)?;
    let present: Vec<&str> = kinds.iter().copied().filter(|k| f.has(k)).collect();
    let [kind] = present[..] else {
        let found = if present.is_empty() {
            "none".to_string()
        } else {
            quote_list(&present)
        };
        ctx.error(
            f.pos(),
            path,
            format!(
                "expected exactly one {what} ({}), found {found}",
                quote_list(kinds)
            ),
        );
        f.finish();
        return None;
    };
    let body = f.get(kind)?;
    let field = f.field(kind);
    f.finish();
    Some((kind, body, field))
}

/// The allowed name closest to `word`, if it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

pub fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn string(ctx: Ctx, node: &Node, path: &str) -> Option<String> {
    match &node.value {
        Value::Scalar(s) => Some(s.text.clone()),
        _ => {
            ctx.expected(node, path, "a string");
            None
        }
    }
}

pub fn number(ctx: Ctx, node: &Node, path: &str, what: &str) -> Option<f64> {
    match &node.value {
        Value::Scalar(s) => match s.text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                ctx.expected(node, path, what);
                None
            }
        },
        _ => {
            ctx.expected(node, path, what);
            None
        }
    }
}

pub fn unsigned(ctx: Ctx, node: &Node, path: &str) -> Option<u64> {
    match &node.value {
        Value::Scalar(s) if s.plain => match s.text.replace('_', "").parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => {
                ctx.expected(node, path, "a whole number of 0 or more");
                None
            }
        },
        _ => {
            ctx.expected(node, path, "a whole number of 0 or more");
            None
        }
    }
}

pub fn boolean(ctx: Ctx, node: &Node, path: &str) -> Option<bool> {
    match &node.value {
        Value::Scalar(s) if s.plain && matches!(s.text.as_str(), "true" | "True" | "TRUE") => {
            Some(true)
        }
        Value::Scalar(s) if s.plain && matches!(s.text.as_str(), "false" | "False" | "FALSE") => {
            Some(false)
        }
        _ => {
            ctx.expected(node, path, "`true` or `false`");
            None
        }
    }
}

pub fn duration(ctx: Ctx, node: &Node, path: &str) -> Option<Duration> {
    let text = string(ctx, node, path)?;
    match bounded_duration(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            ctx.error(node.pos, path, e);
            None
        }
    }
}

/// A list of strings; a single string is accepted as a one-element list.
pub fn string_list(ctx: Ctx, node: &Node, path: &str) -> Vec<(String, Pos)> {
    match &node.value {
        Value::Scalar(s) => vec![(s.text.clone(), node.pos)],
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                string(ctx, item, &format!("{path}[{i}]")).map(|s| (s, item.pos))
            })
            .collect(),
        _ => {
            ctx.expected(node, path, "a list of strings");
            Vec::new()
        }
    }
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, and `__` prefixes are reserved.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// A mapping of label names to values; with `check_names`, each name must be a valid Prometheus label name.
pub fn label_map(ctx: Ctx, node: &Node, path: &str, check_names: bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Value::Map(entries) = &node.value else {
        ctx.expected(node, path, "a mapping of names to values");
        return out;
    };
    for entry in entries {
        let field = join(path, &entry.key);
        if check_names && !is_valid_label_name(&entry.key) {
            ctx.error(entry.key_pos, &field, format!("`{}` is not a valid label name: expected letters, digits and `_`, not starting with a digit or `__`", entry.key));
            continue;
        }
        match &entry.value.value {
            Value::Scalar(s) => {
                out.insert(entry.key.clone(), s.text.clone());
            }
            Value::Null => {
                out.insert(entry.key.clone(), String::new());
            }
            _ => ctx.expected(&entry.value, &field, "a string value"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::yaml::parse_documents;

    fn decode_with<T>(source: &str, f: impl FnOnce(Ctx, &Node) -> T) -> (T, Vec<Diagnostic>) {
        let doc = parse_documents(source).unwrap().remove(0);
        let diags = RefCell::new(Diagnostics::default());
        let out = f(Ctx::new(Path::new("f.yaml"), &diags), &doc);
        (out, diags.into_inner().sorted())
    }

    #[test]
    fn unknown_fields_are_reported_with_a_suggestion() {
        let (_, diags) = decode_with("name: x\nobjetive: 99\nzzz: 1\n", |ctx, node| {
            let mut f = Fields::new(ctx, node, "slos[0]", &["name", "objective"]).unwrap();
            f.string("name");
            f.finish();
        });
        assert_eq!(diags.len(), 2);
        assert_eq!((diags[0].line, diags[0].column), (2, 1));
        assert!(
            diags[0].message.contains("did you mean `objective`"),
            "{}",
            diags[0].message
        );
        assert_eq!(diags[0].field.as_deref(), Some("slos[0].objetive"));
        assert!(
            diags[1]
                .message
                .contains("expected one of `name`, `objective`"),
            "{}",
            diags[1].message
        );
    }

    #[test]
    fn a_flood_of_unknown_fields_is_summed_up() {
        let source: String = (0..1000).map(|i| format!("k{i}: 1\n")).collect();
        let (_, diags) = decode_with(&source, |ctx, node| {
            Fields::new(ctx, node, "slos[0]", &["name"])
                .unwrap()
                .finish();
        });
        assert_eq!(diags.len(), MAX_UNKNOWN_FIELDS + 1);
        let last = &diags[MAX_UNKNOWN_FIELDS];
        assert_eq!(last.line, MAX_UNKNOWN_FIELDS + 1);
        assert_eq!(
            last.message,
            "980 more unknown fields from here on (only the first 20 of a mapping are listed); expected only `name`"
        );
    }

    #[test]
    fn wrong_types_name_what_was_expected() {
        let (values, diags) = decode_with("a: [1]\nb: yes\nc: 5x\nd: 12\n", |ctx, node| {
            let mut f = Fields::new(ctx, node, "", &["a", "b", "c", "d"]).unwrap();
            (
                f.string("a"),
                f.boolean("b"),
                f.duration("c"),
                f.get("d").and_then(|n| unsigned(ctx, n, "d")),
            )
        });
        assert_eq!(values, (None, None, None, Some(12)));
        let messages: Vec<_> = diags.iter().map(|d| (d.line, d.message.as_str())).collect();
        assert_eq!(messages[0], (1, "expected a string, found a list"));
        assert_eq!(messages[1], (2, "expected `true` or `false`, found `yes`"));
        assert_eq!(messages[2].0, 3);
        assert!(messages[2].1.contains("not a duration"));
    }

    #[test]
    fn one_kind_takes_exactly_one() {
        const KINDS: [&str; 3] = ["ratio", "latency", "events"];
        let pick = |source: &str| {
            decode_with(source, |ctx, node| {
                one_kind(ctx, node, "indicator", &KINDS, "indicator kind").map(
                    |(kind, body, field)| (kind, body.scalar_text().map(str::to_string), field),
                )
            })
        };
        let (one, diags) = pick("latency: x\n");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            one,
            Some((
                "latency",
                Some("x".to_string()),
                "indicator.latency".to_string()
            ))
        );
        let (none, diags) = pick("other: 1\n");
        assert_eq!(none, None);
        let messages: Vec<_> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "expected exactly one indicator kind (`ratio`, `latency`, `events`), found none",
                "unknown field `other`; expected one of `ratio`, `latency`, `events`",
            ]
        );
        let (two, diags) = pick("ratio: 1\nevents: 2\n");
        assert_eq!(two, None);
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0].message.ends_with("found `ratio`, `events`"),
            "{}",
            diags[0].message
        );
    }

    #[test]
    fn durations_are_at_most_five_years() {
        let (values, diags) = decode_with(
            "a: 5y\nb: 1826d\nc: 99999999999999999999y\n",
            |ctx, node| {
                let mut f = Fields::new(ctx, node, "", &["a", "b", "c"]).unwrap();
                (
                    f.duration("a").map(|(d, _)| d),
                    f.duration("b"),
                    f.duration("c"),
                )
            },
        );
        assert_eq!(values, (Some(Duration::from_days(1825)), None, None));
        assert_eq!(
            diags[0].message,
            "`1826d` is longer than 1825d (5y), the longest duration a catalog may give"
        );
        assert_eq!(diags[0].field.as_deref(), Some("b"));
        assert_eq!(
            diags[1].message,
            "`99999999999999999999y` is longer than 1825d (5y), the longest duration a catalog may give"
        );
    }

    #[test]
    fn label_names_are_checked() {
        let (labels, diags) = decode_with(
            "labels: {team: a, 1bad: b, __x: c, ok_2: \"\"}\n",
            |ctx, node| label_map(ctx, node.get("labels").unwrap(), "labels", true),
        );
        assert_eq!(labels.keys().collect::<Vec<_>>(), ["ok_2", "team"]);
        assert_eq!(diags.len(), 2);
        assert!(
            diags
                .iter()
                .all(|d| d.message.contains("not a valid label name"))
        );
    }
}
