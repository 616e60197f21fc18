//! A fake collector on 127.0.0.1: a minimal HTTP/1.1 server implementing
//! register, heartbeat, config and ingest, keeping what it acknowledges the
//! way a real collector would (a batch already held is acknowledged as a
//! duplicate and not counted again), and able to fail on demand.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vigil_agent::ship::AgentOptions;
use vigil_model::wire::{
    decode_ingest, AgentConfig, AgentStatus, FileOffset, Heartbeat, HeartbeatReply, IngestReply,
    Labels, Register, RegisterReply, SourceConfig, CONFIG_PATH, FRAME_AFTER_HEADER,
    FRAME_ID_HEADER, HEARTBEAT_PATH, INGEST_PATH, REGISTER_PATH,
};

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Normally.
    Up,
    /// 503 to every request.
    Down,
    /// 503 to ingestion only (heartbeats still report the status).
    IngestDown,
}

/// One line the collector holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Path it was read at.
    pub path: String,
    /// File identity and generation.
    pub file: (u64, u64, u32),
    /// The line.
    pub line: String,
}

/// What the fake knows and how it behaves; tests read and change it.
#[derive(Debug)]
pub struct State {
    /// How to answer.
    pub mode: Mode,
    /// Drop the connection, after processing, of this many next ingests.
    pub lose_acks: u32,
    /// Answer the next register without offsets (a collector that forgot).
    pub hide_offsets_once: bool,
    /// Required bearer token.
    pub token: Option<String>,
    /// The configuration served.
    pub config: AgentConfig,
    /// Lines held, in acknowledgement order.
    pub lines: Vec<Held>,
    /// End offset held per (dev, ino, gen).
    pub ends: BTreeMap<(u64, u64, u32), u64>,
    /// Flush markers accepted: (dev, ino, gen, offset).
    pub flushes: Vec<(u64, u64, u32, u64)>,
    /// Batches with lines accepted per path.
    pub batches: BTreeMap<String, u64>,
    /// Lines dropped by the agent's rate limits, from accepted batches.
    pub rate_dropped: u64,
    /// Batches acknowledged again without counting.
    pub duplicates: u64,
    /// 409 answers given.
    pub conflicts: u64,
    /// Ingest requests answered 401.
    pub unauthorized: u64,
    /// Frames taken, by the id the agent gave them.
    pub frames_taken: HashSet<u64>,
    /// Ingest requests that named a frame they follow (sent while it was
    /// in flight).
    pub followers: u64,
    /// Frames answered 503 because the frame they follow was not taken
    /// within 2 s.
    pub out_of_order: u64,
    /// Registrations received.
    pub registers: Vec<Register>,
    /// Statuses of the heartbeats received.
    pub statuses: Vec<AgentStatus>,
}

/// A running fake collector; stopped when dropped.
pub struct Fake {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    /// Starts a fake serving `config`, on a port of its own.
    pub fn start(config: AgentConfig, token: Option<&str>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Mutex::new(State {
            mode: Mode::Up,
            lose_acks: 0,
            hide_offsets_once: false,
            token: token.map(str::to_string),
            config,
            lines: Vec::new(),
            ends: BTreeMap::new(),
            flushes: Vec::new(),
            batches: BTreeMap::new(),
            rate_dropped: 0,
            duplicates: 0,
            conflicts: 0,
            unauthorized: 0,
            frames_taken: HashSet::new(),
            followers: 0,
            out_of_order: 0,
            registers: Vec::new(),
            statuses: Vec::new(),
        });
        let shared = Arc::new(Shared {
            state,
            taken: Condvar::new(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || serve(&listener, &shared, &stop))
        };
        Fake {
            addr,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// Base URL of the fake.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Quick-paced options of an agent of `instance` shipping to the fake
    /// with `token`, state in `state`: heartbeats every 100 ms, polls every
    /// 50 ms, retries from 50 to 400 ms.
    pub fn agent_options(&self, state: &Path, instance: &str, token: &str) -> AgentOptions {
        let labels = Labels {
            instance: instance.into(),
            ..Labels::default()
        };
        let mut opts = AgentOptions::new(self.url(), state, labels);
        opts.token = Some(token.into());
        opts.heartbeat = Some(Duration::from_millis(100));
        opts.poll_interval = Duration::from_millis(50);
        opts.retry_min = Duration::from_millis(50);
        opts.retry_max = Duration::from_millis(400);
        opts
    }

    /// The state, to read or change.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    /// Lines held for paths ending with `suffix`, in acknowledgement order.
    pub fn lines_of(&self, suffix: &str) -> Vec<String> {
        self.state()
            .lines
            .iter()
            .filter(|h| h.path.ends_with(suffix))
            .map(|h| h.line.clone())
            .collect()
    }

    /// All lines held.
    pub fn all_lines(&self) -> Vec<String> {
        self.state().lines.iter().map(|h| h.line.clone()).collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A configuration of one source.
pub fn config(patterns: &[String], rate_limit_kib_per_min: Option<u64>) -> AgentConfig {
    AgentConfig {
        version: "1".into(),
        sources: vec![SourceConfig {
            patterns: patterns.to_vec(),
            max_line_bytes: 4096,
            rate_limit_kb_per_min: rate_limit_kib_per_min,
        }],
    }
}

/// Waits until `done` holds, panicking with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The state and a signal for frames waiting for the one they follow.
struct Shared {
    state: Mutex<State>,
    taken: Condvar,
}

fn serve(listener: &TcpListener, shared: &Arc<Shared>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                // Frames in flight come on connections of their own.
                let shared = Arc::clone(shared);
                std::thread::spawn(move || {
                    // A broken request is the client's problem, not the fake's.
                    let _ = handle(stream, &shared);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    /// The frame's id and the id of the frame it follows, if given.
    frame: Option<u64>,
    after: Option<u64>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    let mut authorization = None;
    let (mut frame, mut after) = (None, None);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => authorization = Some(value.trim().to_string()),
            FRAME_ID_HEADER => frame = Some(value.trim().parse().unwrap()),
            FRAME_AFTER_HEADER => after = Some(value.trim().parse().unwrap()),
            "transfer-encoding" => panic!("chunked bodies are not expected"),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request {
        method,
        path,
        authorization,
        frame,
        after,
        body,
    })
}

fn respond(mut stream: &TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Service Unavailable",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn handle(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let request = read_request(&stream)?;
    let mut st = shared.state.lock().unwrap();
    if st.mode == Mode::Down || (st.mode == Mode::IngestDown && request.path == INGEST_PATH) {
        return respond(&stream, 503, r#"{"error": "down"}"#);
    }
    if let Some(token) = &st.token {
        if request.authorization.as_deref() != Some(format!("Bearer {token}").as_str()) {
            if request.path == INGEST_PATH {
                st.unauthorized += 1;
            }
            return respond(&stream, 401, r#"{"error": "bad token"}"#);
        }
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", REGISTER_PATH) => {
            let register: Register = serde_json::from_slice(&request.body).unwrap();
            st.registers.push(register);
            let offsets = if std::mem::take(&mut st.hide_offsets_once) {
                Vec::new()
            } else {
                st.ends
                    .iter()
                    .map(|(&(dev, ino, gen), &end)| FileOffset { dev, ino, gen, end })
                    .collect()
            };
            let reply = RegisterReply {
                heartbeat_secs: 1,
                config_version: st.config.version.clone(),
                server_time_ms: 0,
                offsets,
            };
            respond(&stream, 200, &serde_json::to_string(&reply).unwrap())
        }
        ("POST", HEARTBEAT_PATH) => {
            let heartbeat: Heartbeat = serde_json::from_slice(&request.body).unwrap();
            st.statuses.push(heartbeat.status);
            let reply = HeartbeatReply {
                config_version: st.config.version.clone(),
                server_time_ms: 0,
                known: true,
            };
            respond(&stream, 200, &serde_json::to_string(&reply).unwrap())
        }
        ("GET", CONFIG_PATH) => respond(&stream, 200, &serde_json::to_string(&st.config).unwrap()),
        ("POST", INGEST_PATH) => {
            if let Some(after) = request.after {
                st.followers += 1;
                // As a collector does: wait a while for the frame before.
                let (waited, timeout) = shared
                    .taken
                    .wait_timeout_while(st, Duration::from_secs(2), |st| {
                        !st.frames_taken.contains(&after)
                    })
                    .unwrap();
                st = waited;
                if timeout.timed_out() {
                    st.out_of_order += 1;
                    return respond(&stream, 503, r#"{"error": "the frame before is missing"}"#);
                }
            }
            let (_, batches) = decode_ingest(&request.body).unwrap();
            // Check every batch against what is held before taking any.
            let mut ends = st.ends.clone();
            let mut reply = IngestReply {
                accepted: 0,
                duplicates: 0,
            };
            let mut new = Vec::new();
            for b in batches {
                let h = &b.header;
                let key = (h.dev, h.ino, h.gen);
                let held = ends.get(&key).copied().unwrap_or(0);
                let is_flush = h.flush && h.start == h.end;
                let flush = (h.dev, h.ino, h.gen, h.end);
                if h.end <= held && !(is_flush && h.end == held) {
                    reply.duplicates += 1;
                } else if is_flush && h.end == held {
                    if st.flushes.contains(&flush) || new.iter().any(|(f, _)| *f == Some(flush)) {
                        reply.duplicates += 1;
                    } else {
                        reply.accepted += 1;
                        new.push((Some(flush), b));
                    }
                } else if h.start == held {
                    ends.insert(key, h.end);
                    reply.accepted += 1;
                    new.push((None, b));
                } else {
                    st.conflicts += 1;
                    let body = format!(
                        r#"{{"error": "{} holds {held}, got {}..{}", "offset": {held}}}"#,
                        h.path, h.start, h.end
                    );
                    return respond(&stream, 409, &body);
                }
            }
            st.ends = ends;
            st.duplicates += reply.duplicates;
            for (flush, b) in new {
                match flush {
                    Some(f) => st.flushes.push(f),
                    None => {
                        let h = &b.header;
                        st.rate_dropped += h.rate_dropped;
                        if !b.lines.is_empty() {
                            *st.batches.entry(h.path.clone()).or_default() += 1;
                        }
                        for line in b.lines {
                            st.lines.push(Held {
                                path: h.path.clone(),
                                file: (h.dev, h.ino, h.gen),
                                line: String::from_utf8(line).unwrap(),
                            });
                        }
                    }
                }
            }
            st.frames_taken.extend(request.frame);
            shared.taken.notify_all();
            if st.lose_acks > 0 {
                st.lose_acks -= 1;
                // Processed, but the answer never arrives.
                return Ok(());
            }
            respond(&stream, 200, &serde_json::to_string(&reply).unwrap())
        }
        _ => respond(&stream, 404, r#"{"error": "no such path"}"#),
    }
}

/// Asserts that no line is held twice (every test line is unique).
pub fn assert_no_repeats(lines: &[String]) {
    let mut seen = HashSet::new();
    for l in lines {
        assert!(seen.insert(l), "line {l} held twice");
    }
}
