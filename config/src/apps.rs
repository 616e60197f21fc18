//! Applications monitored through a preset (`apps:`): the YAML entry
//! ([`AppSpec`], with per-kind [`MonitorToggle`]s) and the resolved [`App`].
//!
//! An entry stands for ordinary monitors: [`AppSpec::monitor_specs`] writes
//! them out as [`MonitorSpec`]s (the same type a hand-written monitor is),
//! and validation lowers those like any other monitor, reporting their
//! problems at the `apps:` entry. `config/PRESETS.md` is the user's guide.

use std::path::PathBuf;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::presets::{self, Preset};
use crate::spec::{AlertRuleSpec, MonitorSpec, Scalar};

/// Folder holding every application's log folder unless `log_root` says
/// otherwise (the SOFA convention).
pub const DEFAULT_LOG_ROOT: &str = "/home/admin/logs";

/// The placeholder of `log_root` replaced by the application's name.
pub const APP_PLACEHOLDER: &str = "{app}";

/// One application whose framework writes logs a preset knows; it turns
/// on that preset's monitors for the application.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// The application's name: lowercase letters, digits and `_`. Its
    /// monitors are named `<name>_<kind>` (production lines) and
    /// `<name>_<kind>_stress` (stress-test lines) and carry `app: <name>`.
    pub name: String,
    /// The framework whose logs are read: `sofa` (the SOFA stat logs
    /// `tracelog/*-stat.log` and `common-error.log`).
    pub preset: String,
    /// Where the application's logs are: a folder holding one folder per
    /// application (`<log_root>/<name>`), or, when it contains `{app}`, the
    /// application's own folder with `{app}` replaced by the name (e.g.
    /// `/data/{app}/logs`). Relative to the YAML file's folder. Default
    /// `/home/admin/logs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_root: Option<String>,
    /// IANA timezone of the times in the logs, e.g. `Asia/Shanghai`.
    /// Default: the machine's timezone, as for other monitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// TCP ports the application listens on (1 to 65535). They are kept
    /// with the resolved application; the agent probes the ports listed in
    /// its `--probes` file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
    /// Per monitor kind of the preset (`service`, `sal`, `pv`, `dal`,
    /// `cal`, `msgpub`, `msgsub`, `error` for sofa): `false` switches it
    /// off, a map overrides its settings. Kinds left out are on with the
    /// preset's settings.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub monitors: IndexMap<String, MonitorToggle>,
}

/// A preset monitor kind of one application: on or off, or on with
/// overrides.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MonitorToggle {
    /// `false` switches the kind off; `true` keeps the preset's settings.
    Enabled(bool),
    /// The kind is on, with these settings in place of the preset's.
    Override(Box<MonitorOverride>),
}

impl MonitorToggle {
    /// The overrides of a kind that is on; `None` when switched off.
    pub fn overrides(&self) -> Option<MonitorOverride> {
        match self {
            MonitorToggle::Enabled(false) => None,
            MonitorToggle::Enabled(true) => Some(MonitorOverride::default()),
            MonitorToggle::Override(o) => Some(MonitorOverride::clone(o)),
        }
    }
}

impl<'de> Deserialize<'de> for MonitorToggle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = MonitorToggle;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "`false` (off), `true` (on), or a map of settings such as { key_limit: 500 }",
                )
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<MonitorToggle, E> {
                Ok(MonitorToggle::Enabled(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<MonitorToggle, A::Error> {
                let d = serde::de::value::MapAccessDeserializer::new(map);
                MonitorOverride::deserialize(d).map(|o| MonitorToggle::Override(Box::new(o)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Settings of one preset monitor kind that an application may change.
/// They apply to both its production and its stress monitor, except
/// `alerts` (production only).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorOverride {
    /// Files read instead of the preset's file: paths or glob patterns,
    /// relative to the YAML file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// Key columns instead of the preset's (any of the kind's columns,
    /// listed in PRESETS.md); `[]` for no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// Whitelist added to the preset's: column -> comma-separated values.
    /// The `stress` column is the preset's own.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub include: IndexMap<String, Scalar>,
    /// Blacklist: column -> comma-separated values. The `stress` column is
    /// the preset's own.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub exclude: IndexMap<String, Scalar>,
    /// Most distinct keys per minute. Default 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_limit: Option<usize>,
    /// How long after its end a minute still accepts lines: seconds, or a
    /// duration such as `90s`, `2m`. Default `2m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lateness: Option<Scalar>,
    /// Whether stress-test lines (stress flag `T`) get their own monitor
    /// `<app>_<kind>_stress`. Default true; not for kinds without a stress
    /// flag (`error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<bool>,
    /// Alert rules on the production monitor `<app>_<kind>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertRuleSpec>,
}

impl AppSpec {
    /// The folder of the application's logs as written (relative paths are
    /// relative to the YAML file's folder): `log_root` with `{app}`
    /// replaced, or `<log_root>/<name>`.
    pub fn log_dir(&self) -> String {
        let root = self.log_root.as_deref().unwrap_or(DEFAULT_LOG_ROOT);
        if root.contains(APP_PLACEHOLDER) {
            root.replace(APP_PLACEHOLDER, &self.name)
        } else {
            format!("{}/{}", root.trim_end_matches('/'), self.name)
        }
    }

    /// The monitors the entry stands for, in the preset's kind order
    /// (production before stress). Empty for an unknown preset; kinds the
    /// preset does not have are ignored (validation reports both).
    pub fn monitor_specs(&self) -> Vec<MonitorSpec> {
        match Preset::from_name(&self.preset) {
            Some(preset) => presets::expand(self, preset)
                .into_iter()
                .map(|m| m.spec)
                .collect(),
            None => Vec::new(),
        }
    }
}

/// A resolved application: what its `apps:` entry turned on.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// The application's name.
    pub name: String,
    /// The preset whose monitors it uses.
    pub preset: Preset,
    /// Absolute folder of its logs.
    pub log_dir: PathBuf,
    /// Timezone of the times in its logs.
    pub timezone: chrono_tz::Tz,
    /// TCP ports it listens on. The agent probes the ports of its
    /// `--probes` file; these are listed for it and for pages.
    pub ports: Vec<u16>,
    /// Names of the monitors the preset made for it, in order.
    pub monitors: Vec<String>,
}
