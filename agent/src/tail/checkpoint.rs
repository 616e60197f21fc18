//! File identities and the persisted checkpoints of the tailer.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TailError;

/// Name of the checkpoint file inside the state directory.
pub const CHECKPOINT_FILE: &str = "checkpoints.json";

/// Identity of a file on disk: device and inode numbers.
///
/// Stays the same across renames and truncation, changes when a new file is
/// created in place of the old one (rename rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId {
    /// Device number (`st_dev`).
    pub dev: u64,
    /// Inode number (`st_ino`).
    pub ino: u64,
}

impl FileId {
    /// The identity of a file from its metadata.
    pub fn of(meta: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// The identity of the file at `path`, following symbolic links.
    ///
    /// # Errors
    ///
    /// [`TailError::Io`] if the file cannot be stat'ed.
    pub fn of_path(path: &Path) -> Result<Self, TailError> {
        fs::metadata(path)
            .map(|m| FileId::of(&m))
            .map_err(|e| TailError::io(path, e))
    }
}

/// How far one file has been acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Path the file was last seen at.
    pub path: PathBuf,
    /// Identity of the file.
    pub id: FileId,
    /// Byte offset just after the last acknowledged line.
    pub offset: u64,
    /// Generation of the file: how many times it restarted from offset 0
    /// because it shrank (truncation, copy-truncate rotation). Absent from
    /// checkpoint files written before generations existed (read as 0).
    #[serde(default)]
    pub gen: u32,
}

/// Saves and loads checkpoints as one JSON file in a state directory.
///
/// Saving is atomic: the new content is written to a temporary file, synced
/// to disk, then renamed over the old file, and the directory is synced. A
/// crash leaves either the old or the new checkpoints, never a mix.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    /// A store keeping its file in `dir` (created on first save if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CheckpointStore { dir: dir.into() }
    }

    /// Path of the checkpoint file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(CHECKPOINT_FILE)
    }

    /// All saved checkpoints; empty if nothing was ever saved.
    ///
    /// # Errors
    ///
    /// [`TailError::Io`] if the file exists but cannot be read,
    /// [`TailError::Json`] if it is not valid checkpoint JSON.
    pub fn load(&self) -> Result<Vec<Checkpoint>, TailError> {
        let path = self.path();
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(TailError::io(&path, e)),
        };
        serde_json::from_slice(&text).map_err(|source| TailError::Json { path, source })
    }

    /// Replaces the saved checkpoints with `checkpoints`, atomically.
    ///
    /// # Errors
    ///
    /// [`TailError::Io`] on any file system error; the previous checkpoints
    /// are then left in place.
    pub fn save(&self, checkpoints: &[Checkpoint]) -> Result<(), TailError> {
        fs::create_dir_all(&self.dir).map_err(|e| TailError::io(&self.dir, e))?;
        let path = self.path();
        let tmp = self.dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(checkpoints).map_err(|source| TailError::Json {
            path: path.clone(),
            source,
        })?;
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()
        };
        write().map_err(|e| TailError::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| TailError::io(&path, e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| TailError::io(&self.dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path().join("state"));
        assert!(store.load().unwrap().is_empty());
        let cps = vec![Checkpoint {
            path: PathBuf::from("/var/log/a.log"),
            id: FileId { dev: 1, ino: 2 },
            offset: 42,
            gen: 3,
        }];
        store.save(&cps).unwrap();
        assert_eq!(store.load().unwrap(), cps);
        store.save(&[]).unwrap();
        assert!(store.load().unwrap().is_empty());
        assert!(!dir
            .path()
            .join("state")
            .join("checkpoints.json.tmp")
            .exists());
    }

    #[test]
    fn checkpoints_without_generation_load_as_generation_zero() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        let old = r#"[{"path": "/l/a.log", "id": {"dev": 1, "ino": 2}, "offset": 7}]"#;
        fs::write(store.path(), old).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!((loaded[0].offset, loaded[0].gen), (7, 0));
    }

    #[test]
    fn corrupt_file_is_an_error_with_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        fs::write(store.path(), b"{not json").unwrap();
        let err = store.load().unwrap_err();
        assert!(err.to_string().contains("checkpoints.json"), "{err}");
    }
}
