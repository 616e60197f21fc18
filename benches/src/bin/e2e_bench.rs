//! `e2e_bench`: end-to-end throughput of `vigil agent` shipping a
//! generated service log to `vigil collector` on 127.0.0.1, against
//! `vigil replay` over the same file in the same run.
//!
//! ```text
//! cargo build --release -p vigil -p vigil-benches
//! target/release/e2e_bench               # 2,000,000 lines, 3 runs, best reported
//! target/release/e2e_bench --runs 5
//! ```
//!
//! The baseline is `vigil replay --format json` on the log as a child
//! process (unpinned, default threads), timed from spawn to reap like
//! `replay_bench`'s. An end-to-end run starts a collector on a fresh data
//! directory (its monitor reads the log by absolute path), waits for its
//! address, then starts an agent on a fresh state directory and the clock,
//! and polls the collector's counters (`GET
//! /api/v1/monitors/rpc_service/counters`) until `lines` is the number of
//! lines of the log. The CPU time (`/proc/PID/stat`) and peak RSS
//! (`VmHWM`) of both processes are read then, before they are stopped
//! with SIGTERM. The table gives wall time, lines/s, the ratio to the
//! replay's lines/s, CPU time, CPU time per million lines and peak RSS.
//! Exit status 1 when the end-to-end rate is under half the replay's.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use vigil_benches::child::{drain_stdout, tail, Proc, RemoveOnDrop, Usage};
use vigil_benches::{
    count_newlines, counter, ensure_log, http_get, load_average, replay_counters, run_timed, si,
    write_monitor_yaml, write_monitor_yaml_file, LogSpec, MONITOR_NAME,
};

/// End-to-end lines/s must reach this fraction of `vigil replay`'s.
const TARGET_RATIO: f64 = 0.5;
/// How long the collector may take to print its address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout of one counters request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Ships a generated service log through `vigil agent` to `vigil
/// collector` on 127.0.0.1 and compares the end-to-end rate with `vigil
/// replay` over the same file.
#[derive(Debug, Parser)]
#[command(max_term_width = 100)]
struct Cli {
    /// Lines of the generated log.
    #[arg(long, default_value_t = 2_000_000)]
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
    /// Where the generated log and the monitor YAML are kept; each
    /// end-to-end run works in a temporary folder under it.
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
    /// The release `vigil` binary.
    #[arg(long, default_value = "target/release/vigil")]
    vigil: PathBuf,
    /// Runs of each measurement; the best (shortest) is reported.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Milliseconds between two polls of the collector's counters (the
    /// resolution of the end-to-end wall time: a run of about a second
    /// needs a fine one, each poll is a small GET).
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Seconds an end-to-end run may take before it is an error.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match bench(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("e2e_bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// One `vigil replay` run.
#[derive(Debug, Clone, Copy)]
struct ReplaySample {
    wall: Duration,
    usage: Usage,
}

/// One end-to-end run.
#[derive(Debug, Clone)]
struct E2eSample {
    /// Agent start to the first poll that saw every line counted.
    wall: Duration,
    /// Agent start to the first poll that saw a line counted.
    first_line: Option<Duration>,
    agent: Usage,
    collector: Usage,
    /// The collector's counters at the end.
    counters: serde_json::Value,
    /// Counter polls made.
    polls: u64,
}

fn bench(cli: &Cli) -> Result<ExitCode> {
    if cli.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if cli.poll_ms == 0 {
        bail!("--poll-ms must be at least 1");
    }
    let spec = LogSpec {
        lines: cli.lines,
        minutes: cli.minutes,
        keys: cli.keys,
        seed: cli.seed,
    };
    let log = ensure_log(&cli.data_dir, &spec)?;
    let log =
        std::fs::canonicalize(&log).with_context(|| format!("cannot resolve {}", log.display()))?;
    let config = write_monitor_yaml(&cli.data_dir, &log)?;
    let vigil = cli.vigil.clone();
    if !vigil.is_file() {
        bail!(
            "{} not found; build it with `cargo build --release -p vigil` or pass --vigil",
            vigil.display()
        );
    }
    let vigil = std::fs::canonicalize(&vigil)
        .with_context(|| format!("cannot resolve {}", vigil.display()))?;
    let stderr_path = cli.data_dir.join("e2e-replay.stderr");

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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "{}: {} lines, {:.1} MB; {} run(s) each; {} core(s)",
        log.display(),
        cli.lines,
        warm.bytes as f64 / 1e6,
        cli.runs,
        cores
    );

    let replay_cmd = || {
        let mut c = Command::new(&vigil);
        c.args(["replay", "--format", "json", "--monitor", MONITOR_NAME])
            .arg("--config")
            .arg(&config)
            .arg("--log")
            .arg(&log);
        c
    };

    let load_before = load_average();
    let mut replays = Vec::new();
    let mut replay_counters_seen = serde_json::Value::Null;
    let mut e2es = Vec::new();
    for run in 0..cli.runs {
        eprintln!("run {}/{}: vigil replay", run + 1, cli.runs);
        let r = run_timed(replay_cmd(), &stderr_path)?;
        let (rows, counters) = replay_counters(&r.stdout)?;
        check_counters("the replay", &counters, cli.lines)?;
        if rows == 0 {
            bail!("the replay printed no rows");
        }
        replay_counters_seen = counters;
        replays.push(ReplaySample {
            wall: r.wall,
            usage: Usage {
                cpu: r.cpu,
                max_rss: r.max_rss,
            },
        });

        eprintln!(
            "run {}/{}: vigil agent -> vigil collector",
            run + 1,
            cli.runs
        );
        let s = e2e_run(cli, &vigil, &log, run)?;
        check_counters("the collector", &s.counters, cli.lines)?;
        eprintln!(
            "  {:.3} s ({} lines/s), first line counted after {}, {} polls",
            s.wall.as_secs_f64(),
            si(cli.lines as f64 / s.wall.as_secs_f64()),
            s.first_line
                .map_or("-".to_string(), |d| format!("{:.3} s", d.as_secs_f64())),
            s.polls
        );
        e2es.push(s);
    }
    let load_after = load_average();

    let replay = *replays
        .iter()
        .min_by_key(|s| s.wall)
        .context("no replay samples")?;
    let replay_rss = replays.iter().map(|s| s.usage.max_rss).max().unwrap_or(0);
    let e2e = e2es
        .iter()
        .min_by_key(|s| s.wall)
        .context("no end-to-end samples")?
        .clone();
    let agent_rss = e2es.iter().map(|s| s.agent.max_rss).max().unwrap_or(0);
    let collector_rss = e2es.iter().map(|s| s.collector.max_rss).max().unwrap_or(0);

    let lines = cli.lines as f64;
    let replay_rate = lines / replay.wall.as_secs_f64();
    let e2e_rate = lines / e2e.wall.as_secs_f64();
    let ratio = e2e_rate / replay_rate;

    println!();
    println!(
        "{:<26} {:>8} {:>10} {:>7} {:>7} {:>10} {:>6} {:>9}",
        "setting", "wall s", "lines/s", "ratio", "CPU s", "CPU s/M l", "cores", "peak RSS"
    );
    let row = |name: &str, wall: Duration, rate: f64, cpu: Duration, rss: Option<u64>| {
        let cpu_s = cpu.as_secs_f64();
        println!(
            "{:<26} {:>8.3} {:>10} {:>7.3} {:>7.3} {:>10.3} {:>6.2} {:>9}",
            name,
            wall.as_secs_f64(),
            si(rate),
            rate / replay_rate,
            cpu_s,
            cpu_s / (lines / 1e6),
            cpu_s / wall.as_secs_f64(),
            rss.map_or("-".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6)),
        );
    };
    row(
        &format!("vigil replay, all cores ({cores})"),
        replay.wall,
        replay_rate,
        replay.usage.cpu,
        Some(replay_rss),
    );
    row(
        "e2e: vigil agent",
        e2e.wall,
        e2e_rate,
        e2e.agent.cpu,
        Some(agent_rss),
    );
    row(
        "e2e: vigil collector",
        e2e.wall,
        e2e_rate,
        e2e.collector.cpu,
        Some(collector_rss),
    );
    row(
        "e2e: agent + collector",
        e2e.wall,
        e2e_rate,
        e2e.agent.cpu + e2e.collector.cpu,
        None,
    );
    println!(
        "(best of {} runs; e2e wall: agent start to the first counters poll (every {} ms) \
         that saw all {} lines counted, first line counted after {}; ratio: lines/s / the \
         replay's; cores: CPU s / wall s; peak RSS: highest of all runs; \
         load average before {load_before}, after {load_after})",
        cli.runs,
        cli.poll_ms,
        cli.lines,
        e2e.first_line
            .map_or("-".to_string(), |d| format!("{:.3} s", d.as_secs_f64())),
    );
    println!("replay counters:    {replay_counters_seen}");
    println!("collector counters: {}", e2e.counters);
    for name in ["parsed", "filtered", "parse_errors", "key_dropped"] {
        let (a, b) = (
            counter(&replay_counters_seen, name),
            counter(&e2e.counters, name),
        );
        if a != b {
            println!("note: counter {name} differs: replay {a:?}, collector {b:?}");
        }
    }

    let ok = ratio >= TARGET_RATIO;
    println!();
    println!(
        "{}: end to end {} lines/s, vigil replay {} lines/s, ratio {:.3} ({}; target >= {:.2}); \
         agent {:.3} CPU s per M lines, peak RSS {:.1} MB; collector {:.3} CPU s per M lines, \
         peak RSS {:.1} MB",
        if ok { "PASS" } else { "FAIL" },
        si(e2e_rate),
        si(replay_rate),
        ratio,
        if ok { "ok" } else { "MISSED" },
        TARGET_RATIO,
        e2e.agent.cpu.as_secs_f64() / (lines / 1e6),
        agent_rss as f64 / 1e6,
        e2e.collector.cpu.as_secs_f64() / (lines / 1e6),
        collector_rss as f64 / 1e6,
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every line was counted and none was a parse error (the log is clean).
fn check_counters(who: &str, counters: &serde_json::Value, lines: u64) -> Result<()> {
    let seen = counter(counters, "lines");
    if seen != Some(lines) {
        bail!("{who}'s counters report {seen:?} lines, expected {lines}: {counters}");
    }
    if counter(counters, "parse_errors") != Some(0) {
        bail!("{who} reports parse errors on a clean log: {counters}");
    }
    Ok(())
}

/// One end-to-end run in a fresh folder under the data dir, removed
/// afterwards (also on error, after the processes' stderr was reported).
fn e2e_run(cli: &Cli, vigil: &Path, log: &Path, run: u32) -> Result<E2eSample> {
    let dir = cli
        .data_dir
        .join(format!("e2e-{}-{run}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let _cleanup = RemoveOnDrop(dir.clone());
    let data = dir.join("data");
    let state = dir.join("state");
    for d in [&data, &state] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let yaml = write_monitor_yaml_file(&dir.join("monitors.yaml"), log)?;
    let collector_err = dir.join("collector.stderr");
    let agent_err = dir.join("agent.stderr");

    // The collector, on an ephemeral port it prints on stdout.
    let mut cmd = Command::new(vigil);
    cmd.arg("collector")
        .arg("--config")
        .arg(&yaml)
        .arg("--data")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"]);
    let (mut collector, stdout) = Proc::spawn("collector", cmd, &collector_err, true)?;
    let (addr_tx, addr_rx) = mpsc::channel();
    let reader = stdout.map(|out| drain_stdout(out, addr_tx));
    let authority = match addr_rx.recv_timeout(STARTUP_TIMEOUT) {
        Ok(a) => a,
        Err(_) => {
            let status = collector.child.try_wait().ok().flatten();
            bail!(
                "the collector printed no address within {} s (exit status {status:?}); its stderr:\n{}",
                STARTUP_TIMEOUT.as_secs(),
                tail(&collector_err)
            );
        }
    };
    let counters_path = format!("/api/v1/monitors/{MONITOR_NAME}/counters");
    // The endpoint answers before the agent starts (and the monitor exists).
    let (status, body) = http_get(&authority, &counters_path, REQUEST_TIMEOUT)?;
    if status != 200 {
        bail!(
            "GET {counters_path}: status {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    // The agent, and the clock.
    let mut cmd = Command::new(vigil);
    cmd.arg("agent")
        .arg("--collector")
        .arg(format!("http://{authority}"))
        .arg("--state")
        .arg(&state)
        .args(["--labels", "instance=bench"]);
    let start = Instant::now();
    let (mut agent, _) = Proc::spawn("agent", cmd, &agent_err, false)?;

    let poll = Duration::from_millis(cli.poll_ms);
    let timeout = Duration::from_secs(cli.timeout_secs);
    let mut polls = 0u64;
    let mut first_line = None;
    let mut last = serde_json::Value::Null;
    let mut last_error = None;
    let (wall, counters) = loop {
        let next = start + poll * u32::try_from(polls + 1).unwrap_or(u32::MAX);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        polls += 1;
        for (p, err) in [(&mut agent, &agent_err), (&mut collector, &collector_err)] {
            if let Some(status) = p.child.try_wait().context("cannot poll a child")? {
                bail!(
                    "the {} exited ({status}) before every line was counted (last counters \
                     {last}); its stderr:\n{}",
                    p.name,
                    tail(err)
                );
            }
        }
        let got = http_get(&authority, &counters_path, REQUEST_TIMEOUT).and_then(|(s, b)| {
            if s != 200 {
                bail!("status {s}: {}", String::from_utf8_lossy(&b));
            }
            serde_json::from_slice::<serde_json::Value>(&b).context("counters are not JSON")
        });
        let at = start.elapsed();
        match got {
            Ok(c) => {
                let n = counter(&c, "lines").unwrap_or(0);
                if n > 0 && first_line.is_none() {
                    first_line = Some(at);
                }
                if n >= cli.lines {
                    break (at, c);
                }
                last = c;
            }
            Err(e) => last_error = Some(format!("{e:#}")),
        }
        if at > timeout {
            bail!(
                "not every line counted after {} s: last counters {last}, last error {last_error:?}; \
                 agent stderr:\n{}\ncollector stderr:\n{}",
                timeout.as_secs(),
                tail(&agent_err),
                tail(&collector_err)
            );
        }
    };
    let agent_usage = agent.usage()?;
    let collector_usage = collector.usage()?;

    // Stop the agent first, so that the collector does not see it vanish.
    let agent_status = agent.stop()?;
    let collector_status = collector.stop()?;
    if let Some(r) = reader {
        let _ = r.join();
    }
    for (name, status, err) in [
        ("agent", agent_status, &agent_err),
        ("collector", collector_status, &collector_err),
    ] {
        if !status.success() {
            eprintln!(
                "warning: the {name} exited with {status} after SIGTERM; its stderr:\n{}",
                tail(err)
            );
        }
    }
    Ok(E2eSample {
        wall,
        first_line,
        agent: agent_usage,
        collector: collector_usage,
        counters,
        polls,
    })
}
