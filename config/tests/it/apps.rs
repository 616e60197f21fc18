//! `apps:` entries: the SOFA preset expands into ordinary monitors (names,
//! columns, filters, keys, success rules), overrides and switched-off
//! kinds change exactly what they say, and every problem of an entry is
//! reported at the line and column where it was written.

use std::path::Path;

use vigil_config::presets::Preset;

use crate::{dedent, texts};
use vigil_config::{load_texts, AppSpec, Config, Error, Kind, LoadOptions, Monitor, Rule};

fn opts() -> LoadOptions {
    LoadOptions {
        default_timezone: chrono_tz::Asia::Shanghai,
        ..LoadOptions::default()
    }
}

fn ok(files: &[(&str, &str)]) -> Config {
    load_texts(&texts(files), &opts()).unwrap_or_else(|e| panic!("should load: {e}"))
}

/// Every diagnostic as `file:line:column: message`.
fn errors(files: &[(&str, &str)]) -> Vec<String> {
    match load_texts(&texts(files), &opts()) {
        Ok(_) => panic!("should fail"),
        Err(Error::Invalid(diags)) => diags.iter().map(|d| d.to_string()).collect(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn names(config: &Config) -> Vec<&str> {
    config.monitors.iter().map(|m| m.name.as_str()).collect()
}

fn column_names(m: &Monitor) -> Vec<&str> {
    m.columns.iter().map(|c| c.name.as_str()).collect()
}

/// `(column, values)` of a filter list.
fn filters(m: &Monitor, include: bool) -> Vec<(String, Vec<String>)> {
    let list = if include { &m.include } else { &m.exclude };
    list.iter()
        .map(|f| (m.columns[f.column].name.clone(), f.values.clone()))
        .collect()
}

/// The field index of a comma-split column.
fn field(m: &Monitor, name: &str) -> usize {
    let c = m
        .columns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{} has no column {name}", m.name));
    match &c.rule {
        Rule::Split { delimiter, index } => {
            assert_eq!(delimiter, b",", "{}.{name}", m.name);
            *index
        }
        other => panic!("{}.{name} is cut by {other:?}", m.name),
    }
}

const TRADECORE: &str = "
    apps:
      - name: tradecore
        preset: sofa
";

#[test]
fn the_sofa_preset_makes_a_production_and_a_stress_monitor_per_stat_log() {
    let config = ok(&[("/etc/vigil/apps.yaml", TRADECORE)]);
    assert_eq!(
        names(&config),
        [
            "tradecore_service",
            "tradecore_service_stress",
            "tradecore_sal",
            "tradecore_sal_stress",
            "tradecore_pv",
            "tradecore_pv_stress",
            "tradecore_dal",
            "tradecore_dal_stress",
            "tradecore_cal",
            "tradecore_cal_stress",
            "tradecore_msgpub",
            "tradecore_msgpub_stress",
            "tradecore_msgsub",
            "tradecore_msgsub_stress",
            "tradecore_error",
        ]
    );
    let app = &config.apps[0];
    assert_eq!(app.name, "tradecore");
    assert_eq!(app.preset, Preset::Sofa);
    assert_eq!(app.log_dir, Path::new("/home/admin/logs/tradecore"));
    assert_eq!(app.timezone, chrono_tz::Asia::Shanghai);
    assert_eq!(app.monitors, names(&config));
    for m in &config.monitors {
        assert_eq!(m.app.as_deref(), Some("tradecore"), "{}", m.name);
        let source = m.source.as_ref().unwrap();
        assert_eq!(source.timezone, chrono_tz::Asia::Shanghai, "{}", m.name);
        assert_eq!(m.key_limit, 10_000);
        assert_eq!(m.lateness_secs, 120);
        assert!(m.alerts.is_empty());
        let time = m.time.as_ref().unwrap();
        assert_eq!(m.columns[time.column].name, "time");
        assert_eq!(time.format, vigil_config::TimeFormat::Normal);
    }
    let path = |name: &str| {
        config
            .monitor(name)
            .unwrap()
            .source
            .as_ref()
            .unwrap()
            .paths
            .clone()
    };
    let root = Path::new("/home/admin/logs/tradecore");
    for (kind, file) in [
        ("service", "tracelog/rpc-server-stat.log"),
        ("sal", "tracelog/rpc-client-stat.log"),
        ("pv", "tracelog/sofa-mvc-stat.log"),
        ("dal", "tracelog/zdal-db-stat.log"),
        ("cal", "tracelog/zdal-tair-stat.log"),
        ("msgpub", "tracelog/msg-pub-stat.log"),
        ("msgsub", "tracelog/msg-sub-stat.log"),
    ] {
        let name = format!("tradecore_{kind}");
        assert_eq!(path(&name), [root.join(file)], "{name}");
        assert_eq!(path(&format!("{name}_stress")), [root.join(file)]);
        let production = config.monitor(&name).unwrap();
        let stress = config.monitor(&format!("{name}_stress")).unwrap();
        assert_eq!(
            filters(production, true),
            [("stress".into(), vec!["F".into()])]
        );
        assert_eq!(filters(stress, true), [("stress".into(), vec!["T".into()])]);
        assert!(production.exclude.is_empty() && stress.exclude.is_empty());
        assert_eq!(production.key_names(), stress.key_names());
        assert_eq!(column_names(production), column_names(stress));
        match &production.kind {
            Kind::ServiceMetrics(s) => {
                assert_eq!(production.columns[s.result].name, "result");
                assert_eq!(s.success, ["Y"]);
                assert_eq!(production.columns[s.count.unwrap()].name, "count");
                assert_eq!(production.columns[s.elapsed.unwrap()].name, "elapsed");
                assert_eq!(
                    production.columns[s.count.unwrap()].ty,
                    vigil_config::ColumnType::Int
                );
            }
            other => panic!("{name} is {other:?}"),
        }
        assert_eq!(
            production.value_names(),
            ["total", "success", "fail", "success_rate", "avg_latency"]
        );
    }
    assert_eq!(path("tradecore_error"), [root.join("common-error.log")]);
}

#[test]
fn columns_follow_the_field_orders_of_the_stat_logs() {
    let config = ok(&[("apps.yaml", TRADECORE)]);
    let m = |name: &str| config.monitor(&format!("tradecore_{name}")).unwrap();
    let fields = |name: &str| -> Vec<(String, usize)> {
        let m = m(name);
        column_names(m)
            .into_iter()
            .map(|c| (c.to_string(), field(m, c)))
            .collect()
    };
    let want = |list: &[(&str, usize)]| -> Vec<(String, usize)> {
        list.iter().map(|(n, i)| (n.to_string(), *i)).collect()
    };
    let rpc = |zone: &'static str| {
        want(&[
            ("time", 0),
            ("from_app", 1),
            ("to_app", 2),
            ("service", 3),
            ("method", 4),
            ("count", 5),
            ("elapsed", 6),
            ("result", 7),
            ("stress", 8),
            (zone, 9),
        ])
    };
    assert_eq!(fields("service"), rpc("caller_zone"));
    assert_eq!(fields("sal"), rpc("target_zone"));
    assert_eq!(
        fields("pv"),
        want(&[
            ("time", 0),
            ("app", 1),
            ("url", 2),
            ("http_method", 3),
            ("count", 4),
            ("elapsed", 5),
            ("code", 6),
            ("result", 6),
            ("stress", 7),
        ])
    );
    assert_eq!(
        fields("dal"),
        want(&[
            ("time", 0),
            ("app", 1),
            ("datasource", 2),
            ("database", 3),
            ("table", 4),
            ("db_type", 5),
            ("count", 6),
            ("elapsed", 7),
            ("result", 8),
            ("stress", 9),
        ])
    );
    assert_eq!(
        fields("cal"),
        want(&[
            ("time", 0),
            ("app", 1),
            ("cache", 2),
            ("count", 3),
            ("elapsed", 4),
            ("result", 5),
            ("stress", 6),
        ])
    );
    let msg = want(&[
        ("time", 0),
        ("app", 1),
        ("topic", 2),
        ("group", 3),
        ("count", 4),
        ("elapsed", 5),
        ("result", 6),
        ("stress", 7),
    ]);
    assert_eq!(fields("msgpub"), msg);
    assert_eq!(fields("msgsub"), msg);

    assert_eq!(m("service").key_names(), ["service", "method"]);
    assert_eq!(m("sal").key_names(), ["to_app", "service", "method"]);
    assert_eq!(m("pv").key_names(), ["url"]);
    assert_eq!(m("dal").key_names(), ["datasource", "table"]);
    assert_eq!(m("cal").key_names(), ["cache"]);
    assert_eq!(m("msgpub").key_names(), ["topic"]);
    assert_eq!(m("msgsub").key_names(), ["topic"]);
}

#[test]
fn page_views_succeed_on_1xx_2xx_and_302() {
    let config = ok(&[("apps.yaml", TRADECORE)]);
    let pv = config.monitor("tradecore_pv").unwrap();
    let result = pv.columns.iter().find(|c| c.name == "result").unwrap();
    let t = result.translate.as_ref().unwrap();
    for code in ["100", "101", "200", "204", "299", "302"] {
        assert_eq!(t.apply(code), "Y", "{code}");
    }
    for code in ["301", "304", "404", "500", "2000", "20", "", "abc"] {
        assert_eq!(t.apply(code), "N", "{code}");
    }
    // The code itself stays available for filters and keys.
    let code = pv.columns.iter().find(|c| c.name == "code").unwrap();
    assert!(code.translate.is_none());
}

#[test]
fn the_error_monitor_counts_events_with_their_stack_traces() {
    let config = ok(&[("apps.yaml", TRADECORE)]);
    assert!(config.monitor("tradecore_error_stress").is_none());
    let m = config.monitor("tradecore_error").unwrap();
    assert!(m.group_by.is_empty() && m.include.is_empty());
    assert_eq!(m.value_names(), ["count"]);
    let ml = m.source.as_ref().unwrap().multiline.as_ref().unwrap();
    assert!(ml
        .start
        .is_match("2026-11-20 10:00:00,000 ERROR [w] c.e.t.OrderService - x"));
    assert!(!ml
        .start
        .is_match("\tat c.e.t.OrderService.create(OrderService.java:88)"));
    assert!(!ml
        .start
        .is_match("java.net.SocketTimeoutException: Read timed out"));
    let Rule::Regex(time) = &m.columns[0].rule else {
        panic!("time is cut by {:?}", m.columns[0].rule);
    };
    let line = "2026-11-20 10:00:07,000 ERROR [trade-worker-1] c.e.t.OrderService - order 1001";
    assert_eq!(&time.captures(line).unwrap()[1], "2026-11-20 10:00:07,000");
}

#[test]
fn log_root_may_name_the_app_folder_and_is_relative_to_the_file() {
    let config = ok(&[(
        "/etc/vigil/apps.yaml",
        "
        apps:
          - name: tradecore
            preset: sofa
            log_root: /data/{app}/logs
          - name: paycore
            preset: sofa
            log_root: logs/
            timezone: Europe/Berlin
            ports: [12200, 8080]
        ",
    )]);
    assert_eq!(config.apps[0].log_dir, Path::new("/data/tradecore/logs"));
    let service = config.monitor("tradecore_service").unwrap();
    assert_eq!(
        service.source.as_ref().unwrap().paths,
        [Path::new(
            "/data/tradecore/logs/tracelog/rpc-server-stat.log"
        )]
    );
    let paycore = &config.apps[1];
    assert_eq!(paycore.log_dir, Path::new("/etc/vigil/logs/paycore"));
    assert_eq!(paycore.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(paycore.ports, [12200, 8080]);
    let error = config.monitor("paycore_error").unwrap();
    let source = error.source.as_ref().unwrap();
    assert_eq!(
        source.paths,
        [Path::new("/etc/vigil/logs/paycore/common-error.log")]
    );
    assert_eq!(source.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(config.monitors.len(), 30);
}

#[test]
fn kinds_are_switched_off_and_overridden_per_app() {
    let config = ok(&[(
        "/etc/vigil/apps.yaml",
        r#"
        apps:
          - name: tradecore
            preset: sofa
            monitors:
              pv: false
              cal: false
              msgpub: false
              msgsub: false
              error: true
              service:
                key_limit: 500
                lateness: 5m
                group_by: [from_app, service, method]
                exclude: { method: "health,ping" }
                include: { caller_zone: "RZ00B,GZ00B" }
                alerts:
                  - name: failing
                    conditions: [{ value: success_rate, fn: current, op: "<", threshold: 0.9 }]
              sal: { stress: false, paths: [/var/log/tradecore/*-client-stat.log] }
              dal: { group_by: [] }
        "#,
    )]);
    assert_eq!(
        names(&config),
        [
            "tradecore_service",
            "tradecore_service_stress",
            "tradecore_sal",
            "tradecore_dal",
            "tradecore_dal_stress",
            "tradecore_error",
        ]
    );
    assert_eq!(config.apps[0].monitors, names(&config));
    for name in ["tradecore_service", "tradecore_service_stress"] {
        let m = config.monitor(name).unwrap();
        assert_eq!(m.key_limit, 500);
        assert_eq!(m.lateness_secs, 300);
        assert_eq!(m.key_names(), ["from_app", "service", "method"]);
        assert_eq!(
            filters(m, false),
            [("method".into(), vec!["health".into(), "ping".into()])]
        );
        let flag = if name.ends_with("_stress") { "T" } else { "F" };
        assert_eq!(
            filters(m, true),
            [
                ("caller_zone".into(), vec!["RZ00B".into(), "GZ00B".into()]),
                ("stress".into(), vec![flag.into()]),
            ]
        );
    }
    // Alert rules watch production lines only.
    let service = config.monitor("tradecore_service").unwrap();
    assert_eq!(service.alerts.len(), 1);
    assert_eq!(service.alerts[0].name, "failing");
    assert!(config
        .monitor("tradecore_service_stress")
        .unwrap()
        .alerts
        .is_empty());
    let sal = config.monitor("tradecore_sal").unwrap();
    assert_eq!(
        sal.source.as_ref().unwrap().paths,
        [Path::new("/var/log/tradecore/*-client-stat.log")]
    );
    assert_eq!(filters(sal, true), [("stress".into(), vec!["F".into()])]);
    let dal = config.monitor("tradecore_dal").unwrap();
    assert!(dal.group_by.is_empty());
    assert_eq!(dal.key_limit, 10_000);
}

#[test]
fn app_monitors_live_beside_hand_written_ones() {
    let config = ok(&[
        ("a.yaml", TRADECORE),
        (
            "b.yaml",
            "
            monitors:
              - name: tradecore_orders
                kind: minute_stat
                app: tradecore
                source: { paths: [trade.log] }
                time: { column: time, format: normal }
                columns:
                  time: { split: \",\", index: 0 }
                stats: [count]
              - name: rolled
                kind: archive
                archive: { of: tradecore_service }
            ",
        ),
    ]);
    assert_eq!(config.monitors.len(), 17);
    assert!(config.monitor("tradecore_orders").is_some());
    assert_eq!(config.apps.len(), 1);
}

#[test]
fn monitor_specs_write_out_what_validation_loads() {
    let yaml = dedent(
        "
        name: tradecore
        preset: sofa
        log_root: /logs
        monitors: { pv: false, service: { stress: false } }
        ",
    );
    let spec: AppSpec = serde_yaml_ng::from_str(&yaml).unwrap();
    let specs = spec.monitor_specs();
    let spec_names: Vec<&str> = specs.iter().map(|m| m.name.as_str()).collect();
    let config = ok(&[("apps.yaml", &format!("apps:\n{}", textwrap_list(&yaml)))]);
    assert_eq!(spec_names, names(&config));
    assert_eq!(
        specs[0].source.as_ref().unwrap().paths,
        ["/logs/tradecore/tracelog/rpc-server-stat.log"]
    );
    // An entry survives a write and a read unchanged.
    let text = serde_yaml_ng::to_string(&spec).unwrap();
    let back: AppSpec = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(serde_yaml_ng::to_string(&back).unwrap(), text);
    let unknown = AppSpec {
        preset: "spring".into(),
        ..spec
    };
    assert!(unknown.monitor_specs().is_empty());
}

/// `text` as the first item of a YAML list, indented by two spaces.
fn textwrap_list(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| format!("{}{l}\n", if i == 0 { "  - " } else { "    " }))
        .collect()
}

#[test]
fn problems_are_reported_where_the_entry_wrote_them() {
    let got = errors(&[(
        "apps.yaml",
        r#"
        apps:
          - name: TradeCore
            preset: sofa
          - name: paycore
            preset: spring
            timezone: Mars/Base
            ports: [0, 8080, 8080]
          - name: billing
            preset: sofa
            log_root: ""
            monitors:
              rpc: false
              service:
                key_limit: 0
                group_by: [service, nope]
                include: { stress: T }
                exclude: { zone: RZ00B }
                alerts:
                  - name: slow
                    conditions: [{ value: avg_elapsed, fn: current, op: ">", threshold: 100 }]
              error: { stress: false, paths: [] }
          - name: billing
            preset: sofa
        "#,
    )]);
    let want = [
        "apps.yaml:2:11: app name `TradeCore` must be lowercase letters, digits and `_` only: it starts its monitors' names (e.g. `tradecore_service`)",
        "apps.yaml:5:13: unknown preset `spring`; use one of: sofa",
        "apps.yaml:6:15: unknown timezone `Mars/Base`; use an IANA name such as Asia/Shanghai, Europe/Berlin or UTC",
        "apps.yaml:7:13: port 0 is no port; use 1 to 65535",
        "apps.yaml:7:22: port 8080 is listed twice",
        "apps.yaml:10:15: log_root is empty: name the folder of the logs, e.g. /home/admin/logs, or leave it out",
        "apps.yaml:12:7: unknown monitor kind `rpc` of preset sofa; kinds: service, sal, pv, dal, cal, msgpub, msgsub, error",
        "apps.yaml:16:20: the preset splits lines by their stress flag itself (production lines in `billing_service`, stress tests in `billing_service_stress`): remove `stress` here; `stress: false` drops the stress monitor",
        "apps.yaml:21:16: the error log has no stress flag, so there is no stress monitor to switch: remove `stress`",
        "apps.yaml:21:38: paths is empty: list at least one file, or leave `paths` out to read common-error.log",
        "apps.yaml:22:11: duplicate app `billing` (first at apps.yaml:8); an application has one `apps:` entry",
    ];
    assert_eq!(got, want, "\n{}", got.join("\n"));

    // Once the entry itself is sound, its monitors are validated like
    // hand-written ones, at the override that caused the problem.
    let got = errors(&[(
        "apps.yaml",
        r#"
        apps:
          - name: billing
            preset: sofa
            monitors:
              service:
                key_limit: 0
                group_by: [service, nope]
                exclude: { zone: RZ00B }
              pv:
                alerts:
                  - name: slow
                    conditions: [{ value: avg_elapsed, fn: current, op: ">", threshold: 100 }]
        "#,
    )]);
    let columns =
        "time, from_app, to_app, service, method, count, elapsed, result, stress, caller_zone";
    assert_eq!(got.len(), 4, "\n{}", got.join("\n"));
    assert_eq!(got[0], "apps.yaml:6:20: key_limit must be at least 1");
    assert_eq!(
        got[1],
        format!("apps.yaml:7:29: unknown column `nope` in group_by; defined columns: {columns}")
    );
    assert_eq!(
        got[2],
        format!("apps.yaml:8:26: unknown column `zone` in exclude; defined columns: {columns}")
    );
    assert_eq!(
        got[3],
        "apps.yaml:12:35: unknown value `avg_elapsed` of monitor `billing_pv`; its values: total, success, fail, success_rate, avg_latency"
    );
}

#[test]
fn a_preset_monitor_name_taken_by_another_monitor_is_reported() {
    let got = errors(&[
        (
            "a.yaml",
            "
            monitors:
              - name: tradecore_pv
                kind: minute_stat
                source: { paths: [x.log] }
                time: { column: time, format: normal }
                columns: { time: { split: \",\", index: 0 } }
                stats: [count]
            ",
        ),
        (
            "b.yaml",
            "
            apps:
              - name: tradecore
                preset: sofa
                monitors:
                  pv: { key_limit: 10 }
            ",
        ),
    ]);
    assert_eq!(
        got,
        ["b.yaml:5:13: duplicate monitor name `tradecore_pv` (first defined at a.yaml:2); monitor names must be unique across all files"]
    );
}

#[test]
fn unknown_settings_are_refused_at_their_key() {
    let got = errors(&[(
        "apps.yaml",
        "
        monitors: []
        apps:
          - name: tradecore
            preset: sofa
            monitors:
              service: { key_limt: 5 }
          - name: paycore
            preset: sofa
            monitors: { pv: maybe }
        ",
    )]);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(
        got[0].starts_with(
            "apps.yaml:6:18: app 1: unknown field `key_limt`, expected one of `paths`"
        ),
        "{got:#?}"
    );
    assert!(got[1].starts_with("apps.yaml:7:5: app 2: "), "{got:#?}");
    assert!(
        got[1].contains("`false` (off), `true` (on), or a map of settings"),
        "{got:#?}"
    );
}

#[test]
fn the_schema_documents_apps() {
    let text = serde_json::to_string(&vigil_config::json_schema()).unwrap();
    for field in ["apps", "preset", "log_root", "ports", "key_limit", "stress"] {
        assert!(text.contains(field), "schema lacks {field}");
    }
}
