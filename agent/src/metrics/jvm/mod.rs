//! JVM metrics from HotSpot's hsperfdata files, the JVM's own
//! memory-mapped performance counters: no attach, no `jcmd`/`jstat`.
//!
//! Every HotSpot JVM running with `-XX:+UsePerfData` (the default) keeps
//! `<tmp>/hsperfdata_<user>/<pid>` up to date. On Linux `<tmp>` is always
//! `/tmp`: `-Djava.io.tmpdir` does not move it. [`JvmSampler`] reads every
//! such file under its tmp dirs, parses it with [`hsperf::parse`] and turns
//! the counters into one [`Sample`] of monitor [`MONITOR`] per JVM, keyed by
//! `pid` and `main_class`, with the metric names of DESIGN.md §2 (see
//! [`metrics`] for the mapping).
//!
//! Which files are read:
//! - a file whose pid has no `<proc root>/<pid>` is the leftover of a dead
//!   JVM (killed with SIGKILL, it never removed it): skipped silently;
//! - a file still being set up by a starting JVM (not yet accessible) is
//!   skipped silently and read on the next round;
//! - a file whose `sun.os.hrt.ticks` (refreshed by the JVM every 50 ms)
//!   has not moved for [`STALE_AFTER_MS`] across rounds is stale: its JVM
//!   died and the pid was reused by another process, or the JVM is stopped.
//!   It is reported in [`Sampled::errors`] and not sampled. The first round
//!   cannot tell;
//! - an unreadable, truncated or corrupt file is reported in
//!   [`Sampled::errors`]; the other files are still sampled. (A JVM caught
//!   in the instant between creating its file and writing its prologue
//!   shows so for that one round.)
//!
//! Pids are looked up in the agent's own pid namespace: an agent watching
//! JVMs of other containers needs their `/proc` (or runs in the host
//! namespace).

pub mod hsperf;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use vigil_model::wire::Sample;

use self::hsperf::{HsperfError, PerfData};
use super::{Sampled, Sampler};

/// The monitor name of the samples.
pub const MONITOR: &str = "jvm";

/// A file whose `sun.os.hrt.ticks` has not changed for this long (by the
/// `now_ms` of the rounds) is stale.
pub const STALE_AFTER_MS: i64 = 5_000;

/// Files larger than this are not hsperfdata files (the JVM's default
/// region is 32 KiB; `-XX:PerfDataMemorySize` may raise it).
const MAX_FILE_LEN: u64 = 64 * 1024 * 1024;

/// Samples every HotSpot JVM of the node from its hsperfdata file.
#[derive(Debug, Clone)]
pub struct JvmSampler {
    tmp_dirs: Vec<PathBuf>,
    proc_root: PathBuf,
    /// `sun.os.hrt.ticks` of each file at the previous round, with the
    /// `now_ms` of the round that first saw that value.
    last_ticks: HashMap<PathBuf, (i64, i64)>,
}

impl Default for JvmSampler {
    /// Reads `/tmp/hsperfdata_*/<pid>`, pids checked in `/proc`.
    fn default() -> Self {
        Self::new(vec![PathBuf::from("/tmp")])
    }
}

/// Why one hsperfdata file was not sampled.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    #[error("larger than {MAX_FILE_LEN} bytes, not an hsperfdata file")]
    TooLarge,
    #[error(transparent)]
    Parse(#[from] HsperfError),
    #[error("stale: not updated for {0} ms (its pid was reused, or the JVM is stopped)")]
    Stale(i64),
}

impl JvmSampler {
    /// A sampler of the `hsperfdata_*/<pid>` files under each of `tmp_dirs`
    /// (HotSpot writes them to `/tmp` on Linux; see also [`Default`]).
    pub fn new(tmp_dirs: Vec<PathBuf>) -> Self {
        Self {
            tmp_dirs,
            proc_root: PathBuf::from("/proc"),
            last_ticks: HashMap::new(),
        }
    }

    /// Checks pids under `proc_root` instead of `/proc` (a live pid is one
    /// with a `<proc_root>/<pid>` entry).
    pub fn with_proc_root(mut self, proc_root: impl Into<PathBuf>) -> Self {
        self.proc_root = proc_root.into();
        self
    }

    /// The `(pid, path)` of every hsperfdata file under the tmp dirs, in
    /// path order.
    fn perf_files(&self, errors: &mut Vec<String>) -> Vec<(u32, PathBuf)> {
        let mut files = Vec::new();
        for tmp in &self.tmp_dirs {
            let dirs = match sorted_entries(tmp) {
                Ok(dirs) => dirs,
                Err(e) => {
                    errors.push(format!("{}: cannot list: {e}", tmp.display()));
                    continue;
                }
            };
            for dir in dirs {
                let is_perf_dir = dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("hsperfdata_"));
                if !is_perf_dir || !dir.is_dir() {
                    continue;
                }
                match sorted_entries(&dir) {
                    Ok(entries) => files.extend(entries.into_iter().filter_map(|path| {
                        let pid = path.file_name()?.to_str()?.parse::<u32>().ok()?;
                        Some((pid, path))
                    })),
                    Err(e) => errors.push(format!("{}: cannot list: {e}", dir.display())),
                }
            }
        }
        files
    }

    fn is_alive(&self, pid: u32) -> bool {
        fs::symlink_metadata(self.proc_root.join(pid.to_string())).is_ok()
    }

    /// Reads one file; `Ok(None)` for a JVM still starting.
    fn read(
        &self,
        path: &Path,
        now_ms: i64,
        seen: &mut HashMap<PathBuf, (i64, i64)>,
    ) -> Result<Option<PerfData>, FileError> {
        let mut buf = Vec::new();
        fs::File::open(path)?
            .take(MAX_FILE_LEN + 1)
            .read_to_end(&mut buf)?;
        if buf.len() as u64 > MAX_FILE_LEN {
            return Err(FileError::TooLarge);
        }
        let data = hsperf::parse(&buf)?;
        if !data.prologue.accessible {
            return Ok(None);
        }
        if let Some(ticks) = data.long("sun.os.hrt.ticks") {
            let since = match self.last_ticks.get(path) {
                Some(&(last, since)) if last == ticks => since,
                _ => now_ms,
            };
            seen.insert(path.to_path_buf(), (ticks, since));
            let idle = now_ms.saturating_sub(since);
            if idle >= STALE_AFTER_MS {
                return Err(FileError::Stale(idle));
            }
        }
        Ok(Some(data))
    }
}

/// The entries of `dir`, sorted.
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    paths.sort();
    Ok(paths)
}

impl Sampler for JvmSampler {
    fn sample(&mut self, now_ms: i64) -> Sampled {
        let mut out = Sampled::default();
        let mut seen = HashMap::new();
        for (pid, path) in self.perf_files(&mut out.errors) {
            if !self.is_alive(pid) {
                log::debug!("{}: pid {pid} is not running, skipped", path.display());
                continue;
            }
            match self.read(&path, now_ms, &mut seen) {
                Ok(Some(data)) => {
                    let main_class = main_class(data.text("sun.rt.javaCommand").unwrap_or(""));
                    out.samples.push(Sample {
                        monitor: MONITOR.to_string(),
                        time_ms: now_ms,
                        keys: BTreeMap::from([
                            ("pid".to_string(), pid.to_string()),
                            ("main_class".to_string(), main_class),
                        ]),
                        values: metrics(&data),
                    });
                }
                Ok(None) => log::debug!("{}: JVM still starting, skipped", path.display()),
                Err(e) => out.errors.push(format!("{}: {e}", path.display())),
            }
        }
        self.last_ticks = seen;
        out
    }
}

/// The main class (or jar) of a JVM from its `sun.rt.javaCommand`: the
/// first whitespace-separated token, empty if there is none.
pub fn main_class(java_command: &str) -> String {
    java_command
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// How a counter becomes a metric value.
#[derive(Clone, Copy)]
enum Conv {
    /// As it is.
    Raw,
    /// High-resolution ticks to seconds (÷ `sun.os.hrt.frequency`).
    Seconds,
    /// Heap words to bytes (× the heap word size).
    WordsToBytes,
}

/// DESIGN.md §2 metric name, hsperfdata counter, conversion.
const MAPPING: &[(&str, &str, Conv)] = &[
    ("ygc_count", "sun.gc.collector.0.invocations", Conv::Raw),
    ("ygc_time", "sun.gc.collector.0.time", Conv::Seconds),
    ("fgc_count", "sun.gc.collector.1.invocations", Conv::Raw),
    ("fgc_time", "sun.gc.collector.1.time", Conv::Seconds),
    ("cgc_count", "sun.gc.collector.2.invocations", Conv::Raw),
    ("cgc_time", "sun.gc.collector.2.time", Conv::Seconds),
    ("tlab_alloc", "sun.gc.tlab.alloc", Conv::WordsToBytes),
    ("thread_started", "java.threads.started", Conv::Raw),
    ("thread_live", "java.threads.live", Conv::Raw),
    ("thread_daemon", "java.threads.daemon", Conv::Raw),
    ("thread_live_peak", "java.threads.livePeak", Conv::Raw),
    ("safepoints", "sun.rt.safepoints", Conv::Raw),
    ("safepoint_time", "sun.rt.safepointTime", Conv::Seconds),
    (
        "safepoint_sync_time",
        "sun.rt.safepointSyncTime",
        Conv::Seconds,
    ),
    ("application_time", "sun.rt.applicationTime", Conv::Seconds),
    ("parks", "sun.rt._sync_Parks", Conv::Raw),
    ("notifications", "sun.rt._sync_Notifications", Conv::Raw),
    ("inflations", "sun.rt._sync_Inflations", Conv::Raw),
    ("futile_wakeups", "sun.rt._sync_FutileWakeups", Conv::Raw),
    ("deflations", "sun.rt._sync_Deflations", Conv::Raw),
    (
        "contended_lock_attempts",
        "sun.rt._sync_ContendedLockAttempts",
        Conv::Raw,
    ),
    ("mon_extant", "sun.rt._sync_MonExtant", Conv::Raw),
    ("eden_used", "sun.gc.generation.0.space.0.used", Conv::Raw),
    (
        "eden_capacity",
        "sun.gc.generation.0.space.0.capacity",
        Conv::Raw,
    ),
    (
        "eden_max",
        "sun.gc.generation.0.space.0.maxCapacity",
        Conv::Raw,
    ),
    ("old_used", "sun.gc.generation.1.space.0.used", Conv::Raw),
    (
        "old_capacity",
        "sun.gc.generation.1.space.0.capacity",
        Conv::Raw,
    ),
    (
        "old_max",
        "sun.gc.generation.1.space.0.maxCapacity",
        Conv::Raw,
    ),
    ("meta_used", "sun.gc.metaspace.used", Conv::Raw),
    ("meta_capacity", "sun.gc.metaspace.capacity", Conv::Raw),
    (
        "compressedclass_used",
        "sun.gc.compressedclassspace.used",
        Conv::Raw,
    ),
    (
        "compressedclass_capacity",
        "sun.gc.compressedclassspace.capacity",
        Conv::Raw,
    ),
];

/// The metric values of one JVM, named as in DESIGN.md §2 "JVM metrics".
///
/// | metric | hsperfdata counter | unit |
/// |---|---|---|
/// | `ygc_count` | `sun.gc.collector.0.invocations` | count, cumulative |
/// | `ygc_time` | `sun.gc.collector.0.time` | s, cumulative |
/// | `fgc_count` | `sun.gc.collector.1.invocations` | count, cumulative |
/// | `fgc_time` | `sun.gc.collector.1.time` | s, cumulative |
/// | `cgc_count` | `sun.gc.collector.2.invocations` (G1, ZGC) | count, cumulative |
/// | `cgc_time` | `sun.gc.collector.2.time` | s, cumulative |
/// | `tlab_alloc` | `sun.gc.tlab.alloc` × heap word size | bytes allocated in TLABs between the last two GCs |
/// | `thread_started` | `java.threads.started` | count, cumulative |
/// | `thread_live` | `java.threads.live` | count |
/// | `thread_daemon` | `java.threads.daemon` | count |
/// | `thread_live_peak` | `java.threads.livePeak` | count |
/// | `safepoints` | `sun.rt.safepoints` | count, cumulative |
/// | `safepoint_time` | `sun.rt.safepointTime` | s, cumulative |
/// | `safepoint_sync_time` | `sun.rt.safepointSyncTime` | s, cumulative |
/// | `application_time` | `sun.rt.applicationTime` | s, cumulative |
/// | `parks` | `sun.rt._sync_Parks` | count, cumulative |
/// | `notifications` | `sun.rt._sync_Notifications` | count, cumulative |
/// | `inflations` | `sun.rt._sync_Inflations` | count, cumulative |
/// | `futile_wakeups` | `sun.rt._sync_FutileWakeups` | count, cumulative |
/// | `deflations` | `sun.rt._sync_Deflations` | count, cumulative |
/// | `contended_lock_attempts` | `sun.rt._sync_ContendedLockAttempts` | count, cumulative |
/// | `mon_extant` | `sun.rt._sync_MonExtant` | count (monitors now inflated) |
/// | `eden_used` / `eden_capacity` / `eden_max` | `sun.gc.generation.0.space.0.used` / `.capacity` / `.maxCapacity` | bytes |
/// | `old_used` / `old_capacity` / `old_max` | `sun.gc.generation.1.space.0.used` / `.capacity` / `.maxCapacity` | bytes |
/// | `meta_used` / `meta_capacity` | `sun.gc.metaspace.used` / `.capacity` | bytes |
/// | `meta_util` | `meta_used / meta_capacity × 100` | % |
/// | `compressedclass_used` / `compressedclass_capacity` | `sun.gc.compressedclassspace.used` / `.capacity` | bytes |
///
/// Cumulative counters are reported as the JVM keeps them (totals since it
/// started); rates are the reader's business. Times are ticks divided by
/// `sun.os.hrt.frequency`.
///
/// Collectors, as read from JDK 17 files: Serial, Parallel and G1 have
/// collector 0 = young and 1 = full (stop-the-world, whole heap) pauses,
/// as `jstat`'s YGC/FGC; Shenandoah has 0 = "partial" and 1 = "full".
/// Collector 2 (G1's and ZGC's "concurrent cycle pauses", the remark and
/// cleanup pauses) is *not* folded into `fgc_*`: a concurrent cycle is
/// normal operation while a full GC is an alarm. It is reported as the
/// extra `cgc_count`/`cgc_time` (jstat's CGC/CGCT), the only GC counters
/// of ZGC, whose single heap shows as `old_*` (no eden).
///
/// HotSpot labels `sun.gc.tlab.alloc` as bytes but stores heap words (its
/// `sun.gc.tlab.refillWaste` × 8 matches `-Xlog:gc+tlab=debug`'s bytes); it
/// is converted with the word size of the VM (8 bytes for a "64-Bit" VM
/// name, else 4). A counter missing from the file (another collector, an
/// older JVM) is left out, and so is every time when the tick frequency is
/// unknown.
pub fn metrics(data: &PerfData) -> BTreeMap<String, f64> {
    let frequency = data
        .long("sun.os.hrt.frequency")
        .filter(|f| *f > 0)
        .map(|f| f as f64);
    let word_size = match data.text("java.property.java.vm.name") {
        Some(name) if !name.contains("64-Bit") => 4.0,
        _ => 8.0,
    };
    let mut values = BTreeMap::new();
    for &(metric, counter, conv) in MAPPING {
        let Some(raw) = data.long(counter) else {
            continue;
        };
        let raw = raw as f64;
        let value = match conv {
            Conv::Raw => raw,
            Conv::Seconds => match frequency {
                Some(f) => raw / f,
                None => continue,
            },
            Conv::WordsToBytes => raw * word_size,
        };
        values.insert(metric.to_string(), value);
    }
    if let (Some(used), Some(capacity)) = (
        data.long("sun.gc.metaspace.used"),
        data.long("sun.gc.metaspace.capacity"),
    ) {
        if capacity > 0 {
            values.insert(
                "meta_util".to_string(),
                used as f64 / capacity as f64 * 100.0,
            );
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::hsperf::tests::{build, V};
    use super::*;

    #[test]
    fn main_class_is_the_first_token() {
        assert_eq!(main_class("com.example.App --port 1"), "com.example.App");
        assert_eq!(main_class("  app.jar"), "app.jar");
        assert_eq!(main_class(""), "");
    }

    #[test]
    fn metrics_convert_units() {
        let buf = build(
            true,
            &[
                ("sun.os.hrt.frequency", 6, V::L(1_000)),
                ("sun.gc.collector.0.invocations", 4, V::L(7)),
                ("sun.gc.collector.0.time", 3, V::L(2_500)),
                ("sun.gc.tlab.alloc", 2, V::L(10)),
                ("sun.gc.metaspace.used", 2, V::L(30)),
                ("sun.gc.metaspace.capacity", 2, V::L(120)),
                (
                    "java.property.java.vm.name",
                    5,
                    V::S("OpenJDK 64-Bit Server VM"),
                ),
            ],
        );
        let m = metrics(&hsperf::parse(&buf).unwrap());
        assert_eq!(m["ygc_count"], 7.0);
        assert_eq!(m["ygc_time"], 2.5);
        assert_eq!(m["tlab_alloc"], 80.0);
        assert_eq!(m["meta_util"], 25.0);
        assert!(!m.contains_key("fgc_count"));
        assert_eq!(m.len(), 6);

        // No frequency: no times; a 32-bit VM: 4-byte words.
        let buf = build(
            false,
            &[
                ("sun.gc.collector.1.time", 3, V::L(2_500)),
                ("sun.gc.tlab.alloc", 2, V::L(10)),
                ("sun.gc.metaspace.capacity", 2, V::L(0)),
                ("sun.gc.metaspace.used", 2, V::L(0)),
                ("java.property.java.vm.name", 5, V::S("OpenJDK Server VM")),
            ],
        );
        let m = metrics(&hsperf::parse(&buf).unwrap());
        assert_eq!(m["tlab_alloc"], 40.0);
        assert!(!m.contains_key("fgc_time"));
        assert!(!m.contains_key("meta_util"));
    }
}
