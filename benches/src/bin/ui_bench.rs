//! `ui_bench`: how long the web UI takes to render each page on the server
//! with 200 monitors and 21 days of minutes stored, against the JSON rows
//! API over the same store in the same run.
//!
//! ```text
//! cargo build -p vigil-benches --bin ui_bench
//! target/debug/ui_bench [--runs 5] [--data target/bench-data/ui-store]
//! ```
//!
//! The store is generated once (200 monitors: every fourth a service, the
//! rest minute statistics; 4 keys each; 20 apps; one Parquet file per
//! monitor and hour, as the collector writes them) and reused by later
//! runs. Pages render in-process through `vigil_dashboards::ui::page` over
//! a catalog that reads the store, as `vigil collector` does; the baseline
//! is `GET /api/v1/monitors/{name}/rows` for the last hour of one monitor
//! and of all 200, and for the last day of one app's 10 monitors (what its
//! app page over a day reads). Each figure is the median of `--runs`. Exit status 1
//! when a page takes 300 ms or more.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use hyper::body::Body;
use hyper::Method;
use serde_json::{json, Value as J};
use vigil_config::dashboard::Dashboard;
use vigil_config::{Config, Kind, LoadOptions};
use vigil_dashboards::api::{self, ApiError, Catalog, HistoryQuery, MonitorInfo, RowsRequest};
use vigil_engine::store::{MinuteStore, DEFAULT_RETENTION_SECS};
use vigil_model::{MinuteRow, Value};

/// Monitors in the store.
const MONITORS: usize = 200;
/// Monitors per app.
const PER_APP: usize = 10;
/// Keys per monitor and minute.
const KEYS: usize = 4;
/// Days of minutes stored.
const DAYS: i64 = 21;
/// The end of the stored minutes: 2026-11-20T02:00:00Z.
const END_S: i64 = 1_795_140_000;
/// Alert history records, spread over the 21 days.
const RECORDS: i64 = 600;
/// A page must render in less than this, milliseconds.
const TARGET_MS: f64 = 300.0;

/// Renders every UI page against a large store.
#[derive(Debug, Parser)]
struct Args {
    /// Runs per page; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Where the generated store is kept between runs.
    #[arg(long)]
    data: Option<PathBuf>,
}

/// The configuration: 200 monitors and a dashboard of every report type.
fn config_yaml() -> String {
    let mut y = String::from("monitors:\n");
    for i in 0..MONITORS {
        let app = i / PER_APP;
        let common = format!(
            "  - name: m{i:03}\n    app: app{app:02}\n    source: {{ paths: [m{i}.log], timezone: Asia/Shanghai }}\n    time: {{ column: time, format: normal }}\n    columns:\n      time: {{ split: \",\", index: 0 }}\n      key: {{ split: \",\", index: 1 }}\n      count: {{ split: \",\", index: 2, type: int }}\n      elapsed: {{ split: \",\", index: 3, type: int }}\n      result: {{ split: \",\", index: 4 }}\n    group_by: [key]\n"
        );
        y.push_str(&common);
        if i % 4 == 0 {
            y.push_str("    kind: service_metrics\n    service: { result: result, count: count, elapsed: elapsed }\n");
        } else {
            y.push_str("    kind: minute_stat\n    stats: [count, { sum: elapsed }, { avg: elapsed }, { max: elapsed }]\n");
        }
    }
    y.push_str(
        r#"dashboards:
  - name: bench
    title: Every report type
    span: 60
    reports:
      - { title: keys across, type: keys_across, width: 6, sources: [{ monitor: m001, value: count, thresholds: { orange: 50, red: 90 } }] }
      - { title: trend, type: trend, width: 6, compare: [yesterday, week], sources: [{ monitor: m001, value: count }, { monitor: m002, value: count }] }
      - { title: service, type: service, width: 6, sources: [{ monitor: m000, thresholds: { orange: 0.95, red: 0.9 } }] }
      - title: current keys
        type: current_keys
        width: 6
        sources:
          - { monitor: m000, value: total }
          - { op: ratio, of: [{ monitor: m000, value: fail }, { monitor: m000, value: total }], format: { decimals: 2, percent: true } }
      - { title: last minutes, type: last_minutes, width: 4, sources: [{ monitor: m003, value: count }, { monitor: m003, value: avg_elapsed }] }
      - { title: top, type: top, width: 4, span: 1440, sources: [{ monitor: m005, value: sum_elapsed }] }
      - { title: minutes keys, type: minutes_keys, width: 4, sources: [{ monitor: m006, value: count }, { monitor: m006, value: max_elapsed }] }
"#,
    );
    y
}

/// Deterministic pseudo-random numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The rows of monitor `m` for every minute of the 21 days.
fn rows(m: &vigil_config::Monitor, rng: &mut Rng) -> Vec<MinuteRow> {
    let from = END_S - DAYS * 86_400;
    let mut out = Vec::with_capacity((DAYS * 1440) as usize * KEYS);
    for minute in (from..END_S).step_by(60) {
        for k in 0..KEYS {
            let mut r = MinuteRow::new(&m.name, minute, vec![("key".into(), format!("k{k}"))]);
            let count = 20 + rng.below(80) as i64;
            let elapsed = count * (5 + rng.below(40) as i64);
            r.values = match m.kind {
                Kind::ServiceMetrics(_) => {
                    let fail = rng.below(4) as i64;
                    vec![
                        ("total".into(), Value::Int(count)),
                        ("success".into(), Value::Int(count - fail)),
                        ("fail".into(), Value::Int(fail)),
                        (
                            "success_rate".into(),
                            Value::Float((count - fail) as f64 / count as f64),
                        ),
                        (
                            "avg_latency".into(),
                            Value::Float(elapsed as f64 / count as f64),
                        ),
                    ]
                }
                _ => vec![
                    ("count".into(), Value::Int(count)),
                    ("sum_elapsed".into(), Value::Int(elapsed)),
                    (
                        "avg_elapsed".into(),
                        Value::Float(elapsed as f64 / count as f64),
                    ),
                    ("max_elapsed".into(), Value::Int(elapsed / count + 30)),
                ],
            };
            out.push(r);
        }
    }
    out
}

/// Writes the store unless a finished one is there.
fn generate(dir: &std::path::Path, config: &Config) -> Result<()> {
    let done = dir.join("complete");
    if done.exists() {
        return Ok(());
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let mut store = MinuteStore::open(dir, DEFAULT_RETENTION_SECS)
        .with_context(|| format!("cannot open a store in {}", dir.display()))?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    for (i, m) in config.monitors.iter().enumerate() {
        store
            .write(m, &rows(m, &mut rng))
            .with_context(|| format!("cannot store the minutes of {}", m.name))?;
        if i % 20 == 19 {
            eprintln!(
                "ui_bench: stored {} of {MONITORS} monitors ({:.0} s)",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    std::fs::write(&done, b"").with_context(|| format!("cannot write {}", done.display()))?;
    Ok(())
}

/// The catalog `vigil collector` would be, over the generated store.
struct StoreCatalog {
    store: MinuteStore,
    monitors: Vec<MonitorInfo>,
    dashboards: Vec<Dashboard>,
    history: Vec<J>,
}

impl Catalog for StoreCatalog {
    fn monitors(&self) -> Vec<MonitorInfo> {
        self.monitors.clone()
    }

    fn rows(&self, monitor: &str, request: &RowsRequest) -> Result<Vec<MinuteRow>, String> {
        self.store
            .read(&request.view.table(monitor), request.from_s, request.to_s)
            .map_err(|e| e.to_string())
    }

    fn alerts(&self, _now_s: i64) -> Result<J, ApiError> {
        Ok(J::Array(
            self.monitors
                .iter()
                .step_by(4)
                .map(|m| {
                    json!({"id": format!("{}/rate_low", m.name), "monitor": m.name, "alert": "rate_low",
                           "level": "P1", "conditions": ["current of success_rate < 0.9"], "state": "ok",
                           "firing": [], "paused": null, "evaluated": END_S - 60})
                })
                .collect(),
        ))
    }

    fn alert_history(&self, q: &HistoryQuery) -> Result<J, ApiError> {
        Ok(J::Array(
            self.history
                .iter()
                .filter(|r| {
                    let first = r["first_seen"].as_i64().unwrap_or(0);
                    let end = r["resolved_at"].as_i64().unwrap_or(first + 60);
                    first < q.to_s && end > q.from_s
                })
                .cloned()
                .collect(),
        ))
    }

    fn dashboards(&self) -> Vec<Dashboard> {
        self.dashboards.clone()
    }
}

/// Alert history records, newest first, spread over the 21 days.
fn history(monitors: &[MonitorInfo]) -> Vec<J> {
    let step = DAYS * 86_400 / RECORDS;
    (0..RECORDS)
        .rev()
        .map(|i| {
            let m = &monitors[(i as usize * 4) % MONITORS];
            let first = END_S - DAYS * 86_400 + i * step;
            let level = ["P0", "P1", "P2"][i as usize % 3];
            json!({"id": i + 1, "rule": format!("{}/rate_low", m.name), "monitor": m.name, "alert": "rate_low",
                   "keys": [["key", "k1"]], "level": level, "first_seen": first,
                   "last_seen": first + 120, "count": 3, "value": 0.85, "threshold": 0.9,
                   "condition": "current of success_rate < 0.9", "channels": ["webhook"], "notifications": 3,
                   "state": "resolved", "resolved_at": first + 180})
        })
        .collect()
}

/// The median of `runs` timings of `f`, milliseconds, and the size of the
/// last answer.
fn time(runs: usize, mut f: impl FnMut() -> Result<u64>) -> Result<(f64, u64)> {
    let mut ms = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        bytes = f()?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[ms.len() / 2], bytes))
}

/// Renders a page; its body size.
fn page(catalog: &StoreCatalog, target: &str) -> Result<u64> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let resp = vigil_dashboards::ui::page(catalog, &Method::GET, path, Some(query), END_S, false)
        .with_context(|| format!("{path} is not a page"))?;
    if !resp.status().is_success() {
        bail!("{target}: status {}", resp.status());
    }
    Ok(resp.body().size_hint().exact().unwrap_or(0))
}

/// The JSON rows of `monitor` for the last `secs`; its body size.
fn json_rows(catalog: &StoreCatalog, monitor: &str, secs: i64) -> Result<u64> {
    let path = format!("/api/v1/monitors/{monitor}/rows");
    let query = format!("from={}&to={END_S}", END_S - secs);
    let resp = api::route(catalog, &Method::GET, &path, Some(&query), END_S);
    if !resp.status().is_success() {
        bail!("{path}: status {}", resp.status());
    }
    Ok(resp.body().size_hint().exact().unwrap_or(0))
}

fn main() -> Result<ExitCode> {
    let args = Args::parse();
    let runs = args.runs.max(1);
    let dir = args.data.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data/ui-store")
    });
    let text = config_yaml();
    let config =
        vigil_config::load_texts(&[(dir.join("bench.yaml"), text)], &LoadOptions::default())
            .context("the bench configuration does not load")?;
    generate(&dir, &config)?;
    let monitors: Vec<MonitorInfo> = config
        .monitors
        .iter()
        .map(|m| MonitorInfo::from_monitor(m, Default::default()))
        .collect();
    let catalog = StoreCatalog {
        store: MinuteStore::open(&dir, DEFAULT_RETENTION_SECS)?,
        history: history(&monitors),
        monitors,
        dashboards: config.dashboards.clone(),
    };

    let (one, one_bytes) = time(runs, || json_rows(&catalog, "m001", 3600))?;
    let (all, all_bytes) = time(runs, || {
        (0..MONITORS).try_fold(0, |n, i| {
            Ok(n + json_rows(&catalog, &format!("m{i:03}"), 3600)?)
        })
    })?;
    // What the app page over a day reads: its 10 monitors' last day.
    let (app_day, app_day_bytes) = time(runs, || {
        (0..PER_APP).try_fold(0, |n, i| {
            Ok(n + json_rows(&catalog, &format!("m{i:03}"), 86_400)?)
        })
    })?;
    println!(
        "{MONITORS} monitors × {KEYS} keys, {DAYS} days of minutes stored; median of {runs} runs (server-side render, in-process)\n"
    );
    println!("| request | ms | bytes | ratio to one monitor's rows |");
    println!("|---|---|---|---|");
    println!("| baseline: JSON rows, 1 monitor, last hour | {one:.1} | {one_bytes} | 1.0 |");
    println!(
        "| baseline: JSON rows, all {MONITORS} monitors, last hour | {all:.1} | {all_bytes} | {:.1} |",
        all / one
    );
    println!(
        "| baseline: JSON rows, app00's {PER_APP} monitors, last day | {app_day:.1} | {app_day_bytes} | {:.1} |",
        app_day / one
    );
    let pages = [
        "/",
        "/apps/app00",
        "/apps/app00?span=1440",
        "/monitors",
        "/monitors/m001",
        "/monitors/m001?span=1440&compare=week",
        "/monitors/m000?span=10080&value=success_rate",
        "/alerts?from=2026-10-30T02:00:00Z&to=2026-11-20T02:00:00Z",
        "/agents",
        "/dashboards",
        "/dashboards/bench",
    ];
    let mut worst: f64 = 0.0;
    for target in pages {
        let (ms, bytes) = time(runs, || page(&catalog, target))?;
        worst = worst.max(ms);
        println!("| page `{target}` | {ms:.1} | {bytes} | {:.1} |", ms / one);
    }
    println!("\nslowest page: {worst:.1} ms (target < {TARGET_MS} ms)");
    Ok(if worst < TARGET_MS {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
