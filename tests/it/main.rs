//! Integration tests of the `vigil` binary: each test runs the real binary
//! on files in a temporary folder and reads its JSON output.

mod check;
mod filters;
mod fixtures;
mod generated;
mod malformed;
mod pieces;
mod pipeline;
mod procs;
mod rules;
mod run;
mod support;
mod time_formats;
