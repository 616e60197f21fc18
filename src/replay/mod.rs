//! `vigil replay`: run monitors over log files as if they were tailed.
//!
//! Each file is read once per group of monitors that decode it alike
//! (encoding, line bound, multi-line rule) into numbered chunks of events
//! (`chunk`). Chunks are cut into Arrow batches by one [`Cutter`] per
//! monitor, on several threads; the batches are handed to each monitor's
//! engine [`Aggregator`] strictly in file order, so the result is the same
//! whatever the number of threads. Minutes are drained as soon as no line
//! can still reach them (the lateness window has passed), so memory does not
//! grow with the file; archive monitors roll up the drained minutes of their
//! source.

mod chunk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use vigil_collector::cut::{CutError, Cutter};
use vigil_config::{Config, Kind, Monitor};
use vigil_engine::{Aggregator, ArchiveAggregator, ClosedBucket};
use vigil_model::{Counters, MinuteRow};

use crate::output;
use crate::route;
use crate::Format;

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
    /// Threads that cut lines (1 = all work on the main thread).
    pub threads: usize,
}

/// Runs `vigil replay` and prints its output to stdout.
pub fn run(opts: &Options) -> Result<ExitCode> {
    let config = crate::check::load(&opts.config)?;
    let result = replay(
        &config,
        &opts.logs,
        opts.monitor.as_deref(),
        opts.threads,
        |e| e.report(opts.show_errors),
    )?;
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

impl LineError<'_> {
    /// Describes the error on stderr (`file:line: monitor: error`) when it
    /// is among the first `limit` of its monitor.
    pub fn report(&self, limit: usize) {
        if self.shown_for_monitor <= limit {
            eprintln!(
                "{}:{}: {}: {}",
                self.file.display(),
                self.line,
                self.monitor,
                self.error
            );
        }
    }
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
    monitor: Arc<Monitor>,
    aggregator: Aggregator,
    /// Lines seen, parsed, malformed and filtered by the cutters.
    counters: Counters,
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
    threads: usize,
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
        runs.push(Run {
            monitor: m.clone(),
            counters: Counters::default(),
            aggregator: Aggregator::new(m.clone())?,
            archives: Vec::new(),
            drained: Vec::new(),
            errors: 0,
        });
    }
    for m in &selected {
        if let Kind::Archive(a) = &m.kind {
            let Some(run) = runs.iter_mut().find(|r| r.monitor.name == a.of) else {
                continue;
            };
            let source = run.monitor.clone();
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
            let feed = Feed {
                log,
                group: &group,
                now_ms,
            };
            feed.run(&mut runs, threads, &mut on_error)?;
            for &r in &group {
                deliver(&mut runs[r], &mut archives, &mut rows);
            }
        }
    }
    for run in &mut runs {
        let rest = run.aggregator.drain_all();
        run.drained.extend(rest);
        deliver(run, &mut archives, &mut rows);
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
        let mut c = run.counters;
        run.aggregator.counters().add_to(&mut c);
        counters.push((run.monitor.name.clone(), c));
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
        let Some(source) = &run.monitor.source else {
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
    (0..runs.len())
        .filter(|&i| explicit || route::reads(&runs[i].monitor, log))
        .collect()
}

/// Splits runs into groups that decode a file the same way.
fn groups(runs: &[Run], targets: &[usize]) -> Vec<Vec<usize>> {
    route::read_groups(targets.iter().map(|&t| (t, &*runs[t].monitor)))
}

/// One file read for one group of runs.
struct Feed<'a> {
    log: &'a Path,
    group: &'a [usize],
    now_ms: i64,
}

impl Feed<'_> {
    /// Reads the file, cuts it on `threads` threads, and applies the cuts to
    /// the runs in file order.
    fn run(
        &self,
        runs: &mut [Run],
        threads: usize,
        on_error: &mut impl FnMut(&LineError),
    ) -> Result<()> {
        let monitors: Vec<Arc<Monitor>> = self
            .group
            .iter()
            .map(|&r| runs[r].monitor.clone())
            .collect();
        let Some(source) = monitors[0].source.clone() else {
            return Ok(());
        };
        if threads <= 1 {
            let mut cutters = self.cutters(&monitors)?;
            return chunk::read_chunks(self.log, &source, &mut |c| {
                let cut = chunk::cut_chunk(&mut cutters, &c);
                self.apply(runs, cut, on_error)
            });
        }
        std::thread::scope(|scope| {
            let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<chunk::Chunk>(threads * 2);
            let (cut_tx, cut_rx) = crossbeam_channel::bounded::<chunk::Cut>(threads * 2);
            for _ in 0..threads {
                let mut cutters = self.cutters(&monitors)?;
                let (rx, tx) = (chunk_rx.clone(), cut_tx.clone());
                scope.spawn(move || {
                    for c in rx {
                        if tx.send(chunk::cut_chunk(&mut cutters, &c)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop((chunk_rx, cut_tx));
            let source = &source;
            let reader = scope.spawn(move || {
                chunk::read_chunks(self.log, source, &mut |c| {
                    chunk_tx
                        .send(c)
                        .map_err(|_| anyhow!("replay stopped before the end of the file"))
                })
            });
            // Cuts arrive in any order; apply them in file order.
            let mut waiting = BTreeMap::new();
            let mut next = 0;
            for cut in cut_rx {
                waiting.insert(cut.seq, cut);
                while let Some(cut) = waiting.remove(&next) {
                    self.apply(runs, cut, on_error)?;
                    next += 1;
                }
            }
            reader
                .join()
                .map_err(|_| anyhow!("the reader of {} panicked", self.log.display()))?
        })
    }

    fn cutters(&self, monitors: &[Arc<Monitor>]) -> Result<Vec<Cutter>> {
        monitors
            .iter()
            .map(|m| {
                Cutter::new(m.clone(), self.now_ms)
                    .with_context(|| format!("monitor {} has no source or time rule", m.name))
            })
            .collect()
    }

    /// Hands one chunk's cuts to the runs' aggregators and drains the
    /// minutes no later line can reach.
    fn apply(
        &self,
        runs: &mut [Run],
        cut: chunk::Cut,
        on_error: &mut impl FnMut(&LineError),
    ) -> Result<()> {
        for (&r, mc) in self.group.iter().zip(cut.monitors) {
            let run = &mut runs[r];
            run.counters.add(&mc.counters);
            for (line, error) in &mc.errors {
                run.errors += 1;
                on_error(&LineError {
                    file: self.log,
                    line: *line,
                    monitor: &run.monitor.name,
                    error,
                    shown_for_monitor: run.errors,
                });
            }
            let Some(batch) = mc.batch else { continue };
            run.aggregator.push(&batch)?;
            if let Some(newest) = run.aggregator.newest_ms() {
                let lateness_ms = run.monitor.lateness_secs * 1000;
                let closed = run.aggregator.drain_closed(newest - lateness_ms);
                run.drained.extend(closed);
            }
        }
        Ok(())
    }
}

/// Hands drained buckets to the output rows and to the archives of the run.
fn deliver(run: &mut Run, archives: &mut [ArchiveRun], rows: &mut Vec<MinuteRow>) {
    for bucket in run.drained.drain(..) {
        for &a in &run.archives {
            archives[a].aggregator.push(&bucket);
        }
        rows.extend(bucket.rows);
    }
}
