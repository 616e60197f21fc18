//! Integration tests of the `vigil` binary: each test runs the real binary
//! on files in a temporary folder and reads its JSON output.

mod alerts;
mod apps;
mod archives;
mod check;
mod deploy;
mod filters;
mod fixtures;
mod generated;
mod hook;
mod malformed;
mod pieces;
mod pipeline;
mod procs;
mod rules;
mod run;
mod support;
mod time_formats;
mod tls;
mod ui;
