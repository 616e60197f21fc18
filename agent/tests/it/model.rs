//! Model-based test: random appends, rotations and restarts; every line
//! written is delivered exactly once, in order per file — with a byte budget
//! small enough that a poll reads only a few lines, and flush markers on.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use vigil_agent::tail::{Checkpoint, CheckpointStore, FileId, LineBatch, Tailer};

#[derive(Debug, Clone)]
enum Step {
    /// Append this many lines to the current file.
    Append(usize),
    /// Start a line without its `\n` (completed by the next step writing to
    /// the current file).
    Partial,
    /// Append to the file rotated last (writer not yet reopened).
    AppendOld(usize),
    /// Rename the file to a new rotated name and create a new one.
    RenameRotate,
    /// Copy the file aside and truncate it in place.
    CopyTruncate,
    /// Poll without acknowledging.
    Poll,
    /// Poll and acknowledge everything read so far.
    PollCommit,
    /// Save checkpoints and start a new tailer from them.
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1usize..4).prop_map(Step::Append),
        1 => (1usize..3).prop_map(Step::AppendOld),
        1 => Just(Step::Partial),
        1 => Just(Step::RenameRotate),
        1 => Just(Step::CopyTruncate),
        2 => Just(Step::Poll),
        2 => Just(Step::PollCommit),
        1 => Just(Step::Restart),
    ]
}

struct World {
    dir: tempfile::TempDir,
    store: CheckpointStore,
    tailer: Tailer,
    writer: File,
    old_writer: Option<File>,
    next_seq: u64,
    written: Vec<u64>,
    /// Read but not yet acknowledged.
    stash: Vec<LineBatch>,
    /// Acknowledged lines: (file, sequence number).
    delivered: Vec<(FileId, u64)>,
    rotations: usize,
    /// Whether the current file ends with a line without `\n`.
    partial: bool,
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path().join("state"));
        let writer = open_append(&dir.path().join("app.log"));
        let tailer = Self::tailer(dir.path(), Vec::new());
        World {
            dir,
            store,
            tailer,
            writer,
            old_writer: None,
            next_seq: 0,
            written: Vec::new(),
            stash: Vec::new(),
            delivered: Vec::new(),
            rotations: 0,
            partial: false,
        }
    }

    fn pattern(dir: &Path) -> PathBuf {
        dir.join("app.log*")
    }

    /// About three lines per file and poll.
    fn tailer(dir: &Path, checkpoints: Vec<Checkpoint>) -> Tailer {
        Tailer::new(vec![Self::pattern(dir)], checkpoints, 64)
            .with_max_batch_bytes(16)
            .with_flush_markers()
    }

    /// Polls and acknowledges until nothing is left behind by the budget.
    fn drain(&mut self) {
        self.poll_commit();
        while self.tailer.backlog() {
            self.poll_commit();
        }
    }

    /// Completes the partial line of the current file, if any.
    fn complete(&mut self) {
        if std::mem::take(&mut self.partial) {
            self.writer.write_all(b"\n").unwrap();
        }
    }

    fn write(&mut self, n: usize, old: bool) {
        if !old {
            self.complete();
        }
        let file = match (old, self.old_writer.as_mut()) {
            (true, Some(f)) => f,
            (true, None) => return,
            (false, _) => &mut self.writer,
        };
        for _ in 0..n {
            writeln!(file, "L{}", self.next_seq).unwrap();
            self.written.push(self.next_seq);
            self.next_seq += 1;
        }
    }

    fn poll(&mut self) {
        let batches = self.tailer.poll().unwrap();
        self.stash.extend(batches);
    }

    fn poll_commit(&mut self) {
        self.poll();
        for b in std::mem::take(&mut self.stash) {
            for line in b.lines.iter() {
                let text = std::str::from_utf8(line).unwrap();
                let seq = text.strip_prefix('L').unwrap().parse().unwrap();
                self.delivered.push((b.id, seq));
            }
            assert_eq!(b.too_long, 0);
            assert!(!b.flush || (b.lines.is_empty() && b.start == b.end));
            self.tailer.commit(b.id, b.end);
        }
    }

    fn apply(&mut self, step: &Step) {
        let log = self.dir.path().join("app.log");
        match *step {
            Step::Append(n) => self.write(n, false),
            Step::AppendOld(n) => self.write(n, true),
            Step::Partial => {
                if !self.partial {
                    write!(self.writer, "L{}", self.next_seq).unwrap();
                    self.written.push(self.next_seq);
                    self.next_seq += 1;
                    self.partial = true;
                }
            }
            Step::RenameRotate => {
                self.complete();
                self.rotations += 1;
                let rotated = self.dir.path().join(format!("app.log.{}", self.rotations));
                fs::rename(&log, rotated).unwrap();
                let new = open_append(&log);
                self.old_writer = Some(std::mem::replace(&mut self.writer, new));
            }
            Step::CopyTruncate => {
                // Lines written between the last read and the truncation are
                // lost by copy-truncate itself: drain first.
                self.complete();
                self.drain();
                self.rotations += 1;
                let copy = self.dir.path().join(format!("archive.{}", self.rotations));
                fs::copy(&log, copy).unwrap();
                self.writer.set_len(0).unwrap();
                // Detect the truncation before the file grows back.
                self.poll_commit();
            }
            Step::Poll => self.poll(),
            Step::PollCommit => self.poll_commit(),
            Step::Restart => {
                self.tailer.save(&self.store).unwrap();
                self.stash.clear();
                let checkpoints = self.store.load().unwrap();
                self.tailer = Self::tailer(self.dir.path(), checkpoints);
            }
        }
    }

    fn check(&mut self) {
        self.complete();
        self.drain();
        let mut got: Vec<u64> = self.delivered.iter().map(|&(_, s)| s).collect();
        got.sort_unstable();
        assert_eq!(got, self.written, "loss or duplicate");
        let mut last: BTreeMap<FileId, u64> = BTreeMap::new();
        for &(id, seq) in &self.delivered {
            if let Some(prev) = last.insert(id, seq) {
                assert!(prev < seq, "out of order in {id:?}: {prev} then {seq}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_line_delivered_exactly_once(steps in proptest::collection::vec(step(), 1..30)) {
        let mut world = World::new();
        for s in &steps {
            world.apply(s);
        }
        world.check();
    }
}
