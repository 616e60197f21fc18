//! The collector's write-ahead log: every accepted ingest frame is appended
//! and synced before the agent gets its acknowledgement, and replayed at
//! start, so an acknowledged line survives a crash.
//!
//! The log is a directory of segments named by an increasing sequence
//! number (`00000000000000000007.wal`). A record is `len: u32 LE`,
//! `crc32(payload): u32 LE`, `payload`. Appends go to the newest segment
//! only; opening the log always starts a fresh segment, so a record torn by
//! a crash can only be the last one of an older segment, and reading a
//! segment simply stops there (that record was never acknowledged).
//! Segments are deleted, oldest first, once the caller knows their records
//! are reflected in final stored minutes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Largest record accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

const EXT: &str = ".wal";

/// Why the log could not be read or written; names the file.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The segment or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A record is larger than [`MAX_RECORD_BYTES`].
    #[error("{}: record of {len} bytes is larger than {MAX_RECORD_BYTES}", path.display())]
    TooLarge {
        /// The segment.
        path: PathBuf,
        /// The record's size.
        len: usize,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An open write-ahead log; see the [module docs](self).
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    active: File,
    active_seq: u64,
    active_bytes: u64,
    segment_limit: u64,
    /// Segments on disk, oldest first, the active one last.
    segments: Vec<u64>,
}

impl Wal {
    /// Opens the log in `dir` (created if needed) and starts a new active
    /// segment after the existing ones, which stay readable with
    /// [`Wal::read_segment`] until removed. The active segment is rotated
    /// once it holds `segment_limit` bytes.
    pub fn open(dir: &Path, segment_limit: u64) -> Result<Self, WalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(seq) = name.strip_suffix(EXT).and_then(|s| s.parse::<u64>().ok()) {
                segments.push(seq);
            }
        }
        segments.sort_unstable();
        let next = segments.last().map_or(0, |s| s + 1);
        let (active, path) = create_segment(dir, next)?;
        drop(path);
        segments.push(next);
        Ok(Wal {
            dir: dir.to_path_buf(),
            active,
            active_seq: next,
            active_bytes: 0,
            segment_limit: segment_limit.max(1),
            segments,
        })
    }

    /// Appends one record, the concatenation of `parts`, and syncs it to
    /// disk; returns the segment that holds it. Rotates to a new segment
    /// first when the active one is full.
    pub fn append(&mut self, parts: &[&[u8]]) -> Result<u64, WalError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > MAX_RECORD_BYTES {
            return Err(WalError::TooLarge {
                path: self.path(self.active_seq),
                len,
            });
        }
        if self.active_bytes >= self.segment_limit {
            self.rotate()?;
        }
        // Header and parts are written apart, not copied into one buffer:
        // a record is up to a request body's size. A crash between the
        // writes leaves a torn record, as a short write would.
        let mut crc = crc32fast::Hasher::new();
        for part in parts {
            crc.update(part);
        }
        let mut header = [0u8; 8];
        header[..4].copy_from_slice(&(len as u32).to_le_bytes());
        header[4..].copy_from_slice(&crc.finalize().to_le_bytes());
        let path = self.path(self.active_seq);
        self.active.write_all(&header).map_err(io_err(&path))?;
        for part in parts {
            self.active.write_all(part).map_err(io_err(&path))?;
        }
        self.active.sync_data().map_err(io_err(&path))?;
        self.active_bytes += (header.len() + len) as u64;
        Ok(self.active_seq)
    }

    /// Closes the active segment (if it holds anything) and starts a new
    /// one; returns the new active segment.
    pub fn rotate(&mut self) -> Result<u64, WalError> {
        if self.active_bytes == 0 {
            return Ok(self.active_seq);
        }
        let next = self.active_seq + 1;
        let (file, _) = create_segment(&self.dir, next)?;
        self.active = file;
        self.active_seq = next;
        self.active_bytes = 0;
        self.segments.push(next);
        Ok(next)
    }

    /// The segment appends go to.
    pub fn active_segment(&self) -> u64 {
        self.active_seq
    }

    /// Bytes in the active segment.
    pub fn active_bytes(&self) -> u64 {
        self.active_bytes
    }

    /// Every segment on disk, oldest first (the active one last).
    pub fn segments(&self) -> &[u64] {
        &self.segments
    }

    /// The records of segment `seq`, in order, up to the first torn or
    /// corrupt record (whose bytes were never acknowledged).
    pub fn read_segment(&self, seq: u64) -> Result<SegmentReader, WalError> {
        let path = self.path(seq);
        let file = File::open(&path).map_err(io_err(&path))?;
        Ok(SegmentReader {
            path,
            reader: BufReader::with_capacity(1 << 20, file),
            torn: false,
        })
    }

    /// Takes every segment older than `seq` (never the active one) out of
    /// the log; [`Retired::delete`] deletes their files. Apart, so that the
    /// files can be deleted without holding the log: unlinking a large
    /// file takes milliseconds (10-20 ms for a full segment here), during
    /// which nothing could be appended.
    pub fn retire_before(&mut self, seq: u64) -> Retired {
        let seq = seq.min(self.active_seq);
        let paths = self
            .segments
            .iter()
            .filter(|&&s| s < seq)
            .map(|&s| self.path(s))
            .collect();
        self.segments.retain(|&s| s >= seq);
        Retired { paths }
    }

    fn path(&self, seq: u64) -> PathBuf {
        segment_path(&self.dir, seq)
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}{EXT}"))
}

/// Creates segment `seq` and syncs the directory so it survives a crash.
fn create_segment(dir: &Path, seq: u64) -> Result<(File, PathBuf), WalError> {
    let path = segment_path(dir, seq);
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok((file, path))
}

/// Segments taken out of the log by [`Wal::retire_before`], whose files
/// are still to be deleted. Until they are, a restart reads them as
/// segments of the log again, as after a crash between saving what they
/// held and deleting them.
#[derive(Debug)]
#[must_use = "the files of retired segments stay until deleted"]
pub struct Retired {
    paths: Vec<PathBuf>,
}

impl Retired {
    /// Deletes the files (one already gone is not an error); returns how
    /// many segments were retired.
    pub fn delete(self) -> Result<usize, WalError> {
        for path in &self.paths {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(path)(e)),
            }
        }
        Ok(self.paths.len())
    }
}

/// Reads the records of one segment; see [`Wal::read_segment`].
#[derive(Debug)]
pub struct SegmentReader {
    path: PathBuf,
    reader: BufReader<File>,
    torn: bool,
}

impl SegmentReader {
    /// Whether reading stopped at a torn or corrupt record.
    pub fn torn(&self) -> bool {
        self.torn
    }

    fn next_record(&mut self) -> Result<Option<Vec<u8>>, WalError> {
        let mut head = [0u8; 8];
        match read_full(&mut self.reader, &mut head).map_err(io_err(&self.path))? {
            0 => return Ok(None),
            8 => {}
            _ => {
                self.torn = true;
                return Ok(None);
            }
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len > MAX_RECORD_BYTES {
            self.torn = true;
            return Ok(None);
        }
        let mut payload = vec![0u8; len];
        let got = read_full(&mut self.reader, &mut payload).map_err(io_err(&self.path))?;
        if got < len || crc32fast::hash(&payload) != crc {
            self.torn = true;
            return Ok(None);
        }
        Ok(Some(payload))
    }
}

impl Iterator for SegmentReader {
    type Item = Result<Vec<u8>, WalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.torn {
            return None;
        }
        self.next_record().transpose()
    }
}

/// Reads until `buf` is full or end of file; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(wal: &Wal, seq: u64) -> Vec<Vec<u8>> {
        wal.read_segment(seq)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    #[test]
    fn records_survive_reopen_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 20).unwrap();
        assert_eq!(wal.append(&[b"first"]).unwrap(), 0);
        assert_eq!(wal.append(&[b"sec", b"", b"ond"]).unwrap(), 0);
        // 2 records of 8 + 5 and 8 + 6 bytes: over 20, the next rotates.
        assert_eq!(wal.append(&[b"third"]).unwrap(), 1);
        drop(wal);
        let mut wal = Wal::open(dir.path(), 20).unwrap();
        assert_eq!(wal.segments(), &[0, 1, 2]);
        assert_eq!(
            records(&wal, 0),
            vec![b"first".to_vec(), b"second".to_vec()]
        );
        assert_eq!(records(&wal, 1), vec![b"third".to_vec()]);
        assert!(records(&wal, 2).is_empty());
        let retired = wal.retire_before(2);
        assert_eq!(wal.segments(), &[2]);
        // Out of the log at once, deleted only when told.
        assert!(dir.path().join(format!("{:020}{EXT}", 0)).exists());
        assert_eq!(retired.delete().unwrap(), 2);
        assert!(!dir.path().join(format!("{:020}{EXT}", 0)).exists());
        assert!(!dir.path().join(format!("{:020}{EXT}", 1)).exists());
        // The active segment is never removed.
        assert_eq!(wal.retire_before(99).delete().unwrap(), 0);
        assert_eq!(wal.segments(), &[2]);
    }

    #[test]
    fn a_record_in_parts_is_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 1 << 20).unwrap();
        wal.append(&[b"{\"labels\":1}\n", b"frame"]).unwrap();
        drop(wal);
        let bytes = fs::read(segment_path(dir.path(), 0)).unwrap();
        let whole: &[u8] = b"{\"labels\":1}\nframe";
        // The header's length and checksum are those of the whole record.
        assert_eq!(bytes[..4], (whole.len() as u32).to_le_bytes());
        assert_eq!(bytes[4..8], crc32fast::hash(whole).to_le_bytes());
        assert_eq!(&bytes[8..], whole);
        let wal = Wal::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(records(&wal, 0), vec![whole.to_vec()]);
    }

    #[test]
    fn a_torn_tail_ends_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 1 << 20).unwrap();
        wal.append(&[b"kept"]).unwrap();
        wal.append(&[b"torn record"]).unwrap();
        drop(wal);
        let path = segment_path(dir.path(), 0);
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let wal = Wal::open(dir.path(), 1 << 20).unwrap();
        let mut reader = wal.read_segment(0).unwrap();
        assert_eq!(reader.next().unwrap().unwrap(), b"kept".to_vec());
        assert!(reader.next().is_none());
        assert!(reader.torn());

        // A flipped byte is caught by the checksum.
        let mut bytes = fs::read(&path).unwrap();
        bytes[9] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let mut reader = wal.read_segment(0).unwrap();
        assert!(reader.next().is_none());
        assert!(reader.torn());
    }
}
