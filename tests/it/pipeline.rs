//! The split deployment as real processes on 127.0.0.1: `vigil agent`
//! tails logs and ships them to `vigil collector`. Lines are counted
//! exactly once through rotations and SIGKILLs of both; the API serves
//! every view, SQL, agent states and refuses what it must.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value as J};
use vigil_model::wire::{self, Batch};

use crate::procs::{get_json, http, wait_for, Proc};
use crate::support::Sandbox;

const MONITORS: &str = r#"monitors:
  - name: pay
    kind: minute_stat
    source: { paths: [logs/*.log], timezone: UTC }
    time: { column: time, format: normal }
    columns:
      time:    { split: ",", index: 0 }
      channel: { split: ",", index: 1 }
      amount:  { split: ",", index: 2, type: int }
    group_by: [channel]
    stats: [count, { sum: amount }]
  - name: pay_by_second
    kind: minute_stat
    source: { paths: [logs/*.log], timezone: UTC }
    time: { column: time, format: normal }
    columns:
      time:    { split: ",", index: 0 }
      second:  { regex: "^.{11}(\\d\\d:\\d\\d:\\d\\d)" }
      file:    { split: ",", index: 3 }
    group_by: [second, file]
    stats: [count]
"#;

/// Per (minute as RFC 3339, channel): count and sum of amounts.
type Totals = BTreeMap<(String, String), (i64, i64)>;

/// Per (time of day to the second, file): lines.
type BySecond = BTreeMap<(String, String), i64>;

/// What the writer wrote, and when it rotated the files.
struct Written {
    totals: Totals,
    by_second: BySecond,
    events: Vec<String>,
}

/// Appends lines with the current time to two logs at about 200 lines/s
/// for `secs`, rotating `a.log` by rename and `b.log` by copy-truncate
/// midway; returns what it wrote.
fn write_logs(dir: PathBuf, secs: u64) -> Written {
    let channels = ["alipay", "wechat", "card"];
    let mut totals = Totals::new();
    let mut by_second = BySecond::new();
    let mut events = Vec::new();
    let start = Instant::now();
    let mut i: i64 = 0;
    let mut renamed = false;
    let mut truncated = false;
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
            .unwrap()
    };
    while start.elapsed() < Duration::from_secs(secs) {
        let t = start.elapsed();
        if !renamed && t > Duration::from_secs(secs * 2 / 5) {
            std::fs::rename(dir.join("a.log"), dir.join("a.log.1")).unwrap();
            events.push(format!(
                "{} a.log renamed",
                chrono::Utc::now().format("%H:%M:%S%.3f")
            ));
            renamed = true;
        }
        let quiet_b = !truncated && t > Duration::from_secs(secs * 3 / 5);
        if quiet_b && t > Duration::from_secs(secs * 3 / 5 + 2) {
            // Copy-truncate, after b.log was quiet long enough to be read.
            std::fs::copy(dir.join("b.log"), dir.join("b.log.1")).unwrap();
            open("b.log").set_len(0).unwrap();
            events.push(format!(
                "{} b.log copy-truncated",
                chrono::Utc::now().format("%H:%M:%S%.3f")
            ));
            truncated = true;
        }
        let now = chrono::Utc::now();
        let minute = now.format("%Y-%m-%dT%H:%M:00+00:00").to_string();
        let file = if i % 2 == 0 || quiet_b {
            "a.log"
        } else {
            "b.log"
        };
        let channel = channels[(i % 3) as usize];
        let amount = i % 97;
        writeln!(
            open(file),
            "{},{channel},{amount},{}",
            now.format("%Y-%m-%d %H:%M:%S%.3f"),
            &file[..1]
        )
        .unwrap();
        *by_second
            .entry((now.format("%H:%M:%S").to_string(), file[..1].to_string()))
            .or_default() += 1;
        let e = totals.entry((minute, channel.to_string())).or_default();
        e.0 += 1;
        e.1 += amount;
        i += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    Written {
        totals,
        by_second,
        events,
    }
}

/// Lines stored or open per (second, file).
fn read_by_second(addr: &str) -> BySecond {
    let now = chrono::Utc::now().timestamp();
    let rows = get_json(
        addr,
        &format!(
            "/api/v1/monitors/pay_by_second/rows?from={}&to={}&live=true",
            now - 600,
            now + 120
        ),
        &[],
    );
    let mut out = BySecond::new();
    for r in rows.as_array().unwrap() {
        let key = (
            r["keys"]["second"].as_str().unwrap().to_string(),
            r["keys"]["file"].as_str().unwrap().to_string(),
        );
        *out.entry(key).or_default() += r["values"]["count"].as_i64().unwrap();
    }
    out
}

/// The stored (and with `live`, open) minutes of `pay` in `view`, as
/// totals plus labels.
fn read_totals(addr: &str, view: &str, headers: &[(&str, &str)], live: bool) -> (Totals, Vec<J>) {
    let now = chrono::Utc::now().timestamp();
    let rows = get_json(
        addr,
        &format!(
            "/api/v1/monitors/pay/rows?from={}&to={}&view={view}&live={live}",
            now - 600,
            now + 120
        ),
        headers,
    );
    let mut totals = Totals::new();
    let mut labels = Vec::new();
    for r in rows.as_array().unwrap() {
        let key = (
            r["minute"].as_str().unwrap().to_string(),
            r["keys"]["channel"].as_str().unwrap().to_string(),
        );
        let e = totals.entry(key).or_default();
        e.0 += r["values"]["count"].as_i64().unwrap();
        e.1 += r["values"]["sum_amount"].as_i64().unwrap();
        labels.push(r["labels"].clone());
    }
    (totals, labels)
}

fn sandbox_with_logs() -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    sandbox.write("monitors.yaml", MONITORS);
    let logs = sandbox.path("logs");
    std::fs::create_dir_all(&logs).unwrap();
    (sandbox, logs)
}

#[test]
fn lines_are_counted_once_through_rotations_and_kills() {
    let (sandbox, logs) = sandbox_with_logs();
    let config = sandbox.path("monitors.yaml");
    let data = sandbox.path("data");
    let state = sandbox.path("agent");
    let mut collector = Proc::collector(&config, &data, "127.0.0.1:0", &[]);
    let addr = collector.addr.clone();
    let mut agent = Proc::agent(&addr, &state, "instance=n1,idc=hz,ldc=hz-a");
    let writer = std::thread::spawn(move || write_logs(logs, 15));

    let stamp = |what: &str| format!("{} {what}", chrono::Utc::now().format("%H:%M:%S%.3f"));
    let mut events = Vec::new();
    std::thread::sleep(Duration::from_secs(3));
    drop(collector); // SIGKILL
    events.push(stamp("collector killed"));
    collector = Proc::collector(&config, &data, &addr, &[]);
    events.push(stamp("collector up"));
    std::thread::sleep(Duration::from_secs(3));
    drop(agent); // SIGKILL
    events.push(stamp("agent killed"));
    agent = Proc::agent(&addr, &state, "instance=n1,idc=hz,ldc=hz-a");
    std::thread::sleep(Duration::from_secs(4));
    drop(collector); // SIGKILL
    events.push(stamp("collector killed"));
    collector = Proc::collector(&config, &data, &addr, &[]);
    events.push(stamp("collector up"));
    let written = writer.join().unwrap();
    events.extend(written.events);
    let want = written.totals;
    let lines: i64 = want.values().map(|v| v.0).sum();
    assert!(lines > 1000, "{lines} lines written");

    let deadline = Instant::now() + Duration::from_secs(40);
    let mut got = read_totals(&addr, "total", &[], true).0;
    while got != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        got = read_totals(&addr, "total", &[], true).0;
    }
    let diff: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), *v, got.get(k).copied()))
        .collect();
    if !diff.is_empty() {
        let seconds = read_by_second(&addr);
        let lost: Vec<_> = written
            .by_second
            .iter()
            .filter(|(k, v)| seconds.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), *v, seconds.get(k).copied()))
            .collect();
        panic!(
            "(minute, channel), written, counted: {diff:?}\n(second, file), written, counted: {lost:?}\nevents: {events:?}"
        );
    }
    assert_eq!(got, want);
    // Once the last minute closes, the stored minutes alone say the same.
    wait_for(75, "every minute stored", || {
        (read_totals(&addr, "total", &[], false).0 == want).then_some(())
    });
    // Every labelled view holds the same numbers under its label.
    for (view, label) in [("instance", "n1"), ("idc", "hz"), ("ldc", "hz-a")] {
        let (got, labels) = read_totals(&addr, view, &[], true);
        assert_eq!(got, want, "view {view}");
        assert!(
            labels.iter().all(|l| *l == json!({ view: label })),
            "{labels:?}"
        );
    }
    let counters = get_json(&addr, "/api/v1/monitors/pay/counters", &[]);
    assert_eq!(counters["lines"], lines, "{counters}");
    assert_eq!(counters["parse_errors"], 0, "{counters}");
    assert_eq!(counters["late"], 0, "{counters}");
    let agents = get_json(&addr, "/api/v1/agents", &[]);
    assert_eq!(agents[0]["agent"], "n1", "{agents}");
    assert_eq!(agents[0]["labels"]["idc"], "hz", "{agents}");
    drop(agent);
    drop(collector);
}

#[test]
fn sql_reads_the_stored_minutes() {
    let (sandbox, logs) = sandbox_with_logs();
    // Two whole minutes in the past: closed and stored at once.
    let base = (chrono::Utc::now().timestamp() / 60 - 5) * 60;
    let mut text = String::new();
    let mut want = (0i64, 0i64);
    for i in 0..120i64 {
        let t = chrono::DateTime::from_timestamp(base + i, 0).unwrap();
        text.push_str(&format!("{},card,{}\n", t.format("%Y-%m-%d %H:%M:%S"), i));
        want.0 += 1;
        want.1 += i;
    }
    std::fs::write(logs.join("a.log"), text).unwrap();
    let collector = Proc::sandbox_collector(&sandbox);
    let _agent = Proc::agent(&collector.addr, &sandbox.path("agent"), "instance=n1");
    let sql = |q: &str| {
        let body = serde_json::to_vec(&json!({ "sql": q })).unwrap();
        http(&collector.addr, "POST", "/api/v1/sql", &[], &body)
    };
    let result = wait_for(30, "both minutes stored", || {
        let (status, body) =
            sql("SELECT count(*) AS minutes, sum(count) AS n, sum(sum_amount) AS total FROM pay");
        let j: J = serde_json::from_str(&body).ok()?;
        (status == 200 && j["rows"][0][0] == 2).then_some(j)
    });
    assert_eq!(result["columns"], json!(["minutes", "n", "total"]));
    assert_eq!(result["rows"], json!([[2, want.0, want.1]]));
    // Per-instance views are tables too.
    let (status, body) =
        sql(r#"SELECT instance, sum(count) FROM "pay@instance" GROUP BY instance"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<J>(&body).unwrap()["rows"],
        json!([["n1", want.0]])
    );
    // Read-only, and mistakes are named.
    let (status, body) = sql("DROP TABLE pay");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("read-only"), "{body}");
    let (status, body) = sql("SELECT nope FROM pay");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("nope"), "{body}");
    // The newest minute (ending at base + 120 s) was stored at once: its
    // close lag is the time since its end, within the test's own delays.
    let metrics = http(&collector.addr, "GET", "/metrics", &[], b"").1;
    let lag: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("vigil_minute_close_lag_seconds{table=\"pay\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no close lag of pay in {metrics}"));
    let since_end = (chrono::Utc::now().timestamp() - (base + 120)) as f64;
    assert!(lag > 0.0 && lag <= since_end + 1.0, "{lag} vs {since_end}");
    assert!(since_end - lag < 40.0, "{lag} vs {since_end}");
}

/// Registers a fake agent whose clock is `skew_ms` off.
fn register(addr: &str, agent: &str, skew_ms: i64, headers: &[(&str, &str)]) -> u16 {
    let body = json!({
        "agent": agent,
        "labels": { "instance": agent },
        "version": "test",
        "time_ms": chrono::Utc::now().timestamp_millis() + skew_ms,
    });
    http(
        addr,
        "POST",
        "/api/v1/agents/register",
        headers,
        body.to_string().as_bytes(),
    )
    .0
}

fn state_of(addr: &str, agent: &str) -> String {
    let agents = get_json(addr, "/api/v1/agents", &[]);
    agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == agent)
        .map(|a| a["state"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn agent_states_follow_heartbeats_and_clocks() {
    let (sandbox, _) = sandbox_with_logs();
    let collector = Proc::sandbox_collector(&sandbox);
    let addr = &collector.addr;
    assert_eq!(register(addr, "fast-clock", 10_000, &[]), 200);
    assert_eq!(register(addr, "quiet", 0, &[]), 200);
    assert_eq!(state_of(addr, "fast-clock"), "clock_skew");
    assert_eq!(state_of(addr, "quiet"), "healthy");
    // Heartbeats every second (--heartbeat 1): 3 missed and it is lost.
    wait_for(10, "the quiet agent lost", || {
        (state_of(addr, "quiet") == "lost").then_some(())
    });
    let hb = json!({
        "agent": "quiet", "time_ms": chrono::Utc::now().timestamp_millis(),
        "config_version": "x", "status": {"errors": ["cannot read /var/log/x.log"]}
    });
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/agents/heartbeat",
        &[],
        hb.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<J>(&body).unwrap()["known"], true);
    assert_eq!(state_of(addr, "quiet"), "abnormal");
    let metrics = http(addr, "GET", "/metrics", &[], b"").1;
    // The fast clock stopped heartbeating too: lost outranks clock skew.
    for state in ["lost", "abnormal"] {
        let line = format!("vigil_agents{{state=\"{state}\"}} 1");
        assert!(metrics.contains(&line), "{metrics}");
    }
}

#[test]
fn tokens_and_body_limits_are_enforced() {
    let (sandbox, _) = sandbox_with_logs();
    let env = [
        ("VIGIL_INGEST_TOKEN", "ingest-secret"),
        ("VIGIL_API_TOKEN", "api-secret"),
    ];
    let collector = Proc::collector(
        &sandbox.path("monitors.yaml"),
        &sandbox.path("data"),
        "127.0.0.1:0",
        &env,
    );
    let addr = &collector.addr;
    let api = [("Authorization", "Bearer api-secret")];
    let ingest = [("Authorization", "Bearer ingest-secret")];
    assert_eq!(http(addr, "GET", "/healthz", &[], b"").0, 200);
    for (path, headers) in [
        ("/api/v1/monitors", &[][..]),
        ("/api/v1/monitors", &ingest[..]),
        ("/metrics", &[("Authorization", "Bearer api-secreT")][..]),
        ("/api/v1/agents/config", &api[..]),
    ] {
        let (status, body) = http(addr, "GET", path, headers, b"");
        assert_eq!(status, 401, "{path} {headers:?}: {body}");
        assert!(!body.contains("secret"), "{body}");
    }
    assert_eq!(http(addr, "GET", "/api/v1/monitors", &api, b"").0, 200);
    assert_eq!(
        http(addr, "GET", "/api/v1/agents/config", &ingest, b"").0,
        200
    );
    assert_eq!(register(addr, "n1", 0, &api), 401);
    assert_eq!(register(addr, "n1", 0, &ingest), 200);
    // A 10 MB body is refused whole, and the server stays up.
    let big = vec![b'x'; 10 * 1024 * 1024];
    let (status, body) = http(addr, "POST", "/api/v1/ingest", &ingest, &big);
    assert_eq!(status, 413, "{body}");
    let (status, body) = http(addr, "POST", "/api/v1/ingest", &ingest, b"not a frame");
    assert_eq!(status, 400, "{body}");
    assert_eq!(http(addr, "GET", "/api/v1/monitors", &api, b"").0, 200);
}

#[test]
fn a_frame_sent_again_with_a_new_batch_counts_only_the_new_one() {
    let (sandbox, collector) = collector_with_agent_n1();
    let addr = &collector.addr;
    let log = PayLog::new(&sandbox);
    let first = log.batch(0, &[1, 2]);
    let second = log.batch(first.header.end, &[4]);
    let post = |batches: &[Batch]| {
        let (status, body) = post_frame(addr, batches, &[]);
        assert_eq!(status, 200, "{body}");
        accepted_and_duplicates(&body)
    };
    assert_eq!(post(std::slice::from_ref(&first)), (json!(1), json!(0)));
    // As after a lost acknowledgement: the first batch again, and a new one.
    assert_eq!(post(&[first, second]), (json!(1), json!(1)));
    wait_for_lines(addr, 3);
    assert_eq!(sum_amount(addr), 1 + 2 + 4);
}

#[test]
fn a_frame_sent_behind_another_waits_for_it_or_is_refused() {
    let (sandbox, collector) = collector_with_agent_n1();
    let addr = collector.addr.clone();
    let log = PayLog::new(&sandbox);
    let first = log.batch(0, &[1, 2]);
    let second = log.batch(first.header.end, &[4]);
    // The second frame arrives first. Taken at once, it would move the
    // file's offset past the first, which would then count as a duplicate.
    let behind = {
        let (addr, second) = (addr.clone(), second.clone());
        std::thread::spawn(move || {
            post_frame(
                &addr,
                &[second],
                &[
                    (wire::FRAME_ID_HEADER, "11"),
                    (wire::FRAME_AFTER_HEADER, "10"),
                ],
            )
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let (status, body) = post_frame(&addr, &[first], &[(wire::FRAME_ID_HEADER, "10")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(accepted_and_duplicates(&body), (json!(1), json!(0)));
    let (status, body) = behind.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(accepted_and_duplicates(&body), (json!(1), json!(0)));
    wait_for_lines(&addr, 3);
    assert_eq!(sum_amount(&addr), 1 + 2 + 4);

    // A frame refused (it overlaps what is held) fails the one behind it at
    // once, which is then taken when sent again on its own.
    let held = second.header.end;
    let overlapping = log.batch(held - 1, &[8]);
    let (status, body) = post_frame(&addr, &[overlapping], &[(wire::FRAME_ID_HEADER, "20")]);
    assert_eq!(status, 409, "{body}");
    let third = log.batch(held, &[16]);
    let started = Instant::now();
    let (status, body) = post_frame(
        &addr,
        std::slice::from_ref(&third),
        &[
            (wire::FRAME_ID_HEADER, "21"),
            (wire::FRAME_AFTER_HEADER, "20"),
        ],
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("frame 20"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(4), "waited in vain");
    let (status, body) = post_frame(&addr, &[third], &[]);
    assert_eq!(status, 200, "{body}");
    wait_for_lines(&addr, 4);
    assert_eq!(sum_amount(&addr), 1 + 2 + 4 + 16);
    let metrics = http(&addr, "GET", "/metrics", &[], b"").1;
    assert!(
        metrics.contains("\nvigil_ingest_out_of_order_total 1\n"),
        "{metrics}"
    );

    let (status, body) = post_frame(&addr, &[], &[(wire::FRAME_AFTER_HEADER, "x")]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(wire::FRAME_AFTER_HEADER), "{body}");
}

/// A collector on the sandbox's monitors, agent `n1` registered with it.
fn collector_with_agent_n1() -> (Sandbox, Proc) {
    let (sandbox, _) = sandbox_with_logs();
    let collector = Proc::collector(
        &sandbox.path("monitors.yaml"),
        &sandbox.path("data"),
        "127.0.0.1:0",
        &[],
    );
    assert_eq!(register(&collector.addr, "n1", 0, &[]), 200);
    (sandbox, collector)
}

/// Batches of lines of `logs/a.log` of the `pay` monitor, stamped now.
struct PayLog {
    path: String,
    now: String,
}

impl PayLog {
    fn new(sandbox: &Sandbox) -> Self {
        PayLog {
            path: sandbox.path("logs/a.log").display().to_string(),
            now: chrono::Utc::now()
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string(),
        }
    }

    /// A batch from byte `start` with one line per amount.
    fn batch(&self, start: u64, amounts: &[i64]) -> Batch {
        let lines: Vec<Vec<u8>> = amounts
            .iter()
            .map(|a| format!("{},alipay,{a},a", self.now).into_bytes())
            .collect();
        let end = start + lines.iter().map(|l| l.len() as u64 + 1).sum::<u64>();
        Batch::new(self.path.clone(), (1, 2, 0), (start, end), 0, false, lines)
    }
}

/// Posts agent `n1`'s frame of `batches` with extra `headers`.
fn post_frame(addr: &str, batches: &[Batch], headers: &[(&str, &str)]) -> (u16, String) {
    http(
        addr,
        "POST",
        wire::INGEST_PATH,
        headers,
        &wire::encode_ingest("n1", batches),
    )
}

fn accepted_and_duplicates(reply: &str) -> (J, J) {
    let reply: J = serde_json::from_str(reply).unwrap();
    (reply["accepted"].clone(), reply["duplicates"].clone())
}

/// Waits until monitor `pay` counted `lines` lines, all parsed.
fn wait_for_lines(addr: &str, lines: u64) {
    let counters = wait_for(10, "lines counted", || {
        let c = get_json(addr, "/api/v1/monitors/pay/counters", &[]);
        (c["lines"] == lines).then_some(c)
    });
    assert_eq!(counters["parsed"], lines, "{counters}");
}

/// The sum of `amount` over monitor `pay`'s minutes around now, the open
/// one included.
fn sum_amount(addr: &str) -> i64 {
    let around = |minutes: i64| {
        (chrono::Utc::now() + chrono::Duration::minutes(minutes)).format("%Y-%m-%dT%H:%M:00Z")
    };
    let rows = get_json(
        addr,
        &format!(
            "/api/v1/monitors/pay/rows?from={}&to={}&live=true",
            around(-2),
            around(2)
        ),
        &[],
    );
    rows.as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["values"]["sum_amount"].as_i64())
        .sum()
}

/// The configured monitors (not the built-in metrics ones).
fn monitor_names(addr: &str) -> Vec<String> {
    get_json(addr, "/api/v1/monitors", &[])
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] != "metrics")
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

fn reload_errors(addr: &str) -> String {
    let metrics = http(addr, "GET", "/metrics", &[], b"").1;
    metrics
        .lines()
        .find(|l| l.starts_with("vigil_config_reload_errors_total "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_bad_config_reload_keeps_the_running_one() {
    let (sandbox, _) = sandbox_with_logs();
    let config = sandbox.path("monitors.yaml");
    let collector = Proc::collector(&config, &sandbox.path("data"), "127.0.0.1:0", &[]);
    let addr = &collector.addr;
    assert_eq!(monitor_names(addr), vec!["pay", "pay_by_second"]);
    // A broken file, announced by SIGHUP: refused, `pay` keeps running.
    write_file(
        &config,
        &MONITORS.replace("split: \",\", index: 2", "split: \",\", index: two"),
    );
    collector.signal("HUP");
    wait_for(10, "the reload refused", || {
        (reload_errors(addr) == "vigil_config_reload_errors_total 1").then_some(())
    });
    assert_eq!(monitor_names(addr), vec!["pay", "pay_by_second"]);
    // A good change is picked up without a signal.
    let more = format!(
        "{MONITORS}  - name: pay_total\n    kind: minute_stat\n    source: {{ paths: [logs/*.log], timezone: UTC }}\n    time: {{ column: time, format: normal }}\n    columns:\n      time: {{ split: \",\", index: 0 }}\n    stats: [count]\n"
    );
    write_file(&config, &more);
    wait_for(10, "the new monitor", || {
        (monitor_names(addr) == ["pay", "pay_by_second", "pay_total"]).then_some(())
    });
    let version = get_json(addr, "/api/v1/agents/config", &[]);
    assert_eq!(version["sources"].as_array().unwrap().len(), 1, "{version}");
}

fn write_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

#[test]
fn host_and_port_metrics_reach_the_builtin_monitors() {
    let (sandbox, _) = sandbox_with_logs();
    let collector = Proc::sandbox_collector(&sandbox);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap();
    sandbox.write(
        "probes.yaml",
        format!("- {{ app: trade, tcp: \"{port}\", interval_secs: 1, fall: 1 }}\n"),
    );
    let _agent = Proc::agent_with(
        &collector.addr,
        &sandbox.path("agent"),
        "instance=n1",
        &[
            "--metrics-interval",
            "1",
            "--probes",
            sandbox.path("probes.yaml").to_str().unwrap(),
        ],
    );
    let addr = &collector.addr;
    let latest = |monitor: &str| get_json(addr, &format!("/api/v1/monitors/{monitor}/latest"), &[]);
    let up = wait_for(20, "the port probe up", || {
        let l = latest("port");
        let v = l.as_array()?.first()?["values"]["up"].as_f64()?;
        Some((l, v))
    });
    assert_eq!(up.1, 1.0, "{}", up.0);
    assert_eq!(up.0[0]["keys"]["instance"], "n1");
    assert_eq!(up.0[0]["keys"]["target"], format!("tcp://{port}"));
    drop(listener);
    wait_for(20, "the port probe down", || {
        (latest("port")[0]["values"]["up"].as_f64() == Some(0.0)).then_some(())
    });
    // The node-wide system sample: as many cores as this machine has.
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    let system = wait_for(20, "a system sample", || {
        let l = latest("system");
        l.as_array()?
            .iter()
            .find(|s| s["keys"].as_object().is_some_and(|k| k.len() == 1))
            .cloned()
    });
    assert_eq!(
        system["values"]["cpu_total_cores"].as_f64(),
        Some(cores),
        "{system}"
    );
    // The minute in progress is served as rows with averages and maxima.
    let now = chrono::Utc::now().timestamp();
    let rows = get_json(
        addr,
        &format!(
            "/api/v1/monitors/port/rows?from={}&to={}&live=true",
            now - 120,
            now + 60
        ),
        &[],
    );
    let row = &rows.as_array().unwrap()[0];
    let avg = row["values"]["up"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&avg), "{row}");
    assert_eq!(row["values"]["up_max"].as_f64(), Some(1.0), "{row}");
    assert!(row["keys"].get("instance").is_none(), "{row}");
    // Per instance, and per IDC (n1 has no IDC label: `unknown`).
    for (view, label, value) in [("instance", "instance", "n1"), ("idc", "idc", "unknown")] {
        let rows = get_json(
            addr,
            &format!(
                "/api/v1/monitors/port/rows?from={}&to={}&live=true&view={view}",
                now - 120,
                now + 60
            ),
            &[],
        );
        let row = &rows.as_array().unwrap()[0];
        assert_eq!(row["labels"][label], value, "{row}");
        assert_eq!(row["values"]["up_max"].as_f64(), Some(1.0), "{row}");
    }
}
