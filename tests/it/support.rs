//! Running the real `vigil` binary on files in a temporary folder and reading
//! its JSON output back into plain structs.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_vigil");

/// The root of the repository (the root package's folder).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `config/examples` of the repository.
pub fn examples() -> PathBuf {
    repo().join("config").join("examples")
}

/// A value of a row: JSON integer, float (written with `.` or an exponent) or null.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// `null` (a missing value).
    Null,
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Int(i) => write!(f, "{i}"),
            Val::Float(x) => write!(f, "{x:?}"),
            Val::Null => f.write_str("null"),
        }
    }
}

/// One output row of `vigil replay --format json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub monitor: String,
    pub minute: String,
    /// Key columns in group-by order.
    pub keys: Vec<(String, String)>,
    /// Values in the monitor's order.
    pub values: Vec<(String, Val)>,
    pub rank: Option<i64>,
    pub line: Option<String>,
    pub lines: Vec<String>,
    pub period: Option<String>,
}

impl Row {
    /// The value named `name`; panics when the row has none.
    pub fn value(&self, name: &str) -> Val {
        match self.values.iter().find(|(n, _)| n == name) {
            Some((_, v)) => *v,
            None => panic!("row has no value `{name}`: {self:?}"),
        }
    }

    /// An integer value; panics when it is not an integer.
    pub fn int(&self, name: &str) -> i64 {
        match self.value(name) {
            Val::Int(i) => i,
            other => panic!("value `{name}` is {other:?}, not an integer: {self:?}"),
        }
    }

    /// A float value; panics when it is not a float.
    pub fn float(&self, name: &str) -> f64 {
        match self.value(name) {
            Val::Float(f) => f,
            other => panic!("value `{name}` is {other:?}, not a float: {self:?}"),
        }
    }

    /// The key value of column `name`.
    pub fn key(&self, name: &str) -> &str {
        match self.keys.iter().find(|(n, _)| n == name) {
            Some((_, v)) => v,
            None => panic!("row has no key `{name}`: {self:?}"),
        }
    }
}

/// A monitor's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub lines: u64,
    pub parsed: u64,
    pub parse_errors: u64,
    pub filtered: u64,
    pub key_dropped: u64,
    pub late: u64,
}

/// What one `vigil replay --format json` printed.
#[derive(Debug, Clone)]
pub struct Replay {
    pub rows: Vec<Row>,
    pub counters: Vec<(String, Counters)>,
    pub stderr: String,
}

impl Replay {
    /// The counters of `monitor`; panics when it printed none.
    pub fn counters(&self, monitor: &str) -> Counters {
        match self.counters.iter().find(|(m, _)| m == monitor) {
            Some((_, c)) => *c,
            None => panic!("no counters for `{monitor}` in {:?}", self.counters),
        }
    }

    /// The rows of `monitor`, in output order.
    pub fn rows_of(&self, monitor: &str) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.monitor == monitor).collect()
    }

    /// The row of `monitor` at `minute` with exactly these keys, if any.
    pub fn find(&self, monitor: &str, minute: &str, keys: &[(&str, &str)]) -> Option<&Row> {
        self.rows.iter().find(|r| {
            r.monitor == monitor
                && r.minute == minute
                && r.keys.len() == keys.len()
                && r.keys
                    .iter()
                    .zip(keys)
                    .all(|((n, v), (kn, kv))| n == kn && v == kv)
        })
    }

    /// Like [`Replay::find`], but panics (showing all rows) when absent.
    pub fn row(&self, monitor: &str, minute: &str, keys: &[(&str, &str)]) -> &Row {
        match self.find(monitor, minute, keys) {
            Some(r) => r,
            None => panic!(
                "no row {monitor} {minute} {keys:?}; rows:\n{}",
                self.dump(monitor)
            ),
        }
    }

    /// `value` of every row of `monitor`, as `(minute, "k1|k2", value)`.
    pub fn table(&self, monitor: &str, value: &str) -> Vec<(String, String, Val)> {
        self.rows_of(monitor)
            .into_iter()
            .map(|r| {
                let keys: Vec<&str> = r.keys.iter().map(|(_, v)| v.as_str()).collect();
                (r.minute.clone(), keys.join("|"), r.value(value))
            })
            .collect()
    }

    /// The rows of `monitor`, one per line, for messages.
    pub fn dump(&self, monitor: &str) -> String {
        let mut s = String::new();
        for r in self.rows_of(monitor) {
            s.push_str(&format!("  {} {:?} {:?}\n", r.minute, r.keys, r.values));
        }
        s
    }
}

/// Runs the binary with `args`.
pub fn vigil<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(BIN)
        .args(args)
        .output()
        .expect("cannot run the vigil binary")
}

/// `vigil replay -c config --log … --format json [extra…]`; panics unless it
/// exits 0 and prints well-formed output.
pub fn replay(config: &Path, logs: &[&Path], extra: &[&str]) -> Replay {
    let mut args: Vec<&OsStr> = vec![OsStr::new("replay"), OsStr::new("-c"), config.as_os_str()];
    for log in logs {
        args.push(OsStr::new("--log"));
        args.push(log.as_os_str());
    }
    args.push(OsStr::new("--format"));
    args.push(OsStr::new("json"));
    args.extend(extra.iter().map(OsStr::new));
    let out = vigil(&args);
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "vigil {args:?} failed with {}\nstderr:\n{stderr}\nstdout:\n{stdout}",
        out.status
    );
    let (rows, counters) = parse_output(&stdout);
    Replay {
        rows,
        counters,
        stderr,
    }
}

/// A temporary folder holding a configuration and logs.
pub struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    /// An empty temporary folder.
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("vigil-it-")
                .tempdir()
                .expect("cannot create a temporary folder"),
        }
    }

    /// The path of `name` inside the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` inside the folder and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, contents).expect("cannot write a test file");
        p
    }

    /// Replays `logs` (names inside the folder) with configuration `config`
    /// (a name inside the folder).
    pub fn replay(&self, config: &str, logs: &[&str], extra: &[&str]) -> Replay {
        let logs: Vec<PathBuf> = logs.iter().map(|l| self.path(l)).collect();
        let refs: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
        replay(&self.path(config), &refs, extra)
    }
}

/// Writes `yaml` as `vigil.yaml` and `log` as `app.log` in a fresh folder and
/// replays the log. The monitors' source paths should name `app.log`.
pub fn replay_one(yaml: &str, log: impl AsRef<[u8]>) -> Replay {
    let sb = Sandbox::new();
    sb.write("vigil.yaml", yaml);
    sb.write("app.log", log);
    sb.replay("vigil.yaml", &["app.log"], &[])
}

/// A configuration of one monitor reading `app.log` (Asia/Shanghai,
/// `normal` times in column `time`); `body` holds the rest of the monitor
/// (columns, filters, statistics), indented by four spaces.
pub fn one_monitor(kind: &str, body: &str) -> String {
    format!(
        "monitors:\n  - name: m\n    kind: {kind}\n    source: {{ paths: [app.log], timezone: Asia/Shanghai }}\n    time: {{ column: time, format: normal }}\n{body}"
    )
}

/// Parses the whole JSON output: rows first, then one counters object per
/// monitor. Panics on anything else.
pub fn parse_output(stdout: &str) -> (Vec<Row>, Vec<(String, Counters)>) {
    let mut rows = Vec::new();
    let mut counters = Vec::new();
    for (i, line) in stdout.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(&quote_numbers(line))
            .unwrap_or_else(|e| panic!("output line {} is not JSON ({e}): {line}", i + 1));
        let o = v
            .as_object()
            .unwrap_or_else(|| panic!("output line {} is not an object: {line}", i + 1));
        let monitor = str_field(o, "monitor", line).to_string();
        if let Some(c) = o.get("counters") {
            assert_eq!(o.len(), 2, "unexpected fields in {line}");
            let c = c.as_object().expect("counters is an object");
            let n = |name: &str| -> u64 {
                let text = c
                    .get(name)
                    .and_then(|v| v.as_str())
                    .unwrap_or_else(|| panic!("counter `{name}` missing in {line}"));
                text.parse()
                    .unwrap_or_else(|_| panic!("counter `{name}` is not a count in {line}"))
            };
            assert_eq!(c.len(), 8, "unexpected counters in {line}");
            // Replay reads files once, in order: nothing to amend, no agent.
            assert_eq!((n("amended"), n("rate_limited")), (0, 0), "{line}");
            counters.push((
                monitor,
                Counters {
                    lines: n("lines"),
                    parsed: n("parsed"),
                    parse_errors: n("parse_errors"),
                    filtered: n("filtered"),
                    key_dropped: n("key_dropped"),
                    late: n("late"),
                },
            ));
            continue;
        }
        assert!(
            counters.is_empty(),
            "a row after the counters began: {line}"
        );
        for field in o.keys() {
            assert!(
                ["monitor", "minute", "keys", "values", "rank", "line", "lines", "period"]
                    .contains(&field.as_str()),
                "unexpected field `{field}` in {line}"
            );
        }
        let keys = o
            .get("keys")
            .and_then(|k| k.as_object())
            .unwrap_or_else(|| panic!("no keys object in {line}"))
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .unwrap_or_else(|| panic!("key `{k}` is not a string in {line}"));
                (k.clone(), v.to_string())
            })
            .collect();
        let values = o
            .get("values")
            .and_then(|k| k.as_object())
            .unwrap_or_else(|| panic!("no values object in {line}"))
            .iter()
            .map(|(k, v)| {
                let val = match v {
                    serde_json::Value::Null => Val::Null,
                    serde_json::Value::String(text) => number(text, line),
                    other => panic!("value `{k}` is {other} in {line}"),
                };
                (k.clone(), val)
            })
            .collect();
        let minute = str_field(o, "minute", line).to_string();
        assert!(
            is_rfc3339(&minute),
            "minute `{minute}` is not RFC 3339 in {line}"
        );
        rows.push(Row {
            monitor,
            minute,
            keys,
            values,
            rank: o
                .get("rank")
                .map(|r| match r.as_str().map(|t| number(t, line)) {
                    Some(Val::Int(i)) => i,
                    _ => panic!("rank is not an integer in {line}"),
                }),
            line: o.get("line").map(|l| {
                l.as_str()
                    .unwrap_or_else(|| panic!("line is not a string in {line}"))
                    .to_string()
            }),
            lines: o
                .get("lines")
                .map(|l| {
                    l.as_array()
                        .unwrap_or_else(|| panic!("lines is not an array in {line}"))
                        .iter()
                        .map(|s| s.as_str().expect("lines holds strings").to_string())
                        .collect()
                })
                .unwrap_or_default(),
            period: o.get("period").map(|p| {
                p.as_str()
                    .unwrap_or_else(|| panic!("period is not a string in {line}"))
                    .to_string()
            }),
        });
    }
    for pair in rows.windows(2) {
        let key = |r: &Row| {
            (
                r.monitor.clone(),
                instant(&r.minute),
                r.period.clone(),
                r.keys.clone(),
                r.rank,
            )
        };
        assert!(
            key(&pair[0]) <= key(&pair[1]),
            "rows out of order (monitor, minute, period, keys, rank):\n{:?}\n{:?}",
            pair[0],
            pair[1]
        );
    }
    let mut monitors: Vec<&str> = rows.iter().map(|r| r.monitor.as_str()).collect();
    monitors.dedup();
    let mut sorted = monitors.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        monitors, sorted,
        "rows are not grouped and sorted by monitor"
    );
    (rows, counters)
}

/// Whether `t` looks like `2026-11-20T10:00:00+08:00` (or `…Z`).
fn is_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let zone = &b[19.min(b.len())..];
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (zone == b"Z"
            || (zone.len() == 6
                && (zone[0] == b'+' || zone[0] == b'-')
                && zone[1..3].iter().all(u8::is_ascii_digit)
                && zone[3] == b':'
                && zone[4..6].iter().all(u8::is_ascii_digit)))
}

/// Epoch seconds of an RFC 3339 minute checked by [`is_rfc3339`].
fn instant(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| -> i64 { t[r].parse().unwrap() };
    let days = days_from_civil(n(0..4), n(5..7) as u32, n(8..10) as u32);
    let local = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    let offset = match &t[19..] {
        "Z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (n(20..22) * 3600 + n(23..25) * 60)
        }
    };
    local - offset
}

fn str_field<'a>(
    o: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
    line: &str,
) -> &'a str {
    o.get(name)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("field `{name}` missing or not a string in {line}"))
}

/// A JSON number's text (quoted by [`quote_numbers`]) as a value: a float
/// when written with `.` or an exponent, else an integer. Parsed with the
/// standard library, which rounds correctly.
fn number(text: &str, line: &str) -> Val {
    if text.contains(['.', 'e', 'E']) {
        Val::Float(
            text.parse()
                .unwrap_or_else(|_| panic!("bad float `{text}` in {line}")),
        )
    } else {
        Val::Int(
            text.parse()
                .unwrap_or_else(|_| panic!("bad integer `{text}` in {line}")),
        )
    }
}

/// Rewrites every number of a JSON text as a string holding its text, so
/// that floats are parsed exactly (serde_json's default float parsing is
/// only best-effort) and integers stay apart from floats.
fn quote_numbers(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some(s) = chars.next() {
                    out.push(s);
                    match s {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '-' | '0'..='9' => {
                out.push('"');
                out.push(c);
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-') {
                        out.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push('"');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// RFC 3339 text of a minute starting at `epoch_s`, shown at a fixed
/// offset of `offset_s` seconds (`2026-11-20T10:00:00+08:00`).
pub fn minute_text(epoch_s: i64, offset_s: i64) -> String {
    let local = epoch_s + offset_s;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let sod = local.rem_euclid(86_400);
    let sign = if offset_s < 0 { '-' } else { '+' };
    let off = offset_s.abs();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        off / 3600,
        off % 3600 / 60
    )
}
