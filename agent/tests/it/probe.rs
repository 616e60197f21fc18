//! Probes against real sockets on 127.0.0.1 (ports picked by binding :0),
//! unix sockets in temp dirs, tiny HTTP servers and real child processes.
//! Every test runs under a 20 s watchdog and cleans up after itself.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};
use vigil_agent::metrics::probe::{ProbeKind, ProbeSampler, ProbeTarget};
use vigil_agent::metrics::{Sampled, Sampler};
use vigil_model::wire::Sample;

/// Runs `body` on its own thread, failing the test if it takes over 20 s.
fn bounded(body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(()) => handle.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test took more than 20 s"),
    }
}

/// Round `n` of a sampler whose targets have the default 10 s interval:
/// 10 s apart, so every target is due every round.
fn round(s: &mut ProbeSampler, n: i64) -> Sampled {
    s.sample(n * 10_000)
}

/// The sample of `target` in `round`.
fn find<'a>(round: &'a Sampled, target: &str) -> &'a Sample {
    round
        .samples
        .iter()
        .find(|s| s.keys["target"] == target)
        .unwrap_or_else(|| panic!("no sample of {target} in {round:?}"))
}

/// The `up` value of `target` in `round`.
fn up(round: &Sampled, target: &str) -> f64 {
    find(round, target).values["up"]
}

/// The error lines of `round` about `target`.
fn errors<'a>(round: &'a Sampled, target: &str) -> Vec<&'a str> {
    round
        .errors
        .iter()
        .filter(|e| e.contains(target))
        .map(String::as_str)
        .collect()
}

fn target(kind: ProbeKind, fall: u32, rise: u32, timeout_ms: u64) -> ProbeTarget {
    let mut t = ProbeTarget::new("trade", kind);
    t.fall = fall;
    t.rise = rise;
    t.timeout_ms = timeout_ms;
    t
}

fn tcp(addr: SocketAddr) -> ProbeKind {
    ProbeKind::Tcp {
        addr: addr.to_string(),
    }
}

fn http(addr: SocketAddr) -> ProbeKind {
    ProbeKind::Http {
        url: format!("http://{addr}/health"),
    }
}

#[test]
fn tcp_up_then_down_after_fall() {
    bounded(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let key = format!("tcp://{addr}");
        let mut s = ProbeSampler::new(vec![target(tcp(addr), 1, 1, 1000)]);
        let r = round(&mut s, 0);
        assert!(r.errors.is_empty(), "{r:?}");
        let sample = find(&r, &key);
        assert_eq!(sample.monitor, "port");
        assert_eq!(sample.time_ms, 0);
        assert_eq!(sample.keys["app"], "trade");
        assert_eq!(sample.keys["kind"], "tcp");
        assert!(!sample.keys.contains_key("name"));
        assert_eq!(sample.values["up"], 1.0);
        assert!(sample.values["connect_ms"] >= 0.0, "{sample:?}");
        drop(listener);
        let r = round(&mut s, 1);
        assert_eq!(up(&r, &key), 0.0);
        assert!(!find(&r, &key).values.contains_key("connect_ms"));
        let errs = errors(&r, &key);
        assert_eq!(errs.len(), 1, "{r:?}");
        assert!(errs[0].to_lowercase().contains("refused"), "{errs:?}");
        assert!(errs[0].contains("trade"), "{errs:?}");
    });
}

#[test]
fn tcp_down_only_after_three_failures_in_a_row() {
    bounded(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let key = format!("tcp://{addr}");
        let mut t = target(tcp(addr), 3, 1, 1000);
        t.name = Some("api".into());
        let mut s = ProbeSampler::new(vec![t]);
        let r = round(&mut s, 0);
        assert_eq!(up(&r, &key), 1.0);
        assert_eq!(find(&r, &key).keys["name"], "api");
        drop(listener);
        let ups: Vec<f64> = (1..=4).map(|n| up(&round(&mut s, n), &key)).collect();
        assert_eq!(ups, [1.0, 1.0, 0.0, 0.0]);
        assert_eq!(s.states(), [Some(false)]);
    });
}

#[test]
fn unix_socket_up_then_down() {
    bounded(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let key = format!("unix://{}", path.display());
        let kind = ProbeKind::Unix { path: path.clone() };
        let mut s = ProbeSampler::new(vec![target(kind, 1, 1, 1000)]);
        let r = round(&mut s, 0);
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(up(&r, &key), 1.0);
        assert_eq!(find(&r, &key).keys["kind"], "unix");
        assert!(find(&r, &key).values["connect_ms"] >= 0.0);
        // Listener gone, file left: refused.
        drop(listener);
        let r = round(&mut s, 1);
        assert_eq!(up(&r, &key), 0.0);
        assert!(
            errors(&r, &key)[0].to_lowercase().contains("refused"),
            "{r:?}"
        );
        // Back, then the file removed too.
        std::fs::remove_file(&path).unwrap();
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(up(&round(&mut s, 2), &key), 1.0);
        std::fs::remove_file(&path).unwrap();
        let r = round(&mut s, 3);
        assert_eq!(up(&r, &key), 0.0);
        assert!(errors(&r, &key)[0].contains("No such file"), "{r:?}");
        drop(listener);
    });
}

/// A tiny HTTP server on 127.0.0.1: answers every request with the status
/// set in `status`, or never answers at all (`answer` false: it accepts and
/// holds the connection).
struct HttpServer {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    fn start(answer: bool) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, rq, sp) = (status.clone(), requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        rq.fetch_add(1, Ordering::Relaxed);
                        if answer {
                            respond(stream, st.load(Ordering::Relaxed));
                        } else {
                            held.push(stream);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HttpServer {
            addr,
            status,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

/// Reads one request head from `stream` and answers `status`, empty body.
fn respond(mut stream: TcpStream, status: u16) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let location = if status / 100 == 3 {
        // Nothing listens on port 1: following it would fail the probe.
        "Location: http://127.0.0.1:1/elsewhere\r\n"
    } else {
        ""
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} Whatever\r\n{location}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn http_down_after_three_failures_up_after_one_success() {
    bounded(|| {
        let server = HttpServer::start(true);
        let key = format!("http://{}/health", server.addr);
        let mut s = ProbeSampler::new(vec![target(http(server.addr), 3, 1, 2000)]);
        let r = round(&mut s, 0);
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(up(&r, &key), 1.0);
        assert_eq!(find(&r, &key).keys["kind"], "http");
        assert!(find(&r, &key).values["connect_ms"] >= 0.0);

        server.status.store(500, Ordering::Relaxed);
        let mut ups = Vec::new();
        for n in 1..=4 {
            let r = round(&mut s, n);
            let errs = errors(&r, &key);
            assert_eq!(errs.len(), 1, "{r:?}");
            assert!(errs[0].contains("HTTP 500"), "{errs:?}");
            assert!(!find(&r, &key).values.contains_key("connect_ms"));
            ups.push(up(&r, &key));
        }
        assert_eq!(ups, [1.0, 1.0, 0.0, 0.0]);

        server.status.store(200, Ordering::Relaxed);
        let r = round(&mut s, 5);
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(up(&r, &key), 1.0);

        // A redirect is itself a pass, and is not followed.
        server.status.store(302, Ordering::Relaxed);
        let r = round(&mut s, 6);
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(up(&r, &key), 1.0);
        assert_eq!(server.requests.load(Ordering::Relaxed), 7);

        // A 404 is a failure.
        server.status.store(404, Ordering::Relaxed);
        let r = round(&mut s, 7);
        assert!(errors(&r, &key)[0].contains("HTTP 404"), "{r:?}");
    });
}

/// Child processes killed (and reaped) when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn process_count_and_up() {
    bounded(|| {
        // A duration no other process runs with: 30.<pid><nanos>.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let duration = format!("30.{}{nanos}", std::process::id());
        let mut children = Children(Vec::new());
        for _ in 0..3 {
            children
                .0
                .push(Command::new("sleep").arg(&duration).spawn().unwrap());
        }
        let pattern = format!(r"^sleep 30\.{}$", &duration[3..]);
        let kind = ProbeKind::Process {
            name: Some("sleep".into()),
            pattern: Some(pattern.clone()),
            expected: Some(3),
        };
        let key = format!("process:{pattern}");
        let mut s = ProbeSampler::new(vec![target(kind, 2, 1, 1000)]);
        let r = round(&mut s, 0);
        assert!(r.errors.is_empty(), "{r:?}");
        let sample = find(&r, &key);
        assert_eq!(sample.keys["kind"], "process");
        assert_eq!(sample.values["process_count"], 3.0);
        assert_eq!(sample.values["up"], 1.0);
        assert!(!sample.values.contains_key("connect_ms"));

        let mut one = children.0.pop().unwrap();
        one.kill().unwrap();
        one.wait().unwrap();
        let r = round(&mut s, 1);
        assert_eq!(find(&r, &key).values["process_count"], 2.0);
        assert_eq!(up(&r, &key), 1.0, "fall is 2");
        assert!(
            errors(&r, &key)[0].contains("2 matching processes, expected 3"),
            "{r:?}"
        );
        let r = round(&mut s, 2);
        assert_eq!(find(&r, &key).values["process_count"], 2.0);
        assert_eq!(up(&r, &key), 0.0);

        // Without `expected`, one is enough; none is down.
        let kind = ProbeKind::Process {
            name: None,
            pattern: Some(pattern.clone()),
            expected: None,
        };
        let mut s = ProbeSampler::new(vec![target(kind, 1, 1, 1000)]);
        assert_eq!(up(&round(&mut s, 0), &key), 1.0);
        drop(children);
        let r = round(&mut s, 1);
        assert_eq!(find(&r, &key).values["process_count"], 0.0);
        assert_eq!(up(&r, &key), 0.0);
        assert!(errors(&r, &key)[0].contains("no matching process"), "{r:?}");
    });
}

#[test]
fn process_probe_reads_the_configured_proc_root() {
    bounded(|| {
        let dir = tempfile::tempdir().unwrap();
        for (pid, comm, cmdline) in [
            (7, "nginx", &b"nginx: master process\0"[..]),
            (8, "nginx", b"nginx: worker process\0"),
            (9, "bash", b"bash\0"),
        ] {
            let p = dir.path().join(pid.to_string());
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("comm"), format!("{comm}\n")).unwrap();
            std::fs::write(p.join("cmdline"), cmdline).unwrap();
            std::fs::write(p.join("stat"), format!("{pid} ({comm}) S 1")).unwrap();
        }
        let json = r#"[{"app": "web", "process": {"name": "nginx", "expected": 2}}]"#;
        let targets: Vec<ProbeTarget> = serde_json::from_str(json).unwrap();
        let mut s = ProbeSampler::new(targets).with_proc_root(dir.path());
        let r = round(&mut s, 0);
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(find(&r, "process:nginx").values["process_count"], 2.0);
        assert_eq!(up(&r, "process:nginx"), 1.0);

        let mut s = ProbeSampler::new(vec![ProbeTarget::new(
            "web",
            ProbeKind::Process {
                name: Some("nginx".into()),
                pattern: None,
                expected: None,
            },
        )])
        .with_proc_root(dir.path().join("missing"));
        let r = round(&mut s, 0);
        assert_eq!(up(&r, "process:nginx"), 0.0);
        assert!(r.errors[0].contains("missing"), "{r:?}");
    });
}

/// A TCP listener that completes no more handshakes: backlog 0, filled.
/// Further connects get no answer at all (the SYN is dropped).
fn full_tcp_listener() -> (Socket, Vec<Socket>, SocketAddr) {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&SockAddr::from(
            "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        ))
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        match s.connect_timeout(&addr.into(), Duration::from_millis(200)) {
            Ok(()) => fillers.push(s),
            Err(_) => break,
        }
    }
    (listener, fillers, addr)
}

/// A unix listener whose backlog (0) is full: a further connect waits.
fn full_unix_listener(path: &Path) -> (Socket, Vec<Socket>) {
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    listener.bind(&SockAddr::unix(path).unwrap()).unwrap();
    listener.listen(0).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let s = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        match s.connect(&SockAddr::unix(path).unwrap()) {
            Ok(()) => fillers.push(s),
            Err(_) => break,
        }
    }
    (listener, fillers)
}

#[test]
fn hanging_targets_time_out_without_delaying_the_round() {
    bounded(|| {
        const TIMEOUT_MS: u64 = 800;
        let silent = HttpServer::start(false);
        let alive = TcpListener::bind("127.0.0.1:0").unwrap();
        let alive_addr = alive.local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("full.sock");
        let (_unix_listener, _unix_fillers) = full_unix_listener(&sock);
        let (_tcp_listener, _tcp_fillers, full_addr) = full_tcp_listener();

        let mut targets = Vec::new();
        for path in ["a", "b", "c"] {
            let kind = ProbeKind::Http {
                url: format!("http://{}/{path}", silent.addr),
            };
            targets.push(target(kind, 1, 1, TIMEOUT_MS));
        }
        targets.push(target(
            ProbeKind::Unix { path: sock.clone() },
            1,
            1,
            TIMEOUT_MS,
        ));
        targets.push(target(tcp(full_addr), 1, 1, TIMEOUT_MS));
        targets.push(target(tcp(alive_addr), 1, 1, TIMEOUT_MS));
        let mut s = ProbeSampler::new(targets);

        let start = Instant::now();
        let r = round(&mut s, 0);
        let took = start.elapsed();
        // Five probes hang: one after the other they would take 4 s.
        assert!(
            took >= Duration::from_millis(TIMEOUT_MS - 50),
            "{took:?}: the hanging probes did not wait for their timeout"
        );
        assert!(
            took < Duration::from_millis(TIMEOUT_MS + 600),
            "{took:?}: probes delayed each other"
        );
        let hanging = [
            format!("http://{}/a", silent.addr),
            format!("http://{}/b", silent.addr),
            format!("http://{}/c", silent.addr),
            format!("unix://{}", sock.display()),
            format!("tcp://{full_addr}"),
        ];
        for key in &hanging {
            assert_eq!(up(&r, key), 0.0, "{key}");
            let errs = errors(&r, key);
            assert_eq!(errs.len(), 1, "{key}: {r:?}");
            assert!(
                errs[0].contains(&format!("timed out after {TIMEOUT_MS} ms")),
                "{errs:?}"
            );
        }
        let alive_key = format!("tcp://{alive_addr}");
        assert_eq!(up(&r, &alive_key), 1.0);
        assert!(find(&r, &alive_key).values["connect_ms"] < 200.0);
        assert_eq!(r.errors.len(), hanging.len(), "{r:?}");
    });
}

#[test]
fn each_target_runs_at_its_own_interval() {
    bounded(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut every10 = target(tcp(addr), 1, 1, 1000);
        every10.name = Some("10s".into());
        let mut every30 = every10.clone();
        every30.name = Some("30s".into());
        every30.interval_secs = 30;
        let mut s = ProbeSampler::new(vec![every10, every30]);
        let names = |r: &Sampled| -> Vec<String> {
            r.samples.iter().map(|s| s.keys["name"].clone()).collect()
        };
        assert_eq!(names(&s.sample(1_000_000)), ["10s", "30s"]);
        assert!(s.sample(1_005_000).samples.is_empty());
        // A little early (the sampling loop's jitter) still counts.
        assert_eq!(names(&s.sample(1_009_800)), ["10s"]);
        assert_eq!(names(&s.sample(1_020_000)), ["10s"]);
        assert_eq!(names(&s.sample(1_030_000)), ["10s", "30s"]);
        // A clock that jumps back probes at once.
        assert_eq!(names(&s.sample(500_000)), ["10s", "30s"]);
    });
}

#[test]
fn targets_in_json() {
    let json = r#"[
        {"app": "trade", "tcp": "127.0.0.1:8080"},
        {"app": "trade", "unix": "/run/trade.sock", "timeout_ms": 500},
        {"app": "trade", "name": "health", "http": "http://127.0.0.1:8080/health",
         "interval_secs": 5, "fall": 2, "rise": 2},
        {"app": "trade", "process": {"pattern": "java .*Worker", "expected": 4}},
        {"app": "web", "tcp": "localhost:80"}
    ]"#;
    let targets: Vec<ProbeTarget> = serde_json::from_str(json).unwrap();
    assert_eq!(targets.len(), 5);
    assert_eq!(
        targets[0],
        ProbeTarget::new(
            "trade",
            ProbeKind::Tcp {
                addr: "127.0.0.1:8080".into()
            }
        )
    );
    assert_eq!(targets[1].timeout_ms, 500);
    assert_eq!(targets[1].target(), "unix:///run/trade.sock");
    assert_eq!(
        (
            targets[2].interval_secs,
            targets[2].fall,
            targets[2].rise,
            targets[2].name.as_deref()
        ),
        (5, 2, 2, Some("health"))
    );
    assert_eq!(
        targets[3].kind,
        ProbeKind::Process {
            name: None,
            pattern: Some("java .*Worker".into()),
            expected: Some(4)
        }
    );
    assert_eq!(targets[3].kind_name(), "process");
    // Round trip.
    let back: Vec<ProbeTarget> =
        serde_json::from_str(&serde_json::to_string(&targets).unwrap()).unwrap();
    assert_eq!(back, targets);
    let one = serde_json::to_value(&targets[0]).unwrap();
    assert_eq!(
        one,
        serde_json::json!({"app": "trade", "tcp": "127.0.0.1:8080", "interval_secs": 10,
                           "timeout_ms": 1000, "fall": 3, "rise": 1})
    );

    for (bad, why) in [
        (r#"{"app": "a"}"#, "exactly one of"),
        (
            r#"{"app": "a", "tcp": "h:1", "http": "http://h/"}"#,
            "exactly one of",
        ),
        (
            r#"{"app": "a", "tcp": "h:1", "timout_ms": 5}"#,
            "unknown field",
        ),
        (r#"{"app": "a", "tcp": "nohost"}"#, "host:port"),
        (r#"{"app": "a", "tcp": "h:1", "fall": 0}"#, "at least 1"),
        (
            r#"{"app": "a", "tcp": "h:1", "timeout_ms": 0}"#,
            "at least 1",
        ),
        (r#"{"app": "", "tcp": "h:1"}"#, "app is empty"),
        (r#"{"app": "a", "http": "https://h/"}"#, "https"),
        (r#"{"app": "a", "http": "ftp://h/"}"#, "http://"),
        (r#"{"app": "a", "process": {}}"#, "name or a pattern"),
        (
            r#"{"app": "a", "process": {"pattern": "("}}"#,
            "bad pattern",
        ),
        (r#"{"app": "a", "process": {"nme": "x"}}"#, "unknown field"),
        (r#"{"app": "a", "unix": ""}"#, "empty"),
    ] {
        let err = serde_json::from_str::<ProbeTarget>(bad).unwrap_err();
        assert!(err.to_string().contains(why), "{bad}: {err}");
    }
}

#[test]
fn an_invalid_target_is_reported_and_the_others_still_run() {
    bounded(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bad = ProbeTarget::new(
            "trade",
            ProbeKind::Process {
                name: None,
                pattern: Some("([".into()),
                expected: None,
            },
        );
        assert!(bad.validate().is_err());
        let mut s = ProbeSampler::new(vec![bad, target(tcp(addr), 1, 1, 1000)]);
        let r = round(&mut s, 0);
        assert_eq!(r.samples.len(), 1);
        assert_eq!(up(&r, &format!("tcp://{addr}")), 1.0);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].contains("bad pattern"), "{r:?}");
        assert_eq!(s.states(), [None, Some(true)]);
    });
}

#[test]
fn new_targets_keep_the_state_of_unchanged_ones() {
    bounded(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let kept = target(tcp(addr), 1, 3, 1000);
        let mut s = ProbeSampler::new(vec![kept.clone()]);
        drop(listener);
        assert_eq!(up(&round(&mut s, 0), &format!("tcp://{addr}")), 0.0);
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let added = target(tcp(other.local_addr().unwrap()), 1, 1, 1000);
        s.set_targets(vec![added.clone(), kept.clone()]);
        assert_eq!(s.targets().cloned().collect::<Vec<_>>(), [added, kept]);
        assert_eq!(s.states(), [None, Some(false)]);
        // The kept one is not due yet: its schedule was kept too.
        let r = s.sample(5_000);
        assert_eq!(r.samples.len(), 1);
        assert_eq!(s.states(), [Some(true), Some(false)]);
    });
}
