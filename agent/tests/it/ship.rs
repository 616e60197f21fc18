//! The whole agent against a fake collector on 127.0.0.1, on real files:
//! every line written arrives exactly once, through rotation, outages, lost
//! acknowledgements, restarts, a full spool and a rate limit.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vigil_agent::ship::labels::{parse_pairs, resolve, LabelError};
use vigil_agent::ship::{
    Agent, AgentError, AgentOptions, Clock, RatePolicy, SystemClock, MIN_FRAME_BYTES,
};
use vigil_model::wire::Labels;

use crate::fake::{assert_no_repeats, config, wait_for, Fake, Mode};

const TOKEN: &str = "s3cret";
/// Longest wait for anything in these tests.
const LIMIT: Duration = Duration::from_secs(20);

/// An agent running on its own thread; stopped and joined when dropped.
struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), AgentError>>>,
}

impl Running {
    fn start(opts: AgentOptions) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || Agent::run(opts, &stop))
        };
        Running {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the agent and checks it ended well and promptly.
    fn finish(mut self) {
        let started = Instant::now();
        self.stop.store(true, Ordering::Relaxed);
        let result = self.thread.take().unwrap().join().unwrap();
        result.unwrap();
        assert!(started.elapsed() < Duration::from_secs(12), "slow to stop");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Writes lines `<prefix>-<i>` for `range` through `file`; returns them.
fn write_lines(file: &mut File, prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let lines: Vec<String> = range.map(|i| format!("{prefix}-{i}")).collect();
    for l in &lines {
        writeln!(file, "{l}").unwrap();
    }
    lines
}

fn pattern(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

fn spooled_frames(state: &Path) -> usize {
    fs::read_dir(state.join("spool"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn spooled_bytes(state: &Path) -> u64 {
    fs::read_dir(state.join("spool"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn rotated_and_copy_truncated_files_arrive_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let fake = Fake::start(config(&[pattern(&a), pattern(&b)], None), Some(TOKEN));
    let state = dir.path().join("state");
    let mut wa = open_append(&a);
    let mut wb = open_append(&b);
    let mut want_a = write_lines(&mut wa, "a", 0..50);
    let mut want_b = write_lines(&mut wb, "b", 0..50);
    let agent = Running::start(fake.agent_options(&state, "node-1", TOKEN));
    wait_for("first lines", LIMIT, || fake.all_lines().len() == 100);

    // Rename rotation while the writer still holds the old file.
    want_a.extend(write_lines(&mut wa, "a", 50..60));
    fs::rename(&a, dir.path().join("a.log.1")).unwrap();
    want_a.extend(write_lines(&mut wa, "a", 60..70));
    let mut wa = open_append(&a);
    want_a.extend(write_lines(&mut wa, "a", 70..100));

    // Copy-truncate once everything written so far is read.
    want_b.extend(write_lines(&mut wb, "b", 50..60));
    wait_for("b before truncation", LIMIT, || {
        fake.lines_of("b.log").len() == 60
    });
    fs::copy(&b, dir.path().join("b.log.1")).unwrap();
    wb.set_len(0).unwrap();
    want_b.extend(write_lines(&mut wb, "b", 60..65));
    wait_for("b after truncation", LIMIT, || {
        fake.lines_of("b.log").len() == 65
    });
    want_b.extend(write_lines(&mut wb, "b", 65..100));

    wait_for("all lines", LIMIT, || {
        fake.lines_of("a.log").len() >= 100 && fake.lines_of("b.log").len() >= 100
    });
    agent.finish();
    assert_eq!(fake.lines_of("a.log"), want_a);
    assert_eq!(fake.lines_of("b.log"), want_b);
    let st = fake.state();
    assert_eq!(st.conflicts, 0);
    // The copy-truncated file moved to generation 1, on the same inode.
    let b_files: Vec<(u64, u64, u32)> = st
        .lines
        .iter()
        .filter(|h| h.path.ends_with("b.log"))
        .map(|h| h.file)
        .collect();
    assert_eq!(b_files[0].2, 0);
    assert_eq!(b_files[99].2, 1);
    assert_eq!((b_files[0].0, b_files[0].1), (b_files[99].0, b_files[99].1));
}

#[test]
fn outage_spools_to_disk_then_delivers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let fake = Fake::start(config(&[pattern(&log)], None), Some(TOKEN));
    let state = dir.path().join("state");
    let mut w = open_append(&log);
    let mut want = write_lines(&mut w, "x", 0..10);
    let agent = Running::start(fake.agent_options(&state, "node-1", TOKEN));
    wait_for("first lines", LIMIT, || fake.all_lines().len() == 10);

    fake.state().mode = Mode::Down;
    for step in 1..6 {
        want.extend(write_lines(&mut w, "x", step * 10..step * 10 + 10));
        std::thread::sleep(Duration::from_millis(120));
    }
    wait_for("frames in the spool", LIMIT, || spooled_frames(&state) >= 2);
    assert_eq!(
        fake.all_lines().len(),
        10,
        "nothing gets through while down"
    );
    fake.state().mode = Mode::Up;
    want.extend(write_lines(&mut w, "x", 60..70));

    wait_for("all lines", LIMIT, || fake.all_lines().len() >= 70);
    wait_for("empty spool", LIMIT, || spooled_frames(&state) == 0);
    agent.finish();
    assert_eq!(fake.all_lines(), want);
    assert_eq!(fake.state().conflicts, 0);
}

#[test]
fn restart_neither_loses_nor_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let fake = Fake::start(config(&[pattern(&log)], None), Some(TOKEN));
    let state = dir.path().join("state");
    let mut w = open_append(&log);
    let mut want = write_lines(&mut w, "r", 0..30);
    let mut opts = fake.agent_options(&state, "node-1", TOKEN);
    // A clock a minute ahead: what the agent reports comes from it.
    let skewed = || SystemClock.now_ms() + 60_000;
    opts.clock = Arc::new(skewed);
    let agent = Running::start(opts.clone());
    wait_for("first lines", LIMIT, || fake.all_lines().len() == 30);
    // Stop while more lines are being written.
    want.extend(write_lines(&mut w, "r", 30..60));
    agent.finish();
    want.extend(write_lines(&mut w, "r", 60..90));

    let agent = Running::start(opts);
    wait_for("all lines", LIMIT, || fake.all_lines().len() >= 90);
    agent.finish();
    assert_eq!(fake.all_lines(), want);
    let st = fake.state();
    assert_eq!(st.registers.len(), 2);
    assert!(st.registers.iter().all(|r| r.agent == "node-1"));
    assert!(st.registers[0].time_ms > SystemClock.now_ms() + 30_000);
    assert_eq!(
        fs::read_to_string(state.join("agent-id")).unwrap().trim(),
        "node-1"
    );
}

#[test]
fn lost_acknowledgement_is_resent_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let fake = Fake::start(config(&[pattern(&log)], None), Some(TOKEN));
    let state = dir.path().join("state");
    fake.state().lose_acks = 2;
    let mut w = open_append(&log);
    let mut want = write_lines(&mut w, "d", 0..20);
    let agent = Running::start(fake.agent_options(&state, "node-1", TOKEN));
    wait_for("first lines", LIMIT, || fake.all_lines().len() == 20);
    want.extend(write_lines(&mut w, "d", 20..40));
    wait_for("all lines, duplicates acknowledged", LIMIT, || {
        fake.all_lines().len() >= 40 && fake.state().duplicates >= 1 && spooled_frames(&state) == 0
    });
    agent.finish();
    assert_eq!(fake.all_lines(), want);
    assert_eq!(fake.state().conflicts, 0);
}

#[test]
fn a_backlog_goes_out_two_frames_at_a_time_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let fake = Fake::start(config(&[pattern(&log)], None), Some(TOKEN));
    let state = dir.path().join("state");
    let mut w = open_append(&log);
    // About 100 KB: some fifty frames of 2 KiB.
    let mut want = write_lines(&mut w, "p", 0..12_000);
    let mut opts = fake.agent_options(&state, "node-1", TOKEN);
    opts.max_frame_bytes = MIN_FRAME_BYTES;
    let agent = Running::start(opts);
    wait_for("the first backlog", LIMIT, || {
        fake.all_lines().len() >= want.len()
    });
    let followers = fake.state().followers;
    assert!(
        followers >= 20,
        "{followers} frames sent while another was in flight"
    );
    // Then two answers are lost while frames are in flight.
    fake.state().lose_acks = 2;
    want.extend(write_lines(&mut w, "p", 12_000..24_000));
    wait_for("the second backlog, nothing spooled", LIMIT, || {
        fake.all_lines().len() >= want.len() && spooled_frames(&state) == 0
    });
    agent.finish();
    assert_eq!(fake.all_lines(), want);
    let st = fake.state();
    assert_eq!(st.conflicts, 0);
    assert!(
        st.duplicates >= 1,
        "the frames whose answer was lost came again"
    );
}

#[test]
fn full_spool_pauses_reading_until_drained() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let fake = Fake::start(config(&[pattern(&log)], None), Some(TOKEN));
    let state = dir.path().join("state");
    fake.state().mode = Mode::IngestDown;
    let mut w = open_append(&log);
    let want: Vec<String> = (0..400)
        .flat_map(|i| write_lines(&mut w, &format!("{i:04}-padding-padding-padding"), 0..1))
        .collect();
    let mut opts = fake.agent_options(&state, "node-1", TOKEN);
    opts.spool_limit_bytes = 2048;
    opts.max_frame_bytes = MIN_FRAME_BYTES;
    let agent = Running::start(opts);

    wait_for("paused", LIMIT, || {
        fake.state().statuses.iter().any(|s| s.paused)
    });
    let read_at_pause = fake.state().statuses.last().unwrap().lines_read;
    std::thread::sleep(Duration::from_millis(600));
    let last = fake.state().statuses.last().unwrap().clone();
    assert!(last.paused);
    assert_eq!(
        last.lines_read, read_at_pause,
        "reading goes on while paused"
    );
    assert!(last.lines_read < 400);
    assert!(last.spool_bytes >= 2048);
    assert!(spooled_bytes(&state) <= 2048 + 2 * MIN_FRAME_BYTES as u64);
    assert!(fake.all_lines().is_empty());

    fake.state().mode = Mode::Up;
    wait_for("all lines", LIMIT, || fake.all_lines().len() >= 400);
    wait_for("resumed", LIMIT, || {
        let st = fake.state();
        let s = st.statuses.last().unwrap();
        !s.paused && s.spool_bytes == 0
    });
    agent.finish();
    assert_eq!(fake.all_lines(), want);
}

#[test]
fn rate_limit_spreads_a_big_file_over_several_polls() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // 60 KiB per minute: 1 KiB per second.
    let fake = Fake::start(config(&[pattern(&log)], Some(60)), Some(TOKEN));
    let state = dir.path().join("state");
    let mut w = open_append(&log);
    // 3,000 bytes: 60 lines of 50 bytes.
    let want: Vec<String> = (0..60)
        .flat_map(|i| write_lines(&mut w, &format!("{i:02}-{}", "z".repeat(44)), 0..1))
        .collect();
    let started = Instant::now();
    let agent = Running::start(fake.agent_options(&state, "node-1", TOKEN));
    wait_for("all lines", LIMIT, || fake.all_lines().len() >= 60);
    let took = started.elapsed();
    wait_for("rate-limited polls reported", LIMIT, || {
        fake.state().statuses.iter().any(|s| s.rate_limited > 0)
    });
    agent.finish();
    assert_eq!(fake.all_lines(), want);
    let batches = fake.state().batches.values().sum::<u64>();
    assert!(batches >= 3, "{batches} batches");
    assert!(took >= Duration::from_millis(1500), "too fast: {took:?}");
}

#[test]
fn drop_policy_reports_the_lines_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // 1 KiB per minute, 2,000 bytes of 50-byte lines.
    let fake = Fake::start(config(&[pattern(&log)], Some(1)), Some(TOKEN));
    let mut w = open_append(&log);
    let written: Vec<String> = (0..40)
        .flat_map(|i| write_lines(&mut w, &format!("{i:02}-{}", "q".repeat(44)), 0..1))
        .collect();
    let mut opts = fake.agent_options(&dir.path().join("state"), "node-1", TOKEN);
    opts.rate_policy = RatePolicy::Drop;
    let agent = Running::start(opts);
    wait_for("lines and drops", LIMIT, || {
        let st = fake.state();
        st.lines.len() + st.rate_dropped as usize >= 40
    });
    wait_for("drops reported", LIMIT, || {
        fake.state().statuses.iter().any(|s| s.rate_limited == 20)
    });
    agent.finish();
    assert_eq!(fake.all_lines(), written[..20]);
    assert_eq!(fake.state().rate_dropped, 20);
}

#[test]
fn one_flush_marker_after_each_burst() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let fake = Fake::start(config(&[pattern(&log)], None), Some(TOKEN));
    let state = dir.path().join("state");
    let mut w = open_append(&log);
    write_lines(&mut w, "f", 0..10);
    let agent = Running::start(fake.agent_options(&state, "node-1", TOKEN));
    wait_for("first burst", LIMIT, || fake.all_lines().len() == 10);
    wait_for("a flush", LIMIT, || fake.state().flushes.len() == 1);
    std::thread::sleep(Duration::from_millis(500));
    let len = fs::metadata(&log).unwrap().len();
    assert_eq!(fake.state().flushes.len(), 1, "one marker per burst");
    assert_eq!(fake.state().flushes[0].3, len);

    write_lines(&mut w, "f", 10..20);
    wait_for("second burst", LIMIT, || fake.all_lines().len() == 20);
    wait_for("a second flush", LIMIT, || fake.state().flushes.len() == 2);
    std::thread::sleep(Duration::from_millis(300));
    agent.finish();
    let st = fake.state();
    assert_eq!(st.flushes.len(), 2);
    assert_eq!(st.flushes[1].3, fs::metadata(&log).unwrap().len());
}

/// Writes ten lines and tells the fake it holds the first five.
fn collector_holds_half(fake: &Fake, log: &Path) -> Vec<String> {
    let mut w = open_append(log);
    let lines = write_lines(&mut w, "h", 0..10);
    let meta = fs::metadata(log).unwrap();
    let half: u64 = lines[..5].iter().map(|l| l.len() as u64 + 1).sum();
    fake.state().ends.insert((meta.dev(), meta.ino(), 0), half);
    lines[5..].to_vec()
}

#[test]
fn start_resumes_after_what_the_collector_holds() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let fake = Fake::start(config(&[pattern(&log)], None), Some(TOKEN));
    let want = collector_holds_half(&fake, &log);
    // Fresh state: no checkpoint, the collector's offsets decide.
    let agent = Running::start(fake.agent_options(&dir.path().join("state"), "node-1", TOKEN));
    wait_for("the second half", LIMIT, || fake.all_lines().len() >= 5);
    std::thread::sleep(Duration::from_millis(300));
    agent.finish();
    assert_eq!(fake.all_lines(), want);
    assert_eq!(fake.state().conflicts, 0);
}

#[test]
fn conflict_registers_again_and_resumes_after_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let fake = Fake::start(config(&[pattern(&log)], None), Some(TOKEN));
    let want = collector_holds_half(&fake, &log);
    fake.state().hide_offsets_once = true;
    let agent = Running::start(fake.agent_options(&dir.path().join("state"), "node-1", TOKEN));
    wait_for("the second half", LIMIT, || fake.all_lines().len() >= 5);
    std::thread::sleep(Duration::from_millis(300));
    agent.finish();
    assert_eq!(fake.all_lines(), want);
    let st = fake.state();
    assert_eq!(st.conflicts, 1);
    assert_eq!(st.registers.len(), 2);
}

#[test]
fn wrong_token_delivers_nothing_and_still_stops() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let fake = Fake::start(config(&[pattern(&log)], None), Some(TOKEN));
    write_lines(&mut open_append(&log), "t", 0..3);
    let mut opts = fake.agent_options(&dir.path().join("state"), "node-1", TOKEN);
    opts.token = Some("wrong".into());
    let agent = Running::start(opts);
    std::thread::sleep(Duration::from_millis(500));
    agent.finish();
    assert!(fake.state().registers.is_empty());
    assert!(fake.all_lines().is_empty());
    assert_no_repeats(&fake.all_lines());
}

#[test]
fn unreachable_collector_is_retried_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let labels = Labels {
        instance: "n".into(),
        ..Labels::default()
    };
    let opts = AgentOptions::new(format!("http://127.0.0.1:{port}"), dir.path(), labels);
    let agent = Running::start(opts);
    std::thread::sleep(Duration::from_millis(300));
    agent.finish();
}

#[test]
fn bad_options_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let labels = Labels {
        instance: "n".into(),
        ..Labels::default()
    };
    let stop = AtomicBool::new(false);
    let bad_url = AgentOptions::new("ftp://c:1", dir.path(), labels.clone());
    let err = Agent::run(bad_url, &stop).unwrap_err();
    assert!(err.to_string().contains("ftp://c:1"), "{err}");
    let mut big = AgentOptions::new("http://127.0.0.1:1", dir.path(), labels);
    big.max_frame_bytes = usize::MAX;
    assert!(matches!(
        Agent::run(big, &stop),
        Err(AgentError::Options(_))
    ));
}

#[test]
fn labels_parse_with_clear_errors() {
    let pairs = parse_pairs(" app=pay , idc=sh1,instance=node-7,k8s.zone=a ").unwrap();
    assert_eq!(
        pairs,
        [
            ("app", "pay"),
            ("idc", "sh1"),
            ("instance", "node-7"),
            ("k8s.zone", "a")
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert!(parse_pairs("").unwrap().is_empty());
    let cases = [
        ("app", "expected key=value"),
        ("=x", "label key ``"),
        ("9a=x", "label key `9a`"),
        ("a b=x", "label key `a b`"),
        ("app=", "empty value"),
        ("app=a,app=b", "given twice"),
    ];
    for (text, message) in cases {
        let err = parse_pairs(text).unwrap_err();
        assert!(err.to_string().contains(message), "{text}: {err}");
    }
}

#[test]
fn labels_default_from_the_environment() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let daemonset = env(&[
        ("NODE_NAME", "node-3"),
        ("POD_NAME", "vigil-agent-x1"),
        ("HOSTNAME", "vigil-agent-x1"),
        ("VIGIL_IDC", "sh1"),
    ]);
    let labels = resolve(parse_pairs("app=pay,ldc=cell-2").unwrap(), daemonset).unwrap();
    assert_eq!(labels.instance, "node-3");
    assert_eq!(labels.idc.as_deref(), Some("sh1"));
    assert_eq!(labels.ldc.as_deref(), Some("cell-2"));
    let extra: Vec<(&str, &str)> = labels
        .extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        extra,
        [
            ("app", "pay"),
            ("node", "node-3"),
            ("pod", "vigil-agent-x1")
        ]
    );

    let explicit = resolve(parse_pairs("instance=me,idc=x").unwrap(), daemonset).unwrap();
    assert_eq!(
        (explicit.instance.as_str(), explicit.idc.as_deref()),
        ("me", Some("x"))
    );

    let pod_only = resolve(Vec::new(), env(&[("NODE_NAME", " "), ("POD_NAME", "p-1")])).unwrap();
    assert_eq!(pod_only.instance, "p-1");
    let host_only = resolve(Vec::new(), env(&[("HOSTNAME", "h")])).unwrap();
    assert_eq!(host_only.instance, "h");
    assert!(host_only.extra.is_empty() && host_only.idc.is_none());
    assert_eq!(resolve(Vec::new(), env(&[])), Err(LabelError::NoInstance));
}
