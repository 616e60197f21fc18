//! The live loop of `vigil run`: tail the monitors' files, cut new lines,
//! aggregate them, store closed minutes, and only then acknowledge the
//! lines (move the tail checkpoints), so a restart neither loses nor
//! repeats a line that reached storage.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use vigil_agent::tail::{CheckpointStore, FileId, Tailer};
use vigil_collector::cut::Cutter;
use vigil_collector::decode::Decoder;
use vigil_collector::multiline::Joiner;
use vigil_config::Monitor;
use vigil_engine::store::MinuteStore;
use vigil_engine::Aggregator;
use vigil_model::Counters;

use crate::route;

/// How the live loop closes minutes and polls files.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A minute closes this long after its end, by the newest line time or
    /// the wall clock, whichever comes first.
    pub close_after_ms: i64,
    /// Pause between two polls of the files.
    pub poll: Duration,
}

/// Counters of every live monitor, shared with the HTTP API.
pub type SharedCounters = Arc<Mutex<HashMap<String, Counters>>>;

/// One live monitor.
struct LiveMonitor {
    monitor: Arc<Monitor>,
    cutter: Cutter,
    aggregator: Aggregator,
}

/// Per file and read group: decoding state and the event being joined.
struct FileState {
    decoder: Decoder,
    joiner: Option<Joiner>,
}

/// The running pipeline of `vigil run`.
pub struct Live {
    monitors: Vec<LiveMonitor>,
    tailer: Tailer,
    checkpoints: CheckpointStore,
    store: MinuteStore,
    files: HashMap<(FileId, usize), FileState>,
    /// Read groups: the monitors (indexes) that share a read of a file.
    groups: Vec<Vec<usize>>,
    /// Lines read but not yet acknowledged: file and end offset.
    unacknowledged: Vec<(FileId, u64)>,
    counters: SharedCounters,
    timing: Timing,
}

impl Live {
    /// Sets up tailing of every monitor's source paths, with checkpoints
    /// and stored minutes under `data`.
    pub fn new(
        monitors: &[Arc<Monitor>],
        data: &Path,
        store: MinuteStore,
        counters: SharedCounters,
        timing: Timing,
    ) -> Result<Self> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut live = Vec::new();
        let mut patterns: Vec<PathBuf> = Vec::new();
        let mut max_line_bytes = vigil_config::validate::DEFAULT_MAX_LINE_BYTES;
        for m in monitors {
            let Some(source) = &m.source else { continue };
            max_line_bytes = max_line_bytes.max(source.max_line_bytes);
            for p in &source.paths {
                if !patterns.contains(p) {
                    patterns.push(p.clone());
                }
            }
            let cutter = Cutter::new(m.clone(), now_ms)
                .with_context(|| format!("monitor {} has no time rule", m.name))?;
            live.push(LiveMonitor {
                monitor: m.clone(),
                cutter,
                aggregator: Aggregator::new(m.clone())?,
            });
        }
        let groups = route::read_groups(live.iter().enumerate().map(|(i, lm)| (i, &*lm.monitor)));
        let checkpoints = CheckpointStore::new(data.join("agent"));
        let saved = checkpoints.load()?;
        Ok(Live {
            monitors: live,
            tailer: Tailer::new(patterns, saved, max_line_bytes),
            checkpoints,
            store,
            files: HashMap::new(),
            groups,
            unacknowledged: Vec::new(),
            counters,
            timing,
        })
    }

    /// Polls until `stop` is set.
    pub fn run(mut self, stop: &AtomicBool) -> Result<()> {
        while !stop.load(Ordering::Relaxed) {
            self.tick(chrono::Utc::now().timestamp_millis())?;
            std::thread::sleep(self.timing.poll);
        }
        Ok(())
    }

    /// One round: read new lines, aggregate, store closed minutes,
    /// acknowledge what is stored.
    pub fn tick(&mut self, now_ms: i64) -> Result<()> {
        let batches = self.tailer.poll()?;
        let mut touched = Vec::new();
        for batch in &batches {
            touched.push(batch.id);
            for g in 0..self.groups.len() {
                let members: Vec<usize> = self.groups[g]
                    .iter()
                    .copied()
                    .filter(|&i| route::reads(&self.monitors[i].monitor, &batch.path))
                    .collect();
                if members.is_empty() {
                    continue;
                }
                for &i in &members {
                    for _ in 0..batch.too_long {
                        self.monitors[i].cutter.reject();
                    }
                }
                let state = self.file_state(batch.id, g, members[0]);
                let mut events = Vec::new();
                for line in &batch.lines {
                    let text = match state.decoder.decode(line) {
                        Ok(t) => t,
                        Err(_) => {
                            events.push(None);
                            continue;
                        }
                    };
                    match &mut state.joiner {
                        None => events.push(Some(text.into_owned())),
                        Some(j) => events.extend(j.push(&text).map(Some)),
                    }
                }
                self.feed(&members, events)?;
            }
            self.unacknowledged.push((batch.id, batch.end));
        }
        // A file with nothing new has finished its last multi-line event.
        let idle: Vec<(FileId, usize)> = self
            .files
            .keys()
            .filter(|(id, _)| !touched.contains(id))
            .copied()
            .collect();
        for (id, g) in idle {
            let pending = self
                .files
                .get_mut(&(id, g))
                .and_then(|s| s.joiner.as_mut())
                .and_then(Joiner::finish);
            if let Some(event) = pending {
                let members = self.groups[g].clone();
                let readers: Vec<usize> = members
                    .into_iter()
                    .filter(|&i| self.touches(i, id))
                    .collect();
                self.feed(&readers, vec![Some(event)])?;
            }
        }
        self.close(now_ms)?;
        Ok(())
    }

    /// Whether monitor `i` has read file `id` (its joiner state exists).
    fn touches(&self, i: usize, id: FileId) -> bool {
        self.groups
            .iter()
            .enumerate()
            .any(|(g, members)| members.contains(&i) && self.files.contains_key(&(id, g)))
    }

    fn file_state(&mut self, id: FileId, group: usize, first: usize) -> &mut FileState {
        let monitor = &self.monitors[first].monitor;
        self.files.entry((id, group)).or_insert_with(|| {
            let source = monitor.source.as_ref();
            FileState {
                decoder: Decoder::new(source.map_or(vigil_config::Encoding::Auto, |s| s.encoding)),
                joiner: source
                    .and_then(|s| s.multiline.as_ref())
                    .map(|ml| Joiner::new(ml.start.clone(), ml.max_lines)),
            }
        })
    }

    /// Cuts events (`None`: a line that could not be decoded) for monitors.
    fn feed(&mut self, members: &[usize], events: Vec<Option<String>>) -> Result<()> {
        for &i in members {
            let lm = &mut self.monitors[i];
            for event in &events {
                match event {
                    Some(text) => {
                        // A malformed line is counted by the cutter.
                        let _ = lm.cutter.push(text);
                    }
                    None => lm.cutter.reject(),
                }
                if lm.cutter.batch_full() {
                    if let Some(batch) = lm.cutter.take_batch() {
                        lm.aggregator.push(&batch)?;
                    }
                }
            }
            if let Some(batch) = lm.cutter.take_batch() {
                lm.aggregator.push(&batch)?;
            }
        }
        Ok(())
    }

    /// Closes due minutes, stores them, then acknowledges lines whose
    /// minutes are all stored.
    fn close(&mut self, now_ms: i64) -> Result<()> {
        let mut all_closed = true;
        let mut counters = HashMap::new();
        for lm in &mut self.monitors {
            let newest = lm.aggregator.newest_ms().unwrap_or(i64::MIN);
            let up_to = newest.max(now_ms) - self.timing.close_after_ms;
            let rows: Vec<_> = lm
                .aggregator
                .drain_closed(up_to)
                .into_iter()
                .flat_map(|b| b.rows)
                .collect();
            if !rows.is_empty() {
                self.store
                    .write(&lm.monitor, &rows)
                    .with_context(|| format!("storing minutes of {}", lm.monitor.name))?;
            }
            all_closed &= lm.aggregator.open_buckets() == 0;
            let mut c = lm.cutter.counters();
            lm.aggregator.counters().add_to(&mut c);
            counters.insert(lm.monitor.name.clone(), c);
        }
        if let Ok(mut shared) = self.counters.lock() {
            *shared = counters;
        }
        if all_closed && !self.unacknowledged.is_empty() {
            for (id, end) in self.unacknowledged.drain(..) {
                self.tailer.commit(id, end);
            }
            self.tailer.save(&self.checkpoints)?;
        }
        Ok(())
    }
}
