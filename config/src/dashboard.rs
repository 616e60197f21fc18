//! Custom dashboards (`dashboards:`): the YAML ([`DashboardSpec`] and its
//! reports and sources) and the resolved [`Dashboard`] the web UI draws.
//!
//! A dashboard is a page of reports on a 12-column grid (`width: 12` is a
//! full row, `6` half). Each report has a type, data sources (a monitor's
//! value, or a value computed from two of them, such as a ratio), a number
//! format, orange/red thresholds that colour cells, an optional link, and
//! its own time span and granularity. Validation (`validate/dashboards.rs`)
//! checks every name against the monitors of the whole configuration.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::monitor::Period;

/// One dashboard: a page of reports.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DashboardSpec {
    /// Unique name, lowercase letters, digits and `_`; the page is
    /// `/dashboards/<name>`.
    pub name: String,
    /// The page's title. Default: the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Minutes shown by reports that do not say otherwise. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<i64>,
    /// Minutes per point or row: 1, 5, 10, 15, 30 or 60. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<i64>,
    /// The reports, laid out left to right on a 12-column grid.
    pub reports: Vec<ReportSpec>,
}

/// What a report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// The last minutes (10 unless `span` says otherwise) down, one column
    /// per source (keys combined, or picked with `keys`).
    LastMinutes,
    /// A trend chart, one line per source; `compare` adds yesterday and/or
    /// last week as dashed lines.
    Trend,
    /// The current (newest) minute: one row per key, one column per source.
    CurrentKeys,
    /// Every minute of the span: one row per minute and key, one column per
    /// source.
    MinutesKeys,
    /// The last minutes (10 unless `span` says otherwise) down, one column
    /// per key, of one source.
    KeysAcross,
    /// The keys with the largest value of one source over the span, ranked.
    Top,
    /// A service monitor's table per key over the span: total, success,
    /// fail, success rate, average latency.
    Service,
    /// A second_stat monitor's last seconds (the report's span, 1 minute
    /// unless it says otherwise) down, one column per source.
    Seconds,
    /// An archive monitor's periods (`period`: hours, days or weeks) of the
    /// span down, the one in progress first, one column per source.
    Archive,
}

impl ReportKind {
    /// The name as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::LastMinutes => "last_minutes",
            ReportKind::Trend => "trend",
            ReportKind::CurrentKeys => "current_keys",
            ReportKind::MinutesKeys => "minutes_keys",
            ReportKind::KeysAcross => "keys_across",
            ReportKind::Top => "top",
            ReportKind::Service => "service",
            ReportKind::Seconds => "seconds",
            ReportKind::Archive => "archive",
        }
    }

    /// The span of a report of this kind that names none, minutes, given
    /// the dashboard's and, for an archive report, its period: a day of
    /// hours, two weeks of days, three weeks (all that is kept) of weeks.
    pub fn default_span(self, dashboard_span: i64, period: Option<Period>) -> i64 {
        match (self, period) {
            (ReportKind::LastMinutes | ReportKind::KeysAcross, _) => 10,
            (ReportKind::Seconds, _) => 1,
            (ReportKind::Archive, Some(Period::Hour)) => 24 * 60,
            (ReportKind::Archive, Some(Period::Day)) => 14 * 24 * 60,
            (ReportKind::Archive, Some(Period::Week)) => 21 * 24 * 60,
            _ => dashboard_span,
        }
    }
}

/// One report of a dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// The report's title.
    pub title: String,
    /// What the report shows: `last_minutes`, `trend`, `current_keys`,
    /// `minutes_keys`, `keys_across`, `top`, `service`, `seconds` (a
    /// second_stat monitor's last seconds) or `archive` (an archive
    /// monitor's hours, days or weeks).
    #[serde(rename = "type")]
    pub kind: ReportKind,
    /// Columns of the 12-column grid it spans, 1 to 12. Default 12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels (100 to 2000); longer tables scroll. Default: as
    /// tall as its content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Where the report's title links to: a path of this UI (`/monitors/x`)
    /// or an http(s) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Minutes shown. Default: 10 for `last_minutes` and `keys_across`, else
    /// the dashboard's span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<i64>,
    /// Minutes per point or row (1, 5, 10, 15, 30, 60). Default: the
    /// dashboard's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<i64>,
    /// Trend charts: earlier periods drawn dashed, `yesterday` and/or `week`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compare: Vec<String>,
    /// Top tables: how many keys. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<usize>,
    /// Archive tables: which roll-up, `hour`, `day` or `week` (one the
    /// archive monitors of the sources have).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Where the numbers come from.
    pub sources: Vec<SourceSpec>,
}

/// A data source: a monitor's value, or a value computed from two.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// The monitor (not with `op`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// One of the monitor's value names (`count`, `total`, `avg_elapsed`…).
    /// Not needed by `service` reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A computed value: `ratio` (first ÷ second), `difference` (first −
    /// second) or `sum` of the two sources of `of`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// The two operands of `op`, each `{monitor, value}`; rows pair up by
    /// minute and key (an operand without keys pairs with every key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub of: Vec<OperandSpec>,
    /// The column or line title. Default: the value name (or `op`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Only rows with these key values (column → value).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub keys: IndexMap<String, String>,
    /// How numbers are written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FormatSpec>,
    /// Cells at or beyond these values are coloured: orange, then red.
    /// With red above orange higher is worse; with red below orange (a
    /// success rate), lower is worse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<ThresholdSpec>,
    /// A diagnostic link shown beside the value's title: a path of this UI
    /// or an http(s) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// One operand of a computed value.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperandSpec {
    /// The monitor.
    pub monitor: String,
    /// Its value name.
    pub value: String,
}

/// How a number is written.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FormatSpec {
    /// Digits after the decimal point, 0 to 6. Default: integers as they
    /// are, up to 4 significant decimals otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<usize>,
    /// Write the value as a percentage of 1 (`0.9333` → `93.33%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<bool>,
}

/// Orange and red thresholds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// From this value on, the cell is orange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orange: Option<f64>,
    /// From this value on, the cell is red.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub red: Option<f64>,
}

/// A validated dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    /// Unique name.
    pub name: String,
    /// The page's title.
    pub title: String,
    /// Default span of its reports, minutes.
    pub span_min: i64,
    /// Default granularity of its reports, minutes.
    pub granularity_min: i64,
    /// The reports, in grid order.
    pub reports: Vec<Report>,
}

/// A validated report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Title.
    pub title: String,
    /// What it shows.
    pub kind: ReportKind,
    /// Grid columns, 1 to 12.
    pub width: u32,
    /// Height in pixels, if fixed.
    pub height: Option<u32>,
    /// Where the title links to.
    pub link: Option<String>,
    /// Minutes shown.
    pub span_min: i64,
    /// Minutes per point or row.
    pub granularity_min: i64,
    /// Earlier periods of a trend, in days back (1 = yesterday, 7 = last
    /// week).
    pub compare_days: Vec<i64>,
    /// Keys of a top table.
    pub top: usize,
    /// The roll-up an archive table shows.
    pub period: Option<Period>,
    /// Sources, in column or line order.
    pub sources: Vec<Source>,
}

/// A validated data source.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Column or line title.
    pub label: String,
    /// Where the number comes from.
    pub value: SourceValue,
    /// Key filter: column and value pairs.
    pub keys: Vec<(String, String)>,
    /// How numbers are written.
    pub format: NumberFormat,
    /// Colouring, if any.
    pub thresholds: Thresholds,
    /// Diagnostic link.
    pub link: Option<String>,
}

impl Source {
    /// The monitors the source reads.
    pub fn monitors(&self) -> Vec<&str> {
        match &self.value {
            SourceValue::Value(v) => vec![v.monitor.as_str()],
            SourceValue::Computed { left, right, .. } => {
                vec![left.monitor.as_str(), right.monitor.as_str()]
            }
        }
    }
}

/// A monitor's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorValue {
    /// The monitor.
    pub monitor: String,
    /// The value name (empty for a service report's whole monitor).
    pub value: String,
}

/// Where a source's number comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceValue {
    /// One monitor's value.
    Value(MonitorValue),
    /// Two values combined.
    Computed {
        /// How.
        op: Op,
        /// The first operand.
        left: MonitorValue,
        /// The second operand.
        right: MonitorValue,
    },
}

/// How two values combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// First ÷ second (missing over zero).
    Ratio,
    /// First − second.
    Difference,
    /// First + second.
    Sum,
}

impl Op {
    /// Parses `ratio`, `difference` or `sum`.
    pub fn parse(name: &str) -> Option<Op> {
        match name {
            "ratio" => Some(Op::Ratio),
            "difference" => Some(Op::Difference),
            "sum" => Some(Op::Sum),
            _ => None,
        }
    }

    /// Applies the operation; `None` for a ratio over zero.
    pub fn apply(self, a: f64, b: f64) -> Option<f64> {
        match self {
            Op::Ratio => (b != 0.0).then(|| a / b),
            Op::Difference => Some(a - b),
            Op::Sum => Some(a + b),
        }
    }
}

/// How a number is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NumberFormat {
    /// Fixed decimals, if set.
    pub decimals: Option<usize>,
    /// As a percentage of 1.
    pub percent: bool,
}

/// Orange and red thresholds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Thresholds {
    /// Orange from here.
    pub orange: Option<f64>,
    /// Red from here.
    pub red: Option<f64>,
}

/// The colour of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Within the thresholds.
    Normal,
    /// At or beyond orange.
    Orange,
    /// At or beyond red.
    Red,
}

impl Thresholds {
    /// Whether lower values are worse: red is set below orange.
    pub fn lower_is_worse(&self) -> bool {
        matches!((self.orange, self.red), (Some(o), Some(r)) if r < o)
    }

    /// The colour of `v`.
    pub fn level(&self, v: f64) -> Level {
        let beyond = |t: f64| {
            if self.lower_is_worse() {
                v <= t
            } else {
                v >= t
            }
        };
        if self.red.is_some_and(beyond) {
            Level::Red
        } else if self.orange.is_some_and(beyond) {
            Level::Orange
        } else {
            Level::Normal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_colour_both_ways() {
        let high = Thresholds {
            orange: Some(100.0),
            red: Some(200.0),
        };
        assert_eq!(high.level(99.0), Level::Normal);
        assert_eq!(high.level(100.0), Level::Orange);
        assert_eq!(high.level(250.0), Level::Red);
        let rate = Thresholds {
            orange: Some(0.95),
            red: Some(0.9),
        };
        assert_eq!(rate.level(0.99), Level::Normal);
        assert_eq!(rate.level(0.93), Level::Orange);
        assert_eq!(rate.level(0.85), Level::Red);
        assert_eq!(Thresholds::default().level(1e9), Level::Normal);
    }

    #[test]
    fn operations() {
        assert_eq!(Op::parse("ratio").unwrap().apply(1.0, 4.0), Some(0.25));
        assert_eq!(Op::Ratio.apply(1.0, 0.0), None);
        assert_eq!(Op::Difference.apply(1.0, 4.0), Some(-3.0));
        assert_eq!(Op::parse("mean"), None);
    }
}
