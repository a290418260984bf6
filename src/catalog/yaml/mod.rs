//! A YAML tree that remembers where every node and key came from.
//!
//! Scalars keep their source text (so `99.995` is never rounded through a
//! float before we see it) and whether they were quoted (so `"5"` is a string).

mod build;

use std::cell::Cell;
use std::fmt;

use saphyr_parser::{Marker, Parser};

use super::diagnostic::Pos;
use build::Builder;

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

/// Why a YAML stream could not be read: a syntax error, or a limit the file goes past.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
    pub over_limit: bool,
}

impl YamlError {
    fn syntax(pos: Pos, message: impl Into<String>) -> Self {
        YamlError {
            pos,
            message: message.into(),
            over_limit: false,
        }
    }
    fn limit(pos: Pos, message: String) -> Self {
        YamlError {
            pos,
            message,
            over_limit: true,
        }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.over_limit {
            f.write_str(&self.message)
        } else {
            write!(f, "YAML syntax error: {}", self.message)
        }
    }
}

/// How much one file may ask of the parser. Anchors and aliases let a few
/// hundred bytes describe a tree of billions of nodes, and nesting lets a
/// small file run any recursive code out of stack; these bound both, for
/// every format, before a tree is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Collections nested inside one another (a catalog needs about ten).
    pub depth: usize,
    /// Nodes, mapping keys included, counting every copy an anchor or alias makes.
    pub nodes: usize,
    /// Bytes of scalar text, keys included, counting every copy as well.
    pub text: usize,
    /// Characters the parser may read past the last event it produced.
    /// saphyr-parser holds every token of a flow collection that could be a
    /// mapping key (`- [a, b, …]`) until the collection ends, at some 200
    /// bytes a token, so this bounds its memory; it also bounds one scalar.
    pub lookahead: usize,
}

/// The limits `burnrate check`, `serve` and every other command load catalogs with.
pub const LIMITS: Limits = Limits {
    depth: 64,
    nodes: 1_000_000,
    text: 32 << 20,
    lookahead: 512 << 10,
};

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

/// Parses every document of a YAML stream within [`LIMITS`]. Empty documents are skipped.
pub fn parse_documents(source: &str) -> Result<Vec<Node>, YamlError> {
    parse_documents_within(source, LIMITS)
}

/// Parses every document of a YAML stream, refusing it once it goes past `limits`.
///
/// The tree is built from the parser's events with an explicit stack, so
/// neither the depth of the input nor an alias's expansion ever turns into
/// recursion or memory before it has been counted.
pub fn parse_documents_within(source: &str, limits: Limits) -> Result<Vec<Node>, YamlError> {
    let reach = Cell::new(limits.lookahead);
    let cut = Cell::new(false);
    let input = Metered {
        chars: source.chars(),
        read: 0,
        reach: &reach,
        cut: &cut,
    };
    let mut parser = Parser::new_from_iter(input);
    let mut builder = Builder::new(limits);
    let mut last = Pos { line: 1, column: 1 };
    let lookahead_error = |last: Pos| {
        YamlError::limit(
            last,
            format!(
                "more than {} KiB of YAML after this point make one scalar or one flow collection (`[…]`, `{{…}}`), more than the parser may hold at once; write long lists in block style, one `- item` per line",
                limits.lookahead >> 10
            ),
        )
    };
    while let Some(event) = parser.next_event() {
        let (event, span) = match event {
            Ok(event) => event,
            Err(_) if cut.get() => return Err(lookahead_error(last)),
            // The scanner's own bound (255 open flow collections) can come
            // first, while it reads ahead of the events that would reach ours.
            Err(e) if e.info() == "recursion limit exceeded" => {
                return Err(builder.too_deep(pos_of(e.marker())));
            }
            Err(e) => return Err(YamlError::syntax(pos_of(e.marker()), e.info())),
        };
        builder.event(event, pos_of(&span.start))?;
        reach.set(reach.get().max(span.end.index() + limits.lookahead));
        last = pos_of(&span.end);
    }
    // A cut can also end the stream where a document may end, leaving a tree that looks whole.
    if cut.get() {
        return Err(lookahead_error(last));
    }
    Ok(builder.docs)
}

/// The source as the parser reads it, ending early once the parser has read
/// `reach` characters: the last event's end plus [`Limits::lookahead`].
struct Metered<'a> {
    chars: std::str::Chars<'a>,
    read: usize,
    reach: &'a Cell<usize>,
    cut: &'a Cell<bool>,
}

impl Iterator for Metered<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        if self.read >= self.reach.get() {
            // Reaching the end of the source there is no cut.
            self.cut.set(!self.chars.as_str().is_empty());
            return None;
        }
        self.read += 1;
        self.chars.next()
    }
}

fn pos_of(marker: &Marker) -> Pos {
    Pos {
        line: marker.line(),
        column: marker.col() + 1,
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
    fn merge_lists_give_the_first_mapping_precedence() {
        let docs =
            parse_documents("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n")
                .unwrap();
        let c = docs[0].get("c").unwrap();
        let values: Vec<_> = ["x", "y", "z"]
            .map(|k| c.get(k).and_then(Node::scalar_text))
            .to_vec();
        assert_eq!(values, [Some("1"), Some("1"), Some("3")]);
        let err = parse_documents("a: {x: 1}\nb:\n  <<: {y: 1}\n  <<: {z: 1}\n").unwrap_err();
        assert_eq!(err.pos.line, 4);
        assert!(parse_documents("b:\n  <<: [x]\n").is_err());
    }

    #[test]
    fn skips_empty_documents() {
        assert_eq!(parse_documents("---\n---\na: 1\n").unwrap().len(), 1);
        assert!(parse_documents("").unwrap().is_empty());
    }

    fn limit_error(source: &str, limits: Limits) -> YamlError {
        let err = parse_documents_within(source, limits).unwrap_err();
        assert!(err.over_limit, "{err:?}");
        err
    }

    const SMALL: Limits = Limits {
        depth: 8,
        nodes: 100,
        text: 1000,
        lookahead: 2048,
    };

    #[test]
    fn nesting_is_bounded_before_anything_recurses() {
        let within = format!("{}x\n", "- ".repeat(8));
        assert_eq!(parse_documents_within(&within, SMALL).unwrap().len(), 1);
        let err = limit_error(&format!("{}x\n", "- ".repeat(9)), SMALL);
        assert_eq!(
            err.pos,
            Pos {
                line: 1,
                column: 17
            }
        );
        assert_eq!(
            err.message,
            "YAML nested more than 8 levels deep (the limit)"
        );
        // Far deeper than any stack could recurse: refused at level 65.
        let err = limit_error(&"- ".repeat(200_000), LIMITS);
        assert!(err.message.contains("64 levels"), "{}", err.message);
        let err = limit_error(
            &format!("{}x{}", "{a: ".repeat(100), "}".repeat(100)),
            LIMITS,
        );
        assert_eq!(err.pos.column, 4 * 64 + 1);
        // An alias counts the depth of what it copies.
        let err = limit_error("a: &a [[[[[[x]]]]]]\nb: [[*a]]\n", SMALL);
        assert_eq!(err.pos, Pos { line: 2, column: 6 });
    }

    #[test]
    fn alias_expansion_is_counted_before_it_is_copied() {
        let mut laughs = String::from("a0: &a0 lol\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(",");
            laughs += &format!("a{i}: &a{i} [{refs}]\n");
        }
        let err = limit_error(&laughs, LIMITS);
        assert!(
            err.message.contains("more than 1000000 YAML nodes"),
            "{}",
            err.message
        );
        // Aliases as keys are refused outright: keys are plain strings.
        let mut keys = String::from("l0: &l0 x\n");
        for i in 1..10 {
            let refs = vec![format!("*l{}", i - 1); 9].join(",");
            keys += &format!("l{i}: &l{i} {{? [{refs}] : 0}}\n");
        }
        let err = parse_documents(&keys).unwrap_err();
        assert_eq!(
            (err.pos.line, err.message.as_str()),
            (2, "mapping keys must be plain strings")
        );
        // Text counts too: one long scalar copied many times.
        let text = format!("a: &a {}\nb: [*a, *a, *a]\n", "x".repeat(300));
        let err = limit_error(&text, SMALL);
        assert!(err.message.contains("MiB of text"), "{}", err.message);
        // Within the limits, aliases copy their anchor's subtree as before.
        let docs = parse_documents_within("a: &a {x: 1}\nb: [*a, *a]\n", SMALL).unwrap();
        let b = docs[0].get("b").unwrap();
        assert_eq!(
            b,
            &Node {
                pos: b.pos,
                value: Value::Seq(vec![
                    Node {
                        pos: Pos { line: 2, column: 5 },
                        ..docs[0].get("a").unwrap().clone()
                    },
                    Node {
                        pos: Pos { line: 2, column: 9 },
                        ..docs[0].get("a").unwrap().clone()
                    }
                ])
            }
        );
    }

    #[test]
    fn keys_are_strings_and_unique() {
        let docs = parse_documents("~: 1\n'2': 2\nnull: 3\n").unwrap();
        let keys: Vec<_> = docs[0]
            .as_map()
            .unwrap()
            .iter()
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(keys, ["~", "2", "null"]);
        let mut many: String = (0..10_000).map(|i| format!("k{i}: {i}\n")).collect();
        many += "k42: again\n";
        let err = parse_documents(&many).unwrap_err();
        assert_eq!(err.pos.line, 10_001);
        assert_eq!(err.message, "duplicate key `k42` in a mapping");
        assert!(parse_documents("? [a]\n: 1\n").is_err());
    }

    #[test]
    fn the_parser_reads_only_so_far_ahead() {
        let limits = Limits {
            lookahead: 2048,
            ..LIMITS
        };
        // Every item of a list that could be a key is held until the list ends.
        let list = format!("- [{}x]\n", "x, ".repeat(1000));
        let err = limit_error(&list, limits);
        assert_eq!(err.pos.line, 1);
        assert!(
            err.message.starts_with("more than 2 KiB of YAML"),
            "{}",
            err.message
        );
        // A cut that happens to fall where a document could end is still a cut.
        let scalar = format!("a: |\n{}", "  text\n".repeat(1000));
        limit_error(&scalar, limits);
        // A file that ends exactly at the reach (the key's end plus 2048) is whole.
        let exact = format!("a: {}", "x".repeat(2046));
        assert_eq!(parse_documents_within(&exact, limits).unwrap().len(), 1);
        limit_error(&format!("{exact}x"), limits);
        // What was read and built is not held against the parser.
        let block: String = (0..1000).map(|i| format!("- [{i}]\n")).collect();
        assert_eq!(parse_documents_within(&block, limits).unwrap().len(), 1);
    }
}
