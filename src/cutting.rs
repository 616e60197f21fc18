//! The cutting half of the collector's [`Pipeline`](crate::pipeline::Pipeline):
//! an agent's raw lines → events (per-file decoding and multi-line state)
//! → each monitor's columns, as record batches not aggregated yet.
//!
//! It stands apart from the aggregating half so that the applier can cut
//! one frame while the previous one is aggregated on another thread. A
//! [`Cut`] carries a batch's rows and what its lines counted; the pipeline
//! adds both when it aggregates the cut, so its counters always describe
//! whole frames.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use vigil_collector::cut::Cutter;
use vigil_collector::decode::Decoder;
use vigil_collector::multiline::Joiner;
use vigil_config::Monitor;
use vigil_model::wire::{self, BatchHeader};
use vigil_model::Counters;

use crate::route;

/// Events of one file and read group from which on a batch's events are
/// cut on two threads (the first half on a thread of its own).
const PARALLEL_CUT_EVENTS: usize = 4096;

/// A monitor's cutters.
struct CutPipe {
    monitor: Arc<Monitor>,
    cutter: Cutter,
    /// Cuts the first half of large batches, beside `cutter`.
    helper: Cutter,
}

/// Decoding and multi-line state of one file, per read group.
struct FileState {
    decoder: Decoder,
    joiner: Option<Joiner>,
}

/// A file of an agent: agent, device, inode, generation, read group.
type FileKey = (String, u64, u64, u32, usize);

/// What one batch of lines gave one monitor.
pub struct MonitorCut {
    /// The monitor's index among those [`Cutting::new`] was given.
    pub monitor: usize,
    /// Its rows, in line order.
    pub batches: Vec<RecordBatch>,
    /// The lines: seen, parsed, malformed, filtered, dropped by the rate
    /// limit.
    pub counters: Counters,
}

/// One agent batch (lines of one file, from one log segment) cut for the
/// monitors that read the file.
pub struct Cut {
    /// The log segment the lines were read from.
    pub segment: u64,
    /// The file.
    pub path: String,
    /// Per monitor that reads the file, what it got.
    pub monitors: Vec<MonitorCut>,
}

/// See the [module docs](self).
#[derive(Default)]
pub struct Cutting {
    monitors: Vec<CutPipe>,
    groups: Vec<Vec<usize>>,
    files: HashMap<FileKey, FileState>,
}

impl Cutting {
    /// Cutters for `monitors` (all with a source), numbered in this order.
    pub fn new(monitors: &[Arc<Monitor>], now_ms: i64) -> Result<Self> {
        let cutter = |m: &Arc<Monitor>| {
            Cutter::new(m.clone(), now_ms)
                .with_context(|| format!("monitor {} has no time rule", m.name))
        };
        let monitors = monitors
            .iter()
            .map(|m| {
                Ok(CutPipe {
                    monitor: m.clone(),
                    cutter: cutter(m)?,
                    helper: cutter(m)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let groups = route::read_groups(monitors.iter().enumerate().map(|(i, p)| (i, &*p.monitor)));
        Ok(Cutting {
            monitors,
            groups,
            files: HashMap::new(),
        })
    }

    /// Cuts one batch of `agent` (its header and lines, each ending with
    /// `\n`), read from log segment `segment`, for every monitor that reads
    /// its file.
    pub fn cut(&mut self, segment: u64, agent: &str, (h, lines): (&BatchHeader, &[u8])) -> Cut {
        let path = Path::new(&h.path);
        // A new generation of a file starts its events afresh.
        self.files.retain(|(a, dev, ino, gen, _), _| {
            !(a == agent && *dev == h.dev && *ino == h.ino && *gen < h.gen)
        });
        let mut out = Cut {
            segment,
            path: h.path.clone(),
            monitors: Vec::new(),
        };
        for (g, group) in self.groups.iter().enumerate() {
            let members: Vec<usize> = group
                .iter()
                .copied()
                .filter(|&i| route::reads(&self.monitors[i].monitor, path))
                .collect();
            let Some(&first) = members.first() else {
                continue;
            };
            let key: FileKey = (agent.to_string(), h.dev, h.ino, h.gen, g);
            let source = self.monitors[first].monitor.source.as_ref();
            let state = self.files.entry(key).or_insert_with(|| FileState {
                decoder: Decoder::new(source.map_or(vigil_config::Encoding::Auto, |s| s.encoding)),
                joiner: source
                    .and_then(|s| s.multiline.as_ref())
                    .map(|ml| Joiner::new(ml.start.clone(), ml.max_lines)),
            });
            let events = events(state, lines, h.flush);
            for i in members {
                let CutPipe { cutter, helper, .. } = &mut self.monitors[i];
                for _ in 0..h.too_long {
                    cutter.reject();
                }
                let batches = cut_events(cutter, helper, &events);
                let mut counters = cutter.take_counters();
                counters.add(&helper.take_counters());
                counters.rate_limited += h.rate_dropped;
                out.monitors.push(MonitorCut {
                    monitor: i,
                    batches,
                    counters,
                });
            }
        }
        out
    }
}

/// The events of a file's `lines` (each ending with `\n`; `None`: a line
/// that could not be decoded); with `flush`, the multi-line event in
/// progress too. Lines that are events by themselves are borrowed, not
/// copied; a block that decodes whole is not decoded line by line.
fn events<'a>(state: &mut FileState, lines: &'a [u8], flush: bool) -> Vec<Option<Cow<'a, str>>> {
    let mut events: Vec<Option<Cow<str>>> = Vec::new();
    match state.decoder.decode_block(lines) {
        Some(text) => {
            for line in text.split_terminator('\n') {
                push_event(&mut events, &mut state.joiner, Some(Cow::Borrowed(line)));
            }
        }
        None => {
            for line in wire::lines(lines) {
                let text = state.decoder.decode(line).ok();
                push_event(&mut events, &mut state.joiner, text);
            }
        }
    }
    if flush {
        if let Some(event) = state.joiner.as_mut().and_then(Joiner::finish) {
            events.push(Some(Cow::Owned(event)));
        }
    }
    events
}

/// Adds a line's text (`None`: it could not be decoded) to `events`:
/// as an event of its own, or to the multi-line event in progress.
fn push_event<'a>(
    events: &mut Vec<Option<Cow<'a, str>>>,
    joiner: &mut Option<Joiner>,
    text: Option<Cow<'a, str>>,
) {
    match (joiner, text) {
        (_, None) => events.push(None),
        (None, Some(text)) => events.push(Some(text)),
        (Some(j), Some(text)) => events.extend(j.push(&text).map(|e| Some(Cow::Owned(e)))),
    }
}

/// Cuts `events` with `cutter`, or with `helper` and `cutter` on two
/// threads when there are many; the batches come out in event order.
fn cut_events(
    cutter: &mut Cutter,
    helper: &mut Cutter,
    events: &[Option<Cow<str>>],
) -> Vec<RecordBatch> {
    if events.len() < PARALLEL_CUT_EVENTS {
        return cut(cutter, events);
    }
    let (first, second) = events.split_at(events.len() / 2);
    std::thread::scope(|scope| {
        let first = scope.spawn(|| cut(helper, first));
        let second = cut(cutter, second);
        let mut batches = first.join().expect("a cutting thread panicked");
        batches.extend(second);
        batches
    })
}

/// Cuts `events` (`None`: a line that could not be decoded, counted as
/// malformed) into batches.
fn cut(cutter: &mut Cutter, events: &[Option<Cow<str>>]) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for event in events {
        match event {
            // A malformed line is counted by the cutter.
            Some(text) => {
                let _ = cutter.push(text);
            }
            None => cutter.reject(),
        }
        if cutter.batch_full() {
            batches.extend(cutter.take_batch());
        }
    }
    batches.extend(cutter.take_batch());
    batches
}
