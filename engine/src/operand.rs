//! Numeric columns read by statistics: resolved once per monitor
//! ([`NumColumn`]) and bound once per batch ([`Operand`]).

use vigil_config::monitor::{ColumnType, Monitor};

use crate::batch::Columns;
use crate::error::Error;
use crate::partial::{Extreme, Sum};

/// A numeric monitor column and its type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumColumn {
    /// Index into `Monitor::columns`.
    pub(crate) index: usize,
    /// Whether the column is `Float` (else `Int`).
    float: bool,
}

impl NumColumn {
    /// Resolves column `index` of `monitor`, which `what` needs numeric.
    pub(crate) fn new(monitor: &Monitor, index: usize, what: &str) -> Result<Self, Error> {
        match monitor.columns.get(index).map(|c| c.ty) {
            Some(ColumnType::Int) => Ok(NumColumn {
                index,
                float: false,
            }),
            Some(ColumnType::Float) => Ok(NumColumn { index, float: true }),
            Some(ColumnType::String) => Err(Error::invalid(
                &monitor.name,
                format!(
                    "{what} needs a numeric column, `{}` is a string",
                    monitor.columns[index].name
                ),
            )),
            None => Err(Error::invalid(
                &monitor.name,
                format!("{what} refers to column #{index}, which does not exist"),
            )),
        }
    }

    /// An empty sum of this column's type.
    pub(crate) fn zero(self) -> Sum {
        if self.float {
            Sum::Float(0.0)
        } else {
            Sum::Int(0)
        }
    }

    /// The identity of a minimum of this column's type.
    pub(crate) fn min_identity(self) -> Extreme {
        if self.float {
            Extreme::Float(f64::INFINITY)
        } else {
            Extreme::Int(i64::MAX)
        }
    }

    /// The identity of a maximum of this column's type.
    pub(crate) fn max_identity(self) -> Extreme {
        if self.float {
            Extreme::Float(f64::NEG_INFINITY)
        } else {
            Extreme::Int(i64::MIN)
        }
    }

    /// The column's values in `cols`.
    pub(crate) fn bind<'a>(self, cols: &Columns<'a>) -> Result<Operand<'a>, Error> {
        Ok(if self.float {
            Operand::Float(cols.float(self.index)?)
        } else {
            Operand::Int(cols.int(self.index)?)
        })
    }
}

/// The values of a numeric column in one batch.
#[derive(Clone, Copy)]
pub(crate) enum Operand<'a> {
    Int(&'a [i64]),
    Float(&'a [f64]),
}

impl Operand<'_> {
    /// The value of `row` as an extreme-shaped number.
    #[inline]
    pub(crate) fn get(self, row: usize) -> Extreme {
        match self {
            Operand::Int(a) => Extreme::Int(a[row]),
            Operand::Float(a) => Extreme::Float(a[row]),
        }
    }

    /// Adds the value of `row` to `sum`.
    #[inline]
    pub(crate) fn add(self, sum: &mut Sum, row: usize) {
        match (self, sum) {
            (Operand::Int(a), Sum::Int(s)) => *s += i128::from(a[row]),
            (Operand::Float(a), Sum::Float(s)) => *s += a[row],
            _ => {}
        }
    }
}
