//! Presets: the monitors an `apps:` entry stands for, per framework. A
//! preset is a table of [`PresetKind`]s (one per log of the framework);
//! [`expand`] writes an application's kinds out as ordinary
//! [`MonitorSpec`]s, which validation then lowers like hand-written ones.

pub mod sofa;

use indexmap::IndexMap;

use crate::apps::{AppSpec, MonitorOverride};
use crate::spec::*;

/// A framework whose logs a preset knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// The SOFA framework's stat logs and error log (DESIGN.md §5).
    Sofa,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 1] = [Preset::Sofa];

    /// The preset's name as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Sofa => "sofa",
        }
    }

    /// The preset named `name`, if any.
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The kinds of monitors the preset makes, in order.
    pub fn kinds(self) -> &'static [PresetKind] {
        match self {
            Preset::Sofa => sofa::KINDS,
        }
    }

    /// The kind named `name`, if the preset has it.
    pub fn kind(self, name: &str) -> Option<&'static PresetKind> {
        self.kinds().iter().find(|k| k.name == name)
    }
}

/// Name of the column every preset log cuts its time into.
pub const TIME_COLUMN: &str = "time";
/// Name of the stress flag column (`T` or `F`) of stat logs.
pub const STRESS_COLUMN: &str = "stress";
/// Stress flag of production lines.
pub const PRODUCTION_FLAG: &str = "F";
/// Stress flag of stress-test lines.
pub const STRESS_FLAG: &str = "T";
/// Suffix of the monitor of stress-test lines.
pub const STRESS_SUFFIX: &str = "_stress";

/// One kind of monitor a preset makes: which log, its columns, its keys
/// and what is computed.
#[derive(Debug)]
pub struct PresetKind {
    /// The kind's name (`service`, `pv`, …), the suffix of monitor names.
    pub name: &'static str,
    /// The log file, relative to the application's log folder.
    pub file: &'static str,
    /// The columns, cut from each line.
    pub columns: &'static [PresetColumn],
    /// Key columns.
    pub group_by: &'static [&'static str],
    /// What is computed per minute.
    pub compute: Compute,
    /// Regex matching the first line of an event: other lines (a Java stack
    /// trace) continue the event before them.
    pub multiline: Option<&'static str>,
}

impl PresetKind {
    /// Whether the log has a stress flag column (production and stress
    /// lines go to separate monitors).
    pub fn has_stress(&self) -> bool {
        self.columns.iter().any(|c| c.name == STRESS_COLUMN)
    }

    /// The names of its columns, in order.
    pub fn column_names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }
}

/// One column of a preset log.
#[derive(Debug)]
pub struct PresetColumn {
    /// The column's name.
    pub name: &'static str,
    /// How it is cut.
    pub cut: Cut,
    /// `int` for counts and elapsed times, else `string`.
    pub ty: TypeSpec,
    /// Regex of raw values meaning success: the column reads `Y` when it
    /// matches, else `N` (HTTP result codes).
    pub success_when: Option<&'static str>,
}

/// How a preset column is cut from a line.
#[derive(Debug)]
pub enum Cut {
    /// Field `n` (0-based) of the comma-separated line.
    Field(usize),
    /// The first capture group of a regex.
    Regex(&'static str),
}

/// What a preset monitor computes.
#[derive(Debug)]
pub enum Compute {
    /// service_metrics over the columns `result` (`Y` is success), `count`
    /// (calls per line) and `elapsed` (their total time).
    Calls,
    /// minute_stat: events per minute.
    Events,
}

/// A monitor an application's entry stands for.
#[derive(Debug, Clone)]
pub struct PresetMonitor {
    /// The kind it comes from.
    pub kind: &'static str,
    /// Whether it holds the stress-test lines.
    pub stress: bool,
    /// The monitor, as if written by hand.
    pub spec: MonitorSpec,
}

/// The monitors of `app` with `preset`: for each kind that is not switched
/// off, the production monitor and, for logs with a stress flag, the
/// stress monitor (unless `stress: false`). Kinds the preset does not have
/// are ignored.
pub fn expand(app: &AppSpec, preset: Preset) -> Vec<PresetMonitor> {
    let dir = app.log_dir();
    let mut out = Vec::new();
    for kind in preset.kinds() {
        let overrides = match app.monitors.get(kind.name) {
            None => MonitorOverride::default(),
            Some(toggle) => match toggle.overrides() {
                Some(o) => o,
                None => continue,
            },
        };
        let name = format!("{}_{}", app.name, kind.name);
        if !kind.has_stress() {
            let spec = monitor(app, &dir, kind, &overrides, name, None);
            out.push(PresetMonitor {
                kind: kind.name,
                stress: false,
                spec,
            });
            continue;
        }
        let production = monitor(app, &dir, kind, &overrides, name.clone(), Some(false));
        out.push(PresetMonitor {
            kind: kind.name,
            stress: false,
            spec: production,
        });
        if overrides.stress != Some(false) {
            let stress = monitor(
                app,
                &dir,
                kind,
                &overrides,
                format!("{name}{STRESS_SUFFIX}"),
                Some(true),
            );
            out.push(PresetMonitor {
                kind: kind.name,
                stress: true,
                spec: stress,
            });
        }
    }
    out
}

/// One monitor of `kind`: `stress` is `None` for logs without a stress
/// flag, else whether it keeps the stress lines (`T`) or production ones.
fn monitor(
    app: &AppSpec,
    dir: &str,
    kind: &PresetKind,
    o: &MonitorOverride,
    name: String,
    stress: Option<bool>,
) -> MonitorSpec {
    let columns: IndexMap<String, ColumnSpec> = kind
        .columns
        .iter()
        .map(|c| (c.name.to_string(), column(c)))
        .collect();
    let mut include = o.include.clone();
    if let Some(stress) = stress {
        let flag = if stress { STRESS_FLAG } else { PRODUCTION_FLAG };
        include.insert(STRESS_COLUMN.to_string(), Scalar(flag.to_string()));
    }
    let (kind_spec, service, stats) = match kind.compute {
        Compute::Calls => (
            KindSpec::ServiceMetrics,
            Some(ServiceSpec {
                result: "result".to_string(),
                success: Some(Scalar("Y".to_string())),
                count: Some("count".to_string()),
                elapsed: Some("elapsed".to_string()),
            }),
            Vec::new(),
        ),
        Compute::Events => (
            KindSpec::MinuteStat,
            None,
            vec![StatSpec::Name("count".to_string())],
        ),
    };
    MonitorSpec {
        name,
        kind: kind_spec,
        app: Some(app.name.clone()),
        source: Some(SourceSpec {
            paths: o
                .paths
                .clone()
                .unwrap_or_else(|| vec![format!("{dir}/{}", kind.file)]),
            encoding: None,
            timezone: app.timezone.clone(),
            multiline: kind.multiline.map(|start| MultilineSpec {
                start: start.to_string(),
                max_lines: None,
            }),
            max_line_bytes: None,
            rate_limit_kb_per_min: None,
        }),
        time: Some(TimeSpec {
            column: TIME_COLUMN.to_string(),
            format: "normal".to_string(),
        }),
        columns,
        include,
        exclude: o.exclude.clone(),
        group_by: o
            .group_by
            .clone()
            .unwrap_or_else(|| kind.group_by.iter().map(|c| c.to_string()).collect()),
        stats,
        service,
        top: None,
        match_alert: None,
        archive: None,
        key_limit: o.key_limit,
        lateness: o.lateness.clone(),
        alerts: if stress == Some(true) {
            Vec::new()
        } else {
            o.alerts.clone()
        },
    }
}

fn column(c: &PresetColumn) -> ColumnSpec {
    let (split, index, regex) = match c.cut {
        Cut::Field(n) => (Some(",".to_string()), Some(n), None),
        Cut::Regex(re) => (None, None, Some(re.to_string())),
    };
    ColumnSpec {
        split,
        index,
        regex,
        ty: c.ty,
        translate: c.success_when.map(|re| TranslateSpec {
            map: IndexMap::new(),
            regex: IndexMap::from([(re.to_string(), Scalar("Y".to_string()))]),
            default: Some(Scalar("N".to_string())),
        }),
        ..ColumnSpec::default()
    }
}
