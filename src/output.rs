//! Printing replay results as tables, CSV or JSON lines.

use std::io::Write;

use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use vigil_config::{Config, Kind};
use vigil_model::{rfc3339, Counters, MinuteRow, Value};

use crate::replay::ReplayResult;
use crate::Format;

/// The timezone a monitor's minutes are shown in: its source's, or for an
/// archive its rolled-up monitor's.
pub fn monitor_tz(config: &Config, name: &str) -> chrono_tz::Tz {
    let Some(m) = config.monitor(name) else {
        return chrono_tz::Tz::UTC;
    };
    if let Some(s) = &m.source {
        return s.timezone;
    }
    match &m.kind {
        Kind::Archive(a) => monitor_tz(config, &a.of),
        _ => chrono_tz::Tz::UTC,
    }
}

/// Writes `result` to `out` in `format`.
pub fn write(
    out: &mut impl Write,
    format: Format,
    config: &Config,
    result: &ReplayResult,
) -> Result<()> {
    match format {
        Format::Json => json(out, config, result),
        Format::Csv => csv_blocks(out, config, result),
        Format::Table => tables(out, config, result),
    }
}

fn json(out: &mut impl Write, config: &Config, result: &ReplayResult) -> Result<()> {
    for row in &result.rows {
        let tz = monitor_tz(config, &row.monitor);
        writeln!(out, "{}", row.to_json(tz))?;
    }
    for (name, c) in &result.counters {
        let line = serde_json::json!({ "monitor": name, "counters": c });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Rows of one monitor, and the column headers they need.
struct Block<'a> {
    monitor: &'a str,
    rows: Vec<&'a MinuteRow>,
    headers: Vec<String>,
}

fn blocks<'a>(result: &'a ReplayResult) -> Vec<Block<'a>> {
    let mut blocks: Vec<Block> = Vec::new();
    for row in &result.rows {
        match blocks.last_mut() {
            Some(b) if b.monitor == row.monitor => b.rows.push(row),
            _ => blocks.push(Block {
                monitor: &row.monitor,
                rows: vec![row],
                headers: Vec::new(),
            }),
        }
    }
    for b in &mut blocks {
        let first = b.rows[0];
        let mut h = vec!["minute".to_string()];
        if first.period.is_some() {
            h.push("period".to_string());
        }
        if first.rank.is_some() {
            h.push("rank".to_string());
        }
        h.extend(first.keys.iter().map(|(k, _)| k.clone()));
        h.extend(first.values.iter().map(|(k, _)| k.clone()));
        if b.rows.iter().any(|r| r.line.is_some()) {
            h.push("line".to_string());
        }
        if b.rows.iter().any(|r| !r.lines.is_empty()) {
            h.push("lines".to_string());
        }
        b.headers = h;
    }
    blocks
}

fn cells(row: &MinuteRow, tz: chrono_tz::Tz, headers: &[String]) -> Vec<String> {
    let mut c = vec![rfc3339(row.minute, tz)];
    if let Some(p) = &row.period {
        c.push(p.clone());
    }
    if let Some(r) = row.rank {
        c.push(r.to_string());
    }
    c.extend(row.keys.iter().map(|(_, v)| v.clone()));
    c.extend(row.values.iter().map(|(_, v)| value_text(*v)));
    if headers.iter().any(|h| h == "line") {
        c.push(row.line.clone().unwrap_or_default());
    }
    if headers.iter().any(|h| h == "lines") {
        c.push(row.lines.join("\n"));
    }
    c
}

fn value_text(v: Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Missing => String::new(),
    }
}

fn csv_blocks(out: &mut impl Write, config: &Config, result: &ReplayResult) -> Result<()> {
    for (i, b) in blocks(result).iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let tz = monitor_tz(config, b.monitor);
        let mut w = csv::Writer::from_writer(&mut *out);
        let mut header = vec!["monitor".to_string()];
        header.extend(b.headers.iter().cloned());
        w.write_record(&header)?;
        for row in &b.rows {
            let mut rec = vec![row.monitor.clone()];
            rec.extend(cells(row, tz, &b.headers));
            w.write_record(&rec)?;
        }
        w.flush()?;
    }
    writeln!(out)?;
    let mut w = csv::Writer::from_writer(&mut *out);
    w.write_record(COUNTER_HEADERS)?;
    for (name, c) in &result.counters {
        w.write_record(counter_cells(name, c))?;
    }
    w.flush()?;
    Ok(())
}

/// Columns of the counters block of CSV and table output.
const COUNTER_HEADERS: [&str; 7] = [
    "monitor",
    "lines",
    "parsed",
    "parse_errors",
    "filtered",
    "key_dropped",
    "late",
];

/// One monitor's counters, in the order of [`COUNTER_HEADERS`].
fn counter_cells(name: &str, c: &Counters) -> Vec<String> {
    let mut cells = vec![name.to_string()];
    cells.extend(
        [
            c.lines,
            c.parsed,
            c.parse_errors,
            c.filtered,
            c.key_dropped,
            c.late,
        ]
        .iter()
        .map(u64::to_string),
    );
    cells
}

fn tables(out: &mut impl Write, config: &Config, result: &ReplayResult) -> Result<()> {
    for b in blocks(result) {
        let tz = monitor_tz(config, b.monitor);
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_header(&b.headers);
        for row in &b.rows {
            t.add_row(cells(row, tz, &b.headers));
        }
        writeln!(out, "{}\n{t}\n", b.monitor)?;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(COUNTER_HEADERS);
    for (name, c) in &result.counters {
        t.add_row(counter_cells(name, c));
    }
    writeln!(out, "counters\n{t}")?;
    Ok(())
}
