//! Archive roll-ups of closed buckets.

use std::sync::Arc;

use vigil_config::monitor::{
    Archive, ColumnType, Kind, MatchAlert, NamedStat, Period, Service, Stat, Stats,
};
use vigil_engine::{Aggregator, ArchiveAggregator, Error};
use vigil_model::{MinuteRow, Value};

use crate::*;

fn named(name: &str, stat: Stat) -> NamedStat {
    NamedStat {
        name: name.to_string(),
        stat,
    }
}

fn archive(of: &str, periods: Vec<Period>) -> Arc<Monitor> {
    let mut m = monitor(
        "arch",
        Kind::Archive(Archive {
            of: of.to_string(),
            periods,
        }),
        Vec::new(),
        Vec::new(),
    );
    m.source = None;
    Arc::new(m)
}

/// A minute_stat of n by host, in Asia/Shanghai (UTC+8).
fn source() -> Monitor {
    let mut m = monitor(
        "src",
        Kind::MinuteStat(Stats {
            stats: vec![
                named("count", Stat::Count),
                named("sum_n", Stat::Sum(1)),
                named("avg_n", Stat::Avg(1)),
                named("min_n", Stat::Min(1)),
                named("max_n", Stat::Max(1)),
            ],
        }),
        vec![col("host", ColumnType::String), col("n", ColumnType::Int)],
        vec![0],
    );
    if let Some(src) = &mut m.source {
        src.timezone = chrono_tz::Asia::Shanghai;
    }
    m
}

fn summary(rows: &[MinuteRow]) -> Vec<(Option<&str>, i64, &str, Vec<Value>)> {
    rows.iter()
        .map(|r| {
            (
                r.period.as_deref(),
                r.minute,
                r.key("host").unwrap_or(""),
                vals(r),
            )
        })
        .collect()
}

#[test]
fn hour_and_day_rollups_recompute_from_partials() {
    let src = source();
    let mut agg = Aggregator::new(Arc::new(src.clone())).expect("aggregator");
    let mut arch = ArchiveAggregator::new(archive("src", vec![Period::Day, Period::Hour]), &src)
        .expect("archive");
    // 10:00 UTC (18:00 in Shanghai): a 1, 2, 3 (avg 2); 10:01: a 10 (avg 10), b 5;
    // 16:30 UTC is 00:30 on the next local day.
    agg.push(&batch(
        &[
            at(0, 1, 0),
            at(0, 2, 0),
            at(0, 3, 0),
            at(1, 0, 0),
            at(1, 1, 0),
        ],
        vec![s(&["a", "a", "a", "a", "b"]), i(&[1, 2, 3, 10, 5])],
    ))
    .expect("push");
    for closed in agg.drain_closed(at(2, 0, 0)) {
        arch.push(&closed);
    }
    agg.push(&batch(&[at(390, 0, 0)], vec![s(&["a"]), i(&[7])]))
        .expect("push");
    for closed in agg.drain_all() {
        arch.push(&closed);
    }
    let hour = T0_S; // 10:00 UTC is a local hour start as well
    let day = T0_S - 18 * 3600; // local midnight, 16:00 UTC the day before
    let next_day = day + 86_400; // 16:00 UTC, also the hour of 16:30 UTC
    let a = |c, s, avg, min, max| {
        vec![
            Value::Int(c),
            Value::Int(s),
            Value::Float(avg),
            Value::Int(min),
            Value::Int(max),
        ]
    };
    // The first hour closes at 11:00 UTC; the first day not yet.
    let first = arch.drain_closed(at(60, 0, 0));
    assert_eq!(
        summary(&first),
        vec![
            (Some("hour"), hour, "a", a(4, 16, 4.0, 1, 10)),
            (Some("hour"), hour, "b", a(1, 5, 5.0, 5, 5)),
        ]
    );
    assert!(first.iter().all(|r| r.monitor == "arch"));
    assert_eq!(first[0].keys, vec![("host".to_string(), "a".to_string())]);
    let names: Vec<&str> = first[0].values.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["count", "sum_n", "avg_n", "min_n", "max_n"]);
    let rest = arch.drain_all();
    assert_eq!(
        summary(&rest),
        vec![
            (Some("day"), day, "a", a(4, 16, 4.0, 1, 10)),
            (Some("day"), day, "b", a(1, 5, 5.0, 5, 5)),
            (Some("day"), next_day, "a", a(1, 7, 7.0, 7, 7)),
            (Some("hour"), next_day, "a", a(1, 7, 7.0, 7, 7)),
        ]
    );
    // A source minute of a drained period is late.
    assert_eq!(arch.counters().late, 0);
    let mut again = Aggregator::new(Arc::new(src.clone())).expect("aggregator");
    again
        .push(&batch(&[at(0, 5, 0)], vec![s(&["a"]), i(&[1])]))
        .expect("push");
    for closed in again.drain_all() {
        arch.push(&closed);
    }
    assert_eq!(arch.counters().late, 1);
    assert!(arch.drain_all().is_empty());
}

#[test]
fn an_amended_minute_replaces_its_first_version_until_settled() {
    let src = source();
    let mut agg = Aggregator::new(Arc::new(src.clone())).expect("aggregator");
    let mut arch =
        ArchiveAggregator::new(archive("src", vec![Period::Hour]), &src).expect("archive");
    // 10:00 a 1, 2 drained; then 3 more for 10:00 (an amendment) and 10:05 a 4.
    agg.push(&batch(
        &[at(0, 1, 0), at(0, 2, 0), at(1, 30, 0)],
        vec![s(&["a", "a", "a"]), i(&[1, 2, 100])],
    ))
    .expect("push");
    for closed in agg.drain_closed(at(1, 0, 0)) {
        arch.push(&closed);
    }
    let in_progress = |n: i64, sum: i64, max: i64| {
        vec![
            Value::Int(n),
            Value::Int(sum),
            Value::Float(sum as f64 / n as f64),
            Value::Int(1),
            Value::Int(max),
        ]
    };
    assert_eq!(
        summary(&arch.peek_open()),
        vec![(Some("hour"), T0_S, "a", in_progress(2, 3, 2))]
    );
    agg.push(&batch(
        &[at(0, 40, 0), at(5, 0, 0)],
        vec![s(&["a", "a"]), i(&[3, 4])],
    ))
    .expect("push");
    assert_eq!(agg.counters().amended, 1);
    for closed in agg.drain_closed(at(6, 0, 0)) {
        arch.push(&closed);
    }
    // 10:00 came again whole (1, 2, 3): it replaces its first version.
    assert_eq!(
        summary(&arch.peek_open()),
        vec![(Some("hour"), T0_S, "a", in_progress(5, 110, 100))]
    );

    // A restart at 10:05: what was before comes from the state, the rest
    // from the source again, and the hour is the same.
    let state = arch.state(at(5, 0, 0));
    let json = serde_json::to_string(&state).expect("state to JSON");
    let state: vigil_engine::ArchiveState = serde_json::from_str(&json).expect("state from JSON");
    let mut restarted =
        ArchiveAggregator::new(archive("src", vec![Period::Hour]), &src).expect("archive");
    restarted.restore(&state);
    let mut again = Aggregator::new(Arc::new(src.clone())).expect("aggregator");
    again
        .push(&batch(&[at(5, 0, 0)], vec![s(&["a"]), i(&[4])]))
        .expect("push");
    for closed in again.drain_all() {
        restarted.push(&closed);
    }
    let expected = vec![(Some("hour"), T0_S, "a", in_progress(5, 110, 100))];
    assert_eq!(summary(&restarted.peek_open()), expected);
    // Nothing is drained before the hour is over, then all of it once.
    assert!(restarted.drain_closed(at(59, 0, 0)).is_empty());
    assert_eq!(summary(&restarted.drain_closed(at(60, 0, 0))), expected);
    assert_eq!(summary(&arch.drain_all()), expected);
}

#[test]
fn weekly_service_rollup() {
    let mut src = monitor(
        "svc",
        Kind::ServiceMetrics(Service {
            result: 0,
            success: vec!["ok".to_string()],
            count: None,
            elapsed: Some(1),
        }),
        vec![
            col("result", ColumnType::String),
            col("ms", ColumnType::Int),
        ],
        vec![],
    );
    src.lateness_secs = 0;
    let mut agg = Aggregator::new(Arc::new(src.clone())).expect("aggregator");
    let mut arch =
        ArchiveAggregator::new(archive("svc", vec![Period::Week]), &src).expect("archive");
    // Wednesday 10:00 and Thursday 10:00 UTC fall in the week of Monday 11 March.
    agg.push(&batch(
        &[T0, T0 + 1, T0 + 86_400_000],
        vec![s(&["ok", "bad", "ok"]), i(&[10, 20, 60])],
    ))
    .expect("push");
    for closed in agg.drain_all() {
        arch.push(&closed);
    }
    let rows = arch.drain_all();
    assert_eq!(
        summary(&rows),
        vec![(
            Some("week"),
            T0_S - 2 * 86_400 - 10 * 3600,
            "",
            vec![
                Value::Int(3),
                Value::Int(2),
                Value::Int(1),
                Value::Float(2.0 / 3.0),
                Value::Float(30.0),
            ]
        )]
    );
}

#[test]
fn archives_of_other_kinds_are_unsupported() {
    let src = monitor(
        "alerts",
        Kind::MatchAlert(MatchAlert { max_lines: 1 }),
        Vec::new(),
        Vec::new(),
    );
    assert!(matches!(
        ArchiveAggregator::new(archive("alerts", vec![Period::Hour]), &src),
        Err(Error::Unsupported { .. })
    ));
    assert!(matches!(
        ArchiveAggregator::new(archive("other", vec![Period::Hour]), &source()),
        Err(Error::Invalid { .. })
    ));
}
