//! `dashboards:` (DESIGN.md §8): each file's dashboards are checked where
//! they were written (names, grid widths, report types, formats,
//! thresholds, links); the monitors, values and key columns their sources
//! name are checked once every file's monitors are known, since a dashboard
//! may show monitors of other files.

use std::collections::HashMap;

use super::alerts::sub;
use super::Ctx;
use crate::alert::BUILTIN_MONITORS;
use crate::dashboard::*;
use crate::error::Diagnostic;
use crate::locate::Seg;
use crate::monitor::{Config, Kind, Monitor, Period};

/// Default minutes a dashboard shows.
pub const DEFAULT_SPAN_MIN: i64 = 60;
/// Longest span, minutes (the 21 days minutes are kept).
pub const MAX_SPAN_MIN: i64 = 21 * 24 * 60;
/// The granularities offered, minutes.
pub const GRANULARITIES: [i64; 6] = [1, 5, 10, 15, 30, 60];
/// Default keys of a top table.
pub const DEFAULT_TOP: usize = 10;

/// What a report needs of a source's monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Any monitor with the value.
    Value,
    /// A monitor with key columns and the value.
    Keyed,
    /// A service_metrics monitor (no value needed).
    Service,
    /// A second_stat monitor with the value.
    Seconds,
    /// An archive monitor whose source has the value, rolling up this
    /// period (`None`: the report names none, already reported).
    Archive(Option<Period>),
}

/// A monitor named by a source, checked in [`DashboardLoad::finish`].
struct Reference {
    monitor: String,
    value: Option<String>,
    keys: Vec<String>,
    need: Need,
    /// Where the monitor, the value and the key filter were written.
    monitor_at: Diagnostic,
    value_at: Diagnostic,
    keys_at: Diagnostic,
}

/// Dashboards of every file, waiting for the monitors of every file.
#[derive(Default)]
pub(super) struct DashboardLoad {
    /// Names seen, with where each was written.
    names: HashMap<String, Diagnostic>,
    /// Each dashboard (`None` when its own fields have problems), with
    /// its references.
    pending: Vec<(Option<Dashboard>, Vec<Reference>)>,
}

impl DashboardLoad {
    /// Checks the dashboards of one file.
    pub(super) fn file(&mut self, ctx: &mut Ctx, specs: &[(usize, DashboardSpec)]) {
        for (i, spec) in specs {
            let base = vec![Seg::from("dashboards"), Seg::Index(*i)];
            let before = ctx.diags.len();
            self.name(ctx, &sub(&base, "name"), &spec.name);
            let mut refs = Vec::new();
            let dashboard = ctx.dashboard(&base, spec, &mut refs);
            let sound = ctx.diags.len() == before;
            self.pending.push((sound.then_some(dashboard), refs));
        }
    }

    fn name(&mut self, ctx: &mut Ctx, at: &[Seg], name: &str) {
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            ctx.error(
                at,
                format!("dashboard name `{name}` must be lowercase letters, digits and `_` only: it is the page's address (/dashboards/<name>)"),
            );
        }
        let here = ctx.diag_at(at, String::new());
        match self.names.get(name) {
            Some(first) => {
                let place = format!("{}:{}", first.file.display(), first.line);
                ctx.error(
                    at,
                    format!("duplicate dashboard name `{name}` (first defined at {place}); dashboard names must be unique across all files"),
                );
            }
            None => {
                self.names.insert(name.to_string(), here);
            }
        }
    }

    /// Checks every source's monitor, value and keys against the monitors
    /// of `config`, and adds the sound dashboards to it.
    pub(super) fn finish(self, config: &mut Config, diags: &mut Vec<Diagnostic>) {
        for (dashboard, refs) in self.pending {
            let before = diags.len();
            for r in refs {
                check_reference(config, r, diags);
            }
            if let Some(d) = dashboard.filter(|_| diags.len() == before) {
                config.dashboards.push(d);
            }
        }
    }
}

/// Reports what is wrong with one reference.
fn check_reference(config: &Config, r: Reference, diags: &mut Vec<Diagnostic>) {
    let mut report = |mut d: Diagnostic, message: String| {
        d.message = message;
        diags.push(d);
    };
    if let Some(b) = BUILTIN_MONITORS.iter().find(|b| b.name == r.monitor) {
        if r.need == Need::Service {
            report(
                r.monitor_at,
                format!("a service report needs a service_metrics monitor; `{}` is a built-in metrics monitor", r.monitor),
            );
        } else if r.need == Need::Seconds {
            report(
                r.monitor_at,
                format!("a seconds report needs a second_stat monitor; `{}` is a built-in metrics monitor", r.monitor),
            );
        }
        for k in &r.keys {
            if !b.keys.contains(&k.as_str()) {
                report(
                    r.keys_at.clone(),
                    format!(
                        "monitor `{}` has no key column `{k}`; its keys are {}",
                        r.monitor,
                        b.keys.join(", ")
                    ),
                );
            }
        }
        return;
    }
    let Some(m) = config.monitor(&r.monitor) else {
        let names: Vec<&str> = config.monitors.iter().map(|m| m.name.as_str()).collect();
        report(
            r.monitor_at,
            format!(
                "no monitor is named `{}`; name one of: {}, or a built-in one (system, jvm, port)",
                r.monitor,
                names.join(", ")
            ),
        );
        return;
    };
    // An archive has the keys and values of the monitor it rolls up.
    let archive = match &m.kind {
        Kind::Archive(a) => Some(a),
        _ => None,
    };
    let of: &Monitor = archive.and_then(|a| config.monitor(&a.of)).unwrap_or(m);
    let values = of.value_names();
    let key_names = of.key_names();
    match (r.need, archive) {
        (Need::Archive(_), None) => report(
            r.monitor_at.clone(),
            format!(
                "an archive report needs an archive monitor; `{}` is a {}",
                m.name,
                m.kind.name()
            ),
        ),
        (Need::Archive(Some(p)), Some(a)) if !a.periods.contains(&p) => {
            let periods: Vec<&str> = a.periods.iter().map(|p| p.name()).collect();
            report(
                r.monitor_at.clone(),
                format!(
                    "archive `{}` rolls up {}, not the report's period `{}`",
                    m.name,
                    periods.join(", "),
                    p.name()
                ),
            );
        }
        (Need::Archive(_), Some(_)) => {}
        (_, Some(_)) => report(
            r.monitor_at.clone(),
            format!(
                "monitor `{}` is an archive (hour, day or week roll-ups); show it with an archive report",
                m.name
            ),
        ),
        (_, None) => {}
    }
    match r.need {
        Need::Service if !matches!(m.kind, Kind::ServiceMetrics(_)) => report(
            r.monitor_at.clone(),
            format!(
                "a service report needs a service_metrics monitor; `{}` is a {}",
                m.name,
                m.kind.name()
            ),
        ),
        Need::Seconds if !matches!(m.kind, Kind::SecondStat(_)) => report(
            r.monitor_at.clone(),
            format!(
                "a seconds report needs a second_stat monitor; `{}` is a {}",
                m.name,
                m.kind.name()
            ),
        ),
        Need::Keyed if key_names.is_empty() => report(
            r.monitor_at.clone(),
            format!(
                "this report shows one row or column per key, but monitor `{}` has no group_by; use a keyed monitor or a last_minutes report",
                m.name
            ),
        ),
        _ => {}
    }
    if let Some(v) = &r.value {
        if !values.contains(v) {
            report(
                r.value_at,
                format!(
                    "monitor `{}` has no value `{v}`; its values are {}",
                    m.name,
                    values.join(", ")
                ),
            );
        }
    }
    for k in &r.keys {
        if !key_names.contains(&k.as_str()) {
            let known = if key_names.is_empty() {
                "it has no key columns".to_string()
            } else {
                format!("its keys are {}", key_names.join(", "))
            };
            report(
                r.keys_at.clone(),
                format!("monitor `{}` has no key column `{k}`; {known}", m.name),
            );
        }
    }
}

impl Ctx<'_> {
    /// Resolves a dashboard's own fields, collecting its references.
    fn dashboard(
        &mut self,
        base: &[Seg],
        spec: &DashboardSpec,
        refs: &mut Vec<Reference>,
    ) -> Dashboard {
        let span_min = self
            .dashboard_span(&sub(base, "span"), spec.span)
            .unwrap_or(DEFAULT_SPAN_MIN);
        let granularity_min = self
            .dashboard_granularity(&sub(base, "granularity"), spec.granularity)
            .unwrap_or(1);
        if spec.reports.is_empty() {
            self.key_error(
                &sub(base, "reports"),
                "a dashboard needs at least one report".to_string(),
            );
        }
        let reports = spec
            .reports
            .iter()
            .enumerate()
            .map(|(j, r)| {
                let at = sub(&sub(base, "reports"), j);
                self.report(&at, r, span_min, granularity_min, refs)
            })
            .collect();
        Dashboard {
            name: spec.name.clone(),
            title: spec.title.clone().unwrap_or_else(|| spec.name.clone()),
            span_min,
            granularity_min,
            reports,
        }
    }

    fn dashboard_span(&mut self, at: &[Seg], span: Option<i64>) -> Option<i64> {
        let s = span?;
        if !(1..=MAX_SPAN_MIN).contains(&s) {
            self.error(
                at,
                format!(
                    "span is minutes from 1 to {MAX_SPAN_MIN} (21 days, what is kept), not {s}"
                ),
            );
            return None;
        }
        Some(s)
    }

    fn dashboard_granularity(&mut self, at: &[Seg], g: Option<i64>) -> Option<i64> {
        let g = g?;
        if !GRANULARITIES.contains(&g) {
            self.error(
                at,
                format!("granularity is minutes per point: one of 1, 5, 10, 15, 30, 60, not {g}"),
            );
            return None;
        }
        Some(g)
    }

    fn dashboard_link(&mut self, at: &[Seg], link: &Option<String>) -> Option<String> {
        let l = link.as_ref()?;
        let ok = (l.starts_with('/') && !l.starts_with("//"))
            || l.starts_with("http://")
            || l.starts_with("https://");
        if !ok {
            self.error(
                at,
                format!("link `{l}` must be a path of this UI (`/monitors/…`) or an http(s) URL"),
            );
            return None;
        }
        Some(l.clone())
    }

    fn report(
        &mut self,
        at: &[Seg],
        spec: &ReportSpec,
        dashboard_span: i64,
        dashboard_granularity: i64,
        refs: &mut Vec<Reference>,
    ) -> Report {
        let width = spec.width.unwrap_or(12);
        if !(1..=12).contains(&width) {
            self.error(
                &sub(at, "width"),
                format!("width is columns of the 12-column grid, 1 to 12 (12 is a full row, 6 half), not {width}"),
            );
        }
        if let Some(h) = spec.height {
            if !(100..=2000).contains(&h) {
                self.error(
                    &sub(at, "height"),
                    format!("height is pixels from 100 to 2000, not {h}"),
                );
            }
        }
        let mut compare_days = Vec::new();
        for (k, c) in spec.compare.iter().enumerate() {
            match c.as_str() {
                "yesterday" => compare_days.push(1),
                "week" => compare_days.push(7),
                other => self.error(
                    &sub(&sub(at, "compare"), k),
                    format!("compare with `yesterday` or `week`, not `{other}`"),
                ),
            }
        }
        if !spec.compare.is_empty() && spec.kind != ReportKind::Trend {
            self.key_error(
                &sub(at, "compare"),
                format!("only trend reports compare with earlier periods; remove `compare` from this {} report", spec.kind.name()),
            );
        }
        if spec.top.is_some() && spec.kind != ReportKind::Top {
            self.key_error(
                &sub(at, "top"),
                format!(
                    "`top` is the length of a top report; remove it from this {} report",
                    spec.kind.name()
                ),
            );
        }
        let period = self.report_period(at, spec);
        let top = spec.top.unwrap_or(DEFAULT_TOP);
        if top == 0 || top > 1000 {
            self.error(&sub(at, "top"), format!("top is 1 to 1000 keys, not {top}"));
        }
        let single = matches!(
            spec.kind,
            ReportKind::KeysAcross | ReportKind::Top | ReportKind::Service
        );
        if spec.sources.is_empty() || (single && spec.sources.len() > 1) {
            let many = if single {
                "exactly one source"
            } else {
                "at least one source"
            };
            self.key_error(
                &sub(at, "sources"),
                format!("a {} report needs {many}", spec.kind.name()),
            );
        }
        let need = match spec.kind {
            ReportKind::Service => Need::Service,
            ReportKind::CurrentKeys
            | ReportKind::MinutesKeys
            | ReportKind::KeysAcross
            | ReportKind::Top => Need::Keyed,
            ReportKind::LastMinutes | ReportKind::Trend => Need::Value,
            ReportKind::Seconds => Need::Seconds,
            ReportKind::Archive => Need::Archive(period),
        };
        let sources = spec
            .sources
            .iter()
            .enumerate()
            .filter_map(|(k, s)| self.data_source(&sub(&sub(at, "sources"), k), s, need, refs))
            .collect();
        Report {
            title: spec.title.clone(),
            kind: spec.kind,
            width,
            height: spec.height,
            link: self.dashboard_link(&sub(at, "link"), &spec.link),
            span_min: self
                .dashboard_span(&sub(at, "span"), spec.span)
                .unwrap_or_else(|| spec.kind.default_span(dashboard_span, period)),
            granularity_min: self
                .dashboard_granularity(&sub(at, "granularity"), spec.granularity)
                .unwrap_or(dashboard_granularity),
            compare_days,
            top,
            period,
            sources,
        }
    }

    /// The roll-up of an archive report: required there, refused elsewhere.
    fn report_period(&mut self, at: &[Seg], spec: &ReportSpec) -> Option<Period> {
        match (&spec.period, spec.kind) {
            (None, ReportKind::Archive) => {
                self.error(
                    at,
                    "an archive report needs `period: hour`, `day` or `week`".to_string(),
                );
                None
            }
            (Some(_), kind) if kind != ReportKind::Archive => {
                self.key_error(
                    &sub(at, "period"),
                    format!(
                        "`period` picks the roll-up of an archive report; remove it from this {} report",
                        kind.name()
                    ),
                );
                None
            }
            (Some(p), _) => {
                let period = Period::parse(p);
                if period.is_none() {
                    self.error(
                        &sub(at, "period"),
                        format!("period is `hour`, `day` or `week`, not `{p}`"),
                    );
                }
                period
            }
            (None, _) => None,
        }
    }

    fn data_source(
        &mut self,
        at: &[Seg],
        spec: &SourceSpec,
        need: Need,
        refs: &mut Vec<Reference>,
    ) -> Option<Source> {
        let keys: Vec<(String, String)> = spec
            .keys
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let key_names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
        let mut reference =
            |ctx: &mut Self, path: &[Seg], monitor: &str, value: Option<&str>, need: Need| {
                refs.push(Reference {
                    monitor: monitor.to_string(),
                    value: value.map(str::to_string),
                    keys: key_names.clone(),
                    need,
                    monitor_at: ctx.diag_at(&sub(path, "monitor"), String::new()),
                    value_at: ctx.diag_at(&sub(path, "value"), String::new()),
                    keys_at: ctx.diag_at(&sub(at, "keys"), String::new()),
                });
            };
        let value = match (&spec.op, &spec.monitor) {
            (Some(op_name), None) => {
                let op = Op::parse(op_name);
                if op.is_none() {
                    self.error(
                        &sub(at, "op"),
                        format!("op is `ratio`, `difference` or `sum`, not `{op_name}`"),
                    );
                }
                if spec.value.is_some() {
                    self.key_error(
                        &sub(at, "value"),
                        "a computed source takes its values from `of`; remove `value`".to_string(),
                    );
                }
                if need == Need::Service {
                    self.key_error(
                        &sub(at, "op"),
                        "a service report shows one service_metrics monitor; name it with `monitor`".to_string(),
                    );
                }
                let [left, right] = spec.of.as_slice() else {
                    self.key_error(
                        &sub(at, "of"),
                        format!("`{op_name}` takes exactly two operands in `of`, each {{monitor, value}}"),
                    );
                    return None;
                };
                for (k, o) in [left, right].into_iter().enumerate() {
                    let path = sub(&sub(at, "of"), k);
                    let operand_need = match need {
                        Need::Keyed if k == 0 => Need::Keyed,
                        Need::Seconds | Need::Archive(_) => need,
                        _ => Need::Value,
                    };
                    reference(self, &path, &o.monitor, Some(&o.value), operand_need);
                }
                let mv = |o: &OperandSpec| MonitorValue {
                    monitor: o.monitor.clone(),
                    value: o.value.clone(),
                };
                SourceValue::Computed {
                    op: op?,
                    left: mv(left),
                    right: mv(right),
                }
            }
            (None, Some(monitor)) => {
                if !spec.of.is_empty() {
                    self.key_error(
                        &sub(at, "of"),
                        "`of` lists the operands of `op`; add `op: ratio` (or difference, sum) or remove `of`".to_string(),
                    );
                }
                if spec.value.is_none() && need != Need::Service {
                    self.error(
                        at,
                        format!("source of monitor `{monitor}` names no value: add `value:` with one of the monitor's values"),
                    );
                    return None;
                }
                reference(self, at, monitor, spec.value.as_deref(), need);
                SourceValue::Value(MonitorValue {
                    monitor: monitor.clone(),
                    value: spec.value.clone().unwrap_or_default(),
                })
            }
            (Some(_), Some(_)) => {
                self.key_error(
                    &sub(at, "monitor"),
                    "a source is either a monitor's value (`monitor`, `value`) or computed (`op`, `of`), not both".to_string(),
                );
                return None;
            }
            (None, None) => {
                self.error(
                    at,
                    "a source needs `monitor` and `value`, or `op` and `of`".to_string(),
                );
                return None;
            }
        };
        let format = spec.format.clone().unwrap_or_default();
        if format.decimals.is_some_and(|d| d > 6) {
            self.error(
                &sub(&sub(at, "format"), "decimals"),
                "decimals is 0 to 6".to_string(),
            );
        }
        let t = spec.thresholds.clone().unwrap_or_default();
        if spec.thresholds.is_some() && t.orange.is_none() && t.red.is_none() {
            self.error(
                &sub(at, "thresholds"),
                "thresholds need `orange`, `red` or both".to_string(),
            );
        }
        let label = spec.label.clone().unwrap_or_else(|| match &value {
            SourceValue::Value(v) if !v.value.is_empty() => v.value.clone(),
            SourceValue::Value(v) => v.monitor.clone(),
            SourceValue::Computed { left, right, op } => {
                let sign = match op {
                    Op::Ratio => "/",
                    Op::Difference => "-",
                    Op::Sum => "+",
                };
                format!("{} {sign} {}", left.value, right.value)
            }
        });
        Some(Source {
            label,
            value,
            keys,
            format: NumberFormat {
                decimals: format.decimals,
                percent: format.percent.unwrap_or(false),
            },
            thresholds: Thresholds {
                orange: t.orange,
                red: t.red,
            },
            link: self.dashboard_link(&sub(at, "link"), &spec.link),
        })
    }
}
