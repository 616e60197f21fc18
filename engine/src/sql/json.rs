//! Arrow cells to JSON values.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::error::ArrowError;
use arrow::util::display::array_value_to_string;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Appends the first `n` rows of `batch` to `rows`, one JSON array each.
pub(super) fn append_rows(
    batch: &RecordBatch,
    n: usize,
    rows: &mut Vec<Vec<Value>>,
) -> Result<(), ArrowError> {
    for i in 0..n {
        let row = batch
            .columns()
            .iter()
            .map(|col| cell(col.as_ref(), i))
            .collect::<Result<_, _>>()?;
        rows.push(row);
    }
    Ok(())
}

/// Row `i` of `array`: integers as JSON integers, floats as numbers (null
/// when not finite), timestamps as RFC 3339 UTC, text as strings, other
/// types as their Arrow display text.
fn cell(array: &dyn Array, i: usize) -> Result<Value, ArrowError> {
    if array.is_null(i) || array.data_type().is_null() {
        return Ok(Value::Null);
    }
    let value = match array.data_type() {
        DataType::Boolean => Value::from(array.as_boolean().value(i)),
        DataType::Int8 => Value::from(array.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => Value::from(array.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Value::from(array.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => Value::from(array.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => Value::from(array.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => Value::from(array.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => Value::from(array.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Value::from(array.as_string::<i64>().value(i)),
        DataType::Utf8View => Value::from(array.as_string_view().value(i)),
        DataType::Timestamp(unit, _) => match timestamp(array, *unit, i) {
            Some(t) => Value::from(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            None => Value::from(array_value_to_string(array, i)?),
        },
        _ => Value::from(array_value_to_string(array, i)?),
    };
    Ok(value)
}

/// Row `i` of a timestamp array as a UTC instant (whatever its time zone:
/// the stored number is always UTC), `None` outside chrono's range.
fn timestamp(array: &dyn Array, unit: TimeUnit, i: usize) -> Option<DateTime<Utc>> {
    match unit {
        TimeUnit::Second => {
            DateTime::from_timestamp(array.as_primitive::<TimestampSecondType>().value(i), 0)
        }
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(
            array.as_primitive::<TimestampMillisecondType>().value(i),
        ),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(
            array.as_primitive::<TimestampMicrosecondType>().value(i),
        ),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(
            array.as_primitive::<TimestampNanosecondType>().value(i),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, NullArray, TimestampNanosecondArray, UInt64Array};
    use serde_json::json;

    use super::*;

    #[test]
    fn cells_as_json() {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(NullArray::new(2)),
            Arc::new(Float64Array::from(vec![f64::NAN, -0.5])),
            Arc::new(UInt64Array::from(vec![u64::MAX, 0])),
            Arc::new(
                TimestampNanosecondArray::from(vec![1_500_000_000, -1]).with_timezone("+08:00"),
            ),
        ];
        let batch =
            RecordBatch::try_from_iter(["n", "f", "u", "t"].into_iter().zip(cols)).expect("batch");
        let mut rows = Vec::new();
        append_rows(&batch, 1, &mut rows).expect("rows");
        append_rows(&batch.slice(1, 1), 1, &mut rows).expect("rows");
        assert_eq!(
            rows,
            vec![
                vec![
                    Value::Null,
                    Value::Null,
                    json!(u64::MAX),
                    json!("1970-01-01T00:00:01.500Z")
                ],
                vec![
                    Value::Null,
                    json!(-0.5),
                    json!(0),
                    json!("1969-12-31T23:59:59.999999999Z")
                ],
            ]
        );
    }
}
