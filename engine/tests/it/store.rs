//! The minute store: real Parquet files in a temporary directory.

use std::path::Path;

use vigil_config::monitor::{ColumnType, Kind, Monitor, Order, RecordTop, Stats};
use vigil_engine::store::{MinuteStore, StoreError, DEFAULT_RETENTION_SECS};
use vigil_model::{MinuteRow, Value};

use super::{col, monitor, T0_S};

const ALL: (i64, i64) = (i64::MIN, i64::MAX);
const DAY: i64 = 86_400;

/// A stat monitor keyed by host and path.
fn web() -> Monitor {
    monitor(
        "web",
        Kind::MinuteStat(Stats::default()),
        vec![
            col("host", ColumnType::String),
            col("path", ColumnType::String),
        ],
        vec![0, 1],
    )
}

/// A record_top monitor without keys.
fn top() -> Monitor {
    monitor(
        "slow",
        Kind::RecordTop(RecordTop {
            by: 0,
            n: 3,
            order: Order::Desc,
        }),
        vec![col("ms", ColumnType::Int)],
        vec![],
    )
}

/// A row of `web`: `count` and `avg` values.
fn row(minute: i64, host: &str, path: &str, count: Value, avg: Value) -> MinuteRow {
    let mut r = MinuteRow::new(
        "web",
        minute,
        vec![
            ("host".to_string(), host.to_string()),
            ("path".to_string(), path.to_string()),
        ],
    );
    r.values = vec![("count".to_string(), count), ("avg".to_string(), avg)];
    r
}

fn sorted(mut rows: Vec<MinuteRow>) -> Vec<MinuteRow> {
    rows.sort_by(MinuteRow::output_order);
    rows
}

fn read_all(store: &MinuteStore, name: &str) -> Vec<MinuteRow> {
    store.read(name, ALL.0, ALL.1).expect("read")
}

fn open(dir: &Path) -> MinuteStore {
    MinuteStore::open(dir, DEFAULT_RETENTION_SECS).expect("open")
}

/// Rows in two hours, with every kind of value and odd floats.
fn sample() -> Vec<MinuteRow> {
    vec![
        row(T0_S + 60, "b", "/x", Value::Int(3), Value::Float(0.1 + 0.2)),
        row(
            T0_S,
            "a",
            "/x",
            Value::Int(-7),
            Value::Float(f64::MIN_POSITIVE),
        ),
        row(T0_S, "a", "/y", Value::Int(i64::MAX), Value::Missing),
        row(
            T0_S + 3600 + 59 * 60,
            "a",
            "/x",
            Value::Int(0),
            Value::Float(-1e300),
        ),
        row(T0_S + 3600, "c", "", Value::Missing, Value::Float(f64::MAX)),
    ]
}

/// Record-top rows: ranks, raw lines and attached lines.
fn top_rows() -> Vec<MinuteRow> {
    (1..=3)
        .map(|rank| {
            let mut r = MinuteRow::new("slow", T0_S, Vec::new());
            r.values = vec![("ms".to_string(), Value::Int(100 - i64::from(rank)))];
            r.rank = Some(rank);
            r.line = Some(format!("line \"{rank}\" é\n|x"));
            r.lines = vec![format!("a{rank}"), "[\"json\"]".to_string()];
            r.period = (rank == 2).then(|| "hour".to_string());
            r
        })
        .collect()
}

#[test]
fn rows_read_back_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    store.write(&web(), &sample()).expect("write");
    store.write(&top(), &top_rows()).expect("write top");
    let back = read_all(&store, "web");
    assert_eq!(back, sorted(sample()));
    for (a, b) in back.iter().zip(sorted(sample()).iter()) {
        for ((_, x), (_, y)) in a.values.iter().zip(b.values.iter()) {
            assert_eq!(x.as_f64().map(f64::to_bits), y.as_f64().map(f64::to_bits));
        }
    }
    assert_eq!(read_all(&store, "slow"), sorted(top_rows()));
    assert_eq!(
        store.monitors(),
        vec!["slow".to_string(), "web".to_string()]
    );
}

#[test]
fn hour_partitions_and_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    store.write(&web(), &sample()).expect("write");
    let mut parts: Vec<String> = std::fs::read_dir(dir.path().join("web"))
        .expect("monitor dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    parts.sort();
    // T0 is 2024-03-13 10:00 UTC.
    assert_eq!(parts, vec!["2024-03-13T10", "2024-03-13T11"]);
    assert!(dir.path().join("web").join("schema.json").is_file());

    let second = store.read("web", T0_S + 3600, T0_S + 7200).expect("read");
    let want: Vec<MinuteRow> = sorted(sample())
        .into_iter()
        .filter(|r| r.minute >= T0_S + 3600)
        .collect();
    assert_eq!(second, want);
    assert_eq!(second.len(), 2);

    let one_minute = store.read("web", T0_S, T0_S + 60).expect("read");
    assert_eq!(one_minute.len(), 2);
    assert!(one_minute.iter().all(|r| r.minute == T0_S));
    // Only overlapping partitions are opened: a broken file in hour 10 does
    // not disturb a read of hour 11, and is reported with its path.
    let broken = dir
        .path()
        .join("web/2024-03-13T10/00000000000000000050.parquet");
    std::fs::write(&broken, b"not parquet").expect("broken file");
    assert_eq!(
        store.read("web", T0_S + 3600, T0_S + 7200).expect("read"),
        want
    );
    let err = store.read("web", T0_S, T0_S + 60).expect_err("broken");
    assert!(matches!(err, StoreError::Parquet { ref path, .. } if *path == broken));
    assert!(store
        .read("web", T0_S + 7200, T0_S + 9000)
        .expect("read")
        .is_empty());
}

#[test]
fn amendment_replaces_earlier_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    store.write(&web(), &sample()).expect("write");
    let amended = row(T0_S, "a", "/x", Value::Int(99), Value::Missing);
    store
        .write(&web(), std::slice::from_ref(&amended))
        .expect("amend");
    // The minute is replaced whole: its other keys are gone, other
    // minutes are untouched.
    let back = read_all(&store, "web");
    let in_t0: Vec<&MinuteRow> = back.iter().filter(|r| r.minute == T0_S).collect();
    assert_eq!(in_t0, vec![&amended]);
    let others: Vec<MinuteRow> = sample().into_iter().filter(|r| r.minute != T0_S).collect();
    assert!(!others.is_empty());
    assert_eq!(back.len(), 1 + others.len());
    for r in &others {
        assert!(back.contains(r), "{r:?} kept");
    }

    // All ranks of a top minute are replaced together by the newer file;
    // rank 2 has another period and stays.
    store.write(&top(), &top_rows()).expect("write top");
    let mut r1 = top_rows().remove(0);
    r1.values = vec![("ms".to_string(), Value::Int(1))];
    store
        .write(&top(), std::slice::from_ref(&r1))
        .expect("amend top");
    let tops = read_all(&store, "slow");
    assert_eq!(tops, vec![r1, top_rows().remove(1)]);
}

#[test]
fn reopen_reads_the_same_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = {
        let mut store = open(dir.path());
        store.write(&web(), &sample()).expect("write");
        store
            .write(
                &web(),
                &[row(T0_S, "a", "/y", Value::Int(1), Value::Float(2.5))],
            )
            .expect("amend");
        read_all(&store, "web")
    };
    // A leftover of an interrupted write is ignored and removed.
    let leftover = dir
        .path()
        .join("web/2024-03-13T10/00000000000000000099.parquet.tmp");
    std::fs::write(&leftover, b"garbage").expect("leftover");
    let mut store = open(dir.path());
    assert!(!leftover.exists());
    assert_eq!(read_all(&store, "web"), before);
    assert_eq!(store.monitors(), vec!["web".to_string()]);
    // Writes after the restart still win over the files written before.
    let again = row(T0_S, "a", "/y", Value::Int(2), Value::Missing);
    store
        .write(&web(), std::slice::from_ref(&again))
        .expect("amend");
    let back = read_all(&store, "web");
    assert!(back.contains(&again));
    assert_eq!(back.len(), before.len());
}

#[test]
fn retention_deletes_old_partitions_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    let now = T0_S + 30 * DAY;
    let old = row(T0_S, "a", "/x", Value::Int(1), Value::Missing);
    let edge = row(
        now - DEFAULT_RETENTION_SECS - 3600,
        "a",
        "/x",
        Value::Int(2),
        Value::Missing,
    );
    let recent = row(
        now - DEFAULT_RETENTION_SECS,
        "a",
        "/x",
        Value::Int(3),
        Value::Missing,
    );
    let fresh = row(now - 60, "a", "/x", Value::Int(4), Value::Missing);
    store
        .write(&web(), &[old, edge, recent.clone(), fresh.clone()])
        .expect("write");
    assert_eq!(store.apply_retention(now).expect("retention"), 2);
    assert_eq!(read_all(&store, "web"), vec![recent.clone(), fresh.clone()]);
    assert_eq!(store.apply_retention(now).expect("retention"), 0);
    let store = open(dir.path());
    assert_eq!(read_all(&store, "web"), vec![recent, fresh]);
}

#[test]
fn unknown_or_empty_monitor_reads_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    assert!(read_all(&store, "web").is_empty());
    store.write(&web(), &[]).expect("write nothing");
    assert!(read_all(&store, "web").is_empty());
    assert!(store.monitors().is_empty());
}

#[test]
fn value_types_are_fixed_and_names_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    // Only missing avg: its type is not fixed yet.
    store
        .write(
            &web(),
            &[row(T0_S, "a", "/x", Value::Int(1), Value::Missing)],
        )
        .expect("write");
    store
        .write(
            &web(),
            &[row(T0_S + 60, "a", "/x", Value::Int(1), Value::Float(1.5))],
        )
        .expect("write");
    let err = store
        .write(
            &web(),
            &[row(
                T0_S + 120,
                "a",
                "/x",
                Value::Float(1.0),
                Value::Missing,
            )],
        )
        .expect_err("count is an int");
    assert!(matches!(err, StoreError::TypeMismatch { ref value, .. } if value == "count"));
    assert!(err.to_string().contains("schema.json"), "{err}");
    assert_eq!(read_all(&store, "web").len(), 2);
    assert!(matches!(
        store.read("../x", 0, 1),
        Err(StoreError::BadMonitorName { .. })
    ));
}
