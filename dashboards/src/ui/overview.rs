//! The overview (`/`): apps healthy vs alerting, top 5 apps by errors,
//! alerts, CPU, memory and disk, alert counts by level for the last day,
//! alert history per minute (last hour) and per hour (last day) with links
//! into the history, and the latest alerts. It refreshes every minute.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value as J};
use vigil_model::{MinuteRow, View};

use super::alerts::{history, Record};
use super::chart::{self, Axis, Bar};
use super::format;
use super::params::{Params, Range, DEFAULT_SPAN_MIN};
use super::Page;
use crate::api::{ApiError, Catalog, MonitorInfo, RowsRequest};

/// Levels in order of urgency.
pub const LEVELS: [&str; 5] = ["P0", "P1", "P2", "P3", "P4"];

/// How many apps each top list shows.
const TOP: usize = 5;

/// Renders the overview as of the end of `params`' range.
pub fn render(catalog: &dyn Catalog, params: &Params) -> Result<Page, ApiError> {
    let monitors = catalog.monitors();
    let tz = format::display_tz(&monitors);
    let range = params.range(tz, DEFAULT_SPAN_MIN)?;
    let t = range.to_s;
    let apps = apps(&monitors);
    let app_of: BTreeMap<&str, &str> = monitors
        .iter()
        .filter_map(|m| Some((m.name.as_str(), m.app.as_deref()?)))
        .collect();
    let instances = instances_of(catalog, &monitors, &range.ending_at(t, 60))?;
    let day = history(catalog, t - 86_400, t)?;

    // Alerting: a record open at the range's last minute, or (live) a rule
    // firing now.
    let last_minute = t.div_euclid(60) * 60 - 60;
    let mut alerting: BTreeSet<String> = BTreeSet::new();
    for r in day.iter().filter(|r| r.open_at(last_minute)) {
        alerting.extend(record_apps(r, &app_of, &instances));
    }
    if !range.pinned {
        for r in super::alerts::rules(catalog, params.now_s())? {
            if r.state == "firing" {
                alerting.extend(app_of.get(r.monitor.as_str()).map(|a| a.to_string()));
            }
        }
    }

    let mut alert_counts: BTreeMap<String, f64> = BTreeMap::new();
    let mut levels: BTreeMap<&str, usize> = LEVELS.iter().map(|l| (*l, 0)).collect();
    for r in &day {
        if r.first_seen >= t - 86_400 {
            if let Some(n) = levels.get_mut(r.level.as_str()) {
                *n += 1;
            }
            for app in record_apps(r, &app_of, &instances) {
                *alert_counts.entry(app).or_default() += 1.0;
            }
        }
    }

    let errors = errors_by_app(catalog, &monitors, &range.ending_at(t, 60))?;
    let (cpu, mem, disk) = host_use_by_app(catalog, &instances, t)?;

    let app_list: Vec<J> = apps
        .keys()
        .map(|app| {
            json!({
                "name": app,
                "alerting": alerting.contains(*app),
                "monitors": apps[app].len(),
                "errors": format::number(errors.get(*app).copied().unwrap_or(0.0)),
            })
        })
        .collect();
    let tops = json!([
        top_list("Errors, last hour", &errors, ""),
        top_list("Alerts, last day", &alert_counts, ""),
        top_list("CPU use", &cpu, "%"),
        top_list("Memory use", &mem, "%"),
        top_list("Disk use", &disk, "%"),
    ]);

    let per_minute = history_bars(&day, t - 3600, t, 60, &range, "last hour, per minute")?;
    let per_hour = history_bars(&day, t - 86_400, t, 3600, &range, "last day, per hour")?;
    let latest: Vec<J> = day
        .iter()
        .take(5)
        .map(|r| r.to_json(tz, app_of.get(r.monitor.as_str()).copied()))
        .collect();
    let healthy = app_list.iter().filter(|a| a["alerting"] == false).count();
    Page::of(
        "overview.html",
        &json!({
            "title": "Overview",
            "nav": "overview",
            "refresh": 60,
            "window": range_json(&range),
            "path": "/",
            "as_of": format::minute(t, tz),
            "tz": tz.name(),
            "apps": app_list,
            "healthy": healthy,
            "alerting": alerting.len(),
            "tops": tops,
            "levels": levels.iter().map(|(l, n)| json!({"level": l, "count": n})).collect::<Vec<_>>(),
            "per_minute": per_minute,
            "per_hour": per_hour,
            "records": latest,
            "history_link": format!("/alerts?from={}&to={}", t - 86_400, t),
        }),
    )
}

/// The range as the range picker and links need it.
pub fn range_json(range: &Range) -> J {
    json!({
        "span": range.span_min,
        "to": if range.pinned { range.to_local() } else { String::new() },
        "query": range.query(),
        "spans": super::params::SPANS.iter().map(|(m, l)| json!({"minutes": m, "label": l})).collect::<Vec<_>>(),
        "from_label": format::minute(range.from_s, range.tz),
        "to_label": format::minute(range.to_s, range.tz),
        "tz": range.tz.name(),
    })
}

/// Monitors by app, apps in name order (monitors without an app left out).
pub fn apps(monitors: &[MonitorInfo]) -> BTreeMap<&str, Vec<&MonitorInfo>> {
    let mut apps: BTreeMap<&str, Vec<&MonitorInfo>> = BTreeMap::new();
    for m in monitors {
        if let Some(app) = m.app.as_deref() {
            apps.entry(app).or_default().push(m);
        }
    }
    apps
}

/// The apps a record concerns: its monitor's, or (built-in monitors, keyed
/// by instance) those of its instance.
fn record_apps(
    r: &Record,
    app_of: &BTreeMap<&str, &str>,
    instances: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    if let Some(app) = app_of.get(r.monitor.as_str()) {
        return vec![app.to_string()];
    }
    let Some(instance) = r.keys.iter().find(|(k, _)| k == "instance").map(|(_, v)| v) else {
        return Vec::new();
    };
    instances
        .iter()
        .filter(|(_, set)| set.contains(instance))
        .map(|(app, _)| app.clone())
        .collect()
}

/// The instances of each app: agents labelled `app=<app>`, and the
/// instances whose lines reached the app's monitors in `range` (their
/// instance view).
pub fn instances_of(
    catalog: &dyn Catalog,
    monitors: &[MonitorInfo],
    range: &Range,
) -> Result<BTreeMap<String, BTreeSet<String>>, ApiError> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for agent in catalog.agents() {
        let labels = &agent["labels"];
        if let (Some(app), Some(instance)) =
            (labels["extra"]["app"].as_str(), labels["instance"].as_str())
        {
            out.entry(app.to_string())
                .or_default()
                .insert(instance.to_string());
        }
    }
    for (app, list) in apps(monitors) {
        let Some(m) = list.iter().find(|m| m.kind != "archive") else {
            continue;
        };
        let request = RowsRequest {
            from_s: range.from_s,
            to_s: range.to_s,
            view: View::Instance,
            live: false,
        };
        for row in catalog.rows(&m.name, &request).map_err(ApiError::Catalog)? {
            if let Some((_, instance)) = row.keys.first() {
                out.entry(app.to_string())
                    .or_default()
                    .insert(instance.clone());
            }
        }
    }
    Ok(out)
}

/// The value of `m` that counts errors: `fail` of a service monitor,
/// `count` of a match_alert monitor or of an error-log monitor (a
/// minute_stat whose name contains `error`); `None` for the others.
pub fn error_value(m: &MonitorInfo) -> Option<&'static str> {
    match m.kind.as_str() {
        "service_metrics" => Some("fail"),
        "match_alert" => Some("count"),
        "minute_stat" if m.name.contains("error") => Some("count"),
        _ => None,
    }
}

/// The errors among `rows` of monitor `m` (see [`error_value`]).
pub fn errors_in(m: &MonitorInfo, rows: &[MinuteRow]) -> f64 {
    error_value(m).map_or(0.0, |value| {
        rows.iter()
            .filter_map(|r| r.value(value).and_then(|v| v.as_f64()))
            .sum()
    })
}

/// Errors per app in `range`: failed calls of service monitors, matched
/// lines of match_alert monitors, and lines of error-log monitors (a
/// minute_stat whose name contains `error`).
pub fn errors_by_app(
    catalog: &dyn Catalog,
    monitors: &[MonitorInfo],
    range: &Range,
) -> Result<BTreeMap<String, f64>, ApiError> {
    let mut out = BTreeMap::new();
    for m in monitors {
        let Some(app) = &m.app else { continue };
        if error_value(m).is_none() {
            continue;
        }
        let request = RowsRequest {
            from_s: range.from_s,
            to_s: range.to_s,
            view: View::Total,
            live: false,
        };
        let rows = catalog.rows(&m.name, &request).map_err(ApiError::Catalog)?;
        *out.entry(app.clone()).or_default() += errors_in(m, &rows);
    }
    Ok(out)
}

/// Per app, the highest CPU, memory and partition use (percent) of its
/// instances in the newest minute of the `system` monitor within the 10
/// minutes before `t`.
fn host_use_by_app(
    catalog: &dyn Catalog,
    instances: &BTreeMap<String, BTreeSet<String>>,
    t: i64,
) -> Result<HostUse, ApiError> {
    let rows = newest_system_rows(catalog, t)?;
    let use_of = |value: &str| {
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for (app, set) in instances {
            let best = rows
                .iter()
                .filter(|r| r.key("instance").is_some_and(|i| set.contains(i)))
                .filter_map(|r| r.value(value).and_then(|v| v.as_f64()))
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            if let Some(v) = best {
                out.insert(app.clone(), v);
            }
        }
        out
    };
    Ok((
        use_of("cpu_util"),
        use_of("mem_util"),
        use_of("partition_util"),
    ))
}

type HostUse = (
    BTreeMap<String, f64>,
    BTreeMap<String, f64>,
    BTreeMap<String, f64>,
);

/// The newest minute of each series of the `system` monitor in the 10
/// minutes before `t`.
pub fn newest_system_rows(catalog: &dyn Catalog, t: i64) -> Result<Vec<MinuteRow>, ApiError> {
    if !catalog.monitors().iter().any(|m| m.name == "system") {
        return Ok(Vec::new());
    }
    let request = RowsRequest {
        from_s: t - 600,
        to_s: t,
        view: View::Total,
        live: true,
    };
    let rows = catalog
        .rows("system", &request)
        .map_err(ApiError::Catalog)?;
    let mut newest: BTreeMap<Vec<(String, String)>, MinuteRow> = BTreeMap::new();
    for row in rows {
        match newest.get(&row.keys) {
            Some(seen) if seen.minute >= row.minute => {}
            _ => {
                newest.insert(row.keys.clone(), row);
            }
        }
    }
    Ok(newest.into_values().collect())
}

/// A top-5 list: the apps with the largest values, largest first.
fn top_list(title: &str, values: &BTreeMap<String, f64>, unit: &str) -> J {
    let mut list: Vec<(&String, &f64)> = values.iter().filter(|(_, v)| **v > 0.0).collect();
    list.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    let items: Vec<J> = list
        .into_iter()
        .take(TOP)
        .map(|(app, v)| {
            let shown = if unit == "%" {
                format!("{}%", format::fixed(*v, 1, false))
            } else {
                format::number(*v)
            };
            json!({"app": app, "value": shown})
        })
        .collect();
    json!({"title": title, "items": items})
}

/// Bars of the alerts firing in each bucket of `[from_s, to_s)`, each
/// linking to the history of that bucket.
fn history_bars(
    records: &[Record],
    from_s: i64,
    to_s: i64,
    bucket_s: i64,
    range: &Range,
    label: &str,
) -> Result<String, ApiError> {
    let first = from_s.div_euclid(bucket_s) * bucket_s;
    let last = (to_s - 1).div_euclid(bucket_s) * bucket_s + bucket_s;
    let bars: Vec<Bar> = (0..)
        .map(|i| first + i * bucket_s)
        .take_while(|s| *s < last)
        .map(|start| {
            let end = start + bucket_s;
            let value = records.iter().filter(|r| r.overlaps(start, end)).count() as f64;
            Bar {
                start_s: start,
                value,
                href: format!("/alerts?from={start}&to={end}"),
            }
        })
        .collect();
    chart::bars(
        &format!("Alerts firing, {label}"),
        &bars,
        bucket_s,
        Axis {
            from_s: first,
            to_s: last,
            tz: range.tz,
        },
        chart::width(6),
    )
}
