//! A YAML document as a tree of strings that remembers the line of every node.
//!
//! TagPacks are text throughout (dates, ids like `'01'`, country codes like `NO`), so
//! scalars stay strings as written; the importers interpret them. Lines let invalid
//! tags be reported where they are. Anchors and aliases are resolved by copying.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML node with its 1-based line.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A scalar as written; `plain` is false for quoted and block scalars.
    Scalar {
        /// The text.
        value: String,
        /// Whether the scalar was unquoted (so `~`, `null` and empty mean null).
        plain: bool,
        /// Line of the scalar.
        line: usize,
    },
    /// A sequence.
    Seq(Vec<Node>, usize),
    /// A mapping in document order.
    Map(Vec<(Node, Node)>, usize),
}

impl Node {
    /// Line where the node starts.
    pub fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. } | Node::Seq(_, line) | Node::Map(_, line) => *line,
        }
    }

    /// Whether this is a null scalar (`~`, `null`, empty, unquoted).
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { value, plain: true, .. }
            if value.is_empty() || value == "~" || value.eq_ignore_ascii_case("null"))
    }

    /// The text of a non-null scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, .. } if !self.is_null() => Some(value),
            _ => None,
        }
    }

    /// Value of `key` in a mapping (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries, _) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn entries(&self) -> Option<&[(Node, Node)]> {
        match self {
            Node::Map(e, _) => Some(e),
            _ => None,
        }
    }

    /// The items of a sequence.
    pub fn items(&self) -> Option<&[Node]> {
        match self {
            Node::Seq(items, _) => Some(items),
            _ => None,
        }
    }

    /// A JSON rendering (plain scalars that look like numbers/booleans/null become such).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Scalar { value, plain, .. } => {
                if !plain {
                    return Value::String(value.clone());
                }
                if self.is_null() {
                    return Value::Null;
                }
                match value.as_str() {
                    "true" | "True" | "TRUE" => return Value::Bool(true),
                    "false" | "False" | "FALSE" => return Value::Bool(false),
                    _ => {}
                }
                if let Ok(i) = value.parse::<i64>() {
                    return Value::from(i);
                }
                if let Ok(f) = value.parse::<f64>() {
                    if f.is_finite() {
                        return Value::from(f);
                    }
                }
                Value::String(value.clone())
            }
            Node::Seq(items, _) => Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Map(entries, _) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What went wrong.
    pub message: String,
}

enum Frame {
    Seq(Vec<Node>, usize, usize),
    Map(Vec<(Node, Node)>, Option<Node>, usize, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: std::collections::HashMap<usize, Node>,
    error: Option<YamlError>,
}

impl Builder {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, pending, _, _)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => *pending = Some(node),
            },
            None => self.docs.push(node),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(value, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                self.push_node(Node::Scalar { value, plain, line }, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq(Vec::new(), line, anchor))
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Vec::new(), None, line, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(items, l, anchor)) => self.push_node(Node::Seq(items, l), anchor),
                Some(Frame::Map(entries, _, l, anchor)) => {
                    self.push_node(Node::Map(entries, l), anchor)
                }
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => self.push_node(node, 0),
                None if self.error.is_none() => {
                    self.error = Some(YamlError {
                        line,
                        col: mark.col(),
                        message: "alias to an unknown anchor".to_string(),
                    })
                }
                None => {}
            },
            _ => {}
        }
    }
}

/// Parses the first document of `text`.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| YamlError {
        line: e.marker().line(),
        col: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    builder.docs.into_iter().next().ok_or(YamlError {
        line: 1,
        col: 1,
        message: "empty YAML document".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_strings() {
        let doc =
            parse("title: x\nlastmod: 2021-11-12\ntags:\n- address: '01'\n  n: NO\n- address: b\n")
                .unwrap();
        assert_eq!(doc.get("lastmod").unwrap().as_str(), Some("2021-11-12"));
        let tags = doc.get("tags").unwrap().items().unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].get("address").unwrap().as_str(), Some("01"));
        assert_eq!(tags[0].get("n").unwrap().as_str(), Some("NO"));
        assert_eq!(tags[0].get("address").unwrap().line(), 4);
        assert_eq!(tags[1].get("address").unwrap().line(), 6);
    }

    #[test]
    fn anchors_and_errors() {
        let doc = parse("a: &x {k: v}\nb: *x\nc: ~\n").unwrap();
        assert_eq!(doc.get("b").unwrap().get("k").unwrap().as_str(), Some("v"));
        assert!(doc.get("c").unwrap().is_null());
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.line >= 1, "{e:?}");
    }
}
