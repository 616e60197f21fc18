//! The JVM sampler against real JVMs: a small Java program is compiled and
//! run, its hsperfdata file sampled, then copies of that file are truncated
//! and corrupted. `java` and `javac` (17+) must be on PATH.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use tempfile::TempDir;
use vigil_agent::metrics::jvm::{hsperf, JvmSampler, MONITOR, STALE_AFTER_MS};
use vigil_agent::metrics::{Sampled, Sampler};
use vigil_model::wire::Sample;

const MAIN_CLASS: &str = "VigilJvmProbe";

/// Allocates in a loop (young GCs), keeps a humongous array (old gen),
/// runs three sleeping daemon threads and prints its live thread count.
/// Exits when its stdin closes or after `args[0]` seconds, whichever first.
const PROBE_SRC: &str = r#"
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

public class VigilJvmProbe {
    static volatile Object sink;
    static byte[] big;

    public static void main(String[] args) throws Exception {
        long deadline = System.currentTimeMillis() + Long.parseLong(args[0]) * 1000L;
        Thread watcher = new Thread(() -> {
            try {
                while (System.in.read() != -1) { }
            } catch (Exception e) { }
            System.exit(0);
        }, "probe-stdin");
        watcher.setDaemon(true);
        watcher.start();
        for (int i = 0; i < 3; i++) {
            Thread t = new Thread(() -> {
                try { Thread.sleep(Long.MAX_VALUE); } catch (InterruptedException e) { }
            }, "probe-sleeper-" + i);
            t.setDaemon(true);
            t.start();
        }
        big = new byte[4 << 20];
        List<byte[]> keep = new ArrayList<>();
        while (System.currentTimeMillis() < deadline) {
            for (int i = 0; i < 1000; i++) {
                byte[] b = new byte[16 * 1024];
                sink = b;
                if (i % 100 == 0) {
                    keep.add(b);
                    if (keep.size() > 200) keep.clear();
                }
            }
            System.out.println("threads " + ManagementFactory.getThreadMXBean().getThreadCount());
            System.out.flush();
            Thread.sleep(100);
        }
        System.exit(0);
    }
}
"#;

/// Fails with a clear message when a JDK tool is missing.
fn require(tool: &str) {
    match Command::new(tool).arg("-version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{tool} -version` failed ({}): the JVM sampler tests need a JDK 17+ \
             (java and javac on PATH)",
            out.status
        ),
        Err(e) => panic!(
            "`{tool}` not found ({e}): the JVM sampler tests need a JDK 17+ \
             (java and javac on PATH; CI installs it)"
        ),
    }
}

/// The compiled probe class, compiled once per test run.
fn probe_class() -> &'static [u8] {
    static CLASS: OnceLock<Vec<u8>> = OnceLock::new();
    CLASS.get_or_init(|| {
        require("javac");
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join(format!("{MAIN_CLASS}.java"));
        fs::write(&src, PROBE_SRC).unwrap();
        let out = Command::new("javac")
            .arg("-d")
            .arg(dir.path())
            .arg(&src)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "javac failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::read(dir.path().join(format!("{MAIN_CLASS}.class"))).unwrap()
    })
}

/// A running probe JVM, stopped when dropped (even on panic).
struct Jvm {
    child: Child,
    /// The last thread count the JVM printed (-1 before the first).
    threads: Arc<AtomicI64>,
    _classes: TempDir,
}

impl Jvm {
    fn start() -> Jvm {
        require("java");
        let classes = tempfile::tempdir().unwrap();
        fs::write(
            classes.path().join(format!("{MAIN_CLASS}.class")),
            probe_class(),
        )
        .unwrap();
        let mut child = Command::new("java")
            .args(["-XX:+UsePerfData", "-XX:+UseG1GC", "-Xmx64m", "-cp"])
            .arg(classes.path())
            .args([MAIN_CLASS, "60"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let threads = Arc::new(AtomicI64::new(-1));
        let stdout = child.stdout.take().unwrap();
        let seen = Arc::clone(&threads);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("threads ") {
                    if let Ok(n) = n.trim().parse() {
                        seen.store(n, Ordering::SeqCst);
                    }
                }
            }
        });
        Jvm {
            child,
            threads,
            _classes: classes,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn threads(&self) -> i64 {
        self.threads.load(Ordering::SeqCst)
    }

    /// Its hsperfdata file (HotSpot always writes to /tmp on Linux).
    fn perf_file(&self) -> Option<PathBuf> {
        fs::read_dir("/tmp")
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("hsperfdata_"))
            .map(|e| e.path().join(self.pid().to_string()))
            .find(|p| p.is_file())
    }
}

impl Drop for Jvm {
    fn drop(&mut self) {
        // EOF on stdin: the probe exits cleanly and removes its file.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn of_pid(sampled: &Sampled, pid: u32) -> Option<Sample> {
    sampled
        .samples
        .iter()
        .find(|s| s.keys.get("pid") == Some(&pid.to_string()))
        .cloned()
}

/// A copy of a real, live JVM's hsperfdata file, taken once per run.
fn real_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let jvm = Jvm::start();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(
                Instant::now() < deadline,
                "no readable hsperfdata file for pid {} within 20 s",
                jvm.pid()
            );
            if jvm.threads() > 0 {
                if let Some(bytes) = jvm.perf_file().and_then(|p| fs::read(p).ok()) {
                    if hsperf::parse(&bytes).is_ok_and(|d| {
                        d.prologue.accessible && d.text("sun.rt.javaCommand").is_some()
                    }) {
                        return bytes;
                    }
                }
            }
            sleep(Duration::from_millis(100));
        }
    })
}

#[test]
fn samples_a_real_jvm() {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(30);
    let jvm = Jvm::start();
    let pid = jvm.pid();
    let mut sampler = JvmSampler::new(vec![PathBuf::from("/tmp")]);

    // First sample, once the JVM runs its loop.
    let first = loop {
        assert!(Instant::now() < deadline, "JVM pid {pid} never sampled");
        if jvm.threads() > 0 {
            let sampled = sampler.sample(now_ms());
            if let Some(s) = of_pid(&sampled, pid) {
                break s;
            }
        }
        sleep(Duration::from_millis(100));
    };
    let first_threads = jvm.threads();

    // Second, a few seconds later, once young GCs happened.
    sleep(Duration::from_secs(2));
    let second = loop {
        assert!(Instant::now() < deadline, "no young GC in the probe JVM");
        let sampled = sampler.sample(now_ms());
        for e in &sampled.errors {
            assert!(!e.contains(&format!("/{pid}:")), "{e}");
        }
        let s = of_pid(&sampled, pid).expect("the JVM is still sampled");
        if s.values["ygc_count"] > first.values["ygc_count"] {
            break s;
        }
        sleep(Duration::from_millis(500));
    };
    let second_threads = jvm.threads();

    for s in [&first, &second] {
        assert_eq!(s.monitor, MONITOR);
        assert_eq!(s.keys["main_class"], MAIN_CLASS);
        assert_eq!(s.keys.len(), 2);
    }
    let v = &second.values;
    eprintln!("second sample of pid {pid}: {v:?}");
    assert!(v["ygc_time"] > 0.0 && v["ygc_time"] < 30.0, "{v:?}");
    assert!(v["ygc_time"] >= first.values["ygc_time"]);
    assert_eq!(v["fgc_count"], 0.0);
    for name in [
        "eden_capacity",
        "eden_max",
        "old_used",
        "old_capacity",
        "old_max",
        "meta_used",
        "meta_capacity",
        "meta_util",
        "compressedclass_used",
        "compressedclass_capacity",
        "tlab_alloc",
        "thread_started",
        "thread_daemon",
        "safepoints",
        "application_time",
    ] {
        assert!(v[name] > 0.0, "{name} = {:?}", v.get(name));
    }
    assert!(first.values["eden_used"].max(v["eden_used"]) > 0.0);
    assert!(v["eden_used"] <= v["eden_capacity"]);
    assert!(v["old_used"] >= 4.0 * 1024.0 * 1024.0, "the 4 MiB array");
    assert!(v["meta_util"] <= 100.0);
    assert!(v["safepoint_time"] >= v["safepoint_sync_time"]);
    assert!(v["application_time"] > 1.0, "seconds, not ticks");
    for name in [
        "cgc_count",
        "parks",
        "notifications",
        "inflations",
        "futile_wakeups",
        "deflations",
        "contended_lock_attempts",
        "mon_extant",
    ] {
        assert!(v[name] >= 0.0, "{name}");
    }
    for (s, threads) in [(&first, first_threads), (&second, second_threads)] {
        let live = s.values["thread_live"];
        assert!(
            (live - threads as f64).abs() <= 2.0,
            "thread_live {live} vs the JVM's own count {threads}"
        );
        assert!(s.values["thread_live_peak"] >= live);
        assert!(
            s.values["thread_daemon"] >= 4.0,
            "3 sleepers + stdin watcher"
        );
    }
    assert!(start.elapsed() < Duration::from_secs(30));
}

/// A fake tmp dir and proc root; `live` pids get a proc entry.
struct Fake {
    tmp: TempDir,
    proc: TempDir,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            tmp: tempfile::tempdir().unwrap(),
            proc: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, user: &str, pid: u32, bytes: &[u8], live: bool) -> PathBuf {
        let dir = self.tmp.path().join(format!("hsperfdata_{user}"));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(pid.to_string());
        fs::write(&path, bytes).unwrap();
        if live {
            fs::create_dir_all(self.proc.path().join(pid.to_string())).unwrap();
        }
        path
    }

    fn sampler(&self) -> JvmSampler {
        JvmSampler::new(vec![self.tmp.path().to_path_buf()]).with_proc_root(self.proc.path())
    }
}

fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(buf[at..at + 4].try_into().unwrap())
}

#[test]
fn broken_files_are_errors_and_the_others_are_still_sampled() {
    let real = real_file();
    assert_eq!(real[4], 1, "x86/arm Linux JVMs write little-endian files");
    let used = i32_at(real, 8) as usize;
    let entry_offset = i32_at(real, 24) as usize;

    let fake = Fake::new();
    fake.file("alice", 100, real, true);
    let truncated = fake.file("alice", 101, &real[..used / 2], true);
    let mut corrupt = real.to_vec();
    corrupt[entry_offset..entry_offset + 4].copy_from_slice(&i32::MAX.to_le_bytes());
    let corrupt = fake.file("alice", 102, &corrupt, true);
    let mut bad_magic = real.to_vec();
    bad_magic[..4].copy_from_slice(b"\x7fELF");
    let bad_magic = fake.file("alice", 103, &bad_magic, true);
    fake.file("alice", 104, real, false); // dead pid
    fake.file("alice", 105, &[], true);
    fake.file("alice", 0xff, real, true);
    fs::write(fake.tmp.path().join("hsperfdata_alice/notes.txt"), "x").unwrap();
    fs::write(fake.tmp.path().join("not_hsperfdata"), "x").unwrap();
    // A pid "file" that cannot be read.
    let unreadable = fake.tmp.path().join("hsperfdata_bob/106");
    fs::create_dir_all(&unreadable).unwrap();
    fs::create_dir_all(fake.proc.path().join("106")).unwrap();

    let sampled = fake.sampler().sample(1_000);
    let pids: Vec<&str> = sampled
        .samples
        .iter()
        .map(|s| s.keys["pid"].as_str())
        .collect();
    assert_eq!(pids, ["100", "255"], "{:?}", sampled.errors);
    assert_eq!(sampled.samples[0].keys["main_class"], MAIN_CLASS);
    assert_eq!(sampled.samples[0].time_ms, 1_000);
    assert!(sampled.samples[0].values["ygc_count"] >= 0.0);
    let errors = &sampled.errors;
    assert_eq!(errors.len(), 5, "{errors:#?}");
    let expect = [
        (truncated, "truncated"),
        (corrupt, "corrupt entry #0"),
        (bad_magic, "bad magic"),
        (fake.tmp.path().join("hsperfdata_alice/105"), "too short"),
        (unreadable, "cannot read"),
    ];
    for (path, what) in expect {
        let line = format!("{}: ", path.display());
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&line) && e.contains(what)),
            "no `{what}` error for {}: {errors:#?}",
            path.display()
        );
    }
}

#[test]
fn a_missing_tmp_dir_is_an_error() {
    let fake = Fake::new();
    let missing = fake.tmp.path().join("nope");
    let mut sampler = JvmSampler::new(vec![missing.clone()]).with_proc_root(fake.proc.path());
    let sampled = sampler.sample(0);
    assert!(sampled.samples.is_empty());
    assert_eq!(sampled.errors.len(), 1);
    assert!(sampled.errors[0].starts_with(&missing.display().to_string()));
}

#[test]
fn a_file_that_stops_changing_is_stale() {
    let real = real_file();
    let fake = Fake::new();
    let path = fake.file("carol", 300, real, true);
    let mut sampler = fake.sampler();
    assert_eq!(sampler.sample(10_000).samples.len(), 1);
    // Not long enough to tell.
    let sampled = sampler.sample(10_000 + STALE_AFTER_MS - 1);
    assert_eq!(sampled.samples.len(), 1, "{:?}", sampled.errors);
    let sampled = sampler.sample(10_000 + STALE_AFTER_MS);
    assert!(sampled.samples.is_empty());
    assert_eq!(sampled.errors.len(), 1);
    assert!(sampled.errors[0].contains("stale"), "{:?}", sampled.errors);
    assert!(sampled.errors[0].starts_with(&path.display().to_string()));

    // The JVM moves on (another ticks value): sampled again.
    let ticks = hsperf::parse(real)
        .unwrap()
        .long("sun.os.hrt.ticks")
        .unwrap();
    let moved = replace_long(real, ticks, ticks + 1);
    let data = hsperf::parse(&moved).unwrap();
    assert_eq!(data.long("sun.os.hrt.ticks"), Some(ticks + 1));
    fs::write(&path, &moved).unwrap();
    assert_eq!(sampler.sample(10_000 + 2 * STALE_AFTER_MS).samples.len(), 1);
}

/// `buf` with the first little-endian occurrence of `from` replaced.
fn replace_long(buf: &[u8], from: i64, to: i64) -> Vec<u8> {
    let needle = from.to_le_bytes();
    let at = buf
        .windows(8)
        .position(|w| w == needle)
        .expect("value present");
    let mut out = buf.to_vec();
    out[at..at + 8].copy_from_slice(&to.to_le_bytes());
    out
}

#[test]
fn real_file_has_the_counters_of_the_mapping() {
    let data = hsperf::parse(real_file()).unwrap();
    for counter in [
        "sun.os.hrt.frequency",
        "sun.os.hrt.ticks",
        "sun.gc.collector.0.invocations",
        "sun.gc.collector.0.time",
        "sun.gc.collector.1.invocations",
        "sun.gc.collector.1.time",
        "sun.gc.collector.2.invocations",
        "sun.gc.tlab.alloc",
        "java.threads.started",
        "java.threads.live",
        "java.threads.daemon",
        "java.threads.livePeak",
        "sun.rt.safepoints",
        "sun.rt.safepointTime",
        "sun.rt.safepointSyncTime",
        "sun.rt.applicationTime",
        "sun.rt._sync_Parks",
        "sun.rt._sync_Notifications",
        "sun.rt._sync_Inflations",
        "sun.rt._sync_FutileWakeups",
        "sun.rt._sync_Deflations",
        "sun.rt._sync_ContendedLockAttempts",
        "sun.rt._sync_MonExtant",
        "sun.gc.generation.0.space.0.used",
        "sun.gc.generation.0.space.0.capacity",
        "sun.gc.generation.0.space.0.maxCapacity",
        "sun.gc.generation.1.space.0.used",
        "sun.gc.generation.1.space.0.capacity",
        "sun.gc.generation.1.space.0.maxCapacity",
        "sun.gc.metaspace.used",
        "sun.gc.metaspace.capacity",
        "sun.gc.compressedclassspace.used",
        "sun.gc.compressedclassspace.capacity",
    ] {
        assert!(data.long(counter).is_some(), "{counter} missing");
    }
    assert_eq!(data.text("sun.gc.generation.0.space.0.name"), Some("eden"));
    assert_eq!(data.text("sun.gc.policy.name"), Some("GarbageFirst"));
    assert_eq!(data.text("sun.rt.javaCommand"), Some("VigilJvmProbe 60"));
    assert_eq!(
        data.entries.len(),
        data.prologue.num_entries as usize,
        "names are unique"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any truncation: an error below `used`, the same data from `used` on.
    #[test]
    fn truncations_of_a_real_file(len in 0usize..40_000) {
        let real = real_file();
        let used = i32_at(real, 8) as usize;
        let len = len.min(real.len());
        let got = hsperf::parse(&real[..len]);
        if len < used {
            prop_assert!(got.is_err());
        } else {
            prop_assert_eq!(got.unwrap(), hsperf::parse(real).unwrap());
        }
    }

    /// Overwritten bytes and 32-bit fields anywhere: no panic, no hang.
    #[test]
    fn corruptions_of_a_real_file(
        bytes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        words in prop::collection::vec((any::<prop::sample::Index>(), any::<i32>()), 0..4),
    ) {
        let mut buf = real_file().to_vec();
        for (at, b) in bytes {
            let at = at.index(buf.len());
            buf[at] = b;
        }
        for (at, w) in words {
            let at = at.index(buf.len() / 4) * 4;
            buf[at..at + 4].copy_from_slice(&w.to_le_bytes());
        }
        let _ = hsperf::parse(&buf);
    }

    /// Random bytes, bare or behind a valid prologue start.
    #[test]
    fn random_bytes(
        tail in prop::collection::vec(any::<u8>(), 0..2048),
        order in 0u8..2,
    ) {
        let _ = hsperf::parse(&tail);
        let mut buf = vec![0xCA, 0xFE, 0xC0, 0xC0, order, 2, 0, 1];
        buf.extend(&tail);
        let _ = hsperf::parse(&buf);
    }
}

/// The sampler itself on a tree of corrupt files never panics.
#[test]
fn sampler_survives_corrupt_files() {
    let real = real_file();
    let fake = Fake::new();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16);
    runner
        .run(&strategy, |edits| {
            let mut buf = real.to_vec();
            for (at, b) in edits {
                let at = at.index(buf.len());
                buf[at] = b;
            }
            fake.file("dave", 400, &buf, true);
            let sampled = fake.sampler().sample(0);
            prop_assert_eq!(sampled.samples.len() + sampled.errors.len(), 1);
            Ok(())
        })
        .unwrap();
}
