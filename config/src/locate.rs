//! Maps a path inside a YAML document (`monitors[3].group_by[1]`) to the
//! line and column where it was written, so that validation errors point at
//! the exact spot. serde forgets positions; this second, event-level read of
//! the same text keeps them.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_string())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Line, 1-based.
    pub line: usize,
    /// Column, 1-based.
    pub column: usize,
}

impl From<Marker> for Position {
    fn from(m: Marker) -> Self {
        Position {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

/// Positions of every node of a YAML document, by path.
#[derive(Debug, Default)]
pub struct Locator {
    values: HashMap<Vec<Seg>, Position>,
    keys: HashMap<Vec<Seg>, Position>,
}

impl Locator {
    /// Reads the positions of `text`; an unparsable text gives an empty locator.
    pub fn new(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Locator::default();
        }
        Locator {
            values: builder.values,
            keys: builder.keys,
        }
    }

    /// Where the value at `path` was written, or its nearest written ancestor.
    pub fn value(&self, path: &[Seg]) -> Position {
        self.find(&self.values, path)
    }

    /// Where the key that ends `path` was written (falls back to `value`).
    pub fn key(&self, path: &[Seg]) -> Position {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.value(path))
    }

    /// Where a key named `name` was first written anywhere under `prefix`
    /// (used to place serde's "unknown field" errors).
    pub fn key_named(&self, prefix: &[Seg], name: &str) -> Option<Position> {
        self.keys
            .iter()
            .filter(|(path, _)| {
                path.starts_with(prefix) && path.last() == Some(&Seg::Key(name.to_string()))
            })
            .map(|(_, p)| *p)
            .min_by_key(|p| (p.line, p.column))
    }

    fn find(&self, map: &HashMap<Vec<Seg>, Position>, path: &[Seg]) -> Position {
        (0..=path.len())
            .rev()
            .find_map(|n| map.get(&path[..n]).copied())
            .unwrap_or(Position { line: 1, column: 1 })
    }
}

enum Frame {
    Map { key: Option<String>, keys: usize },
    Seq { next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    path: Vec<Seg>,
    values: HashMap<Vec<Seg>, Position>,
    keys: HashMap<Vec<Seg>, Position>,
}

impl Builder {
    /// Called at the start of every node; returns true when the node is a
    /// mapping key rather than a value.
    fn begin_node(&mut self, mark: Marker, scalar: Option<&str>) -> bool {
        let at_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
        if at_key {
            // A key: only scalar keys are addressable.
            let name = scalar.unwrap_or("").to_string();
            let mut path = self.path.clone();
            path.push(Seg::Key(name.clone()));
            self.keys.insert(path, mark.into());
            if let Some(Frame::Map { key, keys }) = self.stack.last_mut() {
                *key = Some(name);
                *keys += 1;
                if *keys == 1 {
                    // A block mapping is marked at its first `:`; its first
                    // key is where a reader sees it start.
                    self.values.insert(self.path.clone(), mark.into());
                }
            }
            return true;
        }
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => {
                let name = key.take().unwrap_or_default();
                self.path.push(Seg::Key(name));
            }
            Some(Frame::Seq { next }) => {
                self.path.push(Seg::Index(*next));
                *next += 1;
            }
            None => {}
        }
        self.values.insert(self.path.clone(), mark.into());
        false
    }

    /// A scalar or alias: a node that ends where it starts.
    fn leaf(&mut self, mark: Marker, scalar: Option<&str>) {
        if !self.begin_node(mark, scalar) {
            self.end_node();
        }
    }

    fn end_node(&mut self) {
        if !self.stack.is_empty() {
            self.path.pop();
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) => self.leaf(mark, Some(&text)),
            Event::Alias(_) => self.leaf(mark, None),
            Event::MappingStart(..) => {
                self.begin_node(mark, None);
                self.stack.push(Frame::Map { key: None, keys: 0 });
            }
            Event::SequenceStart(..) => {
                self.begin_node(mark, None);
                self.stack.push(Frame::Seq { next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.end_node();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_and_keys() {
        let text = "monitors:\n  - name: a\n    group_by: [x, y]\n  - name: b\n";
        let loc = Locator::new(text);
        let p = |segs: Vec<Seg>| segs;
        assert_eq!(
            loc.value(&p(vec!["monitors".into(), 0.into(), "name".into()])),
            Position {
                line: 2,
                column: 11
            }
        );
        assert_eq!(
            loc.value(&p(vec![
                "monitors".into(),
                0.into(),
                "group_by".into(),
                1.into()
            ])),
            Position {
                line: 3,
                column: 19
            }
        );
        assert_eq!(
            loc.key(&p(vec!["monitors".into(), 1.into(), "name".into()])),
            Position { line: 4, column: 5 }
        );
        // A missing path falls back to its nearest ancestor.
        assert_eq!(
            loc.value(&p(vec!["monitors".into(), 1.into(), "nope".into()])),
            Position { line: 4, column: 5 }
        );
    }
}
