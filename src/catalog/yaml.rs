//! A YAML tree that remembers where every node and key came from.
//!
//! Scalars keep their source text (so `99.995` is never rounded through a
//! float before we see it) and whether they were quoted (so `"5"` is a string).

use std::borrow::Cow;

use saphyr::{MarkedYaml, ScalarStyle, YamlData};
use saphyr_parser::Parser;

use super::diagnostic::Pos;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Plain (unquoted, not a block scalar): only plain scalars can be numbers or booleans.
    pub plain: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    /// What the node is, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing (null)",
            Value::Scalar(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` if this node is a mapping holding it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// The scalar's text, whatever its style.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }
}

/// Parses every document of a YAML stream. Empty documents are skipped.
pub fn parse_documents(source: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(source);
    let mut loader = saphyr::YamlLoader::<MarkedYaml>::default();
    loader.early_parse(false);
    let to_error = |e: &saphyr::ScanError| SyntaxError {
        pos: Pos {
            line: e.marker().line(),
            column: e.marker().col() + 1,
        },
        message: e.info().to_string(),
    };
    parser.load(&mut loader, true).map_err(|e| to_error(&e))?;
    if let Some(e) = loader.error() {
        return Err(to_error(e));
    }
    loader
        .into_documents()
        .into_iter()
        .filter(|doc| !is_null(doc))
        .map(|doc| convert(&doc))
        .collect()
}

fn is_null(node: &MarkedYaml) -> bool {
    match &node.data {
        YamlData::Representation(text, ScalarStyle::Plain, None) => {
            matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
        }
        YamlData::Value(saphyr::Scalar::Null) => true,
        _ => false,
    }
}

fn pos_of(node: &MarkedYaml) -> Pos {
    Pos {
        line: node.span.start.line(),
        column: node.span.start.col() + 1,
    }
}

fn convert(node: &MarkedYaml) -> Result<Node, SyntaxError> {
    let pos = pos_of(node);
    let value = match &node.data {
        _ if is_null(node) => Value::Null,
        YamlData::Representation(text, style, _tag) => Value::Scalar(Scalar {
            text: text.to_string(),
            plain: *style == ScalarStyle::Plain,
        }),
        YamlData::Value(scalar) => Value::Scalar(Scalar {
            text: scalar_to_text(scalar),
            plain: true,
        }),
        YamlData::Sequence(items) => {
            Value::Seq(items.iter().map(convert).collect::<Result<_, _>>()?)
        }
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            let mut merged: Vec<Entry> = Vec::new();
            for (key, value) in map.iter() {
                let key_text = match &key.data {
                    YamlData::Representation(text, _, _) => text.to_string(),
                    YamlData::Value(scalar) => scalar_to_text(scalar),
                    _ => {
                        return Err(SyntaxError {
                            pos: pos_of(key),
                            message: "mapping keys must be plain strings".into(),
                        });
                    }
                };
                let value = convert(value)?;
                // YAML merge keys (`<<: *defaults`) let a file share blocks without repeating them.
                if key_text == "<<"
                    && matches!(
                        &key.data,
                        YamlData::Representation(_, ScalarStyle::Plain, _)
                    )
                {
                    match value.value {
                        Value::Map(inner) => merged.extend(inner),
                        Value::Seq(items) => {
                            for item in items {
                                match item.value {
                                    Value::Map(inner) => merged.extend(inner),
                                    _ => return Err(SyntaxError { pos: item.pos, message: "a merge key (`<<`) takes a mapping or a list of mappings".into() }),
                                }
                            }
                        }
                        _ => {
                            return Err(SyntaxError {
                                pos: value.pos,
                                message: "a merge key (`<<`) takes a mapping or a list of mappings"
                                    .into(),
                            });
                        }
                    }
                    continue;
                }
                entries.push(Entry {
                    key: key_text,
                    key_pos: pos_of(key),
                    value,
                });
            }
            for entry in merged {
                if !entries.iter().any(|e| e.key == entry.key) {
                    entries.push(entry);
                }
            }
            Value::Map(entries)
        }
        YamlData::Tagged(_, inner) => return convert(inner),
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(SyntaxError {
                pos,
                message: "unresolvable alias or invalid value".into(),
            });
        }
    };
    Ok(Node { pos, value })
}

fn scalar_to_text(scalar: &saphyr::Scalar) -> String {
    match scalar {
        saphyr::Scalar::Null => String::new(),
        saphyr::Scalar::Boolean(b) => b.to_string(),
        saphyr::Scalar::Integer(i) => i.to_string(),
        saphyr::Scalar::FloatingPoint(f) => f.to_string(),
        saphyr::Scalar::String(s) => Cow::to_string(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_scalar_text() {
        let docs = parse_documents("a: 99.995\nb:\n  - \"5\"\n  - x\n---\nc: 1\n").unwrap();
        assert_eq!(docs.len(), 2);
        let a = docs[0].get("a").unwrap();
        assert_eq!(
            a.value,
            Value::Scalar(Scalar {
                text: "99.995".into(),
                plain: true
            })
        );
        assert_eq!(a.pos, Pos { line: 1, column: 4 });
        let b = docs[0].get("b").unwrap();
        let Value::Seq(items) = &b.value else {
            panic!("expected a list")
        };
        assert_eq!(
            items[0].value,
            Value::Scalar(Scalar {
                text: "5".into(),
                plain: false
            })
        );
        assert_eq!(items[1].pos, Pos { line: 4, column: 5 });
        assert_eq!(docs[1].get("c").unwrap().pos.line, 6);
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let err = parse_documents("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
        let dup = parse_documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(dup.pos.line, 2);
        assert!(dup.message.contains("duplicate"), "{}", dup.message);
    }

    #[test]
    fn resolves_anchors_and_merge_keys() {
        let docs = parse_documents("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n").unwrap();
        let thing = docs[0].get("thing").unwrap();
        assert_eq!(thing.get("x").and_then(Node::scalar_text), Some("1"));
        assert_eq!(thing.get("y").and_then(Node::scalar_text), Some("3"));
    }

    #[test]
    fn skips_empty_documents() {
        assert_eq!(parse_documents("---\n---\na: 1\n").unwrap().len(), 1);
        assert!(parse_documents("").unwrap().is_empty());
    }
}
