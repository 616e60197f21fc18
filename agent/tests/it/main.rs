//! Integration tests of the agent on real files: the tailer alone, then the
//! whole agent against a fake collector.

mod fake;
mod health;
mod jvm;
mod limits;
mod model;
mod probe;
mod ship;
mod system;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use vigil_agent::tail::{CheckpointStore, LineBatch, Tailer};

/// Appends `text` to the file at `path`, creating it if needed.
pub(crate) fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Lines of `batches` as strings.
pub(crate) fn lines(batches: &[LineBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| b.lines.iter())
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
        .collect()
}

/// Polls, commits everything, returns the lines.
pub(crate) fn poll_commit(t: &mut Tailer) -> Vec<String> {
    let batches = t.poll().unwrap();
    for b in &batches {
        t.commit(b.id, b.end);
    }
    lines(&batches)
}

/// A tailer on one pattern, without checkpoints.
fn tailer(pattern: &Path) -> Tailer {
    Tailer::new(vec![pattern.to_path_buf()], Vec::new(), 1024)
}

#[test]
fn append_and_poll() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "a\nb\n");
    let mut t = tailer(&log);
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["a", "b"]);
    assert_eq!((batches[0].start, batches[0].end), (0, 4));
    assert_eq!(batches[0].path, log);
    assert!(t.poll().unwrap().is_empty());
    append(&log, "c\n");
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["c"]);
    assert_eq!((batches[0].start, batches[0].end), (4, 6));
}

#[test]
fn missing_file_then_created() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let mut t = tailer(&log);
    assert!(t.poll().unwrap().is_empty());
    append(&log, "x\n");
    assert_eq!(poll_commit(&mut t), ["x"]);
}

#[test]
fn partial_line_completed_later() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "one\ntw");
    let mut t = tailer(&log);
    assert_eq!(poll_commit(&mut t), ["one"]);
    assert!(t.poll().unwrap().is_empty());
    append(&log, "o\r\nthr");
    assert_eq!(poll_commit(&mut t), ["two"]);
    append(&log, "ee\n");
    assert_eq!(poll_commit(&mut t), ["three"]);
}

#[test]
fn too_long_lines_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "short\nwaytoolong\nok\n");
    let mut t = Tailer::new(vec![log], Vec::new(), 5);
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["short", "ok"]);
    assert_eq!(batches[0].too_long, 1);
    assert_eq!(batches[0].end, 20);
}

#[test]
fn rename_rotation_reads_every_line_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let rotated = dir.path().join("app.log.1");
    append(&log, "1\n2\n");
    let mut t = tailer(&log);
    assert_eq!(poll_commit(&mut t), ["1", "2"]);
    // Writer still holds the old file while it is renamed.
    let mut old = OpenOptions::new().append(true).open(&log).unwrap();
    old.write_all(b"3\n").unwrap();
    fs::rename(&log, &rotated).unwrap();
    old.write_all(b"4\n").unwrap();
    append(&log, "5\n6\n");
    // Old inode first, to its end, then the new file from 0.
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["3", "4", "5", "6"]);
    assert_eq!(batches[1].start, 0);
    assert_ne!(batches[0].id, batches[1].id);
    for b in &batches {
        t.commit(b.id, b.end);
    }
    // A late write to the old file is still picked up.
    old.write_all(b"late\n").unwrap();
    append(&log, "7\n");
    assert_eq!(poll_commit(&mut t), ["late", "7"]);
    drop(old);
    assert!(poll_commit(&mut t).is_empty());
    // The quiet, fully committed old file is then forgotten.
    assert_eq!(t.files().len(), 1);
    assert_eq!(t.files()[0].1, log);
}

#[test]
fn uncommitted_rotated_file_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "1\n");
    let mut t = tailer(&log);
    let first = t.poll().unwrap();
    fs::rename(&log, dir.path().join("old")).unwrap();
    assert!(t.poll().unwrap().is_empty());
    assert!(t.poll().unwrap().is_empty());
    assert_eq!(t.files().len(), 1, "not forgotten before commit");
    t.commit(first[0].id, first[0].end);
    assert!(t.poll().unwrap().is_empty());
    assert!(t.files().is_empty());
}

#[test]
fn a_file_rotated_while_stopped_is_read_to_its_end_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "1\n2\n");
    let mut t = tailer(&log);
    assert_eq!(poll_commit(&mut t), ["1", "2"]);
    // Read but never acknowledged, then the agent stops.
    append(&log, "3\n");
    assert_eq!(lines(&t.poll().unwrap()), ["3"]);
    let saved = t.checkpoints();
    drop(t);
    // Rotated by rename while it was down; the writer went on in both.
    fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&dir.path().join("app.log.1"), "4\n");
    append(&log, "5\n");
    let mut t = Tailer::new(vec![log.clone()], saved, 1024);
    let batches = t.poll().unwrap();
    // The rotated file is still named as the monitors know it.
    assert_eq!(batches[0].path, log);
    for b in &batches {
        t.commit(b.id, b.end);
    }
    assert_eq!(lines(&batches), ["3", "4", "5"]);
    assert!(poll_commit(&mut t).is_empty());
    // Fully read and acknowledged: the rotated file is forgotten.
    assert_eq!(t.files().len(), 1);
}

#[test]
fn copy_truncate_restarts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "1\n2\n3\n");
    let mut t = tailer(&log);
    assert_eq!(poll_commit(&mut t), ["1", "2", "3"]);
    let id = t.files()[0].0;
    fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, "4\n");
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["4"]);
    assert_eq!(
        (batches[0].id, batches[0].start, batches[0].end),
        (id, 0, 2)
    );
}

#[test]
fn truncation_to_empty_then_new_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "aaaa\nbbbb\n");
    let mut t = tailer(&log);
    assert_eq!(poll_commit(&mut t), ["aaaa", "bbbb"]);
    fs::write(&log, "").unwrap();
    assert!(t.poll().unwrap().is_empty());
    append(&log, "c\n");
    assert_eq!(poll_commit(&mut t), ["c"]);
    assert_eq!(t.checkpoints()[0].offset, 2);
}

#[test]
fn deletion_reads_the_rest_then_forgets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "1\n");
    let mut t = tailer(&log);
    assert_eq!(poll_commit(&mut t), ["1"]);
    append(&log, "2\n");
    fs::remove_file(&log).unwrap();
    assert_eq!(poll_commit(&mut t), ["2"]);
    assert!(poll_commit(&mut t).is_empty());
    assert!(t.files().is_empty());
    assert!(t.checkpoints().is_empty());
}

#[test]
fn glob_picks_up_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("*.log");
    append(&dir.path().join("a.log"), "a1\n");
    append(&dir.path().join("ignored.txt"), "no\n");
    let mut t = tailer(&pattern);
    assert_eq!(poll_commit(&mut t), ["a1"]);
    append(&dir.path().join("b.log"), "b1\nb2\n");
    append(&dir.path().join("a.log"), "a2\n");
    let mut got = poll_commit(&mut t);
    got.sort();
    assert_eq!(got, ["a2", "b1", "b2"]);
}

#[test]
fn bad_pattern_is_an_error_with_the_pattern() {
    let mut t = tailer(Path::new("/tmp/[oops"));
    let err = t.poll().unwrap_err();
    assert!(err.to_string().contains("[oops"), "{err}");
}

#[test]
fn follows_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.log");
    let link = dir.path().join("link.log");
    append(&target, "x\n");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut t = tailer(&link);
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["x"]);
    assert_eq!(batches[0].path, link);
    append(&target, "y\n");
    assert_eq!(poll_commit(&mut t), ["y"]);
    // Re-pointing the link is a rotation.
    let other = dir.path().join("other.log");
    append(&other, "z\n");
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&other, &link).unwrap();
    assert_eq!(poll_commit(&mut t), ["z"]);
}

#[test]
fn restart_rereads_uncommitted_and_skips_committed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let store = CheckpointStore::new(dir.path().join("state"));
    append(&log, "1\n2\n");
    let mut t = Tailer::new(vec![log.clone()], store.load().unwrap(), 1024);
    assert_eq!(poll_commit(&mut t), ["1", "2"]);
    append(&log, "3\n4\n");
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["3", "4"]);
    // Not committed: lost in flight.
    t.save(&store).unwrap();
    drop(t);

    append(&log, "5\n");
    let mut t = Tailer::new(vec![log.clone()], store.load().unwrap(), 1024);
    let batches = t.poll().unwrap();
    assert_eq!(lines(&batches), ["3", "4", "5"]);
    assert_eq!(batches[0].start, 4);
    t.commit(batches[0].id, batches[0].end);
    t.save(&store).unwrap();
    drop(t);

    let mut t = Tailer::new(vec![log.clone()], store.load().unwrap(), 1024);
    assert!(t.poll().unwrap().is_empty());
}

#[test]
fn restart_after_rotation_starts_new_inode_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let store = CheckpointStore::new(dir.path());
    append(&log, "1\n2\n");
    let mut t = tailer(&log);
    assert_eq!(poll_commit(&mut t), ["1", "2"]);
    t.save(&store).unwrap();
    drop(t);
    // Rotated while the agent was down: the checkpoint's inode is gone from
    // the pattern, the new file is read from 0.
    fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, "3\n");
    let mut t = Tailer::new(vec![log.clone()], store.load().unwrap(), 1024);
    assert_eq!(poll_commit(&mut t), ["3"]);
}

#[test]
fn restart_with_truncated_file_restarts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let store = CheckpointStore::new(dir.path().join("s"));
    append(&log, "long line\n");
    let mut t = tailer(&log);
    assert_eq!(poll_commit(&mut t), ["long line"]);
    t.save(&store).unwrap();
    drop(t);
    fs::write(&log, "a\n").unwrap();
    let mut t = Tailer::new(vec![log.clone()], store.load().unwrap(), 1024);
    assert_eq!(poll_commit(&mut t), ["a"]);
}

#[test]
fn checkpoints_survive_a_restart_without_poll() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let store = CheckpointStore::new(dir.path().join("s"));
    append(&log, "1\n");
    let mut t = tailer(&log);
    assert_eq!(poll_commit(&mut t), ["1"]);
    t.save(&store).unwrap();
    let t = Tailer::new(vec![log.clone()], store.load().unwrap(), 1024);
    t.save(&store).unwrap();
    let mut t = Tailer::new(vec![log.clone()], store.load().unwrap(), 1024);
    assert!(t.poll().unwrap().is_empty());
}
