//! service_metrics: calls, successes and latency per key.

use arrow::array::StringArray;
use vigil_config::monitor::{ColumnType, Monitor, Service};

use crate::aggregate::ClosedBucket;
use crate::batch::Columns;
use crate::error::Error;
use crate::operand::{NumColumn, Operand};
use crate::output::{Fold, Names};
use crate::partial::{Partial, ServicePartial};

/// The success values of the result column, typed like the column.
///
/// Int and float result columns compare numerically with the success values
/// that parse as numbers of their type.
enum Success {
    Str(usize, Vec<String>),
    Int(usize, Vec<i64>),
    Float(usize, Vec<f64>),
}

/// [`Success`] bound to one batch.
enum BoundSuccess<'a> {
    Str(&'a StringArray, &'a [String]),
    Int(&'a [i64], &'a [i64]),
    Float(&'a [f64], &'a [f64]),
}

impl BoundSuccess<'_> {
    /// Whether the result of `row` is a success.
    #[inline]
    fn test(&self, row: usize) -> bool {
        match self {
            BoundSuccess::Str(a, ok) => {
                let v = a.value(row);
                ok.iter().any(|s| s == v)
            }
            BoundSuccess::Int(a, ok) => ok.contains(&a[row]),
            BoundSuccess::Float(a, ok) => ok.contains(&a[row]),
        }
    }
}

/// The fold of a service_metrics monitor.
pub(crate) struct ServiceFold {
    success: Success,
    /// The per-line call count column (`Int`); `None` counts lines.
    count: Option<usize>,
    elapsed: Option<NumColumn>,
}

/// The columns a service_metrics monitor reads from one batch.
pub(crate) struct ServiceBound<'a> {
    success: BoundSuccess<'a>,
    count: Option<&'a [i64]>,
    elapsed: Option<Operand<'a>>,
}

impl ServiceFold {
    /// The settings `service` of `monitor`.
    pub(crate) fn new(monitor: &Monitor, service: &Service) -> Result<Self, Error> {
        let r = service.result;
        let success = match monitor.columns.get(r).map(|c| c.ty) {
            Some(ColumnType::String) => Success::Str(r, service.success.clone()),
            Some(ColumnType::Int) => Success::Int(
                r,
                service
                    .success
                    .iter()
                    .filter_map(|s| s.parse().ok())
                    .collect(),
            ),
            Some(ColumnType::Float) => Success::Float(
                r,
                service
                    .success
                    .iter()
                    .filter_map(|s| s.parse().ok())
                    .collect(),
            ),
            None => {
                return Err(Error::invalid(
                    &monitor.name,
                    format!("result refers to column #{r}, which does not exist"),
                ))
            }
        };
        if let Some(c) = service.count {
            match monitor.columns.get(c) {
                Some(col) if col.ty == ColumnType::Int => {}
                _ => {
                    return Err(Error::invalid(
                        &monitor.name,
                        format!("count needs an int column (#{c})"),
                    ))
                }
            }
        }
        let elapsed = match service.elapsed {
            Some(c) => Some(NumColumn::new(monitor, c, "elapsed")?),
            None => None,
        };
        Ok(ServiceFold {
            success,
            count: service.count,
            elapsed,
        })
    }
}

impl Fold for ServiceFold {
    type State = ServicePartial;
    type Bound<'a> = ServiceBound<'a>;

    fn bind<'a>(&'a self, cols: &Columns<'a>) -> Result<ServiceBound<'a>, Error> {
        Ok(ServiceBound {
            success: match &self.success {
                Success::Str(c, ok) => BoundSuccess::Str(cols.string(*c)?, ok),
                Success::Int(c, ok) => BoundSuccess::Int(cols.int(*c)?, ok),
                Success::Float(c, ok) => BoundSuccess::Float(cols.float(*c)?, ok),
            },
            count: self.count.map(|c| cols.int(c)).transpose()?,
            elapsed: self.elapsed.map(|n| n.bind(cols)).transpose()?,
        })
    }

    fn new_state(&self) -> ServicePartial {
        ServicePartial {
            total: 0,
            success: 0,
            elapsed: self.elapsed.map(NumColumn::zero),
        }
    }

    #[inline]
    fn update(&self, bound: &ServiceBound<'_>, state: &mut ServicePartial, row: usize) {
        let calls = bound.count.map_or(1, |a| i128::from(a[row]));
        state.total += calls;
        if bound.success.test(row) {
            state.success += calls;
        }
        if let (Some(op), Some(sum)) = (bound.elapsed, &mut state.elapsed) {
            op.add(sum, row);
        }
    }

    fn close(
        &self,
        names: &Names,
        start_s: i64,
        entries: Vec<(Vec<String>, ServicePartial)>,
    ) -> ClosedBucket {
        ClosedBucket::from_partials(
            names,
            start_s,
            entries
                .into_iter()
                .map(|(k, p)| (k, Partial::Service(p)))
                .collect(),
        )
    }
}
