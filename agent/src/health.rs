//! The agent's own health and counters over HTTP, for probes and scrapers.
//!
//! [`Stats`] holds what the agent loop ([`crate::ship::Agent`]) and the
//! samplers (through [`Counted`]) count, and the marks health is judged by.
//! [`HealthServer`] serves it on a local port, with a small blocking
//! HTTP/1.1 server on one thread (no async runtime, one connection at a
//! time, `Connection: close`):
//!
//! - `GET /healthz`: `200 ok` while the agent loop turns and it can either
//!   reach the collector or buffer on disk; otherwise `503` and a one-line
//!   reason (see [`Stats::health`]).
//! - `GET /livez`: `200 ok` while the agent loop turns (checks 1 and 2 of
//!   [`Stats::health`] only): a liveness probe that restarts a stuck
//!   agent, but not one that waits for its collector.
//! - `GET /metrics`: the Prometheus text format (version 0.0.4) of the
//!   counters below, plus `process_resident_memory_bytes` and
//!   `process_cpu_seconds_total` read from `/proc/self`.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `vigil_agent_lines_read_total` | counter | lines read from the tailed files |
//! | `vigil_agent_bytes_read_total` | counter | bytes of the files read past (lines, skipped lines, newlines) |
//! | `vigil_agent_lines_too_long_total` | counter | lines skipped as longer than the source's `max_line_bytes` |
//! | `vigil_agent_rate_limited_lines_total` | counter | lines dropped by a source's rate limit |
//! | `vigil_agent_lines_shipped_total` | counter | lines the collector acknowledged (sent at once or from the spool) |
//! | `vigil_agent_bytes_shipped_total` | counter | payload bytes the collector acknowledged |
//! | `vigil_agent_frames_acked_total` | counter | ingest frames acknowledged |
//! | `vigil_agent_batches_acked_total` | counter | batches (one per file and range) in acknowledged frames |
//! | `vigil_agent_batches_duplicate_total` | counter | of those, batches the collector already held |
//! | `vigil_agent_frames_refused_total` | counter | frames refused for good (a 4xx other than 401 and 409) and dropped |
//! | `vigil_agent_retries_total` | counter | requests to the collector that failed and are tried again |
//! | `vigil_agent_errors_total` | counter | problems reported (also sent with the heartbeats) |
//! | `vigil_agent_spool_bytes` | gauge | bytes of frames in the disk buffer |
//! | `vigil_agent_spool_frames` | gauge | frames in the disk buffer |
//! | `vigil_agent_spool_limit_bytes` | gauge | bound of the disk buffer (`--spool-mb`) |
//! | `vigil_agent_reading_paused` | gauge | 1 while the disk buffer is full and reading waits |
//! | `vigil_agent_files_tailed` | gauge | files followed now |
//! | `vigil_agent_samples_total` | counter | host, JVM and probe samples taken |
//! | `vigil_agent_sampler_errors_total` | counter | problems met by the samplers |
//! | `vigil_agent_registered` | gauge | 1 once the collector accepted the agent's registration |
//! | `vigil_agent_last_ship_timestamp_seconds` | gauge | when a frame was last acknowledged (0: never) |
//! | `vigil_agent_last_contact_timestamp_seconds` | gauge | when a request to the collector last succeeded (0: never) |
//! | `vigil_agent_healthy` | gauge | 1 when `/healthz` answers 200 |

use std::fmt::Write as _;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vigil_model::wire::{IngestHeader, IngestReply};

use crate::metrics::{Sampled, Sampler};

/// Default address of `vigil agent --listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8687";
/// Heartbeat intervals an agent may stay unregistered after its start
/// before `/healthz` fails (the collector calls an agent lost after as many
/// missed heartbeats).
pub const UNREGISTERED_HEARTBEATS: u64 = 3;
/// Largest request head read; longer requests get a 431.
const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the idle server looks at its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(100);
/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on
/// every Linux architecture the agent is built for).
const USER_HZ: f64 = 100.0;

/// What the health server cannot do.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The address cannot be listened on (in use, not local, no permission).
    #[error("cannot listen on {addr} for /healthz and /metrics: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The server thread cannot be started.
    #[error("cannot start the health server thread: {0}")]
    Spawn(#[source] io::Error),
}

/// Marks kept as text, behind a lock (rarely written).
#[derive(Debug, Default)]
struct Marks {
    /// The last problem reported.
    last_error: Option<String>,
    /// Why the agent loop ended, once it has.
    stopped: Option<String>,
}

/// The agent's counters and health marks, shared (in an [`Arc`]) by the
/// agent loop, the samplers and the [`HealthServer`]. Counters only grow;
/// gauges are set by the agent loop at each turn. Times are kept as
/// milliseconds since [`Stats::new`] on the monotonic clock.
#[derive(Debug)]
pub struct Stats {
    start: Instant,
    start_epoch_ms: u64,
    lines_read: AtomicU64,
    bytes_read: AtomicU64,
    lines_too_long: AtomicU64,
    rate_limited_lines: AtomicU64,
    lines_shipped: AtomicU64,
    bytes_shipped: AtomicU64,
    frames_acked: AtomicU64,
    batches_acked: AtomicU64,
    batches_duplicate: AtomicU64,
    frames_refused: AtomicU64,
    retries: AtomicU64,
    errors: AtomicU64,
    spool_bytes: AtomicU64,
    spool_frames: AtomicU64,
    spool_limit_bytes: AtomicU64,
    files_tailed: AtomicU64,
    samples: AtomicU64,
    sampler_errors: AtomicU64,
    registered: AtomicBool,
    /// Since start + 1; 0: never.
    last_ship_ms: AtomicU64,
    /// Since start + 1; 0: never.
    last_contact_ms: AtomicU64,
    /// Since start: the last turn of the agent loop.
    loop_turn_ms: AtomicU64,
    heartbeat_ms: AtomicU64,
    stall_after_ms: AtomicU64,
    marks: Mutex<Marks>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Zeroed counters; the agent is judged from now on (a 10 s heartbeat
    /// and a 2 min stall bound until [`Agent::run`](crate::ship::Agent::run)
    /// sets its own).
    pub fn new() -> Self {
        let start_epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Stats {
            start: Instant::now(),
            start_epoch_ms,
            lines_read: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            lines_too_long: AtomicU64::new(0),
            rate_limited_lines: AtomicU64::new(0),
            lines_shipped: AtomicU64::new(0),
            bytes_shipped: AtomicU64::new(0),
            frames_acked: AtomicU64::new(0),
            batches_acked: AtomicU64::new(0),
            batches_duplicate: AtomicU64::new(0),
            frames_refused: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            spool_bytes: AtomicU64::new(0),
            spool_frames: AtomicU64::new(0),
            spool_limit_bytes: AtomicU64::new(0),
            files_tailed: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            sampler_errors: AtomicU64::new(0),
            registered: AtomicBool::new(false),
            last_ship_ms: AtomicU64::new(0),
            last_contact_ms: AtomicU64::new(0),
            loop_turn_ms: AtomicU64::new(0),
            heartbeat_ms: AtomicU64::new(10_000),
            stall_after_ms: AtomicU64::new(120_000),
            marks: Mutex::new(Marks::default()),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn marks(&self) -> MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lines read since start.
    pub fn lines_read(&self) -> u64 {
        self.lines_read.load(Ordering::Relaxed)
    }

    /// Bytes read past since start.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Lines dropped by rate limits since start.
    pub fn rate_limited_lines(&self) -> u64 {
        self.rate_limited_lines.load(Ordering::Relaxed)
    }

    /// A poll returned a batch: `lines` lines over `bytes` bytes, besides
    /// `too_long` and `rate_dropped` lines skipped.
    pub(crate) fn read(&self, lines: u64, bytes: u64, too_long: u64, rate_dropped: u64) {
        self.lines_read.fetch_add(lines, Ordering::Relaxed);
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
        self.lines_too_long.fetch_add(too_long, Ordering::Relaxed);
        self.rate_limited_lines
            .fetch_add(rate_dropped, Ordering::Relaxed);
    }

    /// The collector acknowledged `frame` (an encoded ingest frame).
    pub(crate) fn acked(&self, frame: &[u8], reply: &IngestReply) {
        let (lines, bytes) = frame_payload(frame);
        self.lines_shipped.fetch_add(lines, Ordering::Relaxed);
        self.bytes_shipped.fetch_add(bytes, Ordering::Relaxed);
        self.frames_acked.fetch_add(1, Ordering::Relaxed);
        self.batches_acked
            .fetch_add(reply.accepted + reply.duplicates, Ordering::Relaxed);
        self.batches_duplicate
            .fetch_add(reply.duplicates, Ordering::Relaxed);
        let now = self.now_ms() + 1;
        self.last_ship_ms.store(now, Ordering::Relaxed);
        self.last_contact_ms.store(now, Ordering::Relaxed);
    }

    /// A request to the collector succeeded.
    pub(crate) fn contact(&self) {
        self.last_contact_ms
            .store(self.now_ms() + 1, Ordering::Relaxed);
    }

    /// The collector accepted the agent's registration.
    pub(crate) fn registered(&self) {
        self.registered.store(true, Ordering::Relaxed);
        self.contact();
    }

    /// A request to the collector failed and will be tried again.
    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// A frame was refused for good and dropped.
    pub(crate) fn refused(&self) {
        self.frames_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A problem was reported.
    pub(crate) fn error(&self, message: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.marks().last_error = Some(message.to_string());
    }

    /// The bounds the agent is judged by: the disk buffer's, the heartbeat
    /// interval, and the longest an agent loop turn may take.
    pub(crate) fn limits(
        &self,
        spool_limit_bytes: u64,
        heartbeat: Duration,
        stall_after: Duration,
    ) {
        self.spool_limit_bytes
            .store(spool_limit_bytes, Ordering::Relaxed);
        self.set_heartbeat(heartbeat);
        self.stall_after_ms.store(
            u64::try_from(stall_after.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The heartbeat interval in force.
    pub(crate) fn set_heartbeat(&self, heartbeat: Duration) {
        self.heartbeat_ms.store(
            u64::try_from(heartbeat.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The agent loop turned; `files`, `spool_bytes` and `spool_frames` are
    /// the gauges now.
    pub(crate) fn turn(&self, files: u64, spool_bytes: u64, spool_frames: u64) {
        self.files_tailed.store(files, Ordering::Relaxed);
        self.spool_bytes.store(spool_bytes, Ordering::Relaxed);
        self.spool_frames.store(spool_frames, Ordering::Relaxed);
        self.loop_turn_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The agent is alive while waiting for the collector (registering).
    pub(crate) fn waiting(&self) {
        self.loop_turn_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The agent loop ended, for `reason`.
    pub(crate) fn stopped(&self, reason: String) {
        self.marks().stopped = Some(reason);
    }

    /// Whether the agent loop is alive (checks 1 and 2 of
    /// [`Stats::health`]), else the reason, one line.
    pub fn liveness(&self) -> Result<(), String> {
        if let Some(reason) = &self.marks().stopped {
            return Err(format!("agent stopped: {reason}"));
        }
        let idle = self
            .now_ms()
            .saturating_sub(self.loop_turn_ms.load(Ordering::Relaxed));
        if idle > self.stall_after_ms.load(Ordering::Relaxed) {
            return Err(format!("agent loop stalled: no turn for {} s", idle / 1000));
        }
        Ok(())
    }

    /// Whether the agent is healthy, else the reason, one line. In order:
    ///
    /// 1. the agent loop ended (stopped, or its state directory failed);
    /// 2. the loop has not turned for longer than its stall bound (a
    ///    request stuck past every timeout);
    /// 3. the collector has not accepted a registration for longer than
    ///    [`UNREGISTERED_HEARTBEATS`] heartbeat intervals since start
    ///    (unreachable, refusing the token, …: the last error is given);
    /// 4. the disk buffer is full, so reading is paused: the collector has
    ///    been unreachable for as long as the buffer lasts.
    ///
    /// A collector that is unreachable while the disk buffer still takes
    /// the frames is not a failure: nothing is lost and the agent catches
    /// up by itself (see `vigil_agent_last_contact_timestamp_seconds`).
    pub fn health(&self) -> Result<(), String> {
        self.liveness()?;
        let now = self.now_ms();
        let marks = self.marks();
        let heartbeat = self.heartbeat_ms.load(Ordering::Relaxed);
        if !self.registered.load(Ordering::Relaxed)
            && now > heartbeat.saturating_mul(UNREGISTERED_HEARTBEATS)
        {
            let last = marks
                .last_error
                .as_deref()
                .map_or(String::new(), |e| format!("; last error: {e}"));
            return Err(format!(
                "not registered with the collector {} s after start (more than \
                 {UNREGISTERED_HEARTBEATS} heartbeats){last}",
                now / 1000
            ));
        }
        let bytes = self.spool_bytes.load(Ordering::Relaxed);
        let limit = self.spool_limit_bytes.load(Ordering::Relaxed);
        if limit > 0 && bytes >= limit {
            let contact = match self.last_contact_ms.load(Ordering::Relaxed) {
                0 => "never".to_string(),
                at => format!("{} s ago", now.saturating_sub(at - 1) / 1000),
            };
            return Err(format!(
                "spool full ({bytes} of {limit} bytes), reading paused; collector last \
                 reached {contact}"
            ));
        }
        Ok(())
    }

    /// An epoch time in seconds from a "since start + 1" mark (0: never).
    fn epoch_secs(&self, mark: u64) -> f64 {
        if mark == 0 {
            0.0
        } else {
            (self.start_epoch_ms + mark - 1) as f64 / 1000.0
        }
    }

    /// The Prometheus text exposition of every metric (see the
    /// [module docs](self)), the process's read from `proc_self` (the
    /// agent's `/proc/self`; a missing file leaves its metrics out).
    pub fn render(&self, proc_self: &Path) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        let counters: [(&str, &str, &AtomicU64); 14] = [
            (
                "lines_read_total",
                "Lines read from the tailed files.",
                &self.lines_read,
            ),
            (
                "bytes_read_total",
                "Bytes of the tailed files read past.",
                &self.bytes_read,
            ),
            (
                "lines_too_long_total",
                "Lines skipped as longer than the source's max_line_bytes.",
                &self.lines_too_long,
            ),
            (
                "rate_limited_lines_total",
                "Lines dropped by a source's rate limit.",
                &self.rate_limited_lines,
            ),
            (
                "lines_shipped_total",
                "Lines the collector acknowledged.",
                &self.lines_shipped,
            ),
            (
                "bytes_shipped_total",
                "Payload bytes the collector acknowledged.",
                &self.bytes_shipped,
            ),
            (
                "frames_acked_total",
                "Ingest frames acknowledged.",
                &self.frames_acked,
            ),
            (
                "batches_acked_total",
                "Batches (one per file and range) in acknowledged frames.",
                &self.batches_acked,
            ),
            (
                "batches_duplicate_total",
                "Acknowledged batches the collector already held.",
                &self.batches_duplicate,
            ),
            (
                "frames_refused_total",
                "Frames the collector refused for good; dropped.",
                &self.frames_refused,
            ),
            (
                "retries_total",
                "Requests to the collector that failed and are tried again.",
                &self.retries,
            ),
            (
                "errors_total",
                "Problems reported by the agent.",
                &self.errors,
            ),
            (
                "samples_total",
                "Host, JVM and probe samples taken.",
                &self.samples,
            ),
            (
                "sampler_errors_total",
                "Problems met by the samplers.",
                &self.sampler_errors,
            ),
        ];
        for (name, help, value) in counters {
            metric(
                &mut out,
                &format!("vigil_agent_{name}"),
                "counter",
                help,
                load(value),
            );
        }
        let spool_bytes = self.spool_bytes.load(Ordering::Relaxed);
        let spool_limit = self.spool_limit_bytes.load(Ordering::Relaxed);
        let healthy = self.health().is_ok();
        let gauges = [
            (
                "spool_bytes",
                "Bytes of frames in the disk buffer.",
                spool_bytes as f64,
            ),
            (
                "spool_frames",
                "Frames in the disk buffer.",
                load(&self.spool_frames),
            ),
            (
                "spool_limit_bytes",
                "Bound of the disk buffer.",
                spool_limit as f64,
            ),
            (
                "reading_paused",
                "1 while the disk buffer is full and reading waits.",
                f64::from(u8::from(spool_limit > 0 && spool_bytes >= spool_limit)),
            ),
            (
                "files_tailed",
                "Files followed now.",
                load(&self.files_tailed),
            ),
            (
                "registered",
                "1 once the collector accepted the agent's registration.",
                f64::from(u8::from(self.registered.load(Ordering::Relaxed))),
            ),
            (
                "last_ship_timestamp_seconds",
                "When the collector last acknowledged a frame (epoch seconds; 0: never).",
                self.epoch_secs(self.last_ship_ms.load(Ordering::Relaxed)),
            ),
            (
                "last_contact_timestamp_seconds",
                "When a request to the collector last succeeded (epoch seconds; 0: never).",
                self.epoch_secs(self.last_contact_ms.load(Ordering::Relaxed)),
            ),
            (
                "healthy",
                "1 when /healthz answers 200.",
                f64::from(u8::from(healthy)),
            ),
        ];
        for (name, help, value) in gauges {
            metric(
                &mut out,
                &format!("vigil_agent_{name}"),
                "gauge",
                help,
                value,
            );
        }
        if let Some(rss) = resident_bytes(&proc_self.join("status")) {
            metric(
                &mut out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                rss as f64,
            );
        }
        if let Some(cpu) = cpu_seconds(&proc_self.join("stat")) {
            metric(
                &mut out,
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                cpu,
            );
        }
        out
    }
}

/// Appends one metric with its help and type lines.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

/// Lines and payload bytes of an encoded ingest frame, from its header
/// line; (0, 0) for a frame without a readable header.
fn frame_payload(frame: &[u8]) -> (u64, u64) {
    let Some(nl) = memchr::memchr(b'\n', frame) else {
        return (0, 0);
    };
    match serde_json::from_slice::<IngestHeader>(&frame[..nl]) {
        Ok(header) => header
            .batches
            .iter()
            .fold((0, 0), |(l, b), h| (l + h.lines, b + h.bytes)),
        Err(_) => (0, 0),
    }
}

/// `VmRSS` of a `/proc/<pid>/status` file, in bytes.
fn resident_bytes(status: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// User + system CPU seconds of a `/proc/<pid>/stat` file.
fn cpu_seconds(stat: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(stat).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields
    // are counted after its closing parenthesis, state being field 3.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// A [`Sampler`] counting the samples and errors of the one it wraps into
/// [`Stats`].
pub struct Counted {
    inner: Box<dyn Sampler>,
    stats: Arc<Stats>,
}

impl Counted {
    /// Wraps `inner`, counting into `stats`.
    pub fn new(inner: Box<dyn Sampler>, stats: Arc<Stats>) -> Self {
        Counted { inner, stats }
    }
}

impl Sampler for Counted {
    fn sample(&mut self, now_ms: i64) -> Sampled {
        let round = self.inner.sample(now_ms);
        self.stats
            .samples
            .fetch_add(round.samples.len() as u64, Ordering::Relaxed);
        self.stats
            .sampler_errors
            .fetch_add(round.errors.len() as u64, Ordering::Relaxed);
        round
    }
}

/// The `/healthz` and `/metrics` server; see the [module docs](self).
/// Stopped (and its thread joined, within about 100 ms) when dropped.
#[derive(Debug)]
pub struct HealthServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HealthServer {
    /// Listens on `addr` (port 0: any free port) and serves `stats` on a
    /// thread of its own.
    ///
    /// # Errors
    ///
    /// [`HealthError::Bind`] if the address cannot be listened on,
    /// [`HealthError::Spawn`] if the thread cannot be started.
    pub fn start(addr: SocketAddr, stats: Arc<Stats>) -> Result<Self, HealthError> {
        let bind = |source| HealthError::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let local = listener.local_addr().map_err(bind)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vigil-health".into())
            .spawn(move || serve(&listener, &stats, &flag))
            .map_err(HealthError::Spawn)?;
        Ok(HealthServer {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }

    /// The address listened on (with the port chosen when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic of the server thread was already reported.
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, stats: &Stats, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(e) = handle(stream, stats) {
                    log::debug!("health: request from {peer}: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                log::warn!("health: cannot accept a connection: {e}");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Reads the request head, up to its blank line or [`MAX_REQUEST_BYTES`].
fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed before the end of the request",
            ));
        }
        head.extend_from_slice(&buf[..n]);
        if memchr::memmem::find(&head, b"\r\n\r\n").is_some()
            || memchr::memmem::find(&head, b"\n\n").is_some()
        {
            return Ok(Some(head));
        }
        if head.len() > MAX_REQUEST_BYTES {
            return Ok(None);
        }
    }
}

fn handle(mut stream: TcpStream, stats: &Stats) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let Some(head) = read_head(&mut stream)? else {
        return respond(&mut stream, 431, "text/plain", "request head too large\n");
    };
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/healthz") => match stats.health() {
            Ok(()) => respond(&mut stream, 200, "text/plain", "ok\n"),
            Err(reason) => respond(&mut stream, 503, "text/plain", &format!("{reason}\n")),
        },
        ("GET", "/livez") => match stats.liveness() {
            Ok(()) => respond(&mut stream, 200, "text/plain", "ok\n"),
            Err(reason) => respond(&mut stream, 503, "text/plain", &format!("{reason}\n")),
        },
        ("GET", "/metrics") => respond(
            &mut stream,
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            &stats.render(Path::new("/proc/self")),
        ),
        (_, "/healthz" | "/livez" | "/metrics") => {
            respond(&mut stream, 405, "text/plain", "only GET\n")
        }
        _ => respond(
            &mut stream,
            404,
            "text/plain",
            "not found: the agent serves /healthz, /livez and /metrics\n",
        ),
    }
}

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let allow = if status == 405 { "Allow: GET\r\n" } else { "" };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{allow}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_rss_are_read_from_proc_files() {
        let dir = tempfile::tempdir().unwrap();
        // A command name with spaces and a parenthesis.
        let stat = "42 (vigil (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 \
                    1000 20000000 4700 18446744073709551615";
        std::fs::write(dir.path().join("stat"), stat).unwrap();
        std::fs::write(
            dir.path().join("status"),
            "Name:\tvigil\nVmPeak:\t  30000 kB\nVmRSS:\t   18800 kB\nThreads:\t3\n",
        )
        .unwrap();
        assert_eq!(cpu_seconds(&dir.path().join("stat")), Some(3.0));
        assert_eq!(
            resident_bytes(&dir.path().join("status")),
            Some(18800 * 1024)
        );
        assert_eq!(cpu_seconds(&dir.path().join("missing")), None);
        let text = Stats::new().render(dir.path());
        assert!(text.contains("\nprocess_cpu_seconds_total 3\n"), "{text}");
        assert!(text.contains("\nprocess_resident_memory_bytes 19251200\n"));
    }

    #[test]
    fn the_real_proc_self_is_readable() {
        assert!(resident_bytes(Path::new("/proc/self/status")).unwrap() > 0);
        assert!(cpu_seconds(Path::new("/proc/self/stat")).is_some());
    }

    #[test]
    fn health_follows_registration_and_the_spool() {
        let stats = Stats::new();
        stats.limits(100, Duration::ZERO, Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
        stats.error("register: connection refused");
        let reason = stats.health().unwrap_err();
        assert!(reason.starts_with("not registered"), "{reason}");
        assert!(reason.ends_with("last error: register: connection refused"));
        stats.registered();
        assert_eq!(stats.health(), Ok(()));
        stats.turn(1, 100, 2);
        let reason = stats.health().unwrap_err();
        assert!(
            reason.starts_with("spool full (100 of 100 bytes)"),
            "{reason}"
        );
        assert!(
            reason.ends_with("collector last reached 0 s ago"),
            "{reason}"
        );
        stats.turn(1, 0, 0);
        assert_eq!(stats.health(), Ok(()));
        stats.limits(100, Duration::ZERO, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        let reason = stats.health().unwrap_err();
        assert!(reason.starts_with("agent loop stalled"), "{reason}");
        stats.stopped("shut down".into());
        assert_eq!(stats.health(), Err("agent stopped: shut down".into()));
    }

    #[test]
    fn metrics_have_help_type_and_value_lines() {
        let stats = Stats::new();
        stats.read(3, 30, 1, 2);
        let text = stats.render(Path::new("/nonexistent"));
        assert!(text.contains(
            "# HELP vigil_agent_lines_read_total Lines read from the tailed files.\n\
             # TYPE vigil_agent_lines_read_total counter\n\
             vigil_agent_lines_read_total 3\n"
        ));
        assert!(text.contains("\nvigil_agent_rate_limited_lines_total 2\n"));
        assert!(text.contains("\nvigil_agent_last_ship_timestamp_seconds 0\n"));
        assert!(!text.contains("process_"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.split_once(' ').unwrap();
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            value.parse::<f64>().unwrap();
        }
    }
}
