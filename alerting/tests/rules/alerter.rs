//! Alert state per rule and key, history, restarts, pauses, amendments.

use vigil_alerting::alerter::{Alerter, Watched};
use vigil_alerting::AlertState;
use vigil_config::alert::*;

use crate::support::{rule, Rows};

const T: i64 = 1_790_000_000 / 3600 * 3600;

fn m(i: i64) -> i64 {
    T + i * 60
}

fn ops() -> Notification {
    Notification {
        webhooks: vec![Webhook {
            name: "ops".to_string(),
            url: "http://127.0.0.1:9/hook".to_string(),
            headers: Vec::new(),
            access_key: None,
            secret: None,
            global: true,
            format: WebhookFormat::Vigil,
        }],
        ..Notification::default()
    }
}

fn watched(rule: AlertRule, keyed: bool) -> Watched {
    Watched {
        table: rule.monitor.clone(),
        rule,
        keyed,
        app: Some("trade".to_string()),
    }
}

fn success_rule() -> AlertRule {
    let mut r = rule("rpc", "success_rate", ValueFn::Current, Op::Lt, 0.95);
    r.keys = vec![("service".to_string(), KeySelector::Each)];
    r
}

/// (minute index, service, state) of every delivery.
type Sent = Vec<(i64, String, AlertState)>;

fn run(alerter: &mut Alerter, rows: &Rows, minutes: std::ops::Range<i64>, sent: &mut Sent) {
    for i in minutes {
        let d = alerter.on_minute("rpc", m(i), rows).unwrap();
        for x in d.deliveries {
            let key = x
                .notice
                .keys
                .first()
                .map(|k| k.1.clone())
                .unwrap_or_default();
            sent.push(((x.notice.minute - T) / 60, key, x.notice.state));
        }
    }
}

fn rates(rows: &Rows, a: &[f64]) {
    for (i, rate) in a.iter().enumerate() {
        rows.put(
            "rpc",
            m(i as i64),
            &[("service", "a")],
            "success_rate",
            *rate,
        );
        rows.put("rpc", m(i as i64), &[("service", "b")], "success_rate", 1.0);
    }
}

#[test]
fn each_key_fires_and_resolves_on_its_own() {
    let rows = Rows::default();
    rates(&rows, &[1.0, 1.0, 1.0, 0.9, 0.8, 0.9, 0.7, 0.99, 1.0, 1.0]);
    let mut alerter = Alerter::open(None, vec![watched(success_rule(), true)], ops()).unwrap();
    let mut sent = Sent::new();
    run(&mut alerter, &rows, 0..10, &mut sent);
    let f = |i| (i, "a".to_string(), AlertState::Firing);
    assert_eq!(
        sent,
        vec![
            f(3),
            f(4),
            f(5),
            f(6),
            (7, "a".into(), AlertState::Resolved)
        ]
    );
    let records = &alerter.history().records;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.keys, vec![("service".to_string(), "a".to_string())]);
    assert_eq!((r.first_seen, r.last_seen, r.count), (m(3), m(6), 4));
    assert_eq!((r.state, r.resolved_at), (AlertState::Resolved, Some(m(7))));
    assert_eq!((r.value, r.threshold), (Some(0.7), Some(0.95)));
    assert_eq!(r.notifications, 5);
}

#[test]
fn an_amended_minute_is_evaluated_again_without_a_duplicate() {
    let rows = Rows::default();
    rates(&rows, &[1.0, 0.9, 0.9]);
    let mut alerter = Alerter::open(None, vec![watched(success_rule(), true)], ops()).unwrap();
    let mut sent = Sent::new();
    run(&mut alerter, &rows, 0..3, &mut sent);
    assert_eq!(sent.len(), 2);
    // late lines amend minute 2: still below
    rows.put("rpc", m(2), &[("service", "a")], "success_rate", 0.8);
    run(&mut alerter, &rows, 2..3, &mut sent);
    assert_eq!(sent.len(), 2);
    assert_eq!(alerter.history().records[0].count, 2);
    assert_eq!(alerter.history().records[0].value, Some(0.8));
    // an older minute is not evaluated again
    run(&mut alerter, &rows, 1..2, &mut sent);
    assert_eq!(sent.len(), 2);
    // late lines lift minute 2 above the threshold: resolved, once
    rows.put("rpc", m(2), &[("service", "a")], "success_rate", 0.99);
    run(&mut alerter, &rows, 2..3, &mut sent);
    run(&mut alerter, &rows, 2..3, &mut sent);
    assert_eq!(sent[2], (2, "a".to_string(), AlertState::Resolved));
    assert_eq!(sent.len(), 3);
}

#[test]
fn state_and_history_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rows = Rows::default();
    rates(&rows, &[0.5, 0.5, 0.5, 1.0]);
    let open = || Alerter::open(Some(dir.path()), vec![watched(success_rule(), true)], ops());
    let mut sent = Sent::new();
    {
        let mut alerter = open().unwrap();
        run(&mut alerter, &rows, 0..2, &mut sent);
    }
    let mut alerter = open().unwrap();
    // a replay after the restart evaluates minute 1 again: nothing new
    run(&mut alerter, &rows, 1..4, &mut sent);
    let states: Vec<_> = sent.iter().map(|s| (s.0, s.2)).collect();
    assert_eq!(
        states,
        vec![
            (0, AlertState::Firing),
            (1, AlertState::Firing),
            (2, AlertState::Firing),
            (3, AlertState::Resolved)
        ]
    );
    let records = &alerter.history().records;
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].count, records[0].resolved_at), (3, Some(m(3))));
}

#[test]
fn a_paused_rule_keeps_its_state_and_sends_nothing_until_the_pause_ends() {
    let rows = Rows::default();
    rates(&rows, &[0.5; 8]);
    let mut alerter = Alerter::open(None, vec![watched(success_rule(), true)], ops()).unwrap();
    alerter.pause("rpc/r", "deploying", m(5)).unwrap();
    assert!(alerter.pause("rpc/nope", "x", m(5)).is_err());
    let status = alerter.status(m(0));
    assert_eq!(status[0].paused.as_ref().unwrap().reason, "deploying");
    let mut sent = Sent::new();
    run(&mut alerter, &rows, 0..8, &mut sent);
    // firing since minute 0: at 5 (slot 4) the schedule is due again
    let at: Vec<i64> = sent.iter().map(|s| s.0).collect();
    assert_eq!(at, vec![5, 7]);
    assert_eq!(alerter.history().records[0].count, 8);
}

#[test]
fn missing_data_and_zero_bases_never_fire() {
    let rows = Rows::default();
    // minute 1: 0 then minute 2: 100 (from a zero base), minute 3: no row
    for (i, v) in [(0, 10.0), (1, 0.0), (2, 100.0)] {
        rows.put("rpc", m(i), &[], "total", v);
    }
    let mut r = rule("rpc", "total", ValueFn::Mom, Op::Gt, 50.0);
    r.conditions.push(Condition {
        value: "total".to_string(),
        func: ValueFn::Current,
        op: Op::Lt,
        thresholds: [(Channel::Webhook, 5.0)].into_iter().collect(),
    });
    let mut alerter = Alerter::open(None, vec![watched(r, false)], ops()).unwrap();
    let mut fired = Vec::new();
    let mut reported = Vec::new();
    for i in 0..4 {
        let d = alerter.on_minute("rpc", m(i), &rows).unwrap();
        fired.extend(d.events.iter().map(|e| (i, e.state, e.value)));
        reported.push(alerter.status(m(i))[0].last[0].outcomes.clone());
    }
    // The API reports what each condition found, in words where there is
    // no number.
    assert_eq!(
        reported,
        vec![
            vec!["missing data", "10"],
            vec!["-100", "0"],
            vec!["zero base", "100"],
            vec!["missing data", "missing data"],
        ]
    );
    // minute 1 fires on `current < 5` (0); minute 2 is +inf against a zero
    // base: no fire, so it resolves; minute 3 has no data at all
    assert_eq!(
        fired,
        vec![
            (1, AlertState::Firing, Some(0.0)),
            (2, AlertState::Resolved, None)
        ]
    );
}

#[test]
fn a_silent_monitor_fires_nodata() {
    let rows = Rows::default();
    for i in 0..3 {
        rows.put("rpc", m(i), &[], "count", 1.0);
    }
    let mut r = rule("rpc", "", ValueFn::NoData, Op::Ge, 3.0);
    r.conditions[0].value.clear();
    let mut alerter = Alerter::open(None, vec![watched(r, false)], ops()).unwrap();
    let mut fired = Vec::new();
    for i in 0..8 {
        if i == 7 {
            rows.put("rpc", m(7), &[], "count", 1.0);
        }
        let d = alerter.on_minute("rpc", m(i), &rows).unwrap();
        fired.extend(d.events.iter().map(|e| (i, e.state, e.value)));
    }
    assert_eq!(
        fired,
        vec![
            (5, AlertState::Firing, Some(3.0)),
            (6, AlertState::Firing, Some(4.0)),
            (7, AlertState::Resolved, None)
        ]
    );
}

#[test]
fn count_above_counts_the_keys_of_the_minute() {
    let rows = Rows::default();
    for (code, latency) in [("E1", 150.0), ("E2", 120.0), ("E3", 90.0), ("E4", 300.0)] {
        rows.put("top", m(0), &[("code", code)], "avg_latency", latency);
    }
    for (code, latency) in [("E1", 150.0), ("E2", 20.0)] {
        rows.put("top", m(1), &[("code", code)], "avg_latency", latency);
    }
    let r = rule(
        "top",
        "avg_latency",
        ValueFn::CountAbove(100.0),
        Op::Gt,
        2.0,
    );
    let mut alerter = Alerter::open(None, vec![watched(r, true)], ops()).unwrap();
    let d0 = alerter.on_minute("top", m(0), &rows).unwrap();
    assert_eq!(d0.events.len(), 1);
    assert_eq!(d0.events[0].value, Some(3.0));
    assert!(d0.events[0].keys.is_empty());
    let d1 = alerter.on_minute("top", m(1), &rows).unwrap();
    assert_eq!(d1.events[0].state, AlertState::Resolved);
}

#[test]
fn channels_follow_the_thresholds_they_cross_with_any_and_all() {
    let rows = Rows::default();
    rows.put("rpc", m(0), &[], "success_rate", 0.93);
    rows.put("rpc", m(0), &[], "total", 500.0);
    let mut r = rule("rpc", "success_rate", ValueFn::Current, Op::Lt, 0.0);
    r.conditions[0].thresholds = [(Channel::Im, 0.95), (Channel::Sms, 0.90)]
        .into_iter()
        .collect();
    r.conditions.push(Condition {
        value: "total".to_string(),
        func: ValueFn::SumLast(5),
        op: Op::Gt,
        thresholds: [(Channel::Webhook, 1000.0)].into_iter().collect(),
    });
    let channels = |r: &AlertRule| {
        let mut a = Alerter::open(None, vec![watched(r.clone(), false)], ops()).unwrap();
        let d = a.on_minute("rpc", m(0), &rows).unwrap();
        d.events.into_iter().map(|e| e.channel).collect::<Vec<_>>()
    };
    assert_eq!(channels(&r), vec!["im"]);
    r.matching = Match::All;
    assert!(channels(&r).is_empty());
    rows.put("rpc", m(0), &[], "total", 1500.0);
    assert_eq!(channels(&r), vec!["im", "webhook"]);
}

#[test]
fn every_and_active_windows_follow_the_rules_timezone() {
    let rows = Rows::default();
    for i in 0..180 {
        rows.put("rpc", m(i), &[], "count", 1.0);
    }
    let mut r = rule("rpc", "count", ValueFn::Current, Op::Gt, 0.0);
    r.every = 60;
    // +05:30: the hour falls on minute 30 of UTC hours
    r.timezone = chrono_tz::Asia::Kolkata;
    let mut a = Alerter::open(None, vec![watched(r, false)], Notification::default()).unwrap();
    let mut at = Vec::new();
    for i in 0..180 {
        if !a.on_minute("rpc", m(i), &rows).unwrap().events.is_empty() {
            at.push(i);
        }
    }
    // T is on a UTC hour: local hours at 30, 90, 150
    assert_eq!(at, vec![30, 90, 150]);
}

#[test]
fn message_templates_use_values_keys_and_extracted_groups() {
    let rows = Rows::default();
    rows.put("errors", m(0), &[("code", "E42")], "count", 2.0);
    {
        let mut all = rows.0.lock().unwrap();
        let row = &mut all.get_mut("errors").unwrap()[0];
        row.lines = vec![
            "2026-11-20 10:00:01 order=981 failed reason=card expired".to_string(),
            "2026-11-20 10:00:02 order=982 failed reason=timeout".to_string(),
        ];
    }
    let mut r = rule("errors", "count", ValueFn::Current, Op::Ge, 1.0);
    r.level = Level::P0;
    r.message = Message {
        title: Some("Payment errors {{ keys.code }}".to_string()),
        text: Some("order {{ order }}: {{ reason }} ({{ value }} lines)".to_string()),
        extract: Some(regex::Regex::new(r"order=(?P<order>\d+) .*reason=(?P<reason>.*)").unwrap()),
        emergency: Some("CALL THE ON-CALL NOW".to_string()),
        link: Some("https://runbooks.example.com/payments".to_string()),
        attach: 1,
    };
    let mut a = Alerter::open(None, vec![watched(r, true)], ops()).unwrap();
    let d = a.on_minute("errors", m(0), &rows).unwrap();
    let n = &d.deliveries[0].notice;
    assert_eq!(n.title, "Payment errors E42");
    let lines: Vec<&str> = n.text.lines().collect();
    assert_eq!(lines[0], "CALL THE ON-CALL NOW");
    assert!(
        lines[1].starts_with("P0 Payment errors E42 FIRING at "),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "order 981: card expired (2.0 lines)");
    assert_eq!(n.lines.len(), 1);
    assert_eq!(
        n.link.as_deref(),
        Some("https://runbooks.example.com/payments")
    );
}

#[test]
fn a_cached_source_reads_each_range_once() {
    use std::cell::Cell;
    use vigil_alerting::eval::{CachedSource, MinuteSource};
    struct Counting<'a>(&'a Rows, Cell<usize>);
    impl MinuteSource for Counting<'_> {
        fn rows(&self, t: &str, from: i64, to: i64) -> Result<Vec<vigil_model::MinuteRow>, String> {
            self.1.set(self.1.get() + 1);
            self.0.rows(t, from, to)
        }
    }
    let rows = Rows::default();
    rows.put("rpc", m(0), &[], "total", 5.0);
    let mut low = rule("rpc", "total", ValueFn::Current, Op::Lt, 10.0);
    low.name = "low".into();
    let high = rule("rpc", "total", ValueFn::Current, Op::Gt, 1.0);
    let mut a =
        Alerter::open(None, vec![watched(low, false), watched(high, false)], ops()).unwrap();
    let counting = Counting(&rows, Cell::new(0));
    let cached = CachedSource::new(&counting);
    let d = a.on_minute("rpc", m(0), &cached).unwrap();
    // Both rules fire on the same row, read once.
    assert_eq!(d.events.len(), 2);
    assert_eq!(counting.1.get(), 1);
}
