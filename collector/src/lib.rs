//! vigil-collector: turning raw log bytes into typed, filtered columns.
//!
//! Data moves through these stages, one module each:
//! - [`reader`]: a byte stream → physical lines (bounded length, `\r\n`).
//! - [`decode`]: line bytes → text, UTF-8 or GBK (auto-detected per file).
//! - [`multiline`]: physical lines → events (a stack trace stays whole).
//! - [`cut`]: an event → a monitor's typed columns ([`cut::Cutter`]), with
//!   [`time`] parsing the time column and [`number`] the numeric ones, then
//!   the include/exclude filters; kept rows become Arrow record batches.
//!
//! Its durable state as a running service, one module each:
//! - [`wal`]: the write-ahead log of accepted ingest frames.
//! - [`offsets`]: the byte ranges held per agent file (dedupe of re-sends).
//! - [`order`]: frames sent while another is in flight wait for it.
//! - [`register`]: the agents, their labels, heartbeats and states.
//!
//! The collector does not know the engine: whoever wires them hands the
//! batches on.

pub mod cut;
pub mod decode;
pub mod multiline;
pub mod number;
pub mod offsets;
pub mod order;
pub mod reader;
pub mod register;
pub mod time;
pub mod wal;
