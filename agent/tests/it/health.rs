//! The agent's `/healthz` and `/metrics` against a real agent shipping to
//! the fake collector: counters after known lines, 503 while it cannot
//! register and while its disk buffer is full, and back to 200 after.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vigil_agent::health::{Counted, HealthServer, Stats};
use vigil_agent::metrics::{Sampled, Sampler};
use vigil_agent::ship::{Agent, AgentError, AgentOptions, RatePolicy};
use vigil_model::wire::Sample;

use crate::fake::{config, wait_for, Fake, Mode};

const TOKEN: &str = "h3alth";
/// Longest wait for anything in these tests.
const LIMIT: Duration = Duration::from_secs(20);

/// An agent on its own thread and its health server, sharing one [`Stats`].
struct Watched {
    stats: Arc<Stats>,
    server: HealthServer,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), AgentError>>>,
}

impl Watched {
    fn start(mut opts: AgentOptions) -> Watched {
        let stats = Arc::new(Stats::new());
        opts.stats = stats.clone();
        let server = HealthServer::start("127.0.0.1:0".parse().unwrap(), stats.clone()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || Agent::run(opts, &stop))
        };
        Watched {
            stats,
            server,
            stop,
            thread: Some(thread),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Stops the agent (the server keeps answering).
    fn stop_agent(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap().unwrap();
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The fake's quick-paced agent options, with retries capped at 200 ms.
fn options(fake: &Fake, state: &Path) -> AgentOptions {
    let mut opts = fake.agent_options(state, "node-h", TOKEN);
    opts.retry_max = Duration::from_millis(200);
    opts
}

/// One request; the status and the body.
fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: agent\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), length, "{head}");
    (status, body.to_string())
}

fn healthz(addr: SocketAddr) -> (u16, String) {
    request(addr, "GET", "/healthz")
}

/// `/metrics` as name → value, checking the exposition's shape.
fn metrics(addr: SocketAddr) -> BTreeMap<String, f64> {
    let (status, text) = request(addr, "GET", "/metrics");
    assert_eq!(status, 200, "{text}");
    let mut values = BTreeMap::new();
    let mut typed = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed = rest.split_whitespace().next().map(str::to_string);
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once(' ').unwrap();
        assert_eq!(typed.as_deref(), Some(name), "no TYPE line before {name}");
        values.insert(name.to_string(), value.parse::<f64>().unwrap());
    }
    values
}

/// The value of `name`, which must be present.
fn value(m: &BTreeMap<String, f64>, name: &str) -> f64 {
    *m.get(name)
        .unwrap_or_else(|| panic!("no metric {name} in {m:?}"))
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Two samples and one error per round.
struct TwoSamples;

impl Sampler for TwoSamples {
    fn sample(&mut self, now_ms: i64) -> Sampled {
        let sample = Sample {
            monitor: "system".into(),
            time_ms: now_ms,
            keys: BTreeMap::new(),
            values: BTreeMap::from([("cpu_util".to_string(), 1.5)]),
        };
        Sampled {
            samples: vec![sample.clone(), sample],
            errors: vec!["/proc/diskstats: unreadable".into()],
        }
    }
}

#[test]
fn counters_after_shipping_known_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let lines: String = (0..20).map(|i| format!("health-line-{i:02}\n")).collect();
    // One line over the source's 4096-byte limit: skipped and counted.
    let long = format!("{}\n", "x".repeat(5000));
    append(&log, &lines);
    append(&log, &long);
    let fake = Fake::start(config(&[log.to_str().unwrap().into()], None), Some(TOKEN));
    let started = now_secs();
    let mut agent = Watched::start(options(&fake, &dir.path().join("state")));

    wait_for("lines shipped", LIMIT, || {
        metrics(agent.addr()).get("vigil_agent_lines_shipped_total") == Some(&20.0)
    });
    let mut sampler = Counted::new(Box::new(TwoSamples), agent.stats.clone());
    assert_eq!(sampler.sample(0).samples.len(), 2);
    wait_for("gauges of a later turn", LIMIT, || {
        metrics(agent.addr()).get("vigil_agent_files_tailed") == Some(&1.0)
    });
    assert_eq!(healthz(agent.addr()), (200, "ok\n".into()));

    let m = metrics(agent.addr());
    assert_eq!(fake.all_lines().len(), 20);
    assert_eq!(value(&m, "vigil_agent_lines_read_total"), 20.0);
    let file_bytes = (lines.len() + long.len()) as f64;
    assert_eq!(value(&m, "vigil_agent_bytes_read_total"), file_bytes);
    assert_eq!(value(&m, "vigil_agent_lines_too_long_total"), 1.0);
    assert_eq!(value(&m, "vigil_agent_lines_shipped_total"), 20.0);
    // Payload: the lines and their newlines, not the skipped one.
    assert_eq!(
        value(&m, "vigil_agent_bytes_shipped_total"),
        lines.len() as f64
    );
    assert!(value(&m, "vigil_agent_frames_acked_total") >= 1.0);
    assert!(
        value(&m, "vigil_agent_batches_acked_total") >= value(&m, "vigil_agent_frames_acked_total")
    );
    assert_eq!(value(&m, "vigil_agent_batches_duplicate_total"), 0.0);
    assert_eq!(value(&m, "vigil_agent_frames_refused_total"), 0.0);
    assert_eq!(value(&m, "vigil_agent_retries_total"), 0.0);
    assert_eq!(value(&m, "vigil_agent_rate_limited_lines_total"), 0.0);
    assert_eq!(value(&m, "vigil_agent_spool_bytes"), 0.0);
    assert_eq!(value(&m, "vigil_agent_spool_frames"), 0.0);
    assert_eq!(
        value(&m, "vigil_agent_spool_limit_bytes"),
        256.0 * 1024.0 * 1024.0
    );
    assert_eq!(value(&m, "vigil_agent_reading_paused"), 0.0);
    assert_eq!(value(&m, "vigil_agent_files_tailed"), 1.0);
    assert_eq!(value(&m, "vigil_agent_samples_total"), 2.0);
    assert_eq!(value(&m, "vigil_agent_sampler_errors_total"), 1.0);
    assert_eq!(value(&m, "vigil_agent_registered"), 1.0);
    assert_eq!(value(&m, "vigil_agent_healthy"), 1.0);
    let shipped_at = value(&m, "vigil_agent_last_ship_timestamp_seconds");
    assert!(shipped_at >= started - 1.0 && shipped_at <= now_secs() + 1.0);
    assert!(value(&m, "vigil_agent_last_contact_timestamp_seconds") >= shipped_at);
    // The agent's own process: some memory, some CPU time.
    let rss = value(&m, "process_resident_memory_bytes");
    assert!(rss > 1_000_000.0 && rss < 2e9, "{rss}");
    assert!(value(&m, "process_cpu_seconds_total") >= 0.0);

    // Anything else is refused, with a reason.
    assert_eq!(request(agent.addr(), "GET", "/nope").0, 404);
    assert_eq!(request(agent.addr(), "POST", "/metrics").0, 405);
    assert_eq!(request(agent.addr(), "GET", "/healthz?verbose=1").0, 200);

    // A stopped agent is unhealthy; its counters stay readable.
    agent.stop_agent();
    assert_eq!(
        healthz(agent.addr()),
        (503, "agent stopped: shut down\n".into())
    );
    assert_eq!(
        request(agent.addr(), "GET", "/livez"),
        (503, "agent stopped: shut down\n".into())
    );
    let m = metrics(agent.addr());
    assert_eq!(value(&m, "vigil_agent_healthy"), 0.0);
    assert_eq!(value(&m, "vigil_agent_lines_shipped_total"), 20.0);
}

#[test]
fn rate_limited_lines_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // 1 KiB per minute, 2,000 bytes of 50-byte lines: 20 get through.
    let text: String = (0..40)
        .map(|i| format!("{i:02}-{}\n", "q".repeat(46)))
        .collect();
    append(&log, &text);
    let fake = Fake::start(
        config(&[log.to_str().unwrap().into()], Some(1)),
        Some(TOKEN),
    );
    let mut opts = options(&fake, &dir.path().join("state"));
    opts.rate_policy = RatePolicy::Drop;
    let agent = Watched::start(opts);
    wait_for("lines and drops", LIMIT, || {
        let m = metrics(agent.addr());
        m.get("vigil_agent_lines_shipped_total") == Some(&20.0)
            && m.get("vigil_agent_rate_limited_lines_total") == Some(&20.0)
    });
    assert_eq!(fake.state().rate_dropped, 20);
    let m = metrics(agent.addr());
    assert_eq!(value(&m, "vigil_agent_lines_read_total"), 20.0);
    assert_eq!(value(&m, "vigil_agent_bytes_read_total"), 2000.0);
}

#[test]
fn unhealthy_until_registered() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::start(config(&[], None), Some(TOKEN));
    fake.state().mode = Mode::Down;
    let agent = Watched::start(options(&fake, &dir.path().join("state")));
    // Three heartbeats of 100 ms without a registration.
    wait_for("503 before registration", LIMIT, || {
        healthz(agent.addr()).0 == 503
    });
    let (_, reason) = healthz(agent.addr());
    assert!(
        reason.starts_with("not registered with the collector"),
        "{reason}"
    );
    assert!(reason.contains("last error: register:"), "{reason}");
    assert!(reason.contains("503"), "{reason}");
    assert_eq!(reason.lines().count(), 1, "{reason}");
    let m = metrics(agent.addr());
    assert_eq!(value(&m, "vigil_agent_registered"), 0.0);
    assert_eq!(value(&m, "vigil_agent_last_contact_timestamp_seconds"), 0.0);
    assert!(value(&m, "vigil_agent_retries_total") >= 1.0);
    assert!(value(&m, "vigil_agent_errors_total") >= 1.0);

    fake.state().mode = Mode::Up;
    wait_for("200 once registered", LIMIT, || {
        healthz(agent.addr()) == (200, "ok\n".into())
    });
    assert_eq!(value(&metrics(agent.addr()), "vigil_agent_registered"), 1.0);
}

#[test]
fn unhealthy_while_the_spool_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let fake = Fake::start(config(&[log.to_str().unwrap().into()], None), Some(TOKEN));
    // Heartbeats get through, frames do not.
    fake.state().mode = Mode::IngestDown;
    let mut opts = options(&fake, &dir.path().join("state"));
    // One frame fills the disk buffer.
    opts.spool_limit_bytes = 1;
    let agent = Watched::start(opts);
    wait_for("registered", LIMIT, || {
        metrics(agent.addr()).get("vigil_agent_registered") == Some(&1.0)
    });
    assert_eq!(healthz(agent.addr()).0, 200);
    let text: String = (0..10).map(|i| format!("spooled-{i}\n")).collect();
    append(&log, &text);

    wait_for("503 with a full spool", LIMIT, || {
        healthz(agent.addr()).0 == 503
    });
    let (_, reason) = healthz(agent.addr());
    assert!(reason.starts_with("spool full ("), "{reason}");
    assert!(reason.contains("reading paused"), "{reason}");
    assert!(reason.contains("collector last reached"), "{reason}");
    // Waiting for the collector is not a reason to restart the agent.
    assert_eq!(request(agent.addr(), "GET", "/livez"), (200, "ok\n".into()));
    let m = metrics(agent.addr());
    assert_eq!(value(&m, "vigil_agent_reading_paused"), 1.0);
    assert_eq!(value(&m, "vigil_agent_spool_frames"), 1.0);
    assert!(value(&m, "vigil_agent_spool_bytes") > text.len() as f64);
    assert_eq!(value(&m, "vigil_agent_lines_read_total"), 10.0);
    assert_eq!(value(&m, "vigil_agent_lines_shipped_total"), 0.0);
    assert!(value(&m, "vigil_agent_retries_total") >= 1.0);
    assert_eq!(value(&m, "vigil_agent_last_ship_timestamp_seconds"), 0.0);

    fake.state().mode = Mode::Up;
    wait_for("200 once drained", LIMIT, || healthz(agent.addr()).0 == 200);
    wait_for("spooled lines shipped", LIMIT, || {
        metrics(agent.addr()).get("vigil_agent_lines_shipped_total") == Some(&10.0)
    });
    assert_eq!(fake.all_lines().len(), 10);
    let m = metrics(agent.addr());
    assert_eq!(value(&m, "vigil_agent_spool_frames"), 0.0);
    assert_eq!(
        value(&m, "vigil_agent_bytes_shipped_total"),
        text.len() as f64
    );
    assert!(value(&m, "vigil_agent_last_ship_timestamp_seconds") > 0.0);
}
