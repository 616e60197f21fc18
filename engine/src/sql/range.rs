//! Which minutes a query's filters allow: the `[from_s, to_s)` range read
//! from the store. The range may be wider than the filters (DataFusion
//! applies them again), never narrower.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Cast, Expr, Operator, TryCast};

use super::table::MINUTE;

/// A half-open range of epoch seconds, `from_s <= minute < to_s`.
pub(super) type Range = (i64, i64);

/// Every minute.
pub(super) const ALL: Range = (i64::MIN, i64::MAX);

/// The range that all of `filters` (ANDed) allow; [`ALL`] when none bounds
/// `minute`.
pub(super) fn minute_range(filters: &[Expr]) -> Range {
    filters
        .iter()
        .filter_map(bound)
        .fold(ALL, |acc, r| intersect(acc, Some(r)))
}

/// The range one filter restricts `minute` to, if it has a form this module
/// understands: `minute <op> literal` (either side, `<`, `<=`, `=`, `>=`,
/// `>`), `minute BETWEEN literal AND literal`, or an `AND` of such. The
/// column may be cast to a timestamp or an integer; literals are
/// timestamps (any unit) or integers (epoch seconds).
pub(super) fn bound(filter: &Expr) -> Option<Range> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if *op == Operator::And {
                let (l, r) = (bound(left), bound(right));
                return l.or(r).map(|first| intersect(first, r));
            }
            if is_minute(left) {
                compare(*op, seconds(right)?)
            } else if is_minute(right) {
                compare(op.swap()?, seconds(left)?)
            } else {
                None
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if is_minute(expr) => Some((seconds(low)?, seconds(high)?.saturating_add(1))),
        _ => None,
    }
}

/// Both ranges' common part (`None` is no restriction).
fn intersect(a: Range, b: Option<Range>) -> Range {
    match b {
        Some(b) => (a.0.max(b.0), a.1.min(b.1)),
        None => a,
    }
}

/// The range of `minute <op> t` for an integer `minute`, where `t` is the
/// floor of the literal (so `< t` and `<= t` both read up to `t`).
fn compare(op: Operator, t: i64) -> Option<Range> {
    let after = t.saturating_add(1);
    match op {
        Operator::Eq => Some((t, after)),
        Operator::Gt | Operator::GtEq => Some((t, i64::MAX)),
        Operator::Lt | Operator::LtEq => Some((i64::MIN, after)),
        _ => None,
    }
}

/// Whether `e` is the `minute` column, possibly cast to a type that keeps
/// its order and every second apart (a timestamp, a 64-bit integer).
fn is_minute(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => c.name == MINUTE,
        Expr::Cast(Cast { expr, field }) => keeps_seconds(field.data_type()) && is_minute(expr),
        Expr::TryCast(TryCast { expr, field }) => {
            keeps_seconds(field.data_type()) && is_minute(expr)
        }
        _ => false,
    }
}

/// Whether a cast of epoch seconds to `ty` keeps their order and values.
fn keeps_seconds(ty: &DataType) -> bool {
    matches!(ty, DataType::Timestamp(..) | DataType::Int64)
}

/// The floor of a literal in epoch seconds: a timestamp of any unit, or an
/// integer taken as seconds.
fn seconds(e: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = e else {
        return None;
    };
    match value {
        ScalarValue::TimestampSecond(Some(s), _) => Some(*s),
        ScalarValue::TimestampMillisecond(Some(ms), _) => Some(ms.div_euclid(1_000)),
        ScalarValue::TimestampMicrosecond(Some(us), _) => Some(us.div_euclid(1_000_000)),
        ScalarValue::TimestampNanosecond(Some(ns), _) => Some(ns.div_euclid(1_000_000_000)),
        ScalarValue::Int64(Some(s)) => Some(*s),
        ScalarValue::Int32(Some(s)) => Some(i64::from(*s)),
        ScalarValue::UInt32(Some(s)) => Some(i64::from(*s)),
        ScalarValue::UInt64(Some(s)) => i64::try_from(*s).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::TimeUnit;
    use datafusion::logical_expr::{cast, col, lit};

    use super::*;

    fn ts(s: i64) -> Expr {
        lit(ScalarValue::TimestampSecond(Some(s), Some("UTC".into())))
    }

    #[test]
    fn comparisons_on_either_side() {
        assert_eq!(bound(&col("minute").gt_eq(ts(100))), Some((100, i64::MAX)));
        assert_eq!(bound(&ts(100).gt(col("minute"))), Some((i64::MIN, 101)));
        assert_eq!(bound(&col("minute").eq(lit(60_i64))), Some((60, 61)));
        assert_eq!(bound(&col("minute").not_eq(ts(1))), None);
        assert_eq!(bound(&col("other").gt(ts(1))), None);
    }

    #[test]
    fn fractions_widen_the_range() {
        let ms = lit(ScalarValue::TimestampMillisecond(Some(-1_500), None));
        assert_eq!(bound(&col("minute").lt(ms)), Some((i64::MIN, -1)));
    }

    #[test]
    fn between_and_conjunctions_intersect() {
        let between = col("minute").between(ts(60), ts(120));
        assert_eq!(bound(&between), Some((60, 121)));
        let both = col("minute").gt(ts(60)).and(col("x").eq(lit(1)));
        assert_eq!(bound(&both), Some((60, i64::MAX)));
        let filters = [col("minute").gt(ts(60)), col("minute").lt(ts(600))];
        assert_eq!(minute_range(&filters), (60, 601));
        assert_eq!(minute_range(&[]), ALL);
    }

    #[test]
    fn only_casts_that_keep_seconds_are_bounds() {
        let as_ms = cast(
            col("minute"),
            DataType::Timestamp(TimeUnit::Millisecond, None),
        );
        let ms = lit(ScalarValue::TimestampMillisecond(Some(60_000), None));
        assert_eq!(bound(&as_ms.gt_eq(ms)), Some((60, i64::MAX)));
        let as_day = cast(col("minute"), DataType::Date32);
        assert_eq!(bound(&as_day.eq(lit(ScalarValue::Date32(Some(1))))), None);
    }
}
