//! vigil-agent: the node side of vigil, tailing business log files and
//! shipping their raw lines to the collector, with nothing lost or doubled.
//!
//! # Tour
//!
//! - [`tail`] follows the files named by the collector's sources (glob
//!   patterns), through rename and copy-truncate rotation, truncation,
//!   deletion and symbolic links. [`tail::Tailer::poll`] returns the new
//!   complete lines of each file as a [`tail::LineBatch`] (identity,
//!   generation, byte range), bounded per file and per poll, optionally
//!   rate-limited; the shipper acknowledges them with
//!   [`tail::Tailer::commit`].
//! - [`tail::CheckpointStore`] persists the acknowledged position of every
//!   file (identity + generation + byte offset) atomically as JSON, so a
//!   restart neither loses nor repeats acknowledged lines.
//! - [`ship`] talks to the collector ([`vigil_model::wire`] protocol):
//!   [`ship::client::Client`] (blocking HTTP), [`ship::spool::Spool`] (the
//!   disk buffer while the collector is away), [`ship::labels`] (the node's
//!   labels) and [`ship::Agent::run`], the loop tying them together.
//! - [`health`] counts what the agent does ([`health::Stats`]) and serves
//!   `/healthz` and `/metrics` on a local port ([`health::HealthServer`]).
//!
//! Running the agent:
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use vigil_agent::ship::{labels, Agent, AgentOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pairs = labels::parse_pairs("app=pay,idc=sh1")?;
//! let labels = labels::resolve(pairs, labels::system_env)?;
//! let mut opts = AgentOptions::new("http://127.0.0.1:8686", "/var/lib/vigil-agent", labels);
//! opts.token = Some("secret".into());
//! let stop = AtomicBool::new(false); // set it from a signal handler
//! Agent::run(opts, &stop)?;
//! # Ok(())
//! # }
//! ```
//!
//! Using the tailer alone:
//!
//! ```no_run
//! use vigil_agent::tail::{CheckpointStore, Tailer};
//! # fn main() -> Result<(), vigil_agent::tail::TailError> {
//! let store = CheckpointStore::new("/var/lib/vigil");
//! let mut tailer = Tailer::new(vec!["/var/log/app/*.log".into()], store.load()?, 64 * 1024);
//! for batch in tailer.poll()? {
//!     // ... ship batch.lines ...
//!     tailer.commit(batch.id, batch.end);
//! }
//! tailer.save(&store)?;
//! # Ok(())
//! # }
//! ```
//!
//! Everything is blocking, single-threaded code. The agent depends on no
//! columnar engine (arrow, datafusion) and no async runtime: its line
//! splitting is its own, bounded in memory, and its HTTP client is `ureq`.
//! Errors are logged through the `log` facade (the binary installs a logger)
//! and the last ones are reported with each heartbeat.

pub mod health;
pub mod metrics;
pub mod ship;
pub mod tail;
