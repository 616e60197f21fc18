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

#[derive(Default, Clone)]
struct Acc {
    rows: usize,
    sum: f64,
    max: Option<f64>,
    min: Option<f64>,
    num: f64,
    den: f64,
}

impl Acc {
    /// Adds `value` of `row`, combined `how`.
    fn add(&mut self, how: Combine, value: &str, row: &MinuteRow) {
        self.rows += 1;
        let get = |n: &str| row.value(n).and_then(|v| v.as_f64());
        match how {
            Combine::Ratio(n, d) => {
                self.num += get(n).unwrap_or(0.0);
                self.den += get(d).unwrap_or(0.0);
            }
            Combine::Weighted(w) => {
                if let (Some(v), Some(w)) = (get(value), get(w)) {
                    self.num += v * w;
                    self.den += w;
                }
            }
            _ => {
                if let Some(v) = get(value) {
                    self.sum += v;
                    self.max = Some(self.max.map_or(v, |m: f64| m.max(v)));
                    self.min = Some(self.min.map_or(v, |m: f64| m.min(v)));
                }
            }
        }
    }

    /// The combined value (for `No`, the one row's).
    fn value(&self, how: Combine) -> Option<f64> {
        match how {
            Combine::Sum => Some(self.sum),
            Combine::Max | Combine::No => self.max,
            Combine::Min => self.min,
            Combine::Ratio(..) | Combine::Weighted(_) => {
                (self.den != 0.0).then(|| self.num / self.den)
            }
        }
    }
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

/// Bucket lengths of charts, seconds: a minute up to a day.
const STEPS: [i64; 9] = [60, 300, 600, 900, 1800, 3600, 7200, 21_600, 86_400];

/// Most points per line of a chart.
const MAX_POINTS: i64 = 360;

/// The bucket of a chart over `span_s` seconds: the shortest of [`STEPS`]
/// that keeps a line within [`MAX_POINTS`] points.
pub fn step_for(span_s: i64) -> i64 {
    STEPS
        .into_iter()
        .find(|step| span_s / step <= MAX_POINTS)
        .unwrap_or(86_400)
}

/// [`fold`] in buckets of `step_s` seconds (rows of one group and bucket
/// combined, so a value that does not combine over minutes gives `None`
/// unless the step is a minute).
pub fn fold_step(
    rows: &[MinuteRow],
    value: &str,
    values: &[String],
    group: impl Fn(&MinuteRow) -> String,
    step_s: i64,
) -> Option<Vec<Line>> {
    fold_with(rows, value, values, group, |r| {
        r.minute.div_euclid(step_s) * step_s
    })
}

/// Every value of `names` over all of `rows` per group (every minute
/// combined), groups in name order; `None` where a value does not combine
/// over several rows. One pass, each row's group computed once.
pub fn summaries(
    rows: &[MinuteRow],
    names: &[String],
    values: &[String],
    group: impl Fn(&MinuteRow) -> String,
) -> Vec<(String, Vec<Option<f64>>)> {
    let hows: Vec<Combine> = names.iter().map(|n| combine(n, values)).collect();
    let mut groups: BTreeMap<String, Vec<Acc>> = BTreeMap::new();
    for row in rows {
        let accs = groups
            .entry(group(row))
            .or_insert_with(|| vec![Acc::default(); names.len()]);
        for ((acc, how), name) in accs.iter_mut().zip(&hows).zip(names) {
            acc.add(*how, name, row);
        }
    }
    groups
        .into_iter()
        .map(|(g, accs)| {
            let vs = accs
                .iter()
                .zip(&hows)
                .map(|(acc, how)| {
                    if acc.rows > 1 && *how == Combine::No {
                        None
                    } else {
                        acc.value(*how)
                    }
                })
                .collect();
            (g, vs)
        })
        .collect()
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
        acc.add(how, value, row);
    }
    let mut lines = Vec::with_capacity(groups.len());
    for (name, minutes) in groups {
        let mut points = Vec::with_capacity(minutes.len());
        for (minute, acc) in minutes {
            if acc.rows > 1 && how == Combine::No {
                return None;
            }
            if let Some(v) = acc.value(how) {
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
    fn steps_keep_lines_short() {
        assert_eq!(step_for(3600), 60);
        assert_eq!(step_for(86_400), 300);
        assert_eq!(step_for(7 * 86_400), 1800);
        let rows = [
            row(0, "a", 10, 9, 2.0),
            row(60, "a", 30, 21, 4.0),
            row(300, "a", 5, 5, 1.0),
        ];
        let lines = fold_step(&rows, "total", &names(), key_label, 300).unwrap();
        assert_eq!(lines[0].points, vec![(0, 40.0), (300, 5.0)]);
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
        let names2 = ["total".to_string(), "ratio_a_b".to_string()];
        assert_eq!(
            summaries(&rows, &names2, &names(), key_label),
            vec![
                ("a".into(), vec![Some(15.0), None]),
                ("b".into(), vec![Some(30.0), Some(0.5)])
            ]
        );
        let per_key = fold(&rows, "ratio_a_b", &names(), key_label).unwrap();
        assert_eq!(per_key.len(), 2);
        let ranked = top(fold(&rows, "total", &names(), key_label).unwrap(), 1);
        assert_eq!(ranked[0].name, "b");
    }
}
