//! `vigil check`: validate a configuration and report every problem.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

/// Options every command uses to load a configuration: the machine's
/// timezone as the default, and the collector's strftime check.
pub fn load_options() -> vigil_config::LoadOptions {
    let default_timezone = iana_time_zone::get_timezone()
        .ok()
        .and_then(|name| name.parse().ok())
        .unwrap_or(chrono_tz::Tz::UTC);
    vigil_config::LoadOptions {
        default_timezone,
        check_strftime: vigil_collector::time::validate_strftime,
    }
}

/// Loads a configuration, turning diagnostics into an error that lists them.
pub fn load(path: &Path) -> Result<vigil_config::Config> {
    Ok(vigil_config::load(path, &load_options())?)
}

/// Runs `vigil check`.
pub fn run(path: &Path) -> Result<ExitCode> {
    match vigil_config::load(path, &load_options()) {
        Ok(config) => {
            let n = config.monitors.len();
            println!(
                "{}: ok, {n} monitor{}",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(vigil_config::Error::Invalid(diags)) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!(
                "{} error{} found",
                diags.len(),
                if diags.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}
