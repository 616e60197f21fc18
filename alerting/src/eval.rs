//! Evaluates one rule at one minute: reads the minutes its conditions need
//! from a [`MinuteSource`], computes each condition per key and decides
//! which channels fire. Pure: no state, no clock.

use std::collections::{BTreeMap, BTreeSet};

use vigil_config::alert::{AlertRule, Channel, Condition, Match, ValueFn};
use vigil_model::MinuteRow;

use crate::value::{compute, same_local_minute, Outcome, MINUTE};

/// Longest silence a `nodata` condition measures, minutes.
pub const NODATA_CAP_MINUTES: i64 = 1440;

/// Stored minutes to evaluate on.
pub trait MinuteSource {
    /// Rows of `table` with `from_s <= minute < to_s`.
    fn rows(&self, table: &str, from_s: i64, to_s: i64) -> Result<Vec<MinuteRow>, String>;
}

/// Key column names and values, in the monitor's group-by order.
pub type Keys = Vec<(String, String)>;

/// Why a channel fires: the condition that crossed its threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    /// The computed value.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// The condition, readable.
    pub condition: String,
}

/// The result of a rule for one key at one minute.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyResult {
    /// The key (empty for a monitor without keys).
    pub keys: Keys,
    /// Channels that fire, with the crossing that decided each.
    pub channels: BTreeMap<Channel, Crossing>,
    /// Each condition's outcome, in rule order.
    pub outcomes: Vec<Outcome>,
    /// Lines attached from the minute's rows (match_alert, record_top).
    pub lines: Vec<String>,
}

impl KeyResult {
    /// Whether the rule holds for this key.
    pub fn firing(&self) -> bool {
        !self.channels.is_empty()
    }
}

/// Values of one key: value name → minute → value; plus the minutes that
/// have a row at all (for `nodata`).
#[derive(Debug, Default)]
struct KeyData {
    values: BTreeMap<String, BTreeMap<i64, f64>>,
    minutes: BTreeSet<i64>,
    lines: Vec<String>,
}

/// The half-open minute ranges `[from, to)` a condition reads at `minute`.
fn ranges(cond: &Condition, minute: i64, rule: &AlertRule) -> Vec<(i64, i64)> {
    let upto = minute + MINUTE;
    let back = |n: i64| (minute - (n - 1) * MINUTE, upto);
    let mut out = Vec::new();
    match cond.func {
        ValueFn::Current | ValueFn::CountAbove(_) => out.push(back(1)),
        ValueFn::Mom => out.push(back(2)),
        ValueFn::Dod | ValueFn::Wow => {
            out.push(back(1));
            let days = if cond.func == ValueFn::Dod { 1 } else { 7 };
            if let Some(m) = same_local_minute(minute, rule.timezone, days) {
                out.push((m, m + MINUTE));
            }
        }
        ValueFn::SumLast(n) | ValueFn::AvgLast(n) | ValueFn::MinLast(n) | ValueFn::MaxLast(n) => {
            out.push(back(i64::from(n)))
        }
        ValueFn::SumLastVsPrev(n) => out.push(back(2 * i64::from(n))),
        ValueFn::SumLastVsYesterday(n) => {
            out.push(back(i64::from(n)));
            if let Some(m) = same_local_minute(minute, rule.timezone, 1) {
                out.push((m - (i64::from(n) - 1) * MINUTE, m + MINUTE));
            }
        }
        ValueFn::NoData => out.push(back(nodata_window(cond))),
    }
    out
}

/// Minutes a `nodata` condition looks back: enough to tell its largest
/// threshold, at most [`NODATA_CAP_MINUTES`].
fn nodata_window(cond: &Condition) -> i64 {
    let most = cond.thresholds.values().copied().fold(1.0, f64::max);
    (most.ceil() as i64 + 1).clamp(1, NODATA_CAP_MINUTES)
}

/// Merges overlapping ranges.
fn merge(mut ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    ranges.sort();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (from, to) in ranges {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// Whether `keys` pass the rule's key selectors (an unnamed column is `*`).
fn selected(rule: &AlertRule, keys: &Keys) -> bool {
    keys.iter().all(|(name, value)| {
        rule.keys
            .iter()
            .find(|(n, _)| n == name)
            .is_none_or(|(_, sel)| sel.accepts(value))
    })
}

/// Evaluates `rule` at the minute starting at `minute`, reading `table`.
/// `keyed` says whether the monitor has key columns; `also` are keys to
/// evaluate even without rows (those firing before, so that they can
/// resolve). A keyed monitor silent in the whole window is evaluated once,
/// with no key, so that `nodata` sees it.
pub fn evaluate(
    rule: &AlertRule,
    table: &str,
    keyed: bool,
    minute: i64,
    source: &dyn MinuteSource,
    also: &[Keys],
) -> Result<Vec<KeyResult>, String> {
    let mut wanted = Vec::new();
    for cond in &rule.conditions {
        wanted.extend(ranges(cond, minute, rule));
    }
    let mut rows = Vec::new();
    for (from, to) in merge(wanted) {
        rows.extend(source.rows(table, from, to)?);
    }
    let counts_rows = rule
        .conditions
        .iter()
        .any(|c| matches!(c.func, ValueFn::CountAbove(_)));
    let mut data: BTreeMap<Keys, KeyData> = BTreeMap::new();
    let mut above: Vec<Vec<f64>> = vec![Vec::new(); rule.conditions.len()];
    for row in rows {
        if !selected(rule, &row.keys) {
            continue;
        }
        if counts_rows && row.minute == minute {
            for (i, cond) in rule.conditions.iter().enumerate() {
                if let Some(v) = row.value(&cond.value).and_then(|v| v.as_f64()) {
                    above[i].push(v);
                }
            }
        }
        let keys = if counts_rows {
            Vec::new()
        } else {
            row.keys.clone()
        };
        let entry = data.entry(keys).or_default();
        entry.minutes.insert(row.minute);
        if row.minute == minute {
            entry.lines.extend(row.line.iter().cloned());
            entry.lines.extend(row.lines.iter().cloned());
        }
        for (name, value) in &row.values {
            if let Some(v) = value.as_f64() {
                *entry
                    .values
                    .entry(name.clone())
                    .or_default()
                    .entry(row.minute)
                    .or_insert(0.0) += v;
            }
        }
    }
    let nodata = rule.conditions.iter().any(|c| c.func == ValueFn::NoData);
    if !keyed || counts_rows || (nodata && data.is_empty()) {
        data.entry(Vec::new()).or_default();
    }
    for keys in also {
        data.entry(keys.clone()).or_default();
    }
    let results = data
        .into_iter()
        .map(|(keys, d)| result(rule, minute, keys, &d, &above))
        .collect();
    Ok(results)
}

fn result(rule: &AlertRule, minute: i64, keys: Keys, d: &KeyData, above: &[Vec<f64>]) -> KeyResult {
    let empty = BTreeMap::new();
    let outcomes: Vec<Outcome> = rule
        .conditions
        .iter()
        .enumerate()
        .map(|(i, cond)| match cond.func {
            ValueFn::NoData => {
                let window = nodata_window(cond);
                let silent = (0..window)
                    .take_while(|k| !d.minutes.contains(&(minute - k * MINUTE)))
                    .count();
                Outcome::Value(silent as f64)
            }
            ValueFn::CountAbove(over) => {
                Outcome::Value(above[i].iter().filter(|v| **v > over).count() as f64)
            }
            func => {
                let series = d.values.get(&cond.value).unwrap_or(&empty);
                compute(func, series, minute, rule.timezone)
            }
        })
        .collect();
    let crossings: Vec<BTreeMap<Channel, Crossing>> = rule
        .conditions
        .iter()
        .zip(&outcomes)
        .map(|(cond, outcome)| {
            let Some(value) = outcome.value() else {
                return BTreeMap::new();
            };
            cond.thresholds
                .iter()
                .filter(|(_, th)| cond.op.holds(value, **th))
                .map(|(ch, th)| {
                    let crossing = Crossing {
                        value,
                        threshold: *th,
                        condition: format!("{} {th}", cond.describe()),
                    };
                    (*ch, crossing)
                })
                .collect()
        })
        .collect();
    let mut channels = BTreeMap::new();
    let holds = match rule.matching {
        Match::Any => true,
        Match::All => crossings.iter().all(|c| !c.is_empty()),
    };
    if holds {
        for crossing in crossings {
            for (ch, c) in crossing {
                channels.entry(ch).or_insert(c);
            }
        }
    }
    let mut lines = d.lines.clone();
    lines.truncate(rule.message.attach);
    KeyResult {
        keys,
        channels,
        outcomes,
        lines,
    }
}

/// A source that reads each `(table, from, to)` once and answers repeats
/// from memory: several rules of one table read the same minutes. Use it
/// for one round of evaluation, while the source does not change.
pub struct CachedSource<'a> {
    inner: &'a dyn MinuteSource,
    read: std::cell::RefCell<std::collections::HashMap<(String, i64, i64), Vec<MinuteRow>>>,
}

impl<'a> CachedSource<'a> {
    /// Caches the reads of `inner`.
    pub fn new(inner: &'a dyn MinuteSource) -> Self {
        CachedSource {
            inner,
            read: Default::default(),
        }
    }
}

impl MinuteSource for CachedSource<'_> {
    fn rows(&self, table: &str, from_s: i64, to_s: i64) -> Result<Vec<MinuteRow>, String> {
        let key = (table.to_string(), from_s, to_s);
        if let Some(rows) = self.read.borrow().get(&key) {
            return Ok(rows.clone());
        }
        let rows = self.inner.rows(table, from_s, to_s)?;
        self.read.borrow_mut().insert(key, rows.clone());
        Ok(rows)
    }
}

/// Rows held in memory, table → rows (`vigil alert-test`, tests).
impl MinuteSource for BTreeMap<String, Vec<MinuteRow>> {
    fn rows(&self, table: &str, from_s: i64, to_s: i64) -> Result<Vec<MinuteRow>, String> {
        Ok(self
            .get(table)
            .map(|rows| {
                rows.iter()
                    .filter(|r| (from_s..to_s).contains(&r.minute))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}
