//! The persisted outbox: every delivery is durable before
//! [`Outbox::enqueue`] returns, is sent at most once (its id is remembered
//! for [`SENT_RETENTION`] after it was sent, also across restarts), and is
//! retried with exponential backoff until sent or refused for good.
//!
//! On disk, `<dir>/outbox.jsonl` holds one JSON record per line, appended
//! and synced: `queued` (with the whole delivery), `sent` or `gave_up`
//! (with the id). Opening replays the records, drops a torn last line (a
//! write that never returned), prunes ids older than the retention and
//! rewrites the file compactly (temporary file, fsync, rename, fsync of the
//! folder); the same compaction runs when the `queued` records of
//! finished deliveries make up half the file. Retry times live in memory only: after a restart
//! every delivery still queued is due at once.
//!
//! Order is kept per recipient: [`Outbox::due`] offers a recipient's
//! deliveries only while its oldest one is due, so a resolved notice never
//! overtakes its firing one, and a recipient waiting for a retry holds back
//! only its own deliveries. One process (and one [`crate::Dispatcher`])
//! uses a folder at a time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use serde::{Deserialize, Serialize};
use vigil_model::fsutil::write_atomic;

use crate::notice::{Delivery, Recipient};

/// How long the id of a sent (or given-up) delivery is remembered, so that
/// enqueueing it again is refused.
pub const SENT_RETENTION: Duration = Duration::from_secs(8 * 24 * 3600);
/// Wait before the first retry; it doubles with each failed attempt.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(5 * 60);
/// The file name under the outbox folder.
const FILE_NAME: &str = "outbox.jsonl";
/// The file is compacted only when it holds more dead records than this.
const COMPACT_MIN_RECORDS: usize = 1024;

/// Why the outbox could not read or persist its state.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// Reading, writing or syncing a file failed.
    #[error("outbox {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: io::Error,
    },
    /// A record other than the last cannot be read: the file was damaged
    /// or edited by hand. Nothing is dropped silently; move the file away
    /// to start empty.
    #[error("outbox {path}:{line}: unreadable record: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Why it cannot be read.
        #[source]
        source: serde_json::Error,
    },
}

/// Counters of the outbox for `/metrics`, since the process started
/// (except `pending`, the deliveries waiting now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounters {
    /// Deliveries accepted by [`Outbox::enqueue`] (duplicates not counted).
    pub queued: u64,
    /// Deliveries sent.
    pub sent: u64,
    /// Deliveries given up after a permanent error.
    pub failed: u64,
    /// Failed attempts scheduled for a retry.
    pub retried: u64,
    /// Deliveries waiting to be sent (a gauge).
    pub pending: u64,
}

/// One line of the outbox file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Record {
    /// A delivery was accepted.
    Queued {
        /// When, Unix ms.
        at_ms: i64,
        /// The delivery.
        delivery: Box<Delivery>,
    },
    /// A delivery was sent.
    Sent {
        /// When, Unix ms.
        at_ms: i64,
        /// Its id.
        id: String,
    },
    /// A delivery was given up after a permanent error.
    GaveUp {
        /// When, Unix ms.
        at_ms: i64,
        /// Its id.
        id: String,
        /// The error.
        error: String,
    },
}

/// A delivery waiting to be sent.
#[derive(Debug)]
struct Pending {
    delivery: Delivery,
    queued_ms: i64,
    attempts: u32,
    retry_at: Option<Instant>,
}

/// What is known of an id.
#[derive(Debug)]
enum Known {
    /// Waiting, at this sequence number.
    Pending(u64),
    /// Sent at this Unix ms.
    Sent(i64),
    /// Given up at this Unix ms, with the error.
    GaveUp(i64, String),
}

/// The mutable state, behind the outbox's lock.
#[derive(Debug)]
struct State {
    file: File,
    /// Bytes of whole records in the file.
    len: u64,
    /// Records in the file.
    records: usize,
    /// Records in the file that a rewrite drops (the `queued` records of
    /// deliveries sent or given up).
    dead: usize,
    pending: BTreeMap<u64, Pending>,
    ids: HashMap<String, Known>,
    next_seq: u64,
    counters: OutboxCounters,
}

/// The persisted queue of deliveries; share it as `Arc<Outbox>` between
/// whoever enqueues and the [`crate::Dispatcher`].
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    state: Mutex<State>,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

impl Outbox {
    /// Opens (creating it if needed) the outbox under `dir` and loads what
    /// it holds: deliveries still queued are due at once.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Io`] when the folder or file cannot be created, read
    /// or rewritten; [`OutboxError::Corrupt`] when a record other than the
    /// last cannot be read.
    pub fn open(dir: impl AsRef<Path>) -> Result<Outbox, OutboxError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let path = dir.join(FILE_NAME);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let Replayed {
            pending,
            mut ids,
            next_seq,
        } = replay(&path, &bytes)?;
        prune(&mut ids, unix_ms());
        let (file, len, records) = rewrite(&path, &pending, &ids)?;
        let counters = OutboxCounters {
            pending: pending.len() as u64,
            ..OutboxCounters::default()
        };
        // Bounded by one: waking never blocks, and one waiting wake-up is
        // as good as many.
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        Ok(Outbox {
            path,
            state: Mutex::new(State {
                file,
                len,
                records,
                dead: 0,
                pending,
                ids,
                next_seq,
                counters,
            }),
            wake_tx,
            wake_rx,
        })
    }

    /// Queues `delivery`, durably: once this returns `Ok(true)` the
    /// delivery survives a crash. `Ok(false)` when its id is already
    /// queued, or was sent or given up within [`SENT_RETENTION`]: nothing
    /// is queued then, so a delivery is never sent twice.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Io`] when the record cannot be written and synced;
    /// the delivery is not queued then.
    pub fn enqueue(&self, delivery: Delivery) -> Result<bool, OutboxError> {
        let mut state = self.lock();
        if state.ids.contains_key(&delivery.id) {
            return Ok(false);
        }
        let queued_ms = unix_ms();
        let record = Record::Queued {
            at_ms: queued_ms,
            delivery: Box::new(delivery.clone()),
        };
        self.append(&mut state, &record)?;
        let seq = state.next_seq;
        state.next_seq += 1;
        state.ids.insert(delivery.id.clone(), Known::Pending(seq));
        state.pending.insert(
            seq,
            Pending {
                delivery,
                queued_ms,
                attempts: 0,
                retry_at: None,
            },
        );
        state.counters.queued += 1;
        state.counters.pending += 1;
        self.compact_if_grown(&mut state);
        drop(state);
        // A full channel already holds a wake-up: nothing is lost.
        let _ = self.wake_tx.try_send(());
        Ok(true)
    }

    /// The deliveries that may be attempted at `now`, oldest first: for
    /// each recipient whose oldest delivery is due (never tried, or its
    /// retry time has come), that delivery and the ones queued after it.
    /// Send a recipient's deliveries in this order and stop at the first
    /// transient failure.
    pub fn due(&self, now: Instant) -> Vec<Delivery> {
        let state = self.lock();
        let mut seen: HashSet<&Recipient> = HashSet::new();
        let mut held: HashSet<&Recipient> = HashSet::new();
        let mut due = Vec::new();
        for pending in state.pending.values() {
            let recipient = &pending.delivery.recipient;
            if held.contains(recipient) {
                continue;
            }
            if seen.insert(recipient) && pending.retry_at.is_some_and(|at| at > now) {
                held.insert(recipient);
                continue;
            }
            due.push(pending.delivery.clone());
        }
        due
    }

    /// The earliest retry time of a recipient's oldest delivery, if any
    /// waits for one: when [`Outbox::due`] is empty, nothing becomes due
    /// before then (or before the next [`Outbox::enqueue`]).
    pub fn next_retry(&self) -> Option<Instant> {
        let state = self.lock();
        let mut seen: HashSet<&Recipient> = HashSet::new();
        state
            .pending
            .values()
            .filter(|p| seen.insert(&p.delivery.recipient))
            .filter_map(|p| p.retry_at)
            .min()
    }

    /// Records that the delivery `id` was sent; an id not queued is
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Io`] when the record cannot be written: the delivery
    /// is not sent again by this process, but would be after a restart.
    pub fn mark_sent(&self, id: &str) -> Result<(), OutboxError> {
        let mut state = self.lock();
        let Some(Known::Pending(seq)) = state.ids.get(id) else {
            return Ok(());
        };
        let seq = *seq;
        state.pending.remove(&seq);
        let at_ms = unix_ms();
        state.ids.insert(id.to_string(), Known::Sent(at_ms));
        state.counters.sent += 1;
        state.counters.pending -= 1;
        state.dead += 1;
        let record = Record::Sent {
            at_ms,
            id: id.to_string(),
        };
        self.append(&mut state, &record)?;
        self.compact_if_grown(&mut state);
        Ok(())
    }

    /// Records a failed attempt of the delivery `id` at `now`. A transient
    /// failure schedules a retry (1 s, doubling up to 5 min, forever); a
    /// permanent one gives the delivery up, with a log line. An id not
    /// queued is ignored.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Io`] when giving up cannot be written: the delivery
    /// is not tried again by this process, but would be after a restart.
    pub fn mark_failed(
        &self,
        id: &str,
        now: Instant,
        permanent: bool,
        error: &str,
    ) -> Result<(), OutboxError> {
        let mut state = self.lock();
        let Some(Known::Pending(seq)) = state.ids.get(id) else {
            return Ok(());
        };
        let seq = *seq;
        if !permanent {
            let Some(pending) = state.pending.get_mut(&seq) else {
                return Ok(());
            };
            pending.attempts += 1;
            let wait = backoff(pending.attempts);
            pending.retry_at = Some(now + wait);
            let attempts = pending.attempts;
            state.counters.retried += 1;
            log::warn!("notification {id}: attempt {attempts} failed, retry in {wait:?}: {error}");
            return Ok(());
        }
        state.pending.remove(&seq);
        let at_ms = unix_ms();
        state
            .ids
            .insert(id.to_string(), Known::GaveUp(at_ms, error.to_string()));
        state.counters.failed += 1;
        state.counters.pending -= 1;
        state.dead += 1;
        log::error!("notification {id}: given up: {error}");
        let record = Record::GaveUp {
            at_ms,
            id: id.to_string(),
            error: error.to_string(),
        };
        self.append(&mut state, &record)?;
        self.compact_if_grown(&mut state);
        Ok(())
    }

    /// The counters, for `/metrics`.
    pub fn counters(&self) -> OutboxCounters {
        self.lock().counters
    }

    /// Receives a message after each [`Outbox::enqueue`] (at most one
    /// waits): the dispatcher sleeps on it.
    pub(crate) fn wakeups(&self) -> Receiver<()> {
        self.wake_rx.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements that hold the lock; a
        // panic elsewhere does not make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `record` and syncs it; on failure the file is cut back to
    /// its last whole record, so a later append does not follow a torn
    /// line.
    fn append(&self, state: &mut State, record: &Record) -> Result<(), OutboxError> {
        // Invariant: records are plain structs with string keys.
        let mut line = serde_json::to_vec(record).expect("outbox records serialize");
        line.push(b'\n');
        let written = state
            .file
            .write_all(&line)
            .and_then(|()| state.file.sync_data());
        if let Err(e) = written {
            // Best effort: if even this fails, opening drops the torn line.
            let _ = state.file.set_len(state.len);
            return Err(io_error(&self.path)(e));
        }
        state.len += line.len() as u64;
        state.records += 1;
        Ok(())
    }

    /// Rewrites the file without the records that no longer matter (and
    /// forgets ids past the retention) once those make up half of it, so
    /// each record is rewritten a bounded number of times; a failure is
    /// logged and leaves the current file in use.
    fn compact_if_grown(&self, state: &mut State) {
        if state.dead <= COMPACT_MIN_RECORDS || state.dead * 2 < state.records {
            return;
        }
        prune(&mut state.ids, unix_ms());
        match rewrite(&self.path, &state.pending, &state.ids) {
            Ok((file, len, records)) => {
                state.file = file;
                state.len = len;
                state.records = records;
                state.dead = 0;
            }
            Err(e) => log::warn!("compacting the outbox failed, it keeps growing: {e}"),
        }
    }
}

/// Wait before the next attempt after `attempts` failed ones (≥ 1).
fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    (FIRST_RETRY * 2u32.pow(doublings)).min(MAX_RETRY)
}

/// What the records of an outbox file say.
#[derive(Debug, Default)]
struct Replayed {
    /// Deliveries still queued, by sequence number.
    pending: BTreeMap<u64, Pending>,
    /// Every id recorded.
    ids: HashMap<String, Known>,
    /// The sequence number of the next delivery.
    next_seq: u64,
}

/// Replays `bytes`, the content of the file at `path`.
fn replay(path: &Path, bytes: &[u8]) -> Result<Replayed, OutboxError> {
    let mut pending = BTreeMap::new();
    let mut ids = HashMap::new();
    let mut next_seq = 0;
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // The piece after the last newline is empty, or a torn write.
    if let Some(torn) = lines.pop().filter(|l| !l.is_empty()) {
        log::warn!(
            "outbox {}: dropping a torn last record of {} bytes (never acknowledged)",
            path.display(),
            torn.len()
        );
    }
    let count = lines.len();
    for (index, line) in lines.into_iter().enumerate() {
        let record = match serde_json::from_slice::<Record>(line) {
            Ok(record) => record,
            Err(_) if index + 1 == count => {
                log::warn!(
                    "outbox {}:{}: dropping an unreadable last record (never acknowledged)",
                    path.display(),
                    index + 1
                );
                break;
            }
            Err(source) => {
                return Err(OutboxError::Corrupt {
                    path: path.to_path_buf(),
                    line: index + 1,
                    source,
                })
            }
        };
        match record {
            Record::Queued { at_ms, delivery } => {
                if ids.contains_key(&delivery.id) {
                    continue;
                }
                ids.insert(delivery.id.clone(), Known::Pending(next_seq));
                pending.insert(
                    next_seq,
                    Pending {
                        delivery: *delivery,
                        queued_ms: at_ms,
                        attempts: 0,
                        retry_at: None,
                    },
                );
                next_seq += 1;
            }
            Record::Sent { at_ms, id } => {
                if let Some(Known::Pending(seq)) = ids.insert(id, Known::Sent(at_ms)) {
                    pending.remove(&seq);
                }
            }
            Record::GaveUp { at_ms, id, error } => {
                if let Some(Known::Pending(seq)) = ids.insert(id, Known::GaveUp(at_ms, error)) {
                    pending.remove(&seq);
                }
            }
        }
    }
    Ok(Replayed {
        pending,
        ids,
        next_seq,
    })
}

/// Forgets the ids sent or given up more than [`SENT_RETENTION`] before
/// `now_ms`.
fn prune(ids: &mut HashMap<String, Known>, now_ms: i64) {
    let retention = i64::try_from(SENT_RETENTION.as_millis()).unwrap_or(i64::MAX);
    let oldest = now_ms.saturating_sub(retention);
    ids.retain(|_, known| match known {
        Known::Pending(_) => true,
        Known::Sent(at_ms) | Known::GaveUp(at_ms, _) => *at_ms >= oldest,
    });
}

/// Writes the live records to a new file that atomically replaces the one
/// at `path`; returns its append handle, length and record count.
fn rewrite(
    path: &Path,
    pending: &BTreeMap<u64, Pending>,
    ids: &HashMap<String, Known>,
) -> Result<(File, u64, usize), OutboxError> {
    let mut out = Vec::new();
    let mut records = 0;
    let mut push = |record: &Record| {
        // Invariant: records are plain structs with string keys.
        serde_json::to_writer(&mut out, record).expect("outbox records serialize");
        out.push(b'\n');
        records += 1;
    };
    for p in pending.values() {
        push(&Record::Queued {
            at_ms: p.queued_ms,
            delivery: Box::new(p.delivery.clone()),
        });
    }
    for (id, known) in ids {
        match known {
            Known::Pending(_) => {}
            Known::Sent(at_ms) => push(&Record::Sent {
                at_ms: *at_ms,
                id: id.clone(),
            }),
            Known::GaveUp(at_ms, error) => push(&Record::GaveUp {
                at_ms: *at_ms,
                id: id.clone(),
                error: error.clone(),
            }),
        }
    }
    write_atomic(path, &out).map_err(io_error(path))?;
    Ok((append_handle(path)?, out.len() as u64, records))
}

/// The file at `path` opened for appending.
fn append_handle(path: &Path) -> Result<File, OutboxError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_error(path))
}

/// Wraps an IO error with the path it concerns.
fn io_error(path: &Path) -> impl Fn(io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Milliseconds since the Unix epoch by the wall clock (what sent ids are
/// kept by, since it must hold across restarts).
fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::{AlertState, Notice};

    fn delivery(id: &str, to: &str) -> Delivery {
        Delivery {
            id: id.into(),
            recipient: Recipient::Webhook { name: to.into() },
            notice: Notice {
                alert: "r".into(),
                monitor: "m".into(),
                app: None,
                level: "P2".into(),
                state: AlertState::Firing,
                minute: 0,
                keys: vec![],
                value: None,
                threshold: None,
                condition: String::new(),
                channel: "webhook".into(),
                title: "m/r".into(),
                text: String::new(),
                lines: vec![],
                link: None,
            },
        }
    }

    fn ids(deliveries: &[Delivery]) -> Vec<&str> {
        deliveries.iter().map(|d| d.id.as_str()).collect()
    }

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes() {
        let waits: Vec<u64> = (1..=11).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_RETRY);
    }

    #[test]
    fn a_recipient_waiting_for_a_retry_holds_back_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        for (id, to) in [("a1", "a"), ("b1", "b"), ("a2", "a")] {
            assert!(outbox.enqueue(delivery(id, to)).unwrap());
        }
        let now = Instant::now();
        assert_eq!(ids(&outbox.due(now)), ["a1", "b1", "a2"]);
        outbox.mark_failed("a1", now, false, "down").unwrap();
        assert_eq!(ids(&outbox.due(now)), ["b1"]);
        assert_eq!(outbox.next_retry(), Some(now + FIRST_RETRY));
        assert_eq!(ids(&outbox.due(now + FIRST_RETRY)), ["a1", "b1", "a2"]);
        outbox.mark_failed("a1", now, true, "refused").unwrap();
        assert_eq!(ids(&outbox.due(now)), ["b1", "a2"]);
        let counters = outbox.counters();
        assert_eq!(
            (
                counters.queued,
                counters.retried,
                counters.failed,
                counters.pending
            ),
            (3, 1, 1, 2)
        );
    }

    #[test]
    fn a_torn_last_record_is_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        outbox.enqueue(delivery("kept", "a")).unwrap();
        drop(outbox);
        let path = dir.path().join(FILE_NAME);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"op":"queued","at_ms":1,"deliv"#)
            .unwrap();
        drop(file);
        let outbox = Outbox::open(dir.path()).unwrap();
        assert_eq!(ids(&outbox.due(Instant::now())), ["kept"]);
        assert!(outbox.enqueue(delivery("next", "a")).unwrap());
        drop(outbox);
        let outbox = Outbox::open(dir.path()).unwrap();
        assert_eq!(ids(&outbox.due(Instant::now())), ["kept", "next"]);
    }

    #[test]
    fn a_damaged_record_before_the_last_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let sent = r#"{"op":"sent","at_ms":1,"id":"x"}"#;
        fs::write(&path, format!("{sent}\nnot json\n{sent}\n")).unwrap();
        let error = Outbox::open(dir.path()).unwrap_err();
        assert!(
            matches!(error, OutboxError::Corrupt { line: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn sent_ids_are_kept_for_the_retention_then_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let day_ms = 24 * 3600 * 1000;
        let now = unix_ms();
        let old = format!(r#"{{"op":"sent","at_ms":{},"id":"old"}}"#, now - 9 * day_ms);
        let recent = format!(
            r#"{{"op":"sent","at_ms":{},"id":"recent"}}"#,
            now - 7 * day_ms
        );
        fs::write(&path, format!("{old}\n{recent}\n")).unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        assert!(!outbox.enqueue(delivery("recent", "a")).unwrap());
        assert!(outbox.enqueue(delivery("old", "a")).unwrap());
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    #[test]
    fn the_file_is_compacted_when_it_grows() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        for n in 0..=COMPACT_MIN_RECORDS {
            let id = format!("d{n}");
            outbox.enqueue(delivery(&id, "a")).unwrap();
            outbox.mark_sent(&id).unwrap();
        }
        assert_eq!(outbox.lock().records, COMPACT_MIN_RECORDS + 1);
        drop(outbox);
        let text = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(text.lines().all(|l| l.starts_with(r#"{"op":"sent""#)));
        let outbox = Outbox::open(dir.path()).unwrap();
        assert!(!outbox.enqueue(delivery("d0", "a")).unwrap());
        assert!(outbox.due(Instant::now()).is_empty());
    }
}
