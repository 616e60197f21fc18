//! Loading and validation: YAML text -> [`ConfigSpec`] -> [`Config`].
//! Every problem is collected (not just the first), each with the file, line
//! and column it concerns and a sentence that says how to fix it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::error::{Diagnostic, Error};
use crate::locate::{Locator, Seg};
use crate::monitor::*;
use crate::spec::*;
use crate::time_format::TimeFormat;

mod alerts;
mod apps;
mod dashboards;
mod notification;

/// Default distinct keys per minute.
pub const DEFAULT_KEY_LIMIT: usize = 10_000;
/// Default lateness window, seconds.
pub const DEFAULT_LATENESS_SECS: i64 = 120;
/// Default longest line, bytes.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;
/// Default most lines of one multi-line event.
pub const DEFAULT_MULTILINE_MAX_LINES: usize = 500;

/// Settings that come from the machine rather than from the file.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Timezone of sources that do not name one.
    pub default_timezone: chrono_tz::Tz,
    /// Checks a strftime pattern; returns a message when it is invalid.
    /// (The collector owns time parsing, so it supplies the check.)
    pub check_strftime: fn(&str) -> Result<(), String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_timezone: chrono_tz::Tz::UTC,
            check_strftime: |_| Ok(()),
        }
    }
}

/// Loads a file, or every `*.yaml` / `*.yml` file of a folder (in name order).
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Config, Error> {
    let files = config_files(path)?;
    let mut texts = Vec::with_capacity(files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })?;
        texts.push((file, text));
    }
    load_texts(&texts, opts)
}

/// The configuration files named by `path` (a file, or a folder's YAML files).
pub fn config_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_dir() {
        std::fs::metadata(path).map_err(io)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let p = entry.map_err(io)?.path();
        let yaml = matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml") | Some("yml")
        );
        if yaml && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::NoFiles(path.to_path_buf()));
    }
    Ok(files)
}

/// Validates configuration texts, each with the file it came from (used for
/// positions in errors and to resolve relative source paths).
pub fn load_texts(texts: &[(PathBuf, String)], opts: &LoadOptions) -> Result<Config, Error> {
    let mut diags = Vec::new();
    let mut config = Config::default();
    let mut seen: HashMap<String, Diagnostic> = HashMap::new();
    let mut app_names: HashMap<String, Diagnostic> = HashMap::new();
    let mut archives = Vec::new();
    let mut alert_load = alerts::AlertLoad::default();
    let mut dashboard_load = dashboards::DashboardLoad::default();
    for (file, text) in texts {
        let loc = Locator::new(text);
        let (spec, shape_errors) = match parse_spec(file, text, &loc) {
            Ok(parsed) => parsed,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        diags.extend(shape_errors);
        let mut ctx = Ctx {
            file,
            dir: file.parent().unwrap_or(Path::new(".")),
            loc,
            opts,
            diags: Vec::new(),
            notify: Vec::new(),
        };
        for (i, m) in &spec.monitors {
            let base = [Seg::from("monitors"), Seg::Index(*i)];
            ctx.add_monitor(&base, m, &mut seen, &mut archives, &mut config);
        }
        for (k, entry) in &spec.apps {
            let Some((app, monitors)) = ctx.app(*k, entry, &mut app_names) else {
                continue;
            };
            let before = ctx.diags.len();
            for (base, m) in &monitors {
                ctx.add_monitor(base, m, &mut seen, &mut archives, &mut config);
            }
            ctx.dedup_since(before);
            config.apps.push(app);
        }
        alert_load.file(&mut ctx, &spec);
        dashboard_load.file(&mut ctx, &spec.dashboards);
        diags.extend(ctx.diags);
    }
    alert_load.finish(&mut config, opts, &mut diags);
    dashboard_load.finish(&mut config, &mut diags);
    for (of, mut d) in archives {
        match config.monitor(&of).map(|m| &m.kind) {
            None => {
                d.message = format!(
                    "archive.of names `{of}`, which is not a monitor; name one of the monitors defined in the configuration"
                );
                diags.push(d);
            }
            Some(Kind::Archive(_)) => {
                d.message = format!(
                    "archive.of names `{of}`, which is itself an archive; roll up a minute monitor instead"
                );
                diags.push(d);
            }
            Some(_) => {}
        }
    }
    if diags.is_empty() {
        Ok(config)
    } else {
        diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        Err(Error::Invalid(diags))
    }
}

/// The top level of a file, with each monitor and section kept as YAML so
/// that one malformed part does not hide the errors of the others.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Shape {
    #[serde(default)]
    monitors: Vec<serde_yaml_ng::Value>,
    #[serde(default)]
    apps: Vec<serde_yaml_ng::Value>,
    #[serde(default)]
    alerts: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    notification: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    dashboards: Vec<serde_yaml_ng::Value>,
}

/// The parts of a file that fit the format.
#[derive(Default)]
struct Parsed {
    /// Monitors, each with its index in the file.
    monitors: Vec<(usize, MonitorSpec)>,
    /// `apps:` entries, each with its index in the file.
    apps: Vec<(usize, crate::apps::AppSpec)>,
    /// The top-level `alerts:` section.
    alerts: Option<BuiltinAlertsSpec>,
    /// The `notification:` section.
    notification: Option<NotificationSpec>,
    /// Dashboards, each with its index in the file.
    dashboards: Vec<(usize, crate::dashboard::DashboardSpec)>,
    /// Whether a top-level section was present but did not fit the format
    /// (checks that need it whole are then skipped).
    broken_section: bool,
}

/// Parses a file: a syntax or top-level error is returned alone; each
/// monitor or section that does not fit the format becomes a diagnostic
/// and is left out.
fn parse_spec(
    file: &Path,
    text: &str,
    loc: &Locator,
) -> Result<(Parsed, Vec<Diagnostic>), Diagnostic> {
    // The direct read keeps scalars as written; the per-monitor read below
    // (through YAML values) only serves to report every shape error.
    if let Ok(spec) = serde_yaml_ng::from_str::<ConfigSpec>(text) {
        let parsed = Parsed {
            monitors: spec.monitors.into_iter().enumerate().collect(),
            apps: spec.apps.into_iter().enumerate().collect(),
            alerts: spec.alerts,
            notification: spec.notification,
            dashboards: spec.dashboards.into_iter().enumerate().collect(),
            broken_section: false,
        };
        return Ok((parsed, Vec::new()));
    }
    let shape: Shape = serde_yaml_ng::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            message: yaml_message(&e.to_string()),
        }
    })?;
    let mut parsed = Parsed::default();
    let mut diags = Vec::new();
    // Places serde's error about a part of the file at that part (or at the
    // unknown field it names).
    let mut shape_error = |base: &[Seg], what: &str, e: serde_yaml_ng::Error| {
        let message = yaml_message(&e.to_string());
        let field = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next());
        let pos = field
            .and_then(|f| loc.key_named(base, f))
            .unwrap_or_else(|| loc.value(base));
        diags.push(Diagnostic {
            file: file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            message: format!("{what}: {message}"),
        });
    };
    for (i, value) in shape.monitors.into_iter().enumerate() {
        match serde_yaml_ng::from_value::<MonitorSpec>(value) {
            Ok(m) => parsed.monitors.push((i, m)),
            Err(e) => shape_error(
                &[Seg::from("monitors"), Seg::Index(i)],
                &format!("monitor {}", i + 1),
                e,
            ),
        }
    }
    for (i, value) in shape.apps.into_iter().enumerate() {
        match serde_yaml_ng::from_value::<crate::apps::AppSpec>(value) {
            Ok(a) => parsed.apps.push((i, a)),
            Err(e) => shape_error(
                &[Seg::from("apps"), Seg::Index(i)],
                &format!("app {}", i + 1),
                e,
            ),
        }
    }
    if let Some(value) = shape.alerts {
        match serde_yaml_ng::from_value::<Option<BuiltinAlertsSpec>>(value) {
            Ok(a) => parsed.alerts = a,
            Err(e) => {
                parsed.broken_section = true;
                shape_error(&[Seg::from("alerts")], "alerts", e);
            }
        }
    }
    for (i, value) in shape.dashboards.into_iter().enumerate() {
        match serde_yaml_ng::from_value::<crate::dashboard::DashboardSpec>(value) {
            Ok(d) => parsed.dashboards.push((i, d)),
            Err(e) => shape_error(
                &[Seg::from("dashboards"), Seg::Index(i)],
                &format!("dashboard {}", i + 1),
                e,
            ),
        }
    }
    if let Some(value) = shape.notification {
        match serde_yaml_ng::from_value::<Option<NotificationSpec>>(value) {
            Ok(n) => parsed.notification = n,
            Err(e) => {
                parsed.broken_section = true;
                shape_error(&[Seg::from("notification")], "notification", e);
            }
        }
    }
    Ok((parsed, diags))
}

/// Makes serde's messages read as advice ("unknown field `x`, expected one of …").
fn yaml_message(raw: &str) -> String {
    // serde_yaml_ng appends " at line L column C"; the position is reported separately.
    let msg = match raw.find(" at line ") {
        Some(i) => &raw[..i],
        None => raw,
    };
    if msg.contains("did not match any variant of untagged enum StatSpec") {
        return "invalid statistic: write `count` or a map with one of sum, avg, min, max, occurrences (with optional `in`, `as`) or ratio: [a, b]".to_string();
    }
    format!("{msg}; see `vigil schema` for the format")
}

struct Ctx<'a> {
    file: &'a Path,
    dir: &'a Path,
    loc: Locator,
    opts: &'a LoadOptions,
    diags: Vec<Diagnostic>,
    /// Names in rules' `notify` lists, each with where it was written;
    /// checked once every file's `notification:` is known.
    notify: Vec<(String, Diagnostic)>,
}

/// Column lookup with the monitor's column names.
struct Columns<'a> {
    names: Vec<&'a str>,
    types: Vec<ColumnType>,
}

impl Columns<'_> {
    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    fn known(&self) -> String {
        if self.names.is_empty() {
            "the monitor defines no columns".to_string()
        } else {
            format!("defined columns: {}", self.names.join(", "))
        }
    }
}

impl Ctx<'_> {
    fn diag_at(&self, path: &[Seg], message: String) -> Diagnostic {
        let p = self.loc.value(path);
        Diagnostic {
            file: self.file.to_path_buf(),
            line: p.line,
            column: p.column,
            message,
        }
    }

    fn error(&mut self, path: &[Seg], message: String) {
        let d = self.diag_at(path, message);
        self.diags.push(d);
    }

    fn key_error(&mut self, path: &[Seg], message: String) {
        let p = self.loc.key(path);
        self.diags.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: p.line,
            column: p.column,
            message,
        });
    }

    /// Resolves a column name used at `path`, reporting an unknown one.
    fn column(&mut self, cols: &Columns, path: &[Seg], name: &str, what: &str) -> Option<usize> {
        let found = cols.index(name);
        if found.is_none() {
            self.error(
                path,
                format!("unknown column `{name}` in {what}; {}", cols.known()),
            );
        }
        found
    }

    /// Resolves a numeric column used at `path`.
    fn numeric(&mut self, cols: &Columns, path: &[Seg], name: &str, what: &str) -> Option<usize> {
        let i = self.column(cols, path, name, what)?;
        if !cols.types[i].is_numeric() {
            self.error(
                path,
                format!(
                    "{what} needs a numeric column, but `{name}` is a string; add `type: int` or `type: float` to column `{name}`"
                ),
            );
            return None;
        }
        Some(i)
    }

    /// Validates a monitor and adds it to `config`, reporting a name that
    /// an earlier monitor has (`seen`) and collecting the `archive.of` names
    /// to check once every monitor is known. `base` is where the monitor was
    /// written: `monitors[i]`, or the `apps:` entry a preset made it for.
    fn add_monitor(
        &mut self,
        base: &[Seg],
        m: &MonitorSpec,
        seen: &mut HashMap<String, Diagnostic>,
        archives: &mut Vec<(String, Diagnostic)>,
        config: &mut Config,
    ) {
        let mut at = base.to_vec();
        at.push(Seg::from("name"));
        let here = self.diag_at(&at, String::new());
        if let Some(first) = seen.get(&m.name) {
            let place = if first.file == self.file {
                format!("line {}", first.line)
            } else {
                format!("{}:{}", first.file.display(), first.line)
            };
            self.error(
                &at,
                format!(
                    "duplicate monitor name `{}` (first defined at {place}); monitor names must be unique across all files",
                    m.name
                ),
            );
        } else {
            seen.insert(m.name.clone(), here);
        }
        if let Some(monitor) = self.monitor(base, m) {
            if let Kind::Archive(a) = &monitor.kind {
                let mut of_at = base.to_vec();
                of_at.extend([Seg::from("archive"), Seg::from("of")]);
                archives.push((a.of.clone(), self.diag_at(&of_at, String::new())));
            }
            config.monitors.push(monitor);
        }
    }

    fn monitor(&mut self, base: &[Seg], m: &MonitorSpec) -> Option<Monitor> {
        let at = |segs: &[Seg]| -> Vec<Seg> {
            let mut p = base.to_vec();
            p.extend_from_slice(segs);
            p
        };
        let before = self.diags.len();
        if m.name.is_empty()
            || !m
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            self.error(
                &at(&["name".into()]),
                format!(
                    "monitor name `{}` must be lowercase letters, digits and `_` only (e.g. `trade_by_product`)",
                    m.name
                ),
            );
        }
        self.kind_fields(m, base);

        // Columns.
        let mut columns = Vec::with_capacity(m.columns.len());
        for (name, c) in &m.columns {
            let p = at(&["columns".into(), name.as_str().into()]);
            if let Some(col) = self.column_spec(&p, name, c) {
                columns.push(col);
            }
        }
        let cols = Columns {
            names: m.columns.keys().map(|s| s.as_str()).collect(),
            types: m.columns.values().map(|c| column_type(c.ty)).collect(),
        };

        let is_archive = m.kind == KindSpec::Archive;
        let source = match (&m.source, is_archive) {
            (Some(s), false) => self.source(&at(&["source".into()]), s),
            (None, false) => {
                self.error(
                    &at(&["name".into()]),
                    "missing `source`: add `source: { paths: [path/to/file.log] }`".to_string(),
                );
                None
            }
            (_, true) => None,
        };
        let time = match (&m.time, is_archive) {
            (Some(t), false) => self.time(&at(&["time".into()]), t, &cols),
            (None, false) => {
                self.error(
                    &at(&["name".into()]),
                    "missing `time`: add `time: { column: <column>, format: normal }` naming the column that holds each line's time".to_string(),
                );
                None
            }
            (_, true) => None,
        };

        let include = self.filters(&at(&["include".into()]), &m.include, &cols);
        let exclude = self.filters(&at(&["exclude".into()]), &m.exclude, &cols);

        let mut group_by = Vec::with_capacity(m.group_by.len());
        let mut seen = HashSet::new();
        for (k, name) in m.group_by.iter().enumerate() {
            let p = at(&["group_by".into(), k.into()]);
            if !seen.insert(name) {
                self.error(
                    &p,
                    format!("column `{name}` appears twice in group_by; list each key column once"),
                );
                continue;
            }
            if let Some(c) = self.column(&cols, &p, name, "group_by") {
                group_by.push(c);
            }
        }

        let kind = self.kind(base, m, &cols);
        let key_limit = m.key_limit.unwrap_or(DEFAULT_KEY_LIMIT);
        if key_limit == 0 {
            self.error(
                &at(&["key_limit".into()]),
                "key_limit must be at least 1".to_string(),
            );
        }
        let lateness_secs = match &m.lateness {
            None => DEFAULT_LATENESS_SECS,
            Some(s) => match parse_duration_secs(&s.0) {
                Some(v) => v,
                None => {
                    self.error(
                        &at(&["lateness".into()]),
                        format!("invalid lateness `{}`: write seconds (`120`) or a duration such as `90s`, `2m`, `1h`", s.0),
                    );
                    0
                }
            },
        };
        if self.diags.len() > before {
            return None;
        }
        let mut monitor = Monitor {
            name: m.name.clone(),
            app: m.app.clone(),
            kind: kind?,
            source,
            time,
            columns,
            include,
            exclude,
            group_by,
            key_limit,
            lateness_secs,
            alerts: Vec::new(),
        };
        // Rules are checked against the resolved monitor (its value and key
        // names), so only once the monitor itself is valid.
        monitor.alerts = self.monitor_alerts(base, &m.alerts, &monitor);
        if self.diags.len() > before {
            return None;
        }
        Some(monitor)
    }

    /// Reports settings that do not apply to the monitor's kind.
    fn kind_fields(&mut self, m: &MonitorSpec, base: &[Seg]) {
        let kind = m.kind;
        let stats_kinds = [
            KindSpec::MinuteStat,
            KindSpec::SecondStat,
            KindSpec::MinuteTop,
        ];
        let checks: [(&str, bool, &[KindSpec]); 5] = [
            ("stats", !m.stats.is_empty(), &stats_kinds),
            ("service", m.service.is_some(), &[KindSpec::ServiceMetrics]),
            (
                "top",
                m.top.is_some(),
                &[KindSpec::MinuteTop, KindSpec::RecordTop],
            ),
            ("match", m.match_alert.is_some(), &[KindSpec::MatchAlert]),
            ("archive", m.archive.is_some(), &[KindSpec::Archive]),
        ];
        for (field, present, kinds) in checks {
            if present && !kinds.contains(&kind) {
                let names: Vec<&str> = kinds.iter().map(|k| kind_name(*k)).collect();
                let mut p = base.to_vec();
                p.push(field.into());
                self.key_error(
                    &p,
                    format!(
                        "`{field}` does not apply to a {} monitor (only to {}); remove it or change `kind`",
                        kind_name(kind),
                        names.join(", ")
                    ),
                );
            }
        }
    }

    fn kind(&mut self, base: &[Seg], m: &MonitorSpec, cols: &Columns) -> Option<Kind> {
        let at = |segs: &[Seg]| -> Vec<Seg> {
            let mut p = base.to_vec();
            p.extend_from_slice(segs);
            p
        };
        let missing = |this: &mut Self, field: &str, example: &str| {
            this.error(
                &at(&["kind".into()]),
                format!(
                    "a {} monitor needs `{field}`: add {example}",
                    kind_name(m.kind)
                ),
            );
            None
        };
        match m.kind {
            KindSpec::MinuteStat | KindSpec::SecondStat => {
                let stats = self.stats(&at(&["stats".into()]), &m.stats, cols);
                if m.kind == KindSpec::MinuteStat {
                    Some(Kind::MinuteStat(stats))
                } else {
                    Some(Kind::SecondStat(stats))
                }
            }
            KindSpec::ServiceMetrics => {
                let Some(s) = &m.service else {
                    return missing(self, "service", "`service: { result: <column>, success: Y, count: <column>, elapsed: <column> }`");
                };
                let p = at(&["service".into()]);
                let sub = |f: &str| {
                    let mut q = p.clone();
                    q.push(f.into());
                    q
                };
                let result = self.column(cols, &sub("result"), &s.result, "service.result");
                let count = match &s.count {
                    Some(c) => {
                        let i = self.column(cols, &sub("count"), c, "service.count");
                        if let Some(i) = i {
                            if cols.types[i] != ColumnType::Int {
                                self.error(&sub("count"), format!("service.count needs an int column; add `type: int` to column `{c}`"));
                            }
                        }
                        i
                    }
                    None => None,
                };
                let elapsed = match &s.elapsed {
                    Some(c) => self.numeric(cols, &sub("elapsed"), c, "service.elapsed"),
                    None => None,
                };
                let success = split_values(s.success.as_ref().map_or("Y", |v| v.0.as_str()));
                Some(Kind::ServiceMetrics(Service {
                    result: result?,
                    success,
                    count,
                    elapsed,
                }))
            }
            KindSpec::MinuteTop => {
                let stats = self.stats(&at(&["stats".into()]), &m.stats, cols);
                let Some(t) = &m.top else {
                    return missing(self, "top", "`top: { by: <value name>, n: 10 }`");
                };
                let names = stats.value_names();
                let by = names.iter().position(|n| *n == t.by);
                if by.is_none() {
                    self.error(
                        &at(&["top".into(), "by".into()]),
                        format!(
                            "top.by `{}` is not a value of this monitor; values: {}",
                            t.by,
                            names.join(", ")
                        ),
                    );
                }
                let n = self.top_n(&at(&["top".into(), "n".into()]), t.n);
                Some(Kind::MinuteTop(MinuteTop {
                    stats,
                    by: by?,
                    n,
                    order: order(t.order),
                }))
            }
            KindSpec::RecordTop => {
                let Some(t) = &m.top else {
                    return missing(self, "top", "`top: { by: <numeric column>, n: 10 }`");
                };
                let by = self.numeric(cols, &at(&["top".into(), "by".into()]), &t.by, "top.by");
                let n = self.top_n(&at(&["top".into(), "n".into()]), t.n);
                Some(Kind::RecordTop(RecordTop {
                    by: by?,
                    n,
                    order: order(t.order),
                }))
            }
            KindSpec::MatchAlert => {
                let max_lines = m
                    .match_alert
                    .as_ref()
                    .and_then(|s| s.max_lines)
                    .unwrap_or(10);
                Some(Kind::MatchAlert(MatchAlert { max_lines }))
            }
            KindSpec::Archive => {
                let Some(a) = &m.archive else {
                    return missing(
                        self,
                        "archive",
                        "`archive: { of: <monitor>, periods: [hour, day, week] }`",
                    );
                };
                let mut periods = Vec::new();
                for (k, p) in a.periods.iter().enumerate() {
                    let Some(period) = Period::parse(p) else {
                        self.error(
                            &at(&["archive".into(), "periods".into(), k.into()]),
                            format!("unknown period `{p}`; use hour, day or week"),
                        );
                        continue;
                    };
                    if !periods.contains(&period) {
                        periods.push(period);
                    }
                }
                if a.periods.is_empty() {
                    periods = vec![Period::Hour, Period::Day, Period::Week];
                }
                periods.sort();
                Some(Kind::Archive(Archive {
                    of: a.of.clone(),
                    periods,
                }))
            }
        }
    }

    fn top_n(&mut self, path: &[Seg], n: Option<usize>) -> usize {
        let n = n.unwrap_or(10);
        if n == 0 {
            self.error(path, "top.n must be at least 1".to_string());
        }
        n
    }

    fn stats(&mut self, path: &[Seg], specs: &[StatSpec], cols: &Columns) -> Stats {
        let mut stats = Vec::with_capacity(specs.len());
        let mut names: HashMap<String, usize> = HashMap::new();
        if specs.is_empty() {
            self.error(
                path,
                "this monitor computes nothing: add `stats: [count]` (or sum/avg/min/max/occurrences/ratio)".to_string(),
            );
        }
        for (k, spec) in specs.iter().enumerate() {
            let mut p = path.to_vec();
            p.push(k.into());
            let Some(stat) = self.stat(&p, spec, cols) else {
                continue;
            };
            if let Some(prev) = names.insert(stat.name.clone(), k) {
                self.error(
                    &p,
                    format!(
                        "value name `{}` is produced twice (stats {} and {}); give one an `as:` name",
                        stat.name,
                        prev + 1,
                        k + 1
                    ),
                );
                continue;
            }
            stats.push(stat);
        }
        Stats { stats }
    }

    fn stat(&mut self, path: &[Seg], spec: &StatSpec, cols: &Columns) -> Option<NamedStat> {
        let sub = |f: &str| {
            let mut q = path.to_vec();
            q.push(f.into());
            q
        };
        let d = match spec {
            StatSpec::Name(n) if n == "count" => {
                return Some(NamedStat {
                    name: "count".to_string(),
                    stat: Stat::Count,
                })
            }
            StatSpec::Name(n) => {
                self.error(
                    path,
                    format!("unknown statistic `{n}`; write `count` or a map such as `{{ sum: <column> }}`"),
                );
                return None;
            }
            StatSpec::Detail(d) => d,
        };
        let chosen: Vec<&str> = [
            ("sum", d.sum.is_some()),
            ("avg", d.avg.is_some()),
            ("min", d.min.is_some()),
            ("max", d.max.is_some()),
            ("occurrences", d.occurrences.is_some()),
            ("ratio", d.ratio.is_some()),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
        if chosen.len() != 1 {
            self.error(
                path,
                format!(
                    "a statistic needs exactly one of sum, avg, min, max, occurrences, ratio (found {})",
                    if chosen.is_empty() { "none".to_string() } else { chosen.join(", ") }
                ),
            );
            return None;
        }
        if d.within.is_some() && d.occurrences.is_none() {
            self.key_error(&sub("in"), "`in` only applies to `occurrences`".to_string());
        }
        let one = |this: &mut Self, f: &str, col: &str, prefix: &str, stat: fn(usize) -> Stat| {
            let i = this.numeric(cols, &sub(f), col, prefix)?;
            Some((format!("{prefix}_{col}"), stat(i)))
        };
        let (default_name, stat) = if let Some(c) = &d.sum {
            one(self, "sum", c, "sum", Stat::Sum)?
        } else if let Some(c) = &d.avg {
            one(self, "avg", c, "avg", Stat::Avg)?
        } else if let Some(c) = &d.min {
            one(self, "min", c, "min", Stat::Min)?
        } else if let Some(c) = &d.max {
            one(self, "max", c, "max", Stat::Max)?
        } else if let Some(text) = &d.occurrences {
            if text.is_empty() {
                self.error(
                    &sub("occurrences"),
                    "occurrences needs a non-empty text to count".to_string(),
                );
                return None;
            }
            let column = match d.within.as_deref() {
                None | Some("line") => None,
                Some(c) => Some(self.column(cols, &sub("in"), c, "occurrences.in")?),
            };
            let name = match &d.name {
                Some(_) => String::new(),
                None => {
                    self.error(
                        &sub("occurrences"),
                        format!("name the count of `{text}`: add `as: <value name>`"),
                    );
                    return None;
                }
            };
            (
                name,
                Stat::Occurrences {
                    text: text.clone(),
                    column,
                },
            )
        } else if let Some([a, b]) = &d.ratio {
            let ia = self.numeric(cols, &sub("ratio"), a, "ratio");
            let ib = self.numeric(cols, &sub("ratio"), b, "ratio");
            (format!("ratio_{a}_{b}"), Stat::Ratio(ia?, ib?))
        } else {
            return None;
        };
        let name = d.name.clone().unwrap_or(default_name);
        if !valid_value_name(&name) {
            self.error(
                &sub("as"),
                format!("value name `{name}` must be letters, digits and `_`"),
            );
            return None;
        }
        Some(NamedStat { name, stat })
    }

    fn column_spec(&mut self, path: &[Seg], name: &str, c: &ColumnSpec) -> Option<Column> {
        let sub = |f: &str| {
            let mut q = path.to_vec();
            q.push(f.into());
            q
        };
        let before = self.diags.len();
        if !valid_value_name(name) {
            self.key_error(
                path,
                format!("column name `{name}` must be letters, digits and `_`"),
            );
        }
        let rules = [c.split.is_some(), c.between.is_some(), c.regex.is_some()]
            .iter()
            .filter(|on| **on)
            .count();
        if rules != 1 {
            self.error(
                path,
                format!(
                    "column `{name}` needs exactly one rule: `split` + `index`, `between: [left, right]`, or `regex` (found {rules})"
                ),
            );
            return None;
        }
        if c.index.is_some() && c.split.is_none() {
            self.key_error(&sub("index"), "`index` only applies to `split`".to_string());
        }
        if c.nth.is_some() && c.between.is_none() {
            self.key_error(&sub("nth"), "`nth` only applies to `between`".to_string());
        }
        let rule = if let Some(split) = &c.split {
            let delimiter = self.delimiter(&sub("split"), split);
            let Some(index) = c.index else {
                self.error(
                    &sub("split"),
                    format!("column `{name}` splits by `{split}` but has no `index`: add `index: <0-based field number>`"),
                );
                return None;
            };
            Rule::Split {
                delimiter: delimiter?,
                index,
            }
        } else if let Some([l, r]) = &c.between {
            let left = self.delimiter(&sub("between"), l);
            let right = self.delimiter(&sub("between"), r);
            let nth = c.nth.unwrap_or(1);
            if nth == 0 {
                self.error(
                    &sub("nth"),
                    "nth counts from 1 (the first occurrence)".to_string(),
                );
            }
            Rule::Between {
                left: left?,
                right: right?,
                nth,
            }
        } else {
            let pattern = c.regex.as_deref().unwrap_or_default();
            let re = self.regex(&sub("regex"), pattern)?;
            if re.captures_len() < 2 {
                self.error(
                    &sub("regex"),
                    format!("regex `{pattern}` has no capture group; wrap the part to keep in parentheses, e.g. `code=(\\d+)`"),
                );
                return None;
            }
            Rule::Regex(re)
        };
        let translate = match &c.translate {
            None => None,
            Some(t) => {
                let mut regex = Vec::new();
                for (pattern, to) in &t.regex {
                    let mut p = sub("translate");
                    p.push("regex".into());
                    p.push(pattern.as_str().into());
                    if let Some(re) = self.regex(&p, pattern) {
                        regex.push((re, to.0.clone()));
                    }
                }
                Some(Translate {
                    map: t
                        .map
                        .iter()
                        .map(|(k, v)| (k.0.clone(), v.0.clone()))
                        .collect(),
                    regex,
                    default: t.default.as_ref().map(|s| s.0.clone()),
                })
            }
        };
        if self.diags.len() > before {
            return None;
        }
        Some(Column {
            name: name.to_string(),
            rule,
            ty: column_type(c.ty),
            trim: c.trim,
            required: c.required,
            translate,
        })
    }

    fn regex(&mut self, path: &[Seg], pattern: &str) -> Option<Regex> {
        match Regex::new(pattern) {
            Ok(re) => Some(re),
            Err(e) => {
                let detail = e.to_string();
                let last = detail.lines().last().unwrap_or("").trim();
                let last = last.strip_prefix("error: ").unwrap_or(last);
                self.error(
                    path,
                    format!("invalid regex `{pattern}`: {last}; fix the pattern (regex crate syntax, no look-around)"),
                );
                None
            }
        }
    }

    fn delimiter(&mut self, path: &[Seg], text: &str) -> Option<Vec<u8>> {
        match parse_delimiter(text) {
            Ok(d) => Some(d),
            Err(msg) => {
                self.error(path, msg);
                None
            }
        }
    }

    fn source(&mut self, path: &[Seg], s: &SourceSpec) -> Option<Source> {
        let sub = |f: &str| {
            let mut q = path.to_vec();
            q.push(f.into());
            q
        };
        let before = self.diags.len();
        if s.paths.is_empty() {
            self.error(
                &sub("paths"),
                "source.paths is empty: list at least one log file or glob".to_string(),
            );
        }
        let mut paths = Vec::with_capacity(s.paths.len());
        for (k, p) in s.paths.iter().enumerate() {
            if p.trim().is_empty() {
                let mut q = sub("paths");
                q.push(k.into());
                self.error(&q, "empty path".to_string());
                continue;
            }
            let pb = PathBuf::from(p);
            paths.push(if pb.is_absolute() {
                pb
            } else {
                self.dir.join(pb)
            });
        }
        let encoding = match s
            .encoding
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("auto") => Encoding::Auto,
            Some("utf-8") | Some("utf8") => Encoding::Utf8,
            Some("gbk") | Some("gb2312") | Some("gb18030") => Encoding::Gbk,
            Some(other) => {
                self.error(
                    &sub("encoding"),
                    format!("unknown encoding `{other}`; use auto, utf-8 or gbk"),
                );
                Encoding::Auto
            }
        };
        let timezone = match &s.timezone {
            None => self.opts.default_timezone,
            Some(tz) => match tz.parse::<chrono_tz::Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    self.error(
                        &sub("timezone"),
                        format!("unknown timezone `{tz}`; use an IANA name such as Asia/Shanghai, Europe/Berlin or UTC"),
                    );
                    chrono_tz::Tz::UTC
                }
            },
        };
        let multiline = match &s.multiline {
            None => None,
            Some(ml) => {
                let mut q = sub("multiline");
                q.push("start".into());
                let start = self.regex(&q, &ml.start);
                let max_lines = ml.max_lines.unwrap_or(DEFAULT_MULTILINE_MAX_LINES);
                if max_lines == 0 {
                    let mut q = sub("multiline");
                    q.push("max_lines".into());
                    self.error(&q, "multiline.max_lines must be at least 1".to_string());
                }
                start.map(|start| Multiline { start, max_lines })
            }
        };
        let max_line_bytes = s.max_line_bytes.unwrap_or(DEFAULT_MAX_LINE_BYTES);
        if max_line_bytes == 0 {
            self.error(
                &sub("max_line_bytes"),
                "max_line_bytes must be at least 1".to_string(),
            );
        }
        if s.rate_limit_kb_per_min == Some(0) {
            self.error(
                &sub("rate_limit_kb_per_min"),
                "rate_limit_kb_per_min must be at least 1 (leave it out for no limit)".to_string(),
            );
        }
        if self.diags.len() > before {
            return None;
        }
        Some(Source {
            paths,
            encoding,
            timezone,
            multiline,
            max_line_bytes,
            rate_limit_kb_per_min: s.rate_limit_kb_per_min,
        })
    }

    fn time(&mut self, path: &[Seg], t: &TimeSpec, cols: &Columns) -> Option<TimeRule> {
        let mut cp = path.to_vec();
        cp.push("column".into());
        let column = self.column(cols, &cp, &t.column, "time.column");
        let mut fp = path.to_vec();
        fp.push("format".into());
        let format = match t.format.parse::<TimeFormat>() {
            Ok(f) => f,
            Err(e) => {
                self.error(&fp, e.to_string());
                return None;
            }
        };
        if let TimeFormat::Strftime(p) = &format {
            if let Err(msg) = (self.opts.check_strftime)(p) {
                self.error(&fp, format!("invalid strftime pattern `{p}`: {msg}"));
                return None;
            }
        }
        if let Some(c) = column {
            if cols.types[c] != ColumnType::String {
                self.error(
                    &cp,
                    format!(
                        "the time column `{}` must be a string column (remove its `type`)",
                        t.column
                    ),
                );
                return None;
            }
        }
        Some(TimeRule {
            column: column?,
            format,
        })
    }

    fn filters(
        &mut self,
        path: &[Seg],
        specs: &indexmap::IndexMap<String, Scalar>,
        cols: &Columns,
    ) -> Vec<Filter> {
        let mut out = Vec::with_capacity(specs.len());
        for (name, values) in specs {
            let mut p = path.to_vec();
            p.push(name.as_str().into());
            let what = match path.last() {
                Some(Seg::Key(k)) => k.clone(),
                _ => "filter".to_string(),
            };
            if let Some(column) = self.column(cols, &p, name, &what) {
                out.push(Filter {
                    column,
                    values: split_values(&values.0),
                });
            }
        }
        out
    }
}

fn kind_name(k: KindSpec) -> &'static str {
    match k {
        KindSpec::MinuteStat => "minute_stat",
        KindSpec::ServiceMetrics => "service_metrics",
        KindSpec::MinuteTop => "minute_top",
        KindSpec::RecordTop => "record_top",
        KindSpec::MatchAlert => "match_alert",
        KindSpec::SecondStat => "second_stat",
        KindSpec::Archive => "archive",
    }
}

fn column_type(t: TypeSpec) -> ColumnType {
    match t {
        TypeSpec::String => ColumnType::String,
        TypeSpec::Int => ColumnType::Int,
        TypeSpec::Float => ColumnType::Float,
    }
}

fn order(o: Option<OrderSpec>) -> Order {
    match o {
        Some(OrderSpec::Asc) => Order::Asc,
        _ => Order::Desc,
    }
}

fn valid_value_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Comma-separated filter values; an empty list item is the empty value.
fn split_values(text: &str) -> Vec<String> {
    text.split(',').map(str::to_string).collect()
}

/// A delimiter: `char(n[,m…])` for bytes by ASCII code, else the text itself.
pub fn parse_delimiter(text: &str) -> Result<Vec<u8>, String> {
    if text.is_empty() {
        return Err(
            "empty delimiter: write a symbol, a string, or char(n) for an invisible character"
                .to_string(),
        );
    }
    let Some(inner) = text.strip_prefix("char(").and_then(|t| t.strip_suffix(')')) else {
        return Ok(text.as_bytes().to_vec());
    };
    inner
        .split(',')
        .map(|code| match code.trim().parse::<u8>() {
            Ok(b) if b < 128 => Ok(b),
            _ => Err(format!(
                "invalid delimiter `{text}`: char() takes ASCII codes 0-127 separated by commas, e.g. char(1) or char(1,2)"
            )),
        })
        .collect()
}

/// Seconds of `120`, `90s`, `2m`, `1h`.
pub fn parse_duration_secs(text: &str) -> Option<i64> {
    let t = text.trim();
    let (digits, mult) = match t.as_bytes().last()? {
        b's' => (&t[..t.len() - 1], 1),
        b'm' => (&t[..t.len() - 1], 60),
        b'h' => (&t[..t.len() - 1], 3600),
        _ => (t, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok()?.checked_mul(mult)
}
