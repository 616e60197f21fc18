//! The disk buffer of ingest frames waiting for the collector.
//!
//! One file per frame, `<dir>/<sequence>.frame` with a zero-padded,
//! increasing sequence number, so the directory lists in sending order. A
//! frame is written to a temporary file, synced, renamed into place, and the
//! directory synced: after a crash a frame is either whole or absent.
//! Opening the spool rescans the directory (left-over temporary files are
//! deleted), so frames survive restarts.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Default bound of the spool: 256 MiB.
pub const DEFAULT_SPOOL_LIMIT_BYTES: u64 = 256 * 1024 * 1024;
/// Name of the spool folder inside the agent's state directory.
pub const SPOOL_DIR: &str = "spool";

/// Extension of a spooled frame.
const FRAME_EXT: &str = "frame";
/// Extension of a frame being written.
const TMP_EXT: &str = "tmp";

/// A file system error of the spool, with the path involved.
#[derive(Debug, thiserror::Error)]
#[error("spool {path}: {source}", path = path.display())]
pub struct SpoolError {
    /// The file or folder.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

fn err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError {
        path: path.to_path_buf(),
        source,
    }
}

/// A bounded, ordered disk buffer of ingest frames; see the
/// [module docs](self).
///
/// The bound is advisory: [`push`](Self::push) always stores the frame (a
/// frame is never dropped), and [`is_full`](Self::is_full) tells the caller
/// to stop producing more.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limit: u64,
    /// Sequence number and size of every stored frame, oldest first.
    frames: VecDeque<(u64, u64)>,
    /// Sum of the stored sizes.
    bytes: u64,
    /// Sequence number of the next frame pushed.
    next: u64,
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`, bounded to
    /// `limit_bytes`, with the frames already stored there.
    ///
    /// # Errors
    ///
    /// [`SpoolError`] if the folder cannot be created or listed.
    pub fn open(dir: impl Into<PathBuf>, limit_bytes: u64) -> Result<Self, SpoolError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(err(&dir))?;
        let mut frames = Vec::new();
        for entry in fs::read_dir(&dir).map_err(err(&dir))? {
            let entry = entry.map_err(err(&dir))?;
            let path = entry.path();
            let stem = path.file_stem().and_then(|s| s.to_str());
            let ext = path.extension().and_then(|s| s.to_str());
            match (stem.and_then(|s| s.parse::<u64>().ok()), ext) {
                (Some(seq), Some(FRAME_EXT)) => {
                    let len = entry.metadata().map_err(err(&path))?.len();
                    frames.push((seq, len));
                }
                (_, Some(TMP_EXT)) => fs::remove_file(&path).map_err(err(&path))?,
                _ => {}
            }
        }
        frames.sort_unstable();
        let next = frames.last().map_or(0, |&(seq, _)| seq + 1);
        let bytes = frames.iter().map(|&(_, len)| len).sum();
        Ok(Spool {
            dir,
            limit: limit_bytes,
            frames: frames.into(),
            bytes,
            next,
        })
    }

    /// The folder of the spool.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `frame` durably after all stored frames.
    ///
    /// # Errors
    ///
    /// [`SpoolError`] if it cannot be written; nothing is stored then.
    pub fn push(&mut self, frame: &[u8]) -> Result<(), SpoolError> {
        let seq = self.next;
        let tmp = self.path(seq, TMP_EXT);
        let write = || -> io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(frame)?;
            file.sync_all()
        };
        if let Err(e) = write() {
            // Best effort: a left-over temporary file is deleted at open.
            let _ = fs::remove_file(&tmp);
            return Err(err(&tmp)(e));
        }
        let path = self.path(seq, FRAME_EXT);
        fs::rename(&tmp, &path).map_err(err(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(err(&self.dir))?;
        self.next += 1;
        self.frames.push_back((seq, frame.len() as u64));
        self.bytes += frame.len() as u64;
        Ok(())
    }

    /// The oldest stored frame, if any. A frame file deleted by someone else
    /// is skipped.
    ///
    /// # Errors
    ///
    /// [`SpoolError`] if the frame cannot be read.
    pub fn oldest(&mut self) -> Result<Option<Vec<u8>>, SpoolError> {
        while let Some(&(seq, len)) = self.frames.front() {
            let path = self.path(seq, FRAME_EXT);
            match fs::read(&path) {
                Ok(frame) => return Ok(Some(frame)),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    self.frames.pop_front();
                    self.bytes -= len;
                }
                Err(e) => return Err(err(&path)(e)),
            }
        }
        Ok(None)
    }

    /// Deletes the oldest stored frame (once the collector acknowledged it).
    ///
    /// # Errors
    ///
    /// [`SpoolError`] if the file cannot be deleted; it stays the oldest.
    pub fn remove_oldest(&mut self) -> Result<(), SpoolError> {
        let Some(&(seq, len)) = self.frames.front() else {
            return Ok(());
        };
        let path = self.path(seq, FRAME_EXT);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(err(&path)(e)),
        }
        // Not synced: a frame that reappears after a crash is sent again,
        // and the collector acknowledges it as a duplicate.
        self.frames.pop_front();
        self.bytes -= len;
        Ok(())
    }

    /// Bytes of the stored frames.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of stored frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is stored.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether the stored frames reach the bound.
    pub fn is_full(&self) -> bool {
        self.bytes >= self.limit
    }

    fn path(&self, seq: u64, ext: &str) -> PathBuf {
        self.dir.join(format!("{seq:020}.{ext}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_back_in_order_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path().join("spool"), 10).unwrap();
        assert!(spool.oldest().unwrap().is_none());
        spool.push(b"one").unwrap();
        spool.push(b"two!").unwrap();
        assert_eq!((spool.len(), spool.bytes(), spool.is_full()), (2, 7, false));
        spool.push(b"333").unwrap();
        assert!(spool.is_full());
        drop(spool);

        fs::write(
            dir.path().join("spool").join("00000000000000000009.tmp"),
            b"x",
        )
        .unwrap();
        let mut spool = Spool::open(dir.path().join("spool"), 10).unwrap();
        assert_eq!(spool.bytes(), 10);
        assert_eq!(spool.oldest().unwrap().unwrap(), b"one");
        spool.remove_oldest().unwrap();
        assert_eq!(spool.oldest().unwrap().unwrap(), b"two!");
        spool.push(b"four").unwrap();
        spool.remove_oldest().unwrap();
        spool.remove_oldest().unwrap();
        assert_eq!(spool.oldest().unwrap().unwrap(), b"four");
        spool.remove_oldest().unwrap();
        assert!(spool.is_empty());
        assert_eq!(spool.bytes(), 0);
        let left: Vec<_> = fs::read_dir(spool.dir()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_frame_deleted_behind_its_back_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 100).unwrap();
        spool.push(b"a").unwrap();
        spool.push(b"b").unwrap();
        fs::remove_file(dir.path().join("00000000000000000000.frame")).unwrap();
        assert_eq!(spool.oldest().unwrap().unwrap(), b"b");
        assert_eq!(spool.bytes(), 1);
    }
}
