//! Time formats: each named format and strftime patterns give the minute
//! the line belongs to, in the source's timezone; bad times are parse errors.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::{civil_from_days, days_from_civil, replay_one, Counters};

const HOUR: i64 = 3600;

/// Replays `lines` (each followed by `|x`) through a monitor counting lines
/// per minute, with times in `format` and timezone `tz`.
fn minutes(format: &str, tz: &str, lines: &[&str]) -> (Vec<(String, i64)>, Counters) {
    let yaml = format!(
        "monitors:
  - name: m
    kind: minute_stat
    source: {{ paths: [app.log], timezone: {tz} }}
    time: {{ column: time, format: \"{format}\" }}
    columns:
      time: {{ split: \"|\", index: 0 }}
    stats: [count]
"
    );
    let log: String = lines.iter().map(|l| format!("{l}|x\n")).collect();
    let out = replay_one(&yaml, log);
    let rows = out
        .rows_of("m")
        .iter()
        .map(|r| (r.minute.clone(), r.int("count")))
        .collect();
    (rows, out.counters("m"))
}

/// Asserts that every line parses and they fall in `want` minutes.
fn assert_minutes(format: &str, tz: &str, lines: &[&str], want: &[(&str, i64)]) {
    let (rows, c) = minutes(format, tz, lines);
    let want: Vec<(String, i64)> = want.iter().map(|(m, n)| (m.to_string(), *n)).collect();
    assert_eq!(rows, want, "format {format} in {tz}");
    assert_eq!(c.parse_errors, 0, "format {format} in {tz}");
    assert_eq!(c.lines, lines.len() as u64);
}

/// Epoch seconds of a local time at a fixed offset.
fn epoch(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64, offset_h: i64) -> i64 {
    days_from_civil(y, mo, d) * 86_400 + h * HOUR + mi * 60 + s - offset_h * HOUR
}

const M1000: &str = "2026-11-20T10:00:00+08:00";
const M1001: &str = "2026-11-20T10:01:00+08:00";

#[test]
fn normal_with_and_without_milliseconds() {
    assert_minutes(
        "normal",
        "Asia/Shanghai",
        &[
            "2026-11-20 10:00:14",
            "2026-11-20 10:00:59.999",
            "2026-11-20 10:01:00,000",
            "2026-11-20 10:01:30.123",
            "2026-11-20 10:01:59,999",
        ],
        &[(M1000, 2), (M1001, 3)],
    );
}

#[test]
fn apache_with_colon_or_space() {
    assert_minutes(
        "apache",
        "Asia/Shanghai",
        &[
            "20/Nov/2026:10:00:14",
            "20/Nov/2026 10:00:59",
            "20/Nov/2026:10:01:00",
        ],
        &[(M1000, 2), (M1001, 1)],
    );
}

#[test]
fn long_is_epoch_milliseconds() {
    let t = epoch(2026, 11, 20, 10, 0, 14, 8) * 1000;
    let lines = [
        t.to_string(),
        (t + 45_999).to_string(),
        (t + 46_000).to_string(),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_minutes("long", "Asia/Shanghai", &lines, &[(M1000, 2), (M1001, 1)]);
    // The same instants shown in another timezone.
    assert_minutes(
        "long",
        "UTC",
        &lines,
        &[
            ("2026-11-20T02:00:00+00:00", 2),
            ("2026-11-20T02:01:00+00:00", 1),
        ],
    );
}

#[test]
fn short_long_is_epoch_seconds() {
    let t = epoch(2026, 11, 20, 10, 0, 14, 8);
    let lines = [t.to_string(), (t + 45).to_string(), (t + 46).to_string()];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_minutes(
        "short_long",
        "Asia/Shanghai",
        &lines,
        &[(M1000, 2), (M1001, 1)],
    );
    assert_minutes(
        "short_long",
        "Europe/Berlin",
        &lines,
        &[
            ("2026-11-20T03:00:00+01:00", 2),
            ("2026-11-20T03:01:00+01:00", 1),
        ],
    );
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[test]
fn monthfirst_takes_the_year_from_now() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let today = (now + 8 * HOUR).div_euclid(86_400);
    let (year, _, _) = civil_from_days(today);
    // January 1st is never in the future: this year.
    assert_minutes(
        "monthfirst",
        "Asia/Shanghai",
        &["Jan 01 00:00:30"],
        &[(&format!("{year}-01-01T00:00:00+08:00"), 1)],
    );
    // 45 days from now: last year's, unless it falls in this year (after
    // new year's day, where this year's date is in the past).
    let mut later = civil_from_days(today + 45);
    if (later.1, later.2) == (2, 29) {
        later = civil_from_days(today + 46);
    }
    let (_, m, d) = later;
    let this_year = epoch(year, m, d, 12, 0, 0, 8);
    let want_year = if this_year > now + 86_400 {
        year - 1
    } else {
        year
    };
    let line = format!("{} {d:02} 12:00:00", MONTHS[m as usize - 1]);
    assert_minutes(
        "monthfirst",
        "Asia/Shanghai",
        &[&line],
        &[(&format!("{want_year}-{m:02}-{d:02}T12:00:00+08:00"), 1)],
    );
}

#[test]
fn revert_is_month_day_year() {
    assert_minutes(
        "revert",
        "Asia/Shanghai",
        &["11-20-2026 10:00:14", "11-20-2026 10:01:14"],
        &[(M1000, 1), (M1001, 1)],
    );
}

#[test]
fn monthfirst2_has_the_year_after_the_day() {
    assert_minutes(
        "monthfirst2",
        "Asia/Shanghai",
        &["Nov 20 2026 10:00:14", "Nov 20 2026 10:01:00"],
        &[(M1000, 1), (M1001, 1)],
    );
}

#[test]
fn strftime_patterns() {
    assert_minutes(
        "%d.%m.%Y %H:%M:%S",
        "Asia/Shanghai",
        &["20.11.2026 10:00:14", "20.11.2026 10:01:59"],
        &[(M1000, 1), (M1001, 1)],
    );
    assert_minutes(
        "%Y-%m-%d%H:%M:%S",
        "Asia/Shanghai",
        &["2026-11-2010:00:14"],
        &[(M1000, 1)],
    );
}

#[test]
fn europe_berlin_winter_and_summer() {
    assert_minutes(
        "normal",
        "Europe/Berlin",
        &["2026-01-15 10:00:14", "2026-07-15 10:00:14"],
        &[
            ("2026-01-15T10:00:00+01:00", 1),
            ("2026-07-15T10:00:00+02:00", 1),
        ],
    );
    // Epoch times are instants: 09:00:14 UTC is 10:00 in Berlin in winter.
    let t = epoch(2026, 1, 15, 9, 0, 14, 0) * 1000;
    assert_minutes(
        "long",
        "Europe/Berlin",
        &[&t.to_string()],
        &[("2026-01-15T10:00:00+01:00", 1)],
    );
}

#[test]
fn daylight_saving_gaps_and_repeats() {
    // 2026-03-29 02:30 does not exist in Berlin; 2026-10-25 02:30 happens
    // twice (the earlier, summer-time one is taken).
    let (rows, c) = minutes(
        "normal",
        "Europe/Berlin",
        &[
            "2026-03-29 01:59:00",
            "2026-03-29 02:30:00",
            "2026-03-29 03:00:00",
            "2026-10-25 02:30:00",
        ],
    );
    assert_eq!(
        rows,
        vec![
            ("2026-03-29T01:59:00+01:00".to_string(), 1),
            ("2026-03-29T03:00:00+02:00".to_string(), 1),
            ("2026-10-25T02:30:00+02:00".to_string(), 1),
        ]
    );
    assert_eq!((c.lines, c.parse_errors), (4, 1));
}

/// `bad` lines are parse errors; the `good` line after them still counts.
fn assert_bad(format: &str, bad: &[&str], good: &str, minute: &str) {
    let mut lines = bad.to_vec();
    lines.push(good);
    let (rows, c) = minutes(format, "Asia/Shanghai", &lines);
    assert_eq!(rows, vec![(minute.to_string(), 1)], "format {format}");
    assert_eq!(
        (c.lines, c.parsed, c.parse_errors),
        (lines.len() as u64, 1, bad.len() as u64),
        "format {format}"
    );
}

#[test]
fn bad_times_are_parse_errors() {
    assert_bad(
        "normal",
        &[
            "2026-11-20T10:00:14",
            "2026-11-20 10:00",
            "2026-02-30 10:00:00",
            "2026-13-20 10:00:00",
            "2026-11-20 24:00:00",
            "2026-11-20 10:60:00",
            "2026-11-20 10:00:60",
            "2026-11-20 10:00:14.12",
            "2026-11-20 10:00:14.1234",
            "2026-11-20 10:00:14.",
            " 2026-11-20 10:00:14",
            "2026-11-20 10:00:14 ",
            "2026/11/20 10:00:14",
            "20/Nov/2026:10:00:14",
            "",
        ],
        "2026-11-20 10:00:14",
        M1000,
    );
    assert_bad(
        "apache",
        &[
            "20/nov/2026:10:00:14",
            "20/Nov/2026T10:00:14",
            "31/Nov/2026:10:00:14",
            "20/Nov/26:10:00:14",
            "20/Nov/2026:10:00:14 +0800",
            "2026-11-20 10:00:14",
        ],
        "20/Nov/2026:10:00:14",
        M1000,
    );
    let ms = epoch(2026, 11, 20, 10, 0, 14, 8) * 1000;
    let good_ms = ms.to_string();
    assert_bad(
        "long",
        &[
            "",
            &format!("-{ms}"),
            &format!("{ms}.0"),
            &format!("{ms} "),
            "1.7e12",
            "abc",
        ],
        &good_ms,
        M1000,
    );
    let s = ms / 1000;
    assert_bad(
        "short_long",
        &["", &format!("{s}x"), &format!(" {s}"), &format!("+{s}")],
        &s.to_string(),
        M1000,
    );
    assert_bad(
        "revert",
        &[
            "20-11-2026 10:00:14",
            "11/20/2026 10:00:14",
            "11-20-26 10:00:14",
            "2026-11-20 10:00:14",
        ],
        "11-20-2026 10:00:14",
        M1000,
    );
    assert_bad(
        "monthfirst2",
        &[
            "Nov 20 26 10:00:14",
            "Nov 31 2026 10:00:14",
            "November 20 2026 10:00:14",
            "20 Nov 2026 10:00:14",
            "Nov 20 10:00:14",
        ],
        "Nov 20 2026 10:00:14",
        M1000,
    );
    assert_bad(
        "%d.%m.%Y %H:%M:%S",
        &[
            "2026-11-20 10:00:14",
            "32.11.2026 10:00:14",
            "20.11.2026",
            "20.11.2026 10:00:14 later",
        ],
        "20.11.2026 10:00:14",
        M1000,
    );
}

#[test]
fn bad_monthfirst_times_are_parse_errors() {
    let (rows, c) = minutes(
        "monthfirst",
        "Asia/Shanghai",
        &[
            "Nov 31 10:00:00",
            "nov 20 10:00:00",
            "Nov 20 2026 10:00:00",
            "Nov 20 10:00",
            "Nov 20 25:00:00",
            "Jan 01 00:00:30",
        ],
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].0.ends_with("-01-01T00:00:00+08:00"), "{rows:?}");
    assert_eq!((c.lines, c.parse_errors), (6, 5));
}

#[test]
fn half_hour_offsets() {
    assert_minutes(
        "normal",
        "Asia/Kolkata",
        &["2026-11-20 10:00:14", "2026-11-20 10:00:59"],
        &[("2026-11-20T10:00:00+05:30", 2)],
    );
    assert_minutes(
        "normal",
        "Asia/Kathmandu",
        &["2026-11-20 10:00:00", "2026-11-20 10:01:00"],
        &[
            ("2026-11-20T10:00:00+05:45", 1),
            ("2026-11-20T10:01:00+05:45", 1),
        ],
    );
}

#[test]
#[ignore = "known limitation: minutes are cut on the UTC minute grid, so a zone whose offset has seconds (Africa/Monrovia, UTC-0:44:30 until 1972) gets shifted minutes; engine/src/bucket.rs bucket_start"]
fn minutes_are_local_minutes_whatever_the_offset() {
    let (rows, c) = minutes(
        "normal",
        "Africa/Monrovia",
        &["1971-06-01 10:00:14", "1971-06-01 10:00:50"],
    );
    assert_eq!(c.parse_errors, 0);
    // Both lines are in the local minute 10:00.
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1, 2, "{rows:?}");
    assert!(rows[0].0.starts_with("1971-06-01T10:00:00"), "{rows:?}");
}

#[test]
fn epoch_times_out_of_range_are_parse_errors() {
    let ms = epoch(2026, 11, 20, 10, 0, 14, 8) * 1000;
    let (rows, c) = minutes(
        "long",
        "Asia/Shanghai",
        &[
            &ms.to_string(),
            "9223372036854775807",
            &(ms + 1000).to_string(),
        ],
    );
    assert_eq!(rows, vec![(M1000.to_string(), 2)], "{c:?}");
    assert_eq!((c.parse_errors, c.late), (1, 0));
    let s = ms / 1000;
    let (rows, c) = minutes(
        "short_long",
        "Asia/Shanghai",
        &[&s.to_string(), "99999999999999", &(s + 1).to_string()],
    );
    assert_eq!(rows, vec![(M1000.to_string(), 2)], "{c:?}");
    assert_eq!((c.parse_errors, c.late), (1, 0));
}
