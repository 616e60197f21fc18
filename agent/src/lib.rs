//! vigil-agent: the node side of vigil, tailing business log files.
//!
//! # Tour
//!
//! - [`tail`] follows the files named by monitors (glob patterns), through
//!   rename and copy-truncate rotation, truncation, deletion and symbolic
//!   links. [`tail::Tailer::poll`] returns the new complete lines of each
//!   file as a [`tail::LineBatch`]; the shipper acknowledges them with
//!   [`tail::Tailer::commit`].
//! - [`tail::CheckpointStore`] persists the acknowledged position of every
//!   file (identity + byte offset) atomically as JSON, so a restart neither
//!   loses nor repeats acknowledged lines.
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
//! The agent depends on no columnar engine (arrow, datafusion): its line
//! splitting is its own, bounded in memory.

pub mod tail;
