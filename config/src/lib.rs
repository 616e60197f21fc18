//! vigil-config: the YAML format of monitors, its validation, and the
//! resolved types that the other crates consume.
//!
//! - [`spec`]: serde types that mirror the YAML exactly (`deny_unknown_fields`,
//!   a doc comment on every field: that is the user's documentation and the
//!   source of `vigil schema`).
//! - [`validate`]: lowers a spec into a [`Config`], reporting every problem at
//!   once, each as a [`Diagnostic`] with file, line and column.
//! - [`locate`]: finds where a path of the YAML document was written.
//! - [`monitor`]: the resolved types ([`Monitor`], [`Column`], [`Rule`], …).
//! - [`alert`]: resolved alert rules and notification settings.
//! - [`apps`]: applications monitored through a preset (`apps:`); the
//!   [`presets`] write them out as ordinary monitors at load time.
//! - [`dashboard`]: custom dashboards of the web UI (`dashboards:`).
//! - [`time_format`]: the named time formats and strftime patterns.
//!
//! This crate knows no runtime: no threads, no sockets, no Arrow.

pub mod alert;
pub mod apps;
pub mod dashboard;
pub mod error;
pub mod locate;
pub mod monitor;
pub mod presets;
pub mod spec;
pub mod time_format;
pub mod validate;

pub use apps::{App, AppSpec};
pub use error::{Diagnostic, Error};
pub use monitor::*;
pub use time_format::TimeFormat;
pub use validate::{load, load_texts, LoadOptions};

/// The JSON Schema of the configuration format, for editors.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(spec::ConfigSpec)).unwrap_or_default()
}
