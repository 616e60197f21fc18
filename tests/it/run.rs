//! `vigil run` as a real process: lines appended to a log show up as stored
//! minutes in the HTTP API, and a SIGKILL in the middle neither loses nor
//! doubles a line.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::procs::{http, Proc};
use crate::support::Sandbox;

/// A running `vigil run` and the address of its API.
struct Running(Proc);

impl Running {
    fn start(sandbox: &Sandbox) -> Running {
        Running(Proc::run(
            &sandbox.path("monitors.yaml"),
            &sandbox.path("data"),
        ))
    }

    fn get(&self, path: &str) -> String {
        let (status, body) = http(&self.0.addr, "GET", path, &[], b"");
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// Stored counts per minute of monitor `orders` in `[from, to)`.
    fn counts(&self, from: &str, to: &str) -> Vec<(String, i64)> {
        let body = self.get(&format!("/api/v1/monitors/orders/rows?from={from}&to={to}"));
        let rows: serde_json::Value = serde_json::from_str(&body).expect("JSON rows");
        rows.as_array()
            .expect("an array")
            .iter()
            .map(|r| {
                (
                    r["minute"].as_str().unwrap().to_string(),
                    r["values"]["count"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    /// Polls until the stored counts equal `want`, for at most 20 s.
    fn wait_for(&self, from: &str, to: &str, want: &[(String, i64)]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.counts(from, to);
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "stored {got:?}, expected {want:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn append(sandbox: &Sandbox, minute: &chrono::DateTime<chrono::Utc>, n: usize) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(sandbox.path("app.log"))
        .unwrap();
    for i in 0..n {
        let t = *minute + chrono::Duration::seconds((i % 60) as i64);
        writeln!(f, "{},order-{i},ok", t.format("%Y-%m-%d %H:%M:%S")).unwrap();
    }
}

#[test]
fn appended_lines_are_stored_once_across_a_sigkill() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "monitors.yaml",
        r#"monitors:
  - name: orders
    kind: minute_stat
    source: { paths: [app.log], timezone: UTC }
    time: { column: time, format: normal }
    columns:
      time:   { split: ",", index: 0 }
      order:  { split: ",", index: 1 }
    stats: [count]
"#,
    );
    use chrono::{DurationRound, Utc};
    let now = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    let first = now - chrono::Duration::minutes(4);
    let second = now - chrono::Duration::minutes(3);
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (from, to) = (fmt(first), fmt(now));
    let label = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();

    append(&sandbox, &first, 70);
    let running = Running::start(&sandbox);
    running.wait_for(&from, &to, &[(label(first), 70)]);
    // The lines are acknowledged in the round that stored them.
    std::thread::sleep(Duration::from_secs(1));
    drop(running); // SIGKILL

    append(&sandbox, &second, 45);
    let running = Running::start(&sandbox);
    running.wait_for(&from, &to, &[(label(first), 70), (label(second), 45)]);
    let metrics = running.get("/metrics");
    assert!(
        metrics.contains("vigil_monitor_lines_total{monitor=\"orders\"} 115"),
        "counters survive the restart, each line counted once:\n{metrics}"
    );
}
