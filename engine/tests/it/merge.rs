//! Merging partials in any grouping and order gives the partial of all rows.

use proptest::prelude::*;
use vigil_config::monitor::{ColumnType, Kind, NamedStat, Service, Stat, Stats};
use vigil_engine::{KeyedPartial, Partial};

use crate::*;

fn named(name: &str, stat: Stat) -> NamedStat {
    NamedStat {
        name: name.to_string(),
        stat,
    }
}

fn stats_monitor() -> Monitor {
    monitor(
        "m",
        Kind::MinuteStat(Stats {
            stats: vec![
                named("count", Stat::Count),
                named("sum_n", Stat::Sum(1)),
                named("sum_x", Stat::Sum(2)),
                named("avg_x", Stat::Avg(2)),
                named("min_n", Stat::Min(1)),
                named("max_x", Stat::Max(2)),
                named("min_x", Stat::Min(2)),
                named(
                    "occ",
                    Stat::Occurrences {
                        text: "a".to_string(),
                        column: Some(0),
                    },
                ),
                named("ratio", Stat::Ratio(2, 1)),
            ],
        }),
        vec![
            col("host", ColumnType::String),
            col("n", ColumnType::Int),
            col("x", ColumnType::Float),
        ],
        vec![0],
    )
}

fn service_monitor() -> Monitor {
    monitor(
        "s",
        Kind::ServiceMetrics(Service {
            result: 0,
            success: vec!["a".to_string()],
            count: Some(1),
            elapsed: Some(2),
        }),
        vec![
            col("host", ColumnType::String),
            col("n", ColumnType::Int),
            col("x", ColumnType::Float),
        ],
        vec![0],
    )
}

/// Rows: host, n, x (x a multiple of 1/4, so float sums are exact in any order).
type Row = (String, i64, f64);

/// The partials of each chunk of `rows` (one bucket: all rows in one minute).
fn partials(m: &Monitor, rows: &[Row], cuts: &[usize]) -> Vec<Vec<KeyedPartial>> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (rows.len() + 1)).collect();
    bounds.push(0);
    bounds.push(rows.len());
    bounds.sort_unstable();
    bounds.dedup();
    bounds
        .windows(2)
        .map(|w| {
            let chunk = &rows[w[0]..w[1]];
            let times: Vec<i64> = (0..chunk.len() as i64).map(|k| T0 + k).collect();
            let hosts: Vec<&str> = chunk.iter().map(|r| r.0.as_str()).collect();
            let ns: Vec<i64> = chunk.iter().map(|r| r.1).collect();
            let xs: Vec<f64> = chunk.iter().map(|r| r.2).collect();
            let (out, _) = run(m, &[batch(&times, vec![s(&hosts), i(&ns), f(&xs)])]);
            out.into_iter().flat_map(|b| b.partials).collect()
        })
        .collect()
}

/// Merges the partials of `key` from every chunk, in the order and grouping
/// that `picks` select: repeatedly merge one pending partial into another.
fn merge_all(
    chunks: Vec<Vec<KeyedPartial>>,
    key: &str,
    picks: &[(usize, usize)],
) -> Option<Partial> {
    let mut pending: Vec<Partial> = chunks
        .into_iter()
        .flatten()
        .filter(|kp| kp.key == [key.to_string()])
        .map(|kp| kp.partial)
        .collect();
    let mut picks = picks.iter().cycle();
    while pending.len() > 1 {
        let &(a, b) = picks.next().unwrap_or(&(0, 1));
        let from = a % pending.len();
        let source = pending.swap_remove(from);
        let into = b % pending.len();
        pending[into].merge(&source);
    }
    pending.pop()
}

fn rows_strategy() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["a", "b", "aa"]),
            -1_000_000i64..1_000_000,
            -4_000i64..4_000,
        )
            .prop_map(|(h, n, q)| (h.to_string(), n, q as f64 / 4.0)),
        1..40,
    )
}

proptest! {
    #[test]
    fn merging_partials_is_order_and_grouping_independent(
        rows in rows_strategy(),
        cuts in prop::collection::vec(0usize..64, 0..6),
        picks in prop::collection::vec((0usize..16, 0usize..16), 1..8),
    ) {
        for m in [stats_monitor(), service_monitor()] {
            let whole = partials(&m, &rows, &[]);
            for key in ["a", "b", "aa"] {
                let expected = merge_all(whole.clone(), key, &[]);
                let merged = merge_all(partials(&m, &rows, &cuts), key, &picks);
                prop_assert_eq!(merged, expected);
            }
        }
    }
}
