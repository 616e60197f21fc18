//! `apps:` entries: the application's own settings are checked here, then
//! its preset's monitors are written out as [`MonitorSpec`]s and validated
//! like hand-written ones, at `apps[k].monitors.<kind>`, so that each
//! problem of an override is reported where it was written, and any other
//! at the entry.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::alerts::sub;
use super::Ctx;
use crate::apps::{App, AppSpec, MonitorToggle};
use crate::error::Diagnostic;
use crate::locate::Seg;
use crate::presets::{self, Preset, STRESS_COLUMN};
use crate::spec::MonitorSpec;

/// The monitors an `apps:` entry stands for, each with the path its
/// problems are reported at (`apps[k].monitors.<kind>`).
type AppMonitors = Vec<(Vec<Seg>, MonitorSpec)>;

impl Ctx<'_> {
    /// Checks the `apps:` entry `k`; when it is sound, returns the resolved
    /// application and its preset's monitors, each with the path its
    /// problems are reported at. `names` holds the applications seen so
    /// far (in every file), with where each was written.
    pub(super) fn app(
        &mut self,
        k: usize,
        spec: &AppSpec,
        names: &mut HashMap<String, Diagnostic>,
    ) -> Option<(App, AppMonitors)> {
        let base = vec![Seg::from("apps"), Seg::Index(k)];
        let before = self.diags.len();
        self.app_name(&sub(&base, "name"), &spec.name, names);
        let preset = Preset::from_name(&spec.preset);
        if preset.is_none() {
            let known: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
            self.error(
                &sub(&base, "preset"),
                format!(
                    "unknown preset `{}`; use one of: {}",
                    spec.preset,
                    known.join(", ")
                ),
            );
        }
        if spec
            .log_root
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            self.error(
                &sub(&base, "log_root"),
                "log_root is empty: name the folder of the logs, e.g. /home/admin/logs, or leave it out".to_string(),
            );
        }
        let timezone = match &spec.timezone {
            None => self.opts.default_timezone,
            Some(tz) => tz.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
                self.error(
                    &sub(&base, "timezone"),
                    format!("unknown timezone `{tz}`; use an IANA name such as Asia/Shanghai, Europe/Berlin or UTC"),
                );
                chrono_tz::Tz::UTC
            }),
        };
        let mut ports = HashSet::new();
        for (j, port) in spec.ports.iter().enumerate() {
            let at = sub(&sub(&base, "ports"), j);
            if *port == 0 {
                self.error(&at, "port 0 is no port; use 1 to 65535".to_string());
            } else if !ports.insert(port) {
                self.error(&at, format!("port {port} is listed twice"));
            }
        }
        if let Some(preset) = preset {
            self.app_monitors(&sub(&base, "monitors"), spec, preset);
        }
        if self.diags.len() > before {
            return None;
        }
        let preset = preset?;
        let log_dir = PathBuf::from(spec.log_dir());
        let log_dir = if log_dir.is_absolute() {
            log_dir
        } else {
            self.dir.join(log_dir)
        };
        let mut monitors = Vec::new();
        let mut monitor_names = Vec::new();
        for m in presets::expand(spec, preset) {
            let at = sub(&sub(&base, "monitors"), m.kind);
            monitor_names.push(m.spec.name.clone());
            monitors.push((at, m.spec));
        }
        let app = App {
            name: spec.name.clone(),
            preset,
            log_dir,
            timezone,
            ports: spec.ports.clone(),
            monitors: monitor_names,
        };
        Some((app, monitors))
    }

    /// Drops repeats among the diagnostics reported since `before`: a
    /// production monitor and its stress twin share their overrides, and so
    /// their problems, which are reported once.
    pub(super) fn dedup_since(&mut self, before: usize) {
        let reported = self.diags.split_off(before);
        for d in reported {
            if !self.diags[before..].contains(&d) {
                self.diags.push(d);
            }
        }
    }

    /// Checks an application's name and that no other entry has it.
    fn app_name(&mut self, at: &[Seg], name: &str, names: &mut HashMap<String, Diagnostic>) {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            self.error(
                at,
                format!(
                    "app name `{name}` must be lowercase letters, digits and `_` only: it starts its monitors' names (e.g. `tradecore_service`)"
                ),
            );
            return;
        }
        if let Some(first) = names.get(name) {
            let place = format!("{}:{}", first.file.display(), first.line);
            self.error(
                at,
                format!(
                    "duplicate app `{name}` (first at {place}); an application has one `apps:` entry"
                ),
            );
        } else {
            names.insert(name.to_string(), self.diag_at(at, String::new()));
        }
    }

    /// Checks the per-kind settings of an entry against its preset.
    fn app_monitors(&mut self, base: &[Seg], spec: &AppSpec, preset: Preset) {
        for (name, toggle) in &spec.monitors {
            let at = sub(base, name.as_str());
            let Some(kind) = preset.kind(name) else {
                let known: Vec<&str> = preset.kinds().iter().map(|k| k.name).collect();
                self.key_error(
                    &at,
                    format!(
                        "unknown monitor kind `{name}` of preset {}; kinds: {}",
                        preset.name(),
                        known.join(", ")
                    ),
                );
                continue;
            };
            let MonitorToggle::Override(o) = toggle else {
                continue;
            };
            if o.paths.as_ref().is_some_and(Vec::is_empty) {
                self.error(
                    &sub(&at, "paths"),
                    format!(
                        "paths is empty: list at least one file, or leave `paths` out to read {}",
                        kind.file
                    ),
                );
            }
            if o.stress.is_some() && !kind.has_stress() {
                self.key_error(
                    &sub(&at, "stress"),
                    format!(
                        "the {} log has no stress flag, so there is no stress monitor to switch: remove `stress`",
                        kind.name
                    ),
                );
            }
            for field in ["include", "exclude"] {
                let filters = if field == "include" {
                    &o.include
                } else {
                    &o.exclude
                };
                if kind.has_stress() && filters.contains_key(STRESS_COLUMN) {
                    self.key_error(
                        &sub(&sub(&at, field), STRESS_COLUMN),
                        format!(
                            "the preset splits lines by their stress flag itself (production lines in `{0}_{1}`, stress tests in `{0}_{1}_stress`): remove `stress` here; `stress: false` drops the stress monitor",
                            spec.name, kind.name
                        ),
                    );
                }
            }
        }
    }
}
