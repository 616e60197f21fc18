//! Benchmarks of vigil hot paths; see the binaries under `src/bin/`.
//!
//! - `replay_bench`: `vigil replay` over a generated service log, against a
//!   plain newline count over the same bytes, on one core and on all cores.
//! - `aggregate_bench`: the engine's streaming aggregation against a
//!   DataFusion `GROUP BY` over the same Arrow batches.
//!
//! - `e2e_bench`: `vigil agent` shipping the log to `vigil collector` on
//!   127.0.0.1, against `vigil replay` over the same file.
//!
//! This library holds what they share: the generated log (cached by its
//! parameters), the monitor YAML they run, the newline-count baseline, and
//! the child-process plumbing (`child`: spawned and stopped children with
//! their `/proc` CPU time and peak RSS; timed children; a tiny HTTP GET).
//!
//! - `footprint_bench`: the agent's CPU and memory while it tails 10,000
//!   lines/s and samples host, JVM and port metrics, beside node_exporter.
//! - `alert_latency_bench`: end of a breaching minute to the webhook.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub mod child;

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
    write_monitor_yaml_file(&data_dir.join("bench.yaml"), log)
}

/// Writes the monitor of [`write_monitor_yaml`] to the file `path`.
///
/// The source path is `log` canonicalized when it exists (so absolute: an
/// agent tailing the monitor's sources reads that file wherever the YAML
/// lies), else `log` as given.
pub fn write_monitor_yaml_file(path: &Path, log: &Path) -> Result<PathBuf> {
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
    let path = path.to_path_buf();
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

/// A child process timed from spawn to reap by [`run_timed`].
#[derive(Debug, Clone)]
pub struct TimedRun {
    /// Spawn to reap.
    pub wall: Duration,
    /// User plus system CPU time (`wait4` rusage).
    pub cpu: Duration,
    /// Peak resident set size, bytes (`wait4` rusage).
    pub max_rss: u64,
    /// Everything the child wrote on stdout.
    pub stdout: Vec<u8>,
}

/// Runs `cmd` with stdin closed, stdout captured and stderr written to
/// `stderr_path`, and returns its wall time, CPU time and peak RSS; an
/// error (with the child's stderr) when it does not exit successfully.
pub fn run_timed(mut cmd: Command, stderr_path: &Path) -> Result<TimedRun> {
    let stderr = File::create(stderr_path)
        .with_context(|| format!("cannot create {}", stderr_path.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr));
    let start = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("cannot run {cmd:?}"))?;
    let mut out = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_end(&mut out)
            .context("cannot read the child's output")?;
    }
    let (status, usage) = proc::wait_rusage(child.id())?;
    let wall = start.elapsed();
    if !status.success() {
        let err = std::fs::read_to_string(stderr_path).unwrap_or_default();
        bail!("{cmd:?} failed ({status}):\n{err}");
    }
    Ok(TimedRun {
        wall,
        cpu: usage.cpu,
        max_rss: usage.max_rss,
        stdout: out,
    })
}

/// Splits the output of `vigil replay --format json` into the number of
/// row lines and the counters object of its (last) counters line.
pub fn replay_counters(out: &[u8]) -> Result<(u64, serde_json::Value)> {
    let text = std::str::from_utf8(out).context("replay output is not UTF-8")?;
    let mut rows = 0u64;
    let mut counters = None;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("not JSON: {line}"))?;
        match v.get("counters") {
            Some(c) => counters = Some(c.clone()),
            None => rows += 1,
        }
    }
    let counters = counters.context("the replay printed no counters line")?;
    Ok((rows, counters))
}

/// A counter of a counters object (`{"lines": N, ...}`), if present.
pub fn counter(counters: &serde_json::Value, name: &str) -> Option<u64> {
    counters.get(name).and_then(serde_json::Value::as_u64)
}

/// A minimal HTTP/1.1 `GET http://{authority}{path}` over a plain TCP
/// connection (`Connection: close`), for polling a local collector without
/// an HTTP client dependency. Returns the status code and the body
/// (de-chunked when the response is chunked).
pub fn http_get(authority: &str, path: &str, timeout: Duration) -> Result<(u16, Vec<u8>)> {
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("bad address {authority}"))?
        .next()
        .with_context(|| format!("{authority} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {authority}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let _ = stream.set_nodelay(true);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: */*\r\n\
         User-Agent: vigil-benches\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("cannot send GET {path} to {authority}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .with_context(|| format!("cannot read the response to GET {path} from {authority}"))?;
    parse_http_response(&response).with_context(|| format!("GET {path} from {authority}"))
}

/// Status code and body of a complete HTTP/1.x response.
fn parse_http_response(response: &[u8]) -> Result<(u16, Vec<u8>)> {
    let Some(head_end) = memchr::memmem::find(response, b"\r\n\r\n") else {
        bail!("incomplete HTTP response ({} bytes)", response.len());
    };
    let head = std::str::from_utf8(&response[..head_end]).context("HTTP head is not UTF-8")?;
    let body = &response[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("bad HTTP status line {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        }
    }
    if chunked {
        return Ok((status, dechunk(body)?));
    }
    match length {
        Some(n) if n > body.len() => bail!("body cut short: {} of {n} bytes", body.len()),
        Some(n) => Ok((status, body[..n].to_vec())),
        None => Ok((status, body.to_vec())),
    }
}

/// Decodes a chunked transfer-encoded body.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = memchr::memmem::find(body, b"\r\n") else {
            bail!("chunked body cut short");
        };
        let size_text = std::str::from_utf8(&body[..eol]).context("bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("chunked body cut short");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// Process facts from the kernel: a live child's CPU time and peak RSS
/// from `/proc`, reaping with `wait4` rusage, and SIGTERM.
pub mod proc {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    use std::time::Duration;

    use anyhow::{bail, Context, Result};

    /// What the kernel accounted to a reaped child.
    #[derive(Debug, Clone, Copy)]
    pub struct Usage {
        /// User plus system CPU time.
        pub cpu: Duration,
        /// Peak resident set size, bytes.
        pub max_rss: u64,
    }

    /// Clock ticks per second of the times in `/proc/PID/stat`
    /// (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
    #[allow(unsafe_code)]
    pub fn clock_ticks_per_sec() -> u64 {
        // SAFETY: sysconf only reads a configuration value; it has no
        // pointer arguments and no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
    }

    /// User plus system CPU time so far of the live process `pid`, all its
    /// threads included (`utime` + `stime` of `/proc/PID/stat`).
    pub fn cpu_time(pid: u32) -> Result<Duration> {
        let path = format!("/proc/{pid}/stat");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let ticks = parse_stat_cpu_ticks(&text).with_context(|| format!("bad {path}: {text:?}"))?;
        let per_sec = clock_ticks_per_sec();
        Ok(Duration::from_secs(ticks / per_sec)
            + Duration::from_nanos((ticks % per_sec) * 1_000_000_000 / per_sec))
    }

    /// `utime + stime` (clock ticks) of a `/proc/PID/stat` line.
    pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
        // The command name (field 2) is in parentheses and may hold spaces
        // and parentheses: the fields after its last ')' start at field 3
        // (state); utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(utime + stime)
    }

    /// Peak resident set size so far of the live process `pid`, bytes
    /// (`VmHWM` of `/proc/PID/status`).
    pub fn peak_rss(pid: u32) -> Result<u64> {
        let path = format!("/proc/{pid}/status");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        parse_status_kib(&text, "VmHWM")
            .map(|kib| kib * 1024)
            .with_context(|| format!("no VmHWM in {path}"))
    }

    /// The value in KiB of the `key:` line of a `/proc/PID/status` text.
    pub fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
        status.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            if k != key {
                return None;
            }
            v.split_whitespace().next()?.parse().ok()
        })
    }

    /// Sends SIGTERM to the process `pid`.
    #[allow(unsafe_code)]
    pub fn terminate(pid: u32) -> Result<()> {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            bail!("pid {pid} out of range");
        };
        // SAFETY: kill has no pointer arguments; `pid` is a positive
        // process id (a child of this process not yet reaped).
        let r = unsafe { libc::kill(pid, libc::SIGTERM) };
        if r != 0 {
            bail!(
                "kill({pid}, SIGTERM) failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// Waits for the child `pid` (spawned by this process and not yet
    /// waited for) and returns its status and resource usage.
    ///
    /// The `std::process::Child` of `pid` must not be waited for afterwards.
    #[allow(unsafe_code)]
    pub fn wait_rusage(pid: u32) -> Result<(ExitStatus, Usage)> {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            bail!("pid {pid} out of range");
        };
        let mut status: libc::c_int = 0;
        // SAFETY: `rusage` is a plain C struct for which all-zero bytes
        // are a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: both pointers are to live, writable locals of the
            // types wait4 expects, valid for the duration of the call.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if r == pid {
                break;
            }
            let err = std::io::Error::last_os_error();
            if r == -1 && err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            bail!("wait4({pid}) failed: {err}");
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        Ok((
            ExitStatus::from_raw(status),
            Usage {
                cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
                // Linux reports ru_maxrss in KiB.
                max_rss: (usage.ru_maxrss.max(0) as u64) * 1024,
            },
        ))
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
    fn parses_proc_stat_and_status() {
        let stat = "4242 (vig il) (x)) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    123 45 0 0 20 0 3 0 100 1000 200";
        assert_eq!(proc::parse_stat_cpu_ticks(stat), Some(168));
        let status = "Name:\tvigil\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(proc::parse_status_kib(status, "VmHWM"), Some(2048));
        assert_eq!(proc::parse_status_kib(status, "VmSwap"), None);
        let me = std::process::id();
        assert!(proc::peak_rss(me).unwrap() > 0);
        proc::cpu_time(me).unwrap();
        assert!(proc::clock_ticks_per_sec() > 0);
    }

    #[test]
    fn parses_http_responses() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(
            parse_http_response(plain).unwrap(),
            (200, b"hello".to_vec())
        );
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(
            parse_http_response(chunked).unwrap(),
            (404, b"abcde".to_vec())
        );
        assert!(parse_http_response(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nhi").is_err());
        assert!(parse_http_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn http_get_talks_to_a_server() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 256];
            while !req.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0);
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"lines\":7}")
                .unwrap();
            String::from_utf8(req).unwrap()
        });
        let (status, body) = http_get(&addr, "/x/y", Duration::from_secs(5)).unwrap();
        let req = server.join().unwrap();
        assert!(req.starts_with("GET /x/y HTTP/1.1\r\n"), "{req}");
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(counter(&v, "lines"), Some(7));
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
