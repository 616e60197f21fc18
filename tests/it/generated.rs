//! A large generated log (with malformed lines) replayed by vigil and by a
//! plain second implementation written here: every row and every counter
//! must agree.

use std::collections::HashMap;
use std::process::Command;

use crate::support::{minute_text, repo, Counters, Replay, Row, Sandbox, Val};

const CONFIG: &str = "monitors:
  - name: rpc_service
    kind: service_metrics
    source: { paths: [rpc.log], timezone: Asia/Shanghai, encoding: utf-8 }
    time: { column: time, format: normal }
    columns:
      time:     { split: \",\", index: 0 }
      from_app: { split: \",\", index: 1 }
      to_app:   { split: \",\", index: 2 }
      service:  { split: \",\", index: 3 }
      method:   { split: \",\", index: 4 }
      count:    { split: \",\", index: 5, type: int }
      elapsed:  { split: \",\", index: 6, type: float }
      result:   { split: \",\", index: 7 }
      stress:   { split: \",\", index: 8 }
      zone:     { split: \",\", index: 9 }
    include: { result: \"Y,N\" }
    exclude: { stress: T }
    group_by: [service, method]
    service: { result: result, success: Y, count: count, elapsed: elapsed }

  - name: service_stat
    kind: minute_stat
    source: { paths: [rpc.log], timezone: Asia/Shanghai, encoding: utf-8 }
    time: { column: time, format: normal }
    columns:
      time:    { split: \",\", index: 0 }
      service: { split: \",\", index: 3 }
      elapsed: { split: \",\", index: 6, type: int }
      zone:    { split: \",\", index: 9 }
    group_by: [service]
    stats: [count, { sum: elapsed }, { avg: elapsed }, { max: elapsed }]
";

/// Shanghai is UTC+8 all year (no daylight saving since 1991).
const OFFSET_S: i64 = 8 * 3600;
const MAX_LINE_BYTES: usize = 64 * 1024;
const LATENESS_MS: i64 = 120_000;

/// Runs the generator into `sb/rpc.log`.
fn generate(sb: &Sandbox) -> Vec<u8> {
    let out = sb.path("rpc.log");
    let script = repo().join("benches/scripts/gen_rpc_log.py");
    let status = Command::new("python3")
        .arg(&script)
        .args(["--lines", "200000", "--minutes", "20", "--keys", "50"])
        .args(["--dirty", "--seed", "7", "--out"])
        .arg(&out)
        .status()
        .expect("python3 is needed to run benches/scripts/gen_rpc_log.py");
    assert!(status.success(), "{} failed", script.display());
    std::fs::read(&out).unwrap()
}

// ---------------------------------------------------------------------------
// The second implementation.

/// Epoch milliseconds of a `normal` time (`yyyy-MM-dd HH:mm:ss` with an
/// optional `.SSS` or `,SSS`) in Shanghai, or `None`.
fn parse_normal(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let milli = match b.len() {
        19 => 0,
        23 if b[19] == b'.' || b[19] == b',' => digits(&b[20..23])?,
        _ => return None,
    };
    let sep = |i: usize, c: u8| b[i] == c;
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b' ') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let (h, mi, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[month as usize - 1] {
        return None;
    }
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = crate::support::days_from_civil(year, month as u32, day as u32);
    Some(((days * 86_400 + h * 3600 + mi * 60 + s) - OFFSET_S) * 1000 + milli)
}

/// The value of a run of ASCII digits.
fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// An int: optional sign, then one or more ASCII digits, within i64.
fn parse_int(t: &str) -> Option<i64> {
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// A float: `[sign] (digits [. [digits]] | . digits) [e [sign] digits]`, finite.
fn parse_float(t: &str) -> Option<f64> {
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if e.is_empty() || !all_digits(e) {
            return None;
        }
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Buckets and the lateness rule of one monitor.
struct Minutes<S> {
    newest: Option<i64>,
    /// (minute start in ms, key) → state.
    states: HashMap<(i64, Vec<String>), S>,
    counters: Counters,
}

impl<S: Default> Minutes<S> {
    fn new() -> Self {
        Minutes {
            newest: None,
            states: HashMap::new(),
            counters: Counters::default(),
        }
    }

    /// A line that passed the filters: its state, or `None` when it is late
    /// (its minute ended at least the lateness before the newest time seen).
    fn accept(&mut self, time: i64, key: Vec<String>) -> Option<&mut S> {
        let start = time.div_euclid(60_000) * 60_000;
        let late = self
            .newest
            .is_some_and(|n| n >= start + 60_000 + LATENESS_MS);
        self.newest = Some(self.newest.map_or(time, |n| n.max(time)));
        if late {
            self.counters.late += 1;
            return None;
        }
        Some(self.states.entry((start, key)).or_default())
    }

    /// Rows sorted by minute and key, with `values` of each state.
    fn rows(
        &self,
        monitor: &str,
        names: &[&str],
        values: impl Fn(&S) -> Vec<(String, Val)>,
    ) -> Vec<Row> {
        let mut entries: Vec<_> = self.states.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries
            .into_iter()
            .map(|((start, key), s)| Row {
                monitor: monitor.to_string(),
                minute: minute_text(start / 1000, OFFSET_S),
                keys: names
                    .iter()
                    .map(|n| n.to_string())
                    .zip(key.iter().cloned())
                    .collect(),
                values: values(s),
                rank: None,
                line: None,
                lines: Vec::new(),
                period: None,
            })
            .collect()
    }
}

#[derive(Default)]
struct Service {
    total: i128,
    success: i128,
    elapsed: f64,
}

#[derive(Default)]
struct Stat {
    count: i64,
    sum: i128,
    max: Option<i64>,
}

fn int_val(i: i128) -> Val {
    match i64::try_from(i) {
        Ok(v) => Val::Int(v),
        Err(_) => Val::Float(i as f64),
    }
}

/// Both monitors computed from the bytes of the log.
fn expected(log: &[u8]) -> Replay {
    let mut service: Minutes<Service> = Minutes::new();
    let mut stat: Minutes<Stat> = Minutes::new();
    let body = log.strip_suffix(b"\n").unwrap_or(log);
    for raw in body.split(|b| *b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        service.counters.lines += 1;
        stat.counters.lines += 1;
        // Too long, not UTF-8, or fewer than ten fields: an error for both
        // monitors (both have a column at index 9). An eleventh field is
        // ignored: a `split` column takes field i whatever follows it.
        let fields: Option<Vec<&str>> = (raw.len() <= MAX_LINE_BYTES)
            .then(|| std::str::from_utf8(raw).ok())
            .flatten()
            .map(|text| text.split(',').collect())
            .filter(|f: &Vec<&str>| f.len() >= 10);
        let Some(f) = fields else {
            service.counters.parse_errors += 1;
            stat.counters.parse_errors += 1;
            continue;
        };
        // Times without milliseconds are valid `normal` times; negative
        // counts are valid ints; an empty service is a valid (empty) key.
        let time = parse_normal(f[0]);

        // rpc_service: all ten columns; count int, elapsed float.
        match (time, parse_int(f[5]), parse_float(f[6])) {
            (Some(t), Some(count), Some(elapsed)) => {
                service.counters.parsed += 1;
                if !(f[7] == "Y" || f[7] == "N") || f[8] == "T" {
                    service.counters.filtered += 1;
                } else if let Some(s) = service.accept(t, vec![f[3].into(), f[4].into()]) {
                    s.total += i128::from(count);
                    if f[7] == "Y" {
                        s.success += i128::from(count);
                    }
                    s.elapsed += elapsed;
                }
            }
            _ => service.counters.parse_errors += 1,
        }

        // service_stat: elapsed int.
        match (time, parse_int(f[6])) {
            (Some(t), Some(elapsed)) => {
                stat.counters.parsed += 1;
                if let Some(s) = stat.accept(t, vec![f[3].into()]) {
                    s.count += 1;
                    s.sum += i128::from(elapsed);
                    s.max = Some(s.max.map_or(elapsed, |m| m.max(elapsed)));
                }
            }
            _ => stat.counters.parse_errors += 1,
        }
    }
    let rate = |num: f64, total: i128| {
        if total == 0 {
            Val::Null
        } else {
            Val::Float(num / total as f64)
        }
    };
    let mut rows = service.rows("rpc_service", &["service", "method"], |s| {
        vec![
            ("total".into(), int_val(s.total)),
            ("success".into(), int_val(s.success)),
            ("fail".into(), int_val(s.total - s.success)),
            ("success_rate".into(), rate(s.success as f64, s.total)),
            ("avg_latency".into(), rate(s.elapsed, s.total)),
        ]
    });
    rows.extend(stat.rows("service_stat", &["service"], |s| {
        vec![
            ("count".into(), Val::Int(s.count)),
            ("sum_elapsed".into(), int_val(s.sum)),
            (
                "avg_elapsed".into(),
                Val::Float(s.sum as f64 / s.count as f64),
            ),
            ("max_elapsed".into(), s.max.map_or(Val::Null, Val::Int)),
        ]
    }));
    Replay {
        rows,
        counters: vec![
            ("rpc_service".into(), service.counters),
            ("service_stat".into(), stat.counters),
        ],
        stderr: String::new(),
    }
}

// ---------------------------------------------------------------------------

/// Asserts equal row lists, naming the first difference.
fn assert_same_rows(got: &[Row], want: &[Row]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "row {i} differs (vigil, then expected)");
    }
    assert_eq!(got.len(), want.len(), "number of rows");
}

#[test]
fn generated_log_matches_a_second_implementation() {
    let sb = Sandbox::new();
    let log = generate(&sb);
    sb.write("vigil.yaml", CONFIG);
    let got = sb.replay("vigil.yaml", &["rpc.log"], &[]);
    let want = expected(&log);

    // The log exercises what it should.
    let c = want.counters[0].1;
    assert_eq!(c.lines, 200_000);
    assert!(c.parse_errors > 1_000, "{c:?}");
    assert!(c.filtered > 5_000, "{c:?}");
    assert!(c.late > 0, "{c:?}");
    assert!(want.rows.len() > 500, "{}", want.rows.len());
    assert!(
        want.rows
            .iter()
            .any(|r| r.monitor == "service_stat" && r.key("service").is_empty()),
        "the empty service is a key"
    );

    assert_same_rows(&got.rows, &want.rows);
    assert_eq!(got.counters, want.counters);
}
