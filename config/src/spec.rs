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
    /// Applications monitored through a preset: each entry turns on the
    /// preset's monitors for the application's logs (see `config/PRESETS.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<crate::apps::AppSpec>,
    /// Alert rules on the built-in monitors the collector makes from agents'
    /// samples and states (`system`, `jvm`, `port`, `agents`), and the
    /// switch of the default rule pack. Several files may each have this
    /// section: their rules add up, and `defaults: false` in any of them
    /// switches the pack off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<BuiltinAlertsSpec>,
    /// Who is notified and how: contacts, groups, webhooks, subscriptions
    /// and channel settings. At most one of the loaded files may have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationSpec>,
    /// Custom dashboards of the web UI: pages of reports on a 12-column
    /// grid, each showing monitors' values as tables or trend charts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dashboards: Vec<crate::dashboard::DashboardSpec>,
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
    /// Alert rules on this monitor's minutes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertRuleSpec>,
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

/// The top-level `alerts:` section: rules on the built-in monitors.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuiltinAlertsSpec {
    /// Whether the default rule pack is on (cpu, memory and partition use
    /// above 90% for 3 minutes, agent lost or with clock skew, port or
    /// process probe down). Default true. A rule below with the same
    /// `monitor` and `name` as a default rule replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<bool>,
    /// Rules, each naming its built-in monitor in `monitor`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<AlertRuleSpec>,
}

/// One alert rule: conditions on a monitor's values, checked as minutes
/// close, and whom to notify.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSpec {
    /// Only in the top-level `alerts.rules`: the built-in monitor watched,
    /// `system`, `jvm`, `port` or `agents`. Rules of a monitor of
    /// `monitors:` go in that monitor's `alerts:` list, without `monitor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// Name, unique within the monitor: a letter, then letters, digits,
    /// `_` and `-`.
    pub name: String,
    /// `P0` (most urgent, red), `P1` (orange), `P2` (the default), `P3`, `P4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Check frequency in minutes, dividing a day: 1 (the default) checks
    /// every minute, 5 every 5 minutes, 60 on the hour, 1440 at midnight
    /// (in `timezone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<i64>,
    /// Which keys are watched, per key column (a `group_by` column, or for
    /// built-in monitors their key columns): `"*"` for each key separately,
    /// a value, or a list of values. Key columns left out are summed over.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub keys: IndexMap<String, KeySpec>,
    /// `any` (the default): the rule fires on a channel when any condition
    /// crosses its threshold for that channel; `all`: every condition must hold.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matching: Option<String>,
    /// The conditions, at least one.
    #[serde(default)]
    pub conditions: Vec<ConditionSpec>,
    /// Daily windows in `timezone` during which the rule is checked, such
    /// as `08:00-20:00`; a window may wrap past midnight (`22:00-06:00`).
    /// Default: always.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<String>,
    /// IANA timezone of `active`, `every` and "yesterday", e.g.
    /// `Asia/Shanghai`. Default: the timezone of the monitor's source, else UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Names of groups and webhooks notified (beyond global webhooks and
    /// subscriptions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// Title of the notification. Default `<monitor>/<rule>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Custom text, a template over `{{monitor}}`, `{{rule}}`, `{{value}}`,
    /// `{{keys}}`, `{{level}}` and the named groups of `extract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Regex with named groups (`(?P<user>\w+)`) applied to the first
    /// attached line; the groups are usable in `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
    /// Text put first in P0 and P1 notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<String>,
    /// A link to follow (a runbook, a dashboard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Most log lines attached (match_alert and record_top). Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<usize>,
}

/// The keys of one key column a rule watches: `"*"` (each value
/// separately), one value, or a list of values.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum KeySpec {
    /// `"*"` or one value (quote numbers such as `"1.0"` to keep them as written).
    One(Scalar),
    /// A list of values.
    Many(Vec<Scalar>),
}

impl<'de> Deserialize<'de> for KeySpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = KeySpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"*\", a value, or a list of values")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<KeySpec, E> {
                Ok(KeySpec::One(Scalar(v.to_string())))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<KeySpec, E> {
                Ok(KeySpec::One(Scalar(v.to_string())))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<KeySpec, E> {
                Ok(KeySpec::One(Scalar(v.to_string())))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<KeySpec, E> {
                Ok(KeySpec::One(Scalar(v.to_string())))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<KeySpec, E> {
                Ok(KeySpec::One(Scalar(v.to_string())))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<KeySpec, A::Error> {
                // Each element goes through `Scalar`, which keeps its text as written.
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<Scalar>()? {
                    values.push(v);
                }
                Ok(KeySpec::Many(values))
            }
        }
        d.deserialize_any(V)
    }
}

/// One condition: a value function on one of the monitor's values,
/// compared with a threshold per channel.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    /// The value name of the monitor's rows (`count`, `sum_elapsed`,
    /// `success_rate`, …). Not used by `nodata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `current`; `mom`, `dod`, `wow` (change in percent vs the previous
    /// minute, the same minute yesterday, a week ago); `sum_last`,
    /// `avg_last`, `min_last` (above X for n minutes), `max_last` (below X
    /// for n minutes), `sum_last_vs_prev`, `sum_last_vs_yesterday` (these
    /// take `n`); `nodata` (minutes without lines; no `value`);
    /// `count_above` (top monitors: keys or records of the minute whose
    /// value is above `over`).
    #[serde(rename = "fn")]
    pub func: String,
    /// Number of minutes of the `*_last*` functions, 1 to 1440.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<i64>,
    /// The value `count_above` counts keys or records above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<f64>,
    /// Comparison of the function's result with the threshold: `>`, `>=`,
    /// `<`, `<=`, `==`, `!=`.
    pub op: String,
    /// A number for every channel, or a map channel -> number (channels
    /// `im`, `sms`, `email`, `webhook`): the rule fires on the channels
    /// whose threshold is crossed.
    pub threshold: ThresholdSpec,
}

/// A condition's threshold: one number, or one per channel.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ThresholdSpec {
    /// The threshold of every channel.
    All(f64),
    /// Channel (`im`, `sms`, `email`, `webhook`) -> threshold.
    PerChannel(IndexMap<String, f64>),
}

impl<'de> Deserialize<'de> for ThresholdSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ThresholdSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a number (the threshold of every channel) or a map of channel to number such as { im: 0.95, sms: 0.9 }",
                )
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ThresholdSpec, E> {
                Ok(ThresholdSpec::All(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ThresholdSpec, E> {
                Ok(ThresholdSpec::All(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ThresholdSpec, E> {
                Ok(ThresholdSpec::All(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ThresholdSpec, A::Error> {
                let mut out = IndexMap::new();
                while let Some((k, v)) = map.next_entry::<String, f64>()? {
                    out.insert(k, v);
                }
                Ok(ThresholdSpec::PerChannel(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `notification:` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSpec {
    /// People. Contacts, groups and webhooks share one set of names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<ContactSpec>,
    /// Contacts and chat robots notified together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSpec>,
    /// HTTP endpoints that receive alerts as JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookSpec>,
    /// Who receives which levels of every alert, throttled or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<SubscriptionSpec>,
    /// Settings of the email and SMS channels; each is needed once a
    /// notified contact has an email or a phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<ChannelsSpec>,
    /// Address of vigil's dashboard, for links in notifications
    /// (`http://host:8686`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
}

/// A person.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactSpec {
    /// 2 to 40 characters: a letter or CJK character, then letters, CJK
    /// characters, digits, `.` and `_`.
    pub name: String,
    /// Email address, for the email channel. Used by one contact only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number for SMS: an optional `+` and 5 to 20 digits. Used by
    /// one contact only. A contact needs a phone, an email, or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Scalar>,
}

/// A notification group.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Name (the same rules as a contact's name).
    pub name: String,
    /// Names of contacts in the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// Chat robots (DingTalk-style signed webhooks) of the group's chat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub robots: Vec<RobotSpec>,
}

/// A chat robot.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RobotSpec {
    /// The robot's webhook URL (http or https).
    pub url: String,
    /// Signing secret (`SEC…`): each request carries `timestamp` and
    /// `sign`, the base64 HMAC-SHA256 of `timestamp\nsecret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// An HTTP endpoint that receives alerts.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Name (the same rules as a contact's name).
    pub name: String,
    /// URL (http or https) the alerts are POSTed to.
    pub url: String,
    /// Signing secret: requests carry `X-Vigil-Timestamp` and
    /// `X-Vigil-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + body>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Access key, sent as `X-Vigil-Access-Key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    /// Extra request headers, name -> value.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, Scalar>,
    /// Receives every alert, whoever the rule notifies. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global: bool,
    /// Body format: `vigil` (vigil's JSON object, the default) or
    /// `alertmanager` (Prometheus Alertmanager's webhook payload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// A standing order: `who` receives every alert of these levels.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// A group, contact or webhook name.
    pub who: String,
    /// Levels received: any of `P0` … `P4`, or `all`. Default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<String>>,
    /// Whether an alert that keeps firing is notified on the throttling
    /// schedule (every 1 min for 3 min, every 2 for 4, every 5 for 25,
    /// every 10 for 50, every 30 for 150, then hourly) rather than every
    /// minute. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<bool>,
}

/// Settings of the channels that need a server.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelsSpec {
    /// The SMTP server email leaves through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailSpec>,
    /// The HTTP SMS gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsSpec>,
}

/// The SMTP server.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSpec {
    /// Host name or address.
    pub host: String,
    /// Port. Default 25 (`tls: none`), 587 (`starttls`) or 465 (`tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// `none` (plain SMTP, the default), `starttls` or `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// Sender address.
    pub from: String,
    /// Login user; needs `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Login password; needs `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The HTTP SMS gateway.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsSpec {
    /// URL (http or https); may use `{{phone}}` and `{{text}}`.
    pub url: String,
    /// `POST` (the default), `PUT` or `GET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request body template over `{{phone}}` and `{{text}}` (not for GET).
    /// The URL and body together must use both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Extra request headers (for example `Authorization`), name -> value.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, Scalar>,
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
