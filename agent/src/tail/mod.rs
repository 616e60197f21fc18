//! Tailing log files with rotation handling and persisted checkpoints.
//!
//! A [`Tailer`] follows every file matching the glob patterns of its
//! [`Source`]s. Each [`Tailer::poll`] reads the complete lines that are new in
//! every file and returns them as one [`LineBatch`] per file. The caller
//! acknowledges delivered data with [`Tailer::commit`]; only acknowledged
//! offsets appear in [`Tailer::checkpoints`], which a [`CheckpointStore`]
//! persists. After a restart, un-acknowledged lines are read again and
//! acknowledged ones are not (at-least-once delivery, exactly-once when every
//! batch is committed before the checkpoints are saved).
//!
//! # Rules
//!
//! - Files are identified by [`FileId`] (device, inode) of the path, following
//!   symbolic links; an open handle is kept on every followed file. A file
//!   named by several sources is followed once, with the settings of the
//!   first source naming it.
//! - A file seen for the first time starts at offset 0 and generation 0 —
//!   including on first start without checkpoints, so existing content is
//!   shipped — unless a checkpoint with its identity exists, in which case it
//!   resumes there (or, if the file is now shorter than the checkpoint, at 0
//!   with the next generation).
//! - Rename rotation: when the path names a new inode, the old one is read to
//!   its end through its open handle, and the new file from offset 0.
//! - Copy-truncate and truncation: same inode but a size below the read
//!   offset restarts the file from 0 and increments its generation
//!   ([`LineBatch::gen`], [`Checkpoint::gen`]), so a range of bytes and its
//!   generation name the same lines forever.
//! - Deletion: the remaining content is read through the open handle, then
//!   the file is forgotten.
//! - A file no longer named by the patterns (rotated away or deleted) is kept
//!   open until all it holds is committed and a whole poll found nothing new
//!   in it, so a writer still appending to it briefly loses nothing. A final
//!   line without `\n` left in such a file is dropped.
//! - A final line without `\n` is not returned until it is completed.
//!
//! # Bounds
//!
//! - A poll reads at most [`Tailer::with_max_batch_bytes`] bytes of each file
//!   (default [`DEFAULT_MAX_BATCH_BYTES`]) and at most
//!   [`Tailer::with_max_poll_bytes`] bytes in all (default unbounded); lines
//!   are never split (a single line longer than the budget is read alone).
//!   The rest is read by later polls; [`Tailer::backlog`] tells whether the
//!   last poll left some. When the total budget runs out, the next poll
//!   starts with the file after the last one read, so every file gets its
//!   turn.
//! - [`Source::rate_limit_kib_per_min`] limits each file of a source with a
//!   token bucket refilled continuously. What happens to lines over the
//!   limit is the source's [`RatePolicy`]: with [`RatePolicy::Delay`] (the
//!   bucket holds one second of the rate) reading stops and resumes when the
//!   bucket has refilled — nothing is dropped, a poll cut short counts in
//!   [`Tailer::rate_limited`]; with [`RatePolicy::Drop`] (the bucket holds a
//!   minute) they are skipped and counted in [`LineBatch::rate_dropped`], so
//!   the file never falls behind.
//! - Memory holds at most the lines of one poll.
//!
//! # Flush markers
//!
//! With [`Tailer::with_flush_markers`], a file that returned lines and then
//! has a poll with nothing new (not merely held back by a limit) returns one
//! empty [`LineBatch`] with [`LineBatch::flush`] set: the burst is over, a
//! multi-line event being joined downstream is complete. Exactly one marker
//! follows each burst.
//!
//! # Limits
//!
//! - A truncation followed by rewriting past the old offset before the next
//!   poll is not detected (the size never drops below the offset).
//! - Un-acknowledged data of a file rotated, while the agent was down, to a
//!   name outside the patterns is found again if it stays in its folder (the
//!   first poll searches the checkpoint's folder for its inode); moved to
//!   another folder, it is lost.
//! - A new file that reuses the inode of a forgotten one starts at
//!   generation 0 again.

mod checkpoint;
mod line_buf;
mod rate;
mod split;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use checkpoint::{Checkpoint, CheckpointStore, FileId, CHECKPOINT_FILE};
pub use line_buf::LineBuf;

use rate::Bucket;

/// Default of [`Tailer::with_max_batch_bytes`]: 1 MiB per file and poll.
pub const DEFAULT_MAX_BATCH_BYTES: u64 = 1024 * 1024;

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

/// A group of files to follow and how to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Glob patterns of the files (e.g. `/var/log/app/*.log`).
    pub patterns: Vec<PathBuf>,
    /// Lines longer than this are skipped and counted in
    /// [`LineBatch::too_long`].
    pub max_line_bytes: usize,
    /// Most KiB read per minute from each file; `None` (or 0) is unlimited.
    pub rate_limit_kib_per_min: Option<u64>,
    /// What happens to lines over the rate limit.
    pub rate_policy: RatePolicy,
}

/// What a rate limit does with the lines over it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RatePolicy {
    /// Read them later, at the limited pace: nothing is lost while the file
    /// exists, but a file written faster than the limit falls behind.
    #[default]
    Delay,
    /// Skip them, counting them in [`LineBatch::rate_dropped`]: the file never
    /// falls behind. The limit allows bursts within a minute.
    Drop,
}

/// The new complete lines of one file, read by one [`Tailer::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineBatch {
    /// Path the file was last seen at.
    pub path: PathBuf,
    /// Identity of the file; pass it to [`Tailer::commit`].
    pub id: FileId,
    /// Generation of the file: incremented each time it restarted from
    /// offset 0 because it shrank; 0 for a new inode.
    pub gen: u32,
    /// Offset of the first byte read (0 after a truncation or rotation).
    pub start: u64,
    /// Offset just after the last complete line; pass it to
    /// [`Tailer::commit`] once the lines are delivered.
    pub end: u64,
    /// The lines, without `\n` and without one trailing `\r`, in one
    /// buffer.
    pub lines: LineBuf,
    /// Lines longer than the bound, skipped.
    pub too_long: u64,
    /// Lines over the rate limit, skipped ([`RatePolicy::Drop`]).
    pub rate_dropped: u64,
    /// A flush marker: no lines, `start == end`, the file had nothing new
    /// after a burst (see [`Tailer::with_flush_markers`]).
    pub flush: bool,
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
    /// Generation (restarts from 0 after shrinking).
    gen: u32,
    /// Whether the patterns no longer name this file.
    orphan: bool,
    /// Longest line returned, from the source naming the file.
    max_line_bytes: usize,
    /// Rate limit of the source naming the file.
    bucket: Option<Bucket>,
    /// What the rate limit does.
    policy: RatePolicy,
    /// Lines were returned since the last flush marker.
    flush_due: bool,
}

/// What one poll did with one file.
enum Outcome {
    /// Nothing new to read.
    Quiet,
    /// New data, but the rate limit allows nothing now.
    Limited,
    /// Lines read; `Some(cut)` if a limit left more to read.
    Read(LineBatch, Option<Cut>),
}

/// Which limit stopped a read.
enum Cut {
    /// The per-file or per-poll byte budget.
    Budget,
    /// The rate limit.
    Rate,
}

/// Follows the files matching glob patterns; see the [module docs](self).
#[derive(Debug)]
pub struct Tailer {
    sources: Vec<Source>,
    max_batch_bytes: u64,
    max_poll_bytes: u64,
    flush_markers: bool,
    /// Followed files, by identity (ordered for deterministic output).
    files: BTreeMap<FileId, Tracked>,
    /// Checkpoints given at start, used when their file is first seen and
    /// dropped after the first poll.
    resume: Option<HashMap<FileId, Checkpoint>>,
    /// The named file that used up the last poll's total budget: the next
    /// poll starts after it.
    cursor: Option<FileId>,
    /// Polls of a file cut short by its rate limit.
    rate_limited: u64,
    /// Whether the last poll left data unread because of a byte budget.
    backlog: bool,
}

impl Tailer {
    /// A tailer following the files matching `patterns` (glob syntax, e.g.
    /// `/var/log/app/*.log`), resuming from `checkpoints` (typically from
    /// [`CheckpointStore::load`]). Lines longer than `max_line_bytes` are
    /// skipped and counted in [`LineBatch::too_long`]. No rate limit.
    ///
    /// Nothing is read until the first [`poll`](Self::poll). Checkpoints whose
    /// file is not found by that first poll are dropped.
    pub fn new(
        patterns: Vec<PathBuf>,
        checkpoints: Vec<Checkpoint>,
        max_line_bytes: usize,
    ) -> Self {
        Self::from_sources(
            vec![Source {
                patterns,
                max_line_bytes,
                rate_limit_kib_per_min: None,
                rate_policy: RatePolicy::Delay,
            }],
            checkpoints,
        )
    }

    /// A tailer following the files of every source, resuming from
    /// `checkpoints`; see [`new`](Self::new).
    pub fn from_sources(sources: Vec<Source>, checkpoints: Vec<Checkpoint>) -> Self {
        let resume = checkpoints.into_iter().map(|c| (c.id, c)).collect();
        Tailer {
            sources,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            max_poll_bytes: u64::MAX,
            flush_markers: false,
            files: BTreeMap::new(),
            resume: Some(resume),
            cursor: None,
            rate_limited: 0,
            backlog: false,
        }
    }

    /// Reads at most about `bytes` bytes of each file per poll (default
    /// [`DEFAULT_MAX_BATCH_BYTES`]; at least one line is always read).
    pub fn with_max_batch_bytes(mut self, bytes: u64) -> Self {
        self.max_batch_bytes = bytes;
        self
    }

    /// Reads at most about `bytes` bytes of all files together per poll
    /// (default unbounded), bounding the memory a poll holds.
    pub fn with_max_poll_bytes(mut self, bytes: u64) -> Self {
        self.max_poll_bytes = bytes;
        self
    }

    /// Returns a flush marker after each burst of lines of a file (see the
    /// [module docs](self#flush-markers)).
    pub fn with_flush_markers(mut self) -> Self {
        self.flush_markers = true;
        self
    }

    /// Polls of a file cut short by its rate limit ([`RatePolicy::Delay`])
    /// since the tailer was made.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited
    }

    /// Whether the last poll left data unread because of a byte budget (not
    /// the rate limit): polling again right away reads more.
    pub fn backlog(&self) -> bool {
        self.backlog
    }

    /// Reads the new complete lines of every followed file, discovering new
    /// files and handling rotation, truncation and deletion. Returns one
    /// batch per file that advanced (lines or too-long lines), plus flush
    /// markers when enabled.
    ///
    /// # Errors
    ///
    /// [`TailError::Pattern`] or [`TailError::NonUtf8Pattern`] for a bad
    /// pattern, [`TailError::Io`] if a followed file cannot be read. Files
    /// that vanish between listing and opening are silently skipped. State is
    /// kept consistent: a later poll resumes where this one stopped.
    pub fn poll(&mut self) -> Result<Vec<LineBatch>, TailError> {
        let current = self.scan()?;
        // Files named by the patterns right now, with their current path and
        // the first source naming them.
        let mut named: HashMap<FileId, (PathBuf, usize)> = HashMap::new();
        for (path, source) in current {
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {
                    named.entry(FileId::of(&meta)).or_insert((path, source));
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(TailError::io(&path, e)),
            }
        }
        for (id, tracked) in &mut self.files {
            match named.remove(id) {
                Some((path, _)) => {
                    tracked.path = path;
                    tracked.orphan = false;
                }
                None => tracked.orphan = true,
            }
        }
        // New files: open them (the handle's identity is authoritative).
        let mut new: Vec<(PathBuf, usize)> = named.into_values().collect();
        new.sort();
        let now = Instant::now();
        for (path, source) in new {
            self.open(path, source, now)?;
        }
        self.recover_rotated(now)?;
        self.resume = None;

        // Read: files no longer named first (the old inode of a rotation is
        // read to its end before the new file), then the named ones from the
        // cursor on.
        let orphans = self
            .files
            .iter()
            .filter(|(_, t)| t.orphan)
            .map(|(id, _)| *id);
        let mut order: Vec<FileId> = orphans.collect();
        let mut named: Vec<FileId> = self
            .files
            .iter()
            .filter(|(_, t)| !t.orphan)
            .map(|(id, _)| *id)
            .collect();
        if let Some(cursor) = self.cursor.take() {
            let first = named.partition_point(|id| *id <= cursor);
            named.rotate_left(first);
        }
        order.extend(named);

        self.backlog = false;
        let mut left = self.max_poll_bytes;
        let mut batches = Vec::new();
        let mut finished = Vec::new();
        for id in order {
            let Some(tracked) = self.files.get_mut(&id) else {
                continue;
            };
            if left == 0 {
                // Out of budget: this file waits for the next poll.
                self.backlog = true;
                continue;
            }
            let budget = self.max_batch_bytes.min(left);
            match read_new(id, tracked, budget, now)? {
                Outcome::Quiet => {
                    if self.flush_markers && tracked.flush_due {
                        tracked.flush_due = false;
                        batches.push(LineBatch {
                            path: tracked.path.clone(),
                            id,
                            gen: tracked.gen,
                            start: tracked.read,
                            end: tracked.read,
                            lines: LineBuf::default(),
                            too_long: 0,
                            rate_dropped: 0,
                            flush: true,
                        });
                    }
                    if tracked.orphan && tracked.committed == tracked.read {
                        finished.push(id);
                    }
                }
                Outcome::Limited => self.rate_limited += 1,
                Outcome::Read(batch, cut) => {
                    tracked.flush_due = true;
                    left = left.saturating_sub(batch.end - batch.start);
                    match cut {
                        Some(Cut::Rate) => self.rate_limited += 1,
                        Some(Cut::Budget) => self.backlog = true,
                        None => {}
                    }
                    if left == 0 && !tracked.orphan {
                        self.cursor = Some(id);
                    }
                    batches.push(batch);
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
    ///
    /// Commit a batch before the next poll: a truncation detected by that
    /// poll restarts the file at a new generation.
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
                gen: t.gen,
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

    /// Paths matching the patterns, in source and glob order, each with the
    /// index of its source.
    fn scan(&self) -> Result<Vec<(PathBuf, usize)>, TailError> {
        let mut paths = Vec::new();
        for (index, source) in self.sources.iter().enumerate() {
            for pattern in &source.patterns {
                let text = pattern.to_str().ok_or_else(|| TailError::NonUtf8Pattern {
                    pattern: pattern.clone(),
                })?;
                let entries = glob::glob(text).map_err(|source| TailError::Pattern {
                    pattern: pattern.clone(),
                    source,
                })?;
                // Unreadable directories are skipped, like vanished files.
                paths.extend(entries.filter_map(Result::ok).map(|p| (p, index)));
            }
        }
        Ok(paths)
    }

    /// On the first poll: a checkpointed file that the patterns no longer
    /// name but that still sits in its folder under another name (rotated
    /// while the agent was down) is followed as rotated away, under its
    /// checkpointed path (the name its monitors know), so its
    /// unacknowledged lines are read to its end.
    fn recover_rotated(&mut self, now: Instant) -> Result<(), TailError> {
        let Some(resume) = &self.resume else {
            return Ok(());
        };
        let missing: Vec<Checkpoint> = resume
            .values()
            .filter(|c| !self.files.contains_key(&c.id))
            .cloned()
            .collect();
        for c in missing {
            let Some(dir) = c.path.parent().filter(|d| !d.as_os_str().is_empty()) else {
                continue;
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let found = entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
                std::fs::metadata(p).is_ok_and(|m| m.is_file() && FileId::of(&m) == c.id)
            });
            let Some(path) = found else { continue };
            let source = self
                .sources
                .iter()
                .position(|s| {
                    s.patterns.iter().any(|p| {
                        p.to_str()
                            .and_then(|p| glob::Pattern::new(p).ok())
                            .is_some_and(|p| p.matches_path(&c.path))
                    })
                })
                .unwrap_or(0);
            if source >= self.sources.len() {
                continue;
            }
            self.open(path, source, now)?;
            if let Some(tracked) = self.files.get_mut(&c.id) {
                // Batches name it as the monitors know it: its old path.
                tracked.path = c.path.clone();
                tracked.orphan = true;
            }
        }
        Ok(())
    }

    /// Starts following the file at `path` with the settings of source
    /// `source`, at its checkpoint if any.
    fn open(&mut self, path: PathBuf, source: usize, now: Instant) -> Result<(), TailError> {
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
        let (offset, gen) = match self.resume.as_ref().and_then(|r| r.get(&id)) {
            // Shrank while nobody watched: a new generation from 0.
            Some(c) if c.offset > meta.len() => (0, c.gen.wrapping_add(1)),
            Some(c) => (c.offset, c.gen),
            None => (0, 0),
        };
        let source = &self.sources[source];
        let burst = match source.rate_policy {
            RatePolicy::Delay => Duration::from_secs(1),
            RatePolicy::Drop => Duration::from_secs(60),
        };
        self.files.insert(
            id,
            Tracked {
                path,
                file,
                read: offset,
                committed: offset,
                gen,
                orphan: false,
                max_line_bytes: source.max_line_bytes,
                bucket: source
                    .rate_limit_kib_per_min
                    .filter(|&kib| kib > 0)
                    .map(|kib| Bucket::per_minute(kib, burst, now)),
                policy: source.rate_policy,
                flush_due: false,
            },
        );
        Ok(())
    }
}

/// Reads the new complete lines of one file, at most `budget` bytes of it
/// (and what its rate limit allows), restarting from 0 at the next
/// generation if it shrank.
fn read_new(
    id: FileId,
    tracked: &mut Tracked,
    budget: u64,
    now: Instant,
) -> Result<Outcome, TailError> {
    let len = tracked
        .file
        .metadata()
        .map_err(|e| TailError::io(&tracked.path, e))?
        .len();
    if len < tracked.read {
        // Truncated (or copy-truncated): the old content is gone.
        tracked.read = 0;
        tracked.committed = 0;
        tracked.gen = tracked.gen.wrapping_add(1);
    }
    if len == tracked.read {
        return Ok(Outcome::Quiet);
    }
    let tokens = tracked.bucket.as_mut().map(|b| b.available(now));
    // Delay: read no more than the tokens. Drop: read on, keep what fits.
    let (allowed, keep) = match (tokens, tracked.policy) {
        (None, _) => (u64::MAX, u64::MAX),
        (Some(0), RatePolicy::Delay) => return Ok(Outcome::Limited),
        (Some(tokens), RatePolicy::Delay) => (tokens, u64::MAX),
        (Some(tokens), RatePolicy::Drop) => (u64::MAX, tokens),
    };
    let start = tracked.read;
    let got = split::read_lines(
        &mut tracked.file,
        start,
        tracked.max_line_bytes,
        budget.min(allowed),
        keep,
    )
    .map_err(|e| TailError::io(&tracked.path, e))?;
    if got.end == start {
        return Ok(Outcome::Quiet);
    }
    if let Some(bucket) = &mut tracked.bucket {
        bucket.spend(match tracked.policy {
            RatePolicy::Delay => got.end - start,
            RatePolicy::Drop => got.kept,
        });
    }
    tracked.read = got.end;
    let cut = match (got.cut, allowed < budget) {
        (false, _) => None,
        (true, true) => Some(Cut::Rate),
        (true, false) => Some(Cut::Budget),
    };
    let batch = LineBatch {
        path: tracked.path.clone(),
        id,
        gen: tracked.gen,
        start,
        end: got.end,
        lines: got.lines,
        too_long: got.too_long,
        rate_dropped: got.dropped,
        flush: false,
    };
    Ok(Outcome::Read(batch, cut))
}
