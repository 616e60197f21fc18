//! The shared vocabulary of vigil: closed-minute rows, their values and the
//! per-monitor counters. No IO happens here; every component that produces or
//! reads statistics speaks these types.
//!
//! - [`MinuteRow`]: one key's values in one minute (or second, hour, …) of a
//!   monitor, the unit that the engine emits, storage keeps, the API serves.
//! - [`Value`]: an integer, a float, or missing (a zero denominator).
//! - [`Counters`]: what a monitor saw and could not use.
//! - [`wire`]: the agent ↔ collector protocol.

use serde::{Deserialize, Serialize};

pub mod fsutil;
pub mod html;
pub mod wire;

/// A statistic's value. Counts and integer sums are exact integers; averages
/// and rates are full-precision floats; a rate over a zero base is `Missing`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// An exact integer.
    Int(i64),
    /// A float (never NaN or infinite).
    Float(f64),
    /// No value: the base was zero or there was no data.
    Missing,
}

impl Value {
    /// The value as a float, if present.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            Value::Missing => None,
        }
    }

    /// A float value, `Missing` when it is not finite.
    pub fn float(f: f64) -> Value {
        if f.is_finite() {
            Value::Float(f)
        } else {
            Value::Missing
        }
    }
}

/// One row of a monitor's output: a bucket start, a key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteRow {
    /// The monitor's name.
    pub monitor: String,
    /// Start of the bucket (minute, second, hour, day or week), epoch seconds.
    pub minute: i64,
    /// Key column names and values, in group-by order; empty without keys.
    pub keys: Vec<(String, String)>,
    /// Value names and values, in the monitor's value order.
    pub values: Vec<(String, Value)>,
    /// Rank within the minute (1 = first), for top monitors.
    pub rank: Option<u32>,
    /// The raw line, for record_top rows.
    pub line: Option<String>,
    /// Attached matching lines, for match_alert rows.
    pub lines: Vec<String>,
    /// Roll-up period (`hour`, `day`, `week`) for archive rows.
    pub period: Option<String>,
}

impl MinuteRow {
    /// A row with no values yet.
    pub fn new(monitor: &str, minute: i64, keys: Vec<(String, String)>) -> Self {
        MinuteRow {
            monitor: monitor.to_string(),
            minute,
            keys,
            values: Vec::new(),
            rank: None,
            line: None,
            lines: Vec::new(),
            period: None,
        }
    }

    /// The value with this name.
    pub fn value(&self, name: &str) -> Option<Value> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The key value of this column.
    pub fn key(&self, name: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The output order of rows: monitor, minute, period, keys, rank.
    pub fn output_order(&self, other: &MinuteRow) -> std::cmp::Ordering {
        (
            &self.monitor,
            self.minute,
            &self.period,
            &self.keys,
            self.rank,
        )
            .cmp(&(
                &other.monitor,
                other.minute,
                &other.period,
                &other.keys,
                other.rank,
            ))
    }
}

/// What a monitor saw, and what it could not use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Lines (events) offered to the monitor.
    pub lines: u64,
    /// Lines cut into columns without error.
    pub parsed: u64,
    /// Lines skipped as malformed.
    pub parse_errors: u64,
    /// Parsed lines removed by the include/exclude filters.
    pub filtered: u64,
    /// Lines dropped because their minute already had `key_limit` keys.
    pub key_dropped: u64,
    /// Lines whose minute was older than the lateness window.
    pub late: u64,
    /// Lines that arrived after their minute was stored but within the
    /// lateness window: the stored minute was amended with them.
    #[serde(default)]
    pub amended: u64,
    /// Lines the agent dropped because the source's rate limit was reached.
    #[serde(default)]
    pub rate_limited: u64,
}

impl Counters {
    /// Adds another set of counters to this one.
    pub fn add(&mut self, other: &Counters) {
        self.lines += other.lines;
        self.parsed += other.parsed;
        self.parse_errors += other.parse_errors;
        self.filtered += other.filtered;
        self.key_dropped += other.key_dropped;
        self.late += other.late;
        self.amended += other.amended;
        self.rate_limited += other.rate_limited;
    }
}

/// Renders an epoch-seconds instant as RFC 3339 in `tz`
/// (`2026-11-20T10:00:00+08:00`).
pub fn rfc3339(epoch_secs: i64, tz: chrono_tz::Tz) -> String {
    use chrono::TimeZone;
    match tz.timestamp_opt(epoch_secs, 0) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        }
        chrono::LocalResult::None => epoch_secs.to_string(),
    }
}

impl MinuteRow {
    /// The row as the JSON object of `vigil replay --format json` and the
    /// HTTP API: `monitor`, `minute` (RFC 3339 in `tz`), `keys`, `values`,
    /// and `period`, `rank`, `line`, `lines` where they apply.
    pub fn to_json(&self, tz: chrono_tz::Tz) -> serde_json::Value {
        use serde_json::{Map, Value as J};
        let mut o = Map::new();
        o.insert("monitor".into(), J::from(self.monitor.clone()));
        o.insert("minute".into(), J::from(rfc3339(self.minute, tz)));
        if let Some(p) = &self.period {
            o.insert("period".into(), J::from(p.clone()));
        }
        let keys: Map<String, J> = self
            .keys
            .iter()
            .map(|(k, v)| (k.clone(), J::from(v.clone())))
            .collect();
        o.insert("keys".into(), J::Object(keys));
        let values: Map<String, J> = self
            .values
            .iter()
            .map(|(k, v)| {
                let j = match v {
                    Value::Int(i) => J::from(*i),
                    Value::Float(f) => J::from(*f),
                    Value::Missing => J::Null,
                };
                (k.clone(), j)
            })
            .collect();
        o.insert("values".into(), J::Object(values));
        if let Some(r) = self.rank {
            o.insert("rank".into(), J::from(r));
        }
        if let Some(l) = &self.line {
            o.insert("line".into(), J::from(l.clone()));
        }
        if !self.lines.is_empty() {
            o.insert("lines".into(), J::from(self.lines.clone()));
        }
        J::Object(o)
    }
}

/// How rows are grouped by the labels of the agents that sent the lines:
/// all together, or apart per instance, IDC or LDC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    /// Every agent's lines together.
    Total,
    /// Apart per agent instance.
    Instance,
    /// Apart per data centre.
    Idc,
    /// Apart per logical data centre.
    Ldc,
}

impl View {
    /// The views other than [`View::Total`].
    pub const LABELLED: [View; 3] = [View::Instance, View::Idc, View::Ldc];

    /// The view's name: `total`, `instance`, `idc` or `ldc` (also the
    /// label's name in rows).
    pub fn name(self) -> &'static str {
        match self {
            View::Total => "total",
            View::Instance => "instance",
            View::Idc => "idc",
            View::Ldc => "ldc",
        }
    }

    /// The view named `name`, if any.
    pub fn parse(name: &str) -> Option<View> {
        [View::Total, View::Instance, View::Idc, View::Ldc]
            .into_iter()
            .find(|v| v.name() == name)
    }

    /// The label value this view groups `labels` by (`unknown` when the
    /// agent has no such label); `None` for [`View::Total`].
    pub fn label_of(self, labels: &wire::Labels) -> Option<String> {
        let value = match self {
            View::Total => return None,
            View::Instance => Some(labels.instance.as_str()),
            View::Idc => labels.idc.as_deref(),
            View::Ldc => labels.ldc.as_deref(),
        };
        Some(
            value
                .filter(|v| !v.is_empty())
                .unwrap_or("unknown")
                .to_string(),
        )
    }

    /// The stored table of `monitor` in this view: the monitor's own name
    /// for [`View::Total`], else `<monitor>@<view>` (with the label as the
    /// first key column).
    pub fn table(self, monitor: &str) -> String {
        match self {
            View::Total => monitor.to_string(),
            v => format!("{monitor}@{}", v.name()),
        }
    }
}
