//! How numbers, times and text are written on pages.

use chrono::TimeZone;
use chrono_tz::Tz;
use vigil_model::Value;

use crate::api::MonitorInfo;

pub use vigil_model::html::escape;

/// Escapes a query-string component.
pub fn url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An epoch-seconds instant in `tz` with a strftime `pattern`.
pub fn local(epoch_s: i64, tz: Tz, pattern: &str) -> String {
    match tz.timestamp_opt(epoch_s, 0) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.format(pattern).to_string()
        }
        chrono::LocalResult::None => epoch_s.to_string(),
    }
}

/// A second as `HH:MM:SS` in `tz`.
pub fn second(epoch_s: i64, tz: Tz) -> String {
    local(epoch_s, tz, "%H:%M:%S")
}

/// A minute as `YYYY-MM-DD HH:MM` in `tz`.
pub fn minute(epoch_s: i64, tz: Tz) -> String {
    local(epoch_s, tz, "%Y-%m-%d %H:%M")
}

/// A number as people read it: integers as they are, other numbers with
/// up to 4 decimals below 1, 3 below 100 and 1 above, trailing zeros cut.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let decimals = if v.abs() < 1.0 {
        4
    } else if v.abs() < 100.0 {
        3
    } else {
        1
    };
    trim(format!("{v:.decimals$}"))
}

/// A number with a fixed count of decimals, or as a percentage of 1
/// (`0.9333` → `93.33%`).
pub fn fixed(v: f64, decimals: usize, percent: bool) -> String {
    if percent {
        format!("{:.decimals$}%", v * 100.0)
    } else {
        format!("{v:.decimals$}")
    }
}

/// A stored value: integers exactly, floats by [`number`], missing as `–`.
pub fn value(v: Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => number(f),
        Value::Missing => "–".to_string(),
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The timezone pages are shown in: the one most monitors' sources use
/// (UTC when none has a source).
pub fn display_tz(monitors: &[MonitorInfo]) -> Tz {
    let mut counts: Vec<(Tz, usize)> = Vec::new();
    for m in monitors.iter().filter(|m| m.kind != "metrics") {
        match counts.iter_mut().find(|(tz, _)| *tz == m.timezone) {
            Some((_, n)) => *n += 1,
            None => counts.push((m.timezone, 1)),
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map_or(Tz::UTC, |(tz, _)| tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number(105.0), "105");
        assert_eq!(number(0.933_333_3), "0.9333");
        assert_eq!(number(51.333_333), "51.333");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(1234.56), "1234.6");
        assert_eq!(value(Value::Missing), "–");
        assert_eq!(fixed(0.933_33, 2, true), "93.33%");
        assert_eq!(fixed(2.0, 1, false), "2.0");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(url("衣 服&x"), "%E8%A1%A3%20%E6%9C%8D%26x");
        assert_eq!(
            minute(1_795_140_000, chrono_tz::Asia::Shanghai),
            "2026-11-20 10:00"
        );
    }
}
