//! The collector service: agents register, heartbeat, pull their
//! configuration and send lines; accepted lines are made durable in the
//! write-ahead log, then cut and aggregated by the [`Pipeline`], whose
//! closed minutes go to the store.
//!
//! # Nothing lost, nothing doubled
//!
//! - An ingest frame is acknowledged only after its new batches are synced
//!   to the WAL; a batch the collector already holds (same agent, file
//!   identity, generation and range) is acknowledged and not used again.
//! - At start, the WAL segments still on disk are replayed on top of the
//!   saved [`Floors`] (per monitor: minutes before this are final), so the
//!   minutes in progress at a crash are rebuilt from their lines.
//! - A segment is deleted only once every row in it belongs to a final,
//!   stored minute; the floors and held offsets are saved first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value as J};
use vigil_collector::offsets::{write_atomic, Offsets, Verdict};
use vigil_collector::order::FrameOrder;
use vigil_collector::register::{AgentState, Registry};
use vigil_collector::wal::{Retired, Wal};
use vigil_config::{Config, Monitor};
use vigil_dashboards::api::{Bytes, Ingest, IngestError};
use vigil_engine::store::{MinuteStore, DEFAULT_RETENTION_SECS};
use vigil_model::wire::{
    self, AgentConfig, BatchHeader, FrameLink, Heartbeat, HeartbeatReply, IngestReply, Labels,
    Register, RegisterReply, SampleBatch, SourceConfig,
};
use vigil_model::Counters;

use crate::applier::Applier;
use crate::metrics::Rollup;
use crate::pipeline::{Floors, Pipeline};

/// Samples of a minute are accepted this long after its end (as lines
/// within the default lateness window).
const METRICS_LATENESS_MS: i64 = 120_000;

/// How the collector runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A minute closes this long after its end.
    pub close_after_ms: i64,
    /// Seconds between agent heartbeats.
    pub heartbeat_secs: u64,
    /// WAL segments rotate at this size…
    pub segment_bytes: u64,
    /// …or this age, so that old ones can be deleted.
    pub segment_age: Duration,
    /// Stored minutes are kept this long.
    pub retention_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            close_after_ms: 10_000,
            heartbeat_secs: 10,
            segment_bytes: 64 << 20,
            segment_age: Duration::from_secs(30),
            retention_secs: DEFAULT_RETENTION_SECS,
        }
    }
}

/// The monitors in force and what agents tail for them.
struct Loaded {
    monitors: Vec<Arc<Monitor>>,
    agent_config: AgentConfig,
}

impl Loaded {
    fn new(config: &Config, version: &str) -> Self {
        let monitors: Vec<Arc<Monitor>> = config.monitors.iter().cloned().map(Arc::new).collect();
        let mut sources: Vec<SourceConfig> = Vec::new();
        for m in &monitors {
            let Some(s) = &m.source else { continue };
            let source = SourceConfig {
                patterns: s
                    .paths
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect(),
                max_line_bytes: s.max_line_bytes,
                rate_limit_kb_per_min: s.rate_limit_kb_per_min,
            };
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        Loaded {
            monitors,
            agent_config: AgentConfig {
                version: version.to_string(),
                sources,
            },
        }
    }
}

/// The ordered, durable part: log and held offsets.
struct Core {
    wal: Wal,
    offsets: Offsets,
    segment_started: Instant,
    retention_checked: Option<Instant>,
    /// The last minute whose agent states were stored.
    agents_minute: i64,
}

/// Longest wait of a frame for the frame it follows: well under the
/// agent's request timeout, so that a refusal reaches it as a 503.
const FOLLOW_WAIT: Duration = Duration::from_secs(5);

/// The table of per-minute agent states.
pub const AGENTS_TABLE: &str = "agents";

/// Counts for `/metrics`.
#[derive(Default)]
struct Stats {
    frames: AtomicU64,
    batches: AtomicU64,
    duplicates: AtomicU64,
    conflicts: AtomicU64,
    out_of_order: AtomicU64,
    lines: AtomicU64,
    bytes: AtomicU64,
    reloads: AtomicU64,
    reload_errors: AtomicU64,
    samples: AtomicU64,
    samples_refused: AtomicU64,
}

/// See the [module docs](self).
pub struct Collector {
    dir: PathBuf,
    settings: Settings,
    core: Mutex<Core>,
    /// Frames sent while another was in flight wait here for it.
    order: FrameOrder,
    /// The pipeline, fed in log order. Locks are taken in this order: the
    /// store writer, `core`, the pipeline.
    applier: Applier,
    registry: Mutex<Registry>,
    loaded: RwLock<Loaded>,
    reader: Arc<MinuteStore>,
    /// The store's only writer, used by the ticker (and reloads).
    writer: Mutex<MinuteStore>,
    stats: Stats,
    metrics: Mutex<Rollup>,
    /// Minutes closed outside a tick (by the log replay at start, by a
    /// reload), handed out by the next tick so that alert rules evaluate
    /// them too.
    pending_closed: Mutex<Vec<(String, i64)>>,
    /// Per table, seconds from the end of its newest stored minute to the
    /// tick that stored it.
    close_lag: Mutex<BTreeMap<String, f64>>,
}

/// Files of the collector's state under the data directory.
struct Paths {
    minutes: PathBuf,
    wal: PathBuf,
    floors: PathBuf,
    offsets: PathBuf,
    agents: PathBuf,
}

impl Paths {
    fn new(data: &Path) -> Self {
        let state = data.join("collector");
        Paths {
            minutes: data.join("minutes"),
            wal: data.join("wal"),
            floors: state.join("floors.json"),
            offsets: state.join("offsets.json"),
            agents: state.join("agents.json"),
        }
    }
}

impl Collector {
    /// Opens the collector's state under `data` and replays its log.
    pub fn open(config: &Config, version: &str, data: &Path, settings: Settings) -> Result<Self> {
        let paths = Paths::new(data);
        let state_dir = paths.floors.parent().expect("state file has a parent");
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let floors: Floors = match std::fs::read(&paths.floors) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: invalid floors", paths.floors.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Floors::default(),
            Err(e) => return Err(e).context(format!("cannot read {}", paths.floors.display())),
        };
        let mut offsets = Offsets::load(&paths.offsets)
            .with_context(|| format!("{}: invalid offsets", paths.offsets.display()))?;
        let registry = Registry::load(&paths.agents)
            .with_context(|| format!("{}: invalid agent register", paths.agents.display()))?;
        let loaded = Loaded::new(config, version);
        let mut writer = MinuteStore::open(&paths.minutes, settings.retention_secs)?;
        let reader = Arc::new(MinuteStore::open(&paths.minutes, settings.retention_secs)?);
        let mut pipeline = Pipeline::new(&loaded.monitors, settings.close_after_ms, &floors)?;
        let wal = Wal::open(&paths.wal, settings.segment_bytes)?;
        let mut replayed = 0u64;
        let mut pending_closed = Vec::new();
        let active = wal.active_segment();
        for &segment in wal.segments().iter().filter(|&&s| s < active) {
            let mut records = wal.read_segment(segment)?;
            for payload in records.by_ref() {
                let payload = payload?;
                let (labels, agent, batches) = decode_record(&payload)
                    .with_context(|| format!("WAL segment {segment}: bad record"))?;
                let now_ms = chrono::Utc::now().timestamp_millis();
                for &(ref header, lines) in &batches {
                    offsets.record(&agent, header);
                    pipeline.apply(segment, &agent, &labels, (header, lines), now_ms)?;
                    replayed += header.lines;
                }
            }
            if records.torn() {
                eprintln!("vigil: WAL segment {segment} ends with a torn record (never acknowledged); ignored");
            }
            let drained = pipeline.close(chrono::Utc::now().timestamp_millis());
            pending_closed.extend(drained.store(&mut writer)?);
        }
        if replayed > 0 {
            eprintln!("vigil: replayed {replayed} lines from the write-ahead log");
        }
        Ok(Collector {
            dir: data.to_path_buf(),
            settings,
            applier: Applier::start(pipeline).context("cannot start the pipeline thread")?,
            order: FrameOrder::new(),
            core: Mutex::new(Core {
                wal,
                offsets,
                segment_started: Instant::now(),
                retention_checked: None,
                agents_minute: 0,
            }),
            registry: Mutex::new(registry),
            loaded: RwLock::new(loaded),
            reader,
            writer: Mutex::new(writer),
            stats: Stats::default(),
            metrics: Mutex::new(Rollup::default()),
            pending_closed: Mutex::new(pending_closed),
            close_lag: Mutex::new(BTreeMap::new()),
        })
    }

    fn pending(&self) -> MutexGuard<'_, Vec<(String, i64)>> {
        self.pending_closed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn writer(&self) -> MutexGuard<'_, MinuteStore> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store's read handle.
    pub fn store(&self) -> &Arc<MinuteStore> {
        &self.reader
    }

    /// The monitors in force.
    pub fn monitors(&self) -> Vec<Arc<Monitor>> {
        self.loaded
            .read()
            .map(|l| l.monitors.clone())
            .unwrap_or_default()
    }

    /// Every monitor's counters as of the last frame applied or the last
    /// [`Collector::tick`].
    pub fn counters(&self) -> BTreeMap<String, Counters> {
        self.applier.counters()
    }

    /// The minutes in progress of `monitor` in `view` (a metrics monitor
    /// has only per-instance rows, whatever the view).
    pub fn peek(&self, monitor: &str, view: vigil_model::View) -> Vec<vigil_model::MinuteRow> {
        if crate::metrics::MONITORS.contains(&monitor) {
            return self.rollup().peek(monitor);
        }
        self.applier.pipeline().peek(monitor, view)
    }

    fn rollup(&self) -> MutexGuard<'_, Rollup> {
        self.metrics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest sample of every series of a metrics monitor, as JSON.
    pub fn latest(&self, monitor: &str) -> Option<J> {
        if !crate::metrics::MONITORS.contains(&monitor) {
            return None;
        }
        let rollup = self.rollup();
        let list: Vec<J> = rollup
            .latest(monitor)
            .into_iter()
            .map(|(t, series, values)| {
                let keys: serde_json::Map<String, J> = series
                    .iter()
                    .map(|(k, v)| (k.clone(), J::from(v.as_str())))
                    .collect();
                json!({
                    "time": chrono::DateTime::from_timestamp_millis(t).map(|d| d.to_rfc3339()),
                    "keys": keys,
                    "values": values,
                })
            })
            .collect();
        Some(J::Array(list))
    }

    /// Closes due minutes, publishes counters, rotates and trims the log,
    /// and applies retention (hourly). Returns the (table, minute) pairs
    /// stored in total since the last tick, for alert rules.
    pub fn tick(&self, now_ms: i64) -> Result<Vec<(String, i64)>> {
        let metric_rows =
            self.rollup()
                .close(now_ms, self.settings.close_after_ms, METRICS_LATENESS_MS);
        let mut closed = std::mem::take(&mut *self.pending());
        // Drained under the pipeline's lock, stored after it: frames go on
        // being applied while the files are written.
        let drained = {
            let mut pipeline = self.applier.pipeline();
            let drained = pipeline.close(now_ms);
            self.applier.publish(&pipeline);
            drained
        };
        let mut writer = self.writer();
        closed.extend(drained.store(&mut writer)?);
        for (monitor, rows) in metric_rows {
            writer
                .write_table(&monitor, &["instance"], &rows)
                .with_context(|| format!("storing minutes of {monitor}"))?;
            let minutes: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.minute).collect();
            closed.extend(minutes.into_iter().map(|m| (monitor.clone(), m)));
        }
        let mut guard = self.core();
        let core = &mut *guard;
        let minute = (now_ms.div_euclid(60_000) - 1) * 60;
        if minute > core.agents_minute {
            let rows = self.agent_rows(minute, now_ms);
            writer
                .write_table(AGENTS_TABLE, &["instance"], &rows)
                .context("storing agent states")?;
            core.agents_minute = minute;
            closed.push((AGENTS_TABLE.to_string(), minute));
        }
        if let Ok(mut lag) = self.close_lag.lock() {
            let mut newest: BTreeMap<&str, i64> = BTreeMap::new();
            for (table, minute) in &closed {
                let m = newest.entry(table).or_insert(*minute);
                *m = (*m).max(*minute);
            }
            for (table, minute) in newest {
                let seconds = (now_ms - (minute + 60) * 1000) as f64 / 1000.0;
                lag.insert(table.to_string(), seconds);
            }
        }
        if core.segment_started.elapsed() >= self.settings.segment_age {
            core.wal.rotate()?;
            core.segment_started = Instant::now();
        }
        if core
            .retention_checked
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(3600))
        {
            writer.apply_retention(now_ms / 1000)?;
            core.retention_checked = Some(Instant::now());
        }
        // Whether a segment can go is told by the frames of the segments
        // before the active one (none can join them), so the check needs
        // neither the log's lock nor the frames of the active one: ingest
        // and the applier go on. Only deleting needs every logged frame
        // applied (the saved counters must hold all of them).
        let (active, segments) = (core.wal.active_segment(), core.wal.segments().to_vec());
        drop(guard);
        let releasable = segments.len() > 1
            && self
                .applier
                .settle_before(active)
                .releasable(&segments)
                .is_some();
        if releasable {
            // Deleted once the log and the pipeline are unlocked.
            let retired = self.release_segments(&mut self.core())?;
            if let Some(retired) = retired {
                retired.delete()?;
            }
        }
        Ok(closed)
    }

    /// Takes the log segments that only hold final minutes out of the log,
    /// once every logged frame is applied, saving the floors a restart
    /// resumes from (`core`: the log, locked); returns them for their files
    /// to be deleted.
    fn release_segments(&self, core: &mut Core) -> Result<Option<Retired>> {
        let mut pipeline = self.applier.settle();
        let Some((cut, mut floors)) = pipeline.releasable(core.wal.segments()) else {
            return Ok(None);
        };
        // The late lines counted so far are all in segments before the
        // new active one.
        floors.late_through = Some(core.wal.rotate()?.saturating_sub(1));
        core.segment_started = Instant::now();
        let paths = Paths::new(&self.dir);
        let json = serde_json::to_vec_pretty(&floors)?;
        write_atomic(&paths.floors, &json)
            .with_context(|| format!("cannot save {}", paths.floors.display()))?;
        core.offsets
            .save(&paths.offsets)
            .with_context(|| format!("cannot save {}", paths.offsets.display()))?;
        let retired = core.wal.retire_before(cut);
        pipeline.release(cut);
        Ok(Some(retired))
    }

    /// One row per agent for `minute`: its state as 0/1 values `lost`,
    /// `clock_skew`, `abnormal` and `healthy`, keyed by instance (the
    /// built-in monitor `agents` that the default alert rules watch).
    fn agent_rows(&self, minute: i64, now_ms: i64) -> Vec<vigil_model::MinuteRow> {
        let hb = self.heartbeat_ms();
        self.registry()
            .agents()
            .map(|a| {
                let state = a.state(now_ms, hb);
                let mut row = vigil_model::MinuteRow::new(
                    AGENTS_TABLE,
                    minute,
                    vec![("instance".to_string(), a.labels.instance.clone())],
                );
                for s in vigil_collector::register::AgentState::ALL.into_iter().rev() {
                    let v = i64::from(s == state);
                    row.values
                        .push((s.name().to_string(), vigil_model::Value::Int(v)));
                }
                row
            })
            .collect()
    }

    /// Replaces the configuration: minutes in progress are closed and
    /// stored under the old one, and its monitors' stored minutes stay
    /// final; agents pull the new file list at their next heartbeat.
    pub fn reload(&self, config: &Config, version: &str) -> Result<()> {
        let loaded = Loaded::new(config, version);
        // Locks in the ticker's order: store writer, log, pipeline.
        let mut writer = self.writer();
        let mut core = self.core();
        let mut running = self.applier.settle();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let (floors, drained) = running.finish(now_ms);
        let closed = drained.store(&mut writer)?;
        drop(writer);
        self.pending().extend(closed);
        let pipeline = Pipeline::new(&loaded.monitors, self.settings.close_after_ms, &floors)?;
        self.applier.replace(&mut running, pipeline);
        drop(running);
        core.wal.rotate()?;
        core.segment_started = Instant::now();
        drop(core);
        if let Ok(mut l) = self.loaded.write() {
            *l = loaded;
        }
        self.stats.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Counts a configuration that could not be loaded.
    pub fn reload_failed(&self) {
        self.stats.reload_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Every registered agent's labels, by instance.
    pub fn instance_labels(&self) -> std::collections::HashMap<String, Labels> {
        self.registry()
            .agents()
            .map(|a| (a.labels.instance.clone(), a.labels.clone()))
            .collect()
    }

    /// The agents as JSON objects with their state.
    pub fn agents_json(&self) -> Vec<J> {
        let now = chrono::Utc::now().timestamp_millis();
        let hb = self.heartbeat_ms();
        self.registry()
            .agents()
            .map(|a| {
                json!({
                    "agent": a.agent,
                    "labels": a.labels,
                    "version": a.version,
                    "state": a.state(now, hb).name(),
                    "registered": vigil_model::rfc3339(a.registered_ms / 1000, chrono_tz::UTC),
                    "last_heartbeat": vigil_model::rfc3339(a.last_seen_ms / 1000, chrono_tz::UTC),
                    "clock_offset_ms": a.clock_offset_ms,
                    "config_version": a.config_version,
                    "status": a.status,
                })
            })
            .collect()
    }

    /// The collector's own metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let now = chrono::Utc::now().timestamp_millis();
        let hb = self.heartbeat_ms();
        let mut states: BTreeMap<&str, u64> =
            AgentState::ALL.iter().map(|s| (s.name(), 0)).collect();
        for a in self.registry().agents() {
            *states.entry(a.state(now, hb).name()).or_default() += 1;
        }
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            out.push_str(&format!(
                "# HELP vigil_{name} {help}\n# TYPE vigil_{name} counter\nvigil_{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        };
        let s = &self.stats;
        counter(
            &mut out,
            "ingest_frames_total",
            "Ingest requests accepted.",
            &s.frames,
        );
        counter(
            &mut out,
            "ingest_batches_total",
            "Batches newly accepted.",
            &s.batches,
        );
        counter(
            &mut out,
            "ingest_duplicate_batches_total",
            "Batches re-sent and acknowledged without use.",
            &s.duplicates,
        );
        counter(
            &mut out,
            "ingest_conflicts_total",
            "Frames refused for an overlapping range.",
            &s.conflicts,
        );
        counter(
            &mut out,
            "ingest_out_of_order_total",
            "Frames refused because the frame they follow was not taken.",
            &s.out_of_order,
        );
        counter(&mut out, "ingest_lines_total", "Lines accepted.", &s.lines);
        counter(
            &mut out,
            "ingest_bytes_total",
            "Bytes of lines accepted.",
            &s.bytes,
        );
        counter(
            &mut out,
            "config_reloads_total",
            "Configurations loaded after start.",
            &s.reloads,
        );
        counter(
            &mut out,
            "config_reload_errors_total",
            "Configurations refused on reload.",
            &s.reload_errors,
        );
        out.push_str("# HELP vigil_agents Agents by state.\n# TYPE vigil_agents gauge\n");
        for (state, n) in states {
            out.push_str(&format!("vigil_agents{{state=\"{state}\"}} {n}\n"));
        }
        let core = self.core();
        out.push_str(&format!(
            "# HELP vigil_wal_segments Write-ahead log segments on disk.\n# TYPE vigil_wal_segments gauge\nvigil_wal_segments {}\n",
            core.wal.segments().len()
        ));
        out.push_str("# HELP vigil_open_minutes Minutes in progress per monitor.\n# TYPE vigil_open_minutes gauge\n");
        for (monitor, open) in self.applier.pipeline().open_minutes() {
            out.push_str(&format!(
                "vigil_open_minutes{{monitor=\"{monitor}\"}} {open}\n"
            ));
        }
        drop(core);
        out.push_str(&format!(
            "# HELP vigil_ingest_queue_frames Frames logged and acknowledged, not cut yet.\n# TYPE vigil_ingest_queue_frames gauge\nvigil_ingest_queue_frames {}\n",
            self.applier.queued()
        ));
        out.push_str("# HELP vigil_minute_close_lag_seconds From the end of a table's newest stored minute to its storing.\n# TYPE vigil_minute_close_lag_seconds gauge\n");
        if let Ok(lag) = self.close_lag.lock() {
            for (table, seconds) in lag.iter() {
                out.push_str(&format!(
                    "vigil_minute_close_lag_seconds{{table=\"{table}\"}} {seconds}\n"
                ));
            }
        }
        out
    }

    fn heartbeat_ms(&self) -> i64 {
        i64::try_from(self.settings.heartbeat_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000)
    }
}

impl Ingest for Collector {
    fn samples(&self, batch: SampleBatch) -> Result<u64, IngestError> {
        let now = chrono::Utc::now().timestamp_millis();
        let instance = {
            let mut registry = self.registry();
            registry.seen(&batch.agent, now);
            registry
                .labels(&batch.agent)
                .map_or_else(|| batch.agent.clone(), |l| l.instance.clone())
        };
        let final_after = self.settings.close_after_ms + METRICS_LATENESS_MS;
        let mut rollup = self.rollup();
        let mut taken = 0;
        for s in &batch.samples {
            match rollup.push(&instance, s, now, final_after) {
                Ok(()) => taken += 1,
                Err(e) => {
                    self.stats.samples_refused.fetch_add(1, Ordering::Relaxed);
                    log::warn!("{}: {e}", batch.agent);
                }
            }
        }
        self.stats.samples.fetch_add(taken, Ordering::Relaxed);
        Ok(taken)
    }

    fn register(&self, request: Register) -> Result<RegisterReply, IngestError> {
        let now = chrono::Utc::now().timestamp_millis();
        let version = self.agent_config().version;
        self.registry()
            .register(&request, &version, now)
            .map_err(|e| {
                IngestError::Unavailable(format!("cannot save the agent register: {e}"))
            })?;
        let offsets = self.core().offsets.of_agent(&request.agent);
        Ok(RegisterReply {
            heartbeat_secs: self.settings.heartbeat_secs,
            config_version: version,
            server_time_ms: now,
            offsets,
        })
    }

    fn heartbeat(&self, request: Heartbeat) -> Result<HeartbeatReply, IngestError> {
        let now = chrono::Utc::now().timestamp_millis();
        let known = self.registry().heartbeat(&request, now);
        Ok(HeartbeatReply {
            config_version: self.agent_config().version,
            server_time_ms: now,
            known,
        })
    }

    fn agent_config(&self) -> AgentConfig {
        self.loaded
            .read()
            .map(|l| l.agent_config.clone())
            .unwrap_or_default()
    }

    fn ingest(&self, frame: Bytes, link: Option<FrameLink>) -> Result<IngestReply, IngestError> {
        // Only the headers here: the lines are split by the applier.
        let (agent, headers) = wire::decode_ingest_headers(&frame)
            .map_err(|e| IngestError::BadRequest(e.to_string()))?;
        let Some(link) = link else {
            return self.take(&agent, &headers, frame);
        };
        if let Some(after) = link.after {
            if let Err(e) = self.order.wait_for(&agent, after, FOLLOW_WAIT) {
                self.stats.out_of_order.fetch_add(1, Ordering::Relaxed);
                self.order.finish(&agent, link.id, false);
                return Err(IngestError::Unavailable(e.to_string()));
            }
        }
        let taken = self.take(&agent, &headers, frame);
        self.order.finish(&agent, link.id, taken.is_ok());
        taken
    }
}

impl Collector {
    /// Logs the batches of `agent`'s frame not held yet and hands them to
    /// the applier.
    fn take(
        &self,
        agent: &str,
        headers: &[BatchHeader],
        frame: Bytes,
    ) -> Result<IngestReply, IngestError> {
        let labels = {
            let mut registry = self.registry();
            registry.seen(agent, chrono::Utc::now().timestamp_millis());
            registry.labels(agent).cloned().unwrap_or_else(|| Labels {
                instance: agent.to_string(),
                ..Labels::default()
            })
        };
        let mut core = self.core();
        let mut fresh = Vec::new();
        let mut duplicates = 0;
        for (i, h) in headers.iter().enumerate() {
            match core.offsets.check(agent, h) {
                Verdict::New => fresh.push(i),
                Verdict::Duplicate => duplicates += 1,
                Verdict::Conflict { held } => {
                    self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                    return Err(IngestError::Conflict {
                        message: format!(
                            "{}: bytes {}..{} overlap the {held} bytes held; resume at {held}",
                            h.path, h.start, h.end
                        ),
                        offset: held,
                    });
                }
            }
        }
        let accepted = fresh.len() as u64;
        self.stats.frames.fetch_add(1, Ordering::Relaxed);
        self.stats
            .duplicates
            .fetch_add(duplicates, Ordering::Relaxed);
        if fresh.is_empty() {
            return Ok(IngestReply {
                accepted,
                duplicates,
            });
        }
        // A frame with no batch held before is logged as it came.
        let frame = if duplicates == 0 {
            frame
        } else {
            let (_, batches) = wire::decode_ingest_payloads(&frame)
                .map_err(|e| IngestError::BadRequest(e.to_string()))?;
            let kept: Vec<wire::BatchPayload> = batches
                .into_iter()
                .enumerate()
                .filter(|(i, _)| fresh.contains(i))
                .map(|(_, b)| b)
                .collect();
            Bytes::from(wire::encode_ingest_payloads(agent, &kept))
        };
        let segment = core
            .wal
            .append(&[&labels_line(&labels), &frame])
            .map_err(|e| IngestError::Unavailable(format!("cannot write the log: {e}")))?;
        for &i in &fresh {
            let h = &headers[i];
            core.offsets.record(agent, h);
            self.stats.lines.fetch_add(h.lines, Ordering::Relaxed);
            self.stats.bytes.fetch_add(h.bytes, Ordering::Relaxed);
        }
        // Still under the log's lock: records are applied in log order.
        self.applier.submit(segment, labels, frame);
        self.stats.batches.fetch_add(accepted, Ordering::Relaxed);
        Ok(IngestReply {
            accepted,
            duplicates,
        })
    }
}

/// The first part of a WAL record: the agent's labels as one JSON line.
/// The ingest frame follows ([`decode_record`]).
fn labels_line(labels: &Labels) -> Vec<u8> {
    let mut out = serde_json::to_vec(labels).expect("labels serialize");
    out.push(b'\n');
    out
}

/// A WAL record's labels, agent, and batches with their lines borrowed
/// (each batch's lines as one payload, see [`wire::lines`]).
pub(crate) type Record<'a> = (Labels, String, Vec<wire::BatchPayload<'a>>);

/// The labels, agent and batches of a WAL record.
pub(crate) fn decode_record(payload: &[u8]) -> Result<Record<'_>> {
    let nl = payload
        .iter()
        .position(|&b| b == b'\n')
        .context("no labels line")?;
    let labels: Labels = serde_json::from_slice(&payload[..nl]).context("labels")?;
    let (agent, batches) = wire::decode_ingest_payloads(&payload[nl + 1..])?;
    Ok((labels, agent, batches))
}

/// The version of a configuration: a hash of the files' contents.
pub fn config_version(path: &Path) -> Result<String> {
    // The same files, in the same order, as the configuration loader reads.
    let files = vigil_config::validate::config_files(path)?;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for f in files {
        let bytes = std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
        for b in f.to_string_lossy().bytes().chain(bytes) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(format!("{hash:016x}"))
}
