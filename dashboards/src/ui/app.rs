//! An app's page (`/apps/{app}`): trend charts and tables of its monitors
//! in the total, IDC, LDC or instance view, and the system, JVM and port
//! metrics of its instances, over a range picked by `span` and `to`.

use std::collections::BTreeSet;

use serde_json::{json, Value as J};
use vigil_model::{MinuteRow, View};

use super::chart;
use super::format;
use super::monitors::{axis, legend, lines_of, rows};
use super::overview::{errors_in, instances_of, range_json};
use super::params::{Params, Range, DEFAULT_SPAN_MIN};
use super::series::{self, Line};
use super::Page;
use crate::api::{ApiError, Catalog, MonitorInfo};

/// Most keys or labels in a monitor's table.
const TABLE_GROUPS: usize = 20;

/// Host values in an app's instance table: (value, column title).
const SYSTEM_VALUES: [(&str, &str); 7] = [
    ("cpu_util", "CPU %"),
    ("mem_util", "memory %"),
    ("load_load1", "load 1m"),
    ("tcp_CurrEstab", "TCP established"),
    ("tcp_retran", "TCP retrans %"),
    ("traffic_bytin", "in B/s"),
    ("traffic_bytout", "out B/s"),
];

/// JVM values in an app's JVM table.
const JVM_VALUES: [(&str, &str); 6] = [
    ("thread_live", "threads"),
    ("ygc_count", "young GCs"),
    ("fgc_count", "full GCs"),
    ("old_used", "old used"),
    ("eden_used", "eden used"),
    ("meta_util", "metaspace %"),
];

/// Port probe values.
const PORT_VALUES: [(&str, &str); 3] = [
    ("up", "up"),
    ("connect_ms", "connect ms"),
    ("process_count", "processes"),
];

/// Renders the page of `app`.
pub fn render(catalog: &dyn Catalog, app: &str, params: &Params) -> Result<Page, ApiError> {
    let all = catalog.monitors();
    let monitors: Vec<&MonitorInfo> = all
        .iter()
        .filter(|m| m.app.as_deref() == Some(app) && m.kind != "archive")
        .collect();
    if monitors.is_empty() {
        return Err(ApiError::NotFound(format!(
            "app `{app}`: no monitor has `app: {app}`"
        )));
    }
    let tz = monitors[0].timezone;
    let range = params.range(tz, DEFAULT_SPAN_MIN)?;
    let view = params.view()?;
    // Reading a monitor's minutes is CPU work (Parquet decoding): the
    // cards are built on every core, in the monitors' order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = monitors.len().div_ceil(threads);
    let built: Vec<Result<(J, f64), ApiError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = monitors
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|m| card(catalog, m, &range, view))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![Err(ApiError::Catalog("a chart's thread panicked".into()))]
                })
            })
            .collect()
    });
    let mut cards = Vec::with_capacity(monitors.len());
    let mut errors = 0.0;
    for result in built {
        let (c, errors_of_m) = result?;
        cards.push(c);
        errors += errors_of_m;
    }
    // Only this app's monitors: the others cannot add to its instances.
    let own: Vec<MonitorInfo> = monitors.iter().map(|m| (*m).clone()).collect();
    let instances: BTreeSet<String> = instances_of(catalog, &own, &range)?
        .remove(app)
        .unwrap_or_default();
    let hosts = hosts(catalog, &instances, &range)?;
    let views: Vec<J> = ["total", "idc", "ldc", "instance"]
        .into_iter()
        .map(|v| {
            let href = format!("/apps/{}?{}&view={v}", format::url(app), range.query());
            json!({"name": v, "href": href, "current": v == view.name()})
        })
        .collect();
    Page::of(
        "app.html",
        &json!({
            "title": format!("App {app}"),
            "nav": "overview",
            "path": format!("/apps/{}", format::url(app)),
            "app": app,
            "window": range_json(&range),
            "view": view.name(),
            "views": views,
            "errors": format::number(errors),
            "history_link": format!("/alerts?from={}&to={}", range.from_s, range.to_s),
            "cards": cards,
            "instances": instances,
            "hosts": hosts,
        }),
    )
}

/// The values charted for a monitor: a service's total and fail, else its
/// first value.
fn chart_values(m: &MonitorInfo) -> Vec<String> {
    if m.kind == "service_metrics" {
        vec!["total".into(), "fail".into()]
    } else {
        m.values.iter().take(1).cloned().collect()
    }
}

/// One monitor's chart and table, and its errors in the range (every row
/// of a labelled view belongs to one label, so they add up to the total).
fn card(
    catalog: &dyn Catalog,
    m: &MonitorInfo,
    range: &Range,
    view: View,
) -> Result<(J, f64), ApiError> {
    let rows = rows(catalog, &m.name, range.from_s, range.to_s, view, &[])?;
    let values = chart_values(m);
    let step = series::step_for(range.to_s - range.from_s);
    // Total view: each charted value summed over keys where that is exact,
    // else per key; other views: the first value per label.
    let lines: Vec<Line> = match view {
        View::Total => {
            let summed: Option<Vec<Line>> = values
                .iter()
                .map(|v| {
                    let mut l = series::fold_step(&rows, v, &m.values, |_| String::new(), step)?;
                    let mut line = l.pop().unwrap_or(Line {
                        name: v.clone(),
                        points: Vec::new(),
                    });
                    line.name = v.clone();
                    Some(line)
                })
                .collect();
            match summed {
                Some(lines) => lines,
                None => lines_of(&rows, &values[0], m, view, step),
            }
        }
        _ => match values.first() {
            Some(v) => lines_of(&rows, v, m, view, step),
            None => Vec::new(),
        },
    };
    let svg = chart::lines(
        &format!("{} trend", m.name),
        &lines,
        &[],
        axis(range),
        chart::width(6),
    )?;
    // Table: per key (total view) or per label, every value over the range.
    let group = |r: &MinuteRow| match view {
        View::Total => series::key_label(r),
        _ => r.keys.first().map(|(_, v)| v.clone()).unwrap_or_default(),
    };
    let mut table = series::summaries(&rows, &m.values, &m.values, group);
    table.sort_by(|a, b| {
        let first = |r: &(String, Vec<Option<f64>>)| r.1.first().copied().flatten().unwrap_or(0.0);
        first(b).total_cmp(&first(a)).then(a.0.cmp(&b.0))
    });
    let more = table.len().saturating_sub(TABLE_GROUPS);
    table.truncate(TABLE_GROUPS);
    Ok((
        json!({
            "name": m.name,
            "kind": m.kind,
            "step": super::monitors::step_label(step),
            "href": format!("/monitors/{}?{}&view={}", format::url(&m.name), range.query(), view.name()),
            "chart": svg,
            "legend": legend(&lines, &[]),
            "group": if view == View::Total { m.keys.join(" / ") } else { view.name().to_string() },
            "values": m.values,
            "rows": table.iter().map(|(name, vs)| json!({
                "name": name,
                "values": vs.iter().map(|v| v.map_or_else(|| "–".to_string(), format::number)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "more": more,
            "empty": rows.is_empty(),
        }),
        errors_in(m, &rows),
    ))
}

/// System, JVM and port metrics of `instances`: charts of CPU and memory
/// per instance over the range and tables of the newest minute.
fn hosts(
    catalog: &dyn Catalog,
    instances: &BTreeSet<String>,
    range: &Range,
) -> Result<J, ApiError> {
    let known: Vec<String> = catalog.monitors().into_iter().map(|m| m.name).collect();
    let read = |monitor: &str| -> Result<Vec<MinuteRow>, ApiError> {
        if instances.is_empty() || !known.iter().any(|k| k == monitor) {
            return Ok(Vec::new());
        }
        let mut rows = rows(catalog, monitor, range.from_s, range.to_s, View::Total, &[])?;
        rows.retain(|r| r.key("instance").is_some_and(|i| instances.contains(i)));
        Ok(rows)
    };
    let system = read("system")?;
    // Host-wide series are keyed by the instance alone.
    let host_rows: Vec<MinuteRow> = system
        .iter()
        .filter(|r| r.keys.len() == 1)
        .cloned()
        .collect();
    let per_instance = |value: &str| -> Vec<Line> {
        let names = vec![value.to_string()];
        series::fold(&host_rows, value, &names, |r| {
            r.key("instance").unwrap_or_default().to_string()
        })
        .unwrap_or_default()
    };
    let mut charts = Vec::new();
    for (value, title) in [("cpu_util", "CPU use %"), ("mem_util", "Memory use %")] {
        let lines = per_instance(value);
        if lines.iter().any(|l| !l.points.is_empty()) {
            charts.push(json!({
                "title": title,
                "chart": chart::lines(title, &lines, &[], axis(range), chart::width(6))?,
                "legend": legend(&lines, &[]),
            }));
        }
    }
    let mut partitions = newest(&system);
    partitions.retain(|r| r.key("partition").is_some());
    Ok(json!({
        "charts": charts,
        "system": newest_table(&newest(&host_rows), &SYSTEM_VALUES, range),
        "partitions": newest_table(&partitions, &[("partition_util", "used %"), ("partition_iutil", "inodes used %")], range),
        "jvm": newest_table(&newest(&read("jvm")?), &JVM_VALUES, range),
        "port": newest_table(&newest(&read("port")?), &PORT_VALUES, range),
    }))
}

/// The newest row of each series (key).
fn newest(rows: &[MinuteRow]) -> Vec<MinuteRow> {
    let mut out: Vec<MinuteRow> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|o| o.keys == r.keys) {
            Some(o) if o.minute < r.minute => *o = r.clone(),
            Some(_) => {}
            None => out.push(r.clone()),
        }
    }
    out.sort_by(|a, b| a.keys.cmp(&b.keys));
    out
}

/// A table of `rows` (one per series): its keys, minute and `values`.
fn newest_table(rows: &[MinuteRow], values: &[(&str, &str)], range: &Range) -> J {
    json!({
        "columns": values.iter().map(|(_, title)| title).collect::<Vec<_>>(),
        "rows": rows.iter().map(|r| json!({
            "series": series::key_label(r),
            "minute": format::minute(r.minute, range.tz),
            "values": values.iter().map(|(v, _)| r.value(v).map_or_else(|| "–".to_string(), format::value)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
