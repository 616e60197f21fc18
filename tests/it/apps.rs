//! `apps:` end to end. The SOFA preset over a log root built from the
//! fixture logs gives, in `vigil replay` and in `vigil run`'s API, the
//! numbers a second implementation here computes from the same lines
//! (production and stress-test lines apart); and `vigil config export` /
//! `import` carry a configuration into an empty folder unchanged, refuse a
//! bad file without touching anything, and show what an import changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::procs::{get_json, wait_for, Proc};
use crate::support::{examples, replay, vigil, Replay, Sandbox, Val};

/// Where a stat log keeps what its monitor needs (0-based fields).
struct Layout {
    monitor: &'static str,
    file: &'static str,
    /// Key columns of the preset monitor and their fields, in key order.
    keys: &'static [(&'static str, usize)],
    count: usize,
    elapsed: usize,
    result: usize,
    stress: usize,
    /// The result is an HTTP code (1xx, 2xx and 302 succeed), not Y/N.
    http: bool,
}

const SERVICE: Layout = Layout {
    monitor: "tradecore_service",
    file: "rpc-server-stat.log",
    keys: &[("service", 3), ("method", 4)],
    count: 5,
    elapsed: 6,
    result: 7,
    stress: 8,
    http: false,
};

const SAL: Layout = Layout {
    monitor: "tradecore_sal",
    file: "rpc-client-stat.log",
    keys: &[("to_app", 2), ("service", 3), ("method", 4)],
    count: 5,
    elapsed: 6,
    result: 7,
    stress: 8,
    http: false,
};

const PV: Layout = Layout {
    monitor: "tradecore_pv",
    file: "sofa-mvc-stat.log",
    keys: &[("url", 2)],
    count: 4,
    elapsed: 5,
    result: 6,
    stress: 7,
    http: true,
};

const DAL: Layout = Layout {
    monitor: "tradecore_dal",
    file: "zdal-db-stat.log",
    keys: &[("datasource", 2), ("table", 4)],
    count: 6,
    elapsed: 7,
    result: 8,
    stress: 9,
    http: false,
};

const LAYOUTS: [&Layout; 4] = [&SERVICE, &SAL, &PV, &DAL];

/// One row: minute and key values.
type Key = (String, Vec<String>);

/// What a row says: total, success, fail, success rate, average latency.
#[derive(Debug, Clone, Copy)]
struct Calls {
    total: i64,
    success: i64,
    fail: i64,
    rate: f64,
    latency: f64,
}

impl PartialEq for Calls {
    fn eq(&self, o: &Calls) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
        (self.total, self.success, self.fail) == (o.total, o.success, o.fail)
            && close(self.rate, o.rate)
            && close(self.latency, o.latency)
    }
}

/// The rows a stat log should give, computed from its lines: the stress
/// lines (`T`) or the production ones. `offset` is the minutes' UTC offset
/// as written in rows (`+08:00`).
fn expected(text: &str, layout: &Layout, stress: bool, offset: &str) -> BTreeMap<Key, Calls> {
    let mut sums: BTreeMap<Key, (i64, i64, i64)> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(',').collect();
        if (f[layout.stress] == "T") != stress {
            continue;
        }
        let minute = format!("{}T{}:00{offset}", &f[0][..10], &f[0][11..16]);
        let keys = layout.keys.iter().map(|(_, i)| f[*i].to_string()).collect();
        let count: i64 = f[layout.count].parse().unwrap();
        let elapsed: i64 = f[layout.elapsed].parse().unwrap();
        let result = f[layout.result];
        let ok = if layout.http {
            let code: u32 = result.parse().unwrap();
            (100..300).contains(&code) || code == 302
        } else {
            result == "Y"
        };
        let e = sums.entry((minute, keys)).or_default();
        e.0 += count;
        e.1 += if ok { count } else { 0 };
        e.2 += elapsed;
    }
    sums.into_iter()
        .map(|(k, (total, success, elapsed))| {
            let calls = Calls {
                total,
                success,
                fail: total - success,
                rate: success as f64 / total as f64,
                latency: elapsed as f64 / total as f64,
            };
            (k, calls)
        })
        .collect()
}

fn number(v: Val) -> f64 {
    match v {
        Val::Int(i) => i as f64,
        Val::Float(f) => f,
        Val::Null => panic!("a missing value"),
    }
}

/// The rows of `monitor` that `vigil replay` printed.
fn replayed(out: &Replay, monitor: &str) -> BTreeMap<Key, Calls> {
    out.rows_of(monitor)
        .into_iter()
        .map(|r| {
            let keys = r.keys.iter().map(|(_, v)| v.clone()).collect();
            let calls = Calls {
                total: r.int("total"),
                success: r.int("success"),
                fail: r.int("fail"),
                rate: number(r.value("success_rate")),
                latency: number(r.value("avg_latency")),
            };
            ((r.minute.clone(), keys), calls)
        })
        .collect()
}

/// The example logs (a copy of the fixtures).
fn fixture(name: &str) -> String {
    std::fs::read_to_string(examples().join("logs").join(name)).expect("fixture log")
}

/// Writes the SOFA layout under `<sandbox>/logs/tradecore`: the stat logs
/// in `tracelog/`, the error log beside it, each line passed through `edit`.
fn log_root(sb: &Sandbox, edit: impl Fn(&str) -> String) {
    let dir = sb.path("logs/tradecore/tracelog");
    std::fs::create_dir_all(&dir).unwrap();
    for layout in LAYOUTS {
        let text: String = fixture(layout.file)
            .lines()
            .map(|l| edit(l) + "\n")
            .collect();
        std::fs::write(dir.join(layout.file), text).unwrap();
    }
    let errors: String = fixture("common-error.log")
        .lines()
        .map(|l| edit(l) + "\n")
        .collect();
    std::fs::write(sb.path("logs/tradecore/common-error.log"), errors).unwrap();
}

fn app_config(timezone: &str) -> String {
    format!(
        "apps:\n  - name: tradecore\n    preset: sofa\n    log_root: logs\n    timezone: {timezone}\n    ports: [12200]\n"
    )
}

#[test]
fn the_sofa_preset_reproduces_the_stat_logs_in_replay() {
    let sb = Sandbox::new();
    log_root(&sb, str::to_string);
    sb.write("vigil.yaml", app_config("Asia/Shanghai"));
    let out = replay(&sb.path("vigil.yaml"), &[], &[]);
    for layout in LAYOUTS {
        let text =
            std::fs::read_to_string(sb.path(&format!("logs/tradecore/tracelog/{}", layout.file)))
                .unwrap();
        let production = expected(&text, layout, false, "+08:00");
        let stress = expected(&text, layout, true, "+08:00");
        assert!(!production.is_empty(), "{}", layout.monitor);
        assert_eq!(
            replayed(&out, layout.monitor),
            production,
            "{}",
            layout.monitor
        );
        let stress_monitor = format!("{}_stress", layout.monitor);
        assert_eq!(replayed(&out, &stress_monitor), stress, "{stress_monitor}");
        // Every line is read by both monitors and kept by exactly one.
        let lines = text.lines().count() as u64;
        let t_lines = text
            .lines()
            .filter(|l| l.split(',').nth(layout.stress) == Some("T"))
            .count() as u64;
        let c = out.counters(layout.monitor);
        let s = out.counters(&stress_monitor);
        assert_eq!(
            (c.lines, c.parse_errors, c.filtered),
            (lines, 0, t_lines),
            "{}",
            layout.monitor
        );
        assert_eq!(
            (s.lines, s.parse_errors, s.filtered),
            (lines, 0, lines - t_lines)
        );
    }
    // The service and sal logs hold stress lines, which stay apart.
    assert!(!out.rows_of("tradecore_service_stress").is_empty());
    assert!(!out.rows_of("tradecore_sal_stress").is_empty());

    // The numbers of the fixture README.
    let m = "2026-11-20T10:00:00+08:00";
    let order = "com.example.trade.OrderFacade:1.0";
    let row = |method: &str| {
        out.row(
            "tradecore_service",
            m,
            &[("service", order), ("method", method)],
        )
    };
    let create = row("create");
    assert_eq!(
        (
            create.int("total"),
            create.int("success"),
            create.int("fail")
        ),
        (105, 98, 7)
    );
    assert!((create.float("success_rate") - 0.9333).abs() < 5e-5);
    assert!((create.float("avg_latency") - 51.333).abs() < 5e-4);
    let get = row("get");
    assert_eq!(
        (get.int("total"), get.int("success"), get.int("fail")),
        (110, 110, 0)
    );
    assert_eq!(number(get.value("success_rate")), 1.0);
    assert_eq!(number(get.value("avg_latency")), 2.0);
    let cancel = row("cancel");
    assert_eq!(
        (
            cancel.int("total"),
            cancel.int("success"),
            cancel.int("fail")
        ),
        (53, 48, 5)
    );
    assert!((cancel.float("success_rate") - 0.9057).abs() < 5e-5);
    assert!((cancel.float("avg_latency") - 44.623).abs() < 5e-4);

    // Errors: one event per dated line, its stack trace joined to it.
    let errors = fixture("common-error.log");
    let mut per_minute: BTreeMap<String, i64> = BTreeMap::new();
    for line in errors.lines().filter(|l| l.starts_with("2026-")) {
        *per_minute
            .entry(format!("{}T{}:00+08:00", &line[..10], &line[11..16]))
            .or_default() += 1;
    }
    let got: BTreeMap<String, i64> = out
        .rows_of("tradecore_error")
        .into_iter()
        .map(|r| (r.minute.clone(), r.int("count")))
        .collect();
    assert_eq!(got, per_minute);
    assert_eq!(out.counters("tradecore_error").parse_errors, 0);
}

/// The rows of `monitor` stored by a running `vigil run` in `[from, to)`.
fn stored(addr: &str, monitor: &str, from: &str, to: &str) -> BTreeMap<Key, Calls> {
    let rows = get_json(
        addr,
        &format!("/api/v1/monitors/{monitor}/rows?from={from}&to={to}"),
        &[],
    );
    rows.as_array()
        .expect("an array of rows")
        .iter()
        .map(|r| {
            let keys = r["keys"]
                .as_object()
                .expect("keys")
                .values()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let v = &r["values"];
            let calls = Calls {
                total: v["total"].as_i64().unwrap(),
                success: v["success"].as_i64().unwrap(),
                fail: v["fail"].as_i64().unwrap(),
                rate: v["success_rate"].as_f64().unwrap(),
                latency: v["avg_latency"].as_f64().unwrap(),
            };
            ((r["minute"].as_str().unwrap().to_string(), keys), calls)
        })
        .collect()
}

#[test]
fn vigil_run_stores_the_preset_monitors_of_an_app() {
    use chrono::{DurationRound, Utc};
    // The fixture's minutes 10:00 … 10:04 become the minutes starting 8
    // minutes ago (UTC), so the running collector takes them as recent.
    let base = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap()
        - chrono::Duration::minutes(8);
    let shift = |line: &str| -> String {
        if !line.starts_with("2026-11-20 10:0") {
            return line.to_string();
        }
        let m: i64 = line[15..16].parse().unwrap();
        let t = base + chrono::Duration::minutes(m);
        format!("{}{}", t.format("%Y-%m-%d %H:%M"), &line[16..])
    };
    let sb = Sandbox::new();
    log_root(&sb, shift);
    sb.write("monitors.yaml", app_config("UTC"));
    let running = Proc::run(&sb.path("monitors.yaml"), &sb.path("data"));
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (from, to) = (fmt(base), fmt(base + chrono::Duration::minutes(6)));
    for layout in LAYOUTS {
        let text =
            std::fs::read_to_string(sb.path(&format!("logs/tradecore/tracelog/{}", layout.file)))
                .unwrap();
        for stress in [false, true] {
            let want = expected(&text, layout, stress, "+00:00");
            let monitor = if stress {
                format!("{}_stress", layout.monitor)
            } else {
                layout.monitor.to_string()
            };
            let mut got = BTreeMap::new();
            wait_for(60, &format!("the rows of {monitor}"), || {
                got = stored(&running.addr, &monitor, &from, &to);
                (got == want).then_some(())
            });
        }
    }
    let monitors = get_json(&running.addr, "/api/v1/monitors", &[]);
    let text = monitors.to_string();
    for name in [
        "tradecore_service",
        "tradecore_pv_stress",
        "tradecore_error",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
}

fn run_ok(args: &[&str]) -> Output {
    let out = vigil(args);
    assert!(
        out.status.success(),
        "vigil {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// Every file of a folder and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// The resolved configuration of a folder as text (every field), with
/// monitors and apps in name order: their order across files depends on
/// the files' names, and within a file monitors come before apps.
fn resolved(dir: &Path) -> String {
    let opts = vigil_config::LoadOptions {
        default_timezone: chrono_tz::Asia::Shanghai,
        ..vigil_config::LoadOptions::default()
    };
    let mut config =
        vigil_config::load(dir, &opts).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    config.monitors.sort_by(|a, b| a.name.cmp(&b.name));
    config.apps.sort_by(|a, b| a.name.cmp(&b.name));
    format!("{config:#?}")
}

/// A configuration folder with an app, hand-written monitors (one of them
/// relative to the folder), built-in alert rules and a notification
/// section, spread over three files.
fn source_folder(sb: &Sandbox) -> PathBuf {
    std::fs::create_dir_all(sb.path("src")).unwrap();
    sb.write(
        "src/apps.yaml",
        r#"apps:
  - name: tradecore
    preset: sofa
    log_root: ../logs
    timezone: Asia/Shanghai
    ports: [12200, 8080]
    monitors:
      pv: false
      service:
        key_limit: 500
        alerts:
          - name: failing
            notify: [oncall]
            conditions: [{ value: success_rate, fn: current, op: "<", threshold: 0.9 }]
"#,
    );
    sb.write(
        "src/hand.yaml",
        r#"monitors:
  - name: tradecore_orders
    kind: minute_stat
    app: tradecore
    source: { paths: [../logs/trade.log], timezone: Asia/Shanghai }
    time: { column: time, format: normal }
    columns:
      time:    { split: ",", index: 0 }
      product: { split: ",", index: 2 }
    group_by: [product]
    stats: [count]
  - name: service_hourly
    kind: archive
    archive: { of: tradecore_service, periods: [hour] }
alerts:
  defaults: false
  rules:
    - monitor: system
      name: cpu_busy
      conditions: [{ value: cpu_util, fn: avg_last, n: 5, op: ">", threshold: 95 }]
"#,
    );
    sb.write(
        "src/notify.yaml",
        "notification:\n  webhooks:\n    - name: oncall\n      url: http://127.0.0.1:9/hook\n",
    );
    sb.path("src")
}

#[test]
fn an_export_imported_into_an_empty_folder_gives_the_same_config() {
    let sb = Sandbox::new();
    let src = source_folder(&sb);
    let dst = sb.path("dst");
    std::fs::create_dir_all(&dst).unwrap();
    let exported = run_ok(&[
        "config",
        "export",
        "--config",
        src.to_str().unwrap(),
        "--all",
    ]);
    let file = sb.write("export.yaml", &exported.stdout);

    let out = run_ok(&[
        "config",
        "import",
        "--config",
        dst.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("added    app tradecore\n"), "{stdout}");
    assert!(
        stdout.contains("added    monitor tradecore_service\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("added    monitor tradecore_orders\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("added    section notification\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("tradecore_pv"), "{stdout}");
    assert!(dst.join("imported.yaml").is_file());
    assert_eq!(snapshot(&dst).len(), 1, "only imported.yaml is written");
    assert_eq!(resolved(&dst), resolved(&src));
    // Exporting either folder prints the same entries.
    let again = run_ok(&[
        "config",
        "export",
        "--config",
        dst.to_str().unwrap(),
        "--all",
    ]);
    let body = |o: &Output| -> String {
        text(&o.stdout)
            .lines()
            .skip(2)
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert_eq!(body(&again), body(&exported));

    // Importing the same file again changes nothing.
    let before = snapshot(&dst);
    let out = run_ok(&[
        "config",
        "import",
        "--config",
        dst.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(text(&out.stdout).contains("0 added, 0 changed, 0 removed"));
    assert_eq!(snapshot(&dst), before);
}

#[test]
fn an_app_export_carries_its_entry_monitors_and_archives() {
    let sb = Sandbox::new();
    let src = source_folder(&sb);
    let out = run_ok(&[
        "config",
        "export",
        "--config",
        src.to_str().unwrap(),
        "--app",
        "tradecore",
    ]);
    let spec: vigil_config::spec::ConfigSpec = serde_yaml_ng::from_str(&text(&out.stdout)).unwrap();
    let names: Vec<&str> = spec.monitors.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["tradecore_orders", "service_hourly"]);
    assert_eq!(spec.apps.len(), 1);
    let root = spec.apps[0].log_root.as_deref().unwrap();
    assert!(Path::new(root).is_absolute(), "{root}");
    let source = &spec.monitors[0].source.as_ref().unwrap().paths[0];
    assert!(Path::new(source).is_absolute(), "{source}");
    assert!(spec.notification.is_none() && spec.alerts.is_none());

    let missing = vigil([
        "config",
        "export",
        "--config",
        src.to_str().unwrap(),
        "--app",
        "paycore",
    ]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no application `paycore`"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn an_import_shows_its_changes_and_a_dry_run_writes_nothing() {
    let sb = Sandbox::new();
    let dst = sb.path("dst");
    std::fs::create_dir_all(&dst).unwrap();
    let entry = "apps:\n  - name: tradecore\n    preset: sofa\n    log_root: /home/admin/logs\n";
    let first = sb.write("first.yaml", entry);
    run_ok(&[
        "config",
        "import",
        "--config",
        dst.to_str().unwrap(),
        first.to_str().unwrap(),
    ]);
    let before = snapshot(&dst);

    let second = sb.write(
        "second.yaml",
        format!("{entry}    monitors:\n      pv: false\n      service: {{ key_limit: 500 }}\n"),
    );
    let out = run_ok(&[
        "config",
        "import",
        "--config",
        dst.to_str().unwrap(),
        second.to_str().unwrap(),
        "--dry-run",
    ]);
    let stdout = text(&out.stdout);
    for line in [
        "changed  app tradecore\n",
        "changed  monitor tradecore_service\n",
        "changed  monitor tradecore_service_stress\n",
        "removed  monitor tradecore_pv\n",
        "removed  monitor tradecore_pv_stress\n",
        "0 added, 3 changed, 2 removed\n",
        "--- monitor tradecore_service (before)\n+++ monitor tradecore_service (after)\n",
        "+key_limit: 500\n",
        "dry run: nothing written",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    assert_eq!(snapshot(&dst), before);

    run_ok(&[
        "config",
        "import",
        "--config",
        dst.to_str().unwrap(),
        second.to_str().unwrap(),
    ]);
    let config = resolved(&dst);
    assert!(!config.contains("tradecore_pv"));
    assert!(config.contains("key_limit: 500"));
}

#[test]
fn a_bad_file_changes_nothing() {
    let sb = Sandbox::new();
    let dst = sb.path("dst");
    std::fs::create_dir_all(&dst).unwrap();
    sb.write(
        "dst/hand.yaml",
        "monitors:\n  - name: orders\n    kind: minute_stat\n    app: tradecore\n    source: { paths: [a.log] }\n    time: { column: time, format: normal }\n    columns: { time: { split: \",\", index: 0 } }\n    stats: [count]\n",
    );
    let good = sb.write(
        "good.yaml",
        "apps:\n  - name: tradecore\n    preset: sofa\n",
    );
    run_ok(&[
        "config",
        "import",
        "--config",
        dst.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    let before = snapshot(&dst);
    assert_eq!(before.len(), 2);

    let cases = [
        // Not YAML.
        ("syntax.yaml", "apps:\n  - name: tradecore\n   preset: [sofa\n", "syntax.yaml:"),
        // Wrong settings, reported where the file has them.
        (
            "settings.yaml",
            "apps:\n  - name: tradecore\n    preset: sofa\n    monitors:\n      service: { group_by: [nope] }\n",
            "settings.yaml:5:29: unknown column `nope` in group_by",
        ),
        // A monitor the folder's hand-written file already defines.
        (
            "taken.yaml",
            "monitors:\n  - name: orders\n    kind: minute_stat\n    source: { paths: [b.log] }\n    time: { column: time, format: normal }\n    columns: { time: { split: \",\", index: 0 } }\n    stats: [count]\n",
            "taken.yaml:2:11: duplicate monitor name `orders`",
        ),
        // Monitors of an application the folder does not have.
        (
            "stranger.yaml",
            "monitors:\n  - name: bills\n    kind: minute_stat\n    app: billing\n    source: { paths: [b.log] }\n    time: { column: time, format: normal }\n    columns: { time: { split: \",\", index: 0 } }\n    stats: [count]\n",
            "bills (app `billing`)",
        ),
    ];
    for (name, yaml, message) in cases {
        let file = sb.write(name, yaml);
        let out = vigil([
            "config",
            "import",
            "--config",
            dst.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(message),
            "{name}: {message:?} missing from:\n{stderr}"
        );
        assert!(stderr.contains("nothing written"), "{name}: {stderr}");
        assert_eq!(snapshot(&dst), before, "{name} changed the folder");
    }
    // An application's monitors are welcome once asked for.
    let stranger = sb.path("stranger.yaml");
    run_ok(&[
        "config",
        "import",
        "--config",
        dst.to_str().unwrap(),
        stranger.to_str().unwrap(),
        "--new-apps",
    ]);
    assert!(resolved(&dst).contains("\"bills\""));
}
