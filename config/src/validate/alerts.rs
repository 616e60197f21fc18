//! Alert rules (DESIGN.md §6): a monitor's `alerts:` list, the top-level
//! `alerts:` section on the built-in monitors, the default rule pack, and
//! the checks that need every file (names in `notify`, channels that
//! notified contacts need).
//!
//! Across files: every file may have a top-level `alerts:`; their rules add
//! up (a rule name may appear once per built-in monitor), and
//! `defaults: false` in any of them switches the default pack off. Only one
//! file may have `notification:`; a second one is reported at its key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use chrono_tz::Tz;
use indexmap::IndexMap;

use super::notification::{CheckedNotification, NameKind};
use super::{Ctx, LoadOptions, Parsed};
use crate::alert::*;
use crate::error::Diagnostic;
use crate::locate::{Locator, Seg};
use crate::monitor::{Config, Kind, Monitor};
use crate::spec::*;

/// The default rule pack on the built-in monitors, validated like a user's
/// top-level `alerts:` section.
const DEFAULT_PACK: &str = include_str!("../default_alerts.yaml");

/// The name the default pack's diagnostics carry.
const DEFAULT_PACK_FILE: &str = "<built-in default_alerts.yaml>";

/// Minutes in a day: the largest `every` and `n`.
const DAY_MINUTES: i64 = 1440;

/// Lines attached to a notification unless a rule says otherwise.
const DEFAULT_ATTACH: usize = 5;

/// The value functions, as listed in messages.
const FUNCTIONS: &str = "current, mom, dod, wow, sum_last, avg_last, min_last, max_last, sum_last_vs_prev, sum_last_vs_yesterday, nodata, count_above";

/// `path` with one more step.
pub(super) fn sub(path: &[Seg], seg: impl Into<Seg>) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg.into());
    p
}

/// What a rule is checked against.
struct Target<'a> {
    /// The monitor's name.
    monitor: &'a str,
    /// Its value names; `None` for a built-in monitor, whose values come
    /// from the agents (any word is accepted).
    values: Option<Vec<String>>,
    /// Its key columns, in order.
    keys: Vec<String>,
    /// Timezone of a rule that names none.
    timezone: Tz,
    /// Whether `count_above` applies (minute_top and record_top).
    top: bool,
}

impl Ctx<'_> {
    /// Validates the `alerts:` list of a valid monitor.
    pub(super) fn monitor_alerts(
        &mut self,
        base: &[Seg],
        specs: &[AlertRuleSpec],
        m: &Monitor,
    ) -> Vec<AlertRule> {
        let path = sub(base, "alerts");
        if specs.is_empty() {
            return Vec::new();
        }
        if let Kind::Archive(a) = &m.kind {
            self.key_error(
                &path,
                format!(
                    "an archive monitor has no alert rules; put them on monitor `{}`, whose minutes it rolls up",
                    a.of
                ),
            );
            return Vec::new();
        }
        let target = Target {
            monitor: &m.name,
            values: Some(m.value_names()),
            keys: m.key_names().into_iter().map(str::to_string).collect(),
            timezone: m.source.as_ref().map_or(Tz::UTC, |s| s.timezone),
            top: matches!(m.kind, Kind::MinuteTop(_) | Kind::RecordTop(_)),
        };
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut rules = Vec::with_capacity(specs.len());
        for (k, spec) in specs.iter().enumerate() {
            let p = sub(&path, k);
            if spec.monitor.is_some() {
                self.key_error(
                    &sub(&p, "monitor"),
                    "`monitor` only belongs to rules under the top-level `alerts:`; a rule in a monitor's `alerts:` watches that monitor: remove it".to_string(),
                );
            }
            if let Some(&j) = first.get(spec.name.as_str()) {
                let line = self.loc.value(&sub(&sub(&path, j), "name")).line;
                self.error(
                    &sub(&p, "name"),
                    format!(
                        "duplicate rule name `{}` in monitor `{}` (first at line {line}); give each rule of a monitor its own name",
                        spec.name, m.name
                    ),
                );
            } else {
                first.insert(&spec.name, k);
            }
            if let Some(rule) = self.alert_rule(&p, spec, &target) {
                rules.push(rule);
            }
        }
        rules
    }

    /// Validates the rules of a top-level `alerts:` section; each resolved
    /// rule comes with where its name was written.
    fn builtin_rules(&mut self, spec: &BuiltinAlertsSpec) -> Vec<(AlertRule, Diagnostic)> {
        let path = vec![Seg::from("alerts"), Seg::from("rules")];
        let builtins: Vec<&str> = BUILTIN_MONITORS.iter().map(|b| b.name).collect();
        let mut out = Vec::with_capacity(spec.rules.len());
        for (k, r) in spec.rules.iter().enumerate() {
            let p = sub(&path, k);
            let Some(name) = &r.monitor else {
                self.error(
                    &p,
                    format!(
                        "rule `{}` names no monitor: add `monitor:` with one of {} (rules of your own monitors go in that monitor's `alerts:` list)",
                        r.name,
                        builtins.join(", ")
                    ),
                );
                continue;
            };
            let Some(b) = BUILTIN_MONITORS.iter().find(|b| b.name == name) else {
                self.error(
                    &sub(&p, "monitor"),
                    format!(
                        "`{name}` is not a built-in monitor; use one of {} (rules of your own monitors go in that monitor's `alerts:` list)",
                        builtins.join(", ")
                    ),
                );
                continue;
            };
            let target = Target {
                monitor: b.name,
                values: None,
                keys: b.keys.iter().map(|k| k.to_string()).collect(),
                timezone: Tz::UTC,
                top: false,
            };
            if let Some(rule) = self.alert_rule(&p, r, &target) {
                out.push((rule, self.diag_at(&sub(&p, "name"), String::new())));
            }
        }
        out
    }

    fn alert_rule(&mut self, path: &[Seg], spec: &AlertRuleSpec, t: &Target) -> Option<AlertRule> {
        let before = self.diags.len();
        let at = |f: &str| sub(path, f);
        if !valid_rule_name(&spec.name) {
            self.error(
                &at("name"),
                format!(
                    "rule name `{}` must start with a letter and have only letters, digits, `_` and `-` (e.g. `success_rate_low`)",
                    spec.name
                ),
            );
        }
        let level = match spec.level.as_deref() {
            None => Level::default(),
            Some(text) => Level::parse(text).unwrap_or_else(|| {
                self.error(
                    &at("level"),
                    format!("unknown level `{text}`; use P0 (most urgent), P1, P2 (the default), P3 or P4"),
                );
                Level::default()
            }),
        };
        let every = match spec.every {
            None => 1,
            Some(e) if (1..=DAY_MINUTES).contains(&e) && DAY_MINUTES % e == 0 => e as u32,
            Some(e) => {
                self.error(
                    &at("every"),
                    format!(
                        "every: {e} is not a check frequency: use a number of minutes from 1 to 1440 that divides a day (1, 2, 5, 10, 15, 30, 60, 120, …, 1440)"
                    ),
                );
                1
            }
        };
        let keys = self.rule_keys(&at("keys"), &spec.keys, t);
        let matching = match spec.matching.as_deref() {
            None | Some("any") => Match::Any,
            Some("all") => Match::All,
            Some(other) => {
                self.error(
                    &at("match"),
                    format!("unknown match `{other}`; use `any` (any condition fires) or `all` (every condition must hold)"),
                );
                Match::Any
            }
        };
        if spec.conditions.is_empty() {
            self.error(
                &at("name"),
                format!(
                    "rule `{}` has no conditions: add `conditions: [{{ value: <value>, fn: current, op: \">\", threshold: <number> }}]`",
                    spec.name
                ),
            );
        }
        let mut conditions = Vec::with_capacity(spec.conditions.len());
        for (k, c) in spec.conditions.iter().enumerate() {
            if let Some(c) = self.condition(&sub(&at("conditions"), k), c, t) {
                conditions.push(c);
            }
        }
        let mut active = Vec::with_capacity(spec.active.len());
        for (k, text) in spec.active.iter().enumerate() {
            match parse_window(text) {
                Some(w) if w.start_minute == w.end_minute => self.error(
                    &sub(&at("active"), k),
                    format!("window `{text}` is empty (it ends where it starts); leave `active` out to check at all times"),
                ),
                Some(w) => active.push(w),
                None => self.error(
                    &sub(&at("active"), k),
                    format!(
                        "invalid window `{text}`: write `HH:MM-HH:MM` in 24-hour time, such as `08:00-20:00` (it may wrap past midnight, `22:00-06:00`; `24:00` ends at midnight)"
                    ),
                ),
            }
        }
        let timezone = match &spec.timezone {
            None => t.timezone,
            Some(tz) => tz.parse::<Tz>().unwrap_or_else(|_| {
                self.error(
                    &at("timezone"),
                    format!("unknown timezone `{tz}`; use an IANA name such as Asia/Shanghai, Europe/Berlin or UTC"),
                );
                Tz::UTC
            }),
        };
        for (k, name) in spec.notify.iter().enumerate() {
            let d = self.diag_at(&sub(&at("notify"), k), String::new());
            self.notify.push((name.clone(), d));
        }
        let extract = match &spec.extract {
            None => None,
            Some(pattern) => {
                let re = self.regex(&at("extract"), pattern);
                if re
                    .as_ref()
                    .is_some_and(|re| re.capture_names().flatten().next().is_none())
                {
                    self.error(
                        &at("extract"),
                        format!("extract `{pattern}` has no named group: name the parts `text` uses, e.g. `user=(?P<user>\\w+)`"),
                    );
                }
                re
            }
        };
        if self.diags.len() > before {
            return None;
        }
        Some(AlertRule {
            name: spec.name.clone(),
            monitor: t.monitor.to_string(),
            level,
            every,
            keys,
            matching,
            conditions,
            active,
            timezone,
            notify: spec.notify.clone(),
            message: Message {
                title: spec.title.clone(),
                text: spec.text.clone(),
                extract,
                emergency: spec.emergency.clone(),
                link: spec.link.clone(),
                attach: spec.attach.unwrap_or(DEFAULT_ATTACH),
            },
        })
    }

    /// The key selection, in the monitor's key order.
    fn rule_keys(
        &mut self,
        path: &[Seg],
        keys: &IndexMap<String, KeySpec>,
        t: &Target,
    ) -> Vec<(String, KeySelector)> {
        let mut out = Vec::with_capacity(keys.len());
        for (name, spec) in keys {
            let p = sub(path, name.as_str());
            let Some(index) = t.keys.iter().position(|k| k == name) else {
                let known = if t.keys.is_empty() {
                    format!(
                        "monitor `{}` has no key columns (no group_by): remove `keys`",
                        t.monitor
                    )
                } else {
                    format!(
                        "key columns of monitor `{}`: {}",
                        t.monitor,
                        t.keys.join(", ")
                    )
                };
                self.key_error(&p, format!("unknown key column `{name}`; {known}"));
                continue;
            };
            let selector = match spec {
                KeySpec::One(v) if v.0 == "*" => KeySelector::Each,
                KeySpec::One(v) => KeySelector::Values(vec![v.0.clone()]),
                KeySpec::Many(list) if list.is_empty() => {
                    self.error(
                        &p,
                        format!("the empty list selects no `{name}`: list values, or write \"*\" for each value separately"),
                    );
                    continue;
                }
                KeySpec::Many(list) if list.iter().any(|v| v.0 == "*") => {
                    self.error(
                        &p,
                        format!("\"*\" already selects every `{name}`: write `\"*\"` alone, or list values"),
                    );
                    continue;
                }
                KeySpec::Many(list) => {
                    KeySelector::Values(list.iter().map(|v| v.0.clone()).collect())
                }
            };
            out.push((index, name.clone(), selector));
        }
        out.sort_by_key(|(index, _, _)| *index);
        out.into_iter().map(|(_, name, s)| (name, s)).collect()
    }

    fn condition(&mut self, path: &[Seg], c: &ConditionSpec, t: &Target) -> Option<Condition> {
        let before = self.diags.len();
        let at = |f: &str| sub(path, f);
        let f = c.func.as_str();
        let known = FUNCTIONS.split(", ").any(|name| name == f);
        let takes_n = matches!(
            f,
            "sum_last"
                | "avg_last"
                | "min_last"
                | "max_last"
                | "sum_last_vs_prev"
                | "sum_last_vs_yesterday"
        );
        let n = match (takes_n, c.n) {
            (true, None) => {
                self.error(
                    &at("fn"),
                    format!("`{f}` needs `n`, its number of minutes (1 to 1440): add e.g. `n: 5`"),
                );
                0
            }
            (true, Some(n)) if (1..=DAY_MINUTES).contains(&n) => n as u32,
            (true, Some(n)) => {
                self.error(
                    &at("n"),
                    format!("n: {n} is out of range; use 1 to 1440 minutes"),
                );
                0
            }
            (false, Some(_)) if known => {
                self.key_error(
                    &at("n"),
                    format!("`n` only applies to sum_last, avg_last, min_last, max_last, sum_last_vs_prev and sum_last_vs_yesterday, not to `{f}`: remove it"),
                );
                0
            }
            (false, _) => 0,
        };
        let over = match (f == "count_above", c.over) {
            (true, None) => {
                self.error(
                    &at("fn"),
                    "count_above needs `over`, the value keys or records are counted above: add e.g. `over: 1000`".to_string(),
                );
                0.0
            }
            (true, Some(v)) if !v.is_finite() => {
                self.error(&at("over"), "`over` must be a finite number".to_string());
                0.0
            }
            (true, Some(v)) => v,
            (false, Some(_)) if known => {
                self.key_error(
                    &at("over"),
                    format!("`over` only applies to count_above, not to `{f}`: remove it"),
                );
                0.0
            }
            (false, _) => 0.0,
        };
        if f == "count_above" && !t.top {
            self.error(
                &at("fn"),
                format!(
                    "count_above counts the keys or records of a minute above `over` and applies to minute_top and record_top monitors, which `{}` is not; compare a value with `fn: current` instead",
                    t.monitor
                ),
            );
        }
        let func = match f {
            "current" => Some(ValueFn::Current),
            "mom" => Some(ValueFn::Mom),
            "dod" => Some(ValueFn::Dod),
            "wow" => Some(ValueFn::Wow),
            "sum_last" => Some(ValueFn::SumLast(n)),
            "avg_last" => Some(ValueFn::AvgLast(n)),
            "min_last" => Some(ValueFn::MinLast(n)),
            "max_last" => Some(ValueFn::MaxLast(n)),
            "sum_last_vs_prev" => Some(ValueFn::SumLastVsPrev(n)),
            "sum_last_vs_yesterday" => Some(ValueFn::SumLastVsYesterday(n)),
            "nodata" => Some(ValueFn::NoData),
            "count_above" => Some(ValueFn::CountAbove(over)),
            other => {
                self.error(
                    &at("fn"),
                    format!("unknown fn `{other}`; use one of {FUNCTIONS}"),
                );
                None
            }
        };
        let value = match (f, &c.value) {
            ("nodata", Some(_)) => {
                self.key_error(
                    &at("value"),
                    "`nodata` counts minutes without lines and takes no `value`: remove it"
                        .to_string(),
                );
                String::new()
            }
            ("nodata", None) => String::new(),
            (_, None) => {
                let hint = match &t.values {
                    Some(values) => format!("one of {}", values.join(", ")),
                    None => "a value name of the built-in monitor, such as cpu_util".to_string(),
                };
                self.error(path, format!("the condition needs `value`: {hint}"));
                String::new()
            }
            (_, Some(v)) => {
                match &t.values {
                    Some(values) if !values.contains(v) => self.error(
                        &at("value"),
                        format!(
                            "unknown value `{v}` of monitor `{}`; its values: {}",
                            t.monitor,
                            values.join(", ")
                        ),
                    ),
                    None if !is_word(v) => self.error(
                        &at("value"),
                        format!("value `{v}` must be a word of letters, digits and `_` (a value name of the built-in monitor, such as cpu_util)"),
                    ),
                    _ => {}
                }
                v.clone()
            }
        };
        let op = Op::parse(&c.op);
        if op.is_none() {
            self.error(
                &at("op"),
                format!(
                    "unknown op `{}`; use one of >, >=, <, <=, ==, != (quote it: op: \">\")",
                    c.op
                ),
            );
        }
        let thresholds = self.thresholds(&at("threshold"), &c.threshold);
        if self.diags.len() > before {
            return None;
        }
        Some(Condition {
            value,
            func: func?,
            op: op?,
            thresholds,
        })
    }

    fn thresholds(&mut self, path: &[Seg], spec: &ThresholdSpec) -> BTreeMap<Channel, f64> {
        let finite = |this: &mut Self, p: &[Seg], v: f64| {
            if !v.is_finite() {
                this.error(p, "a threshold must be a finite number".to_string());
            }
        };
        match spec {
            ThresholdSpec::All(v) => {
                finite(self, path, *v);
                Channel::ALL.into_iter().map(|c| (c, *v)).collect()
            }
            ThresholdSpec::PerChannel(map) => {
                if map.is_empty() {
                    self.error(
                        path,
                        "empty threshold: write a number for every channel, or `channel: number` for some of im, sms, email, webhook".to_string(),
                    );
                }
                let mut out = BTreeMap::new();
                for (name, v) in map {
                    let p = sub(path, name.as_str());
                    match Channel::parse(name) {
                        Some(c) => {
                            finite(self, &p, *v);
                            out.insert(c, *v);
                        }
                        None => self.key_error(
                            &p,
                            format!("unknown channel `{name}`; use im, sms, email or webhook"),
                        ),
                    }
                }
                out
            }
        }
    }
}

/// Alert settings gathered file by file, checked together at the end.
#[derive(Default)]
pub(super) struct AlertLoad {
    /// The `notification:` section and where it was written.
    notification: Option<(CheckedNotification, Diagnostic)>,
    /// User rules on built-in monitors, each with where its name was written.
    builtin: Vec<(AlertRule, Diagnostic)>,
    /// Whether a file switched the default pack off.
    defaults_off: bool,
    /// Names in rules' `notify` lists, with where they were written.
    notify: Vec<(String, Diagnostic)>,
    /// Whether an `alerts:` or `notification:` section did not fit the
    /// format (the checks across files would then report false problems).
    broken: bool,
}

impl AlertLoad {
    /// Takes the alert settings of one file, after its monitors.
    pub(super) fn file(&mut self, ctx: &mut Ctx, spec: &Parsed) {
        self.broken |= spec.broken_section;
        if let Some(n) = &spec.notification {
            let here = [Seg::from("notification")];
            match &self.notification {
                Some((_, first)) => {
                    let place = format!("{}:{}", first.file.display(), first.line);
                    ctx.key_error(
                        &here,
                        format!(
                            "a second `notification:` section (the first is at {place}); keep contacts, groups, webhooks, subscriptions and channels in one file"
                        ),
                    );
                }
                None => {
                    let checked = ctx.notification(n);
                    let p = ctx.loc.key(&here);
                    let at = Diagnostic {
                        file: ctx.file.to_path_buf(),
                        line: p.line,
                        column: p.column,
                        message: String::new(),
                    };
                    self.notification = Some((checked, at));
                }
            }
        }
        if let Some(a) = &spec.alerts {
            self.defaults_off |= a.defaults == Some(false);
            for (rule, at) in ctx.builtin_rules(a) {
                let first = self
                    .builtin
                    .iter()
                    .find(|(r, _)| r.monitor == rule.monitor && r.name == rule.name);
                if let Some((_, first)) = first {
                    let mut d = at;
                    d.message = format!(
                        "duplicate rule `{}` (first at {}:{}); give each rule of a built-in monitor its own name",
                        rule.id(),
                        first.file.display(),
                        first.line
                    );
                    ctx.diags.push(d);
                } else {
                    self.builtin.push((rule, at));
                }
            }
        }
        self.notify.append(&mut ctx.notify);
    }

    /// Puts the built-in rules and the notification section into `config`
    /// and runs the checks that need every file.
    pub(super) fn finish(
        self,
        config: &mut Config,
        opts: &LoadOptions,
        diags: &mut Vec<Diagnostic>,
    ) {
        let mut rules = if self.defaults_off {
            Vec::new()
        } else {
            default_pack(opts, diags)
        };
        for (rule, _) in self.builtin {
            match rules
                .iter_mut()
                .find(|r| r.monitor == rule.monitor && r.name == rule.name)
            {
                Some(default) => *default = rule,
                None => rules.push(rule),
            }
        }
        config.builtin_alerts = rules;
        if self.broken {
            if let Some((checked, _)) = self.notification {
                config.notification = checked.notification;
            }
            return;
        }
        let checked = self.notification.map(|(c, _)| c);
        for (name, mut d) in self.notify.iter().cloned() {
            let kind = checked.as_ref().and_then(|c| c.names.get(&name));
            d.message = match kind {
                Some(NameKind::Group | NameKind::Webhook) => continue,
                Some(NameKind::Contact) => format!(
                    "notify names contact `{name}`, but notify takes groups and webhooks: put the contact in a group and name the group"
                ),
                None => match &checked {
                    Some(c) => format!(
                        "notify names `{name}`, which is no group or webhook; {}",
                        c.groups_and_webhooks()
                    ),
                    None => format!(
                        "notify names `{name}`, but no file has a `notification:` section: define group or webhook `{name}` there"
                    ),
                },
            };
            diags.push(d);
        }
        if let Some(c) = checked {
            let notified: HashSet<&str> = self.notify.iter().map(|(n, _)| n.as_str()).collect();
            diags.extend(c.missing_channels(&notified));
            config.notification = c.notification;
        }
    }
}

/// The default rule pack, resolved.
fn default_pack(opts: &LoadOptions, diags: &mut Vec<Diagnostic>) -> Vec<AlertRule> {
    let file = Path::new(DEFAULT_PACK_FILE);
    let mut ctx = Ctx {
        file,
        dir: Path::new("."),
        loc: Locator::new(DEFAULT_PACK),
        opts,
        diags: Vec::new(),
        notify: Vec::new(),
    };
    let rules = match serde_yaml_ng::from_str::<ConfigSpec>(DEFAULT_PACK) {
        Ok(spec) => ctx.builtin_rules(&spec.alerts.unwrap_or_default()),
        Err(e) => {
            ctx.error(&[], format!("the default rule pack does not parse: {e}"));
            Vec::new()
        }
    };
    diags.extend(ctx.diags);
    rules.into_iter().map(|(rule, _)| rule).collect()
}

/// A rule name: a letter, then letters, digits, `_` and `-`.
fn valid_rule_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Letters, digits and `_`, at least one.
fn is_word(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// `HH:MM-HH:MM`; the end may be `24:00`.
fn parse_window(text: &str) -> Option<TimeWindow> {
    let (start, end) = text.split_once('-')?;
    Some(TimeWindow {
        start_minute: parse_clock(start.trim(), false)?,
        end_minute: parse_clock(end.trim(), true)?,
    })
}

/// Minutes after midnight of `HH:MM`; `24:00` only as an end.
fn parse_clock(text: &str, end: bool) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (0..=23, 0..=59) => Some(h * 60 + m),
        (24, 0) if end => Some(24 * 60),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pack_is_valid() {
        let mut diags = Vec::new();
        let rules = default_pack(&LoadOptions::default(), &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        let ids: Vec<String> = rules.iter().map(AlertRule::id).collect();
        assert_eq!(
            ids,
            [
                "system/cpu_util_high",
                "system/mem_util_high",
                "system/partition_util_high",
                "agents/agent_lost",
                "agents/agent_clock_skew",
                "port/port_down"
            ]
        );
    }

    #[test]
    fn windows_parse_and_may_wrap() {
        let w = parse_window("22:00-06:00").unwrap();
        assert_eq!((w.start_minute, w.end_minute), (1320, 360));
        assert!(w.contains(23 * 60) && w.contains(0) && !w.contains(12 * 60));
        assert_eq!(parse_window("20:00-24:00").unwrap().end_minute, 1440);
        for bad in [
            "8:00-20:00",
            "08:00",
            "24:00-01:00",
            "08:60-09:00",
            "ab:cd-01:00",
        ] {
            assert!(parse_window(bad).is_none(), "{bad}");
        }
    }
}
