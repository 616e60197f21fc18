//! Read-only SQL over a real minute store in a temporary directory; the
//! expected numbers are computed from the written rows by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value as J};
use vigil_config::monitor::{ColumnType, Kind, Monitor, Order, RecordTop, Stats};
use vigil_engine::sql::{SqlEngine, SqlError, SqlLimits, SqlResult};
use vigil_engine::store::{MinuteStore, DEFAULT_RETENTION_SECS};
use vigil_model::{MinuteRow, Value};

use super::{col, monitor, T0_S};

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

/// A row of `web` with an integer `count` and a float `avg_ms`.
fn web_row(minute: i64, host: &str, path: &str, count: i64, avg_ms: Value) -> MinuteRow {
    let mut r = MinuteRow::new(
        "web",
        minute,
        vec![
            ("host".to_string(), host.to_string()),
            ("path".to_string(), path.to_string()),
        ],
    );
    r.values = vec![
        ("count".to_string(), Value::Int(count)),
        ("avg_ms".to_string(), avg_ms),
    ];
    r
}

/// Four minutes × three hosts × two paths; every third `avg_ms` missing.
fn web_rows() -> Vec<MinuteRow> {
    let mut rows = Vec::new();
    for m in 0..4_i64 {
        for (h, host) in ["a", "b", "c"].into_iter().enumerate() {
            for (p, path) in ["/x", "/y"].into_iter().enumerate() {
                let n = m * 6 + h as i64 * 2 + p as i64;
                let avg = if n % 3 == 0 {
                    Value::Missing
                } else {
                    Value::Float(n as f64 + 0.25)
                };
                rows.push(web_row(T0_S + m * 60, host, path, n * 10 + 1, avg));
            }
        }
    }
    rows
}

/// A writing handle and an engine over a second, reading handle.
fn open(dir: &Path) -> (MinuteStore, SqlEngine) {
    let writer = MinuteStore::open(dir, DEFAULT_RETENTION_SECS).expect("open writer");
    let reader = MinuteStore::open(dir, DEFAULT_RETENTION_SECS).expect("open reader");
    (writer, SqlEngine::new(Arc::new(reader)))
}

async fn query(engine: &SqlEngine, sql: &str) -> SqlResult {
    engine
        .query(sql, SqlLimits::default())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn refused(engine: &SqlEngine, sql: &str) -> SqlError {
    match engine.query(sql, SqlLimits::default()).await {
        Ok(r) => panic!("{sql} ran: {r:?}"),
        Err(e) => e,
    }
}

/// RFC 3339 UTC text of epoch seconds.
fn utc(s: i64) -> String {
    chrono::DateTime::from_timestamp(s, 0)
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[tokio::test]
async fn group_by_sums_match_hand_sums() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, engine) = open(dir.path());
    store.write(&web(), &web_rows()).expect("write");

    let mut want: BTreeMap<String, (i64, i64, f64)> = BTreeMap::new();
    for r in web_rows() {
        let e = want.entry(r.key("host").unwrap().to_string()).or_default();
        let Some(Value::Int(count)) = r.value("count") else {
            unreachable!()
        };
        e.0 += count;
        if let Some(Value::Float(avg)) = r.value("avg_ms") {
            e.1 += 1;
            e.2 += avg;
        }
    }
    let got = query(
        &engine,
        "SELECT host, sum(count) AS total, count(avg_ms) AS n, sum(avg_ms) AS s \
         FROM web GROUP BY host ORDER BY host",
    )
    .await;
    assert_eq!(got.columns, ["host", "total", "n", "s"]);
    assert!(!got.truncated);
    let want: Vec<Vec<J>> = want
        .into_iter()
        .map(|(host, (total, n, s))| vec![json!(host), json!(total), json!(n), json!(s)])
        .collect();
    assert_eq!(got.rows, want);
}

#[tokio::test]
async fn rows_render_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, engine) = open(dir.path());
    store.write(&web(), &web_rows()).expect("write");

    let got = query(
        &engine,
        "SELECT * FROM web WHERE host = 'a' AND path = '/x' ORDER BY minute LIMIT 2",
    )
    .await;
    assert_eq!(
        got.columns,
        ["minute", "period", "host", "path", "count", "avg_ms", "rank", "line"]
    );
    // Minute 0: n = 0, avg missing; minute 1: n = 6, avg missing too.
    assert_eq!(
        got.rows,
        vec![
            vec![
                json!(utc(T0_S)),
                J::Null,
                json!("a"),
                json!("/x"),
                json!(1),
                J::Null,
                J::Null,
                J::Null
            ],
            vec![
                json!(utc(T0_S + 60)),
                J::Null,
                json!("a"),
                json!("/x"),
                json!(61),
                J::Null,
                J::Null,
                J::Null
            ],
        ]
    );
    assert_eq!(json!("2024-03-13T10:00:00Z"), got.rows[0][0]);
    assert_eq!(
        got.to_json(),
        json!({"columns": got.columns, "rows": got.rows, "truncated": false})
    );

    // Host b, path /x, minute 0: n = 2, avg 2.25.
    let got = query(
        &engine,
        "SELECT date_trunc('hour', minute) AS h, avg_ms FROM web \
         WHERE host = 'b' AND path = '/x' ORDER BY minute LIMIT 1",
    )
    .await;
    assert_eq!(got.rows, vec![vec![json!(utc(T0_S)), json!(2.25)]]);
}

#[tokio::test]
async fn where_on_minute_returns_only_that_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, engine) = open(dir.path());
    store.write(&web(), &web_rows()).expect("write");

    let minutes = |r: &SqlResult| -> Vec<J> { r.rows.iter().map(|row| row[0].clone()).collect() };
    let want = vec![json!(utc(T0_S + 60)), json!(utc(T0_S + 120))];
    for sql in [
        "SELECT DISTINCT minute FROM web \
         WHERE minute >= TIMESTAMP '2024-03-13T10:01:00Z' AND minute < '2024-03-13T10:03:00Z' \
         ORDER BY minute",
        "SELECT DISTINCT minute FROM web \
         WHERE minute BETWEEN to_timestamp(1710324060) AND to_timestamp(1710324120) ORDER BY 1",
        "SELECT DISTINCT minute FROM web \
         WHERE minute > to_timestamp_seconds(1710324000) AND minute <= '2024-03-13T10:02:30Z' \
         ORDER BY 1",
        "SELECT DISTINCT minute FROM web \
         WHERE CAST(minute AS BIGINT) BETWEEN 1710324060 AND 1710324179 ORDER BY 1",
    ] {
        assert_eq!(minutes(&query(&engine, sql).await), want, "{sql}");
    }
    let got = query(
        &engine,
        "SELECT count(*), sum(count) FROM web WHERE minute = '2024-03-13T10:03:00Z'",
    )
    .await;
    let want_sum: i64 = web_rows()
        .iter()
        .filter(|r| r.minute == T0_S + 180)
        .map(|r| match r.value("count") {
            Some(Value::Int(c)) => c,
            _ => 0,
        })
        .sum();
    assert_eq!(got.rows, vec![vec![json!(6), json!(want_sum)]]);
}

/// The data files under `dir`, recursively.
fn data_files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(data_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.insert(path);
        }
    }
    out
}

#[tokio::test]
async fn minute_filters_narrow_the_store_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, engine) = open(dir.path());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let recent = now / 60 * 60;
    let old = recent - 5 * 3600;
    store
        .write(&web(), &[web_row(recent, "a", "/x", 1, Value::Missing)])
        .expect("write recent");
    let before = data_files(dir.path());
    store
        .write(&web(), &[web_row(old, "a", "/x", 2, Value::Missing)])
        .expect("write old");
    // Break the old rows' files: a read that touches them fails.
    for path in data_files(dir.path()).difference(&before) {
        std::fs::write(path, b"not parquet").expect("break");
    }
    let got = query(
        &engine,
        "SELECT sum(count) FROM web WHERE minute >= now() - INTERVAL '2 hours'",
    )
    .await;
    assert_eq!(got.rows, vec![vec![json!(1)]]);
    let err = refused(&engine, "SELECT sum(count) FROM web").await;
    assert!(matches!(err, SqlError::Store(_)), "{err:?}");
}

#[tokio::test]
async fn an_amended_minute_counts_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, engine) = open(dir.path());
    let first = [
        web_row(T0_S, "a", "/x", 5, Value::Float(1.5)),
        web_row(T0_S, "b", "/x", 7, Value::Float(2.5)),
        web_row(T0_S + 60, "a", "/x", 100, Value::Missing),
    ];
    store.write(&web(), &first).expect("write");
    let amended = [
        web_row(T0_S, "a", "/x", 1, Value::Float(0.5)),
        web_row(T0_S, "b", "/x", 2, Value::Missing),
    ];
    store.write(&web(), &amended).expect("amend");

    let got = query(
        &engine,
        "SELECT minute, count(*), sum(count), sum(avg_ms) FROM web GROUP BY minute ORDER BY minute",
    )
    .await;
    assert_eq!(
        got.rows,
        vec![
            vec![json!(utc(T0_S)), json!(2), json!(1 + 2), json!(0.5)],
            vec![json!(utc(T0_S + 60)), json!(1), json!(100), J::Null],
        ]
    );
}

#[tokio::test]
async fn only_queries_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, engine) = open(dir.path());
    store.write(&web(), &web_rows()).expect("write");

    for sql in [
        "CREATE TABLE t (x INT)",
        "CREATE VIEW v AS SELECT * FROM web",
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/tmp/t.csv'",
        "INSERT INTO web (host) VALUES ('z')",
        "DELETE FROM web",
        "UPDATE web SET host = 'z'",
        "DROP TABLE web",
        "COPY web TO '/tmp/web.csv'",
        "SET datafusion.execution.batch_size = 1",
        "SELECT * INTO t FROM web",
        "EXPLAIN INSERT INTO web (host) VALUES ('z')",
    ] {
        let err = refused(&engine, sql).await;
        assert!(matches!(err, SqlError::ReadOnly(_)), "{sql}: {err:?}");
        assert!(err.to_string().contains("read-only"), "{sql}: {err}");
    }
    let got = query(&engine, "SELECT count(*) FROM web").await;
    assert_eq!(got.rows, vec![vec![json!(web_rows().len())]]);
    query(&engine, "EXPLAIN SELECT count(*) FROM web").await;
    query(&engine, "DESCRIBE web").await;
    query(
        &engine,
        "WITH x AS (SELECT host FROM web) SELECT count(*) FROM x",
    )
    .await;
}

#[tokio::test]
async fn unknown_names_are_the_callers_mistake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, engine) = open(dir.path());
    store.write(&web(), &web_rows()).expect("write");

    for (sql, culprit) in [
        ("SELECT * FROM nosuch", "nosuch"),
        ("SELECT nosuch_col FROM web", "nosuch_col"),
        ("SELECT no_such_fn(count) FROM web", "no_such_fn"),
        ("SELEC 1", "SELEC"),
    ] {
        let err = refused(&engine, sql).await;
        assert!(matches!(err, SqlError::Query(_)), "{sql}: {err:?}");
        assert!(err.to_string().contains(culprit), "{sql}: {err}");
    }
}

#[tokio::test]
async fn the_row_limit_truncates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, engine) = open(dir.path());
    store.write(&web(), &web_rows()).expect("write");
    let all = web_rows().len();

    let limits = |max_rows| SqlLimits {
        max_rows,
        ..SqlLimits::default()
    };
    let sql = "SELECT minute, host, path FROM web ORDER BY minute, host, path";
    let got = engine.query(sql, limits(5)).await.expect("query");
    assert_eq!(got.rows.len(), 5);
    assert!(got.truncated);
    let full = engine.query(sql, limits(all)).await.expect("query");
    assert_eq!(full.rows.len(), all);
    assert!(!full.truncated);
    assert_eq!(got.rows, full.rows[..5]);
    let none = engine.query(sql, limits(0)).await.expect("query");
    assert!(none.rows.is_empty() && none.truncated);
    // Far more rows than fit: only the first ones are collected.
    let many = engine
        .query("SELECT * FROM generate_series(1, 100000000)", limits(3))
        .await
        .expect("query");
    assert_eq!(
        many.rows,
        vec![vec![json!(1)], vec![json!(2)], vec![json!(3)]]
    );
    assert!(many.truncated);
}

#[tokio::test]
async fn the_time_limit_stops_a_long_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, engine) = open(dir.path());
    let limits = SqlLimits {
        timeout: Duration::from_millis(200),
        ..SqlLimits::default()
    };
    let start = Instant::now();
    let err = engine
        .query(
            "SELECT sum(value) FROM generate_series(1, 100000000000)",
            limits,
        )
        .await
        .expect_err("too long");
    assert!(
        matches!(err, SqlError::Timeout(t) if t == limits.timeout),
        "{err:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn monitors_stored_later_and_dashed_names_are_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, engine) = open(dir.path());
    let trade = monitor(
        "trade-errors",
        Kind::MinuteStat(Stats::default()),
        vec![col("code", ColumnType::String)],
        vec![0],
    );
    let row = |minute, code: &str, count| {
        let mut r = MinuteRow::new("trade-errors", minute, vec![("code".into(), code.into())]);
        r.values = vec![("count".into(), Value::Int(count))];
        r
    };
    store
        .write(
            &trade,
            &[
                row(T0_S, "E1", 3),
                row(T0_S, "E2", 4),
                row(T0_S + 60, "E1", 5),
            ],
        )
        .expect("write");
    // The engine is shared across tasks (as a server would).
    let engine = Arc::new(engine);
    let shared = Arc::clone(&engine);
    let got = tokio::spawn(async move {
        let sql = "SELECT code, sum(count) FROM \"trade-errors\" GROUP BY code ORDER BY code";
        shared.query(sql, SqlLimits::default()).await
    })
    .await
    .expect("task")
    .expect("query");
    assert_eq!(
        got.rows,
        vec![vec![json!("E1"), json!(8)], vec![json!("E2"), json!(4)]]
    );
}

#[tokio::test]
async fn top_rows_have_rank_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, engine) = open(dir.path());
    let slow = monitor(
        "slow",
        Kind::RecordTop(RecordTop {
            by: 0,
            n: 2,
            order: Order::Desc,
        }),
        vec![col("ms", ColumnType::Int)],
        vec![],
    );
    let rows: Vec<MinuteRow> = [(1, 900), (2, 450)]
        .into_iter()
        .map(|(rank, ms)| {
            let mut r = MinuteRow::new("slow", T0_S, Vec::new());
            r.values = vec![("ms".into(), Value::Int(ms))];
            r.rank = Some(rank);
            r.line = Some(format!("GET /slow {ms}ms"));
            r
        })
        .collect();
    store.write(&slow, &rows).expect("write");
    let got = query(
        &engine,
        "SELECT rank, ms, line FROM slow ORDER BY rank DESC",
    )
    .await;
    assert_eq!(
        got.rows,
        vec![
            vec![json!(2), json!(450), json!("GET /slow 450ms")],
            vec![json!(1), json!(900), json!("GET /slow 900ms")],
        ]
    );
}
