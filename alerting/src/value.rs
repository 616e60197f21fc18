//! Value functions (DESIGN.md §6): one number out of a value's minutes.
//!
//! A series maps minute starts (epoch seconds) to values; a minute with no
//! row is absent. Sums and averages read the minutes that have data;
//! `min_last`/`max_last` ("above X for n minutes") need every minute.
//! Changes are percent of the base; a missing base or a zero base is an
//! [`Outcome`] of its own, never an infinity and never a fire.

use chrono::{Duration, LocalResult, TimeZone};
use chrono_tz::Tz;
use vigil_config::alert::ValueFn;

/// Seconds in a minute.
pub const MINUTE: i64 = 60;

/// What a value function gives for one minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// A number.
    Value(f64),
    /// The minutes it needs have no data.
    Missing,
    /// A change against a base of zero.
    ZeroBase,
}

impl Outcome {
    /// The number, if there is one.
    pub fn value(self) -> Option<f64> {
        match self {
            Outcome::Value(v) => Some(v),
            Outcome::Missing | Outcome::ZeroBase => None,
        }
    }

    /// `missing` or `zero base` for people; the number otherwise.
    pub fn describe(self) -> String {
        match self {
            Outcome::Value(v) => format!("{v}"),
            Outcome::Missing => "missing data".to_string(),
            Outcome::ZeroBase => "zero base".to_string(),
        }
    }
}

/// A value's minutes.
pub trait Series {
    /// The value at the minute starting at `minute` (epoch seconds).
    fn at(&self, minute: i64) -> Option<f64>;
}

impl Series for std::collections::BTreeMap<i64, f64> {
    fn at(&self, minute: i64) -> Option<f64> {
        self.get(&minute).copied()
    }
}

/// The start of the same local minute `days` days earlier in `tz`, or
/// `None` when that wall-clock time did not exist (a daylight saving gap).
/// An ambiguous time (the repeated hour) maps to its first occurrence.
pub fn same_local_minute(minute: i64, tz: Tz, days: i64) -> Option<i64> {
    let local = tz.timestamp_opt(minute, 0).single()?.naive_local();
    let earlier = local.checked_sub_signed(Duration::days(days))?;
    match tz.from_local_datetime(&earlier) {
        LocalResult::Single(t) => Some(t.timestamp()),
        LocalResult::Ambiguous(first, _) => Some(first.timestamp()),
        LocalResult::None => None,
    }
}

/// The sum of the minutes with data among the `n` ending at `last`
/// (inclusive); `None` when none has data.
fn sum(series: &dyn Series, last: i64, n: u32) -> Option<f64> {
    let mut total = None;
    for i in 0..i64::from(n) {
        if let Some(v) = series.at(last - i * MINUTE) {
            *total.get_or_insert(0.0) += v;
        }
    }
    total
}

/// Change of `current` against `base` in percent.
fn change(current: Option<f64>, base: Option<f64>) -> Outcome {
    match (current, base) {
        (Some(_), Some(0.0)) => Outcome::ZeroBase,
        (Some(c), Some(b)) => Outcome::Value((c - b) / b.abs() * 100.0),
        _ => Outcome::Missing,
    }
}

/// Every value of the `n` minutes ending at `last`, or `None` if one is absent.
fn all(series: &dyn Series, last: i64, n: u32) -> Option<Vec<f64>> {
    (0..i64::from(n))
        .map(|i| series.at(last - i * MINUTE))
        .collect()
}

/// Computes `func` at `minute` over `series`; `tz` decides what "the same
/// minute yesterday / last week" is. `NoData` and `CountAbove` need more
/// than one series and are computed by the evaluator.
pub fn compute(func: ValueFn, series: &dyn Series, minute: i64, tz: Tz) -> Outcome {
    let current = series.at(minute);
    let outcome = match func {
        ValueFn::Current => current.map(Outcome::Value).unwrap_or(Outcome::Missing),
        ValueFn::Mom => change(current, series.at(minute - MINUTE)),
        ValueFn::Dod | ValueFn::Wow => {
            let days = if func == ValueFn::Dod { 1 } else { 7 };
            let base = same_local_minute(minute, tz, days).and_then(|m| series.at(m));
            change(current, base)
        }
        ValueFn::SumLast(n) => sum(series, minute, n)
            .map(Outcome::Value)
            .unwrap_or(Outcome::Missing),
        ValueFn::AvgLast(n) => {
            let present: Vec<f64> = (0..i64::from(n))
                .filter_map(|i| series.at(minute - i * MINUTE))
                .collect();
            if present.is_empty() {
                Outcome::Missing
            } else {
                Outcome::Value(present.iter().sum::<f64>() / present.len() as f64)
            }
        }
        ValueFn::MinLast(n) => all(series, minute, n)
            .map(|v| Outcome::Value(v.into_iter().fold(f64::INFINITY, f64::min)))
            .unwrap_or(Outcome::Missing),
        ValueFn::MaxLast(n) => all(series, minute, n)
            .map(|v| Outcome::Value(v.into_iter().fold(f64::NEG_INFINITY, f64::max)))
            .unwrap_or(Outcome::Missing),
        ValueFn::SumLastVsPrev(n) => {
            let prev_last = minute - i64::from(n) * MINUTE;
            change(sum(series, minute, n), sum(series, prev_last, n))
        }
        ValueFn::SumLastVsYesterday(n) => {
            let base = same_local_minute(minute, tz, 1).and_then(|m| sum(series, m, n));
            change(sum(series, minute, n), base)
        }
        ValueFn::NoData | ValueFn::CountAbove(_) => Outcome::Missing,
    };
    match outcome {
        Outcome::Value(v) if !v.is_finite() => Outcome::Missing,
        other => other,
    }
}
