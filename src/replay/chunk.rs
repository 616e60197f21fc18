//! Reading a log file into chunks of events, and cutting a chunk with one
//! cutter per monitor. Chunks are numbered so that work done on several
//! threads can be applied in file order.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use indicatif::{ProgressBar, ProgressStyle};
use vigil_collector::cut::{CutError, Cutter};
use vigil_collector::decode::Decoder;
use vigil_collector::multiline::Joiner;
use vigil_collector::reader::{LineReader, RawLine};
use vigil_config::Source;
use vigil_model::Counters;

/// Events per chunk.
const CHUNK_EVENTS: usize = 8192;
/// Text per chunk, bytes, whichever comes first.
const CHUNK_BYTES: usize = 4 << 20;
/// Files above this size get a progress bar on stderr.
const PROGRESS_BYTES: u64 = 100 * 1024 * 1024;

/// Consecutive events of one file.
pub struct Chunk {
    /// Position of the chunk in the file, from 0.
    pub seq: u64,
    text: String,
    events: Vec<Event>,
}

enum Event {
    /// An event's text ends at `end` in the chunk's text.
    Text { line: u64, end: usize },
    /// A line that could not become text.
    Reject { line: u64, error: CutError },
}

impl Chunk {
    fn new(seq: u64) -> Self {
        Chunk {
            seq,
            text: String::new(),
            events: Vec::with_capacity(CHUNK_EVENTS),
        }
    }

    fn push_text(&mut self, line: u64, text: &str) {
        self.text.push_str(text);
        self.events.push(Event::Text {
            line,
            end: self.text.len(),
        });
    }

    fn is_full(&self) -> bool {
        self.events.len() >= CHUNK_EVENTS || self.text.len() >= CHUNK_BYTES
    }
}

/// Reads `log` as `source` says (line bound, encoding, multi-line events)
/// and hands each full chunk to `emit`, in order.
pub fn read_chunks(
    log: &Path,
    source: &Source,
    emit: &mut dyn FnMut(Chunk) -> Result<()>,
) -> Result<()> {
    let file = File::open(log).with_context(|| format!("cannot open {}", log.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = (size > PROGRESS_BYTES).then(|| progress_bar(log, size));
    let mut reader = LineReader::new(file, source.max_line_bytes);
    let mut decoder = Decoder::new(source.encoding);
    let mut joiner = source
        .multiline
        .as_ref()
        .map(|ml| Joiner::new(ml.start.clone(), ml.max_lines));
    let mut chunk = Chunk::new(0);
    let mut line_no: u64 = 0;
    // Line number of the first line of the event the joiner holds.
    let mut event_start: u64 = 1;
    loop {
        if chunk.is_full() {
            let next = Chunk::new(chunk.seq + 1);
            emit(std::mem::replace(&mut chunk, next))?;
            if let Some(p) = &progress {
                p.set_position(reader.offset());
            }
        }
        let raw = reader
            .next_line()
            .with_context(|| format!("cannot read {}", log.display()))?;
        let Some(raw) = raw else { break };
        line_no += 1;
        let bytes = match raw {
            RawLine::Line(b) => b,
            RawLine::TooLong { len } => {
                let error = CutError::TooLong {
                    len,
                    max: source.max_line_bytes,
                };
                chunk.events.push(Event::Reject {
                    line: line_no,
                    error,
                });
                continue;
            }
        };
        let text = match decoder.decode(bytes) {
            Ok(t) => t,
            Err(e) => {
                let error = CutError::Encoding(e.to_string());
                chunk.events.push(Event::Reject {
                    line: line_no,
                    error,
                });
                continue;
            }
        };
        match &mut joiner {
            None => chunk.push_text(line_no, &text),
            Some(j) => {
                if let Some(event) = j.push(&text) {
                    chunk.push_text(event_start, &event);
                    event_start = line_no;
                }
            }
        }
    }
    if let Some(event) = joiner.as_mut().and_then(Joiner::finish) {
        chunk.push_text(event_start, &event);
    }
    if !chunk.events.is_empty() {
        emit(chunk)?;
    }
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    Ok(())
}

fn progress_bar(log: &Path, size: u64) -> ProgressBar {
    let bar = ProgressBar::new(size);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(log.display().to_string());
    bar
}

/// What one monitor's cutter made of a chunk.
pub struct MonitorCut {
    /// The kept rows.
    pub batch: Option<RecordBatch>,
    /// Malformed lines: line number and why.
    pub errors: Vec<(u64, CutError)>,
    /// Lines seen, parsed, malformed, filtered.
    pub counters: Counters,
}

/// What the cutters of a group made of a chunk, in the group's order.
pub struct Cut {
    /// The chunk's position in the file.
    pub seq: u64,
    /// One entry per monitor of the group.
    pub monitors: Vec<MonitorCut>,
}

/// Cuts every event of `chunk` with each cutter.
pub fn cut_chunk(cutters: &mut [Cutter], chunk: &Chunk) -> Cut {
    let monitors = cutters
        .iter_mut()
        .map(|cutter| {
            let mut errors = Vec::new();
            let mut start = 0;
            for event in &chunk.events {
                match event {
                    Event::Text { line, end } => {
                        if let Err(e) = cutter.push(&chunk.text[start..*end]) {
                            errors.push((*line, e));
                        }
                        start = *end;
                    }
                    Event::Reject { line, error } => {
                        cutter.reject();
                        errors.push((*line, error.clone()));
                    }
                }
            }
            MonitorCut {
                batch: cutter.take_batch(),
                errors,
                counters: cutter.take_counters(),
            }
        })
        .collect();
    Cut {
        seq: chunk.seq,
        monitors,
    }
}
