//! Archive monitors in a running collector: hour and day roll-ups of a
//! monitor's minutes, stored and served by the API, equal to what a simple
//! count over the written lines gives, through a SIGKILL of the collector
//! after its log was trimmed (the roll-ups in progress come back from the
//! saved state, the rest from the log).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::Value as J;

use crate::procs::{get_json, http, wait_for, Proc};
use crate::support::Sandbox;

const MONITORS: &str = r#"monitors:
  - name: orders
    kind: minute_stat
    lateness: 30
    source: { paths: [logs/*.log], timezone: UTC }
    time: { column: time, format: normal }
    columns:
      time:    { split: ",", index: 0 }
      channel: { split: ",", index: 1 }
      amount:  { split: ",", index: 2, type: int }
    group_by: [channel]
    stats: [count, { sum: amount }, { avg: amount }, { max: amount }]
  - name: orders_rollup
    kind: archive
    archive: { of: orders, periods: [hour, day] }
"#;

/// 09:00 UTC three days ago: in the past, so minutes close at once, and
/// well inside the retention (the collector deletes older hours at start).
static START: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| {
    (chrono::Utc::now().timestamp().div_euclid(86_400) - 3) * 86_400 + 9 * 3600
});

/// Per (period, start as RFC 3339, channel): count, sum and max of amounts.
type Rollups = BTreeMap<(String, String, String), (i64, i64, i64)>;

/// The lines of minutes `minutes` after 09:00: per minute and channel one
/// to four lines at different seconds, with amounts from a formula.
fn lines(minutes: std::ops::Range<i64>) -> Vec<(i64, &'static str, i64)> {
    let mut out = Vec::new();
    for m in minutes {
        for (c, channel) in ["alipay", "card", "wechat"].into_iter().enumerate() {
            let c = c as i64;
            for j in 0..(m * 7 + c) % 4 + 1 {
                let t = *START + m * 60 + (j * 13 + c) % 60;
                out.push((t, channel, (m * 13 + c * 5 + j * 31) % 97));
            }
        }
    }
    out
}

fn append(log: &Path, lines: &[(i64, &str, i64)]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    for (t, channel, amount) in lines {
        let time = chrono::DateTime::from_timestamp(*t, 0).unwrap();
        writeln!(f, "{},{channel},{amount}", time.format("%Y-%m-%d %H:%M:%S")).unwrap();
    }
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339()
}

/// The roll-ups a simple count over `lines` gives.
fn expected(lines: &[(i64, &str, i64)]) -> Rollups {
    let mut out = Rollups::new();
    for &(t, channel, amount) in lines {
        for (period, size) in [("hour", 3600), ("day", 86_400)] {
            let start = t.div_euclid(size) * size;
            let e = out
                .entry((period.into(), rfc3339(start), channel.into()))
                .or_insert((0, 0, i64::MIN));
            e.0 += 1;
            e.1 += amount;
            e.2 = e.2.max(amount);
        }
    }
    out
}

/// The roll-ups the API serves (stored only, or with those in progress),
/// checking that each average is the sum over the count.
fn served(addr: &str, live: bool) -> Rollups {
    let rows = get_json(
        addr,
        &format!(
            "/api/v1/monitors/orders_rollup/rows?from={}&to={}&live={live}",
            rfc3339(*START - 86_400),
            rfc3339(*START + 86_400)
        ),
        &[],
    );
    let mut out = Rollups::new();
    for r in rows.as_array().unwrap() {
        let v = &r["values"];
        let (count, sum) = (
            v["count"].as_i64().unwrap(),
            v["sum_amount"].as_i64().unwrap(),
        );
        let avg = v["avg_amount"].as_f64().unwrap();
        assert!((avg - sum as f64 / count as f64).abs() < 1e-9, "{r}");
        let key = (
            r["period"].as_str().unwrap().to_string(),
            r["minute"].as_str().unwrap().to_string(),
            r["keys"]["channel"].as_str().unwrap().to_string(),
        );
        out.insert(key, (count, sum, v["max_amount"].as_i64().unwrap()));
    }
    out
}

/// Waits up to `secs` until the API serves `want` (see [`served`]); fails
/// with the differences.
fn wait_until_served(addr: &str, live: bool, want: &Rollups, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let got = served(addr, live);
        if got == *want {
            return;
        }
        if std::time::Instant::now() > deadline {
            let diff: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(*v))
                .map(|(k, v)| (k, v, got.get(k)))
                .chain(
                    got.iter()
                        .filter(|(k, _)| !want.contains_key(*k))
                        .map(|(k, v)| (k, v, None)),
                )
                .collect();
            panic!("live={live}: (period, start, channel), expected, served: {diff:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The archive state saved with the collector's floors, once the log was
/// trimmed: `Some` when it holds an open period.
fn saved_state(data: &Path) -> Option<J> {
    let text = std::fs::read_to_string(data.join("collector/floors.json")).ok()?;
    let floors: J = serde_json::from_str(&text).ok()?;
    let state = floors["archives"]["orders_rollup"].clone();
    (!state["periods"].as_array()?.is_empty()).then_some(state)
}

#[test]
fn hour_and_day_rollups_are_exact_across_a_collector_kill() {
    let sandbox = Sandbox::new();
    sandbox.write("monitors.yaml", MONITORS);
    let logs = sandbox.path("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("orders.log");
    let config = sandbox.path("monitors.yaml");
    let data = sandbox.path("data");
    let args = ["--wal-segment-secs", "1"];
    let collector = Proc::collector_with(&config, &data, "127.0.0.1:0", &args);
    let addr = collector.addr.clone();
    let _agent = Proc::agent(&addr, &sandbox.path("agent"), "instance=n1");

    // 09:00 to 10:09: hour 09 ends with lines 30 s (the lateness) after
    // it, and is stored.
    let first = lines(0..70);
    append(&log, &first);
    let hour_09: Rollups = expected(&first)
        .into_iter()
        .filter(|(k, _)| k.0 == "hour" && k.1 == rfc3339(*START))
        .collect();
    wait_until_served(&addr, false, &hour_09, 60);
    // 10:10 to 10:19: the log segment of the first lines only holds final
    // minutes and goes, the roll-ups' state is saved with the floors. The
    // collector is killed before the lines are 30 s idle (then every
    // minute until now would be final).
    // (Log segments rotate every second: these go to another one.)
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let more = lines(70..80);
    append(&log, &more);
    let state = wait_for(25, "the roll-ups' state saved", || saved_state(&data));
    assert!(
        state["periods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["period"] == "hour" && p["start_s"] == *START + 3600),
        "{state}"
    );
    let first: Vec<_> = first.into_iter().chain(more).collect();

    drop(collector); // SIGKILL
    let collector = Proc::collector_with(&config, &data, &addr, &args);
    // 10:20 to 11:29: hour 10 goes on from the saved state.
    let second = lines(80..150);
    append(&log, &second);
    let all: Vec<_> = first.iter().chain(&second).copied().collect();
    let want = expected(&all);
    assert_eq!(want.keys().filter(|k| k.0 == "hour").count(), 9);
    wait_until_served(&addr, true, &want, 60);
    wait_until_served(&addr, false, &want, 90);
    // Nothing was late: the lines the restart replayed from the log were
    // counted once.
    for monitor in ["orders", "orders_rollup"] {
        let counters = get_json(&addr, &format!("/api/v1/monitors/{monitor}/counters"), &[]);
        assert_eq!(counters["late"], 0, "{monitor}: {counters}");
        if monitor == "orders" {
            assert_eq!(counters["lines"], all.len(), "{counters}");
        }
    }

    // The archive's monitor entry has its source's keys and values, and
    // only its own parameters are accepted.
    let monitors = get_json(&addr, "/api/v1/monitors", &[]);
    let info = monitors
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "orders_rollup")
        .unwrap();
    assert_eq!(info["kind"], "archive");
    assert_eq!(info["keys"], serde_json::json!(["channel"]));
    assert_eq!(
        info["values"],
        serde_json::json!(["count", "sum_amount", "avg_amount", "max_amount"])
    );
    let days = get_json(
        &addr,
        &format!(
            "/api/v1/monitors/orders_rollup/rows?from={}&to={}&period=day&key.channel=card",
            rfc3339(*START - 86_400),
            rfc3339(*START + 86_400)
        ),
        &[],
    );
    assert_eq!(days.as_array().unwrap().len(), 1, "{days}");
    let day = &want[&("day".into(), rfc3339(*START - 9 * 3600), "card".into())];
    assert_eq!(days[0]["values"]["count"], day.0, "{days}");
    for bad in ["view=instance", "period=month"] {
        let (status, body) = http(
            &addr,
            "GET",
            &format!("/api/v1/monitors/orders_rollup/rows?{bad}"),
            &[],
            b"",
        );
        assert_eq!(status, 400, "{bad}: {body}");
        let param = bad.split('=').next().unwrap();
        assert!(body.contains(param), "{bad}: {body}");
    }
    drop(collector);
}
