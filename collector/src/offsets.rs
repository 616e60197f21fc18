//! Which byte ranges of which agents' files the collector already holds, so
//! that a batch sent twice (after a lost acknowledgement, or replayed from
//! an agent's disk buffer) is counted once.
//!
//! A file is identified by agent, device and inode; its position is the
//! pair (generation, end offset), which only grows: a copy-truncate
//! rotation starts a new generation at offset 0.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
pub use vigil_model::fsutil::write_atomic;
use vigil_model::wire::{BatchHeader, FileOffset};

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not held yet: accept it.
    New,
    /// Already held: acknowledge it without using it again.
    Duplicate,
    /// Overlaps what is held without being part of it: refuse it; the agent
    /// must resume after `held`.
    Conflict {
        /// Offset just after the bytes held.
        held: u64,
    },
}

/// One file's held position, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    agent: String,
    dev: u64,
    ino: u64,
    gen: u32,
    end: u64,
}

/// The held positions of every agent's files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offsets {
    held: HashMap<(String, u64, u64), (u32, u64)>,
}

impl Offsets {
    /// What to do with batch `h` of `agent`. A batch that carries nothing
    /// (a flush marker) is always new: applying it twice changes nothing.
    pub fn check(&self, agent: &str, h: &BatchHeader) -> Verdict {
        if h.lines == 0 && h.too_long == 0 && h.rate_dropped == 0 {
            return Verdict::New;
        }
        let Some(&(gen, end)) = self.held.get(&(agent.to_string(), h.dev, h.ino)) else {
            return Verdict::New;
        };
        if h.gen != gen {
            return if h.gen > gen {
                Verdict::New
            } else {
                Verdict::Duplicate
            };
        }
        if h.end <= end {
            Verdict::Duplicate
        } else if h.start < end {
            Verdict::Conflict { held: end }
        } else {
            Verdict::New
        }
    }

    /// Records that batch `h` of `agent` is held.
    pub fn record(&mut self, agent: &str, h: &BatchHeader) {
        let slot = self
            .held
            .entry((agent.to_string(), h.dev, h.ino))
            .or_insert((h.gen, h.end));
        *slot = (*slot).max((h.gen, h.end));
    }

    /// The held positions of `agent`'s files, sorted.
    pub fn of_agent(&self, agent: &str) -> Vec<FileOffset> {
        let mut out: Vec<FileOffset> = self
            .held
            .iter()
            .filter(|((a, _, _), _)| a == agent)
            .map(|(&(_, dev, ino), &(gen, end))| FileOffset { dev, ino, gen, end })
            .collect();
        out.sort_by_key(|o| (o.dev, o.ino));
        out
    }

    /// Loads positions saved by [`Offsets::save`]; none if `path` is absent.
    pub fn load(path: &Path) -> io::Result<Self> {
        let text = match fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Offsets::default()),
            Err(e) => return Err(e),
        };
        let entries: Vec<Entry> = serde_json::from_slice(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let held = entries
            .into_iter()
            .map(|e| ((e.agent, e.dev, e.ino), (e.gen, e.end)))
            .collect();
        Ok(Offsets { held })
    }

    /// Saves the positions atomically (temporary file, sync, rename).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut entries: Vec<Entry> = self
            .held
            .iter()
            .map(|((agent, dev, ino), &(gen, end))| Entry {
                agent: agent.clone(),
                dev: *dev,
                ino: *ino,
                gen,
                end,
            })
            .collect();
        entries.sort_by(|a, b| (&a.agent, a.dev, a.ino).cmp(&(&b.agent, b.dev, b.ino)));
        let json = serde_json::to_vec(&entries).map_err(io::Error::other)?;
        write_atomic(path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(gen: u32, start: u64, end: u64, lines: u64) -> BatchHeader {
        BatchHeader {
            path: "/l/a.log".into(),
            dev: 1,
            ino: 2,
            gen,
            start,
            end,
            too_long: 0,
            rate_dropped: 0,
            flush: false,
            lines,
            bytes: end - start,
        }
    }

    #[test]
    fn verdicts() {
        let mut o = Offsets::default();
        assert_eq!(o.check("a", &h(0, 0, 10, 2)), Verdict::New);
        o.record("a", &h(0, 0, 10, 2));
        assert_eq!(o.check("a", &h(0, 0, 10, 2)), Verdict::Duplicate);
        assert_eq!(o.check("a", &h(0, 4, 10, 1)), Verdict::Duplicate);
        assert_eq!(
            o.check("a", &h(0, 4, 20, 3)),
            Verdict::Conflict { held: 10 }
        );
        assert_eq!(o.check("a", &h(0, 10, 20, 2)), Verdict::New);
        // Another agent, a new generation, an older generation, a flush.
        assert_eq!(o.check("b", &h(0, 0, 10, 2)), Verdict::New);
        assert_eq!(o.check("a", &h(1, 0, 5, 1)), Verdict::New);
        o.record("a", &h(1, 0, 5, 1));
        assert_eq!(o.check("a", &h(0, 10, 20, 2)), Verdict::Duplicate);
        assert_eq!(o.check("a", &h(1, 5, 5, 0)), Verdict::New);
        assert_eq!(
            o.of_agent("a"),
            vec![FileOffset {
                dev: 1,
                ino: 2,
                gen: 1,
                end: 5
            }]
        );
    }

    #[test]
    fn saved_and_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.json");
        assert_eq!(Offsets::load(&path).unwrap(), Offsets::default());
        let mut o = Offsets::default();
        o.record("a", &h(3, 0, 10, 2));
        o.record("b", &h(0, 0, 7, 1));
        o.save(&path).unwrap();
        assert_eq!(Offsets::load(&path).unwrap(), o);
    }
}
