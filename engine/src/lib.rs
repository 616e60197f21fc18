//! vigil-engine: exact per-minute statistics over columns held as Arrow arrays.
//!
//! # Tour
//!
//! - [`Aggregator`] (one per monitor, every kind but archive) takes record
//!   batches of filtered lines, assigns each row to its time bucket (60 s;
//!   1 s for second_stat) and key, and accumulates the monitor's
//!   statistics. [`Aggregator::drain_closed`] hands back the buckets whose
//!   end has passed as [`ClosedBucket`]s: output rows
//!   ([`vigil_model::MinuteRow`]) plus mergeable per-key accumulators.
//! - [`Partial`] (module `partial`) is that accumulator: counts, integer sums
//!   in `i128`, float sums, minimums, maximums, occurrences, the two sums of a
//!   ratio, or the calls/successes/latency of a service. Merging two partials
//!   is associative and commutative.
//! - [`ArchiveAggregator`] merges the partials of closed buckets into hour,
//!   day and week periods in the source's timezone and emits archive rows
//!   whose values are recomputed from the merged partials.
//! - [`EngineCounters`] counts the rows dropped as late or over the key limit;
//!   add them into [`vigil_model::Counters`] with [`EngineCounters::add_to`].
//! - [`Error`] names the monitor (and column) a batch or a setting failed on.
//! - [`store::MinuteStore`] keeps closed rows as Parquet files partitioned by
//!   monitor and UTC hour, reads ranges back (newest amendment wins) and
//!   deletes partitions past the retention.
//! - [`sql::SqlEngine`] runs read-only SQL (DataFusion) over the stored
//!   minutes, one table per monitor, within row and time limits.
//!
//! # Input contract
//!
//! For one monitor the collector hands the engine `RecordBatch`es of the
//! lines that passed the monitor's filters, with:
//!
//! - column 0: the event time, `Int64`, epoch milliseconds UTC;
//! - column `1 + i`: the monitor's column `i` (`monitor.columns[i]`), `Utf8`
//!   for `ColumnType::String`, `Int64` for `Int`, `Float64` for `Float`; values
//!   already trimmed and translated;
//! - when `monitor.needs_line()`: one more, last column, the raw line, `Utf8`.
//!
//! No column holds nulls. Rows within and across batches are in arrival
//! order. A batch that breaks the contract is refused whole with an
//! [`Error`] naming the monitor and the column.
//!
//! # Rules
//!
//! - Bucket start = `floor(time_ms / size)`; rows carry it in epoch seconds.
//! - Rows are processed strictly in order; a row is late (counted, dropped)
//!   iff the max event time of all rows before it is at or after its bucket's
//!   end plus `lateness_secs`, or when its bucket already ended at or before
//!   the `up_to_ms` of an earlier drain. Results do not depend on how rows
//!   are split into batches.
//! - Per bucket at most `key_limit` distinct keys (the group-by values;
//!   int and float keys as their `Display` text) are kept; rows of further
//!   keys are dropped and counted.

mod aggregate;
mod alert;
mod archive;
mod batch;
mod bucket;
mod error;
mod key;
mod operand;
mod output;
pub mod partial;
mod service;
pub mod sql;
mod stats;
pub mod store;
mod top;

pub use aggregate::{Aggregator, ClosedBucket, EngineCounters};
pub use archive::{ArchiveAggregator, ArchiveState, PeriodState};
pub use error::Error;
pub use key::KeyedBatch;
pub use partial::{KeyedPartial, Partial};
