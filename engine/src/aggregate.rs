//! [`Aggregator`]: rows of one monitor into closed buckets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use vigil_config::monitor::{Kind, Monitor};
use vigil_model::{Counters, MinuteRow};

use crate::alert::MatchFold;
use crate::batch::Columns;
use crate::bucket::{bucket_start, Bucket};
use crate::error::Error;
use crate::key::{KeySchema, KeyedBatch};
use crate::output::{Fold, Names};
use crate::partial::{KeyedPartial, Partial};
use crate::service::ServiceFold;
use crate::stats::StatsFold;
use crate::top::{RecordFold, TopRule};

/// What an [`Aggregator`] dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Rows dropped because their bucket already had `key_limit` keys.
    pub key_dropped: u64,
    /// Rows dropped because their bucket was past the lateness window.
    pub late: u64,
    /// Rows added, within the lateness window, to a bucket that was
    /// already drained with rows: the bucket is drained again with them.
    pub amended: u64,
}

impl EngineCounters {
    /// Adds these counters into a monitor's [`Counters`].
    pub fn add_to(&self, counters: &mut Counters) {
        counters.key_dropped += self.key_dropped;
        counters.late += self.late;
        counters.amended += self.amended;
    }
}

/// The output of one closed bucket of one monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedBucket {
    /// Start of the bucket, epoch seconds.
    pub start: i64,
    /// The bucket's rows, sorted by keys, then rank.
    pub rows: Vec<MinuteRow>,
    /// Per-key mergeable accumulators, sorted by key, for archive roll-ups.
    /// Filled for minute_stat, second_stat and service_metrics; empty for
    /// the top and match kinds, which cannot be rolled up.
    pub partials: Vec<KeyedPartial>,
}

impl ClosedBucket {
    /// A bucket whose rows are the values of key-sorted `entries`.
    pub(crate) fn from_partials(
        names: &Names,
        start_s: i64,
        entries: Vec<(Vec<String>, Partial)>,
    ) -> Self {
        let mut rows = Vec::with_capacity(entries.len());
        let mut partials = Vec::with_capacity(entries.len());
        for (key, partial) in entries {
            let mut row = names.row(start_s, &key);
            row.values = names.values(partial.values());
            rows.push(row);
            partials.push(KeyedPartial { key, partial });
        }
        ClosedBucket {
            start: start_s,
            rows,
            partials,
        }
    }
}

/// Exact per-bucket statistics of one monitor (any kind but archive).
///
/// Rows are processed strictly in arrival order, so the output does not
/// depend on how rows are split into batches. See the crate documentation
/// for the input contract and the lateness and key-limit rules.
pub struct Aggregator {
    core: Box<dyn Run + Send>,
}

impl fmt::Debug for Aggregator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aggregator")
            .field("monitor", &self.core.monitor().name)
            .field("newest_ms", &self.core.newest_ms())
            .field("counters", &self.core.counters())
            .finish()
    }
}

impl Aggregator {
    /// An aggregator of `monitor`; [`Error::Unsupported`] for an archive
    /// monitor (see [`crate::ArchiveAggregator`]), [`Error::Invalid`] when
    /// the monitor's settings are inconsistent.
    pub fn new(monitor: Arc<Monitor>) -> Result<Self, Error> {
        let core: Box<dyn Run + Send> = match &monitor.kind {
            Kind::MinuteStat(s) => {
                let fold = StatsFold::new(&monitor, s, None)?;
                Box::new(Core::new(monitor.clone(), 60_000, fold)?)
            }
            Kind::SecondStat(s) => {
                let fold = StatsFold::new(&monitor, s, None)?;
                Box::new(Core::new(monitor.clone(), 1_000, fold)?)
            }
            Kind::MinuteTop(t) => {
                let fold = StatsFold::new(&monitor, &t.stats, Some(TopRule::new(&monitor, t)?))?;
                Box::new(Core::new(monitor.clone(), 60_000, fold)?)
            }
            Kind::ServiceMetrics(s) => {
                let fold = ServiceFold::new(&monitor, s)?;
                Box::new(Core::new(monitor.clone(), 60_000, fold)?)
            }
            Kind::RecordTop(r) => {
                let fold = RecordFold::new(&monitor, r)?;
                Box::new(Core::new(monitor.clone(), 60_000, fold)?)
            }
            Kind::MatchAlert(m) => Box::new(Core::new(monitor.clone(), 60_000, MatchFold::new(m))?),
            Kind::Archive(_) => {
                return Err(Error::unsupported(
                    &monitor.name,
                    "an archive monitor in Aggregator (use ArchiveAggregator)",
                ))
            }
        };
        Ok(Aggregator { core })
    }

    /// Adds a batch of rows; an error (naming the monitor and the column)
    /// when the batch does not match the input contract, in which case no
    /// row of the batch is used.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let keyed = self.group(batch)?;
        self.push_grouped(&keyed)
    }

    /// Checks a batch against the input contract and encodes its rows'
    /// keys once, for [`Aggregator::push_grouped`] into this aggregator and
    /// any other of a monitor with the same group-by columns (the views of
    /// one monitor).
    pub fn group<'a>(&self, batch: &'a RecordBatch) -> Result<KeyedBatch<'a>, Error> {
        self.core.group(batch)
    }

    /// [`Aggregator::push`] of a batch grouped by [`Aggregator::group`];
    /// [`Error::Invalid`] when it was keyed by other group-by columns.
    pub fn push_grouped(&mut self, batch: &KeyedBatch<'_>) -> Result<(), Error> {
        self.core.push(batch)
    }

    /// Closes and returns, in time order, every bucket whose end is at or
    /// before `up_to_ms`, and again every drained bucket amended since it
    /// was last returned. A drained bucket stays amendable until the
    /// lateness window has passed it: a row for it is counted as amended
    /// and the whole bucket comes out of the next drain (its output
    /// replaces the earlier one); later rows are late.
    pub fn drain_closed(&mut self, up_to_ms: i64) -> Vec<ClosedBucket> {
        self.core.drain_closed(up_to_ms)
    }

    /// Closes and returns every open (and every amended) bucket, in time
    /// order.
    pub fn drain_all(&mut self) -> Vec<ClosedBucket> {
        self.core.drain_all()
    }

    /// Rows dropped so far.
    pub fn counters(&self) -> EngineCounters {
        self.core.counters()
    }

    /// The newest event time seen (of any row, accepted or not), epoch ms.
    pub fn newest_ms(&self) -> Option<i64> {
        self.core.newest_ms()
    }

    /// The current output of every open bucket, in time order, without
    /// closing anything: the minute in progress, for a live view.
    pub fn peek_open(&self) -> Vec<ClosedBucket> {
        self.core.peek_open()
    }

    /// How many buckets hold rows not yet drained (0 once every row pushed
    /// so far is in a closed bucket, i.e. safe to acknowledge upstream).
    pub fn open_buckets(&self) -> usize {
        self.core.open_buckets()
    }

    /// The time (ms, a bucket boundary) before which the output is final:
    /// every bucket ending at or before it was drained, was not amended
    /// since, and is past the lateness window, so no row can change it any
    /// more. `None` before any row was seen.
    pub fn final_before_ms(&self) -> Option<i64> {
        self.core.final_before_ms()
    }

    /// Makes everything drained so far final: later rows for those buckets
    /// are late rather than amendments. For a monitor whose lines stopped
    /// for longer than the lateness window (by the wall clock).
    pub fn finalize(&mut self) {
        self.core.finalize();
    }

    /// Counts as late the rows of buckets ending at or before `floor_ms`:
    /// after a restart or a reload, the minutes that were already final and
    /// stored, which a fresh aggregator must not write again in part. The
    /// newest time becomes at least `floor_ms` plus the lateness window, as
    /// it was when those minutes became final.
    pub fn set_floor(&mut self, floor_ms: i64) {
        self.core.set_floor(floor_ms);
    }
}

/// The kind-independent interface of a [`Core`].
trait Run {
    fn monitor(&self) -> &Monitor;
    fn group<'a>(&self, batch: &'a RecordBatch) -> Result<KeyedBatch<'a>, Error>;
    fn push(&mut self, batch: &KeyedBatch<'_>) -> Result<(), Error>;
    fn drain_closed(&mut self, up_to_ms: i64) -> Vec<ClosedBucket>;
    fn drain_all(&mut self) -> Vec<ClosedBucket>;
    fn counters(&self) -> EngineCounters;
    fn newest_ms(&self) -> Option<i64>;
    fn open_buckets(&self) -> usize;
    fn peek_open(&self) -> Vec<ClosedBucket>;
    fn final_before_ms(&self) -> Option<i64>;
    fn set_floor(&mut self, floor_ms: i64);
    fn finalize(&mut self);
}

/// Buckets, lateness and key limits around one kind's [`Fold`].
struct Core<F: Fold> {
    monitor: Arc<Monitor>,
    names: Names,
    keys: KeySchema,
    fold: F,
    size_ms: i64,
    lateness_ms: i64,
    /// Open buckets by start (ms).
    buckets: BTreeMap<i64, Bucket<F::State>>,
    /// Drained buckets still inside the lateness window, by start (ms).
    closed: BTreeMap<i64, Bucket<F::State>>,
    /// Starts of closed buckets amended since they were last drained.
    dirty: BTreeSet<i64>,
    /// Starts of closed buckets whose rows all came after their drain, not
    /// drained yet: their rows are not amendments.
    unsent: BTreeSet<i64>,
    /// Rows of buckets ending at or before this (ms) are ignored.
    floor: i64,
    /// Max event time of all rows so far.
    newest: Option<i64>,
    /// Buckets ending at or before this (ms) were drained.
    drained_to: i64,
    counters: EngineCounters,
    /// Per key number of the batch being pushed: the run it was last looked
    /// up in and its state's index in that run's bucket (`None`: dropped
    /// by the key limit). Reused across batches.
    slots: Vec<(u64, Option<usize>)>,
    /// Number of the current run of rows of one bucket; only grows, so a
    /// slot of an earlier run or batch never matches.
    run: u64,
}

impl<F: Fold> Core<F> {
    fn new(monitor: Arc<Monitor>, size_ms: i64, fold: F) -> Result<Self, Error> {
        let keys = KeySchema::new(&monitor)?;
        let names = Names {
            monitor: monitor.name.clone(),
            keys: keys.names.clone(),
            values: monitor.value_names(),
        };
        Ok(Core {
            lateness_ms: monitor.lateness_secs.saturating_mul(1000),
            monitor,
            names,
            keys,
            fold,
            size_ms,
            buckets: BTreeMap::new(),
            closed: BTreeMap::new(),
            dirty: BTreeSet::new(),
            unsent: BTreeSet::new(),
            floor: i64::MIN,
            newest: None,
            drained_to: i64::MIN,
            counters: EngineCounters::default(),
            slots: Vec::new(),
            run: 0,
        })
    }

    fn close(&self, start_ms: i64, bucket: &Bucket<F::State>) -> ClosedBucket {
        let entries = bucket.entries(&self.keys);
        self.fold.close(&self.names, start_ms / 1000, entries)
    }

    /// Moves the open buckets ending at or before `up_to_ms` to the closed
    /// ones and returns them with the amended closed buckets, in time order;
    /// then forgets closed buckets that the lateness window has passed.
    fn drain_to(&mut self, up_to_ms: i64) -> Vec<ClosedBucket> {
        // Buckets with start + size <= up_to, i.e. start < up_to - size + 1.
        let first_open = up_to_ms.saturating_sub(self.size_ms).saturating_add(1);
        let open = self.buckets.split_off(&first_open);
        let newly = std::mem::replace(&mut self.buckets, open);
        self.drained_to = self.drained_to.max(up_to_ms);
        let mut out: BTreeMap<i64, ClosedBucket> = BTreeMap::new();
        for (start, bucket) in newly {
            out.insert(start, self.close(start, &bucket));
            self.closed.insert(start, bucket);
        }
        self.unsent.clear();
        for start in std::mem::take(&mut self.dirty) {
            if let Some(bucket) = self.closed.get(&start) {
                out.insert(start, self.close(start, bucket));
            }
        }
        if let Some(newest) = self.newest {
            let size_and_lateness = self.size_ms.saturating_add(self.lateness_ms);
            self.closed
                .retain(|&start, _| start.saturating_add(size_and_lateness) > newest);
        }
        out.into_values().collect()
    }
}

impl<F: Fold> Run for Core<F> {
    fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    fn group<'a>(&self, batch: &'a RecordBatch) -> Result<KeyedBatch<'a>, Error> {
        let cols = Columns::new(&self.monitor, batch)?;
        let key = self.keys.bind(&cols)?;
        let (groups, keys) = key.group(cols.times.len());
        Ok(KeyedBatch {
            batch,
            columns: self.keys.columns.clone(),
            groups,
            keys,
        })
    }

    fn push(&mut self, keyed: &KeyedBatch<'_>) -> Result<(), Error> {
        if keyed.columns != self.keys.columns {
            return Err(Error::invalid(
                &self.monitor.name,
                "a batch keyed by other group-by columns",
            ));
        }
        let Core {
            monitor,
            fold,
            size_ms,
            lateness_ms,
            buckets,
            closed,
            dirty,
            unsent,
            floor,
            newest: newest_seen,
            drained_to,
            counters,
            slots,
            run,
            ..
        } = self;
        let cols = Columns::new(monitor, keyed.batch)?;
        let bound = fold.bind(&cols)?;
        if slots.len() < keyed.keys.len() {
            slots.resize(keyed.keys.len(), (0, None));
        }
        let limit = monitor.key_limit;
        let times = cols.times;
        let n = times.len();
        // `seen` guards the sentinel: no row is late before any row was seen.
        let mut seen = newest_seen.is_some();
        let mut newest = newest_seen.unwrap_or(i64::MIN);
        let mut row = 0;
        while row < n {
            // A run: consecutive rows in the bucket of `times[row]`.
            let start = bucket_start(times[row], *size_ms);
            let end = start.saturating_add(*size_ms);
            let late_from = end.saturating_add(*lateness_ms);
            let in_run = |t: i64| t >= start && t < end;
            if end <= *floor {
                loop {
                    counters.late += 1;
                    newest = if seen {
                        newest.max(times[row])
                    } else {
                        times[row]
                    };
                    seen = true;
                    row += 1;
                    if row >= n || !in_run(times[row]) {
                        break;
                    }
                }
                continue;
            }
            // A drained bucket is amended while the lateness window allows;
            // a drained minute that had no rows yet simply comes out at the
            // next drain.
            let amending = end <= *drained_to;
            let emitted = amending && closed.contains_key(&start) && !unsent.contains(&start);
            let bucket = if amending {
                closed.entry(start).or_insert_with(|| {
                    unsent.insert(start);
                    Bucket::new()
                })
            } else {
                buckets.entry(start).or_insert_with(Bucket::new)
            };
            // A bucket's keys are only added to during a run, so a key's
            // lookup (or its drop by the key limit) holds for the whole run.
            *run += 1;
            let mut updated: u64 = 0;
            loop {
                let t = times[row];
                if seen && newest >= late_from {
                    counters.late += 1;
                } else {
                    let group = keyed.groups[row] as usize;
                    let index = match slots[group] {
                        (r, found) if r == *run => found,
                        _ => {
                            let found = bucket
                                .find_or_insert(&keyed.keys[group], limit, || fold.new_state());
                            slots[group] = (*run, found);
                            found
                        }
                    };
                    match index {
                        Some(i) => {
                            fold.update(&bound, &mut bucket.states[i], row);
                            updated += 1;
                        }
                        None => counters.key_dropped += 1,
                    }
                }
                newest = if seen { newest.max(t) } else { t };
                seen = true;
                row += 1;
                if row >= n || !in_run(times[row]) {
                    break;
                }
            }
            if amending && updated > 0 {
                if emitted {
                    counters.amended += updated;
                }
                dirty.insert(start);
            }
            if bucket.states.is_empty() {
                if amending {
                    closed.remove(&start);
                } else {
                    buckets.remove(&start);
                }
            }
        }
        if seen {
            *newest_seen = Some(newest);
        }
        Ok(())
    }

    fn drain_closed(&mut self, up_to_ms: i64) -> Vec<ClosedBucket> {
        self.drain_to(up_to_ms)
    }

    fn drain_all(&mut self) -> Vec<ClosedBucket> {
        let up_to = match self.buckets.last_key_value() {
            Some((&start, _)) => start.saturating_add(self.size_ms),
            None => self.drained_to,
        };
        self.drain_to(up_to)
    }

    fn counters(&self) -> EngineCounters {
        self.counters
    }

    fn newest_ms(&self) -> Option<i64> {
        self.newest
    }

    fn open_buckets(&self) -> usize {
        self.buckets.len()
    }

    fn peek_open(&self) -> Vec<ClosedBucket> {
        self.buckets
            .iter()
            .map(|(&start, bucket)| self.close(start, bucket))
            .collect()
    }

    fn final_before_ms(&self) -> Option<i64> {
        let newest = self.newest?;
        let mut before =
            bucket_start(newest.saturating_sub(self.lateness_ms), self.size_ms).max(self.floor);
        if let Some((&start, _)) = self.buckets.first_key_value() {
            before = before.min(start);
        }
        if let Some(&start) = self.dirty.first() {
            before = before.min(start);
        }
        Some(before)
    }

    fn finalize(&mut self) {
        self.floor = self.floor.max(self.drained_to);
        self.closed.clear();
        self.dirty.clear();
        self.unsent.clear();
    }

    fn set_floor(&mut self, floor_ms: i64) {
        self.floor = self.floor.max(floor_ms);
        self.drained_to = self.drained_to.max(self.floor);
        let newest = self.floor.saturating_add(self.lateness_ms);
        self.newest = Some(self.newest.map_or(newest, |n| n.max(newest)));
    }
}
