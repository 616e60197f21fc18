//! Batches that break the contract, monitors the engine refuses.

use std::sync::Arc;

use vigil_config::monitor::{Archive, ColumnType, Kind, NamedStat, Period, Stat, Stats};
use vigil_engine::{Aggregator, Error};

use crate::*;

fn sum_monitor() -> Monitor {
    monitor(
        "m",
        Kind::MinuteStat(Stats {
            stats: vec![NamedStat {
                name: "sum_n".to_string(),
                stat: Stat::Sum(1),
            }],
        }),
        vec![col("host", ColumnType::String), col("n", ColumnType::Int)],
        vec![0],
    )
}

#[test]
fn batches_must_match_the_contract() {
    let mut agg = Aggregator::new(Arc::new(sum_monitor())).expect("aggregator");
    let err = agg.push(&batch(&[T0], vec![s(&["a"])])).unwrap_err();
    assert!(matches!(
        err,
        Error::ColumnCount {
            expected: 3,
            found: 2,
            ..
        }
    ));
    let err = agg
        .push(&batch(&[T0], vec![s(&["a"]), f(&[1.0])]))
        .unwrap_err();
    match &err {
        Error::ColumnType {
            monitor, column, ..
        } => {
            assert_eq!(monitor, "m");
            assert_eq!(column, "n");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("`n`"), "{err}");
    let nulls: arrow::array::ArrayRef =
        Arc::new(arrow::array::StringArray::from(vec![Some("a"), None]));
    let err = agg
        .push(&batch(&[T0, T0], vec![nulls, i(&[1, 2])]))
        .unwrap_err();
    assert!(matches!(err, Error::Nulls { nulls: 1, .. }), "{err:?}");
    // A refused batch changes nothing.
    assert_eq!(agg.newest_ms(), None);
    assert!(agg.drain_all().is_empty());
}

#[test]
fn inconsistent_monitors_are_refused() {
    let mut m = sum_monitor();
    m.kind = Kind::MinuteStat(Stats {
        stats: vec![NamedStat {
            name: "sum_host".to_string(),
            stat: Stat::Sum(0),
        }],
    });
    assert!(matches!(
        Aggregator::new(Arc::new(m)),
        Err(Error::Invalid { .. })
    ));
    let mut m = sum_monitor();
    m.group_by = vec![7];
    assert!(matches!(
        Aggregator::new(Arc::new(m)),
        Err(Error::Invalid { .. })
    ));
    let mut m = sum_monitor();
    m.kind = Kind::Archive(Archive {
        of: "x".to_string(),
        periods: vec![Period::Hour],
    });
    assert!(matches!(
        Aggregator::new(Arc::new(m)),
        Err(Error::Unsupported { .. })
    ));
}
