//! A record batch checked against the input contract, with its arrays
//! downcast once.

use arrow::array::{Array, AsArray, StringArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use vigil_config::monitor::{ColumnType, Monitor};

use crate::error::Error;

/// One downcast monitor column.
enum Col<'a> {
    Str(&'a StringArray),
    Int(&'a [i64]),
    Float(&'a [f64]),
}

/// A batch that matches the contract of its monitor.
pub(crate) struct Columns<'a> {
    monitor: &'a Monitor,
    /// Event times, epoch milliseconds.
    pub(crate) times: &'a [i64],
    cols: Vec<Col<'a>>,
    line: Option<&'a StringArray>,
}

impl<'a> Columns<'a> {
    /// Checks the column count, the types and the absence of nulls.
    pub(crate) fn new(monitor: &'a Monitor, batch: &'a RecordBatch) -> Result<Self, Error> {
        let expected = 1 + monitor.columns.len() + usize::from(monitor.needs_line());
        if batch.num_columns() != expected {
            return Err(Error::ColumnCount {
                monitor: monitor.name.clone(),
                expected,
                found: batch.num_columns(),
            });
        }
        let check = |index: usize, name: &str, ty: DataType| -> Result<&'a dyn Array, Error> {
            let array = batch.column(index).as_ref();
            if *array.data_type() != ty {
                return Err(Error::ColumnType {
                    monitor: monitor.name.clone(),
                    column: name.to_string(),
                    expected: ty.to_string(),
                    found: array.data_type().to_string(),
                });
            }
            if array.null_count() > 0 {
                return Err(Error::Nulls {
                    monitor: monitor.name.clone(),
                    column: name.to_string(),
                    nulls: array.null_count(),
                });
            }
            Ok(array)
        };
        let mismatch = |name: &str, ty: DataType| Error::ColumnType {
            monitor: monitor.name.clone(),
            column: name.to_string(),
            expected: ty.to_string(),
            found: "an array that does not downcast".to_string(),
        };
        let int = |index: usize, name: &str| -> Result<&'a [i64], Error> {
            check(index, name, DataType::Int64)?
                .as_primitive_opt::<Int64Type>()
                .map(|a| a.values().as_ref())
                .ok_or_else(|| mismatch(name, DataType::Int64))
        };
        let string = |index: usize, name: &str| -> Result<&'a StringArray, Error> {
            check(index, name, DataType::Utf8)?
                .as_string_opt::<i32>()
                .ok_or_else(|| mismatch(name, DataType::Utf8))
        };
        let times = int(0, "time")?;
        let mut cols = Vec::with_capacity(monitor.columns.len());
        for (i, column) in monitor.columns.iter().enumerate() {
            let name = column.name.as_str();
            cols.push(match column.ty {
                ColumnType::String => Col::Str(string(1 + i, name)?),
                ColumnType::Int => Col::Int(int(1 + i, name)?),
                ColumnType::Float => Col::Float(
                    check(1 + i, name, DataType::Float64)?
                        .as_primitive_opt::<Float64Type>()
                        .map(|a| a.values().as_ref())
                        .ok_or_else(|| mismatch(name, DataType::Float64))?,
                ),
            });
        }
        let line = if monitor.needs_line() {
            Some(string(expected - 1, "line")?)
        } else {
            None
        };
        Ok(Columns {
            monitor,
            times,
            cols,
            line,
        })
    }

    /// The error for column `index` not having type `expected`.
    fn wrong(&self, index: usize, expected: &str) -> Error {
        let (name, found) = match self.monitor.columns.get(index) {
            Some(c) => (c.name.clone(), c.ty.name()),
            None => (format!("#{index}"), "absent"),
        };
        Error::ColumnType {
            monitor: self.monitor.name.clone(),
            column: name,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    /// Monitor column `index`, which must be an `Int` column.
    pub(crate) fn int(&self, index: usize) -> Result<&'a [i64], Error> {
        match self.cols.get(index) {
            Some(Col::Int(a)) => Ok(a),
            _ => Err(self.wrong(index, "int")),
        }
    }

    /// Monitor column `index`, which must be a `Float` column.
    pub(crate) fn float(&self, index: usize) -> Result<&'a [f64], Error> {
        match self.cols.get(index) {
            Some(Col::Float(a)) => Ok(a),
            _ => Err(self.wrong(index, "float")),
        }
    }

    /// Monitor column `index`, which must be a `String` column.
    pub(crate) fn string(&self, index: usize) -> Result<&'a StringArray, Error> {
        match self.cols.get(index) {
            Some(Col::Str(a)) => Ok(a),
            _ => Err(self.wrong(index, "string")),
        }
    }

    /// The raw line column (present when the monitor needs lines).
    pub(crate) fn line(&self) -> Result<&'a StringArray, Error> {
        self.line.ok_or_else(|| Error::ColumnType {
            monitor: self.monitor.name.clone(),
            column: "line".to_string(),
            expected: DataType::Utf8.to_string(),
            found: "absent".to_string(),
        })
    }
}
