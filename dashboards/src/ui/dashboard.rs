//! Custom dashboards (`/dashboards`, `/dashboards/{name}`): the reports of
//! a YAML dashboard on a 12-column grid, each over its own span ending at
//! the page's `to` (default now), in buckets of its granularity.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value as J};
use vigil_config::dashboard::{
    Dashboard, Level, MonitorValue, NumberFormat, Report, ReportKind, Source, SourceValue,
};
use vigil_config::monitor::Period;
use vigil_model::{MinuteRow, View};

use super::chart;
use super::format;
use super::monitors::{days_back, legend, rows};
use super::overview::range_json;
use super::params::Params;
use super::series::{self, Line};
use super::Page;
use crate::api::{ApiError, Catalog, MonitorInfo};

/// Most keys across a `keys_across` table.
const MAX_KEY_COLUMNS: usize = 20;
/// Most rows of a keyed table.
const MAX_ROWS: usize = 500;

/// Per-group, per-bucket values of a source.
type Points = BTreeMap<String, BTreeMap<i64, f64>>;

/// How a report puts rows in buckets.
#[derive(Debug, Clone, Copy)]
enum Buckets {
    /// Minutes in buckets of this many seconds.
    Every(i64),
    /// An archive's rows of one roll-up, each period its own bucket.
    Periods(Period),
}

/// Renders the list of dashboards.
pub fn render_list(catalog: &dyn Catalog) -> Result<Page, ApiError> {
    let list: Vec<J> = catalog
        .dashboards()
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "title": d.title,
                "href": format!("/dashboards/{}", format::url(&d.name)),
                "reports": d.reports.len(),
                "span": d.span_min,
            })
        })
        .collect();
    Page::of(
        "dashboards.html",
        &json!({"title": "Dashboards", "nav": "dashboards", "dashboards": list}),
    )
}

/// Reads rows once per monitor and range during one page.
struct Reader<'a> {
    catalog: &'a dyn Catalog,
    monitors: Vec<MonitorInfo>,
    cache: RefCell<HashMap<(String, i64, i64), Vec<MinuteRow>>>,
}

impl Reader<'_> {
    fn rows(&self, monitor: &str, from_s: i64, to_s: i64) -> Result<Vec<MinuteRow>, ApiError> {
        let key = (monitor.to_string(), from_s, to_s);
        if let Some(rows) = self.cache.borrow().get(&key) {
            return Ok(rows.clone());
        }
        let read = rows(self.catalog, monitor, from_s, to_s, View::Total, &[])?;
        self.cache.borrow_mut().insert(key, read.clone());
        Ok(read)
    }

    fn values_of(&self, monitor: &str) -> Vec<String> {
        self.monitors
            .iter()
            .find(|m| m.name == monitor)
            .map(|m| m.values.clone())
            .unwrap_or_default()
    }

    /// One monitor value's points over `[from_s, to_s)` in `buckets`, per
    /// key or in total, of the rows matching `keys`.
    fn value_points(
        &self,
        mv: &MonitorValue,
        keys: &[(String, String)],
        from_s: i64,
        to_s: i64,
        buckets: Buckets,
        by_key: bool,
    ) -> Result<Option<Points>, ApiError> {
        let mut rows = self.rows(&mv.monitor, from_s, to_s)?;
        rows.retain(|r| keys.iter().all(|(k, v)| r.key(k) == Some(v.as_str())));
        if let Buckets::Periods(p) = buckets {
            rows.retain(|r| r.period.as_deref() == Some(p.name()));
        }
        let values = self.values_of(&mv.monitor);
        let group = |r: &MinuteRow| {
            if by_key {
                series::key_label(r)
            } else {
                String::new()
            }
        };
        let lines = series::fold_with(&rows, &mv.value, &values, group, |r| match buckets {
            Buckets::Every(bucket_s) => r.minute.div_euclid(bucket_s) * bucket_s,
            Buckets::Periods(_) => r.minute,
        });
        Ok(lines.map(|lines| {
            lines
                .into_iter()
                .map(|l| (l.name, l.points.into_iter().collect()))
                .collect()
        }))
    }

    /// A source's points (`None` when its value does not combine over
    /// keys or buckets as asked).
    fn points(
        &self,
        src: &Source,
        from_s: i64,
        to_s: i64,
        bucket_s: i64,
        by_key: bool,
    ) -> Result<Option<Points>, ApiError> {
        self.points_in(src, from_s, to_s, Buckets::Every(bucket_s), by_key)
    }

    /// [`Reader::points`] in any [`Buckets`].
    fn points_in(
        &self,
        src: &Source,
        from_s: i64,
        to_s: i64,
        bucket_s: Buckets,
        by_key: bool,
    ) -> Result<Option<Points>, ApiError> {
        match &src.value {
            SourceValue::Value(mv) => {
                self.value_points(mv, &src.keys, from_s, to_s, bucket_s, by_key)
            }
            SourceValue::Computed { op, left, right } => {
                // Validation makes sure both operands have the filter's
                // key columns.
                let l = self.value_points(left, &src.keys, from_s, to_s, bucket_s, by_key)?;
                let r = self.value_points(right, &src.keys, from_s, to_s, bucket_s, by_key)?;
                let (Some(l), Some(r)) = (l, r) else {
                    return Ok(None);
                };
                // An operand without keys pairs with every key of the other.
                let whole = (r.len() == 1).then(|| r.values().next()).flatten();
                let mut out = Points::new();
                for (group, buckets) in &l {
                    let Some(other) = r.get(group).or(whole) else {
                        continue;
                    };
                    let computed: BTreeMap<i64, f64> = buckets
                        .iter()
                        .filter_map(|(b, a)| Some((*b, op.apply(*a, *other.get(b)?)?)))
                        .collect();
                    out.insert(group.clone(), computed);
                }
                Ok(Some(out))
            }
        }
    }
}

/// A formatted cell: text and threshold colour.
fn cell(src: &Source, v: Option<f64>) -> J {
    match v {
        None => json!({"text": "–", "class": ""}),
        Some(v) => {
            let class = match src.thresholds.level(v) {
                Level::Normal => "",
                Level::Orange => "cell-orange",
                Level::Red => "cell-red",
            };
            json!({"text": number(src.format, v), "class": class})
        }
    }
}

/// `v` written as `format` says.
fn number(format: NumberFormat, v: f64) -> String {
    match (format.decimals, format.percent) {
        (Some(d), p) => format::fixed(v, d, p),
        (None, true) => format!("{}%", format::number(v * 100.0)),
        (None, false) => format::number(v),
    }
}

/// A source's column header: its label and diagnostic link.
fn header(src: &Source) -> J {
    json!({"label": src.label, "link": src.link})
}

/// Renders dashboard `name`.
pub fn render(catalog: &dyn Catalog, name: &str, params: &Params) -> Result<Page, ApiError> {
    let dashboard = catalog
        .dashboards()
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no dashboard is named `{name}`")))?;
    let monitors = catalog.monitors();
    let tz = dashboard_tz(&dashboard, &monitors);
    let range = params.range(tz, dashboard.span_min)?;
    let reader = Reader {
        catalog,
        monitors,
        cache: RefCell::new(HashMap::new()),
    };
    let mut reports = Vec::with_capacity(dashboard.reports.len());
    for report in &dashboard.reports {
        let span = if params.get("span").is_some() {
            range.span_min
        } else {
            report.span_min
        };
        let to_s = range.to_s;
        let from_s = to_s - span * 60;
        let bucket_s = report.granularity_min * 60;
        let body = match report.kind {
            ReportKind::LastMinutes => last_minutes(&reader, report, from_s, to_s, bucket_s, tz)?,
            ReportKind::Trend => trend(&reader, report, from_s, to_s, bucket_s, tz)?,
            ReportKind::CurrentKeys => current_keys(&reader, report, from_s, to_s, bucket_s, tz)?,
            ReportKind::MinutesKeys => minutes_keys(&reader, report, from_s, to_s, bucket_s, tz)?,
            ReportKind::KeysAcross => keys_across(&reader, report, from_s, to_s, bucket_s, tz)?,
            ReportKind::Top => top(&reader, report, from_s, to_s)?,
            ReportKind::Service => service(&reader, report, from_s, to_s)?,
            ReportKind::Seconds => seconds(&reader, report, from_s, to_s, tz)?,
            ReportKind::Archive => archive(&reader, report, from_s, to_s, tz)?,
        };
        reports.push(json!({
            "title": report.title,
            "kind": report.kind.name(),
            "width": report.width,
            "height": report.height,
            "link": report.link,
            "range": format!("{} – {}", format::minute(from_s, tz), format::minute(to_s, tz)),
            "body": body,
        }));
    }
    Page::of(
        "dashboard.html",
        &json!({
            "title": dashboard.title,
            "nav": "dashboards",
            "path": format!("/dashboards/{}", format::url(&dashboard.name)),
            "window": range_json(&range),
            "reports": reports,
        }),
    )
}

/// The timezone of a dashboard's times: that of the first monitor it shows.
fn dashboard_tz(d: &Dashboard, monitors: &[MonitorInfo]) -> chrono_tz::Tz {
    d.reports
        .iter()
        .flat_map(|r| &r.sources)
        .flat_map(|s| s.monitors())
        .find_map(|name| {
            monitors
                .iter()
                .find(|m| m.name == name && m.kind != "metrics")
        })
        .map_or_else(|| format::display_tz(monitors), |m| m.timezone)
}

/// The buckets of `[from_s, to_s)`, newest first.
fn buckets_desc(from_s: i64, to_s: i64, bucket_s: i64) -> Vec<i64> {
    let first = from_s.div_euclid(bucket_s) * bucket_s;
    let mut out: Vec<i64> = (0..)
        .map(|i| first + i * bucket_s)
        .take_while(|b| *b < to_s)
        .collect();
    out.reverse();
    out
}

fn total(points: &Option<Points>) -> Option<&BTreeMap<i64, f64>> {
    points.as_ref().and_then(|p| p.values().next())
}

fn last_minutes(
    reader: &Reader,
    report: &Report,
    from_s: i64,
    to_s: i64,
    bucket_s: i64,
    tz: chrono_tz::Tz,
) -> Result<J, ApiError> {
    time_table(reader, report, (from_s, to_s, bucket_s), "minute", |b| {
        format::minute(b, tz)
    })
}

/// A second_stat monitor's seconds of `[from_s, to_s)`, newest first.
fn seconds(
    reader: &Reader,
    report: &Report,
    from_s: i64,
    to_s: i64,
    tz: chrono_tz::Tz,
) -> Result<J, ApiError> {
    time_table(reader, report, (from_s, to_s, 1), "second", |b| {
        format::second(b, tz)
    })
}

/// Buckets of `(from_s, to_s, bucket_s)` down, newest first, one column
/// per source (keys combined); `head` names the time column.
fn time_table(
    reader: &Reader,
    report: &Report,
    (from_s, to_s, bucket_s): (i64, i64, i64),
    head: &str,
    when: impl Fn(i64) -> String,
) -> Result<J, ApiError> {
    let mut columns = Vec::new();
    for src in &report.sources {
        columns.push(reader.points(src, from_s, to_s, bucket_s, false)?);
    }
    let rows = time_rows(report, &columns, buckets_desc(from_s, to_s, bucket_s), when);
    Ok(json!({ "table": sources_table(json!([head]), report, rows) }))
}

/// One row per bucket of `buckets` (in that order), headed by `when`, with
/// each source's value in total.
fn time_rows(
    report: &Report,
    columns: &[Option<Points>],
    buckets: Vec<i64>,
    when: impl Fn(i64) -> String,
) -> Vec<J> {
    buckets
        .into_iter()
        .map(|b| {
            let cells: Vec<J> = report
                .sources
                .iter()
                .zip(columns)
                .map(|(src, points)| cell(src, total(points).and_then(|t| t.get(&b).copied())))
                .collect();
            json!({"head": [when(b)], "cells": cells})
        })
        .collect()
}

/// A table of `rows` under `heads`, one column per source of `report`.
fn sources_table(heads: J, report: &Report, rows: Vec<J>) -> J {
    json!({
        "heads": heads,
        "columns": report.sources.iter().map(header).collect::<Vec<_>>(),
        "rows": rows,
    })
}

fn trend(
    reader: &Reader,
    report: &Report,
    from_s: i64,
    to_s: i64,
    bucket_s: i64,
    tz: chrono_tz::Tz,
) -> Result<J, ApiError> {
    let mut lines = Vec::new();
    let mut compared = Vec::new();
    for src in &report.sources {
        let points = reader.points(src, from_s, to_s, bucket_s, false)?;
        lines.push(Line {
            name: src.label.clone(),
            points: total(&points)
                .map(|t| t.iter().map(|(b, v)| (*b, *v)).collect())
                .unwrap_or_default(),
        });
    }
    for days in &report.compare_days {
        let shift = days_back(to_s, *days, tz);
        let label = if *days == 1 { "yesterday" } else { "last week" };
        for src in &report.sources {
            let points = reader.points(src, from_s - shift, to_s - shift, bucket_s, false)?;
            compared.push(Line {
                name: format!("{} ({label})", src.label),
                points: total(&points)
                    .map(|t| t.iter().map(|(b, v)| (b + shift, *v)).collect())
                    .unwrap_or_default(),
            });
        }
    }
    let svg = chart::lines(
        &report.title,
        &lines,
        &compared,
        chart::Axis { from_s, to_s, tz },
        chart::width(report.width),
    )?;
    let legend = legend(&lines, &compared);
    Ok(json!({"chart": svg, "legend": legend}))
}

/// The keys of every source's points, largest first by the first source.
fn keys_of(columns: &[Option<Points>]) -> Vec<String> {
    let mut sums: BTreeMap<&String, f64> = BTreeMap::new();
    for (i, points) in columns.iter().enumerate() {
        for (key, buckets) in points.iter().flatten() {
            let s = sums.entry(key).or_default();
            if i == 0 {
                *s += buckets.values().sum::<f64>();
            }
        }
    }
    let mut keys: Vec<(&String, f64)> = sums.into_iter().collect();
    keys.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    keys.into_iter().map(|(k, _)| k.clone()).collect()
}

fn keyed_columns(
    reader: &Reader,
    report: &Report,
    from_s: i64,
    to_s: i64,
    bucket_s: i64,
) -> Result<Vec<Option<Points>>, ApiError> {
    report
        .sources
        .iter()
        .map(|src| reader.points(src, from_s, to_s, bucket_s, true))
        .collect()
}

fn value_at(points: &Option<Points>, key: &str, bucket: i64) -> Option<f64> {
    points.as_ref()?.get(key)?.get(&bucket).copied()
}

fn current_keys(
    reader: &Reader,
    report: &Report,
    from_s: i64,
    to_s: i64,
    bucket_s: i64,
    tz: chrono_tz::Tz,
) -> Result<J, ApiError> {
    let columns = keyed_columns(reader, report, from_s, to_s, bucket_s)?;
    let newest = columns
        .iter()
        .flatten()
        .flat_map(|p| p.values())
        .filter_map(|b| b.keys().next_back().copied())
        .max();
    let Some(bucket) = newest else {
        return Ok(json!({"empty": true}));
    };
    let keys: Vec<String> = keys_of(&columns)
        .into_iter()
        .filter(|k| columns.iter().any(|c| value_at(c, k, bucket).is_some()))
        .take(MAX_ROWS)
        .collect();
    let rows: Vec<J> = keys
        .iter()
        .map(|k| json!({"head": [k], "cells": key_cells(report, &columns, k, bucket)}))
        .collect();
    Ok(json!({
        "note": format!("minute {}", format::minute(bucket, tz)),
        "table": sources_table(json!(["key"]), report, rows),
    }))
}

/// The cells of key `k` at `bucket`, one per source of `report`.
fn key_cells(report: &Report, columns: &[Option<Points>], k: &str, bucket: i64) -> Vec<J> {
    report
        .sources
        .iter()
        .zip(columns)
        .map(|(src, c)| cell(src, value_at(c, k, bucket)))
        .collect()
}

fn minutes_keys(
    reader: &Reader,
    report: &Report,
    from_s: i64,
    to_s: i64,
    bucket_s: i64,
    tz: chrono_tz::Tz,
) -> Result<J, ApiError> {
    let columns = keyed_columns(reader, report, from_s, to_s, bucket_s)?;
    let keys = keys_of(&columns);
    let mut rows = Vec::new();
    for b in buckets_desc(from_s, to_s, bucket_s) {
        for k in &keys {
            if !columns.iter().any(|c| value_at(c, k, b).is_some()) {
                continue;
            }
            let cells = key_cells(report, &columns, k, b);
            rows.push(json!({"head": [format::minute(b, tz), k], "cells": cells}));
        }
    }
    let more = rows.len().saturating_sub(MAX_ROWS);
    rows.truncate(MAX_ROWS);
    Ok(json!({
        "more": more,
        "table": sources_table(json!(["minute", "key"]), report, rows),
    }))
}

fn keys_across(
    reader: &Reader,
    report: &Report,
    from_s: i64,
    to_s: i64,
    bucket_s: i64,
    tz: chrono_tz::Tz,
) -> Result<J, ApiError> {
    let Some(src) = report.sources.first() else {
        return Ok(json!({"empty": true}));
    };
    let points = reader.points(src, from_s, to_s, bucket_s, true)?;
    let keys: Vec<String> = keys_of(std::slice::from_ref(&points))
        .into_iter()
        .take(MAX_KEY_COLUMNS)
        .collect();
    let rows: Vec<J> = buckets_desc(from_s, to_s, bucket_s)
        .into_iter()
        .map(|b| {
            let cells: Vec<J> = keys
                .iter()
                .map(|k| cell(src, value_at(&points, k, b)))
                .collect();
            json!({"head": [format::minute(b, tz)], "cells": cells})
        })
        .collect();
    Ok(json!({
        "note": format!("{} per key", src.label),
        "table": {
            "heads": ["minute"],
            "columns": keys.iter().map(|k| json!({"label": k, "link": src.link})).collect::<Vec<_>>(),
            "rows": rows,
        }
    }))
}

fn top(reader: &Reader, report: &Report, from_s: i64, to_s: i64) -> Result<J, ApiError> {
    let Some(src) = report.sources.first() else {
        return Ok(json!({"empty": true}));
    };
    let span_s = to_s - from_s;
    let points = reader.points(src, from_s, to_s, span_s.max(60), true)?;
    let mut ranked: Vec<(String, f64)> = points
        .into_iter()
        .flatten()
        .filter_map(|(k, b)| Some((k, b.values().next().copied()?)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(report.top);
    let rows: Vec<J> = ranked
        .iter()
        .enumerate()
        .map(|(i, (k, v))| json!({"head": [i + 1, k], "cells": [cell(src, Some(*v))]}))
        .collect();
    Ok(json!({
        "table": {"heads": ["#", "key"], "columns": [header(src)], "rows": rows}
    }))
}

/// An archive monitor's periods of `[from_s, to_s)`, newest first, one
/// column per source (keys combined, or picked with `keys`); the period
/// `to_s` falls in is marked as in progress.
fn archive(
    reader: &Reader,
    report: &Report,
    from_s: i64,
    to_s: i64,
    tz: chrono_tz::Tz,
) -> Result<J, ApiError> {
    let Some(period) = report.period else {
        return Ok(json!({"empty": true}));
    };
    let mut columns = Vec::new();
    for src in &report.sources {
        columns.push(reader.points_in(src, from_s, to_s, Buckets::Periods(period), false)?);
    }
    let mut starts: Vec<i64> = columns
        .iter()
        .filter_map(total)
        .flat_map(|t| t.keys().copied())
        .collect();
    starts.sort_unstable_by(|a, b| b.cmp(a));
    starts.dedup();
    let newest = starts.first().copied();
    let length = match period {
        Period::Hour => 3_600,
        Period::Day => 86_400,
        Period::Week => 7 * 86_400,
    };
    let rows = time_rows(report, &columns, starts, |b| {
        let head = match period {
            Period::Hour => format::minute(b, tz),
            Period::Day => format::local(b, tz, "%Y-%m-%d %a"),
            Period::Week => format::local(b, tz, "week of %Y-%m-%d"),
        };
        if Some(b) == newest && to_s < b + length {
            format!("{head} (in progress)")
        } else {
            head
        }
    });
    Ok(json!({ "table": sources_table(json!([period.name()]), report, rows) }))
}

/// The service table's columns: value and title.
const SERVICE_COLUMNS: [(&str, &str); 5] = [
    ("total", "total"),
    ("success", "success"),
    ("fail", "fail"),
    ("success_rate", "rate"),
    ("avg_latency", "avg latency ms"),
];

fn service(reader: &Reader, report: &Report, from_s: i64, to_s: i64) -> Result<J, ApiError> {
    let Some(src) = report.sources.first() else {
        return Ok(json!({"empty": true}));
    };
    let SourceValue::Value(mv) = &src.value else {
        return Ok(json!({"empty": true}));
    };
    let mut rows = reader.rows(&mv.monitor, from_s, to_s)?;
    rows.retain(|r| src.keys.iter().all(|(k, v)| r.key(k) == Some(v.as_str())));
    let values = reader.values_of(&mv.monitor);
    let names: Vec<String> = SERVICE_COLUMNS.iter().map(|(v, _)| v.to_string()).collect();
    let per_key = series::summaries(&rows, &names, &values, series::key_label);
    let all = series::summaries(&rows, &names, &values, |_| String::new())
        .pop()
        .map_or_else(|| vec![None; names.len()], |(_, vs)| vs);
    // The rate is a percentage coloured by the source's thresholds; the
    // counts and the latency are plain.
    let rate = Source {
        format: NumberFormat {
            decimals: Some(2),
            percent: true,
        },
        ..src.clone()
    };
    let plain = Source {
        format: NumberFormat::default(),
        thresholds: Default::default(),
        ..src.clone()
    };
    let row = |name: &str, vs: Vec<Option<f64>>| {
        let cells: Vec<J> = vs
            .into_iter()
            .zip(SERVICE_COLUMNS)
            .map(|(v, (value, _))| {
                cell(
                    if value == "success_rate" {
                        &rate
                    } else {
                        &plain
                    },
                    v,
                )
            })
            .collect();
        json!({"head": [name], "cells": cells})
    };
    let mut body: Vec<J> = per_key
        .into_iter()
        .take(MAX_ROWS)
        .map(|(k, vs)| row(&k, vs))
        .collect();
    body.push(row("all", all));
    Ok(json!({
        "table": {
            "heads": ["key"],
            // The diagnostic link goes beside the rate, which the thresholds colour.
            "columns": SERVICE_COLUMNS.iter().map(|(v, t)| json!({"label": t, "link": if *v == "success_rate" { src.link.clone() } else { None }})).collect::<Vec<_>>(),
            "rows": body,
        }
    }))
}
