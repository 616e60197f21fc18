//! `replay_bench`: end-to-end throughput of `vigil replay` on a generated
//! service log, against a plain newline count over the same bytes.
//!
//! ```text
//! cargo build --release -p vigil -p vigil-benches
//! target/release/replay_bench            # 5,000,000 lines, 3 runs, best reported
//! target/release/replay_bench count FILE # the baseline on its own
//! ```
//!
//! Both the replay and the baseline run as child processes launched the
//! same way, once pinned to core 0 (`taskset -c 0`) and once unpinned; the
//! newline count is also timed in-process. The table gives wall time,
//! lines/s, MB/s (10^6 bytes), the ratio of each throughput to the newline
//! count's in the same setting, CPU time and the child's peak RSS
//! (`wait4` rusage). The replay's counters line must report every line, or
//! the run is an error. Exit status 1 when a target (1,000,000 lines/s on
//! one core, peak RSS under 200 MB) is missed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use vigil_benches::{
    count_newlines, ensure_log, load_average, si, write_monitor_yaml, LogSpec, MONITOR_NAME,
};

/// Lines per second `vigil replay` must reach on one core.
const TARGET_LINES_PER_SEC: f64 = 1_000_000.0;
/// Peak RSS `vigil replay` must stay under, bytes.
const TARGET_PEAK_RSS: u64 = 200 * 1_000_000;

/// Replays a generated service log with `vigil replay` and compares it with
/// a plain newline count over the same bytes, on one core and all cores.
#[derive(Debug, Parser)]
#[command(args_conflicts_with_subcommands = true, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
    /// Lines of the generated log.
    #[arg(long, default_value_t = 5_000_000)]
    lines: u64,
    /// Distinct (service, method) keys in the log.
    #[arg(long, default_value_t = 200)]
    keys: u32,
    /// Minutes the log spans.
    #[arg(long, default_value_t = 60)]
    minutes: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the generated log and the monitor YAML are kept.
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
    /// The release `vigil` binary.
    #[arg(long, default_value = "target/release/vigil")]
    vigil: PathBuf,
    /// Runs of each measurement; the best (shortest) is reported.
    #[arg(long, default_value_t = 3)]
    runs: u32,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Count the newlines of FILE and print `NEWLINES BYTES` (the baseline,
    /// run as a child process like the replay).
    Count {
        /// The file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Mode::Count { file }) => count_mode(file),
        None => bench(&cli),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("replay_bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn count_mode(file: &Path) -> Result<ExitCode> {
    let c = count_newlines(file)?;
    println!("{} {}", c.newlines, c.bytes);
    Ok(ExitCode::SUCCESS)
}

/// One timed child process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    /// Peak resident set, bytes.
    max_rss: u64,
}

/// The best of several samples of one measurement.
#[derive(Debug, Clone, Copy)]
struct Best {
    wall: Duration,
    cpu: Duration,
    /// The highest peak RSS over all runs (the conservative figure).
    max_rss: u64,
}

impl Best {
    fn of(samples: &[Sample]) -> Option<Best> {
        let best = samples.iter().min_by_key(|s| s.wall)?;
        Some(Best {
            wall: best.wall,
            cpu: best.cpu,
            max_rss: samples.iter().map(|s| s.max_rss).max().unwrap_or(0),
        })
    }
}

fn bench(cli: &Cli) -> Result<ExitCode> {
    if cli.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let spec = LogSpec {
        lines: cli.lines,
        minutes: cli.minutes,
        keys: cli.keys,
        seed: cli.seed,
    };
    let log = ensure_log(&cli.data_dir, &spec)?;
    let config = write_monitor_yaml(&cli.data_dir, &log)?;
    let vigil = cli.vigil.clone();
    if !vigil.is_file() {
        bail!(
            "{} not found; build it with `cargo build --release -p vigil` or pass --vigil",
            vigil.display()
        );
    }
    let me = std::env::current_exe().context("cannot locate this binary")?;
    let taskset = which("taskset")
        .context("`taskset` (util-linux) is needed for the one-core figures; install util-linux")?;
    let stderr_path = cli.data_dir.join("replay.stderr");

    // Warm the page cache (and check the file) before anything is timed.
    let warm = count_newlines(&log)?;
    if warm.newlines != cli.lines {
        bail!(
            "{} has {} lines, expected {}; delete it to regenerate",
            log.display(),
            warm.newlines,
            cli.lines
        );
    }
    let bytes = warm.bytes;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "{}: {} lines, {:.1} MB; {} run(s) each; {} core(s)",
        log.display(),
        cli.lines,
        bytes as f64 / 1e6,
        cli.runs,
        cores
    );

    let count_cmd = |pinned: bool| {
        let mut c = base_command(&taskset, pinned, &me);
        c.arg("count").arg(&log);
        c
    };
    let replay_cmd = |pinned: bool| {
        let mut c = base_command(&taskset, pinned, &vigil);
        c.args(["replay", "--format", "json", "--monitor", MONITOR_NAME])
            .arg("--config")
            .arg(&config)
            .arg("--log")
            .arg(&log);
        c
    };

    let load_before = load_average();
    let mut in_process = Vec::new();
    let mut count_samples = [Vec::new(), Vec::new()];
    let mut replay_samples = [Vec::new(), Vec::new()];
    for run in 0..cli.runs {
        eprintln!("run {}/{}", run + 1, cli.runs);
        let t = Instant::now();
        let c = count_newlines(&log)?;
        in_process.push(Sample {
            wall: t.elapsed(),
            cpu: Duration::ZERO,
            max_rss: 0,
        });
        check_count(c.newlines, c.bytes, cli.lines, bytes)?;
        for (i, pinned) in [true, false].into_iter().enumerate() {
            let (sample, out) = run_child(count_cmd(pinned), &stderr_path)?;
            let (n, b) = parse_count(&out)?;
            check_count(n, b, cli.lines, bytes)?;
            count_samples[i].push(sample);

            let (sample, out) = run_child(replay_cmd(pinned), &stderr_path)?;
            check_replay(&out, cli.lines)?;
            replay_samples[i].push(sample);
        }
    }

    let best = |s: &[Sample]| Best::of(s).context("no samples");
    let inproc = best(&in_process)?;
    let count = [best(&count_samples[0])?, best(&count_samples[1])?];
    let replay = [best(&replay_samples[0])?, best(&replay_samples[1])?];

    let lines = cli.lines as f64;
    let rate = |b: &Best| lines / b.wall.as_secs_f64();
    let mbs = |b: &Best| bytes as f64 / 1e6 / b.wall.as_secs_f64();
    println!();
    println!(
        "{:<28} {:>8} {:>12} {:>9} {:>7} {:>7} {:>9}",
        "measurement", "wall s", "lines/s", "MB/s", "ratio", "cpu s", "peak RSS"
    );
    let row = |name: &str, b: &Best, base: &Best, child: bool| {
        println!(
            "{:<28} {:>8.3} {:>12} {:>9.1} {:>7.4} {:>7} {:>9}",
            name,
            b.wall.as_secs_f64(),
            si(rate(b)),
            mbs(b),
            rate(b) / rate(base),
            if child {
                format!("{:.3}", b.cpu.as_secs_f64())
            } else {
                "-".to_string()
            },
            if child {
                format!("{:.1} MB", b.max_rss as f64 / 1e6)
            } else {
                "-".to_string()
            },
        );
    };
    row("newline count, in-process", &inproc, &inproc, false);
    row("newline count, 1 core", &count[0], &count[0], true);
    row("newline count, all cores", &count[1], &count[1], true);
    row("vigil replay, 1 core", &replay[0], &count[0], true);
    row("vigil replay, all cores", &replay[1], &count[1], true);
    println!(
        "(ratio: throughput / the newline count's in the same setting; best of {} runs; \
         peak RSS: highest of all runs; load average before {load_before}, after {})",
        cli.runs,
        load_average()
    );

    let one_core = rate(&replay[0]);
    let peak = replay[0].max_rss.max(replay[1].max_rss);
    let speed_ok = one_core >= TARGET_LINES_PER_SEC;
    let memory_ok = peak < TARGET_PEAK_RSS;
    println!();
    println!(
        "{}: vigil replay {} lines/s on 1 core ({}; target >= 1.00 M), {} lines/s on {} cores, {:.1} MB/s, ratio {:.4} (1 core) / {:.4} (all), peak RSS {:.1} MB ({}; target < 200 MB)",
        if speed_ok && memory_ok { "PASS" } else { "FAIL" },
        si(one_core),
        if speed_ok { "ok" } else { "MISSED" },
        si(rate(&replay[1])),
        cores,
        mbs(&replay[0]),
        rate(&replay[0]) / rate(&count[0]),
        rate(&replay[1]) / rate(&count[1]),
        peak as f64 / 1e6,
        if memory_ok { "ok" } else { "MISSED" },
    );
    Ok(if speed_ok && memory_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `program`, behind `taskset -c 0` when `pinned`.
fn base_command(taskset: &Path, pinned: bool, program: &Path) -> Command {
    if pinned {
        let mut c = Command::new(taskset);
        c.args(["-c", "0"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Runs `cmd` with stdout captured and stderr in `stderr_path`; its wall
/// time (spawn to reap), CPU time and peak RSS.
fn run_child(cmd: Command, stderr_path: &Path) -> Result<(Sample, Vec<u8>)> {
    let run = vigil_benches::run_timed(cmd, stderr_path)?;
    let sample = Sample {
        wall: run.wall,
        cpu: run.cpu,
        max_rss: run.max_rss,
    };
    Ok((sample, run.stdout))
}

fn parse_count(out: &[u8]) -> Result<(u64, u64)> {
    let text = std::str::from_utf8(out).context("count output is not UTF-8")?;
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next()) {
        (Some(Ok(n)), Some(Ok(b))) => Ok((n, b)),
        _ => bail!("unexpected count output: {text:?}"),
    }
}

fn check_count(newlines: u64, got_bytes: u64, lines: u64, bytes: u64) -> Result<()> {
    if newlines != lines || got_bytes != bytes {
        bail!("newline count saw {newlines} lines / {got_bytes} bytes, expected {lines} / {bytes}");
    }
    Ok(())
}

/// Checks the replay's counters line: every line was offered to the monitor,
/// and some rows came out.
fn check_replay(out: &[u8], lines: u64) -> Result<()> {
    let text = std::str::from_utf8(out).context("replay output is not UTF-8")?;
    let mut rows = 0u64;
    let mut counters = None;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("not JSON: {line}"))?;
        match v.get("counters") {
            Some(c) => counters = Some(c.clone()),
            None => rows += 1,
        }
    }
    let Some(c) = counters else {
        bail!("the replay printed no counters line");
    };
    let seen = c.get("lines").and_then(serde_json::Value::as_u64);
    let errors = c.get("parse_errors").and_then(serde_json::Value::as_u64);
    if seen != Some(lines) {
        bail!("the replay's counters report {seen:?} lines, expected {lines}: {c}");
    }
    if errors != Some(0) {
        bail!("the replay reports parse errors on a clean log: {c}");
    }
    if rows == 0 {
        bail!("the replay printed no rows");
    }
    Ok(())
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
