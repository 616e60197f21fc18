//! `vigil alert-test`: replays logs, evaluates every alert rule minute by
//! minute as the collector would, and prints each notification that would
//! be sent as a JSON line — the "debug this alert" step.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vigil_alerting::alerter::Alerter;
use vigil_model::MinuteRow;

use crate::alerts::watched;

/// Malformed lines described per monitor on stderr.
const SHOWN_ERRORS: usize = 5;

/// What `vigil alert-test` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Configuration file or folder.
    pub config: PathBuf,
    /// Log files, in order (empty: the monitors' own files).
    pub logs: Vec<PathBuf>,
}

/// Runs `vigil alert-test` and prints its notifications to stdout.
pub fn run(opts: &Options) -> Result<ExitCode> {
    let config = crate::check::load(&opts.config)?;
    let result = crate::replay::replay(&config, &opts.logs, None, 1, |e| e.report(SHOWN_ERRORS))?;
    let rules = watched(&config);
    let tables: BTreeSet<String> = rules.iter().map(|w| w.table.clone()).collect();
    let mut by_table: BTreeMap<String, Vec<MinuteRow>> = BTreeMap::new();
    for row in result.rows {
        if row.period.is_none() && tables.contains(&row.monitor) {
            by_table.entry(row.monitor.clone()).or_default().push(row);
        }
    }
    let minutes: BTreeSet<i64> = by_table.values().flatten().map(|r| r.minute).collect();
    let (Some(&first), Some(&last)) = (minutes.first(), minutes.last()) else {
        eprintln!("vigil alert-test: the logs gave no minutes to the monitors with alert rules");
        return Ok(ExitCode::SUCCESS);
    };
    let mut alerter = Alerter::open(None, rules, config.notification.clone())
        .context("cannot start the alert rules")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // Every minute of the replayed span, so that `nodata` sees silences.
    let mut minute = first;
    while minute <= last {
        for table in &tables {
            let decided = alerter.on_minute(table, minute, &by_table)?;
            for event in decided.events {
                serde_json::to_writer(&mut out, &event)?;
                writeln!(out)?;
            }
        }
        minute += 60;
    }
    Ok(ExitCode::SUCCESS)
}
