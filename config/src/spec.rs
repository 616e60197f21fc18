//! The YAML format, field for field. These types only mirror what users
//! write; `validate` checks them and lowers them into [`crate::Monitor`]s.
//! The `///` comments are the user's documentation and end up in the JSON
//! Schema printed by `vigil schema`.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// A vigil configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// The monitors: each names its log files, how to cut lines into
    /// columns, and what to compute per minute.
    #[serde(default)]
    pub monitors: Vec<MonitorSpec>,
}

/// What a monitor computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindSpec {
    /// Statistics per minute, with no key or grouped by columns.
    MinuteStat,
    /// Total, success, fail, success_rate and avg_latency per minute.
    ServiceMetrics,
    /// Per minute, the top N keys ranked by one statistic.
    MinuteTop,
    /// Per minute, the N lines with the highest value of a column.
    RecordTop,
    /// No statistics: lines passing the filters raise an alert.
    MatchAlert,
    /// The same as minute_stat at one-second resolution.
    SecondStat,
    /// Hourly, daily and weekly roll-ups of another monitor.
    Archive,
}

/// One monitor.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorSpec {
    /// Unique name: lowercase letters, digits and `_`.
    pub name: String,
    /// What the monitor computes.
    pub kind: KindSpec,
    /// Application the monitor belongs to (a label for grouping and pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Which log files to read, and how to decode them. Not used by archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceSpec>,
    /// Which column holds each line's time, and its format. Not used by archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeSpec>,
    /// Named columns cut from each line.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub columns: IndexMap<String, ColumnSpec>,
    /// Whitelist: column -> comma-separated values. A line is kept only if
    /// each listed column has one of its values (columns are ANDed).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub include: IndexMap<String, Scalar>,
    /// Blacklist: column -> comma-separated values. A line is dropped if any
    /// listed column has one of its values (columns are ORed).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub exclude: IndexMap<String, Scalar>,
    /// Key columns: statistics are computed per distinct combination.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    /// Statistics (minute_stat, second_stat, minute_top): `count`,
    /// `{sum: col}`, `{avg: col}`, `{min: col}`, `{max: col}`,
    /// `{occurrences: text, in: col|line, as: name}`, `{ratio: [a, b]}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stats: Vec<StatSpec>,
    /// Settings of a service_metrics monitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,
    /// Ranking of a minute_top or record_top monitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<TopSpec>,
    /// Settings of a match_alert monitor.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_alert: Option<MatchSpec>,
    /// Settings of an archive monitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveSpec>,
    /// Most distinct keys per minute; lines of further keys are dropped and
    /// counted as `key_dropped`. Default 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_limit: Option<usize>,
    /// How long after its end a minute still accepts lines: seconds, or a
    /// duration such as `90s`, `2m`, `1h`. Default `2m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lateness: Option<Scalar>,
}

/// Which files a monitor reads.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// File paths or glob patterns, relative to the YAML file's folder.
    pub paths: Vec<String>,
    /// `auto` (UTF-8 or GBK, detected per file), `utf-8` or `gbk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// IANA timezone of the times in the lines, e.g. `Asia/Shanghai`.
    /// Default: the machine's timezone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Joins multi-line events (such as Java stack traces) into one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiline: Option<MultilineSpec>,
    /// Lines longer than this many bytes are parse errors. Default 65536.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_line_bytes: Option<usize>,
    /// Most KiB read per minute from each file; lines over the limit are
    /// dropped by the agent and counted (`rate_limited`). Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_kb_per_min: Option<u64>,
}

/// Multi-line event joining.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultilineSpec {
    /// Regex that matches the first line of an event, e.g. `^\d{4}-\d{2}-\d{2} `.
    pub start: String,
    /// Most lines joined into one event. Default 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lines: Option<usize>,
}

/// Where a line's time is.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    /// Name of the column holding the time.
    pub column: String,
    /// `normal`, `apache`, `long`, `short_long`, `monthfirst`, `revert`,
    /// `monthfirst2`, or a strftime pattern such as `%Y-%m-%d %H:%M:%S`.
    pub format: String,
}

/// Type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypeSpec {
    /// Text (the default).
    #[default]
    String,
    /// An optional sign and digits.
    Int,
    /// Decimal or exponent notation.
    Float,
}

/// How to cut one column from a line: exactly one of `split`, `between`,
/// `regex`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Delimiter: any visible symbol, a string, or `char(n)` / `char(n,m…)`
    /// for invisible characters by ASCII code. Use with `index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// 0-based field index for `split`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// `[left, right]`: the text after the `nth` occurrence of `left` up to
    /// the next `right`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[String; 2]>,
    /// Which occurrence of the left delimiter for `between` (1 = first). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<usize>,
    /// Regular expression; the column is its first capture group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// `string` (default), `int` or `float`; a value that does not parse
    /// makes the line a parse error.
    #[serde(default, rename = "type")]
    pub ty: TypeSpec,
    /// Remove surrounding whitespace before typing. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trim: bool,
    /// An empty value makes the line a parse error. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Map raw values to names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translate: Option<TranslateSpec>,
}

/// Mapping of raw values to names: exact map first, then regex map, then default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateSpec {
    /// Exact raw value -> name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub map: IndexMap<Scalar, Scalar>,
    /// Regex -> name, tried in order when no exact entry matched.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub regex: IndexMap<String, Scalar>,
    /// Name of a value nothing matched; without it the raw value is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Scalar>,
}

/// One statistic: the word `count`, or a one-entry map.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatSpec {
    /// `count`: lines per minute.
    Name(String),
    /// A statistic over a column.
    Detail(StatDetail),
}

/// A statistic over a column: exactly one of `sum`, `avg`, `min`, `max`,
/// `occurrences`, `ratio`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatDetail {
    /// Sum of a numeric column (value `sum_<col>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<String>,
    /// Average of a numeric column (value `avg_<col>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg: Option<String>,
    /// Minimum of a numeric column (value `min_<col>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// Maximum of a numeric column (value `max_<col>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// A text whose occurrences are counted (each time it appears).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<String>,
    /// Column searched by `occurrences`, or `line` (the default) for the whole line.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    /// `[a, b]`: sum of a ÷ sum of b (value `ratio_<a>_<b>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<[String; 2]>,
    /// Name of the value instead of the default one.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Settings of a service_metrics monitor.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Column holding the call's result.
    pub result: String,
    /// Comma-separated result values (after translation) meaning success. Default `Y`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<Scalar>,
    /// Int column with a per-line call count (stat logs); without it each line counts 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<String>,
    /// Numeric column with the elapsed time (total for the line's calls), for avg_latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed: Option<String>,
}

/// Ranking of a top monitor.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopSpec {
    /// minute_top: the value name keys are ranked by (e.g. `avg_elapsed`);
    /// record_top: the numeric column lines are ranked by.
    pub by: String,
    /// How many keys or lines are kept per minute. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// `desc` (highest first, the default) or `asc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderSpec>,
}

/// Ranking direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderSpec {
    /// Highest first.
    Desc,
    /// Lowest first.
    Asc,
}

/// Settings of a match_alert monitor.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// Most matching lines attached per minute. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lines: Option<usize>,
}

/// Settings of an archive monitor.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSpec {
    /// Name of the monitor to roll up.
    pub of: String,
    /// Any of `hour`, `day`, `week`. Default all three.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub periods: Vec<String>,
}

/// A scalar written as text, a number or a boolean; kept as its text,
/// exactly as written (`1.0` stays `1.0`, `0x10` stays `0x10`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Scalar(
    /// The scalar's text.
    #[schemars(with = "ScalarSchema")]
    pub String,
);

/// Schema of [`Scalar`]: a string, number or boolean.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used
enum ScalarSchema {
    Text(String),
    Number(f64),
    Flag(bool),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        // A YAML deserializer hands a scalar's text as written to visit_str;
        // the number and boolean visits serve deserializers without text.
        d.deserialize_str(V)
    }
}
