//! minute_stat, second_stat and service_metrics, and the shared rules:
//! buckets, lateness, key limits, batch splitting.

use std::sync::Arc;

use vigil_config::monitor::{ColumnType, Kind, NamedStat, Service, Stat, Stats};
use vigil_engine::{Aggregator, EngineCounters};
use vigil_model::{Counters, Value};

use crate::*;

fn named(name: &str, stat: Stat) -> NamedStat {
    NamedStat {
        name: name.to_string(),
        stat,
    }
}

/// host, n (int), x (float), msg; grouped by host; many statistics.
fn stats_monitor() -> vigil_config::monitor::Monitor {
    let stats = Stats {
        stats: vec![
            named("count", Stat::Count),
            named("sum_n", Stat::Sum(1)),
            named("sum_x", Stat::Sum(2)),
            named("avg_n", Stat::Avg(1)),
            named("min_n", Stat::Min(1)),
            named("max_n", Stat::Max(1)),
            named("min_x", Stat::Min(2)),
            named("max_x", Stat::Max(2)),
            named(
                "occ_line",
                Stat::Occurrences {
                    text: "ab".to_string(),
                    column: None,
                },
            ),
            named(
                "occ_msg",
                Stat::Occurrences {
                    text: "aa".to_string(),
                    column: Some(3),
                },
            ),
            named("ratio", Stat::Ratio(1, 2)),
        ],
    };
    monitor(
        "stats",
        Kind::MinuteStat(stats),
        vec![
            col("host", ColumnType::String),
            col("n", ColumnType::Int),
            col("x", ColumnType::Float),
            col("msg", ColumnType::String),
        ],
        vec![0],
    )
}

fn stats_batch() -> arrow::record_batch::RecordBatch {
    batch(
        &[
            at(0, 1, 0),
            at(0, 2, 0),
            at(0, 30, 0),
            at(0, 59, 999),
            at(1, 0, 0),
        ],
        vec![
            s(&["a", "b", "a", "a", "a"]),
            i(&[3, 7, -1, 10, 4]),
            f(&[1.5, 2.0, 0.25, -1.75, 0.5]),
            s(&["aaa", "aa", "aaaa", "b", ""]),
            s(&["ab ab x", "xabx", "abab", "zz", "line"]),
        ],
    )
}

#[test]
fn statistics_per_key_and_minute() {
    let m = stats_monitor();
    let (out, counters) = run(&m, &[stats_batch()]);
    assert_eq!(counters, EngineCounters::default());
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].start, T0_S);
    assert_eq!(out[1].start, T0_S + 60);
    let r = rows(&out);
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].monitor, "stats");
    assert_eq!(r[0].minute, T0_S);
    assert_eq!(r[0].keys, vec![("host".to_string(), "a".to_string())]);
    let names: Vec<&str> = r[0].values.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "count", "sum_n", "sum_x", "avg_n", "min_n", "max_n", "min_x", "max_x", "occ_line",
            "occ_msg", "ratio"
        ]
    );
    // a in 10:00: n = 3, -1, 10; x = 1.5, 0.25, -1.75 (sum 0: ratio Missing).
    assert_eq!(
        vals(&r[0]),
        vec![
            Value::Int(3),
            Value::Int(12),
            Value::Float(0.0),
            Value::Float(4.0),
            Value::Int(-1),
            Value::Int(10),
            Value::Float(-1.75),
            Value::Float(1.5),
            Value::Int(4), // "ab ab x" 2 + "abab" 2 + "zz" 0
            Value::Int(3), // "aaa" 1 + "aaaa" 2 + "b" 0
            Value::Missing,
        ]
    );
    // b in 10:00: one row.
    assert_eq!(r[1].keys, vec![("host".to_string(), "b".to_string())]);
    assert_eq!(
        vals(&r[1]),
        vec![
            Value::Int(1),
            Value::Int(7),
            Value::Float(2.0),
            Value::Float(7.0),
            Value::Int(7),
            Value::Int(7),
            Value::Float(2.0),
            Value::Float(2.0),
            Value::Int(1),
            Value::Int(1),
            Value::Float(3.5),
        ]
    );
    // a in 10:01.
    assert_eq!(r[2].minute, T0_S + 60);
    assert_eq!(r[2].value("sum_n"), Some(Value::Int(4)));
    assert_eq!(r[2].value("ratio"), Some(Value::Float(8.0)));
    assert_eq!(r[2].value("occ_line"), Some(Value::Int(0)));
    // Partials mirror the rows.
    assert_eq!(out[0].partials.len(), 2);
    assert_eq!(out[0].partials[0].key, vec!["a".to_string()]);
    assert_eq!(out[0].partials[0].partial.values(), vals(&r[0]));
}

#[test]
fn same_result_whatever_the_batches() {
    let m = stats_monitor();
    let b = stats_batch();
    let whole = run(&m, std::slice::from_ref(&b));
    assert_eq!(run(&m, &one_by_one(&b)), whole);
    assert_eq!(run(&m, &[b.slice(0, 2), b.slice(2, 3)]), whole);
}

#[test]
fn int_sums_stay_exact_and_overflow_to_float() {
    let m = monitor(
        "sums",
        Kind::MinuteStat(Stats {
            stats: vec![named("sum_n", Stat::Sum(0)), named("avg_n", Stat::Avg(0))],
        }),
        vec![col("n", ColumnType::Int)],
        vec![],
    );
    let big = (1i64 << 62) + 1;
    let (out, _) = run(&m, &[batch(&[T0, T0 + 1], vec![i(&[big, 1])])]);
    assert_eq!(vals(&out[0].rows[0])[0], Value::Int(big + 1));
    let (out, _) = run(&m, &[batch(&[T0, T0 + 1], vec![i(&[i64::MAX, i64::MAX])])]);
    let r = &out[0].rows[0];
    assert_eq!(r.value("sum_n"), Some(Value::Float(2.0 * i64::MAX as f64)));
    assert_eq!(r.value("avg_n"), Some(Value::Float(i64::MAX as f64)));
}

fn service_monitor() -> vigil_config::monitor::Monitor {
    monitor(
        "svc",
        Kind::ServiceMetrics(Service {
            result: 1,
            success: vec!["Y".to_string()],
            count: Some(2),
            elapsed: Some(3),
        }),
        vec![
            col("service", ColumnType::String),
            col("result", ColumnType::String),
            col("calls", ColumnType::Int),
            col("elapsed", ColumnType::Int),
        ],
        vec![0],
    )
}

#[test]
fn service_metrics_example() {
    let m = service_monitor();
    let b = batch(
        &[at(0, 1, 0), at(0, 2, 0), at(0, 3, 0)],
        vec![
            s(&["pay", "pay", "idle"]),
            s(&["Y", "N", "Y"]),
            i(&[98, 7, 0]),
            i(&[5194, 196, 0]),
        ],
    );
    let (out, _) = run(&m, &[b]);
    let r = rows(&out);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].key("service"), Some("idle"));
    assert_eq!(
        vals(&r[0]),
        vec![
            Value::Int(0),
            Value::Int(0),
            Value::Int(0),
            Value::Missing,
            Value::Missing
        ]
    );
    assert_eq!(r[1].key("service"), Some("pay"));
    let names: Vec<&str> = r[1].values.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["total", "success", "fail", "success_rate", "avg_latency"]
    );
    assert_eq!(
        vals(&r[1]),
        vec![
            Value::Int(105),
            Value::Int(98),
            Value::Int(7),
            Value::Float(98.0 / 105.0),
            Value::Float(5390.0 / 105.0),
        ]
    );
}

#[test]
fn service_metrics_counting_lines_with_float_elapsed() {
    let m = monitor(
        "svc2",
        Kind::ServiceMetrics(Service {
            result: 0,
            success: vec!["0".to_string(), "200".to_string()],
            count: None,
            elapsed: Some(1),
        }),
        vec![col("code", ColumnType::Int), col("ms", ColumnType::Float)],
        vec![],
    );
    let b = batch(
        &[T0, T0 + 1, T0 + 2, T0 + 3],
        vec![i(&[200, 500, 0, 404]), f(&[1.5, 2.5, 0.5, 3.5])],
    );
    let (out, _) = run(&m, &[b]);
    assert_eq!(
        vals(&out[0].rows[0]),
        vec![
            Value::Int(4),
            Value::Int(2),
            Value::Int(2),
            Value::Float(0.5),
            Value::Float(2.0)
        ]
    );
}

fn count_monitor(kind_second: bool) -> vigil_config::monitor::Monitor {
    let stats = Stats {
        stats: vec![named("count", Stat::Count)],
    };
    let kind = if kind_second {
        Kind::SecondStat(stats)
    } else {
        Kind::MinuteStat(stats)
    };
    monitor(
        "count",
        kind,
        vec![col("host", ColumnType::String)],
        vec![0],
    )
}

#[test]
fn key_limit_drops_further_keys_per_bucket() {
    let mut m = count_monitor(false);
    m.key_limit = 2;
    let b = batch(
        &[
            at(0, 1, 0),
            at(0, 2, 0),
            at(0, 3, 0),
            at(0, 4, 0),
            at(0, 5, 0),
            at(1, 0, 0),
        ],
        vec![s(&["a", "b", "c", "a", "c", "c"])],
    );
    let (out, counters) = run(&m, std::slice::from_ref(&b));
    assert_eq!(
        counters,
        EngineCounters {
            key_dropped: 2,
            ..EngineCounters::default()
        }
    );
    assert_eq!(
        counts(&out),
        vec![
            (T0_S, "a".to_string(), Some(Value::Int(2))),
            (T0_S, "b".to_string(), Some(Value::Int(1))),
            (T0_S + 60, "c".to_string(), Some(Value::Int(1))),
        ]
    );
    assert_eq!(run(&m, &one_by_one(&b)), (out, counters));
    let mut total = Counters::default();
    counters.add_to(&mut total);
    assert_eq!(total.key_dropped, 2);
}

/// (minute, host, count) of every row.
fn counts(buckets: &[vigil_engine::ClosedBucket]) -> Vec<(i64, String, Option<Value>)> {
    rows(buckets)
        .iter()
        .map(|r| {
            let host = r.key("host").unwrap_or("").to_string();
            (r.minute, host, r.value("count"))
        })
        .collect()
}

#[test]
fn one_keyed_batch_feeds_views_with_their_own_history() {
    let mut m = count_monitor(false);
    m.key_limit = 2;
    let m = Arc::new(m);
    // Minute 0: a b c a b (c over the limit of 2), minute 1: c a.
    let b = batch(
        &[
            at(0, 1, 0),
            at(0, 2, 0),
            at(0, 3, 0),
            at(0, 4, 0),
            at(0, 5, 0),
            at(1, 0, 0),
            at(1, 1, 0),
        ],
        vec![s(&["a", "b", "c", "a", "b", "c", "a"])],
    );
    let mut fresh = Aggregator::new(m.clone()).unwrap();
    // A view that already holds two other keys in minute 0: all five rows
    // of minute 0 are over its limit, minute 1 is new to it.
    let mut full = Aggregator::new(m.clone()).unwrap();
    full.push(&batch(&[at(0, 0, 0), at(0, 0, 1)], vec![s(&["x", "y"])]))
        .unwrap();
    let keyed = fresh.group(&b).unwrap();
    assert_eq!(keyed.num_rows(), 7);
    fresh.push_grouped(&keyed).unwrap();
    full.push_grouped(&keyed).unwrap();

    let one = |host: &str, n: i64, minute: i64| {
        (T0_S + minute * 60, host.to_string(), Some(Value::Int(n)))
    };
    assert_eq!(fresh.counters().key_dropped, 1);
    assert_eq!(
        counts(&fresh.drain_all()),
        vec![
            one("a", 2, 0),
            one("b", 2, 0),
            one("a", 1, 1),
            one("c", 1, 1)
        ]
    );
    assert_eq!(full.counters().key_dropped, 5);
    assert_eq!(
        counts(&full.drain_all()),
        vec![
            one("x", 1, 0),
            one("y", 1, 0),
            one("a", 1, 1),
            one("c", 1, 1)
        ]
    );
}

#[test]
fn a_batch_keyed_by_other_columns_is_refused() {
    let m = count_monitor(false);
    let mut by_value = m.clone();
    by_value.columns.push(col("value", ColumnType::Int));
    by_value.group_by = vec![1];
    let mut by_host = m;
    by_host.columns = by_value.columns.clone();
    let b = batch(&[at(0, 1, 0)], vec![s(&["a"]), i(&[7])]);
    let keyed = Aggregator::new(Arc::new(by_value))
        .unwrap()
        .group(&b)
        .unwrap();
    let mut other = Aggregator::new(Arc::new(by_host)).unwrap();
    let err = other.push_grouped(&keyed).unwrap_err().to_string();
    assert!(err.contains("other group-by columns"), "{err}");
    assert!(other.drain_all().is_empty());
}

#[test]
fn lateness_window() {
    let m = count_monitor(false);
    // 10:00:00 is accepted while the newest row is 10:02:59.999 ...
    let accepted = batch(
        &[at(0, 30, 0), at(2, 59, 999), at(0, 0, 0)],
        vec![s(&["a", "a", "a"])],
    );
    let (out, counters) = run(&m, &[accepted]);
    assert_eq!(counters.late, 0);
    assert_eq!(out[0].rows[0].value("count"), Some(Value::Int(2)));
    // ... and late once the newest row is 10:03:00 (lateness 120 s).
    let late = batch(
        &[at(0, 30, 0), at(3, 0, 0), at(0, 0, 0), at(2, 0, 0)],
        vec![s(&["a", "a", "a", "a"])],
    );
    let (out, counters) = run(&m, std::slice::from_ref(&late));
    assert_eq!(counters.late, 1);
    let got: Vec<(i64, Option<Value>)> = rows(&out)
        .iter()
        .map(|r| (r.minute, r.value("count")))
        .collect();
    assert_eq!(
        got,
        vec![
            (T0_S, Some(Value::Int(1))),
            (T0_S + 120, Some(Value::Int(1))),
            (T0_S + 180, Some(Value::Int(1))),
        ]
    );
    assert_eq!(run(&m, &one_by_one(&late)), (out, counters));
}

#[test]
fn drained_buckets_are_amended_within_the_lateness_window() {
    let m = count_monitor(false);
    let mut agg = Aggregator::new(Arc::new(m)).expect("aggregator");
    assert_eq!(agg.newest_ms(), None);
    assert_eq!(agg.final_before_ms(), None);
    agg.push(&batch(
        &[at(0, 10, 0), at(1, 10, 0), at(2, 10, 0)],
        vec![s(&["a", "a", "a"])],
    ))
    .expect("push");
    assert_eq!(agg.newest_ms(), Some(at(2, 10, 0)));
    assert!(agg.drain_closed(at(0, 59, 999)).is_empty());
    let closed = agg.drain_closed(at(2, 0, 0));
    let starts: Vec<i64> = closed.iter().map(|b| b.start).collect();
    assert_eq!(starts, vec![T0_S, T0_S + 60]);
    // Lateness 120 s: minutes ending at or before 10:00:10 are final, and
    // the oldest open minute is 10:02.
    assert_eq!(agg.final_before_ms(), Some(at(0, 0, 0)));
    // 10:01 was drained but is inside the lateness window: amended.
    agg.push(&batch(&[at(1, 50, 0), at(2, 20, 0)], vec![s(&["a", "b"])]))
        .expect("push");
    let c = agg.counters();
    assert_eq!((c.late, c.amended), (0, 1));
    assert_eq!(agg.final_before_ms(), Some(at(0, 0, 0)));
    // The amended minute comes out again, whole, with the open ones.
    let again = agg.drain_all();
    let got: Vec<(i64, usize, Option<Value>)> = again
        .iter()
        .map(|b| (b.start, b.rows.len(), b.rows[0].value("count")))
        .collect();
    assert_eq!(
        got,
        vec![
            (T0_S + 60, 1, Some(Value::Int(2))),
            (T0_S + 120, 2, Some(Value::Int(1)))
        ]
    );
    // Nothing changed since: nothing to drain.
    assert!(agg.drain_all().is_empty());
    // 10:02 is amendable until 10:05; then a row of 10:01 is late.
    agg.push(&batch(
        &[at(2, 30, 0), at(6, 0, 0), at(1, 0, 0)],
        vec![s(&["a", "a", "a"])],
    ))
    .expect("push");
    let c = agg.counters();
    assert_eq!((c.late, c.amended), (1, 2));
    let out = agg.drain_all();
    let starts: Vec<i64> = out.iter().map(|b| b.start).collect();
    assert_eq!(starts, vec![T0_S + 120, T0_S + 360]);
    assert_eq!(out[0].rows[0].value("count"), Some(Value::Int(2)));
    assert_eq!(agg.final_before_ms(), Some(at(4, 0, 0)));
    // Rows of a drained minute that never had rows are not amendments.
    agg.drain_closed(at(8, 0, 0));
    agg.push(&batch(&[at(7, 0, 0), at(7, 1, 0)], vec![s(&["a", "a"])]))
        .expect("push");
    agg.push(&batch(&[at(7, 2, 0)], vec![s(&["a"])]))
        .expect("push");
    assert_eq!(agg.counters().amended, 2);
    let out = agg.drain_closed(at(8, 0, 0));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rows[0].value("count"), Some(Value::Int(3)));
    agg.push(&batch(&[at(7, 3, 0)], vec![s(&["a"])]))
        .expect("push");
    assert_eq!(agg.counters().amended, 3);
}

#[test]
fn a_floor_makes_final_minutes_late_after_a_restart() {
    let m = count_monitor(false);
    let mut agg = Aggregator::new(Arc::new(m)).expect("aggregator");
    agg.set_floor(at(2, 0, 0));
    agg.push(&batch(
        &[at(0, 10, 0), at(1, 59, 0), at(2, 0, 0), at(2, 1, 0)],
        vec![s(&["a", "a", "a", "a"])],
    ))
    .expect("push");
    let c = agg.counters();
    assert_eq!((c.late, c.amended, c.key_dropped), (2, 0, 0));
    assert_eq!(
        agg.peek_open()[0].rows[0].value("count"),
        Some(Value::Int(2))
    );
    let out = agg.drain_all();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].start, T0_S + 120);
    assert_eq!(out[0].rows[0].value("count"), Some(Value::Int(2)));
}

#[test]
fn second_stat_buckets() {
    let m = count_monitor(true);
    let b = batch(
        &[T0 + 100, T0 + 900, T0 + 1000, T0 + 2500, -1, -1000],
        vec![s(&["a", "a", "a", "a", "z", "z"])],
    );
    let (out, counters) = run(&m, &[b]);
    // The negative times are far too late after T0.
    assert_eq!(counters.late, 2);
    let got: Vec<(i64, Option<Value>)> = rows(&out)
        .iter()
        .map(|r| (r.minute, r.value("count")))
        .collect();
    assert_eq!(
        got,
        vec![
            (T0_S, Some(Value::Int(2))),
            (T0_S + 1, Some(Value::Int(1))),
            (T0_S + 2, Some(Value::Int(1))),
        ]
    );
    // Floor division before the epoch.
    let b = batch(&[-1, -1000, -1001], vec![s(&["z", "z", "z"])]);
    let (out, _) = run(&m, &[b]);
    let got: Vec<(i64, Option<Value>)> = rows(&out)
        .iter()
        .map(|r| (r.minute, r.value("count")))
        .collect();
    assert_eq!(
        got,
        vec![(-2, Some(Value::Int(1))), (-1, Some(Value::Int(2)))]
    );
}

#[test]
fn numeric_keys_render_as_text() {
    let m = monitor(
        "numkeys",
        Kind::MinuteStat(Stats {
            stats: vec![named("count", Stat::Count)],
        }),
        vec![
            col("code", ColumnType::Int),
            col("ratio", ColumnType::Float),
            col("name", ColumnType::String),
        ],
        vec![2, 0, 1],
    );
    let b = batch(
        &[T0, T0 + 1, T0 + 2, T0 + 3],
        vec![
            i(&[-5, -5, 200, -5]),
            f(&[0.5, 0.5, 1e21, 0.5]),
            s(&["ab", "ab", "", "a"]),
        ],
    );
    let (out, _) = run(&m, &[b]);
    type Keys = Vec<(String, String)>;
    let got: Vec<(Keys, Option<Value>)> = rows(&out)
        .into_iter()
        .map(|r| (r.keys.clone(), r.value("count")))
        .collect();
    let key = |n: &str, c: &str, r: &str| {
        vec![
            ("name".to_string(), n.to_string()),
            ("code".to_string(), c.to_string()),
            ("ratio".to_string(), r.to_string()),
        ]
    };
    assert_eq!(
        got,
        vec![
            (
                key("", "200", "1000000000000000000000"),
                Some(Value::Int(1))
            ),
            (key("a", "-5", "0.5"), Some(Value::Int(1))),
            (key("ab", "-5", "0.5"), Some(Value::Int(2))),
        ]
    );
}

proptest::proptest! {
    #[test]
    fn batch_boundaries_do_not_matter(
        rows in proptest::collection::vec((0i64..400_000, 0usize..3, -50i64..50), 1..60),
        cuts in proptest::collection::vec(0usize..64, 0..8),
    ) {
        let mut m = stats_monitor();
        m.key_limit = 2;
        m.lateness_secs = 60;
        let hosts = ["a", "b", "c"];
        let times: Vec<i64> = rows.iter().map(|r| T0 + r.0).collect();
        let b = batch(
            &times,
            vec![
                s(&rows.iter().map(|r| hosts[r.1]).collect::<Vec<_>>()),
                i(&rows.iter().map(|r| r.2).collect::<Vec<_>>()),
                f(&rows.iter().map(|r| r.2 as f64 / 2.0).collect::<Vec<_>>()),
                s(&rows.iter().map(|r| hosts[r.1]).collect::<Vec<_>>()),
                s(&rows.iter().map(|r| hosts[r.1]).collect::<Vec<_>>()),
            ],
        );
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (rows.len() + 1)).collect();
        bounds.extend([0, rows.len()]);
        bounds.sort_unstable();
        bounds.dedup();
        let chunks: Vec<_> = bounds.windows(2).map(|w| b.slice(w[0], w[1] - w[0])).collect();
        let whole = run(&m, std::slice::from_ref(&b));
        proptest::prop_assert_eq!(run(&m, &chunks), whole.clone());
        proptest::prop_assert_eq!(run(&m, &one_by_one(&b)), whole);
    }
}
