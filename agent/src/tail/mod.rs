//! Tailing log files with rotation handling and persisted checkpoints.
//!
//! A [`Tailer`] follows every file matching its glob patterns. Each
//! [`Tailer::poll`] reads the complete lines that are new in every file and
//! returns them as one [`LineBatch`] per file. The caller acknowledges
//! delivered data with [`Tailer::commit`]; only acknowledged offsets appear in
//! [`Tailer::checkpoints`], which a [`CheckpointStore`] persists. After a
//! restart, un-acknowledged lines are read again and acknowledged ones are not
//! (at-least-once delivery, exactly-once when every batch is committed before
//! the checkpoints are saved).
//!
//! # Rules
//!
//! - Files are identified by [`FileId`] (device, inode) of the path, following
//!   symbolic links; an open handle is kept on every followed file.
//! - A file seen for the first time starts at offset 0 — including on first
//!   start without checkpoints, so existing content is shipped — unless a
//!   checkpoint with its identity exists, in which case it resumes there.
//! - Rename rotation: when the path names a new inode, the old one is read to
//!   its end through its open handle, and the new file from offset 0.
//! - Copy-truncate and truncation: same inode but a size below the read
//!   offset restarts the file from 0.
//! - Deletion: the remaining content is read through the open handle, then
//!   the file is forgotten.
//! - A file no longer named by the patterns (rotated away or deleted) is kept
//!   open until all it holds is committed and a whole poll found nothing new
//!   in it, so a writer still appending to it briefly loses nothing. A final
//!   line without `\n` left in such a file is dropped.
//! - A final line without `\n` is not returned until it is completed.
//!
//! # Limits
//!
//! - A truncation followed by rewriting past the old offset before the next
//!   poll is not detected (the size never drops below the offset).
//! - Un-acknowledged data of a file rotated to a name outside the patterns is
//!   lost across a restart: the file can no longer be found.

mod checkpoint;
mod split;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

pub use checkpoint::{Checkpoint, CheckpointStore, FileId, CHECKPOINT_FILE};

/// Errors of the tailer, each with the path involved.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// An I/O error on a file or directory.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The checkpoint file is not valid JSON.
    #[error("{path}: invalid checkpoints: {source}", path = path.display())]
    Json {
        /// The checkpoint file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A glob pattern is invalid.
    #[error("{pattern}: invalid glob pattern: {source}", pattern = pattern.display())]
    Pattern {
        /// The pattern.
        pattern: PathBuf,
        /// The underlying error.
        #[source]
        source: glob::PatternError,
    },
    /// A glob pattern is not valid UTF-8.
    #[error("{pattern}: glob pattern is not valid UTF-8", pattern = pattern.display())]
    NonUtf8Pattern {
        /// The pattern.
        pattern: PathBuf,
    },
}

impl TailError {
    /// An I/O error about `path`.
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        TailError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The new complete lines of one file, read by one [`Tailer::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineBatch {
    /// Path the file was last seen at.
    pub path: PathBuf,
    /// Identity of the file; pass it to [`Tailer::commit`].
    pub id: FileId,
    /// Offset of the first byte read (0 after a truncation or rotation).
    pub start: u64,
    /// Offset just after the last complete line; pass it to
    /// [`Tailer::commit`] once the lines are delivered.
    pub end: u64,
    /// The lines, without `\n` and without one trailing `\r`.
    pub lines: Vec<Vec<u8>>,
    /// Lines longer than the bound, skipped.
    pub too_long: u64,
}

/// One followed file.
#[derive(Debug)]
struct Tracked {
    /// Path the file was last seen at.
    path: PathBuf,
    /// Open handle, valid even after rename or deletion.
    file: File,
    /// Offset just after the last line returned by `poll`.
    read: u64,
    /// Offset just after the last acknowledged line.
    committed: u64,
    /// Whether the patterns no longer name this file.
    orphan: bool,
}

/// Follows the files matching glob patterns; see the [module docs](self).
#[derive(Debug)]
pub struct Tailer {
    patterns: Vec<PathBuf>,
    max_line_bytes: usize,
    /// Followed files, by identity (ordered for deterministic output).
    files: BTreeMap<FileId, Tracked>,
    /// Checkpoints given at start, used when their file is first seen and
    /// dropped after the first poll.
    resume: Option<HashMap<FileId, Checkpoint>>,
}

impl Tailer {
    /// A tailer following the files matching `patterns` (glob syntax, e.g.
    /// `/var/log/app/*.log`), resuming from `checkpoints` (typically from
    /// [`CheckpointStore::load`]). Lines longer than `max_line_bytes` are
    /// skipped and counted in [`LineBatch::too_long`].
    ///
    /// Nothing is read until the first [`poll`](Self::poll). Checkpoints whose
    /// file is not found by that first poll are dropped.
    pub fn new(
        patterns: Vec<PathBuf>,
        checkpoints: Vec<Checkpoint>,
        max_line_bytes: usize,
    ) -> Self {
        let resume = checkpoints.into_iter().map(|c| (c.id, c)).collect();
        Tailer {
            patterns,
            max_line_bytes,
            files: BTreeMap::new(),
            resume: Some(resume),
        }
    }

    /// Reads the new complete lines of every followed file, discovering new
    /// files and handling rotation, truncation and deletion. Returns one
    /// batch per file that advanced (lines or too-long lines).
    ///
    /// # Errors
    ///
    /// [`TailError::Pattern`] or [`TailError::NonUtf8Pattern`] for a bad
    /// pattern, [`TailError::Io`] if a followed file cannot be read. Files
    /// that vanish between listing and opening are silently skipped. State is
    /// kept consistent: a later poll resumes where this one stopped.
    pub fn poll(&mut self) -> Result<Vec<LineBatch>, TailError> {
        let current = self.scan()?;
        // Files named by the patterns right now, with their current path.
        let mut named: HashMap<FileId, PathBuf> = HashMap::new();
        for path in current {
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {
                    named.entry(FileId::of(&meta)).or_insert(path);
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(TailError::io(&path, e)),
            }
        }
        for (id, tracked) in &mut self.files {
            match named.remove(id) {
                Some(path) => {
                    tracked.path = path;
                    tracked.orphan = false;
                }
                None => tracked.orphan = true,
            }
        }
        // New files: open them (the handle's identity is authoritative).
        let mut new: Vec<PathBuf> = named.into_values().collect();
        new.sort();
        for path in new {
            self.open(path)?;
        }
        self.resume = None;

        // Read: files no longer named first (the old inode of a rotation is
        // read to its end before the new file).
        let mut batches = Vec::new();
        let mut finished = Vec::new();
        for orphan_pass in [true, false] {
            for (id, tracked) in &mut self.files {
                if tracked.orphan != orphan_pass {
                    continue;
                }
                match read_new(*id, tracked, self.max_line_bytes)? {
                    Some(batch) => batches.push(batch),
                    None if tracked.orphan && tracked.committed == tracked.read => {
                        finished.push(*id);
                    }
                    None => {}
                }
            }
        }
        // A file no longer named, fully acknowledged and quiet for a whole
        // poll is forgotten (a trailing partial line in it is dropped).
        for id in finished {
            self.files.remove(&id);
        }
        Ok(batches)
    }

    /// Marks the data of file `id` up to `offset` as acknowledged: it will
    /// not be read again after a restart. Offsets past what was read are
    /// clamped; unknown files are ignored. A file no longer named by the
    /// patterns is forgotten once all of it is acknowledged.
    pub fn commit(&mut self, id: FileId, offset: u64) {
        if let Some(tracked) = self.files.get_mut(&id) {
            tracked.committed = offset.min(tracked.read);
        }
    }

    /// The acknowledged position of every followed file, to persist with
    /// [`CheckpointStore::save`]. Before the first poll, the checkpoints
    /// given to [`new`](Self::new).
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        let mut out: Vec<Checkpoint> = self
            .files
            .iter()
            .map(|(id, t)| Checkpoint {
                path: t.path.clone(),
                id: *id,
                offset: t.committed,
            })
            .collect();
        if let Some(resume) = &self.resume {
            let mut pending: Vec<&Checkpoint> = resume
                .values()
                .filter(|c| !self.files.contains_key(&c.id))
                .collect();
            pending.sort_by_key(|c| c.id);
            out.extend(pending.into_iter().cloned());
        }
        out
    }

    /// Saves [`checkpoints`](Self::checkpoints) to `store`.
    ///
    /// # Errors
    ///
    /// See [`CheckpointStore::save`].
    pub fn save(&self, store: &CheckpointStore) -> Result<(), TailError> {
        store.save(&self.checkpoints())
    }

    /// Identities and paths of the files currently followed.
    pub fn files(&self) -> Vec<(FileId, PathBuf)> {
        self.files
            .iter()
            .map(|(id, t)| (*id, t.path.clone()))
            .collect()
    }

    /// Paths matching the patterns, in glob order.
    fn scan(&mut self) -> Result<Vec<PathBuf>, TailError> {
        let mut paths = Vec::new();
        for pattern in &self.patterns {
            let text = pattern.to_str().ok_or_else(|| TailError::NonUtf8Pattern {
                pattern: pattern.clone(),
            })?;
            let entries = glob::glob(text).map_err(|source| TailError::Pattern {
                pattern: pattern.clone(),
                source,
            })?;
            // Unreadable directories are skipped, like vanished files.
            paths.extend(entries.filter_map(Result::ok));
        }
        Ok(paths)
    }

    /// Starts following the file at `path`, at its checkpoint if any.
    fn open(&mut self, path: PathBuf) -> Result<(), TailError> {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(TailError::io(&path, e)),
        };
        let meta = file.metadata().map_err(|e| TailError::io(&path, e))?;
        let id = FileId::of(&meta);
        if let Some(tracked) = self.files.get_mut(&id) {
            // Renamed between listing and opening: same file.
            tracked.path = path;
            tracked.orphan = false;
            return Ok(());
        }
        let offset = self
            .resume
            .as_ref()
            .and_then(|r| r.get(&id).map(|c| c.offset))
            .filter(|&offset| offset <= meta.len())
            .unwrap_or(0);
        self.files.insert(
            id,
            Tracked {
                path,
                file,
                read: offset,
                committed: offset,
                orphan: false,
            },
        );
        Ok(())
    }
}

/// Reads the new complete lines of one file, restarting from 0 if it shrank.
fn read_new(
    id: FileId,
    tracked: &mut Tracked,
    max_line_bytes: usize,
) -> Result<Option<LineBatch>, TailError> {
    let len = tracked
        .file
        .metadata()
        .map_err(|e| TailError::io(&tracked.path, e))?
        .len();
    if len < tracked.read {
        // Truncated (or copy-truncated): the old content is gone.
        tracked.read = 0;
        tracked.committed = 0;
    }
    if len == tracked.read {
        return Ok(None);
    }
    let start = tracked.read;
    let got = split::read_lines(&mut tracked.file, start, max_line_bytes)
        .map_err(|e| TailError::io(&tracked.path, e))?;
    if got.end == start {
        return Ok(None);
    }
    tracked.read = got.end;
    Ok(Some(LineBatch {
        path: tracked.path.clone(),
        id,
        start,
        end: got.end,
        lines: got.lines,
        too_long: got.too_long,
    }))
}
