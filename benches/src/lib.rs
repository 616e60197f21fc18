//! Benchmarks of vigil hot paths; see the binaries under `src/bin/`.
//!
//! - `replay_bench`: `vigil replay` over a generated service log, against a
//!   plain newline count over the same bytes, on one core and on all cores.
//! - `aggregate_bench`: the engine's streaming aggregation against a
//!   DataFusion `GROUP BY` over the same Arrow batches.
//!
//! This library holds what both share: the generated log (cached by its
//! parameters), the monitor YAML they run, and the newline-count baseline.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Name of the monitor written by [`write_monitor_yaml`].
pub const MONITOR_NAME: &str = "rpc_service";

/// Read size of the newline-count baseline.
pub const COUNT_BUFFER_BYTES: usize = 1 << 20;

/// The generator script, `benches/scripts/gen_rpc_log.py`.
pub fn generator_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen_rpc_log.py")
}

/// Parameters of a generated RPC service log (see the generator's docstring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSpec {
    /// Lines in the file.
    pub lines: u64,
    /// Minutes the timestamps span.
    pub minutes: u32,
    /// Distinct (service, method) keys.
    pub keys: u32,
    /// Random seed; the same parameters give a byte-identical file.
    pub seed: u64,
}

impl LogSpec {
    /// The cache file name of this log.
    pub fn file_name(&self) -> String {
        format!(
            "rpc-{}l-{}m-{}k-s{}.log",
            self.lines, self.minutes, self.keys, self.seed
        )
    }
}

/// Returns the log described by `spec` in `data_dir`, generating it with
/// python3 first when it is not there yet.
///
/// The generator writes to a temporary name that is renamed when it is
/// done, so an interrupted run never leaves a truncated file in the cache.
pub fn ensure_log(data_dir: &Path, spec: &LogSpec) -> Result<PathBuf> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let path = data_dir.join(spec.file_name());
    if path.is_file() {
        return Ok(path);
    }
    let tmp = data_dir.join(format!("{}.tmp", spec.file_name()));
    let script = generator_script();
    eprintln!(
        "generating {} ({} lines) with {} ...",
        path.display(),
        spec.lines,
        script.display()
    );
    let status = Command::new("python3")
        .arg(&script)
        .args(["--lines", &spec.lines.to_string()])
        .args(["--minutes", &spec.minutes.to_string()])
        .args(["--keys", &spec.keys.to_string()])
        .args(["--seed", &spec.seed.to_string()])
        .arg("--out")
        .arg(&tmp)
        .status()
        .context("cannot run python3 (needed to generate the log)")?;
    if !status.success() {
        bail!("{} failed: {status}", script.display());
    }
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(path)
}

/// Writes the benchmark's monitor (a `service_metrics` monitor like
/// `rpc_service` in `config/examples/sofa.yaml`) to `data_dir/bench.yaml`,
/// with `log` as its source path, and returns the file's path.
pub fn write_monitor_yaml(data_dir: &Path, log: &Path) -> Result<PathBuf> {
    let log = std::fs::canonicalize(log).unwrap_or_else(|_| log.to_path_buf());
    // JSON string quoting is valid YAML flow-scalar quoting.
    let quoted = format!("{:?}", log.display().to_string());
    let yaml = format!(
        r#"# Written by vigil-benches; see benches/README.md.
monitors:
  - name: {MONITOR_NAME}
    kind: service_metrics
    app: bench
    source: {{ paths: [{quoted}], timezone: Asia/Shanghai }}
    time: {{ column: time, format: normal }}
    columns:
      time:     {{ split: ",", index: 0 }}
      from_app: {{ split: ",", index: 1 }}
      to_app:   {{ split: ",", index: 2 }}
      service:  {{ split: ",", index: 3 }}
      method:   {{ split: ",", index: 4 }}
      count:    {{ split: ",", index: 5, type: int }}
      elapsed:  {{ split: ",", index: 6, type: float }}
      result:   {{ split: ",", index: 7 }}
      stress:   {{ split: ",", index: 8 }}
      zone:     {{ split: ",", index: 9 }}
    include: {{ result: "Y,N" }}
    exclude: {{ stress: "T" }}
    group_by: [service, method]
    service: {{ result: result, success: "Y", count: count, elapsed: elapsed }}
"#
    );
    let path = data_dir.join("bench.yaml");
    let mut f = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(yaml.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Newlines and bytes of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// `\n` bytes.
    pub newlines: u64,
    /// All bytes.
    pub bytes: u64,
}

/// Counts the `\n` bytes of `path`, reading it in
/// [`COUNT_BUFFER_BYTES`] chunks: the baseline a log replay is compared
/// with (the least any line-oriented reader has to do).
pub fn count_newlines(path: &Path) -> Result<Count> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = vec![0u8; COUNT_BUFFER_BYTES];
    let mut count = Count {
        newlines: 0,
        bytes: 0,
    };
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        count.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        count.bytes += n as u64;
    }
    Ok(count)
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), to tell a quiet
/// machine from a busy one next to the figures; `?` where unavailable.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".to_string())
}

/// Formats a rate with an SI suffix (`1.23 M`).
pub fn si(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2} k", v / 1e3)
    } else {
        format!("{v:.2} ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_newlines_across_buffer_boundaries() {
        let dir = std::env::temp_dir().join(format!("vigil-benches-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("count.txt");
        let mut data = Vec::new();
        for i in 0..300_000u32 {
            data.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        data.extend_from_slice(b"no newline at the end");
        std::fs::write(&path, &data).unwrap();
        let c = count_newlines(&path).unwrap();
        assert!(data.len() > COUNT_BUFFER_BYTES);
        assert_eq!(c.newlines, 300_000);
        assert_eq!(c.bytes, data.len() as u64);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn monitor_yaml_loads() {
        let dir = std::env::temp_dir().join(format!("vigil-benches-yaml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write_monitor_yaml(&dir, &dir.join("x \"quoted\".log")).unwrap();
        let config = vigil_config::load(&path, &vigil_config::LoadOptions::default()).unwrap();
        let m = config.monitor(MONITOR_NAME).unwrap();
        assert_eq!(m.columns.len(), 10);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
