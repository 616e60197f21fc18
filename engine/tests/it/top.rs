//! minute_top, record_top and match_alert.

use vigil_config::monitor::{
    ColumnType, Kind, MatchAlert, MinuteTop, NamedStat, Order, RecordTop, Stat, Stats,
};
use vigil_model::Value;

use crate::*;

fn named(name: &str, stat: Stat) -> NamedStat {
    NamedStat {
        name: name.to_string(),
        stat,
    }
}

fn minute_top(stats: Vec<NamedStat>, by: usize, n: usize, order: Order) -> Monitor {
    monitor(
        "top",
        Kind::MinuteTop(MinuteTop {
            stats: Stats { stats },
            by,
            n,
            order,
        }),
        vec![
            col("host", ColumnType::String),
            col("n", ColumnType::Int),
            col("x", ColumnType::Float),
        ],
        vec![0],
    )
}

/// (key, rank, value named `name`) of every row.
fn ranked(out: &[ClosedBucket], name: &str) -> Vec<(String, Option<u32>, Option<Value>)> {
    rows(out)
        .iter()
        .map(|r| {
            (
                r.key("host").unwrap_or("").to_string(),
                r.rank,
                r.value(name),
            )
        })
        .collect()
}

#[test]
fn minute_top_ranks_keys_with_ties_by_key() {
    let m = minute_top(
        vec![named("count", Stat::Count), named("sum_n", Stat::Sum(1))],
        1,
        3,
        Order::Desc,
    );
    // Sums: a 10, b 10, c 30, d 5.
    let b = batch(
        &[T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5],
        vec![
            s(&["b", "a", "c", "d", "c", "a"]),
            i(&[10, 4, 15, 5, 15, 6]),
            f(&[0.0; 6]),
        ],
    );
    let (out, _) = run(&m, std::slice::from_ref(&b));
    assert!(out[0].partials.is_empty());
    assert_eq!(
        ranked(&out, "sum_n"),
        vec![
            ("a".to_string(), Some(2), Some(Value::Int(10))),
            ("b".to_string(), Some(3), Some(Value::Int(10))),
            ("c".to_string(), Some(1), Some(Value::Int(30))),
        ]
    );
    assert_eq!(out[0].rows[0].value("count"), Some(Value::Int(2)));
    assert_eq!(run(&m, &one_by_one(&b)).0, out);
}

#[test]
fn minute_top_ascending_puts_missing_last() {
    let m = minute_top(vec![named("ratio", Stat::Ratio(1, 2))], 0, 2, Order::Asc);
    // a: 1 / 0 (Missing), b: 4 / 2 = 2, c: 1 / 1 = 1, d: 9 / 1 = 9.
    let b = batch(
        &[T0, T0 + 1, T0 + 2, T0 + 3],
        vec![
            s(&["a", "b", "c", "d"]),
            i(&[1, 4, 1, 9]),
            f(&[0.0, 2.0, 1.0, 1.0]),
        ],
    );
    let (out, _) = run(&m, &[b]);
    assert_eq!(
        ranked(&out, "ratio"),
        vec![
            ("b".to_string(), Some(2), Some(Value::Float(2.0))),
            ("c".to_string(), Some(1), Some(Value::Float(1.0))),
        ]
    );
    let m = minute_top(vec![named("ratio", Stat::Ratio(1, 2))], 0, 10, Order::Desc);
    let b = batch(
        &[T0, T0 + 1, T0 + 2],
        vec![s(&["a", "b", "c"]), i(&[1, 4, 1]), f(&[0.0, 2.0, 1.0])],
    );
    let (out, _) = run(&m, &[b]);
    assert_eq!(
        ranked(&out, "ratio"),
        vec![
            ("a".to_string(), Some(3), Some(Value::Missing)),
            ("b".to_string(), Some(1), Some(Value::Float(2.0))),
            ("c".to_string(), Some(2), Some(Value::Float(1.0))),
        ]
    );
}

fn record_top(group_by: Vec<usize>, n: usize, order: Order) -> Monitor {
    monitor(
        "slow",
        Kind::RecordTop(RecordTop { by: 1, n, order }),
        vec![col("host", ColumnType::String), col("ms", ColumnType::Int)],
        group_by,
    )
}

#[test]
fn record_top_keeps_the_extreme_lines_per_key() {
    let m = record_top(vec![0], 2, Order::Desc);
    let b = batch(
        &[T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4, at(1, 0, 0)],
        vec![
            s(&["a", "a", "a", "a", "b", "a"]),
            i(&[5, 9, 9, 1, 3, 2]),
            s(&["l1", "l2", "l3", "l4", "l5", "l6"]),
        ],
    );
    let (out, _) = run(&m, std::slice::from_ref(&b));
    type Got<'a> = (
        i64,
        &'a str,
        Option<u32>,
        Vec<(String, Value)>,
        Option<&'a str>,
    );
    let got: Vec<Got> = out
        .iter()
        .flat_map(|b| b.rows.iter())
        .map(|r| {
            (
                r.minute,
                r.key("host").unwrap_or(""),
                r.rank,
                r.values.clone(),
                r.line.as_deref(),
            )
        })
        .collect();
    let ms = |v: i64| vec![("ms".to_string(), Value::Int(v))];
    assert_eq!(
        got,
        vec![
            (T0_S, "a", Some(1), ms(9), Some("l2")),
            (T0_S, "a", Some(2), ms(9), Some("l3")),
            (T0_S, "b", Some(1), ms(3), Some("l5")),
            (T0_S + 60, "a", Some(1), ms(2), Some("l6")),
        ]
    );
    assert_eq!(run(&m, &one_by_one(&b)).0, out);
}

#[test]
fn record_top_ascending_without_keys() {
    let m = record_top(vec![], 3, Order::Asc);
    let b = batch(
        &[T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4],
        vec![
            s(&["a", "b", "c", "d", "e"]),
            i(&[5, 1, 7, 1, 0]),
            s(&["l1", "l2", "l3", "l4", "l5"]),
        ],
    );
    let (out, _) = run(&m, &[b]);
    let got: Vec<(Option<u32>, Option<&str>, Option<Value>)> = out[0]
        .rows
        .iter()
        .map(|r| (r.rank, r.line.as_deref(), r.value("ms")))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(1), Some("l5"), Some(Value::Int(0))),
            (Some(2), Some("l2"), Some(Value::Int(1))),
            (Some(3), Some("l4"), Some(Value::Int(1))),
        ]
    );
    assert!(out[0].rows.iter().all(|r| r.keys.is_empty()));
}

#[test]
fn match_alert_counts_and_attaches_the_first_lines() {
    let m = monitor(
        "errors",
        Kind::MatchAlert(MatchAlert { max_lines: 2 }),
        vec![col("host", ColumnType::String)],
        vec![0],
    );
    let b = batch(
        &[T0, T0 + 1, T0 + 2, T0 + 3],
        vec![s(&["a", "a", "b", "a"]), s(&["e1", "e2", "e3", "e4"])],
    );
    let (out, _) = run(&m, std::slice::from_ref(&b));
    let r = rows(&out);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].values, vec![("count".to_string(), Value::Int(3))]);
    assert_eq!(r[0].lines, vec!["e1".to_string(), "e2".to_string()]);
    assert_eq!(r[1].key("host"), Some("b"));
    assert_eq!(r[1].values, vec![("count".to_string(), Value::Int(1))]);
    assert_eq!(r[1].lines, vec!["e3".to_string()]);
    assert_eq!(run(&m, &one_by_one(&b)).0, out);
}
