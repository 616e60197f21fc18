//! Closed minutes on disk: one directory per monitor, one sub-directory per
//! UTC hour (`<dir>/<monitor>/<YYYY-MM-DDTHH>/`), Parquet files inside.
//!
//! - Every [`MinuteStore::write`] creates one new file per hour it touches,
//!   named by a store-wide, monotonically increasing sequence number
//!   (`00000000000000000042.parquet`). Files are written under a temporary
//!   name, synced and renamed, so a crash leaves whole files or none.
//! - Columns: `minute` (Int64, epoch s), `period` (Utf8), `k:<key>` (Utf8)
//!   per key, `v:<value>` (Int64 or Float64, null = [`Value::Missing`]) per
//!   value, `rank` (Int32), `line` (Utf8), `lines` (Utf8, a JSON array).
//! - The type of each value name is fixed by the first non-missing value ever
//!   written and recorded in `<dir>/<monitor>/schema.json`; a later value of
//!   the other type is refused.
//! - Reads see amendments: for one (minute, period), the rows of the newest
//!   file that holds it replace those of older files. The engine always
//!   writes a minute whole (every key, every rank), so an amended minute
//!   also drops keys or ranks that no longer belong to it (a top-N list
//!   that changed).
//!
//! [`Value::Missing`]: vigil_model::Value::Missing

mod codec;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;
use vigil_config::monitor::Monitor;
use vigil_model::MinuteRow;

use codec::ValueType;

/// The default retention: 21 days, in seconds.
pub const DEFAULT_RETENTION_SECS: i64 = 21 * 86_400;

const SCHEMA_FILE: &str = "schema.json";
const DATA_EXT: &str = ".parquet";
const TMP_EXT: &str = ".tmp";
const HOUR: i64 = 3600;

/// Why the store could not read or write; every variant names the path.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Parquet encoding or decoding failed.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The Parquet file.
        path: PathBuf,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
    /// Building or reading an Arrow batch failed.
    #[error("{}: {source}", path.display())]
    Arrow {
        /// The Parquet file.
        path: PathBuf,
        /// The underlying error.
        source: arrow::error::ArrowError,
    },
    /// A stored file does not have the expected shape, or a row cannot be
    /// stored (for example a minute outside the representable dates).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value has another type than the one recorded for its name.
    #[error("{}: value `{value}` is stored as {stored}, got {found}", path.display())]
    TypeMismatch {
        /// The monitor's `schema.json`.
        path: PathBuf,
        /// The value's name.
        value: String,
        /// The recorded type.
        stored: &'static str,
        /// The type of the offending value.
        found: &'static str,
    },
    /// The monitor name cannot be a directory name (empty, starts with a dot,
    /// or holds a path separator).
    #[error("{}: monitor name `{name}` cannot be stored", path.display())]
    BadMonitorName {
        /// The store's directory.
        path: PathBuf,
        /// The refused name.
        name: String,
    },
}

/// A closure turning an `io::Error` into a [`StoreError::Io`] on `path`.
fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Closed minutes of all monitors, as Parquet files under one directory.
#[derive(Debug)]
pub struct MinuteStore {
    dir: PathBuf,
    retention_secs: i64,
    next_seq: u64,
}

impl MinuteStore {
    /// Opens (creating it if needed) the store under `dir`, keeping hour
    /// partitions for `retention_secs` (see [`DEFAULT_RETENTION_SECS`]).
    /// Leftover temporary files of interrupted writes are removed.
    pub fn open(dir: &Path, retention_secs: i64) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut max_seq = 0;
        for mdir in subdirs(dir)? {
            for (_, pdir) in partitions(&mdir)? {
                for entry in fs::read_dir(&pdir).map_err(io_err(&pdir))? {
                    let path = entry.map_err(io_err(&pdir))?.path();
                    let name = file_name(&path);
                    if name.ends_with(TMP_EXT) {
                        fs::remove_file(&path).map_err(io_err(&path))?;
                    } else if let Some(seq) = seq_of(&name) {
                        max_seq = max_seq.max(seq);
                    }
                }
            }
        }
        Ok(MinuteStore {
            dir: dir.to_path_buf(),
            retention_secs,
            next_seq: max_seq + 1,
        })
    }

    /// Stores `rows` of `monitor`: one new file per UTC hour of
    /// `row.minute`. Reads return the rows with `monitor` set to
    /// `monitor.name`; the rows of a (minute, period) stored before are
    /// replaced in reads by those of this write, so write minutes whole.
    pub fn write(&mut self, monitor: &Monitor, rows: &[MinuteRow]) -> Result<(), StoreError> {
        self.write_table(&monitor.name, &monitor.key_names(), rows)
    }

    /// Stores `rows` under the table `name` (a monitor, or a view of one
    /// such as `trade@instance`) whose key columns are `key_names`; the
    /// same rules as [`MinuteStore::write`].
    pub fn write_table<S: AsRef<str>>(
        &mut self,
        name: &str,
        key_names: &[S],
        rows: &[MinuteRow],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mdir = self.monitor_dir(name)?;
        fs::create_dir_all(&mdir).map_err(io_err(&mdir))?;
        let schema_path = mdir.join(SCHEMA_FILE);
        let mut types = load_types(&schema_path)?;
        if codec::learn_types(&mut types, rows, &schema_path)? {
            save_types(&mdir, &types)?;
        }
        let mut by_hour: BTreeMap<i64, Vec<&MinuteRow>> = BTreeMap::new();
        for row in rows {
            by_hour
                .entry(row.minute.div_euclid(HOUR) * HOUR)
                .or_default()
                .push(row);
        }
        for (hour, part) in by_hour {
            let pdir = mdir.join(hour_name(hour).ok_or_else(|| StoreError::Invalid {
                path: mdir.clone(),
                message: format!("minute {hour} is outside the representable dates"),
            })?);
            fs::create_dir_all(&pdir).map_err(io_err(&pdir))?;
            let seq = self.next_seq;
            self.next_seq += 1;
            let name = format!("{seq:020}{DATA_EXT}");
            let keys: Vec<&str> = key_names.iter().map(AsRef::as_ref).collect();
            let batch = codec::encode(&keys, &part, &types, &pdir.join(&name))?;
            write_atomic(&pdir, &name, |file, path| {
                codec::write_parquet(file, &batch, path)
            })?;
        }
        Ok(())
    }

    /// All stored rows of `monitor` with `from_s <= minute < to_s`, newest
    /// amendment only, in [`MinuteRow::output_order`]. Only the hour
    /// partitions overlapping the range are read; an unknown monitor reads
    /// empty.
    pub fn read(
        &self,
        monitor: &str,
        from_s: i64,
        to_s: i64,
    ) -> Result<Vec<MinuteRow>, StoreError> {
        let mdir = self.monitor_dir(monitor)?;
        if !mdir.is_dir() {
            return Ok(Vec::new());
        }
        let mut files = Vec::new();
        for (hour, pdir) in partitions(&mdir)? {
            if hour >= to_s || hour + HOUR <= from_s {
                continue;
            }
            for entry in fs::read_dir(&pdir).map_err(io_err(&pdir))? {
                let path = entry.map_err(io_err(&pdir))?.path();
                if let Some(seq) = seq_of(&file_name(&path)) {
                    files.push((seq, path));
                }
            }
        }
        files.sort();
        type Identity = (i64, Option<String>);
        let mut latest: HashMap<Identity, (u64, Vec<MinuteRow>)> = HashMap::new();
        for (seq, path) in files {
            for row in codec::read_parquet(&path, monitor, from_s, to_s)? {
                let id = (row.minute, row.period.clone());
                let slot = latest.entry(id).or_insert_with(|| (seq, Vec::new()));
                if slot.0 != seq {
                    *slot = (seq, Vec::new());
                }
                slot.1.push(row);
            }
        }
        let mut out: Vec<MinuteRow> = latest.into_values().flat_map(|(_, rows)| rows).collect();
        out.sort_by(MinuteRow::output_order);
        Ok(out)
    }

    /// Deletes the hour partitions that ended at or before
    /// `now_s - retention_secs`; returns how many were deleted.
    pub fn apply_retention(&mut self, now_s: i64) -> Result<usize, StoreError> {
        let cutoff = now_s.saturating_sub(self.retention_secs);
        let mut deleted = 0;
        for mdir in subdirs(&self.dir)? {
            for (hour, pdir) in partitions(&mdir)? {
                if hour + HOUR <= cutoff {
                    fs::remove_dir_all(&pdir).map_err(io_err(&pdir))?;
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }

    /// The names of the monitors that have a directory in the store, sorted.
    /// An unreadable store directory lists none.
    pub fn monitors(&self) -> Vec<String> {
        let mut names: Vec<String> = subdirs(&self.dir)
            .unwrap_or_default()
            .iter()
            .map(|p| file_name(p))
            .collect();
        names.sort();
        names
    }

    /// The directory of `monitor`, refusing names that are not one plain
    /// path component.
    fn monitor_dir(&self, monitor: &str) -> Result<PathBuf, StoreError> {
        if monitor.is_empty() || monitor.starts_with('.') || monitor.contains(['/', '\\', '\0']) {
            return Err(StoreError::BadMonitorName {
                path: self.dir.clone(),
                name: monitor.to_string(),
            });
        }
        Ok(self.dir.join(monitor))
    }
}

/// The last component of `path`, lossily as text.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The sequence number of a data file name.
fn seq_of(name: &str) -> Option<u64> {
    name.strip_suffix(DATA_EXT)?.parse().ok()
}

/// The sub-directories of `dir` whose names do not start with a dot.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        if path.is_dir() && !file_name(&path).starts_with('.') {
            out.push(path);
        }
    }
    Ok(out)
}

/// The hour partitions of a monitor directory with their start (epoch s);
/// directories with other names are ignored.
fn partitions(mdir: &Path) -> Result<Vec<(i64, PathBuf)>, StoreError> {
    Ok(subdirs(mdir)?
        .into_iter()
        .filter_map(|p| Some((parse_hour(&file_name(&p))?, p)))
        .collect())
}

/// `YYYY-MM-DDTHH` (UTC) of an hour start.
fn hour_name(hour: i64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp(hour, 0)?;
    Some(t.format("%Y-%m-%dT%H").to_string())
}

/// The hour start of a partition name.
fn parse_hour(name: &str) -> Option<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(&format!("{name}:00"), "%Y-%m-%dT%H:%M").ok()?;
    let start = t.and_utc().timestamp();
    (hour_name(start)? == name).then_some(start)
}

/// Writes `dir/name` atomically: `fill` writes a temporary file in the same
/// directory, which is synced, renamed over `name`, and the directory synced.
fn write_atomic(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&File, &Path) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{name}{TMP_EXT}"));
    let dst = dir.join(name);
    let result = (|| {
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        fill(&file, &dst)?;
        file.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, &dst).map_err(io_err(&dst))
    })();
    if result.is_err() {
        // Best effort: the write already failed, and `open` removes leftovers.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// The recorded value types of a monitor; none when `schema.json` is absent.
fn load_types(path: &Path) -> Result<BTreeMap<String, ValueType>, StoreError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_err(path)(e)),
    };
    let invalid = |message: String| StoreError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let values = json
        .get("values")
        .and_then(|v| v.as_object())
        .ok_or_else(|| invalid("no `values` object".to_string()))?;
    values
        .iter()
        .map(|(name, ty)| {
            let ty = ty
                .as_str()
                .and_then(ValueType::parse)
                .ok_or_else(|| invalid(format!("bad type of value `{name}`")))?;
            Ok((name.clone(), ty))
        })
        .collect()
}

/// Records the value types of a monitor in its `schema.json`, atomically.
fn save_types(mdir: &Path, types: &BTreeMap<String, ValueType>) -> Result<(), StoreError> {
    let values: serde_json::Map<String, serde_json::Value> = types
        .iter()
        .map(|(n, t)| (n.clone(), serde_json::Value::from(t.name())))
        .collect();
    let text = serde_json::json!({ "values": values }).to_string();
    write_atomic(mdir, SCHEMA_FILE, |file, path| {
        use std::io::Write;
        let mut file = file;
        file.write_all(text.as_bytes()).map_err(io_err(path))
    })
}
