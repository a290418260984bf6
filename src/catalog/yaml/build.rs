//! Building the tree from the parser's events, counting every node, every
//! byte of text and every level of nesting against the file's [`Limits`]
//! before it is built or copied.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, ScalarStyle};

use super::{Entry, Limits, Node, Scalar, Value, YamlError};
use crate::catalog::diagnostic::Pos;

fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// What a subtree costs: its nodes and text, and how many collections deep it goes.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    nodes: usize,
    text: usize,
    height: usize,
}

/// A mapping key waiting for its value.
struct Key {
    text: String,
    pos: Pos,
    plain: bool,
}

enum Body {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        key: Option<Key>,
        /// The value of a `<<` merge key, applied when the mapping ends.
        merge: Option<Node>,
    },
}

/// A collection being read.
struct Frame {
    pos: Pos,
    anchor: usize,
    size: Size,
    body: Body,
}

pub(super) struct Builder {
    limits: Limits,
    stack: Vec<Frame>,
    /// Anchored nodes of the current document, by the parser's anchor id.
    anchors: HashMap<usize, (Node, Size)>,
    /// What the file has cost so far.
    used: Size,
    root: Option<Node>,
    pub(super) docs: Vec<Node>,
}

impl Builder {
    pub(super) fn new(limits: Limits) -> Self {
        Builder {
            limits,
            stack: Vec::new(),
            anchors: HashMap::new(),
            used: Size::default(),
            root: None,
            docs: Vec::new(),
        }
    }

    pub(super) fn event(&mut self, event: Event, pos: Pos) -> Result<(), YamlError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain;
                // A key keeps its text even when it spells null (`~: x`).
                let value = if plain && tag.is_none() && is_null_text(&text) && !self.wants_key() {
                    Value::Null
                } else {
                    Value::Scalar(Scalar {
                        text: text.into_owned(),
                        plain,
                    })
                };
                let size = Size {
                    nodes: 1,
                    text: match &value {
                        Value::Scalar(s) => s.text.len(),
                        _ => 0,
                    },
                    height: 0,
                };
                self.charge(size, pos)?;
                self.place(Node { pos, value }, size, anchor)
            }
            Event::Alias(id) => {
                let Some(size) = self.anchors.get(&id).map(|(_, size)| *size) else {
                    return Err(YamlError::syntax(pos, "an alias to an unknown anchor"));
                };
                // Counted before it is copied, so an alias bomb never gets built.
                self.check_depth(self.stack.len() + size.height, pos)?;
                self.charge(size, pos)?;
                let mut node = self.anchors[&id].0.clone();
                node.pos = pos;
                self.place(node, size, 0)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.wants_key() {
                    return Err(YamlError::syntax(pos, "mapping keys must be plain strings"));
                }
                self.check_depth(self.stack.len() + 1, pos)?;
                let size = Size {
                    nodes: 1,
                    text: 0,
                    height: 1,
                };
                self.charge(size, pos)?;
                let body = if matches!(event, Event::SequenceStart(..)) {
                    Body::Seq(Vec::new())
                } else {
                    Body::Map {
                        entries: Vec::new(),
                        key: None,
                        merge: None,
                    }
                };
                self.stack.push(Frame {
                    pos,
                    anchor,
                    size,
                    body,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(YamlError::syntax(
                        pos,
                        "a collection ends that never started",
                    ));
                };
                let value = match frame.body {
                    Body::Seq(items) => Value::Seq(items),
                    Body::Map { entries, merge, .. } => Value::Map(with_merged(entries, merge)?),
                };
                let node = Node {
                    pos: frame.pos,
                    value,
                };
                self.place(node, frame.size, frame.anchor)
            }
            Event::DocumentEnd => {
                if let Some(root) = self.root.take()
                    && root.value != Value::Null
                {
                    self.docs.push(root);
                }
                self.anchors.clear();
                Ok(())
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::Nothing => {
                Ok(())
            }
        }
    }

    /// Whether the next node is a mapping key.
    fn wants_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                body: Body::Map { key: None, .. },
                ..
            })
        )
    }

    fn check_depth(&self, depth: usize, pos: Pos) -> Result<(), YamlError> {
        if depth > self.limits.depth {
            return Err(self.too_deep(pos));
        }
        Ok(())
    }

    pub(super) fn too_deep(&self, pos: Pos) -> YamlError {
        YamlError::limit(
            pos,
            format!(
                "YAML nested more than {} levels deep (the limit)",
                self.limits.depth
            ),
        )
    }

    /// Counts a new subtree against the file's limits, before it is built or copied.
    fn charge(&mut self, size: Size, pos: Pos) -> Result<(), YamlError> {
        self.used.nodes = self.used.nodes.saturating_add(size.nodes);
        self.used.text = self.used.text.saturating_add(size.text);
        let over = if self.used.nodes > self.limits.nodes {
            format!("{} YAML nodes", self.limits.nodes)
        } else if self.used.text > self.limits.text {
            format!("{} MiB of text", self.limits.text >> 20)
        } else {
            return Ok(());
        };
        Err(YamlError::limit(
            pos,
            format!(
                "the file expands to more than {over} (the limit; each use of an anchor or alias counts what it copies again)"
            ),
        ))
    }

    /// Puts a finished node into its parent (or makes it the document).
    fn place(&mut self, node: Node, size: Size, anchor: usize) -> Result<(), YamlError> {
        if anchor > 0 {
            self.charge(size, node.pos)?;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        frame.size.nodes += size.nodes;
        frame.size.text += size.text;
        frame.size.height = frame.size.height.max(size.height + 1);
        match &mut frame.body {
            Body::Seq(items) => items.push(node),
            Body::Map {
                entries,
                key,
                merge,
            } => match key.take() {
                None => {
                    let (text, plain) = match node.value {
                        Value::Scalar(s) => (s.text, s.plain),
                        Value::Null => (String::new(), true),
                        _ => {
                            return Err(YamlError::syntax(
                                node.pos,
                                "mapping keys must be plain strings",
                            ));
                        }
                    };
                    *key = Some(Key {
                        text,
                        pos: node.pos,
                        plain,
                    });
                }
                // YAML merge keys (`<<: *defaults`) let a file share blocks without repeating them.
                Some(k) if k.plain && k.text == "<<" => {
                    if merge.replace(node).is_some() {
                        return Err(YamlError::syntax(k.pos, "duplicate key `<<` in a mapping"));
                    }
                }
                Some(k) => entries.push(Entry {
                    key: k.text,
                    key_pos: k.pos,
                    value: node,
                }),
            },
        }
        Ok(())
    }
}

/// A mapping's own entries, then those its `<<` merge key brings that it
/// does not set itself; a key written twice is an error.
fn with_merged(mut entries: Vec<Entry>, merge: Option<Node>) -> Result<Vec<Entry>, YamlError> {
    // Sorting positions finds duplicates in n log n, however many keys there are.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| entries[a].key.cmp(&entries[b].key).then(a.cmp(&b)));
    let duplicate = order
        .windows(2)
        .filter(|w| entries[w[0]].key == entries[w[1]].key)
        .map(|w| w[1])
        .min();
    if let Some(i) = duplicate {
        return Err(YamlError::syntax(
            entries[i].key_pos,
            format!("duplicate key `{}` in a mapping", entries[i].key),
        ));
    }
    let Some(value) = merge else {
        return Ok(entries);
    };
    let mut seen: HashSet<String> = entries.iter().map(|e| e.key.clone()).collect();
    let not_a_mapping = |pos| {
        YamlError::syntax(
            pos,
            "a merge key (`<<`) takes a mapping or a list of mappings",
        )
    };
    // From a list of mappings, the first to set a key wins.
    let maps: Vec<Vec<Entry>> = match value.value {
        Value::Map(inner) => vec![inner],
        Value::Seq(items) => items
            .into_iter()
            .map(|item| match item.value {
                Value::Map(inner) => Ok(inner),
                _ => Err(not_a_mapping(item.pos)),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(not_a_mapping(value.pos)),
    };
    for entry in maps.into_iter().flatten() {
        if seen.insert(entry.key.clone()) {
            entries.push(entry);
        }
    }
    Ok(entries)
}
