//! Resolved monitors: what validation lowers the YAML into, and what the
//! collector and the engine consume. Every name is already checked and
//! turned into an index, every regex compiled, every path made absolute.

use std::path::PathBuf;

use regex::Regex;

use crate::alert::{AlertRule, Notification};
use crate::apps::App;
use crate::time_format::TimeFormat;

/// A validated set of monitors, ready to run.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Monitors in the order they were written.
    pub monitors: Vec<Monitor>,
    /// Contacts, groups, webhooks, subscriptions and channel settings.
    pub notification: Notification,
    /// Alert rules on the built-in monitors (`system`, `jvm`, `port`,
    /// `agents`; see [`crate::alert::BUILTIN_MONITORS`]): the default rule
    /// pack unless switched off, with user rules of the same monitor and
    /// name in place of default ones, then the other user rules.
    pub builtin_alerts: Vec<AlertRule>,
    /// Applications of the `apps:` entries, in the order they were written;
    /// the monitors their presets made are in `monitors` like any other.
    pub apps: Vec<App>,
    /// Custom dashboards, in the order they were written.
    pub dashboards: Vec<crate::dashboard::Dashboard>,
}

impl Config {
    /// The monitor with this name, if any.
    pub fn monitor(&self, name: &str) -> Option<&Monitor> {
        self.monitors.iter().find(|m| m.name == name)
    }
}

/// One monitor: where its lines come from, how they are cut, what it computes.
#[derive(Debug, Clone)]
pub struct Monitor {
    /// Unique name, `[a-z0-9_]+`.
    pub name: String,
    /// Optional application label.
    pub app: Option<String>,
    /// What the monitor computes.
    pub kind: Kind,
    /// Where lines come from; `None` only for archive monitors.
    pub source: Option<Source>,
    /// Which column holds the line's time and how it is written.
    pub time: Option<TimeRule>,
    /// Columns in the order they were written; indexes below refer to this.
    pub columns: Vec<Column>,
    /// Whitelist filters: a line is kept only if every filter matches (AND).
    pub include: Vec<Filter>,
    /// Blacklist filters: a line is dropped if any filter matches (OR).
    pub exclude: Vec<Filter>,
    /// Indexes of the key columns, in group-by order; empty for no key.
    pub group_by: Vec<usize>,
    /// Distinct keys kept per minute; further keys are dropped and counted.
    pub key_limit: usize,
    /// Seconds after a minute's end during which its lines are still accepted.
    pub lateness_secs: i64,
    /// Alert rules on the monitor's minutes.
    pub alerts: Vec<AlertRule>,
}

impl Monitor {
    /// Whether the engine needs the raw line of every kept row.
    pub fn needs_line(&self) -> bool {
        match &self.kind {
            Kind::RecordTop(_) | Kind::MatchAlert(_) => true,
            Kind::MinuteStat(s) | Kind::SecondStat(s) => s.needs_line(),
            Kind::MinuteTop(t) => t.stats.needs_line(),
            Kind::ServiceMetrics(_) | Kind::Archive(_) => false,
        }
    }

    /// Names of the key columns, in group-by order.
    pub fn key_names(&self) -> Vec<&str> {
        self.group_by
            .iter()
            .map(|&i| self.columns[i].name.as_str())
            .collect()
    }

    /// Names of the values each row carries, in output order.
    pub fn value_names(&self) -> Vec<String> {
        match &self.kind {
            Kind::MinuteStat(s) | Kind::SecondStat(s) => s.value_names(),
            Kind::MinuteTop(t) => t.stats.value_names(),
            Kind::ServiceMetrics(s) => s.value_names(),
            Kind::RecordTop(r) => vec![self.columns[r.by].name.clone()],
            Kind::MatchAlert(_) => vec!["count".to_string()],
            Kind::Archive(_) => Vec::new(),
        }
    }
}

/// What a monitor computes, with the settings of that kind.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Statistics per minute, with or without keys.
    MinuteStat(Stats),
    /// Total, success, fail, success rate and average latency per minute.
    ServiceMetrics(Service),
    /// Per minute, the top N keys ranked by one value.
    MinuteTop(MinuteTop),
    /// Per minute, the N lines with the highest (or lowest) value of a column.
    RecordTop(RecordTop),
    /// Lines passing the filters, counted per minute with up to M attached.
    MatchAlert(MatchAlert),
    /// The same as minute_stat at one-second resolution.
    SecondStat(Stats),
    /// Hour, day and week roll-ups of another monitor.
    Archive(Archive),
}

impl Kind {
    /// The kind's name as written in YAML.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::MinuteStat(_) => "minute_stat",
            Kind::ServiceMetrics(_) => "service_metrics",
            Kind::MinuteTop(_) => "minute_top",
            Kind::RecordTop(_) => "record_top",
            Kind::MatchAlert(_) => "match_alert",
            Kind::SecondStat(_) => "second_stat",
            Kind::Archive(_) => "archive",
        }
    }
}

/// A list of statistics, each with its output value name.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// The statistics in the order they were written.
    pub stats: Vec<NamedStat>,
}

impl Stats {
    /// Whether any statistic reads the raw line.
    pub fn needs_line(&self) -> bool {
        self.stats
            .iter()
            .any(|s| matches!(s.stat, Stat::Occurrences { column: None, .. }))
    }

    /// Output value names, in order.
    pub fn value_names(&self) -> Vec<String> {
        self.stats.iter().map(|s| s.name.clone()).collect()
    }
}

/// A statistic and the name of the value it produces.
#[derive(Debug, Clone)]
pub struct NamedStat {
    /// Output value name (`count`, `sum_<col>`, or the `as:` name).
    pub name: String,
    /// What is computed.
    pub stat: Stat,
}

/// One statistic over a minute's lines. Column fields are column indexes.
#[derive(Debug, Clone)]
pub enum Stat {
    /// Number of lines.
    Count,
    /// Sum of a numeric column.
    Sum(usize),
    /// Average of a numeric column (sum ÷ lines).
    Avg(usize),
    /// Minimum of a numeric column.
    Min(usize),
    /// Maximum of a numeric column.
    Max(usize),
    /// How many times `text` appears in a column (or the whole line when `None`).
    Occurrences {
        /// The text searched for; each non-overlapping occurrence counts.
        text: String,
        /// Column searched; `None` searches the whole line.
        column: Option<usize>,
    },
    /// Sum of column `a` ÷ sum of column `b` within the minute.
    Ratio(usize, usize),
}

/// Settings of a service_metrics monitor.
#[derive(Debug, Clone)]
pub struct Service {
    /// Column holding the result.
    pub result: usize,
    /// Result values (after translation) that mean success.
    pub success: Vec<String>,
    /// Column holding a per-line call count; `None` counts lines.
    pub count: Option<usize>,
    /// Column holding the (total) elapsed time; `None` omits avg_latency.
    pub elapsed: Option<usize>,
}

impl Service {
    /// Output value names, in order.
    pub fn value_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ["total", "success", "fail", "success_rate"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if self.elapsed.is_some() {
            names.push("avg_latency".to_string());
        }
        names
    }
}

/// Sort direction of a top list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Highest first.
    Desc,
    /// Lowest first.
    Asc,
}

/// Settings of a minute_top monitor.
#[derive(Debug, Clone)]
pub struct MinuteTop {
    /// The statistics computed per key.
    pub stats: Stats,
    /// Index into `stats.stats` of the value keys are ranked by.
    pub by: usize,
    /// How many keys are kept per minute.
    pub n: usize,
    /// Ranking direction.
    pub order: Order,
}

/// Settings of a record_top monitor.
#[derive(Debug, Clone)]
pub struct RecordTop {
    /// Numeric column the lines are ranked by.
    pub by: usize,
    /// How many lines are kept per minute.
    pub n: usize,
    /// Ranking direction.
    pub order: Order,
}

/// Settings of a match_alert monitor.
#[derive(Debug, Clone)]
pub struct MatchAlert {
    /// How many matching lines are attached per minute.
    pub max_lines: usize,
}

/// A roll-up period of an archive monitor.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// One hour, aligned to the hour.
    Hour,
    /// One day, aligned to local midnight.
    Day,
    /// One week, aligned to local Monday midnight.
    Week,
}

impl Period {
    /// The period's name as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Week => "week",
        }
    }

    /// The period named `name` as written in YAML.
    pub fn parse(name: &str) -> Option<Period> {
        [Period::Hour, Period::Day, Period::Week]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

/// Settings of an archive monitor.
#[derive(Debug, Clone)]
pub struct Archive {
    /// Name of the monitor rolled up.
    pub of: String,
    /// Periods computed.
    pub periods: Vec<Period>,
}

/// Where a monitor's lines come from.
#[derive(Debug, Clone)]
pub struct Source {
    /// Absolute path patterns (globs allowed).
    pub paths: Vec<PathBuf>,
    /// How bytes become text.
    pub encoding: Encoding,
    /// Timezone of the times written in the lines.
    pub timezone: chrono_tz::Tz,
    /// Joining of multi-line events (such as stack traces) into one.
    pub multiline: Option<Multiline>,
    /// Lines longer than this many bytes are parse errors.
    pub max_line_bytes: usize,
    /// Most KiB read per minute from each file (the agent drops and counts
    /// lines over it); `None`: no limit.
    pub rate_limit_kb_per_min: Option<u64>,
}

/// Text encoding of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Detect per file: UTF-8 when the first non-ASCII line is valid UTF-8, else GBK.
    Auto,
    /// UTF-8; invalid bytes make a line a parse error.
    Utf8,
    /// GBK (GB18030 decoder); undecodable bytes make a line a parse error.
    Gbk,
}

/// How physical lines are joined into events.
#[derive(Debug, Clone)]
pub struct Multiline {
    /// A line matching this starts a new event; other lines continue the last one.
    pub start: Regex,
    /// Most physical lines joined into one event; further lines start a new one.
    pub max_lines: usize,
}

/// Which column holds a line's time.
#[derive(Debug, Clone)]
pub struct TimeRule {
    /// Index of the time column.
    pub column: usize,
    /// How the time is written.
    pub format: TimeFormat,
}

/// A named column cut from each line.
#[derive(Debug, Clone)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// How the text is cut from the line.
    pub rule: Rule,
    /// Type the text must parse as.
    pub ty: ColumnType,
    /// Whether surrounding whitespace is removed before typing.
    pub trim: bool,
    /// Whether an empty value makes the line a parse error.
    pub required: bool,
    /// Optional mapping of raw values to names, applied after trimming.
    pub translate: Option<Translate>,
}

/// How a column's text is cut from a line.
#[derive(Debug, Clone)]
pub enum Rule {
    /// Field `index` (0-based) of the line split by `delimiter`.
    Split {
        /// The delimiter bytes (a symbol, a string, or `char(n,…)` codes).
        delimiter: Vec<u8>,
        /// 0-based field index.
        index: usize,
    },
    /// Text after the `nth` (1-based) occurrence of `left` up to the next `right`.
    Between {
        /// Left delimiter.
        left: Vec<u8>,
        /// Right delimiter.
        right: Vec<u8>,
        /// Which occurrence of `left` (1 = first).
        nth: usize,
    },
    /// First capture group of a regular expression.
    Regex(Regex),
}

/// Type of a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text, kept as written.
    String,
    /// Optional sign and decimal digits, fitting in 64 bits.
    Int,
    /// Decimal or exponent notation; no NaN, infinities or hex.
    Float,
}

impl ColumnType {
    /// The type's name as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Int => "int",
            ColumnType::Float => "float",
        }
    }

    /// Whether the type is numeric.
    pub fn is_numeric(self) -> bool {
        !matches!(self, ColumnType::String)
    }
}

/// Mapping of raw values to names.
#[derive(Debug, Clone, Default)]
pub struct Translate {
    /// Exact matches, tried first.
    pub map: Vec<(String, String)>,
    /// Regex matches, tried in order after the exact map.
    pub regex: Vec<(Regex, String)>,
    /// Name for a value nothing matched; `None` keeps the raw value.
    pub default: Option<String>,
}

impl Translate {
    /// The translated value of `raw`.
    pub fn apply<'a>(&'a self, raw: &'a str) -> &'a str {
        if let Some((_, to)) = self.map.iter().find(|(from, _)| from == raw) {
            return to;
        }
        if let Some((_, to)) = self.regex.iter().find(|(re, _)| re.is_match(raw)) {
            return to;
        }
        self.default.as_deref().unwrap_or(raw)
    }
}

/// An exact-match filter on one column's (translated) value.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Index of the filtered column.
    pub column: usize,
    /// Accepted (whitelist) or rejected (blacklist) values.
    pub values: Vec<String>,
}

impl Filter {
    /// Whether the column value is one of the filter's values.
    pub fn matches(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }
}
