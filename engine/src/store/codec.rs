//! Rows to Arrow batches in Parquet files, and back.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use vigil_model::{MinuteRow, Value};

use super::StoreError;

const MINUTE: &str = "minute";
const PERIOD: &str = "period";
const RANK: &str = "rank";
const LINE: &str = "line";
const LINES: &str = "lines";
const KEY_PREFIX: &str = "k:";
const VALUE_PREFIX: &str = "v:";

/// The stored type of a value name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    /// `Value::Int`, an Int64 column.
    Int,
    /// `Value::Float`, a Float64 column.
    Float,
}

impl ValueType {
    /// The name in `schema.json`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ValueType::Int => "int",
            ValueType::Float => "float",
        }
    }

    /// The type of a `schema.json` name.
    pub(crate) fn parse(name: &str) -> Option<ValueType> {
        match name {
            "int" => Some(ValueType::Int),
            "float" => Some(ValueType::Float),
            _ => None,
        }
    }

    /// The type of a value, `None` for `Missing`.
    fn of(v: Value) -> Option<ValueType> {
        match v {
            Value::Int(_) => Some(ValueType::Int),
            Value::Float(_) => Some(ValueType::Float),
            Value::Missing => None,
        }
    }
}

/// Adds the types of value names seen for the first time in `rows` to
/// `types`; refuses a value of another type than recorded. Returns whether
/// `types` changed.
pub(crate) fn learn_types(
    types: &mut BTreeMap<String, ValueType>,
    rows: &[MinuteRow],
    schema_path: &Path,
) -> Result<bool, StoreError> {
    let mut changed = false;
    for (name, v) in rows.iter().flat_map(|r| r.values.iter()) {
        let Some(found) = ValueType::of(*v) else {
            continue;
        };
        match types.get(name) {
            Some(&stored) if stored != found => {
                return Err(StoreError::TypeMismatch {
                    path: schema_path.to_path_buf(),
                    value: name.clone(),
                    stored: stored.name(),
                    found: found.name(),
                })
            }
            Some(_) => {}
            None => {
                types.insert(name.clone(), found);
                changed = true;
            }
        }
    }
    Ok(changed)
}

/// Names in first-seen order: `first`, then those of `more` not yet listed.
fn union<'a>(first: &[&'a str], more: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for n in first.iter().copied().chain(more) {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The batch of `rows`: key columns in `key_names` order (then keys only the
/// rows name), value columns in first-seen order typed by `types` (Int64 for
/// names never seen with a value).
pub(crate) fn encode(
    key_names: &[&str],
    rows: &[&MinuteRow],
    types: &BTreeMap<String, ValueType>,
    path: &Path,
) -> Result<RecordBatch, StoreError> {
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    let mut push = |name: String, ty: DataType, nullable: bool, col: ArrayRef| {
        fields.push(Field::new(name, ty, nullable));
        cols.push(col);
    };
    push(
        MINUTE.to_string(),
        DataType::Int64,
        false,
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.minute))),
    );
    push(
        PERIOD.to_string(),
        DataType::Utf8,
        true,
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.period.as_deref()),
        )),
    );
    let keys = union(
        key_names,
        rows.iter()
            .flat_map(|r| r.keys.iter().map(|(k, _)| k.as_str())),
    );
    for k in keys {
        let col = StringArray::from_iter(rows.iter().map(|r| r.key(k)));
        push(
            format!("{KEY_PREFIX}{k}"),
            DataType::Utf8,
            true,
            Arc::new(col),
        );
    }
    let values = union(
        &[],
        rows.iter()
            .flat_map(|r| r.values.iter().map(|(n, _)| n.as_str())),
    );
    for n in values {
        let name = format!("{VALUE_PREFIX}{n}");
        let vals = rows.iter().map(|r| r.value(n).unwrap_or(Value::Missing));
        match types.get(n).copied().unwrap_or(ValueType::Int) {
            ValueType::Int => {
                let col = Int64Array::from_iter(vals.map(|v| match v {
                    Value::Int(i) => Some(i),
                    _ => None,
                }));
                push(name, DataType::Int64, true, Arc::new(col));
            }
            ValueType::Float => {
                let col = Float64Array::from_iter(vals.map(|v| match v {
                    Value::Float(f) => Some(f),
                    _ => None,
                }));
                push(name, DataType::Float64, true, Arc::new(col));
            }
        }
    }
    let ranks = rows
        .iter()
        .map(|r| r.rank.map(|x| i32::try_from(x).unwrap_or(i32::MAX)));
    push(
        RANK.to_string(),
        DataType::Int32,
        true,
        Arc::new(Int32Array::from_iter(ranks)),
    );
    push(
        LINE.to_string(),
        DataType::Utf8,
        true,
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.line.as_deref()),
        )),
    );
    let lines = rows
        .iter()
        .map(|r| Some(serde_json::Value::from(r.lines.clone()).to_string()));
    push(
        LINES.to_string(),
        DataType::Utf8,
        true,
        Arc::new(StringArray::from_iter(lines)),
    );
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|source| StoreError::Arrow {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `batch` as Parquet (Snappy) into `file`; `path` names it in errors.
pub(crate) fn write_parquet(
    file: &File,
    batch: &RecordBatch,
    path: &Path,
) -> Result<(), StoreError> {
    let pq = |source| StoreError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(pq)?;
    writer.write(batch).map_err(pq)?;
    writer.close().map_err(pq)?;
    Ok(())
}

/// The rows of the Parquet file at `path` with `from_s <= minute < to_s`,
/// with `monitor` as their monitor name.
pub(crate) fn read_parquet(
    path: &Path,
    monitor: &str,
    from_s: i64,
    to_s: i64,
) -> Result<Vec<MinuteRow>, StoreError> {
    let pq = |source| StoreError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(super::io_err(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(pq)?
        .build()
        .map_err(pq)?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|source| StoreError::Arrow {
            path: path.to_path_buf(),
            source,
        })?;
        decode(&batch, monitor, from_s, to_s, path, &mut out)?;
    }
    Ok(out)
}

/// A column of a stored batch.
enum Col<'a> {
    Key(&'a str, &'a StringArray),
    Int(&'a str, &'a Int64Array),
    Float(&'a str, &'a Float64Array),
}

/// Appends the rows of `batch` within the range to `out`.
fn decode(
    batch: &RecordBatch,
    monitor: &str,
    from_s: i64,
    to_s: i64,
    path: &Path,
    out: &mut Vec<MinuteRow>,
) -> Result<(), StoreError> {
    let invalid = |message: String| StoreError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| invalid(format!("no column `{name}`")))
    };
    let wrong = |name: &str| invalid(format!("column `{name}` has an unexpected type"));
    let strings = |name: &str| {
        column(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| wrong(name))
    };
    let minute = column(MINUTE)?
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| wrong(MINUTE))?;
    let period = strings(PERIOD)?;
    let rank = column(RANK)?
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| wrong(RANK))?;
    let line = strings(LINE)?;
    let lines = strings(LINES)?;
    let mut cols = Vec::new();
    let schema = batch.schema();
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        let name = field.name().as_str();
        if let Some(k) = name.strip_prefix(KEY_PREFIX) {
            cols.push(Col::Key(
                k,
                col.as_string_opt::<i32>().ok_or_else(|| wrong(name))?,
            ));
        } else if let Some(v) = name.strip_prefix(VALUE_PREFIX) {
            if let Some(a) = col.as_primitive_opt::<Int64Type>() {
                cols.push(Col::Int(v, a));
            } else if let Some(a) = col.as_primitive_opt::<Float64Type>() {
                cols.push(Col::Float(v, a));
            } else {
                return Err(wrong(name));
            }
        }
    }
    let opt_str = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
    for i in 0..batch.num_rows() {
        let m = minute.value(i);
        if m < from_s || m >= to_s {
            continue;
        }
        let mut row = MinuteRow::new(monitor, m, Vec::new());
        row.period = opt_str(period, i);
        row.rank = if rank.is_valid(i) {
            Some(u32::try_from(rank.value(i)).map_err(|_| wrong(RANK))?)
        } else {
            None
        };
        row.line = opt_str(line, i);
        if let Some(text) = opt_str(lines, i) {
            row.lines = serde_json::from_str(&text).map_err(|_| wrong(LINES))?;
        }
        for c in &cols {
            match c {
                Col::Key(k, a) => {
                    if let Some(v) = opt_str(a, i) {
                        row.keys.push((k.to_string(), v));
                    }
                }
                Col::Int(n, a) => {
                    let v = if a.is_valid(i) {
                        Value::Int(a.value(i))
                    } else {
                        Value::Missing
                    };
                    row.values.push((n.to_string(), v));
                }
                Col::Float(n, a) => {
                    let v = if a.is_valid(i) {
                        Value::Float(a.value(i))
                    } else {
                        Value::Missing
                    };
                    row.values.push((n.to_string(), v));
                }
            }
        }
        out.push(row);
    }
    Ok(())
}
