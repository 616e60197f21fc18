//! Mergeable per-key accumulators.
//!
//! A [`Partial`] holds everything needed to compute one key's values over a
//! set of rows, and two partials of the same monitor and key merge into the
//! partial of the union of their rows. Merging is associative and
//! commutative; it is exact for counts, integer sums (kept in `i128`),
//! minimums and maximums, and exact up to float rounding for float sums.
//! Archive roll-ups merge the partials of closed minutes, so an hourly
//! average is the hour's sum over the hour's lines, never an average of
//! averages.

use serde::{Deserialize, Serialize};
use vigil_model::Value;

/// An integer (or float, for float columns) value as a [`Value`]: an exact
/// `Int` when it fits in `i64`, else the nearest float.
pub(crate) fn int_value(i: i128) -> Value {
    match i64::try_from(i) {
        Ok(v) => Value::Int(v),
        Err(_) => Value::float(i as f64),
    }
}

/// A running sum of an integer or a float column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Sum {
    /// Exact sum of an `Int` column.
    Int(i128),
    /// Sum of a `Float` column.
    Float(#[serde(with = "any_f64")] f64),
}

impl Sum {
    /// The sum as a value: `Int` when an integer sum fits in `i64`, else a float.
    pub fn value(self) -> Value {
        match self {
            Sum::Int(i) => int_value(i),
            Sum::Float(f) => Value::float(f),
        }
    }

    /// The sum as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Sum::Int(i) => i as f64,
            Sum::Float(f) => f,
        }
    }

    /// Whether the sum is zero.
    pub fn is_zero(self) -> bool {
        match self {
            Sum::Int(i) => i == 0,
            Sum::Float(f) => f == 0.0,
        }
    }

    /// Adds another sum of the same kind; a sum of another kind is ignored.
    pub fn merge(&mut self, other: Sum) {
        match (self, other) {
            (Sum::Int(a), Sum::Int(b)) => *a = a.saturating_add(b),
            (Sum::Float(a), Sum::Float(b)) => *a += b,
            _ => {}
        }
    }
}

/// A running minimum or maximum of an integer or a float column.
///
/// An empty extreme holds the identity of its operation (`i64::MAX` or `+inf`
/// for a minimum, `i64::MIN` or `-inf` for a maximum). Floats are ordered by
/// [`f64::total_cmp`], so `-0.0 < 0.0` and merging is order independent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Extreme {
    /// Extreme of an `Int` column.
    Int(i64),
    /// Extreme of a `Float` column.
    Float(#[serde(with = "any_f64")] f64),
}

impl Extreme {
    /// The value, as the column's type.
    pub fn value(self) -> Value {
        match self {
            Extreme::Int(i) => Value::Int(i),
            Extreme::Float(f) => Value::float(f),
        }
    }

    /// Keeps the smaller of the two; an extreme of another kind is ignored.
    pub fn merge_min(&mut self, other: Extreme) {
        match (self, other) {
            (Extreme::Int(a), Extreme::Int(b)) => *a = (*a).min(b),
            (Extreme::Float(a), Extreme::Float(b)) if b.total_cmp(a).is_lt() => *a = b,
            _ => {}
        }
    }

    /// Keeps the larger of the two; an extreme of another kind is ignored.
    pub fn merge_max(&mut self, other: Extreme) {
        match (self, other) {
            (Extreme::Int(a), Extreme::Int(b)) => *a = (*a).max(b),
            (Extreme::Float(a), Extreme::Float(b)) if b.total_cmp(a).is_gt() => *a = b,
            _ => {}
        }
    }
}

/// The accumulator of one statistic; see `vigil_config::monitor::Stat`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Cell {
    /// Number of lines (read from [`StatsPartial::lines`]).
    Count,
    /// Sum of a column.
    Sum(Sum),
    /// Sum of a column, divided by the lines at the end.
    Avg(Sum),
    /// Minimum of a column.
    Min(Extreme),
    /// Maximum of a column.
    Max(Extreme),
    /// Occurrences of a text.
    Occurrences(u64),
    /// Sums of the numerator and the denominator column.
    Ratio(Sum, Sum),
}

impl Cell {
    /// Merges another cell of the same statistic; a cell of another
    /// statistic is ignored.
    pub fn merge(&mut self, other: &Cell) {
        match (self, other) {
            (Cell::Count, Cell::Count) => {}
            (Cell::Sum(a), Cell::Sum(b)) | (Cell::Avg(a), Cell::Avg(b)) => a.merge(*b),
            (Cell::Min(a), Cell::Min(b)) => a.merge_min(*b),
            (Cell::Max(a), Cell::Max(b)) => a.merge_max(*b),
            (Cell::Occurrences(a), Cell::Occurrences(b)) => *a = a.saturating_add(*b),
            (Cell::Ratio(a, b), Cell::Ratio(c, d)) => {
                a.merge(*c);
                b.merge(*d);
            }
            _ => {}
        }
    }

    /// The statistic's value over `lines` lines: `Missing` for the average,
    /// minimum and maximum of no lines and for a ratio over a zero base.
    pub fn value(&self, lines: u64) -> Value {
        match *self {
            Cell::Count => int_value(i128::from(lines)),
            Cell::Sum(s) => s.value(),
            Cell::Avg(s) if lines > 0 => Value::float(s.as_f64() / lines as f64),
            Cell::Min(e) | Cell::Max(e) if lines > 0 => e.value(),
            Cell::Avg(_) | Cell::Min(_) | Cell::Max(_) => Value::Missing,
            Cell::Occurrences(n) => int_value(i128::from(n)),
            Cell::Ratio(a, b) if !b.is_zero() => Value::float(a.as_f64() / b.as_f64()),
            Cell::Ratio(..) => Value::Missing,
        }
    }
}

/// The partial of a statistics monitor (minute_stat, second_stat): the
/// lines seen and one cell per statistic, in the monitor's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsPartial {
    /// Lines accumulated.
    pub lines: u64,
    /// One cell per statistic, in `Stats::stats` order.
    pub cells: Vec<Cell>,
}

impl StatsPartial {
    /// Values in the monitor's value order.
    pub fn values(&self) -> Vec<Value> {
        self.cells.iter().map(|c| c.value(self.lines)).collect()
    }
}

/// The partial of a service_metrics monitor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServicePartial {
    /// Calls (sum of the count column, or lines).
    pub total: i128,
    /// Calls whose result is a success value.
    pub success: i128,
    /// Sum of the elapsed column; `None` when the monitor has none.
    pub elapsed: Option<Sum>,
}

impl ServicePartial {
    /// `total, success, fail, success_rate[, avg_latency]`.
    pub fn values(&self) -> Vec<Value> {
        let rate = |num: f64| {
            if self.total == 0 {
                Value::Missing
            } else {
                Value::float(num / self.total as f64)
            }
        };
        let mut values = vec![
            int_value(self.total),
            int_value(self.success),
            int_value(self.total.saturating_sub(self.success)),
            rate(self.success as f64),
        ];
        if let Some(elapsed) = self.elapsed {
            values.push(rate(elapsed.as_f64()));
        }
        values
    }
}

/// A mergeable accumulator of one key over a set of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Partial {
    /// Of a minute_stat or second_stat monitor.
    Stats(StatsPartial),
    /// Of a service_metrics monitor.
    Service(ServicePartial),
}

impl Partial {
    /// Adds the rows of `other` to `self`.
    ///
    /// Both must come from the same monitor (the same statistics in the same
    /// order); parts whose shapes differ are left as they are.
    pub fn merge(&mut self, other: &Partial) {
        match (self, other) {
            (Partial::Stats(a), Partial::Stats(b)) => {
                a.lines = a.lines.saturating_add(b.lines);
                for (x, y) in a.cells.iter_mut().zip(&b.cells) {
                    x.merge(y);
                }
            }
            (Partial::Service(a), Partial::Service(b)) => {
                a.total = a.total.saturating_add(b.total);
                a.success = a.success.saturating_add(b.success);
                if let (Some(x), Some(y)) = (&mut a.elapsed, b.elapsed) {
                    x.merge(y);
                }
            }
            _ => {}
        }
    }

    /// The values, in the monitor's `value_names()` order.
    pub fn values(&self) -> Vec<Value> {
        match self {
            Partial::Stats(p) => p.values(),
            Partial::Service(p) => p.values(),
        }
    }
}

/// A key's partial in a closed bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyedPartial {
    /// The key values, in group-by order (empty without keys).
    pub key: Vec<String>,
    /// The key's accumulator.
    pub partial: Partial,
}

/// Floats that survive formats without infinities (JSON): the identity of
/// an empty minimum or maximum is infinite. A finite float is a number, any
/// other a string (`"inf"`, `"-inf"`, `"NaN"`).
mod any_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(f: &f64, s: S) -> Result<S::Ok, S::Error> {
        if f.is_finite() {
            s.serialize_f64(*f)
        } else {
            s.serialize_str(&f.to_string())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Number(f) => Ok(f),
            Repr::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_cells_are_missing() {
        let p = StatsPartial {
            lines: 0,
            cells: vec![
                Cell::Count,
                Cell::Avg(Sum::Int(0)),
                Cell::Min(Extreme::Int(i64::MAX)),
                Cell::Ratio(Sum::Int(1), Sum::Float(0.0)),
            ],
        };
        assert_eq!(
            p.values(),
            vec![
                Value::Int(0),
                Value::Missing,
                Value::Missing,
                Value::Missing
            ]
        );
    }

    #[test]
    fn partials_survive_json() {
        let p = Partial::Stats(StatsPartial {
            lines: 3,
            cells: vec![
                Cell::Count,
                Cell::Sum(Sum::Int(i128::from(i64::MAX) + 5)),
                Cell::Min(Extreme::Float(f64::INFINITY)),
                Cell::Max(Extreme::Float(f64::NEG_INFINITY)),
                Cell::Avg(Sum::Float(0.1)),
                Cell::Ratio(Sum::Int(-2), Sum::Float(3.5)),
                Cell::Occurrences(7),
            ],
        });
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Partial>(&json).unwrap(), p);
        let s = Partial::Service(ServicePartial {
            total: 10,
            success: 9,
            elapsed: Some(Sum::Int(1234)),
        });
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Partial>(&json).unwrap(), s);
    }

    #[test]
    fn huge_int_sum_becomes_float() {
        let mut s = Sum::Int(i128::from(i64::MAX));
        s.merge(Sum::Int(1));
        assert_eq!(s.value(), Value::Float(9_223_372_036_854_775_808.0));
    }

    #[test]
    fn float_extremes_use_total_order() {
        let mut a = Extreme::Float(0.0);
        a.merge_min(Extreme::Float(-0.0));
        let mut b = Extreme::Float(-0.0);
        b.merge_min(Extreme::Float(0.0));
        assert_eq!(a.value(), b.value());
        assert!(matches!(a, Extreme::Float(f) if f.is_sign_negative()));
    }
}
