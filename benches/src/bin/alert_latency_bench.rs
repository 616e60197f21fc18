//! `alert_latency_bench`: how long after the end of a breaching minute its
//! notification reaches a webhook, through the whole live path: a log
//! written with the current time, `vigil run` (local agent, collector,
//! minutes closing `--close-after` after their end, rule evaluation, the
//! outbox) and an HTTP receiver on 127.0.0.1.
//!
//! ```text
//! cargo build --release -p vigil -p vigil-benches
//! target/release/alert_latency_bench              # 4 minutes, close_after 10 s
//! ```
//!
//! The log gets 10 lines a second; in every other minute half of them
//! fail, so the rule `success_rate < 0.9` fires in one minute and resolves
//! in the next: one notification per minute. Each notification's latency
//! is its receipt time minus the end of the minute it is about. The
//! baseline of the same run is `close_after` itself, the wait that
//! closing a minute needs by design; the table shows both and the
//! overhead. Exit status 1 when a latency is over the target (15 s).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use vigil_benches::child::{Proc, RemoveOnDrop};

/// A notification must arrive within this many seconds of its minute's end.
const TARGET_SECS: f64 = 15.0;

/// Measures the latency from a breaching minute's end to its webhook.
#[derive(Debug, Parser)]
#[command(max_term_width = 100)]
struct Cli {
    /// Notifications to measure (one per minute).
    #[arg(long, default_value_t = 4)]
    notifications: usize,
    /// Seconds after its end that a minute closes (vigil's default is 10).
    #[arg(long, default_value_t = 10)]
    close_after: u64,
    /// The release `vigil` binary.
    #[arg(long, default_value = "target/release/vigil")]
    vigil: std::path::PathBuf,
    /// Working folder (a fresh temporary folder is made under it).
    #[arg(long, default_value = "target/bench-data")]
    data_dir: std::path::PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match bench(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("alert_latency_bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Receives webhooks; sends (receipt ms, minute of the notice, state).
fn receiver(listener: TcpListener, out: mpsc::Sender<(i64, i64, String)>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let mut reader = BufReader::new(&stream);
        let mut length = 0usize;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            continue;
        }
        let at = now_ms();
        let _ = (&stream)
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
            continue;
        };
        let minute = json["minute"]
            .as_str()
            .and_then(|m| chrono::DateTime::parse_from_rfc3339(m).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0);
        let state = json["state"].as_str().unwrap_or("").to_string();
        if out.send((at, minute, state)).is_err() {
            return;
        }
    }
}

/// Appends 10 lines a second with the current time until `stop`; half of
/// them fail in even minutes.
fn writer(log: &Path, stop: &AtomicBool) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    while !stop.load(Ordering::Relaxed) {
        let t = chrono::Utc::now();
        let minute = t.timestamp() / 60;
        let mut batch = String::new();
        for i in 0..10 {
            let failed = minute % 2 == 0 && i % 2 == 0;
            let result = if failed { "N" } else { "Y" };
            batch.push_str(&format!(
                "{},{result},{}\n",
                t.format("%Y-%m-%d %H:%M:%S"),
                5 + i
            ));
        }
        f.write_all(batch.as_bytes())?;
        std::thread::sleep(Duration::from_millis(1000));
    }
    Ok(())
}

fn bench(cli: &Cli) -> Result<ExitCode> {
    if !cli.vigil.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p vigil`",
            cli.vigil.display()
        );
    }
    let cleanup = RemoveOnDrop::fresh(&cli.data_dir, "alert-latency")?;
    let work = cleanup.0.clone();
    let log = work.join("pay.log");
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let config = work.join("monitors.yaml");
    std::fs::write(
        &config,
        format!(
            r#"monitors:
  - name: pay
    kind: service_metrics
    source: {{ paths: ["{log}"], timezone: UTC }}
    time: {{ column: time, format: normal }}
    columns:
      time:    {{ split: ",", index: 0 }}
      result:  {{ split: ",", index: 1 }}
      elapsed: {{ split: ",", index: 2, type: int }}
    service: {{ result: result, elapsed: elapsed }}
    alerts:
      - name: success_low
        conditions:
          - {{ value: success_rate, fn: current, op: "<", threshold: {{ webhook: 0.9 }} }}
notification:
  webhooks: [{{ name: bench, url: "http://127.0.0.1:{port}/hook", global: true }}]
alerts: {{ defaults: false }}
"#,
            log = log.display()
        ),
    )?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || receiver(listener, tx));
    let stop = Arc::new(AtomicBool::new(false));
    let writing = {
        let stop = stop.clone();
        let log = log.clone();
        std::thread::spawn(move || writer(&log, &stop))
    };
    let mut cmd = Command::new(&cli.vigil);
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(work.join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .args(["--close-after", &cli.close_after.to_string()]);
    let (mut vigil, _) = Proc::spawn("vigil run", cmd, &work.join("vigil.stderr"), false)?;
    println!(
        "alert latency: end of the breaching minute -> webhook received (close_after {} s)",
        cli.close_after
    );
    println!(
        "{:<22} {:>9} {:>12} {:>10}",
        "minute (UTC)", "state", "latency s", "overhead s"
    );
    let mut latencies = Vec::new();
    // The first minute is partial (vigil started during it): skip it.
    let started_minute = now_ms() / 60_000 * 60;
    let deadline =
        std::time::Instant::now() + Duration::from_secs(90 + 60 * cli.notifications as u64);
    while latencies.len() < cli.notifications {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok((at, minute, state)) = rx.recv_timeout(left) else {
            break;
        };
        if minute <= started_minute {
            continue;
        }
        let latency = (at - (minute + 60) * 1000) as f64 / 1000.0;
        let when = chrono::DateTime::from_timestamp(minute, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        println!(
            "{when:<22} {state:>9} {latency:>12.2} {:>10.2}",
            latency - cli.close_after as f64
        );
        latencies.push(latency);
    }
    stop.store(true, Ordering::Relaxed);
    vigil.stop()?;
    writing
        .join()
        .map_err(|_| anyhow::anyhow!("the log writer panicked"))??;
    if latencies.len() < cli.notifications {
        bail!(
            "only {} of {} notifications arrived in time",
            latencies.len(),
            cli.notifications
        );
    }
    let worst = latencies.iter().copied().fold(f64::MIN, f64::max);
    let mean = latencies.iter().sum::<f64>() / latencies.len() as f64;
    println!(
        "worst {worst:.2} s, mean {mean:.2} s; baseline close_after {} s; target < {TARGET_SECS} s: {}",
        cli.close_after,
        if worst < TARGET_SECS { "met" } else { "MISSED" }
    );
    Ok(if worst < TARGET_SECS {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
