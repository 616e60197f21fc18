//! The monitors list (`/monitors`, with counters) and a monitor's page
//! (`/monitors/{name}`: a trend chart of one value, per key or label, with
//! yesterday or last week for comparison, and a table of the last minutes).

use chrono::TimeZone;
use chrono_tz::Tz;
use serde_json::{json, Value as J};
use vigil_config::monitor::Period;
use vigil_model::{MinuteRow, View};

use super::chart::{self, Axis};
use super::format;
use super::overview::range_json;
use super::params::{Params, Range, DEFAULT_SPAN_MIN};
use super::series::{self, Line};
use super::Page;
use crate::api::{ApiError, Catalog, MonitorInfo, RowsRequest};

/// Most lines in a chart.
pub const MAX_LINES: usize = 8;
/// Most minutes in a monitor page's table.
const TABLE_MINUTES: usize = 30;
/// The default span of an archive monitor's page: a week, minutes.
const ARCHIVE_SPAN_MIN: i64 = 7 * 24 * 60;
/// Most rows in a monitor page's table.
const TABLE_ROWS: usize = 600;

/// Renders the list of monitors with their counters.
pub fn render_list(catalog: &dyn Catalog, params: &Params) -> Result<Page, ApiError> {
    let monitors = catalog.monitors();
    let tz = format::display_tz(&monitors);
    let list: Vec<J> = monitors
        .iter()
        .map(|m| {
            let c = &m.counters;
            json!({
                "name": m.name,
                "href": format!("/monitors/{}", format::url(&m.name)),
                "kind": m.kind,
                "app": m.app,
                "keys": m.keys.join(", "),
                "values": m.values.join(", "),
                "lines": c.lines,
                "parsed": c.parsed,
                "parse_errors": c.parse_errors,
                "filtered": c.filtered,
                "key_dropped": c.key_dropped,
                "late": c.late,
                "amended": c.amended,
                "rate_limited": c.rate_limited,
            })
        })
        .collect();
    Page::of(
        "monitors.html",
        &json!({
            "title": "Monitors",
            "nav": "monitors",
            "tz": tz.name(),
            "now": format::local(params.now_s(), tz, "%Y-%m-%d %H:%M:%S"),
            "monitors": list,
        }),
    )
}

/// The monitor named `name`, or a 404.
pub fn find(catalog: &dyn Catalog, name: &str) -> Result<MonitorInfo, ApiError> {
    catalog
        .monitors()
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ApiError::UnknownMonitor(name.to_string()))
}

/// The rows of `monitor` in `[from_s, to_s)` in `view`, with the minute in
/// progress, keeping those matching every key filter.
pub fn rows(
    catalog: &dyn Catalog,
    monitor: &str,
    from_s: i64,
    to_s: i64,
    view: View,
    filters: &[(String, String)],
) -> Result<Vec<MinuteRow>, ApiError> {
    let request = RowsRequest {
        from_s,
        to_s,
        view,
        live: true,
    };
    let mut rows = catalog.rows(monitor, &request).map_err(ApiError::Catalog)?;
    rows.retain(|r| {
        r.minute >= from_s
            && r.minute < to_s
            && filters.iter().all(|(k, v)| r.key(k) == Some(v.as_str()))
    });
    Ok(rows)
}

/// The seconds between a minute and the same local minute `days` ago in
/// `tz` (86,400 per day but across a daylight saving change), taken at `t`.
pub fn days_back(t: i64, days: i64, tz: Tz) -> i64 {
    let local = match tz.timestamp_opt(t, 0) {
        chrono::LocalResult::Single(l) | chrono::LocalResult::Ambiguous(l, _) => l.naive_local(),
        chrono::LocalResult::None => return days * 86_400,
    };
    let earlier = local - chrono::Duration::days(days);
    tz.from_local_datetime(&earlier)
        .earliest()
        .map_or(days * 86_400, |e| t - e.timestamp())
}

/// The lines of `value` in `rows` in buckets of `step_s` seconds: one per
/// key (total view) or per label (other views, keys combined where exact),
/// the largest [`MAX_LINES`]. Ranked rows (top monitors) that do not
/// combine get a line per rank; a value that does not combine over minutes
/// is drawn per minute.
pub fn lines_of(
    rows: &[MinuteRow],
    value: &str,
    info: &MonitorInfo,
    view: View,
    step_s: i64,
) -> Vec<Line> {
    let fold = |step: i64| {
        let values = &info.values;
        if view == View::Total {
            series::fold_step(rows, value, values, series::key_label, step)
        } else {
            series::fold_step(
                rows,
                value,
                values,
                |r| r.keys.first().map(|(_, v)| v.clone()).unwrap_or_default(),
                step,
            )
            .or_else(|| series::fold_step(rows, value, values, series::key_label, step))
        }
        .or_else(|| {
            let by_rank = |r: &MinuteRow| match r.rank {
                Some(rank) => format!("{} #{rank}", series::key_label(r)),
                None => series::key_label(r),
            };
            series::fold_step(rows, value, values, by_rank, step)
        })
    };
    let folded = fold(step_s).or_else(|| fold(60));
    series::top(folded.unwrap_or_default(), MAX_LINES)
}

/// The comparison lines: `lines`' names read `shift` seconds earlier and
/// moved forward by `shift`, in the order of `lines` (so colours match).
pub fn compare_lines(earlier: Vec<Line>, lines: &[Line], shift: i64, label: &str) -> Vec<Line> {
    lines
        .iter()
        .map(|l| {
            let points = earlier
                .iter()
                .find(|e| e.name == l.name)
                .map(|e| e.points.iter().map(|(t, v)| (t + shift, *v)).collect())
                .unwrap_or_default();
            Line {
                name: format!("{} ({label})", l.name),
                points,
            }
        })
        .collect()
}

/// Renders the page of monitor `name`.
pub fn render(catalog: &dyn Catalog, name: &str, params: &Params) -> Result<Page, ApiError> {
    let info = find(catalog, name)?;
    let period = archive_period(&info, params)?;
    let default_span = if period.is_some() {
        ARCHIVE_SPAN_MIN
    } else {
        DEFAULT_SPAN_MIN
    };
    let range = params.range(info.timezone, default_span)?;
    let view = params.view()?;
    if period.is_some() && view != View::Total {
        return Err(ApiError::bad(
            "view",
            format!(
                "archive monitor `{}` is rolled up in total only, not by {}",
                info.name,
                view.name()
            ),
        ));
    }
    let value = match params.get("value") {
        Some(v) if info.values.iter().any(|n| n == v) => v.to_string(),
        Some(v) => {
            return Err(ApiError::bad(
                "value",
                format!(
                    "monitor `{}` has no value `{v}` (values: {})",
                    info.name,
                    info.values.join(", ")
                ),
            ))
        }
        None => info.values.first().cloned().unwrap_or_default(),
    };
    let filters = params.key_filters();
    let mut rows = rows(
        catalog,
        &info.name,
        range.from_s,
        range.to_s,
        view,
        &filters,
    )?;
    if let Some(p) = period {
        rows.retain(|r| r.period.as_deref() == Some(p));
    }
    let step = series::step_for(range.to_s - range.from_s);
    let lines = lines_of(&rows, &value, &info, view, step);
    let compare = params.get("compare");
    let compared = match compare {
        None => Vec::new(),
        Some(which) => {
            let (days, label) = match which {
                "yesterday" => (1, "yesterday"),
                "week" => (7, "last week"),
                other => {
                    return Err(ApiError::bad(
                        "compare",
                        format!("`compare` is yesterday or week, not `{other}`"),
                    ))
                }
            };
            let shift = days_back(range.to_s, days, info.timezone);
            let earlier = self::rows(
                catalog,
                &info.name,
                range.from_s - shift,
                range.to_s - shift,
                view,
                &filters,
            )?;
            compare_lines(
                lines_of(&earlier, &value, &info, view, step),
                &lines,
                shift,
                label,
            )
        }
    };
    let svg = chart::lines(
        &format!("{} {value}", info.name),
        &lines,
        &compared,
        axis(&range),
        chart::width(12),
    )?;
    let legend = legend(&lines, &compared);
    let table = table(&rows, &info, view, range.tz);
    let keep_keys: Vec<J> = info
        .keys
        .iter()
        .map(|k| {
            json!({
                "name": format!("key.{k}"),
                "label": k,
                "value": filters.iter().find(|(c, _)| c == k).map(|(_, v)| v.clone()).unwrap_or_default(),
            })
        })
        .collect();
    Page::of(
        "monitor.html",
        &json!({
            "title": format!("Monitor {}", info.name),
            "nav": "monitors",
            "path": format!("/monitors/{}", format::url(&info.name)),
            "window": range_json(&range),
            "monitor": {
                "name": info.name,
                "kind": info.kind,
                "app": info.app,
                "app_href": info.app.as_ref().map(|a| format!("/apps/{}?{}", format::url(a), range.query())),
                "keys": info.keys.join(", "),
                "timezone": info.timezone.name(),
                "counters": info.counters,
            },
            "value": value,
            "period": period,
            "step": step_label(step),
            "values": info.values,
            "view": view.name(),
            "compare": compare,
            "key_fields": keep_keys,
            "chart": svg,
            "legend": legend,
            "table": table,
        }),
    )
}

/// The roll-up an archive monitor's page shows (`period=hour|day|week`,
/// default `hour`); `None` for other monitors, which take no `period`.
fn archive_period(info: &MonitorInfo, params: &Params) -> Result<Option<&'static str>, ApiError> {
    let asked = params.get("period");
    if info.kind != "archive" {
        return match asked {
            None => Ok(None),
            Some(_) => Err(ApiError::bad(
                "period",
                format!(
                    "`period` is for archive monitors; `{}` is a {}",
                    info.name, info.kind
                ),
            )),
        };
    }
    let asked = asked.unwrap_or("hour");
    match Period::parse(asked) {
        Some(p) => Ok(Some(p.name())),
        None => Err(ApiError::bad(
            "period",
            format!("`period` is hour, day or week, not `{asked}`"),
        )),
    }
}

/// How a chart's bucket is named under its title (`per 5 minutes`), empty
/// for a minute.
pub fn step_label(step_s: i64) -> String {
    match step_s {
        60 => String::new(),
        s if s % 3600 == 0 => format!("per {} h", s / 3600),
        s => format!("per {} minutes", s / 60),
    }
}

/// The time axis of a range.
pub fn axis(range: &Range) -> Axis {
    Axis {
        from_s: range.from_s,
        to_s: range.to_s,
        tz: range.tz,
    }
}

/// The legend of a chart: each line's colour and name (comparison lines
/// dashed).
pub fn legend(lines: &[Line], compared: &[Line]) -> Vec<J> {
    let mut out: Vec<J> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| json!({"name": l.name, "color": chart::css_color(i), "dashed": false}))
        .collect();
    out.extend(
        compared
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.points.is_empty())
            .map(|(i, l)| json!({"name": l.name, "color": chart::css_color(i), "dashed": true})),
    );
    out
}

/// The table of the last minutes: newest first, at most
/// [`TABLE_MINUTES`] minutes and [`TABLE_ROWS`] rows.
fn table(rows: &[MinuteRow], info: &MonitorInfo, view: View, tz: Tz) -> J {
    let mut minutes: Vec<i64> = rows.iter().map(|r| r.minute).collect();
    minutes.sort_unstable();
    minutes.dedup();
    let shown: Vec<i64> = minutes.into_iter().rev().take(TABLE_MINUTES).collect();
    let mut list: Vec<&MinuteRow> = rows.iter().filter(|r| shown.contains(&r.minute)).collect();
    list.sort_by(|a, b| b.minute.cmp(&a.minute).then(a.output_order(b)));
    let truncated = list.len() > TABLE_ROWS;
    list.truncate(TABLE_ROWS);
    let mut keys: Vec<String> = Vec::new();
    if view != View::Total {
        keys.push(view.name().to_string());
    }
    keys.extend(info.keys.iter().cloned());
    let has_rank = list.iter().any(|r| r.rank.is_some());
    let has_line = list.iter().any(|r| r.line.is_some() || !r.lines.is_empty());
    let body: Vec<J> = list
        .iter()
        .map(|r| {
            json!({
                "minute": format::minute(r.minute, tz),
                "keys": r.keys.iter().map(|(_, v)| v).collect::<Vec<_>>(),
                "rank": r.rank,
                "values": info.values.iter().map(|n| r.value(n).map_or_else(|| "–".to_string(), format::value)).collect::<Vec<_>>(),
                "line": r.line.clone().or_else(|| r.lines.first().cloned()),
            })
        })
        .collect();
    json!({
        "keys": keys,
        "values": info.values,
        "has_rank": has_rank,
        "has_line": has_line,
        "rows": body,
        "truncated": truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yesterday_across_daylight_saving() {
        let berlin = chrono_tz::Europe::Berlin;
        // 2026-03-29 12:00 CEST; the day before had CET: 23 hours back.
        let t = 1_774_778_400;
        assert_eq!(days_back(t, 1, berlin), 23 * 3600);
        assert_eq!(days_back(t, 7, chrono_tz::Asia::Shanghai), 7 * 86_400);
    }

    #[test]
    fn ranked_rows_get_a_line_per_rank() {
        let info = MonitorInfo {
            name: "slowest".into(),
            kind: "record_top".into(),
            app: None,
            keys: vec![],
            values: vec!["elapsed".into()],
            timezone: Tz::UTC,
            counters: Default::default(),
        };
        let rows: Vec<MinuteRow> = [(1, 39), (2, 38), (1, 37)]
            .iter()
            .enumerate()
            .map(|(i, (rank, ms))| {
                let mut r = MinuteRow::new("slowest", (i as i64 / 2) * 60, vec![]);
                r.rank = Some(*rank);
                r.values = vec![("elapsed".into(), vigil_model::Value::Int(*ms))];
                r
            })
            .collect();
        let lines = lines_of(&rows, "elapsed", &info, View::Total, 60);
        assert_eq!(lines[0].name, "total #1");
        assert_eq!(lines[0].points, vec![(0, 39.0), (60, 37.0)]);
        assert_eq!(lines[1].name, "total #2");
    }

    #[test]
    fn comparison_lines_follow_the_order_of_the_lines() {
        let now = vec![
            Line {
                name: "b".into(),
                points: vec![(86_400, 1.0)],
            },
            Line {
                name: "a".into(),
                points: vec![(86_400, 2.0)],
            },
        ];
        let earlier = vec![Line {
            name: "a".into(),
            points: vec![(0, 5.0)],
        }];
        let c = compare_lines(earlier, &now, 86_400, "yesterday");
        assert_eq!(c[0].points, vec![]);
        assert_eq!(c[1].name, "a (yesterday)");
        assert_eq!(c[1].points, vec![(86_400, 5.0)]);
    }
}
