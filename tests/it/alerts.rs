//! Alerting end to end with real processes: `vigil run` tails a log whose
//! success rate drops for 5 minutes; a webhook receiver on 127.0.0.1 is
//! down at first and vigil is killed and restarted in the middle; the
//! receiver gets each firing and resolved notification of the schedule
//! exactly once, signed, and a real SMTP server gets the same as email.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value as J;

use vigil_alerting::testing::SmtpSink;

use crate::hook::{free_port, Hook};
use crate::procs::{get_json, http, wait_for, Proc};
use crate::support::Sandbox;

const SECRET: &str = "s3cret-for-tests";

fn config(port: u16, smtp_port: u16) -> String {
    format!(
        r#"monitors:
  - name: pay
    kind: service_metrics
    app: payments
    source: {{ paths: [logs/pay.log], timezone: UTC }}
    time: {{ column: time, format: normal }}
    columns:
      time:    {{ split: ",", index: 0 }}
      result:  {{ split: ",", index: 1 }}
      elapsed: {{ split: ",", index: 2, type: int }}
    service: {{ result: result, elapsed: elapsed }}
    alerts:
      - name: success_low
        level: P1
        conditions:
          - {{ value: success_rate, fn: current, op: "<", threshold: {{ webhook: 0.9, email: 0.9 }} }}
        notify: [oncall]
notification:
  contacts: [{{ name: alice, email: alice@example.com }}]
  groups: [{{ name: oncall, contacts: [alice] }}]
  webhooks: [{{ name: ops, url: "http://127.0.0.1:{port}/hook", secret: "{SECRET}", global: true }}]
  channels:
    email: {{ host: 127.0.0.1, port: {smtp_port}, tls: none, from: vigil@example.com }}
"#
    )
}

/// Appends minutes `from..to` after `base` (epoch seconds): 20 lines per
/// minute, 10 of them failed in minutes 5 to 9.
fn append(log: &Path, base: i64, minutes: std::ops::Range<i64>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    for m in minutes {
        for s in 0..20 {
            let t = chrono::DateTime::from_timestamp(base + m * 60 + s * 2, 0).unwrap();
            let failed = (5..10).contains(&m) && s % 2 == 0;
            let result = if failed { "N" } else { "Y" };
            writeln!(f, "{},{result},{}", t.format("%Y-%m-%d %H:%M:%S"), 10 + s).unwrap();
        }
    }
}

fn history(addr: &str, base: i64) -> Vec<J> {
    let path = format!("/api/v1/alerts/history?from={}", base);
    get_json(addr, &path, &[])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn notifications_survive_a_receiver_outage_and_a_restart_exactly_once() {
    let sandbox = Sandbox::new();
    let port = free_port();
    let smtp = SmtpSink::start();
    let config = sandbox.write("monitors.yaml", config(port, smtp.port));
    let log = sandbox.path("logs/pay.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let base = (now / 60 - 20) * 60;
    append(&log, base, 0..8);

    // The receiver is down: minutes 5, 6, 7 fire and wait in the outbox.
    let vigil = Proc::run(&config, &sandbox.path("data"));
    let first = wait_for(30, "minutes 5 to 7 firing", || {
        let h = history(&vigil.addr, base);
        let r = h.first()?.clone();
        (r["count"] == 3).then_some(r)
    });
    assert_eq!(first["first_seen"], base + 300);
    assert_eq!(first["state"], "firing");
    assert_eq!(first["threshold"], 0.9);
    assert_eq!(first["value"], 0.5);
    // The emails of minutes 5 to 7 left; the webhooks wait.
    wait_for(10, "three webhooks waiting", || {
        let metrics = http(&vigil.addr, "GET", "/metrics", &[], b"").1;
        metrics
            .contains("vigil_notifications_pending 3")
            .then_some(())
    });
    drop(vigil); // SIGKILL

    append(&log, base, 8..15);
    let hook = Hook::start(port, SECRET);
    let vigil = Proc::run(&config, &sandbox.path("data"));
    // Schedule: minutes 5, 6, 7 (every minute for 3), 8 (then every 2):
    // 9 is not notified; resolved at 10.
    let want = vec![
        (base + 300, "firing"),
        (base + 360, "firing"),
        (base + 420, "firing"),
        (base + 480, "firing"),
        (base + 600, "resolved"),
    ];
    let minute_of = |b: &J| {
        chrono::DateTime::parse_from_rfc3339(b["minute"].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    wait_for(60, "five notifications", || {
        (hook.received().len() >= want.len()).then_some(())
    });
    // Nothing more may come: no duplicate after the restart.
    std::thread::sleep(Duration::from_secs(3));
    let got = hook.received();
    let seen: Vec<(i64, &str)> = got
        .iter()
        .map(|r| (minute_of(&r.body), r.body["state"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, want);
    for r in &got {
        assert!(r.signed, "bad signature on {}", r.body);
        assert_eq!(r.body["alert"], "success_low");
        assert_eq!(r.body["monitor"], "pay");
        assert_eq!(r.body["app"], "payments");
        assert_eq!(r.body["level"], "P1");
        assert_eq!(r.body["channel"], "webhook");
    }
    assert_eq!(got[0].body["value"], 0.5);
    let subjects: Vec<String> = (1..=want.len())
        .map(|n| smtp.message(n, 10)["subject"].as_str().unwrap().to_string())
        .collect();
    let state = |s: &str| if s == "firing" { "FIRING" } else { "RESOLVED" };
    let expected: Vec<String> = want
        .iter()
        .map(|(_, s)| format!("[P1 {}] pay/success_low", state(s)))
        .collect();
    assert_eq!(subjects, expected);
    assert_eq!(smtp.count(), want.len(), "an email was sent twice");
    assert_eq!(
        smtp.message(1, 1)["rcpt_tos"],
        serde_json::json!(["alice@example.com"])
    );
    assert_eq!(got[0].body["threshold"], 0.9);
    let record = wait_for(10, "the record resolved", || {
        let h = history(&vigil.addr, base);
        let r = h.first()?.clone();
        (r["state"] == "resolved").then_some(r)
    });
    assert_eq!(history(&vigil.addr, base).len(), 1);
    assert_eq!(record["first_seen"], base + 300);
    assert_eq!(record["last_seen"], base + 540);
    assert_eq!(record["count"], 5);
    assert_eq!(record["resolved_at"], base + 600);
    assert_eq!(record["notifications"], 10);

    // Pause and resume through the API.
    let (status, body) = http(
        &vigil.addr,
        "POST",
        "/api/v1/alerts/pay/success_low/pause",
        &[],
        br#"{"reason":"maintenance","minutes":30}"#,
    );
    assert_eq!(status, 200, "{body}");
    let rules = get_json(&vigil.addr, "/api/v1/alerts", &[]);
    let rule = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "pay/success_low")
        .unwrap()
        .clone();
    assert_eq!(rule["paused"]["reason"], "maintenance");
    assert_eq!(rule["state"], "ok");
    let (status, _) = http(
        &vigil.addr,
        "POST",
        "/api/v1/alerts/pay/nope/pause",
        &[],
        br#"{"reason":"x","minutes":1}"#,
    );
    assert_eq!(status, 404);
    let (status, _) = http(
        &vigil.addr,
        "POST",
        "/api/v1/alerts/pay/success_low/resume",
        &[],
        b"",
    );
    assert_eq!(status, 200);
}

/// `vigil alert-test` on the trade example, against success rates
/// computed here from the fixture and the rule's thresholds (webhook below
/// 0.9, email below 0.847) with the first minutes of the schedule (every
/// minute for 3 minutes, then every 2).
#[test]
fn alert_test_prints_what_the_trade_rule_would_send() {
    use std::collections::BTreeMap;
    let log =
        std::fs::read_to_string(crate::support::repo().join("config/examples/logs/trade.log"))
            .unwrap();
    // (service, method) -> minute -> (total, success)
    let mut calls: BTreeMap<(String, String), BTreeMap<String, (u32, u32)>> = BTreeMap::new();
    for line in log.lines() {
        let f: Vec<&str> = line.split(',').collect();
        let minute = f[0][..16].to_string();
        let e = calls
            .entry((f[3].to_string(), f[4].to_string()))
            .or_default()
            .entry(minute)
            .or_default();
        e.0 += 1;
        e.1 += u32::from(f[6] == "Y");
    }
    let minutes: std::collections::BTreeSet<String> =
        calls.values().flat_map(|m| m.keys().cloned()).collect();
    let mut want = Vec::new();
    for ((service, method), by_minute) in &calls {
        let mut first: Option<usize> = None;
        let mut notified: Vec<&str> = Vec::new();
        for (i, minute) in minutes.iter().enumerate() {
            let rate = by_minute
                .get(minute)
                .map(|(t, s)| f64::from(*s) / f64::from(*t));
            let crossing: Vec<&str> = [("email", 0.847), ("webhook", 0.9)]
                .into_iter()
                .filter(|(_, th)| rate.is_some_and(|r| r < *th))
                .map(|(c, _)| c)
                .collect();
            if !crossing.is_empty() {
                let start = *first.get_or_insert(i);
                if [0, 1, 2, 3, 5].contains(&(i - start)) {
                    for c in &crossing {
                        want.push((
                            minute.clone(),
                            service.clone(),
                            method.clone(),
                            "firing",
                            c.to_string(),
                            rate,
                        ));
                        if !notified.contains(c) {
                            notified.push(c);
                        }
                    }
                }
            } else if first.take().is_some() {
                notified.sort();
                for c in notified.drain(..) {
                    want.push((
                        minute.clone(),
                        service.clone(),
                        method.clone(),
                        "resolved",
                        c.to_string(),
                        None,
                    ));
                }
            }
        }
    }
    let out = std::process::Command::new(crate::support::BIN)
        .args(["alert-test", "--config"])
        .arg(crate::support::examples())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shanghai = chrono_tz::Asia::Shanghai;
    let mut got: Vec<_> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<J>(l).unwrap())
        .filter(|e| e["monitor"] == "trade_service")
        .map(|e| {
            let t = chrono::DateTime::parse_from_rfc3339(e["minute"].as_str().unwrap()).unwrap();
            let local = t
                .with_timezone(&shanghai)
                .format("%Y-%m-%d %H:%M")
                .to_string();
            assert_eq!(e["level"], "P1");
            assert_eq!(e["alert"], "success_rate_low");
            (
                local,
                e["keys"]["service"].as_str().unwrap().to_string(),
                e["keys"]["method"].as_str().unwrap().to_string(),
                if e["state"] == "firing" {
                    "firing"
                } else {
                    "resolved"
                },
                e["channel"].as_str().unwrap().to_string(),
                e["value"].as_f64(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert!(!want.is_empty());
    assert_eq!(got, want);
}
