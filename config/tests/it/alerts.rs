//! Alert rules and the notification section: a full example resolves to the
//! expected values, every problem is reported at its line and column with
//! advice, and the default rule pack is on, can be switched off and
//! overridden.

use std::cell::RefCell;
use std::path::PathBuf;

use vigil_config::alert::*;
use vigil_config::{load_texts, Config, Error, LoadOptions};

use crate::{dedent, texts};

fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{}{l}\n", " ".repeat(by))
            }
        })
        .collect()
}

thread_local! {
    /// The texts last loaded, to show a failing position in its line.
    static LOADED: RefCell<Vec<(PathBuf, String)>> = const { RefCell::new(Vec::new()) };
}

fn load(files: &[(&str, &str)]) -> Result<Config, Error> {
    let texts = texts(files);
    LOADED.with(|l| *l.borrow_mut() = texts.clone());
    load_texts(&texts, &LoadOptions::default())
}

/// The line an error (`file:line:column: …`) points at, with a caret.
fn show(error: &str) -> String {
    let mut parts = error.splitn(4, ':');
    let (Some(file), Some(line), Some(col)) = (parts.next(), parts.next(), parts.next()) else {
        return String::new();
    };
    let (Ok(line), Ok(col)) = (line.parse::<usize>(), col.parse::<usize>()) else {
        return String::new();
    };
    LOADED.with(|l| {
        l.borrow()
            .iter()
            .find(|(p, _)| p.to_str() == Some(file))
            .and_then(|(_, text)| text.lines().nth(line - 1))
            .map(|text| {
                let pad: String = text.chars().take(col - 1).map(|_| ' ').collect();
                format!("\n  {text}\n  {pad}^")
            })
            .unwrap_or_default()
    })
}

fn ok(files: &[(&str, &str)]) -> Config {
    load(files).unwrap_or_else(|e| panic!("should load: {e}"))
}

/// Every diagnostic as `file:line:column: message`.
fn errors(files: &[(&str, &str)]) -> Vec<String> {
    match load(files) {
        Ok(_) => panic!("should fail"),
        Err(Error::Invalid(d)) => d.iter().map(|d| d.to_string()).collect(),
        Err(e) => panic!("unexpected {e}"),
    }
}

/// Asserts exactly one diagnostic, at `file:line:column`, whose message
/// contains every one of `says`.
#[track_caller]
fn one(errors: Vec<String>, at: &str, says: &[&str]) {
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert!(
        e.starts_with(&format!("{at}: ")),
        "{e}{}\n  expected at {at}",
        show(e)
    );
    for s in says {
        assert!(e.contains(s), "{e}\n  lacks {s:?}");
    }
}

/// A valid keyed service_metrics monitor; its `alerts:` key is on line 14,
/// so the first rule appended by [`rules`] starts on line 15, column 7.
const MONITOR: &str = r#"
monitors:
  - name: rpc
    kind: service_metrics
    source: { paths: [rpc.log], timezone: Asia/Shanghai }
    time: { column: time, format: normal }
    columns:
      time: { split: ",", index: 0 }
      service: { split: ",", index: 1 }
      method: { split: ",", index: 2 }
      result: { split: ",", index: 3 }
      elapsed: { split: ",", index: 4, type: int }
    group_by: [service, method]
    service: { result: result, elapsed: elapsed }
    alerts:
"#;

/// [`MONITOR`] with these rules (written from column 1) under its `alerts:`.
fn rules(body: &str) -> String {
    format!("{}{}", dedent(MONITOR), indent(&dedent(body), 6))
}

/// Errors of [`MONITOR`] with these rules, in file `a.yaml`.
fn rule_errors(body: &str) -> Vec<String> {
    errors(&[("a.yaml", &rules(body))])
}

/// Errors of a file holding only this `notification:` section (its
/// first entry is on line 2, column 3).
fn notification_errors(body: &str) -> Vec<String> {
    let text = format!("notification:\n{}", indent(&dedent(body), 2));
    errors(&[("n.yaml", &text)])
}

const FULL: &str = r#"
monitors:
  - name: rpc_service
    kind: service_metrics
    source: { paths: [rpc.log], timezone: Asia/Shanghai }
    time: { column: time, format: normal }
    columns:
      time: { split: ",", index: 0 }
      service: { split: ",", index: 1 }
      method: { split: ",", index: 2 }
      result: { split: ",", index: 3 }
    group_by: [service, method]
    service: { result: result }
    alerts:
      - name: success_rate_low
        level: P1
        every: 1
        keys: { method: [create, pay], service: "*" }
        match: any
        conditions:
          - { value: success_rate, fn: current, op: "<", threshold: { im: 0.95, sms: 0.90 } }
          - { value: total, fn: sum_last, n: 5, op: ">", threshold: { webhook: 1000 } }
        active: ["08:00-20:00", "22:00-06:00"]
        notify: [oncall, ops]
        title: "Success rate low"
        text: "{{service}} fails for {{user}}"
        extract: 'user=(?P<user>\w+)'
        emergency: "Call the on-call phone"
        link: "http://wiki/runbook"
        attach: 3
      - name: silent
        every: 60
        match: all
        timezone: Europe/Berlin
        conditions:
          - { fn: nodata, op: ">=", threshold: { webhook: 5 } }
          - { value: total, fn: dod, op: "<", threshold: -50 }
  - name: slow
    kind: minute_top
    source: { paths: [rpc.log] }
    time: { column: time, format: normal }
    columns:
      time: { split: ",", index: 0 }
      method: { split: ",", index: 2 }
      elapsed: { split: ",", index: 4, type: int }
    group_by: [method]
    stats: [count, { avg: elapsed }]
    top: { by: avg_elapsed, n: 5 }
    alerts:
      - name: many_slow
        keys: { method: create }
        conditions:
          - { value: avg_elapsed, fn: count_above, over: 1000, op: ">", threshold: 3 }
alerts:
  rules:
    - monitor: jvm
      name: gc_heavy
      level: P3
      keys: { instance: "*", main_class: "*" }
      conditions:
        - { value: gc_time, fn: avg_last, n: 10, op: ">", threshold: 500 }
"#;

const NOTIFICATION: &str = r#"
notification:
  contacts:
    - { name: alice, email: alice@example.com, phone: "+8613800000000" }
    - { name: 张三, phone: 13900000000 }
  groups:
    - { name: oncall, contacts: [alice, 张三], robots: [{ url: "https://oapi.example.com/robot/send?access_token=x", secret: SECabc }] }
  webhooks:
    - name: ops
      url: http://127.0.0.1:9000/hook
      secret: s3cret
      access_key: key1
      headers: { X-A: b, X-N: 1 }
      global: true
      format: alertmanager
  subscriptions:
    - { who: oncall, levels: [P1, P0, P2] }
    - { who: ops, levels: [all], throttle: false }
  channels:
    email: { host: 127.0.0.1, port: 2525, tls: starttls, from: vigil@example.com, username: u, password: p }
    sms: { url: "http://127.0.0.1:9001/send", method: post, body: "{\"to\":\"{{phone}}\",\"text\":\"{{text}}\"}", headers: { Authorization: Bearer x } }
  dashboard_url: "http://127.0.0.1:8686"
"#;

#[test]
fn a_full_example_resolves_every_field() {
    let config = ok(&[("a.yaml", FULL), ("b.yaml", NOTIFICATION)]);
    let m = config.monitor("rpc_service").unwrap();
    assert_eq!(m.alerts.len(), 2);
    let r = &m.alerts[0];
    assert_eq!(r.id(), "rpc_service/success_rate_low");
    assert_eq!(r.level, Level::P1);
    assert_eq!(r.every, 1);
    // In the monitor's key order, whatever order they were written in.
    assert_eq!(
        r.keys,
        vec![
            ("service".to_string(), KeySelector::Each),
            (
                "method".to_string(),
                KeySelector::Values(vec!["create".into(), "pay".into()])
            ),
        ]
    );
    assert_eq!(r.matching, Match::Any);
    assert_eq!(r.conditions.len(), 2);
    let c = &r.conditions[0];
    assert_eq!(c.value, "success_rate");
    assert_eq!(c.func, ValueFn::Current);
    assert_eq!(c.op, Op::Lt);
    assert_eq!(
        c.thresholds
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect::<Vec<_>>(),
        vec![(Channel::Im, 0.95), (Channel::Sms, 0.90)]
    );
    let c = &r.conditions[1];
    assert_eq!(c.func, ValueFn::SumLast(5));
    assert_eq!(c.op, Op::Gt);
    assert_eq!(c.thresholds.get(&Channel::Webhook), Some(&1000.0));
    assert_eq!(c.describe(), "sum_last(5) of total >");
    assert_eq!(
        r.active,
        vec![
            TimeWindow {
                start_minute: 480,
                end_minute: 1200
            },
            TimeWindow {
                start_minute: 1320,
                end_minute: 360
            }
        ]
    );
    // The source's timezone by default.
    assert_eq!(r.timezone, chrono_tz::Asia::Shanghai);
    assert_eq!(r.notify, vec!["oncall", "ops"]);
    assert_eq!(r.message.title.as_deref(), Some("Success rate low"));
    assert_eq!(
        r.message.text.as_deref(),
        Some("{{service}} fails for {{user}}")
    );
    let caps = r
        .message
        .extract
        .as_ref()
        .unwrap()
        .captures("user=bob x")
        .unwrap();
    assert_eq!(&caps["user"], "bob");
    assert_eq!(
        r.message.emergency.as_deref(),
        Some("Call the on-call phone")
    );
    assert_eq!(r.message.link.as_deref(), Some("http://wiki/runbook"));
    assert_eq!(r.message.attach, 3);

    let r = &m.alerts[1];
    assert_eq!(r.level, Level::P2);
    assert_eq!(r.every, 60);
    assert!(r.keys.is_empty());
    assert_eq!(r.matching, Match::All);
    assert_eq!(r.timezone, chrono_tz::Europe::Berlin);
    assert!(r.active.is_empty());
    assert_eq!(r.message.attach, 5);
    assert_eq!(r.conditions[0].func, ValueFn::NoData);
    assert_eq!(r.conditions[0].value, "");
    assert_eq!(r.conditions[1].func, ValueFn::Dod);
    // A single number is every channel's threshold.
    assert_eq!(r.conditions[1].thresholds.len(), 4);
    assert!(r.conditions[1].thresholds.values().all(|v| *v == -50.0));

    let slow = &config.monitor("slow").unwrap().alerts[0];
    assert_eq!(slow.conditions[0].func, ValueFn::CountAbove(1000.0));
    assert_eq!(
        slow.keys,
        vec![(
            "method".to_string(),
            KeySelector::Values(vec!["create".into()])
        )]
    );
    // A source without a timezone: the machine's (UTC in LoadOptions::default).
    assert_eq!(slow.timezone, chrono_tz::UTC);

    let gc = config
        .builtin_alerts
        .iter()
        .find(|r| r.id() == "jvm/gc_heavy")
        .unwrap();
    assert_eq!(gc.level, Level::P3);
    assert_eq!(gc.conditions[0].func, ValueFn::AvgLast(10));
    assert_eq!(gc.keys[1], ("main_class".to_string(), KeySelector::Each));
    assert_eq!(gc.timezone, chrono_tz::UTC);

    let n = &config.notification;
    assert_eq!(
        n.contact("alice"),
        Some(&Contact {
            name: "alice".into(),
            email: Some("alice@example.com".into()),
            phone: Some("+8613800000000".into()),
        })
    );
    assert_eq!(
        n.contact("张三").unwrap().phone.as_deref(),
        Some("13900000000")
    );
    let g = n.group("oncall").unwrap();
    assert_eq!(g.contacts, vec!["alice", "张三"]);
    assert_eq!(g.robots[0].secret.as_deref(), Some("SECabc"));
    assert_eq!(
        n.webhook("ops"),
        Some(&Webhook {
            name: "ops".into(),
            url: "http://127.0.0.1:9000/hook".into(),
            headers: vec![("X-A".into(), "b".into()), ("X-N".into(), "1".into())],
            access_key: Some("key1".into()),
            secret: Some("s3cret".into()),
            global: true,
            format: WebhookFormat::Alertmanager,
        })
    );
    assert_eq!(
        n.subscriptions,
        vec![
            Subscription {
                who: "oncall".into(),
                levels: vec![Level::P0, Level::P1, Level::P2],
                throttle: true,
            },
            Subscription {
                who: "ops".into(),
                levels: Level::ALL.to_vec(),
                throttle: false,
            },
        ]
    );
    assert_eq!(
        n.email,
        Some(EmailChannel {
            host: "127.0.0.1".into(),
            port: 2525,
            tls: SmtpTls::Starttls,
            from: "vigil@example.com".into(),
            username: Some("u".into()),
            password: Some("p".into()),
        })
    );
    let sms = n.sms.as_ref().unwrap();
    assert_eq!(sms.method, "POST");
    assert_eq!(sms.body, r#"{"to":"{{phone}}","text":"{{text}}"}"#);
    assert_eq!(
        sms.headers,
        vec![("Authorization".into(), "Bearer x".into())]
    );
    assert_eq!(n.dashboard_url.as_deref(), Some("http://127.0.0.1:8686"));
}

#[test]
fn email_port_defaults_follow_tls() {
    for (tls, port) in [("none", 25), ("starttls", 587), ("tls", 465)] {
        let text = format!(
            "notification:\n  channels:\n    email: {{ host: smtp.example.com, tls: {tls}, from: v@example.com }}\n"
        );
        let config = ok(&[("n.yaml", &text)]);
        assert_eq!(config.notification.email.unwrap().port, port);
    }
}

// ---- the default rule pack ----

#[test]
fn the_default_pack_is_on_by_default() {
    let config = ok(&[("a.yaml", "monitors: []\n")]);
    let ids: Vec<String> = config.builtin_alerts.iter().map(AlertRule::id).collect();
    assert_eq!(
        ids,
        [
            "system/cpu_util_high",
            "system/mem_util_high",
            "system/partition_util_high",
            "agents/agent_lost",
            "agents/agent_clock_skew",
            "port/port_down"
        ]
    );
    let cpu = &config.builtin_alerts[0];
    assert_eq!(cpu.level, Level::P1);
    assert_eq!(cpu.keys, vec![("instance".to_string(), KeySelector::Each)]);
    assert_eq!(cpu.conditions[0].value, "cpu_util");
    assert_eq!(cpu.conditions[0].func, ValueFn::MinLast(3));
    assert_eq!(cpu.conditions[0].op, Op::Gt);
    assert!(cpu.conditions[0].thresholds.len() == 4);
    assert!(cpu.conditions[0].thresholds.values().all(|v| *v == 90.0));
    let part = &config.builtin_alerts[2];
    assert_eq!(part.keys.len(), 2);
    let port = &config.builtin_alerts[5];
    assert_eq!(port.level, Level::P0);
    assert_eq!(port.conditions[0].op, Op::Lt);
    assert_eq!(
        port.keys
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        ["instance", "app", "target"]
    );
}

#[test]
fn the_default_pack_can_be_switched_off() {
    let config = ok(&[
        ("a.yaml", "alerts: { defaults: false }\n"),
        ("b.yaml", "monitors: []\n"),
    ]);
    assert!(config.builtin_alerts.is_empty());
    // User rules stay when the pack is off.
    let config = ok(&[(
        "a.yaml",
        r#"
        alerts:
          defaults: false
          rules:
            - { monitor: port, name: probe_down, conditions: [{ value: up, fn: current, op: "<", threshold: 1 }] }
        "#,
    )]);
    let ids: Vec<String> = config.builtin_alerts.iter().map(AlertRule::id).collect();
    assert_eq!(ids, ["port/probe_down"]);
}

#[test]
fn a_user_rule_replaces_the_default_rule_of_that_name() {
    let config = ok(&[
        (
            "a.yaml",
            r#"
            alerts:
              rules:
                - monitor: system
                  name: cpu_util_high
                  level: P3
                  keys: { instance: web1 }
                  conditions:
                    - { value: cpu_util, fn: avg_last, n: 10, op: ">", threshold: { im: 95 } }
            "#,
        ),
        (
            "b.yaml",
            r#"
            alerts:
              rules:
                - { monitor: agents, name: extra, conditions: [{ fn: nodata, op: ">=", threshold: 3 }] }
            "#,
        ),
    ]);
    let ids: Vec<String> = config.builtin_alerts.iter().map(AlertRule::id).collect();
    // In the default rule's place; other user rules after the pack.
    assert_eq!(ids.len(), 7);
    assert_eq!(ids[0], "system/cpu_util_high");
    assert_eq!(ids[6], "agents/extra");
    let cpu = &config.builtin_alerts[0];
    assert_eq!(cpu.level, Level::P3);
    assert_eq!(cpu.conditions[0].func, ValueFn::AvgLast(10));
    assert_eq!(
        cpu.keys,
        vec![(
            "instance".to_string(),
            KeySelector::Values(vec!["web1".into()])
        )]
    );
}

// ---- rule errors, each at its line and column ----

#[test]
fn unknown_value_lists_the_monitors_values() {
    one(
        rule_errors(
            r#"
            - name: r
              conditions:
                - { value: nope, fn: current, op: ">", threshold: 1 }
            "#,
        ),
        "a.yaml:17:22",
        &[
            "unknown value `nope` of monitor `rpc`",
            "its values: total, success, fail, success_rate, avg_latency",
        ],
    );
}

#[test]
fn unknown_key_column_lists_group_by() {
    one(
        rule_errors(
            r#"
            - name: r
              keys: { host: "*" }
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:17",
        &[
            "unknown key column `host`",
            "key columns of monitor `rpc`: service, method",
        ],
    );
}

#[test]
fn key_lists_must_not_be_empty_or_mix_star() {
    one(
        rule_errors(
            r#"
            - name: r
              keys: { service: [] }
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:26",
        &["selects no `service`"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              keys: { service: [a, "*"] }
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:26",
        &["\"*\" already selects every `service`"],
    );
}

#[test]
fn unknown_fn_op_channel_level_match() {
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: median, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:42",
        &["unknown fn `median`", "current, mom, dod, wow, sum_last"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: current, op: "=>", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:55",
        &["unknown op `=>`", ">, >=, <, <=, ==, !="],
    );
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: current, op: ">", threshold: { im: 1, fax: 2 } }]
            "#,
        ),
        "a.yaml:16:80",
        &["unknown channel `fax`", "im, sms, email or webhook"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              level: P5
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:16",
        &["unknown level `P5`", "P0 (most urgent)"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              match: most
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:16",
        &["unknown match `most`", "`any`", "`all`"],
    );
}

#[test]
fn n_is_needed_by_the_last_functions_and_forbidden_elsewhere() {
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: sum_last, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:42",
        &["`sum_last` needs `n`", "n: 5"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: avg_last, n: 1441, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:55",
        &["n: 1441 is out of range", "1 to 1440"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: sum_last_vs_prev, n: 0, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:63",
        &["n: 0 is out of range"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: current, n: 3, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:51",
        &[
            "`n` only applies to sum_last",
            "not to `current`: remove it",
        ],
    );
}

#[test]
fn over_belongs_to_count_above_on_top_monitors() {
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: current, over: 3, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:51",
        &["`over` only applies to count_above"],
    );
    let e = rule_errors(
        r#"
        - name: r
          conditions: [{ value: total, fn: count_above, op: ">", threshold: 1 }]
        "#,
    );
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("a.yaml:16:42: count_above needs `over`"),
        "{e:#?}"
    );
    assert!(
        e[1].starts_with("a.yaml:16:42: count_above counts the keys or records")
            && e[1].contains("minute_top and record_top monitors, which `rpc` is not"),
        "{e:#?}"
    );
}

#[test]
fn value_is_needed_except_by_nodata() {
    one(
        rule_errors(
            r#"
            - name: r
              conditions:
                - { fn: current, op: ">", threshold: 1 }
            "#,
        ),
        "a.yaml:17:15",
        &["the condition needs `value`: one of total, success"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              conditions:
                - { value: total, fn: nodata, op: ">=", threshold: 5 }
            "#,
        ),
        "a.yaml:17:15",
        &["`nodata` counts minutes without lines and takes no `value`: remove it"],
    );
}

#[test]
fn every_must_divide_a_day() {
    for (every, col) in [("7", 16), ("0", 16), ("2880", 16), ("-5", 16)] {
        one(
            rule_errors(&format!(
                r#"
                - name: r
                  every: {every}
                  conditions: [{{ value: total, fn: current, op: ">", threshold: 1 }}]
                "#
            )),
            &format!("a.yaml:16:{col}"),
            &[
                &format!("every: {every} is not a check frequency"),
                "divides a day",
            ],
        );
    }
    for every in [1, 5, 15, 60, 720, 1440] {
        ok(&[(
            "a.yaml",
            &rules(&format!(
                "- name: r\n  every: {every}\n  conditions: [{{ value: total, fn: current, op: \">\", threshold: 1 }}]\n"
            )),
        )]);
    }
}

#[test]
fn windows_timezone_and_extract_are_checked() {
    one(
        rule_errors(
            r#"
            - name: r
              active: ["08:00-20:00", "8-20"]
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:33",
        &["invalid window `8-20`", "HH:MM-HH:MM"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              active: ["09:00-09:00"]
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:18",
        &["window `09:00-09:00` is empty"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              timezone: Mars/Olympus
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:19",
        &["unknown timezone `Mars/Olympus`", "IANA"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              extract: "user=(?P<user"
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:18",
        &["invalid regex `user=(?P<user`", "fix the pattern"],
    );
    one(
        rule_errors(
            r#"
            - name: r
              extract: "user=(\\w+)"
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:18",
        &["has no named group", "(?P<user>"],
    );
}

#[test]
fn rule_names_are_words_unique_within_a_monitor() {
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            - name: r
              conditions: [{ value: fail, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:17:15",
        &["duplicate rule name `r` in monitor `rpc` (first at line 15)"],
    );
    one(
        rule_errors(
            r#"
            - name: 1st/rule
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:15:15",
        &["rule name `1st/rule` must start with a letter"],
    );
    one(
        rule_errors("- name: r\n"),
        "a.yaml:15:15",
        &["rule `r` has no conditions"],
    );
}

#[test]
fn a_threshold_must_be_a_number_or_a_channel_map() {
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: current, op: ">", threshold: {} }]
            "#,
        ),
        "a.yaml:16:71",
        &["empty threshold"],
    );
    // A shape error: reported at the monitor, with what is expected.
    one(
        rule_errors(
            r#"
            - name: r
              conditions: [{ value: total, fn: current, op: ">", threshold: high }]
            "#,
        ),
        "a.yaml:2:5",
        &[
            "monitor 1:",
            "a number (the threshold of every channel) or a map of channel to number",
        ],
    );
}

#[test]
fn unknown_fields_of_a_rule_are_placed_at_the_field() {
    one(
        rule_errors(
            r#"
            - name: r
              thresh: 1
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:9",
        &["monitor 1: unknown field `thresh`", "`conditions`"],
    );
}

#[test]
fn a_monitor_rule_names_no_monitor_and_archives_have_no_rules() {
    one(
        rule_errors(
            r#"
            - name: r
              monitor: rpc
              conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
            "#,
        ),
        "a.yaml:16:9",
        &["`monitor` only belongs to rules under the top-level `alerts:`"],
    );
    let text = format!(
        "{}  - name: arch\n    kind: archive\n    archive: {{ of: rpc }}\n    alerts:\n      - {{ name: r, conditions: [{{ value: total, fn: current, op: \">\", threshold: 1 }}] }}\n",
        rules("- { name: ok, conditions: [{ value: total, fn: current, op: \">\", threshold: 1 }] }")
    );
    one(
        errors(&[("a.yaml", &text)]),
        "a.yaml:19:5",
        &["an archive monitor has no alert rules; put them on monitor `rpc`"],
    );
}

#[test]
fn notify_must_name_a_group_or_webhook() {
    let rule = r#"
        - name: r
          notify: [oncall, alice, nobody]
          conditions: [{ value: total, fn: current, op: ">", threshold: 1 }]
    "#;
    let notification = r#"
        notification:
          contacts: [{ name: alice, email: alice@example.com }]
          groups: [{ name: oncall, contacts: [alice] }]
          webhooks: [{ name: ops, url: "http://127.0.0.1:9000/hook" }]
          channels: { email: { host: localhost, from: v@example.com } }
    "#;
    let e = errors(&[("a.yaml", &rules(rule)), ("b.yaml", notification)]);
    assert_eq!(
        e,
        vec![
            "a.yaml:16:26: notify names contact `alice`, but notify takes groups and webhooks: put the contact in a group and name the group",
            "a.yaml:16:33: notify names `nobody`, which is no group or webhook; defined groups: oncall; webhooks: ops",
        ]
    );
    let e = rule_errors(rule);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert_eq!(
        e[0],
        "a.yaml:16:18: notify names `oncall`, but no file has a `notification:` section: define group or webhook `oncall` there"
    );
}

// ---- built-in monitors ----

#[test]
fn builtin_rules_name_a_builtin_monitor_and_its_keys() {
    one(
        errors(&[(
            "a.yaml",
            r#"
            alerts:
              rules:
                - { monitor: disk, name: r, conditions: [{ value: x, fn: current, op: ">", threshold: 1 }] }
            "#,
        )]),
        "a.yaml:3:18",
        &["`disk` is not a built-in monitor; use one of system, jvm, port, agents"],
    );
    one(
        errors(&[(
            "a.yaml",
            r#"
            alerts:
              rules:
                - { name: r, conditions: [{ value: x, fn: current, op: ">", threshold: 1 }] }
            "#,
        )]),
        "a.yaml:3:9",
        &["rule `r` names no monitor: add `monitor:`"],
    );
    one(
        errors(&[(
            "a.yaml",
            r#"
            alerts:
              rules:
                - monitor: jvm
                  name: r
                  keys: { partition: "*" }
                  conditions: [{ value: heap_used, fn: current, op: ">", threshold: 1 }]
            "#,
        )]),
        "a.yaml:5:15",
        &[
            "unknown key column `partition`",
            "key columns of monitor `jvm`: instance, pid, main_class",
        ],
    );
    one(
        errors(&[(
            "a.yaml",
            r#"
            alerts:
              rules:
                - monitor: system
                  name: r
                  conditions: [{ value: "cpu util", fn: current, op: ">", threshold: 1 }]
            "#,
        )]),
        "a.yaml:5:29",
        &["value `cpu util` must be a word of letters, digits and `_`"],
    );
}

#[test]
fn builtin_rule_names_are_unique_across_files() {
    let rule = r#"
        alerts:
          rules:
            - { monitor: port, name: r, conditions: [{ value: up, fn: current, op: "<", threshold: 1 }] }
    "#;
    one(
        errors(&[("a.yaml", rule), ("b.yaml", rule)]),
        "b.yaml:3:30",
        &["duplicate rule `port/r` (first at a.yaml:3)"],
    );
}

// ---- notification errors ----

#[test]
fn a_second_notification_section_is_an_error() {
    let n = "notification:\n  webhooks: [{ name: ops, url: \"http://h/\" }]\n";
    one(
        errors(&[("a.yaml", n), ("b.yaml", n)]),
        "b.yaml:1:1",
        &["a second `notification:` section (the first is at a.yaml:1)"],
    );
}

#[test]
fn contact_names_follow_design_7() {
    for (name, col) in [("a", 15), ("9lives", 15), ("bob-smith", 15), ("_x", 15)] {
        one(
            notification_errors(&format!(
                "contacts:\n  - {{ name: {name}, email: x@example.com }}\n"
            )),
            &format!("n.yaml:3:{col}"),
            &[
                &format!("contact name `{name}` must be 2 to 40 characters"),
                "a letter or CJK character first",
            ],
        );
    }
    ok(&[(
        "n.yaml",
        "notification:\n  contacts: [{ name: 王五.ops_2, email: w@example.com }]\n",
    )]);
}

#[test]
fn a_contact_needs_a_unique_phone_or_email_of_the_right_shape() {
    one(
        notification_errors("contacts:\n  - { name: alice }\n"),
        "n.yaml:3:9",
        &["contact `alice` cannot be reached: add `email:`, `phone:` or both"],
    );
    one(
        notification_errors("contacts:\n  - { name: alice, email: alice.example.com }\n"),
        "n.yaml:3:29",
        &["invalid email address `alice.example.com`"],
    );
    one(
        notification_errors("contacts:\n  - { name: alice, phone: 138-0000 }\n"),
        "n.yaml:3:29",
        &[
            "invalid phone `138-0000`",
            "optional `+` then 5 to 20 digits",
        ],
    );
    one(
        notification_errors(
            r#"
            contacts:
              - { name: alice, email: a@example.com, phone: "+861380" }
              - { name: bob, email: A@Example.com }
            "#,
        ),
        "n.yaml:4:27",
        &["email `A@Example.com` already belongs to contact `alice`"],
    );
    one(
        notification_errors(
            r#"
            contacts:
              - { name: alice, phone: "+861380" }
              - { name: bob, phone: "+861380" }
            "#,
        ),
        "n.yaml:4:27",
        &["phone `+861380` already belongs to contact `alice`"],
    );
}

#[test]
fn names_are_unique_across_contacts_groups_and_webhooks() {
    one(
        notification_errors(
            r#"
            contacts: [{ name: ops, phone: "12345" }]
            groups: [{ name: ops, contacts: [ops] }]
            channels: { sms: { url: "http://h/send?to={{phone}}&t={{text}}", method: GET } }
            "#,
        ),
        "n.yaml:3:20",
        &["name `ops` is already used by the contact at line 2"],
    );
    one(
        notification_errors(
            r#"
            webhooks:
              - { name: ops, url: "http://a/" }
              - { name: ops, url: "http://b/" }
            "#,
        ),
        "n.yaml:4:15",
        &["name `ops` is already used by the webhook at line 3"],
    );
}

#[test]
fn groups_list_defined_contacts_and_http_robots() {
    one(
        notification_errors(
            r#"
            contacts: [{ name: alice, email: a@example.com }]
            groups: [{ name: oncall, contacts: [alice, bob] }]
            channels: { email: { host: h, from: v@example.com } }
            "#,
        ),
        "n.yaml:3:46",
        &["group `oncall` lists `bob`, which is no contact; defined contacts: alice"],
    );
    one(
        notification_errors("groups: [{ name: oncall }]\n"),
        "n.yaml:2:14",
        &["group `oncall` reaches nobody"],
    );
    one(
        notification_errors(r#"groups: [{ name: oncall, robots: [{ url: "ftp://x/" }] }]"#),
        "n.yaml:2:44",
        &["robot URL `ftp://x/` must be an http:// or https:// URL"],
    );
}

#[test]
fn webhooks_need_http_urls_good_headers_and_a_known_format() {
    one(
        notification_errors(r#"webhooks: [{ name: ops, url: "127.0.0.1:9000" }]"#),
        "n.yaml:2:32",
        &["webhook URL `127.0.0.1:9000` must be an http:// or https:// URL"],
    );
    one(
        notification_errors(r#"webhooks: [{ name: ops, url: "http://h/", format: slack }]"#),
        "n.yaml:2:53",
        &[
            "unknown webhook format `slack`",
            "`vigil`",
            "`alertmanager`",
        ],
    );
    one(
        notification_errors(
            r#"webhooks: [{ name: ops, url: "http://h/", headers: { "X A": b } }]"#,
        ),
        "n.yaml:2:56",
        &["invalid header name `X A`"],
    );
    one(
        notification_errors(
            r#"webhooks: [{ name: ops, url: "http://h/", headers: { X-A: "a\nb" } }]"#,
        ),
        "n.yaml:2:61",
        &["the value of header `X-A` has a control character"],
    );
}

#[test]
fn subscriptions_name_someone_and_known_levels() {
    one(
        notification_errors(
            r#"
            webhooks: [{ name: ops, url: "http://h/" }]
            subscriptions: [{ who: oncall }]
            "#,
        ),
        "n.yaml:3:26",
        &["subscription for `oncall`, which is no group, contact or webhook; defined: ops"],
    );
    one(
        notification_errors(
            r#"
            webhooks: [{ name: ops, url: "http://h/" }]
            subscriptions: [{ who: ops, levels: [P0, urgent] }]
            "#,
        ),
        "n.yaml:3:44",
        &["unknown level `urgent`; use P0, P1, P2, P3, P4 or all"],
    );
    one(
        notification_errors(
            r#"
            webhooks: [{ name: ops, url: "http://h/" }]
            subscriptions: [{ who: ops, levels: [] }]
            "#,
        ),
        "n.yaml:3:39",
        &["no level: list levels (P0 … P4) or `all`"],
    );
}

#[test]
fn channels_are_checked() {
    one(
        notification_errors("channels: { sms: { url: \"http://h/send\", body: \"{{text}}\" } }\n"),
        "n.yaml:2:50",
        &["use both `{{phone}}` and `{{text}}`"],
    );
    one(
        notification_errors(
            "channels: { sms: { url: \"http://h/{{phone}}\", method: FETCH, body: \"{{text}}\" } }\n",
        ),
        "n.yaml:2:57",
        &["unknown method `FETCH`; use POST, PUT or GET"],
    );
    one(
        notification_errors("channels: { sms: { url: \"h/{{phone}}/{{text}}\", method: GET } }\n"),
        "n.yaml:2:27",
        &["SMS gateway URL `h/{{phone}}/{{text}}` must be an http:// or https:// URL"],
    );
    one(
        notification_errors(
            "channels: { email: { host: h, port: 70000, tls: ssl, from: nobody } }\n",
        )
        .into_iter()
        .filter(|e| e.contains("port"))
        .collect(),
        "n.yaml:2:39",
        &["port 70000 is out of range"],
    );
    let e = notification_errors(
        "channels: { email: { host: h, port: 70000, tls: ssl, from: nobody, username: u } }\n",
    );
    assert_eq!(
        e,
        vec![
            "n.yaml:2:39: port 70000 is out of range; use 1 to 65535",
            "n.yaml:2:51: unknown tls `ssl`; use none (plain SMTP), starttls or tls",
            "n.yaml:2:62: invalid sender address `nobody`; write it as vigil@example.com",
            "n.yaml:2:70: a login needs both `username` and `password`: add `password`",
        ]
    );
    one(
        notification_errors("dashboard_url: localhost:8686\n"),
        "n.yaml:2:18",
        &["dashboard_url `localhost:8686` must be an http:// or https:// URL"],
    );
}

#[test]
fn a_notified_contact_needs_the_channel_of_its_email_or_phone() {
    // Reached through a rule's notify.
    let text = format!(
        "{}notification:\n  contacts: [{{ name: alice, email: a@example.com, phone: \"12345\" }}]\n  groups: [{{ name: oncall, contacts: [alice] }}]\n",
        rules("- { name: r, notify: [oncall], conditions: [{ value: total, fn: current, op: \">\", threshold: 1 }] }")
    );
    let e = errors(&[("a.yaml", &text)]);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("a.yaml:17:36: contact `alice` has an email and is notified, but no email server is set"),
        "{e:#?}"
    );
    assert!(
        e[1].starts_with(
            "a.yaml:17:58: contact `alice` has a phone and is notified, but no SMS gateway is set"
        ),
        "{e:#?}"
    );
    // Reached through a subscription.
    one(
        notification_errors(
            r#"
            contacts: [{ name: alice, email: a@example.com }]
            subscriptions: [{ who: alice }]
            "#,
        ),
        "n.yaml:2:36",
        &[
            "contact `alice` has an email and is notified",
            "channels: { email:",
        ],
    );
    // Not notified by anyone: no channel needed.
    ok(&[(
        "n.yaml",
        "notification:\n  contacts: [{ name: alice, email: a@example.com }]\n",
    )]);
}

#[test]
fn unknown_fields_of_notification_are_placed_at_the_field() {
    one(
        notification_errors("contacts: [{ name: alice, mail: a@example.com }]\n"),
        "n.yaml:2:29",
        &["notification: unknown field `mail`", "`email`"],
    );
}

#[test]
fn a_malformed_section_is_reported_without_follow_on_errors() {
    // `defaults` is not a boolean; the rule's notify is not checked against
    // a notification section that could not be read whole.
    let e = errors(&[
        (
            "a.yaml",
            &rules("- { name: r, notify: [oncall], conditions: [{ value: total, fn: current, op: \">\", threshold: 1 }] }"),
        ),
        ("b.yaml", "alerts: { defaults: maybe }\nnotification: { groups: [{ name: oncall, members: [a] }] }\n"),
    ]);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("b.yaml:1:11: alerts: invalid type: string \"maybe\", expected a boolean"),
        "{e:#?}"
    );
    assert!(
        e[1].starts_with("b.yaml:2:42: notification: unknown field `members`"),
        "{e:#?}"
    );
}
