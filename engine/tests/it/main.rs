//! Integration tests of vigil-engine: monitors and record batches built by
//! hand, expected values computed by hand.

mod archive;
mod errors;
mod merge;
mod sql;
mod stats;
mod store;
mod top;

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use vigil_config::monitor::{Column, ColumnType, Encoding, Kind, Monitor, Rule, Source};
use vigil_engine::{Aggregator, ClosedBucket, EngineCounters};
use vigil_model::{MinuteRow, Value};

/// 2024-03-13 10:00:00 UTC, epoch ms.
pub const T0: i64 = 1_710_324_000_000;
/// The same, epoch seconds.
pub const T0_S: i64 = T0 / 1000;

/// T0 + minutes, seconds and milliseconds.
pub fn at(min: i64, sec: i64, ms: i64) -> i64 {
    T0 + min * 60_000 + sec * 1000 + ms
}

/// A column of the given name and type.
pub fn col(name: &str, ty: ColumnType) -> Column {
    Column {
        name: name.to_string(),
        rule: Rule::Split {
            delimiter: b"|".to_vec(),
            index: 0,
        },
        ty,
        trim: true,
        required: false,
        translate: None,
    }
}

/// A monitor with a generous key limit and 120 s of lateness.
pub fn monitor(name: &str, kind: Kind, columns: Vec<Column>, group_by: Vec<usize>) -> Monitor {
    Monitor {
        name: name.to_string(),
        app: None,
        kind,
        source: Some(Source {
            paths: Vec::new(),
            encoding: Encoding::Utf8,
            timezone: chrono_tz::UTC,
            multiline: None,
            max_line_bytes: 65_536,
            rate_limit_kb_per_min: None,
        }),
        time: None,
        columns,
        include: Vec::new(),
        exclude: Vec::new(),
        group_by,
        key_limit: 1000,
        lateness_secs: 120,
        alerts: Vec::new(),
    }
}

/// A string array.
pub fn s(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

/// An int array.
pub fn i(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

/// A float array.
pub fn f(values: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(values.to_vec()))
}

/// A batch: times, then the given columns.
pub fn batch(times: &[i64], cols: Vec<ArrayRef>) -> RecordBatch {
    let mut all = vec![("time".to_string(), i(times))];
    all.extend(
        cols.into_iter()
            .enumerate()
            .map(|(n, c)| (format!("c{n}"), c)),
    );
    RecordBatch::try_from_iter(all).expect("valid batch")
}

/// Runs `batches` through a new aggregator of `m`, then drains everything.
pub fn run(m: &Monitor, batches: &[RecordBatch]) -> (Vec<ClosedBucket>, EngineCounters) {
    let mut agg = Aggregator::new(Arc::new(m.clone())).expect("aggregator");
    for b in batches {
        agg.push(b).expect("push");
    }
    let out = agg.drain_all();
    (out, agg.counters())
}

/// All rows of closed buckets.
pub fn rows(buckets: &[ClosedBucket]) -> Vec<MinuteRow> {
    buckets.iter().flat_map(|b| b.rows.clone()).collect()
}

/// The values of a row, without their names.
pub fn vals(row: &MinuteRow) -> Vec<Value> {
    row.values.iter().map(|(_, v)| *v).collect()
}

/// One-row slices of a batch.
pub fn one_by_one(b: &RecordBatch) -> Vec<RecordBatch> {
    (0..b.num_rows()).map(|r| b.slice(r, 1)).collect()
}
