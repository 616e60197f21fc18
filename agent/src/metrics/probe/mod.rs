//! Port, socket, HTTP and process probes: the samples of the built-in
//! `port` monitor (DESIGN.md §2 "Port probes").
//!
//! The collector sends the agent a list of [`ProbeTarget`]s (JSON form in
//! its documentation); [`ProbeSampler`] probes each at its own interval:
//!
//! - `tcp`: a TCP connect within the timeout;
//! - `unix`: a connect to a unix stream socket within the timeout;
//! - `http`: a `GET` whose 2xx or 3xx answer (redirects not followed)
//!   arrives within the timeout;
//! - `process`: the count of running processes whose name and/or command
//!   line match, against an expected count.
//!
//! The probes due in one round run concurrently, one thread each, so a
//! round lasts about as long as its slowest probe's timeout, not their sum.
//!
//! Each probed target gives one [`Sample`] of monitor `port` with keys
//! `app`, `target` (see [`ProbeTarget::target`]), `kind` and, when set,
//! `name`, and values:
//!
//! - `up`: 1 or 0, smoothed: an up target turns down after `fall` failures
//!   in a row, a down one up after `rise` successes in a row; the very
//!   first probe of a target sets it directly;
//! - `connect_ms`: the latency of the connect (TCP, unix) or of the
//!   request up to the answer's head (HTTP), present when this probe
//!   succeeded;
//! - `process_count`: the matching processes (process probes, whenever
//!   `/proc` could be read).
//!
//! Every failure (connection refused, timed out, HTTP 500, wrong process
//! count…) is also one line of [`Sampled::errors`], naming the target.
//!
//! ```no_run
//! use vigil_agent::metrics::probe::{ProbeSampler, ProbeTarget};
//! use vigil_agent::metrics::Sampler;
//!
//! let targets: Vec<ProbeTarget> =
//!     serde_json::from_str(r#"[{"app": "trade", "tcp": "127.0.0.1:8080"}]"#).unwrap();
//! let mut probes = ProbeSampler::new(targets);
//! let round = probes.sample(1_700_000_000_000);
//! for s in &round.samples {
//!     println!("{} up={}", s.keys["target"], s.values["up"]);
//! }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Duration;

use regex::Regex;
use vigil_model::wire::Sample;

use super::{Sampled, Sampler};
use check::CheckError;

mod check;
mod process;
mod target;

pub use target::{
    ProbeKind, ProbeTarget, DEFAULT_FALL, DEFAULT_INTERVAL_SECS, DEFAULT_RISE, DEFAULT_TIMEOUT_MS,
};

/// The monitor of probe samples.
pub const MONITOR: &str = "port";

/// The default root of the process table.
pub const DEFAULT_PROC_ROOT: &str = "/proc";

/// How early (ms) a probe may run before its interval has fully elapsed,
/// so that the jitter of the sampling loop does not skip whole rounds; at
/// most half the interval.
const EARLY_MS: i64 = 500;

/// A target that cannot be probed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A setting is out of range or malformed.
    #[error("probe {target}: {reason}")]
    Invalid {
        /// The target (see [`ProbeTarget::target`]).
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// The pattern of a process probe is not a valid regular expression.
    #[error("probe {target}: bad pattern: {source}")]
    BadPattern {
        /// The target.
        target: String,
        /// The regex error.
        source: Box<regex::Error>,
    },
}

/// A target made ready to probe.
enum Check {
    Net(NetCheck),
    Process {
        name: Option<String>,
        pattern: Option<Regex>,
        expected: Option<u32>,
    },
}

/// A network check.
enum NetCheck {
    Tcp(String),
    Unix(PathBuf),
    Http(String, ureq::Agent),
}

impl Check {
    /// Validates `target` and prepares its check.
    fn new(target: &ProbeTarget) -> Result<Check, ProbeError> {
        let pattern = target.compile_pattern()?;
        Ok(match &target.kind {
            ProbeKind::Tcp { addr } => Check::Net(NetCheck::Tcp(addr.clone())),
            ProbeKind::Unix { path } => Check::Net(NetCheck::Unix(path.clone())),
            ProbeKind::Http { url } => Check::Net(NetCheck::Http(
                url.clone(),
                check::http_agent(timeout(target)),
            )),
            ProbeKind::Process { name, expected, .. } => Check::Process {
                name: name.clone(),
                pattern,
                expected: *expected,
            },
        })
    }
}

impl NetCheck {
    /// Runs the check: the latency in ms, or why it failed.
    fn run(&self, timeout: Duration) -> Result<f64, CheckError> {
        match self {
            NetCheck::Tcp(addr) => check::tcp(addr, timeout),
            NetCheck::Unix(path) => check::unix(path, timeout),
            NetCheck::Http(url, agent) => check::http(agent, url, timeout),
        }
    }
}

/// The timeout of `target`.
fn timeout(target: &ProbeTarget) -> Duration {
    Duration::from_millis(target.timeout_ms.max(1))
}

/// The smoothed health of one target.
#[derive(Debug, Clone, Copy, Default)]
struct Health {
    /// `None` before the first probe.
    up: Option<bool>,
    fails: u32,
    passes: u32,
}

impl Health {
    /// Records one probe result; the new state.
    fn record(&mut self, pass: bool, fall: u32, rise: u32) -> bool {
        if pass {
            self.passes = self.passes.saturating_add(1);
            self.fails = 0;
        } else {
            self.fails = self.fails.saturating_add(1);
            self.passes = 0;
        }
        let up = match self.up {
            None => pass,
            Some(true) => self.fails < fall.max(1),
            Some(false) => self.passes >= rise.max(1),
        };
        self.up = Some(up);
        up
    }
}

/// One target and its state.
struct Slot {
    target: ProbeTarget,
    check: Result<Check, ProbeError>,
    /// The `target` key.
    key: String,
    health: Health,
    /// When it was last probed (`now_ms` of that round).
    last_ms: Option<i64>,
}

impl Slot {
    fn new(target: ProbeTarget) -> Slot {
        Slot {
            check: Check::new(&target),
            key: target.target(),
            target,
            health: Health::default(),
            last_ms: None,
        }
    }

    /// Whether the target is to be probed at `now_ms`.
    fn due(&self, now_ms: i64) -> bool {
        let Some(last) = self.last_ms else {
            return true;
        };
        let interval =
            i64::try_from(self.target.interval_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        // A clock that went back probes at once.
        now_ms < last || now_ms.saturating_sub(last) >= interval - EARLY_MS.min(interval / 2)
    }

    /// The keys of its samples.
    fn keys(&self) -> BTreeMap<String, String> {
        let mut keys = BTreeMap::from([
            ("app".to_string(), self.target.app.clone()),
            ("target".to_string(), self.key.clone()),
            ("kind".to_string(), self.target.kind_name().to_string()),
        ]);
        if let Some(name) = &self.target.name {
            keys.insert("name".to_string(), name.clone());
        }
        keys
    }

    /// The error line of a failure.
    fn error(&self, e: &dyn std::fmt::Display) -> String {
        format!("probe {} (app {}): {e}", self.key, self.target.app)
    }
}

/// A result not yet joined: a thread, or computed in place when no thread
/// could be started.
enum Pending<'s, T> {
    Thread(ScopedJoinHandle<'s, Option<T>>),
    Done(Option<T>),
}

/// Takes the closure out of its cell, `None` if already taken.
fn take<F>(cell: &Mutex<Option<F>>) -> Option<F> {
    cell.lock().ok().and_then(|mut f| f.take())
}

impl<'s, T: Send + 's> Pending<'s, T> {
    /// Runs `f` on a new thread of `scope`, or here if none can start.
    fn spawn<F>(scope: &'s Scope<'s, '_>, f: F) -> Self
    where
        F: FnOnce() -> T + Send + 's,
    {
        // A failed spawn drops its closure, so `f` waits in a shared cell
        // for whoever runs it.
        let cell = Arc::new(Mutex::new(Some(f)));
        let remote = Arc::clone(&cell);
        let spawned = std::thread::Builder::new()
            .name("vigil-probe".into())
            .spawn_scoped(scope, move || take(&remote).map(|f| f()));
        match spawned {
            Ok(handle) => Pending::Thread(handle),
            Err(_) => Pending::Done(take(&cell).map(|f| f())),
        }
    }

    /// Waits for the result; `None` if its thread panicked.
    fn join(self) -> Option<T> {
        match self {
            Pending::Thread(h) => h.join().ok().flatten(),
            Pending::Done(t) => t,
        }
    }
}

/// Probes a list of [`ProbeTarget`]s, each at its own interval, with
/// fall/rise smoothing of its `up` state. See the [module](self) docs.
pub struct ProbeSampler {
    slots: Vec<Slot>,
    proc_root: PathBuf,
}

impl ProbeSampler {
    /// A sampler of `targets`, reading processes from
    /// [`DEFAULT_PROC_ROOT`]. Invalid targets (see
    /// [`ProbeTarget::validate`]) are kept but never probed: each of their
    /// rounds reports the problem in [`Sampled::errors`].
    pub fn new(targets: Vec<ProbeTarget>) -> ProbeSampler {
        ProbeSampler {
            slots: targets.into_iter().map(Slot::new).collect(),
            proc_root: PathBuf::from(DEFAULT_PROC_ROOT),
        }
    }

    /// Reads processes from `root` instead of `/proc` (for tests, or a
    /// host's `/proc` mounted elsewhere in a container).
    #[must_use]
    pub fn with_proc_root(mut self, root: impl Into<PathBuf>) -> ProbeSampler {
        self.proc_root = root.into();
        self
    }

    /// The root the process table is read from.
    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }

    /// The targets probed, in order.
    pub fn targets(&self) -> impl Iterator<Item = &ProbeTarget> {
        self.slots.iter().map(|s| &s.target)
    }

    /// Replaces the targets (a new configuration). A target equal to a
    /// current one keeps its state (up/down, failure and success runs,
    /// schedule); the others start afresh.
    pub fn set_targets(&mut self, targets: Vec<ProbeTarget>) {
        let mut old: Vec<Option<Slot>> = std::mem::take(&mut self.slots)
            .into_iter()
            .map(Some)
            .collect();
        self.slots = targets
            .into_iter()
            .map(|t| {
                old.iter_mut()
                    .find(|s| s.as_ref().is_some_and(|s| s.target == t))
                    .and_then(Option::take)
                    .unwrap_or_else(|| Slot::new(t))
            })
            .collect();
    }

    /// The current smoothed state of each target, in order: `None` before
    /// its first probe or for an invalid target.
    pub fn states(&self) -> Vec<Option<bool>> {
        self.slots.iter().map(|s| s.health.up).collect()
    }
}

/// What one probe observed.
struct Observation {
    /// The raw verdict of this probe.
    result: Result<(), CheckError>,
    /// The latency of a successful connect/request.
    connect_ms: Option<f64>,
    /// The matching processes.
    process_count: Option<u32>,
}

impl Sampler for ProbeSampler {
    fn sample(&mut self, now_ms: i64) -> Sampled {
        let mut out = Sampled::default();
        let mut due = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.due(now_ms) {
                slot.last_ms = Some(now_ms);
                due.push(i);
            }
        }
        let mut network = Vec::new();
        let mut processes = Vec::new();
        for &i in &due {
            match &self.slots[i].check {
                Err(e) => out.errors.push(e.to_string()),
                Ok(Check::Net(check)) => network.push((i, check)),
                Ok(Check::Process {
                    name,
                    pattern,
                    expected,
                }) => processes.push((i, name.as_deref(), pattern.as_ref(), *expected)),
            }
        }
        if network.is_empty() && processes.is_empty() {
            return out;
        }

        let slots = &self.slots;
        let root = &self.proc_root;
        let (net_results, table) = std::thread::scope(|scope| {
            let table =
                (!processes.is_empty()).then(|| Pending::spawn(scope, || process::scan(root)));
            let pending: Vec<_> = network
                .iter()
                .map(|&(i, check)| {
                    let t = timeout(&slots[i].target);
                    (i, Pending::spawn(scope, move || check.run(t)))
                })
                .collect();
            let results: Vec<_> = pending.into_iter().map(|(i, p)| (i, p.join())).collect();
            (results, table.map(Pending::join))
        });

        let mut observed: Vec<(usize, Observation)> = Vec::new();
        for (i, result) in net_results {
            let result = result.unwrap_or(Err(CheckError::Panicked));
            let connect_ms = result.as_ref().ok().copied();
            let obs = Observation {
                result: result.map(|_| ()),
                connect_ms,
                process_count: None,
            };
            observed.push((i, obs));
        }
        for &(i, name, pattern, expected) in &processes {
            let obs = match &table {
                Some(Some(Ok(procs))) => {
                    let found = process::count(procs, name, pattern);
                    Observation {
                        result: process::verdict(found, expected),
                        connect_ms: None,
                        process_count: Some(found),
                    }
                }
                Some(Some(Err(CheckError::Proc { path, reason }))) => Observation {
                    result: Err(CheckError::Proc {
                        path: path.clone(),
                        reason: reason.clone(),
                    }),
                    connect_ms: None,
                    process_count: None,
                },
                _ => Observation {
                    result: Err(CheckError::Panicked),
                    connect_ms: None,
                    process_count: None,
                },
            };
            observed.push((i, obs));
        }
        observed.sort_by_key(|(i, _)| *i);

        for (i, obs) in observed {
            let slot = &mut self.slots[i];
            let up = slot
                .health
                .record(obs.result.is_ok(), slot.target.fall, slot.target.rise);
            if let Err(e) = &obs.result {
                out.errors.push(slot.error(e));
            }
            let mut values = BTreeMap::from([("up".to_string(), if up { 1.0 } else { 0.0 })]);
            if let Some(ms) = obs.connect_ms {
                values.insert("connect_ms".to_string(), ms);
            }
            if let Some(n) = obs.process_count {
                values.insert("process_count".to_string(), f64::from(n));
            }
            out.samples.push(Sample {
                monitor: MONITOR.to_string(),
                time_ms: now_ms,
                keys: slot.keys(),
                values,
            });
        }
        out
    }
}
