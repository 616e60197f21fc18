//! `vigil replay`: run monitors over log files as if they were tailed.
//!
//! Each file is read once per group of monitors that decode it alike
//! (encoding, line bound, multi-line rule); every event goes to each
//! monitor's [`Cutter`], whose batches go to the monitor's engine
//! [`Aggregator`]. Minutes are drained as soon as no line can still reach
//! them (the lateness window has passed), so memory does not grow with the
//! file; archive monitors roll up the drained minutes of their source.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use vigil_collector::cut::{CutError, Cutter};
use vigil_collector::decode::Decoder;
use vigil_collector::multiline::Joiner;
use vigil_collector::reader::{LineReader, RawLine};
use vigil_config::{Config, Encoding, Kind, Monitor};
use vigil_engine::{Aggregator, ArchiveAggregator, ClosedBucket};
use vigil_model::{Counters, MinuteRow};

use crate::output;
use crate::Format;

/// Files above this size get a progress bar on stderr.
const PROGRESS_BYTES: u64 = 100 * 1024 * 1024;

/// What `vigil replay` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Configuration file or folder.
    pub config: PathBuf,
    /// Log files, in order.
    pub logs: Vec<PathBuf>,
    /// Only this monitor.
    pub monitor: Option<String>,
    /// Output format.
    pub format: Format,
    /// Malformed lines described per monitor.
    pub show_errors: usize,
}

/// Runs `vigil replay` and prints its output to stdout.
pub fn run(opts: &Options) -> Result<ExitCode> {
    let config = crate::check::load(&opts.config)?;
    let result = replay(&config, &opts.logs, opts.monitor.as_deref(), |e| {
        if e.shown_for_monitor <= opts.show_errors {
            eprintln!(
                "{}:{}: {}: {}",
                e.file.display(),
                e.line,
                e.monitor,
                e.error
            );
        }
    })?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    output::write(&mut out, opts.format, &config, &result)?;
    Ok(ExitCode::SUCCESS)
}

/// A malformed line, as reported to the caller of [`replay`].
pub struct LineError<'a> {
    /// The file.
    pub file: &'a Path,
    /// 1-based line number (of the event's first line).
    pub line: u64,
    /// The monitor that could not use it.
    pub monitor: &'a str,
    /// Why.
    pub error: &'a CutError,
    /// How many errors this monitor has reported so far, this one included.
    pub shown_for_monitor: usize,
}

/// Closed rows and counters of a replay.
pub struct ReplayResult {
    /// Rows, sorted by monitor, minute, period, keys, rank.
    pub rows: Vec<MinuteRow>,
    /// Each monitor run, in configuration order, with its counters.
    pub counters: Vec<(String, Counters)>,
}

/// One minute-level monitor being replayed.
struct Run {
    cutter: Cutter,
    aggregator: Aggregator,
    /// Indexes into the archive runs fed by this monitor.
    archives: Vec<usize>,
    /// Buckets drained from the aggregator, not yet delivered.
    drained: Vec<ClosedBucket>,
    errors: usize,
}

struct ArchiveRun {
    monitor: Arc<Monitor>,
    aggregator: ArchiveAggregator,
}

/// Replays `logs` through the monitors of `config` (or just `only`),
/// calling `on_error` for every malformed line.
pub fn replay(
    config: &Config,
    logs: &[PathBuf],
    only: Option<&str>,
    mut on_error: impl FnMut(&LineError),
) -> Result<ReplayResult> {
    let selected = select(config, only)?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut runs: Vec<Run> = Vec::new();
    let mut archives: Vec<ArchiveRun> = Vec::new();
    for m in &selected {
        if let Kind::Archive(_) = m.kind {
            continue;
        }
        let cutter = Cutter::new(m.clone(), now_ms)
            .with_context(|| format!("monitor {} has no source or time rule", m.name))?;
        runs.push(Run {
            cutter,
            aggregator: Aggregator::new(m.clone())?,
            archives: Vec::new(),
            drained: Vec::new(),
            errors: 0,
        });
    }
    for m in &selected {
        if let Kind::Archive(a) = &m.kind {
            let Some(run) = runs.iter_mut().find(|r| r.cutter.monitor().name == a.of) else {
                continue;
            };
            let source = run.cutter.monitor().clone();
            run.archives.push(archives.len());
            archives.push(ArchiveRun {
                monitor: m.clone(),
                aggregator: ArchiveAggregator::new(m.clone(), &source)?,
            });
        }
    }

    // A file named together with --monitor goes to that monitor whatever
    // its name; files found through the sources go where they matched.
    let explicit = only.is_some() && !logs.is_empty();
    let found;
    let logs = if logs.is_empty() {
        found = source_files(&runs)?;
        &found[..]
    } else {
        logs
    };
    let mut rows = Vec::new();
    for log in logs {
        let targets = targets(&runs, log, explicit);
        if targets.is_empty() {
            eprintln!(
                "warning: {} matches no monitor's source paths; pass --monitor NAME to feed it to one",
                log.display()
            );
            continue;
        }
        for group in groups(&runs, &targets) {
            feed_file(log, &mut runs, &group, &mut on_error)?;
            for &r in &group {
                flush(&mut runs[r])?;
                deliver(&mut runs[r], &mut archives, &mut rows)?;
            }
        }
    }
    for run in &mut runs {
        flush(run)?;
        let rest = run.aggregator.drain_all();
        run.drained.extend(rest);
        deliver(run, &mut archives, &mut rows)?;
    }
    for a in &mut archives {
        rows.extend(a.aggregator.drain_all());
    }
    if let Some(name) = only {
        // An archive needs its source monitor run too, but only what was
        // asked for is shown.
        rows.retain(|r| r.monitor == name);
    }
    rows.sort_by(MinuteRow::output_order);

    let mut counters = Vec::new();
    for run in &runs {
        let mut c = run.cutter.counters();
        let e = run.aggregator.counters();
        c.key_dropped += e.key_dropped;
        c.late += e.late;
        counters.push((run.cutter.monitor().name.clone(), c));
    }
    for a in &archives {
        counters.push((a.monitor.name.clone(), Counters::default()));
    }
    if let Some(name) = only {
        counters.retain(|(n, _)| n == name);
    }
    Ok(ReplayResult { rows, counters })
}

/// The monitors to run: all, or `only` plus the source of an archive.
fn select(config: &Config, only: Option<&str>) -> Result<Vec<Arc<Monitor>>> {
    let Some(name) = only else {
        return Ok(config.monitors.iter().cloned().map(Arc::new).collect());
    };
    let Some(m) = config.monitor(name) else {
        let names: Vec<&str> = config.monitors.iter().map(|m| m.name.as_str()).collect();
        bail!("no monitor named `{name}`; monitors: {}", names.join(", "));
    };
    let mut out = Vec::new();
    if let Kind::Archive(a) = &m.kind {
        if let Some(src) = config.monitor(&a.of) {
            out.push(Arc::new(src.clone()));
        }
    }
    out.push(Arc::new(m.clone()));
    Ok(out)
}

/// Every file matched by the runs' source paths, in the order the paths are
/// written (each pattern's matches sorted), without repeats.
fn source_files(runs: &[Run]) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = Vec::new();
    for run in runs {
        let Some(source) = &run.cutter.monitor().source else {
            continue;
        };
        for pattern in &source.paths {
            let text = pattern.to_string_lossy();
            let matches =
                glob::glob(&text).with_context(|| format!("invalid path pattern {text}"))?;
            let mut found: Vec<PathBuf> = matches
                .filter_map(|m| m.ok())
                .filter(|p| p.is_file())
                .collect();
            found.sort();
            for f in found {
                if !files.contains(&f) {
                    files.push(f);
                }
            }
        }
    }
    if files.is_empty() {
        bail!("no log file matches the monitors' source paths; pass --log FILE");
    }
    Ok(files)
}

/// Which runs read `log`: those whose source paths match it by path or by
/// file name; all of them when the user named the monitor.
fn targets(runs: &[Run], log: &Path, explicit: bool) -> Vec<usize> {
    if explicit {
        return (0..runs.len()).collect();
    }
    let abs = std::fs::canonicalize(log).unwrap_or_else(|_| log.to_path_buf());
    let name = log.file_name().map(|n| n.to_string_lossy().into_owned());
    (0..runs.len())
        .filter(|&i| {
            let Some(source) = &runs[i].cutter.monitor().source else {
                return false;
            };
            source.paths.iter().any(|p| {
                let full = glob::Pattern::new(&p.to_string_lossy())
                    .map(|g| g.matches_path(&abs) || g.matches_path(log))
                    .unwrap_or(false);
                let by_name = match (p.file_name(), &name) {
                    (Some(pat), Some(n)) => glob::Pattern::new(&pat.to_string_lossy())
                        .map(|g| g.matches(n))
                        .unwrap_or(false),
                    _ => false,
                };
                full || by_name
            })
        })
        .collect()
}

/// Splits runs into groups that decode a file the same way.
fn groups(runs: &[Run], targets: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(ReadKey, Vec<usize>)> = Vec::new();
    for &t in targets {
        let key = ReadKey::of(runs[t].cutter.monitor());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(t),
            None => groups.push((key, vec![t])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// How a source turns bytes into events.
#[derive(PartialEq)]
struct ReadKey {
    encoding: Encoding,
    max_line_bytes: usize,
    multiline: Option<(String, usize)>,
}

impl ReadKey {
    fn of(m: &Monitor) -> Self {
        let s = m.source.as_ref();
        ReadKey {
            encoding: s.map_or(Encoding::Auto, |s| s.encoding),
            max_line_bytes: s.map_or(vigil_config::validate::DEFAULT_MAX_LINE_BYTES, |s| {
                s.max_line_bytes
            }),
            multiline: s
                .and_then(|s| s.multiline.as_ref())
                .map(|ml| (ml.start.as_str().to_string(), ml.max_lines)),
        }
    }
}

/// Reads one file for one group of runs.
fn feed_file(
    log: &Path,
    runs: &mut [Run],
    group: &[usize],
    on_error: &mut impl FnMut(&LineError),
) -> Result<()> {
    let Some(source) = runs[group[0]].cutter.monitor().source.clone() else {
        return Ok(());
    };
    let file = File::open(log).with_context(|| format!("cannot open {}", log.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = (size > PROGRESS_BYTES).then(|| progress_bar(log, size));
    let mut reader = LineReader::new(file, source.max_line_bytes);
    let mut decoder = Decoder::new(source.encoding);
    let mut joiner = source
        .multiline
        .as_ref()
        .map(|ml| Joiner::new(ml.start.clone(), ml.max_lines));
    let mut feed = Feed {
        log,
        runs,
        group,
        on_error,
    };
    let mut line_no: u64 = 0;
    // Line number of the first line of the event the joiner holds.
    let mut event_start: u64 = 1;
    loop {
        let offset_before = reader.offset();
        let raw = reader
            .next_line()
            .with_context(|| format!("cannot read {}", log.display()))?;
        let Some(raw) = raw else { break };
        line_no += 1;
        if let Some(p) = &progress {
            if line_no % 65_536 == 0 {
                p.set_position(offset_before);
            }
        }
        let bytes = match raw {
            RawLine::Line(b) => b,
            RawLine::TooLong { len } => {
                let e = CutError::TooLong {
                    len,
                    max: source.max_line_bytes,
                };
                feed.reject(line_no, &e);
                continue;
            }
        };
        let text = match decoder.decode(bytes) {
            Ok(t) => t,
            Err(e) => {
                feed.reject(line_no, &CutError::Encoding(e.to_string()));
                continue;
            }
        };
        match &mut joiner {
            None => feed.line(line_no, &text)?,
            Some(j) => {
                let starts = j.push(&text);
                if let Some(event) = starts {
                    feed.line(event_start, &event)?;
                    event_start = line_no;
                }
            }
        }
    }
    if let Some(event) = joiner.as_mut().and_then(Joiner::finish) {
        feed.line(event_start, &event)?;
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

/// Hands events of one file to a group of runs.
struct Feed<'a, F> {
    log: &'a Path,
    runs: &'a mut [Run],
    group: &'a [usize],
    on_error: &'a mut F,
}

impl<F: FnMut(&LineError)> Feed<'_, F> {
    fn reject(&mut self, line: u64, error: &CutError) {
        for &r in self.group {
            let run = &mut self.runs[r];
            run.cutter.reject();
            run.errors += 1;
            (self.on_error)(&LineError {
                file: self.log,
                line,
                monitor: &run.cutter.monitor().name,
                error,
                shown_for_monitor: run.errors,
            });
        }
    }

    fn line(&mut self, line: u64, text: &str) -> Result<()> {
        for &r in self.group {
            let run = &mut self.runs[r];
            if let Err(e) = run.cutter.push(text) {
                run.errors += 1;
                (self.on_error)(&LineError {
                    file: self.log,
                    line,
                    monitor: &run.cutter.monitor().name,
                    error: &e,
                    shown_for_monitor: run.errors,
                });
            }
            if run.cutter.batch_full() {
                flush(run)?;
            }
        }
        Ok(())
    }
}

/// Hands a full batch to the engine and drains minutes no line can reach.
fn flush(run: &mut Run) -> Result<()> {
    let Some(batch) = run.cutter.take_batch() else {
        return Ok(());
    };
    run.aggregator.push(&batch)?;
    if let Some(newest) = run.aggregator.newest_ms() {
        let lateness_ms = run.cutter.monitor().lateness_secs * 1000;
        let closed = run.aggregator.drain_closed(newest - lateness_ms);
        run.drained.extend(closed);
    }
    Ok(())
}

/// Hands drained buckets to the output rows and to the archives of the run.
fn deliver(run: &mut Run, archives: &mut [ArchiveRun], rows: &mut Vec<MinuteRow>) -> Result<()> {
    for bucket in run.drained.drain(..) {
        for &a in &run.archives {
            archives[a].aggregator.push(&bucket);
        }
        rows.extend(bucket.rows);
    }
    Ok(())
}
