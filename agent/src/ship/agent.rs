//! The agent's main loop: register, pull the configuration, tail, ship,
//! spool, heartbeat.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vigil_model::wire::{
    self, AgentConfig, AgentStatus, BatchHeader, FileOffset, FrameLink, Heartbeat, IngestReply,
    Labels, Register, RegisterReply, SourceConfig,
};

use super::client::{Client, ClientError, CONNECT_TIMEOUT, REQUEST_TIMEOUT};
use super::spool::{Spool, SpoolError, DEFAULT_SPOOL_LIMIT_BYTES, SPOOL_DIR};
use crate::health::Stats;
use crate::tail::{
    Checkpoint, CheckpointStore, FileId, LineBatch, LineBuf, RatePolicy, Source, TailError, Tailer,
};

/// Name of the file holding the agent's identity in its state directory.
pub const AGENT_ID_FILE: &str = "agent-id";
/// Default of [`AgentOptions::poll_interval`].
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Default of [`AgentOptions::max_frame_bytes`]: 4 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// Smallest accepted [`AgentOptions::max_frame_bytes`].
pub const MIN_FRAME_BYTES: usize = 4 * 1024;
/// Recent errors reported with each heartbeat.
const KEPT_ERRORS: usize = 10;
/// Longest sleep between two looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(50);
/// While lines flow, checkpoints of acknowledged lines are saved at most
/// this often (and whenever the agent has caught up): after a crash, the
/// agent resumes from the larger of its checkpoint and the offset the
/// collector holds, so the lines in between are neither lost nor doubled.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// JSON of one batch header in a frame, beyond its path (an upper bound).
const BATCH_HEADER_BYTES: usize = 256;
/// Frames sent and not yet acknowledged, at most. With two, the collector
/// reads and logs the next frame while it answers the previous one, and
/// its applier always has a frame to cut.
const MAX_IN_FLIGHT: usize = 2;

/// A source of wall-clock time, epoch milliseconds.
///
/// The agent reports this time to the collector (which judges clock skew);
/// tests inject a skewed clock. Any `Fn() -> i64` is a clock.
pub trait Clock: Send + Sync {
    /// Now, in epoch milliseconds.
    fn now_ms(&self) -> i64;
}

impl<F: Fn() -> i64 + Send + Sync> Clock for F {
    fn now_ms(&self) -> i64 {
        self()
    }
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// How to run an [`Agent`]. Build with [`AgentOptions::new`], then adjust
/// the public fields.
#[derive(Clone)]
pub struct AgentOptions {
    /// Base URL of the collector, e.g. `http://127.0.0.1:8686`.
    pub collector: String,
    /// Ingest token sent as `Authorization: Bearer …`, if any.
    pub token: Option<String>,
    /// PEM certificates trusted for an https collector (default: the
    /// bundled Mozilla roots).
    pub ca_pem: Option<Vec<u8>>,
    /// State directory: `agent-id`, `checkpoints.json`, `spool/`.
    pub state: PathBuf,
    /// Labels of this node.
    pub labels: Labels,
    /// Heartbeat interval overriding the collector's
    /// ([`RegisterReply::heartbeat_secs`]).
    pub heartbeat: Option<Duration>,
    /// Time between two polls of the files (default 500 ms).
    pub poll_interval: Duration,
    /// Bound of the disk buffer (default 256 MiB); reading pauses above it.
    pub spool_limit_bytes: u64,
    /// Largest ingest frame (default 4 MiB, at most
    /// [`wire::MAX_BODY_BYTES`], at least [`MIN_FRAME_BYTES`]). A poll reads
    /// at most half of it from each file; lines longer than half of it are
    /// skipped as too long.
    pub max_frame_bytes: usize,
    /// First wait after a failed request (default 0.5 s), doubled after
    /// each further failure.
    pub retry_min: Duration,
    /// Longest wait between retries (default 30 s); also the wait after a
    /// refused token.
    pub retry_max: Duration,
    /// What the sources' rate limits do with lines over them (default
    /// [`RatePolicy::Delay`]: read later; [`RatePolicy::Drop`] skips them
    /// and reports them in each batch's `rate_dropped`).
    pub rate_policy: RatePolicy,
    /// The clock reported to the collector (default [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
    /// Where the agent counts what it does and marks its health (default:
    /// fresh [`Stats`]); share it with a
    /// [`HealthServer`](crate::health::HealthServer) to serve them.
    pub stats: Arc<Stats>,
}

impl AgentOptions {
    /// Options with every default, for the collector at `collector`, state
    /// kept in `state`.
    pub fn new(collector: impl Into<String>, state: impl Into<PathBuf>, labels: Labels) -> Self {
        AgentOptions {
            collector: collector.into(),
            token: None,
            ca_pem: None,
            state: state.into(),
            labels,
            heartbeat: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            spool_limit_bytes: DEFAULT_SPOOL_LIMIT_BYTES,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            retry_min: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            rate_policy: RatePolicy::Delay,
            clock: Arc::new(SystemClock),
            stats: Arc::new(Stats::new()),
        }
    }
}

impl fmt::Debug for AgentOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentOptions")
            .field("collector", &self.collector)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("state", &self.state)
            .field("labels", &self.labels)
            .field("heartbeat", &self.heartbeat)
            .field("poll_interval", &self.poll_interval)
            .field("spool_limit_bytes", &self.spool_limit_bytes)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("retry_min", &self.retry_min)
            .field("retry_max", &self.retry_max)
            .field("rate_policy", &self.rate_policy)
            .finish_non_exhaustive()
    }
}

/// Why the agent stopped. Network trouble never stops it (it retries);
/// these are problems with its options or its state directory.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// An option is out of range.
    #[error("invalid agent option: {0}")]
    Options(String),
    /// The collector URL is unusable.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A file of the state directory cannot be read or written.
    #[error("{path}: {source}", path = path.display())]
    State {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The checkpoints cannot be loaded or saved.
    #[error(transparent)]
    Checkpoints(#[from] TailError),
    /// The disk buffer cannot be written or read.
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

fn state_err(path: &Path) -> impl FnOnce(io::Error) -> AgentError + '_ {
    move |source| AgentError::State {
        path: path.to_path_buf(),
        source,
    }
}

/// Merges the offsets the collector holds for this agent
/// ([`RegisterReply::offsets`]) into `checkpoints`, per file identity:
///
/// - a newer generation at the collector wins, with its offset;
/// - the same generation takes the larger of both offsets;
/// - an older generation at the collector is ignored;
/// - a file without checkpoint gets one from the collector (with an empty
///   path; the tailer finds files by identity).
pub fn merge_offsets(checkpoints: Vec<Checkpoint>, offsets: &[FileOffset]) -> Vec<Checkpoint> {
    let mut by_id: BTreeMap<FileId, Checkpoint> =
        checkpoints.into_iter().map(|c| (c.id, c)).collect();
    for o in offsets {
        let id = FileId {
            dev: o.dev,
            ino: o.ino,
        };
        let c = by_id.entry(id).or_insert_with(|| Checkpoint {
            path: PathBuf::new(),
            id,
            offset: o.end,
            gen: o.gen,
        });
        if o.gen > c.gen {
            c.gen = o.gen;
            c.offset = o.end;
        } else if o.gen == c.gen {
            c.offset = c.offset.max(o.end);
        }
    }
    by_id.into_values().collect()
}

/// Reads the agent's identity from `<state>/agent-id`, creating it with
/// `default` the first time.
///
/// # Errors
///
/// [`AgentError::State`] if the file cannot be read or written,
/// [`AgentError::Options`] if it must be created and `default` is empty.
pub fn agent_id(state: &Path, default: &str) -> Result<String, AgentError> {
    let path = state.join(AGENT_ID_FILE);
    match fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(state_err(&path)(e)),
    }
    let id = default.trim();
    if id.is_empty() {
        return Err(AgentError::Options(
            "no agent id: the instance label is empty".into(),
        ));
    }
    fs::create_dir_all(state).map_err(state_err(state))?;
    let tmp = state.join(format!("{AGENT_ID_FILE}.tmp"));
    let write = || -> io::Result<()> {
        let mut file = File::create(&tmp)?;
        writeln!(file, "{id}")?;
        file.sync_all()
    };
    write().map_err(state_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(state_err(&path))?;
    File::open(state)
        .and_then(|d| d.sync_all())
        .map_err(state_err(state))?;
    Ok(id.to_string())
}

/// Exponential backoff between retries.
#[derive(Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
    /// The last wait, while failing.
    delay: Option<Duration>,
    /// No retry before this.
    until: Instant,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            delay: None,
            until: Instant::now(),
        }
    }

    /// Another failure: wait twice as long as last time (within bounds).
    fn fail(&mut self) {
        let delay = self
            .delay
            .map_or(self.min, |d| d.saturating_mul(2))
            .min(self.max);
        self.delay = Some(delay);
        self.until = Instant::now() + delay;
    }

    /// A failure that will not fix itself soon: wait the longest.
    fn fail_slowly(&mut self) {
        self.delay = Some(self.max);
        self.until = Instant::now() + self.max;
    }

    /// After `error`, wait as it deserves.
    fn fail_for(&mut self, error: &ClientError) {
        match error {
            ClientError::Unauthorized { .. } => self.fail_slowly(),
            _ => self.fail(),
        }
    }

    fn reset(&mut self) {
        self.delay = None;
        self.until = Instant::now();
    }

    fn ready(&self, now: Instant) -> bool {
        now >= self.until
    }
}

/// Sleeps until `deadline` or until `stop` is set; returns whether stopped.
fn sleep_until(deadline: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep((deadline - now).min(STOP_CHECK));
    }
}

/// One ingest frame being built: batch headers with their lines, and what
/// to commit once it is acknowledged or spooled.
#[derive(Default)]
struct Frame {
    batches: Vec<(BatchHeader, LineBuf)>,
    commits: Vec<(FileId, u64)>,
    bytes: usize,
}

/// A frame being sent on a thread of its own while the agent reads the
/// next one: the round trip (the collector logs and syncs the frame before
/// it answers) overlaps the reading. Up to [`MAX_IN_FLIGHT`] are in flight;
/// each names the one sent before it ([`FrameLink`]), so the collector
/// takes them in order, and they are landed (committed or spooled) in
/// order.
struct InFlight {
    id: u64,
    commits: Vec<(FileId, u64)>,
    send: std::thread::JoinHandle<(Vec<u8>, Result<IngestReply, ClientError>)>,
}

impl InFlight {
    fn send(client: Client, frame: Vec<u8>, commits: Vec<(FileId, u64)>, link: FrameLink) -> Self {
        let send = std::thread::spawn(move || {
            let reply = client.ingest(&frame, Some(link));
            (frame, reply)
        });
        InFlight {
            id: link.id,
            commits,
            send,
        }
    }

    /// Waits for the collector's answer.
    fn answer(self) -> Answered {
        let (frame, reply) = self
            .send
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Answered {
            commits: self.commits,
            frame,
            reply,
        }
    }
}

/// A frame of [`InFlight`] once the collector answered.
struct Answered {
    commits: Vec<(FileId, u64)>,
    frame: Vec<u8>,
    reply: Result<IngestReply, ClientError>,
}

/// The first id of this process's frames: the time in nanoseconds, so that
/// ids (one more per frame) do not repeat those of an earlier run of the
/// agent, which the collector may still remember.
fn first_frame_id() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// What became of a frame sent by [`InFlight::send`].
enum Delivery {
    /// Acknowledged, spooled or refused for good: commit it.
    Done,
    /// 409: resynchronise with the collector; do not commit.
    Conflict,
}

/// The node agent: tails the files its collector names and ships their lines,
/// losing and doubling none. See [`Agent::run`].
pub struct Agent {
    opts: AgentOptions,
    id: String,
    client: Client,
    spool: Spool,
    store: CheckpointStore,
    tailer: Tailer,
    config: AgentConfig,
    heartbeat_every: Duration,
    next_heartbeat: Instant,
    next_poll: Instant,
    /// Retries of ingestion (spooled frames, resynchronisation).
    backoff: Backoff,
    errors: VecDeque<String>,
    /// Rate-limited polls counted by tailers replaced since start.
    rate_limited_before: u64,
    /// When the checkpoints were saved last, and whether lines were
    /// acknowledged since.
    checkpoints_saved: Instant,
    checkpoints_dirty: bool,
    /// The frames being sent, oldest first.
    in_flight: VecDeque<InFlight>,
    /// The id of the next frame sent.
    next_frame_id: u64,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("id", &self.id)
            .field("collector", &self.client.base())
            .field("config_version", &self.config.version)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Runs the agent until `stop` is set:
    ///
    /// 1. reads (or creates) its identity in `<state>/agent-id`, defaulting
    ///    to the `instance` label;
    /// 2. registers with the collector and pulls its configuration, retrying
    ///    with exponential backoff while the collector is unreachable;
    /// 3. tails the configured files from `<state>/checkpoints.json` merged
    ///    with the collector's offsets ([`merge_offsets`]);
    /// 4. ships new lines as ingest frames, saving checkpoints only once the
    ///    collector acknowledged them or they are in the disk buffer
    ///    (`<state>/spool/`), which is sent in order when the collector is
    ///    back; reading pauses while the buffer is over its bound;
    /// 5. heartbeats with its status, pulls the configuration again when its
    ///    version changes and registers again when the collector forgot it.
    ///
    /// Returns `Ok(())` once stopped (within about 50 ms, or the timeout of
    /// a request in flight).
    ///
    /// # Errors
    ///
    /// Only for unusable options or state: [`AgentError::Options`],
    /// [`AgentError::Client`] (bad URL), [`AgentError::State`],
    /// [`AgentError::Checkpoints`], [`AgentError::Spool`]. Network and
    /// collector failures are retried and reported, never returned.
    pub fn run(opts: AgentOptions, stop: &AtomicBool) -> Result<(), AgentError> {
        let stats = opts.stats.clone();
        let result = Self::run_until(opts, stop);
        stats.stopped(match &result {
            Ok(()) => "shut down".to_string(),
            Err(e) => e.to_string(),
        });
        result
    }

    /// [`Agent::run`] without recording how it ended.
    fn run_until(opts: AgentOptions, stop: &AtomicBool) -> Result<(), AgentError> {
        if opts.max_frame_bytes > wire::MAX_BODY_BYTES || opts.max_frame_bytes < MIN_FRAME_BYTES {
            return Err(AgentError::Options(format!(
                "max_frame_bytes {} is not within {MIN_FRAME_BYTES}..={}",
                opts.max_frame_bytes,
                wire::MAX_BODY_BYTES
            )));
        }
        if opts.poll_interval.is_zero() {
            return Err(AgentError::Options("poll_interval is zero".into()));
        }
        let client = Client::new(
            &opts.collector,
            opts.token.as_deref(),
            opts.ca_pem.as_deref(),
        )?;
        // A turn of the loop may wait for a heartbeat or a retry, then for
        // a few requests up to their timeouts.
        let stall_after = Duration::from_secs(60)
            + 2 * opts
                .heartbeat
                .unwrap_or(Duration::from_secs(10))
                .max(opts.retry_max)
            + (MAX_IN_FLIGHT as u32 + 2) * (CONNECT_TIMEOUT + REQUEST_TIMEOUT);
        opts.stats.limits(
            opts.spool_limit_bytes,
            opts.heartbeat.unwrap_or(Duration::from_secs(10)),
            stall_after,
        );
        fs::create_dir_all(&opts.state).map_err(state_err(&opts.state))?;
        let id = agent_id(&opts.state, &opts.labels.instance)?;
        let spool = Spool::open(opts.state.join(SPOOL_DIR), opts.spool_limit_bytes)?;
        let store = CheckpointStore::new(&opts.state);
        let saved = store.load()?;
        let now = Instant::now();
        let mut agent = Agent {
            backoff: Backoff::new(opts.retry_min, opts.retry_max),
            opts,
            id,
            client,
            spool,
            store,
            // Follows nothing until the configuration is known.
            tailer: Tailer::from_sources(Vec::new(), Vec::new()),
            config: AgentConfig::default(),
            heartbeat_every: Duration::from_secs(10),
            next_heartbeat: now,
            next_poll: now,
            errors: VecDeque::new(),
            rate_limited_before: 0,
            checkpoints_saved: now,
            checkpoints_dirty: false,
            in_flight: VecDeque::new(),
            next_frame_id: first_frame_id(),
        };
        let Some(reply) = agent.register_until(stop) else {
            return Ok(());
        };
        let Some(config) = agent.config_until(stop) else {
            return Ok(());
        };
        agent.config = config;
        agent.tailer = agent.build_tailer(merge_offsets(saved, &reply.offsets));
        agent.next_heartbeat = Instant::now() + agent.heartbeat_every;
        agent.main_loop(stop)?;
        agent.land_all(stop)?;
        agent.save_checkpoints()
    }

    fn main_loop(&mut self, stop: &AtomicBool) -> Result<(), AgentError> {
        self.publish();
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= self.next_heartbeat {
                // A new configuration rebuilds the tailer from what was
                // acknowledged: the frames in flight first.
                if self.land_all(stop)? {
                    self.heartbeat(stop)?;
                }
            }
            if !self.spool.is_empty() && self.backoff.ready(now) {
                self.retry_spool(stop)?;
            }
            if !self.spool.is_full() && now >= self.next_poll {
                self.poll(stop)?;
                let again = self.tailer.backlog() && !self.spool.is_full();
                if !again && self.checkpoints_dirty {
                    self.save_checkpoints()?;
                }
                self.next_poll = if again {
                    now
                } else {
                    now + self.opts.poll_interval
                };
            }
            let mut wake = self.next_heartbeat;
            if !self.spool.is_full() {
                wake = wake.min(self.next_poll);
            }
            if !self.spool.is_empty() {
                wake = wake.min(self.backoff.until);
            }
            self.publish();
            sleep_until(wake, stop);
        }
        Ok(())
    }

    /// Sets the gauges of [`Stats`] and marks a turn of the loop.
    fn publish(&self) {
        self.opts.stats.turn(
            self.tailer.files().len() as u64,
            self.spool.bytes(),
            self.spool.len() as u64,
        );
    }

    /// Records an error for the next heartbeats, the stats and the log.
    fn error(&mut self, message: String) {
        log::warn!("{message}");
        self.opts.stats.error(&message);
        if self.errors.len() == KEPT_ERRORS {
            self.errors.pop_front();
        }
        self.errors.push_back(message);
    }

    fn register_message(&self) -> Register {
        Register {
            agent: self.id.clone(),
            labels: self.opts.labels.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            time_ms: self.opts.clock.now_ms(),
        }
    }

    /// Registers once; on success adopts the heartbeat interval.
    fn register(&mut self) -> Result<RegisterReply, ClientError> {
        let reply = self.client.register(&self.register_message())?;
        self.heartbeat_every = self
            .opts
            .heartbeat
            .unwrap_or(Duration::from_secs(reply.heartbeat_secs.max(1)));
        self.opts.stats.registered();
        self.opts.stats.set_heartbeat(self.heartbeat_every);
        Ok(reply)
    }

    /// Registers, retrying with backoff; `None` if stopped first.
    fn register_until(&mut self, stop: &AtomicBool) -> Option<RegisterReply> {
        let mut backoff = Backoff::new(self.opts.retry_min, self.opts.retry_max);
        loop {
            match self.register() {
                Ok(reply) => return Some(reply),
                Err(e) => {
                    backoff.fail_for(&e);
                    self.opts.stats.retry();
                    self.error(format!("register: {e}"));
                }
            }
            self.opts.stats.waiting();
            if sleep_until(backoff.until, stop) {
                return None;
            }
        }
    }

    /// Pulls the configuration, retrying with backoff; `None` if stopped
    /// first.
    fn config_until(&mut self, stop: &AtomicBool) -> Option<AgentConfig> {
        let mut backoff = Backoff::new(self.opts.retry_min, self.opts.retry_max);
        loop {
            match self.client.config() {
                Ok(config) => {
                    self.opts.stats.contact();
                    return Some(config);
                }
                Err(e) => {
                    backoff.fail_for(&e);
                    self.opts.stats.retry();
                    self.error(format!("config: {e}"));
                }
            }
            self.opts.stats.waiting();
            if sleep_until(backoff.until, stop) {
                return None;
            }
        }
    }

    /// A tailer over the configured sources, resuming from `checkpoints`.
    /// Bad patterns are reported and left out.
    fn build_tailer(&mut self, checkpoints: Vec<Checkpoint>) -> Tailer {
        let half_frame = self.opts.max_frame_bytes / 2;
        let mut sources = Vec::new();
        let configured: Vec<SourceConfig> = self.config.sources.clone();
        for source in configured {
            let mut patterns = Vec::new();
            for pattern in source.patterns {
                match glob::Pattern::new(&pattern) {
                    Ok(_) => patterns.push(PathBuf::from(pattern)),
                    Err(e) => self.error(format!("{pattern}: invalid glob pattern: {e}")),
                }
            }
            sources.push(Source {
                patterns,
                max_line_bytes: source.max_line_bytes.min(half_frame),
                rate_limit_kib_per_min: source.rate_limit_kb_per_min,
                rate_policy: self.opts.rate_policy,
            });
        }
        // A file may fill half a frame per poll, so one busy file ships
        // frames of 2 MiB (by default): each frame costs a request and a
        // sync of the collector's log whatever its size, and 2 MiB frames
        // shipped 2 M lines in 1.13 s where 1 MiB ones took 1.20-1.38 s
        // (`e2e_bench`, pairs in one sitting). Whole-frame batches were
        // slower again (the collector took more than twice as long to read
        // and log 4 MiB as 2 MiB) and held more memory.
        Tailer::from_sources(sources, checkpoints)
            .with_max_batch_bytes(half_frame as u64)
            .with_max_poll_bytes(self.opts.max_frame_bytes as u64)
            .with_flush_markers()
    }

    /// Replaces the tailer by one over the current configuration, resuming
    /// from `checkpoints`, and saves them.
    fn rebuild(&mut self, checkpoints: Vec<Checkpoint>) -> Result<(), AgentError> {
        self.rate_limited_before += self.tailer.rate_limited();
        self.tailer = self.build_tailer(checkpoints);
        self.tailer.save(&self.store)?;
        Ok(())
    }

    /// After a 409: register again and resume every file after what the
    /// collector holds.
    fn resync(&mut self, stop: &AtomicBool) -> Result<(), AgentError> {
        let Some(reply) = self.register_until(stop) else {
            return Ok(());
        };
        let merged = merge_offsets(self.tailer.checkpoints(), &reply.offsets);
        self.rebuild(merged)?;
        // Repeated conflicts must not spin.
        self.backoff.fail();
        Ok(())
    }

    fn status(&self) -> AgentStatus {
        AgentStatus {
            errors: self.errors.iter().cloned().collect(),
            files: self.tailer.files().len() as u64,
            lines_read: self.opts.stats.lines_read(),
            bytes_read: self.opts.stats.bytes_read(),
            rate_limited: self.rate_limited_before
                + self.tailer.rate_limited()
                + self.opts.stats.rate_limited_lines(),
            spool_bytes: self.spool.bytes(),
            paused: self.spool.is_full(),
        }
    }

    fn heartbeat(&mut self, stop: &AtomicBool) -> Result<(), AgentError> {
        self.next_heartbeat = Instant::now() + self.heartbeat_every;
        let heartbeat = Heartbeat {
            agent: self.id.clone(),
            time_ms: self.opts.clock.now_ms(),
            config_version: self.config.version.clone(),
            status: self.status(),
        };
        let reply = match self.client.heartbeat(&heartbeat) {
            Ok(reply) => reply,
            Err(e) => {
                self.opts.stats.retry();
                self.error(format!("heartbeat: {e}"));
                return Ok(());
            }
        };
        self.opts.stats.contact();
        let mut version = reply.config_version;
        if !reply.known {
            match self.register() {
                Ok(registered) => version = registered.config_version,
                Err(e) => {
                    self.opts.stats.retry();
                    self.error(format!("register: {e}"));
                    return Ok(());
                }
            }
        }
        if version != self.config.version && !stop.load(Ordering::Relaxed) {
            match self.client.config() {
                Ok(config) => {
                    self.opts.stats.contact();
                    let changed = config.sources != self.config.sources;
                    self.config = config;
                    if changed {
                        let checkpoints = self.tailer.checkpoints();
                        self.rebuild(checkpoints)?;
                    }
                }
                Err(e) => {
                    self.opts.stats.retry();
                    self.error(format!("config: {e}"));
                }
            }
        }
        Ok(())
    }

    /// Sends the oldest spooled frame.
    fn retry_spool(&mut self, stop: &AtomicBool) -> Result<(), AgentError> {
        let Some(frame) = self.spool.oldest()? else {
            return Ok(());
        };
        match self.client.ingest(&frame, None) {
            Ok(reply) => {
                self.opts.stats.acked(&frame, &reply);
                self.spool.remove_oldest()?;
                self.backoff.reset();
            }
            Err(e @ ClientError::Conflict { .. }) => {
                self.error(format!("spooled frame dropped: {e}"));
                self.spool.remove_oldest()?;
                self.resync(stop)?;
            }
            Err(e @ ClientError::Refused { .. }) => {
                self.opts.stats.refused();
                self.error(format!("spooled frame dropped: {e}"));
                self.spool.remove_oldest()?;
            }
            Err(e) => {
                self.backoff.fail_for(&e);
                self.opts.stats.retry();
                self.error(format!("ingest (spooled): {e}"));
            }
        }
        Ok(())
    }

    /// Reads new lines and ships them as frames.
    fn poll(&mut self, stop: &AtomicBool) -> Result<(), AgentError> {
        // Read while the previous frame is in flight.
        let batches = match self.tailer.poll() {
            Ok(batches) => batches,
            Err(e) => {
                self.error(format!("tail: {e}"));
                return Ok(());
            }
        };
        for frame in self.frames(batches) {
            let encoded = wire::encode_ingest_payloads(&self.id, &frame.batches);
            drop(frame.batches);
            // Resynchronised when a landing is refused: the frames left are
            // read again by the new tailer.
            if self.in_flight.len() >= MAX_IN_FLIGHT && !self.land(stop)? {
                return Ok(());
            }
            if self.spool.is_empty() {
                let link = FrameLink {
                    id: self.next_frame_id,
                    after: self.in_flight.back().map(|f| f.id),
                };
                self.next_frame_id += 1;
                let flight = InFlight::send(self.client.clone(), encoded, frame.commits, link);
                self.in_flight.push_back(flight);
            } else {
                // Behind older frames, also those still in flight: they
                // land (and may be spooled) first.
                if !self.land_all(stop)? {
                    return Ok(());
                }
                self.spool.push(&encoded)?;
                self.commit(frame.commits)?;
            }
        }
        // Caught up: nothing to read meanwhile, so the frames land now.
        if !self.tailer.backlog() {
            self.land_all(stop)?;
        }
        Ok(())
    }

    /// Waits for the oldest frame in flight, if any, and commits it once it
    /// is acknowledged, spooled or refused for good. `false` when it
    /// conflicted with what the collector holds: the agent waited for the
    /// frames sent after it, resynchronised, and lines read since are read
    /// again.
    fn land(&mut self, stop: &AtomicBool) -> Result<bool, AgentError> {
        let Some(flight) = self.in_flight.pop_front() else {
            return Ok(true);
        };
        let answered = flight.answer();
        match self.delivered(&answered.frame, answered.reply)? {
            Delivery::Done => {
                self.commit(answered.commits)?;
                Ok(true)
            }
            Delivery::Conflict => {
                // What the collector took of the later frames counts in the
                // offsets it answers the registration with.
                for later in std::mem::take(&mut self.in_flight) {
                    let later = later.answer();
                    if let Ok(reply) = &later.reply {
                        self.opts.stats.acked(&later.frame, reply);
                    }
                }
                self.resync(stop)?;
                Ok(false)
            }
        }
    }

    /// Lands every frame in flight, oldest first ([`Agent::land`]).
    fn land_all(&mut self, stop: &AtomicBool) -> Result<bool, AgentError> {
        while !self.in_flight.is_empty() {
            if !self.land(stop)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Marks the lines of a frame as delivered (acknowledged or spooled);
    /// saves the checkpoints at most every [`CHECKPOINT_EVERY`].
    fn commit(&mut self, commits: Vec<(FileId, u64)>) -> Result<(), AgentError> {
        for (id, end) in commits {
            self.tailer.commit(id, end);
        }
        self.checkpoints_dirty = true;
        if self.checkpoints_saved.elapsed() >= CHECKPOINT_EVERY {
            self.save_checkpoints()?;
        }
        Ok(())
    }

    /// Saves the checkpoints of the lines acknowledged so far.
    fn save_checkpoints(&mut self) -> Result<(), AgentError> {
        self.tailer.save(&self.store)?;
        self.checkpoints_saved = Instant::now();
        self.checkpoints_dirty = false;
        Ok(())
    }

    /// Groups line batches into frames of at most about `max_frame_bytes`.
    fn frames(&mut self, batches: Vec<LineBatch>) -> Vec<Frame> {
        let max = self.opts.max_frame_bytes;
        let mut frames: Vec<Frame> = Vec::new();
        let mut frame = Frame::default();
        for b in batches {
            self.opts.stats.read(
                b.lines.len() as u64,
                b.end - b.start,
                b.too_long,
                b.rate_dropped,
            );
            let path = b.path.to_string_lossy().into_owned();
            let size = BATCH_HEADER_BYTES + path.len() + b.lines.as_bytes().len();
            if !frame.batches.is_empty() && frame.bytes + size > max {
                frames.push(std::mem::take(&mut frame));
            }
            frame.bytes += size;
            frame.commits.push((b.id, b.end));
            let header = BatchHeader {
                path,
                dev: b.id.dev,
                ino: b.id.ino,
                gen: b.gen,
                start: b.start,
                end: b.end,
                too_long: b.too_long,
                rate_dropped: b.rate_dropped,
                flush: b.flush,
                lines: b.lines.len() as u64,
                bytes: b.lines.as_bytes().len() as u64,
            };
            frame.batches.push((header, b.lines));
        }
        if !frame.batches.is_empty() {
            frames.push(frame);
        }
        frames
    }

    /// Handles the collector's reply to a new frame: spools it when the
    /// collector cannot take it now.
    fn delivered(
        &mut self,
        frame: &[u8],
        reply: Result<IngestReply, ClientError>,
    ) -> Result<Delivery, AgentError> {
        match reply {
            Ok(reply) => {
                self.opts.stats.acked(frame, &reply);
                self.backoff.reset();
                Ok(Delivery::Done)
            }
            Err(e @ ClientError::Conflict { .. }) => {
                self.error(format!("ingest: {e}"));
                Ok(Delivery::Conflict)
            }
            Err(e @ ClientError::Refused { .. }) => {
                self.opts.stats.refused();
                self.error(format!("frame dropped: {e}"));
                Ok(Delivery::Done)
            }
            Err(e) => {
                self.opts.stats.retry();
                self.error(format!("ingest: {e}"));
                self.backoff.fail_for(&e);
                self.spool.push(frame)?;
                Ok(Delivery::Done)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(ino: u64, gen: u32, offset: u64) -> Checkpoint {
        Checkpoint {
            path: PathBuf::from(format!("/l/{ino}")),
            id: FileId { dev: 1, ino },
            offset,
            gen,
        }
    }

    fn off(ino: u64, gen: u32, end: u64) -> FileOffset {
        FileOffset {
            dev: 1,
            ino,
            gen,
            end,
        }
    }

    #[test]
    fn merge_takes_newer_generations_and_larger_offsets() {
        let merged = merge_offsets(
            vec![cp(1, 0, 10), cp(2, 1, 10), cp(3, 2, 10), cp(4, 0, 50)],
            &[
                off(1, 1, 5),
                off(2, 1, 30),
                off(3, 1, 99),
                off(4, 0, 20),
                off(5, 3, 7),
            ],
        );
        let got: Vec<(u64, u32, u64)> =
            merged.iter().map(|c| (c.id.ino, c.gen, c.offset)).collect();
        assert_eq!(
            got,
            [(1, 1, 5), (2, 1, 30), (3, 2, 10), (4, 0, 50), (5, 3, 7)]
        );
        assert_eq!(merged[0].path, PathBuf::from("/l/1"));
        assert_eq!(merged[4].path, PathBuf::new());
    }

    #[test]
    fn agent_id_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert_eq!(agent_id(&state, "node-1").unwrap(), "node-1");
        assert_eq!(agent_id(&state, "node-2").unwrap(), "node-1");
        assert!(agent_id(&dir.path().join("other"), " ").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_bound() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(2));
        let mut delays = Vec::new();
        for _ in 0..4 {
            b.fail();
            delays.push(b.delay.unwrap());
        }
        assert_eq!(delays, [500, 1000, 2000, 2000].map(Duration::from_millis));
        assert!(!b.ready(Instant::now()));
        b.reset();
        assert!(b.ready(Instant::now()));
        b.fail_slowly();
        assert_eq!(b.delay, Some(Duration::from_secs(2)));
    }
}
