//! Rows folded into per-minute series: per key, per label, or in total.
//!
//! Values of several rows of one minute are combined only where that is
//! exact: counts and sums add up, maxima and minima take the extreme, a
//! success rate is `success / total`, an average is weighted by its count
//! (`avg_latency` by `total`, `avg_<col>` by `count`). Other values (ratios,
//! custom names) are not combined: a fold that would need it gives `None`.

use std::collections::BTreeMap;

use vigil_model::MinuteRow;

/// One line of a chart: a name and its points (minute, value), in time
/// order.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// What the line shows (a key, a label, a value name).
    pub name: String,
    /// (minute in epoch seconds, value).
    pub points: Vec<(i64, f64)>,
}

impl Line {
    /// The sum of the line's points.
    pub fn sum(&self) -> f64 {
        self.points.iter().map(|(_, v)| v).sum()
    }
}

/// How the values of one minute's rows combine into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine<'a> {
    Sum,
    Max,
    Min,
    /// `numerator / denominator`, both summed.
    Ratio(&'a str, &'a str),
    /// An average weighted by another value.
    Weighted(&'a str),
    /// Not combinable.
    No,
}

fn combine<'a>(value: &'a str, values: &[String]) -> Combine<'a> {
    let has = |n: &str| values.iter().any(|v| v == n);
    match value {
        "count" | "total" | "success" | "fail" | "lines" => Combine::Sum,
        "success_rate" if has("success") && has("total") => Combine::Ratio("success", "total"),
        "avg_latency" if has("total") => Combine::Weighted("total"),
        v if v.starts_with("sum_") => Combine::Sum,
        v if v.starts_with("max_") => Combine::Max,
        v if v.starts_with("min_") => Combine::Min,
        v if v.starts_with("avg_") && has("count") => Combine::Weighted("count"),
        _ => Combine::No,
    }
}

#[derive(Default)]
struct Acc {
    rows: usize,
    sum: f64,
    max: Option<f64>,
    min: Option<f64>,
    num: f64,
    den: f64,
}

/// Folds `rows` into one line of `value` per group (`group` names a row's
/// group; lines in name order); `None` when a group's minute has several
/// rows and `value` does not combine.
pub fn fold(
    rows: &[MinuteRow],
    value: &str,
    values: &[String],
    group: impl Fn(&MinuteRow) -> String,
) -> Option<Vec<Line>> {
    fold_with(rows, value, values, group, |r| r.minute)
}

/// `value` over all of `rows` per group (every minute combined), in name
/// order; `None` for a group whose value does not combine.
pub fn summary(
    rows: &[MinuteRow],
    value: &str,
    values: &[String],
    group: impl Fn(&MinuteRow) -> String,
) -> Vec<(String, Option<f64>)> {
    match fold_with(rows, value, values, &group, |_| 0) {
        Some(lines) => lines
            .into_iter()
            .map(|l| (l.name, l.points.first().map(|(_, v)| *v)))
            .collect(),
        None => {
            let mut names: Vec<String> = rows.iter().map(&group).collect();
            names.sort();
            names.dedup();
            names.into_iter().map(|n| (n, None)).collect()
        }
    }
}

/// [`fold`] with the bucket of each row given by `bucket` (rows of one
/// group and bucket combined).
pub fn fold_with(
    rows: &[MinuteRow],
    value: &str,
    values: &[String],
    group: impl Fn(&MinuteRow) -> String,
    bucket: impl Fn(&MinuteRow) -> i64,
) -> Option<Vec<Line>> {
    let how = combine(value, values);
    let mut groups: BTreeMap<String, BTreeMap<i64, Acc>> = BTreeMap::new();
    for row in rows {
        let acc = groups
            .entry(group(row))
            .or_default()
            .entry(bucket(row))
            .or_default();
        acc.rows += 1;
        let get = |n: &str| row.value(n).and_then(|v| v.as_f64());
        match how {
            Combine::Ratio(n, d) => {
                acc.num += get(n).unwrap_or(0.0);
                acc.den += get(d).unwrap_or(0.0);
            }
            Combine::Weighted(w) => {
                if let (Some(v), Some(w)) = (get(value), get(w)) {
                    acc.num += v * w;
                    acc.den += w;
                }
            }
            _ => {
                if let Some(v) = get(value) {
                    acc.sum += v;
                    acc.max = Some(acc.max.map_or(v, |m: f64| m.max(v)));
                    acc.min = Some(acc.min.map_or(v, |m: f64| m.min(v)));
                }
            }
        }
    }
    let mut lines = Vec::with_capacity(groups.len());
    for (name, minutes) in groups {
        let mut points = Vec::with_capacity(minutes.len());
        for (minute, acc) in minutes {
            let v = match how {
                _ if acc.rows > 1 && how == Combine::No => return None,
                Combine::Sum => Some(acc.sum),
                Combine::Max | Combine::No => acc.max,
                Combine::Min => acc.min,
                Combine::Ratio(..) | Combine::Weighted(_) => {
                    (acc.den != 0.0).then(|| acc.num / acc.den)
                }
            };
            if let Some(v) = v {
                points.push((minute, v));
            }
        }
        lines.push(Line { name, points });
    }
    Some(lines)
}

/// A row's keys as one label (`交易 / 支付`), `total` without keys.
pub fn key_label(row: &MinuteRow) -> String {
    keys_label(&row.keys)
}

/// Keys as one label (`交易 / 支付`), `total` when empty.
pub fn keys_label(keys: &[(String, String)]) -> String {
    if keys.is_empty() {
        "total".to_string()
    } else {
        keys.iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// The `limit` lines with the largest sums, in that order.
pub fn top(mut lines: Vec<Line>, limit: usize) -> Vec<Line> {
    lines.sort_by(|a, b| b.sum().total_cmp(&a.sum()).then(a.name.cmp(&b.name)));
    lines.truncate(limit);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_model::Value;

    fn row(minute: i64, key: &str, total: i64, success: i64, latency: f64) -> MinuteRow {
        let mut r = MinuteRow::new("s", minute, vec![("method".into(), key.into())]);
        r.values = vec![
            ("total".into(), Value::Int(total)),
            ("success".into(), Value::Int(success)),
            (
                "success_rate".into(),
                Value::Float(success as f64 / total as f64),
            ),
            ("avg_latency".into(), Value::Float(latency)),
            ("ratio_a_b".into(), Value::Float(0.5)),
        ];
        r
    }

    fn names() -> Vec<String> {
        [
            "total",
            "success",
            "success_rate",
            "avg_latency",
            "ratio_a_b",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn combines_exactly_or_not_at_all() {
        let rows = [
            row(0, "a", 10, 9, 2.0),
            row(0, "b", 30, 21, 4.0),
            row(60, "a", 5, 5, 1.0),
        ];
        let total = |v| fold(&rows, v, &names(), |_| String::new());
        assert_eq!(
            total("total").unwrap()[0].points,
            vec![(0, 40.0), (60, 5.0)]
        );
        assert_eq!(
            total("success_rate").unwrap()[0].points,
            vec![(0, 0.75), (60, 1.0)]
        );
        assert_eq!(
            total("avg_latency").unwrap()[0].points,
            vec![(0, 3.5), (60, 1.0)]
        );
        assert_eq!(total("ratio_a_b"), None);
        let sums = summary(&rows, "total", &names(), key_label);
        assert_eq!(
            sums,
            vec![("a".into(), Some(15.0)), ("b".into(), Some(30.0))]
        );
        assert_eq!(
            summary(&rows, "ratio_a_b", &names(), key_label)[0],
            ("a".into(), None)
        );
        let per_key = fold(&rows, "ratio_a_b", &names(), key_label).unwrap();
        assert_eq!(per_key.len(), 2);
        let ranked = top(fold(&rows, "total", &names(), key_label).unwrap(), 1);
        assert_eq!(ranked[0].name, "b");
    }
}
