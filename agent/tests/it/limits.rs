//! The tailer's generations, byte budgets, rate limit and flush markers.

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::time::{Duration, Instant};

use vigil_agent::tail::{Checkpoint, CheckpointStore, LineBatch, RatePolicy, Source, Tailer};

use crate::{append, lines, poll_commit};

fn source(pattern: &Path, rate_limit_kib_per_min: Option<u64>, rate_policy: RatePolicy) -> Source {
    Source {
        patterns: vec![pattern.to_path_buf()],
        max_line_bytes: 1024,
        rate_limit_kib_per_min,
        rate_policy,
    }
}

fn truncate(path: &Path) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

fn commit_all(t: &mut Tailer, batches: &[LineBatch]) {
    for b in batches {
        t.commit(b.id, b.end);
    }
}

#[test]
fn truncation_increments_the_generation_and_it_persists() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let store = CheckpointStore::new(dir.path().join("state"));
    append(&log, "1\n2\n");
    let mut t = Tailer::new(vec![log.clone()], Vec::new(), 64);
    let batches = t.poll().unwrap();
    assert_eq!(batches[0].gen, 0);
    commit_all(&mut t, &batches);
    truncate(&log);
    append(&log, "3\n");
    let batches = t.poll().unwrap();
    assert_eq!(
        (batches[0].gen, batches[0].start, lines(&batches).len()),
        (1, 0, 1)
    );
    commit_all(&mut t, &batches);
    t.save(&store).unwrap();
    assert_eq!(store.load().unwrap()[0].gen, 1);

    // Truncated again while stopped: the next generation, from 0.
    drop(t);
    truncate(&log);
    let mut t = Tailer::new(vec![log.clone()], store.load().unwrap(), 64);
    assert!(t.poll().unwrap().is_empty());
    assert_eq!((t.checkpoints()[0].gen, t.checkpoints()[0].offset), (2, 0));
    append(&log, "4\n");
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["4"]);
    assert_eq!((batches[0].gen, batches[0].start), (2, 0));

    // A new inode starts at generation 0.
    fs::remove_file(&log).unwrap();
    append(&log, "5\n");
    let batches = t.poll().unwrap();
    let new: Vec<&LineBatch> = batches.iter().filter(|b| !b.lines.is_empty()).collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].gen, 0);
}

#[test]
fn a_big_backlog_is_read_in_bounded_polls() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let text: String = (0..100).map(|i| format!("line-{i:03}\n")).collect();
    append(&log, &text);
    let mut t = Tailer::new(vec![log.clone()], Vec::new(), 64).with_max_batch_bytes(100);
    let mut got = Vec::new();
    let mut polls = 0;
    loop {
        let batches = t.poll().unwrap();
        if batches.is_empty() {
            break;
        }
        polls += 1;
        for b in &batches {
            assert!(b.end - b.start <= 100, "{} bytes", b.end - b.start);
        }
        assert_eq!(t.backlog(), polls < 10);
        commit_all(&mut t, &batches);
        got.extend(lines(&batches));
    }
    assert_eq!(polls, 10);
    let want: Vec<String> = (0..100).map(|i| format!("line-{i:03}")).collect();
    assert_eq!(got, want);
}

#[test]
fn the_poll_budget_serves_every_file_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b", "c"] {
        let text: String = (0..20).map(|i| format!("{name}{i:02}\n")).collect();
        append(&dir.path().join(format!("{name}.log")), &text);
    }
    let mut t = Tailer::new(vec![dir.path().join("*.log")], Vec::new(), 64)
        .with_max_batch_bytes(40)
        .with_max_poll_bytes(40);
    let mut got = Vec::new();
    for _ in 0..100 {
        let batches = t.poll().unwrap();
        assert!(batches.len() <= 1);
        commit_all(&mut t, &batches);
        got.extend(lines(&batches));
        if !t.backlog() && batches.is_empty() {
            break;
        }
    }
    assert_eq!(got.len(), 60);
    // Round robin: every file is served before any is served twice.
    let firsts = ["a00", "b00", "c00"].map(|l| got.iter().position(|g| g == l).unwrap());
    assert_eq!(firsts, [0, 10, 20], "{got:?}");
}

#[test]
fn rate_limit_cuts_polls_short_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // 4,000 bytes at 60 KiB per minute (1,024 bytes per second).
    let text: String = (0..80)
        .map(|i| format!("{i:02}-{}\n", "r".repeat(46)))
        .collect();
    append(&log, &text);
    let mut t = Tailer::from_sources(vec![source(&log, Some(60), RatePolicy::Delay)], Vec::new());
    let started = Instant::now();
    let mut got = Vec::new();
    let mut batches_with_lines = 0;
    while got.len() < 80 {
        assert!(started.elapsed() < Duration::from_secs(20), "too slow");
        let batches = t.poll().unwrap();
        for b in &batches {
            assert!(b.end - b.start <= 1100, "{} bytes", b.end - b.start);
            batches_with_lines += 1;
        }
        commit_all(&mut t, &batches);
        got.extend(lines(&batches));
        assert!(!t.backlog(), "the rate limit is not a backlog");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(batches_with_lines >= 4);
    assert!(t.rate_limited() > 0);
    assert!(started.elapsed() >= Duration::from_millis(2500));
}

#[test]
fn drop_policy_skips_lines_over_a_minute_quota_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    // 1 KiB per minute; 2,000 bytes of 50-byte lines.
    let text: String = (0..40)
        .map(|i| format!("{i:02}-{}\n", "d".repeat(46)))
        .collect();
    append(&log, &text);
    let mut t = Tailer::from_sources(vec![source(&log, Some(1), RatePolicy::Drop)], Vec::new());
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches).len(), 20, "a minute's quota passes at once");
    assert_eq!(batches[0].rate_dropped, 20);
    assert_eq!(batches[0].end, 2000, "the file does not fall behind");
    assert!(!t.backlog());
    commit_all(&mut t, &batches);
    append(&log, &format!("{}\n", "late".repeat(20)));
    let batches = t.poll().unwrap();
    assert!(lines(&batches).is_empty());
    assert_eq!(batches[0].rate_dropped, 1);
    assert_eq!(t.rate_limited(), 0, "dropping is not holding back");
}

#[test]
fn flush_markers_follow_each_burst_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "a\nb\n");
    let mut t = Tailer::new(vec![log.clone()], Vec::new(), 64).with_flush_markers();
    assert_eq!(poll_commit(&mut t), ["a", "b"]);
    let marker = t.poll().unwrap();
    assert_eq!(marker.len(), 1);
    assert!(marker[0].flush && marker[0].lines.is_empty());
    assert_eq!((marker[0].start, marker[0].end), (4, 4));
    assert!(t.poll().unwrap().is_empty());
    append(&log, "c\n");
    assert_eq!(poll_commit(&mut t), ["c"]);
    append(&log, "d\n");
    assert_eq!(poll_commit(&mut t), ["d"]);
    let marker = t.poll().unwrap();
    assert_eq!((marker.len(), marker[0].end), (1, 8));
    assert!(t.poll().unwrap().is_empty());
    // Without the option, no markers.
    let mut plain = Tailer::new(vec![log], Vec::new(), 64);
    assert_eq!(poll_commit(&mut plain), ["a", "b", "c", "d"]);
    assert!(plain.poll().unwrap().is_empty());
}

#[test]
fn a_file_named_by_two_sources_is_read_once_with_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "short\nmuch-too-long\n");
    let first = Source {
        patterns: vec![log.clone()],
        max_line_bytes: 5,
        rate_limit_kib_per_min: None,
        rate_policy: RatePolicy::Delay,
    };
    let second = source(&dir.path().join("*.log"), None, RatePolicy::Delay);
    let mut t = Tailer::from_sources(vec![first, second], Vec::new());
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["short"]);
    assert_eq!(batches[0].too_long, 1);
}

#[test]
fn a_checkpoint_without_path_resumes_by_identity() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "1\n2\n3\n");
    let id = vigil_agent::tail::FileId::of_path(&log).unwrap();
    let resume = Checkpoint {
        path: Default::default(),
        id,
        offset: 2,
        gen: 4,
    };
    let mut t = Tailer::new(vec![log.clone()], vec![resume], 64);
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["2", "3"]);
    assert_eq!((batches[0].gen, batches[0].start), (4, 2));
    assert_eq!(t.checkpoints()[0].path, log);
}
