//! `footprint_bench`: what `vigil agent` costs a node. The agent tails 2
//! files written at 10,000 lines/s in total, samples host metrics every
//! 10 s, probes 3 TCP ports and reads one real JVM's hsperfdata, for 120
//! s; the bench prints its CPU time as a percentage of one core and its
//! peak RSS. In the same run, Prometheus' node_exporter (Debian package
//! prometheus-node-exporter) is scraped every 10 s, for comparison.
//!
//! ```text
//! cargo build --release -p vigil -p vigil-benches
//! apt-get install -y prometheus-node-exporter   # optional: the comparison
//! target/release/footprint_bench                # 120 s
//! ```
//!
//! The agent ships to a `vigil collector` on 127.0.0.1 (not measured).
//! Exit status 1 when the agent uses 2 % of a core or more, or 20 MB RSS
//! or more.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use vigil_benches::child::{drain_stdout, tail, Proc, RemoveOnDrop, Usage};
use vigil_benches::http_get;

/// The agent must stay under this share of one core, percent.
const CPU_TARGET_PERCENT: f64 = 2.0;
/// The agent must stay under this peak RSS, bytes.
const RSS_TARGET_BYTES: u64 = 20 * 1000 * 1000;
/// The JVM the agent samples: it only sleeps.
const JAVA_SOURCE: &str =
    "public class VigilFootprint { public static void main(String[] a) throws Exception { Thread.sleep(Long.MAX_VALUE); } }\n";

/// Measures the agent's CPU and memory on a realistic node workload.
#[derive(Debug, Parser)]
#[command(max_term_width = 100)]
struct Cli {
    /// Seconds measured.
    #[arg(long, default_value_t = 120)]
    secs: u64,
    /// Lines per second written, over both files.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// The release `vigil` binary.
    #[arg(long, default_value = "target/release/vigil")]
    vigil: PathBuf,
    /// node_exporter's binary (skipped when missing).
    #[arg(long, default_value = "/usr/bin/prometheus-node-exporter")]
    node_exporter: PathBuf,
    /// Working folder (a fresh folder is made under it).
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match bench(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("footprint_bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Writes `rate` lines a second, split over `logs`, in 100 ms batches
/// stamped with the current time, until `stop`; returns the lines written.
fn write_logs(logs: &[PathBuf], rate: u64, stop: &AtomicBool) -> Result<u64> {
    let mut files = logs
        .iter()
        .map(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let per_tick = rate / 10 / files.len() as u64;
    let start = Instant::now();
    let mut written = 0;
    let mut tick = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
        for (i, f) in files.iter_mut().enumerate() {
            let mut batch = String::with_capacity(per_tick as usize * 48);
            for n in 0..per_tick {
                let result = if n % 50 == 0 { "N" } else { "Y" };
                batch.push_str(&format!(
                    "{now},svc{},{result},{}\n",
                    (n + i as u64) % 20,
                    n % 97
                ));
            }
            f.write_all(batch.as_bytes())?;
            written += per_tick;
        }
        tick += 1;
        let next = start + Duration::from_millis(100 * tick);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(written)
}

/// Three TCP ports that accept connections, for the agent's probes.
fn listeners() -> Result<(Vec<TcpListener>, Vec<u16>)> {
    let mut out = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..3 {
        let l = TcpListener::bind("127.0.0.1:0")?;
        ports.push(l.local_addr()?.port());
        out.push(l);
    }
    Ok((out, ports))
}

/// Compiles and starts the JVM (its hsperfdata file is under /tmp, where
/// the agent looks by default).
fn start_jvm(work: &Path) -> Result<Proc> {
    std::fs::write(work.join("VigilFootprint.java"), JAVA_SOURCE)?;
    let status = Command::new("javac")
        .arg("VigilFootprint.java")
        .current_dir(work)
        .status()
        .context("javac (JDK 17+) is needed for the JVM")?;
    if !status.success() {
        bail!("javac failed");
    }
    let mut cmd = Command::new("java");
    cmd.args(["-Xmx32m", "-XX:+UsePerfData"]).args([
        "-cp",
        &work.display().to_string(),
        "VigilFootprint",
    ]);
    let (jvm, _) = Proc::spawn("jvm", cmd, &work.join("jvm.stderr"), false)?;
    Ok(jvm)
}

fn bench(cli: &Cli) -> Result<ExitCode> {
    if !cli.vigil.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p vigil`",
            cli.vigil.display()
        );
    }
    let cleanup = RemoveOnDrop::fresh(&cli.data_dir, "footprint")?;
    let work = cleanup.0.clone();
    let logs = vec![work.join("a.log"), work.join("b.log")];
    for log in &logs {
        std::fs::write(log, "")?;
    }
    let config = work.join("monitors.yaml");
    std::fs::write(
        &config,
        format!(
            r#"monitors:
  - name: calls
    kind: service_metrics
    source: {{ paths: ["{dir}/*.log"], timezone: UTC }}
    time: {{ column: time, format: normal }}
    columns:
      time:    {{ split: ",", index: 0 }}
      service: {{ split: ",", index: 1 }}
      result:  {{ split: ",", index: 2 }}
      elapsed: {{ split: ",", index: 3, type: int }}
    group_by: [service]
    service: {{ result: result, elapsed: elapsed }}
alerts: {{ defaults: false }}
"#,
            dir = work.display()
        ),
    )?;
    let (_ports, port_numbers) = listeners()?;
    let probes: Vec<serde_json::Value> = port_numbers
        .iter()
        .map(|p| serde_json::json!({"app": "bench", "tcp": format!("127.0.0.1:{p}")}))
        .collect();
    let probes_file = work.join("probes.json");
    std::fs::write(&probes_file, serde_json::to_vec(&probes)?)?;
    let _jvm = start_jvm(&work)?;

    let mut cmd = Command::new(&cli.vigil);
    cmd.arg("collector")
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(work.join("data"))
        .args(["--listen", "127.0.0.1:0"]);
    let collector_err = work.join("collector.stderr");
    let (mut collector, stdout) = Proc::spawn("collector", cmd, &collector_err, true)?;
    let (addr_tx, addr_rx) = mpsc::channel();
    let _reader = stdout.map(|out| drain_stdout(out, addr_tx));
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(60))
        .with_context(|| format!("the collector did not start:\n{}", tail(&collector_err)))?;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let logs = logs.clone();
        let rate = cli.rate;
        std::thread::spawn(move || write_logs(&logs, rate, &stop))
    };
    let mut cmd = Command::new(&cli.vigil);
    cmd.arg("agent")
        .args(["--collector", &format!("http://{addr}")])
        .arg("--state")
        .arg(work.join("agent"))
        .args(["--labels", "instance=bench-node"])
        .args(["--metrics-interval", "10"])
        .arg("--probes")
        .arg(&probes_file);
    let agent_err = work.join("agent.stderr");
    let (mut agent, _) = Proc::spawn("agent", cmd, &agent_err, false)?;

    let exporter = if cli.node_exporter.is_file() {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut cmd = Command::new(&cli.node_exporter);
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let (p, _) = Proc::spawn(
            "node_exporter",
            cmd,
            &work.join("node_exporter.stderr"),
            false,
        )?;
        Some((p, format!("127.0.0.1:{port}")))
    } else {
        None
    };

    let start = Instant::now();
    let (agent_cpu0, exporter_cpu0) = (
        agent.usage()?.cpu,
        match &exporter {
            Some((p, _)) => p.usage()?.cpu,
            None => Duration::ZERO,
        },
    );
    let mut scrapes = 0;
    let mut scrape_bytes = 0;
    while start.elapsed() < Duration::from_secs(cli.secs) {
        if let Some((_, authority)) = &exporter {
            if let Ok((200, body)) = http_get(authority, "/metrics", Duration::from_secs(5)) {
                scrapes += 1;
                scrape_bytes = body.len();
            }
        }
        std::thread::sleep(
            Duration::from_secs(10)
                .min(Duration::from_secs(cli.secs).saturating_sub(start.elapsed())),
        );
    }
    let wall = start.elapsed();
    let agent_usage = agent.usage()?;
    let exporter_usage = match &exporter {
        Some((p, _)) => Some(p.usage()?),
        None => None,
    };
    stop.store(true, Ordering::Relaxed);
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the log writer panicked"))??;
    let get = |path: &str| {
        http_get(&addr, path, Duration::from_secs(5))
            .ok()
            .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(&b).ok())
    };
    let counters = get("/api/v1/monitors/calls/counters");
    // What the agent sampled: series of each built-in monitor at the end.
    let sampled: Vec<String> = ["system", "jvm", "port"]
        .iter()
        .map(|m| {
            let n = get(&format!("/api/v1/monitors/{m}/latest"))
                .and_then(|j| j.as_array().map(Vec::len))
                .unwrap_or(0);
            format!("{m} {n}")
        })
        .collect();
    agent.stop()?;
    collector.stop()?;
    if let Some((mut p, _)) = exporter {
        p.stop()?;
    }

    let pct = |u: &Usage, cpu0: Duration| (u.cpu - cpu0).as_secs_f64() / wall.as_secs_f64() * 100.0;
    println!(
        "node footprint over {:.0} s: {} lines/s into 2 files, host metrics every 10 s, 3 TCP probes, 1 JVM",
        wall.as_secs_f64(),
        cli.rate
    );
    println!(
        "{:<34} {:>10} {:>12} {:>12}",
        "process", "CPU s", "% of a core", "peak RSS MB"
    );
    let agent_pct = pct(&agent_usage, agent_cpu0);
    println!(
        "{:<34} {:>10.2} {:>12.2} {:>12.1}",
        "vigil agent",
        (agent_usage.cpu - agent_cpu0).as_secs_f64(),
        agent_pct,
        agent_usage.max_rss as f64 / 1e6
    );
    match exporter_usage {
        Some(u) => println!(
            "{:<34} {:>10.2} {:>12.2} {:>12.1}",
            format!(
                "node_exporter ({scrapes} scrapes, {} kB)",
                scrape_bytes / 1000
            ),
            (u.cpu - exporter_cpu0).as_secs_f64(),
            pct(&u, exporter_cpu0),
            u.max_rss as f64 / 1e6
        ),
        None => println!(
            "node_exporter: {} not found (apt-get install prometheus-node-exporter)",
            cli.node_exporter.display()
        ),
    }
    let shipped = counters
        .as_ref()
        .and_then(|c| c["lines"].as_u64())
        .unwrap_or(0);
    println!("lines written {written}, counted by the collector {shipped}");
    println!("series sampled: {}", sampled.join(", "));
    let met = agent_pct < CPU_TARGET_PERCENT && agent_usage.max_rss < RSS_TARGET_BYTES;
    println!(
        "targets: < {CPU_TARGET_PERCENT} % of a core, < {} MB RSS: {}",
        RSS_TARGET_BYTES / 1_000_000,
        if met { "met" } else { "MISSED" }
    );
    Ok(if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
