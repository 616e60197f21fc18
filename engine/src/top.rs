//! Top lists: the top keys of minute_top ([`TopRule`]) and the top lines of
//! record_top ([`RecordFold`]).

use std::cmp::Ordering;

use arrow::array::StringArray;
use vigil_config::monitor::{MinuteTop, Monitor, Order, RecordTop};
use vigil_model::{MinuteRow, Value};

use crate::aggregate::ClosedBucket;
use crate::batch::Columns;
use crate::error::Error;
use crate::operand::{NumColumn, Operand};
use crate::output::{Fold, Names};
use crate::partial::Extreme;

/// A 1-based rank as carried by rows.
fn rank(index: usize) -> Option<u32> {
    Some(u32::try_from(index + 1).unwrap_or(u32::MAX))
}

/// Compares two present values: integers exactly, else as floats.
fn cmp_values(a: Value, b: Value) -> Ordering {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(&y),
        (Value::Missing, Value::Missing) => Ordering::Equal,
        (Value::Missing, _) => Ordering::Greater,
        (_, Value::Missing) => Ordering::Less,
        _ => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
    }
}

/// Ranking of a minute_top monitor.
pub(crate) struct TopRule {
    /// Index of the ranked value.
    by: usize,
    /// Keys kept.
    n: usize,
    order: Order,
}

impl TopRule {
    /// The ranking of `top`, checked against its statistics.
    pub(crate) fn new(monitor: &Monitor, top: &MinuteTop) -> Result<Self, Error> {
        if top.by >= top.stats.stats.len() {
            return Err(Error::invalid(
                &monitor.name,
                format!("top ranks by statistic #{}, which does not exist", top.by),
            ));
        }
        Ok(TopRule {
            by: top.by,
            n: top.n,
            order: top.order,
        })
    }

    /// The rows of the first `n` keys, ranked by value (`Missing` last, ties
    /// by key ascending), sorted by key. `entries` are sorted by key.
    pub(crate) fn rows(
        &self,
        names: &Names,
        start_s: i64,
        entries: Vec<(Vec<String>, Vec<Value>)>,
    ) -> Vec<MinuteRow> {
        let mut ranked = entries;
        let by = |values: &[Value]| values.get(self.by).copied().unwrap_or(Value::Missing);
        ranked.sort_by(|(ka, va), (kb, vb)| {
            let (a, b) = (by(va), by(vb));
            let ord = match (a, b) {
                (Value::Missing, _) | (_, Value::Missing) => cmp_values(a, b),
                _ if self.order == Order::Desc => cmp_values(b, a),
                _ => cmp_values(a, b),
            };
            ord.then_with(|| ka.cmp(kb))
        });
        ranked.truncate(self.n);
        let mut rows: Vec<MinuteRow> = ranked
            .into_iter()
            .enumerate()
            .map(|(i, (key, values))| {
                let mut row = names.row(start_s, &key);
                row.values = names.values(values);
                row.rank = rank(i);
                row
            })
            .collect();
        rows.sort_by(|a, b| (&a.keys, a.rank).cmp(&(&b.keys, b.rank)));
        rows
    }
}

/// A line kept by a record_top monitor.
#[derive(Clone)]
pub(crate) struct Record {
    value: Extreme,
    line: String,
}

/// Whether `a` ranks strictly before `b`.
#[inline]
fn before(a: Extreme, b: Extreme, order: Order) -> bool {
    let ord = match (a, b) {
        (Extreme::Int(x), Extreme::Int(y)) => x.cmp(&y),
        (Extreme::Float(x), Extreme::Float(y)) => x.total_cmp(&y),
        _ => Ordering::Equal,
    };
    match order {
        Order::Desc => ord.is_gt(),
        Order::Asc => ord.is_lt(),
    }
}

/// The top lines of a record_top monitor, per key.
pub(crate) struct RecordFold {
    by: NumColumn,
    n: usize,
    order: Order,
}

/// The columns a record_top monitor reads from one batch.
pub(crate) struct RecordBound<'a> {
    by: Operand<'a>,
    line: &'a StringArray,
}

impl RecordFold {
    /// The settings `top` of `monitor`.
    pub(crate) fn new(monitor: &Monitor, top: &RecordTop) -> Result<Self, Error> {
        Ok(RecordFold {
            by: NumColumn::new(monitor, top.by, "record_top `by`")?,
            n: top.n,
            order: top.order,
        })
    }
}

impl Fold for RecordFold {
    /// Kept lines, best first; among equal values, earlier lines first.
    type State = Vec<Record>;
    type Bound<'a> = RecordBound<'a>;

    fn bind<'a>(&'a self, cols: &Columns<'a>) -> Result<RecordBound<'a>, Error> {
        Ok(RecordBound {
            by: self.by.bind(cols)?,
            line: cols.line()?,
        })
    }

    fn new_state(&self) -> Vec<Record> {
        Vec::new()
    }

    #[inline]
    fn update(&self, bound: &RecordBound<'_>, state: &mut Vec<Record>, row: usize) {
        let value = bound.by.get(row);
        if state.len() >= self.n {
            // Rows arrive in order, so a row equal to the last kept one is later: out.
            match state.last() {
                Some(last) if before(value, last.value, self.order) => {
                    state.pop();
                }
                _ => return,
            }
        }
        let at = state.partition_point(|r| !before(value, r.value, self.order));
        state.insert(
            at,
            Record {
                value,
                line: bound.line.value(row).to_string(),
            },
        );
    }

    fn close(
        &self,
        names: &Names,
        start_s: i64,
        entries: Vec<(Vec<String>, Vec<Record>)>,
    ) -> ClosedBucket {
        let mut rows = Vec::new();
        for (key, records) in entries {
            for (i, record) in records.into_iter().enumerate() {
                let mut row = names.row(start_s, &key);
                row.values = names.values(vec![record.value.value()]);
                row.rank = rank(i);
                row.line = Some(record.line);
                rows.push(row);
            }
        }
        ClosedBucket {
            start: start_s,
            rows,
            partials: Vec::new(),
        }
    }
}
