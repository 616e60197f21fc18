//! The collector's pipeline: agents' raw lines → events → a monitor's
//! columns → per-minute aggregates, in total and per label view → stored
//! minutes.
//!
//! Lines are cut by the [`Cutting`] half and aggregated here; the applier
//! takes the cutting half to its own thread ([`Pipeline::take_cutting`]),
//! and cuts the next frame while this half aggregates one.
//!
//! Every batch is applied in write-ahead-log order and tagged with its log
//! segment. The pipeline tells which segments only hold rows of minutes that
//! are final (stored, and past the lateness window); those segments can go,
//! and a restart replays the others on top of the floors saved with them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{Array, Int64Array};
use arrow::record_batch::RecordBatch;
use vigil_config::{Kind, Monitor};
use vigil_engine::store::MinuteStore;
use vigil_engine::{Aggregator, ArchiveAggregator, ArchiveState, ClosedBucket};
use vigil_model::wire::{BatchHeader, Labels};
use vigil_model::{Counters, MinuteRow, View};

use crate::cutting::{Cut, Cutting, MonitorCut};

/// One aggregator and when it last received rows (wall clock).
struct Agg {
    aggregator: Aggregator,
    last_rows_ms: i64,
}

impl Agg {
    fn new(monitor: &Arc<Monitor>, floor_ms: Option<i64>, now_ms: i64) -> Result<Self> {
        let mut aggregator = Aggregator::new(monitor.clone())?;
        if let Some(floor) = floor_ms {
            aggregator.set_floor(floor);
        }
        Ok(Agg {
            aggregator,
            last_rows_ms: now_ms,
        })
    }
}

/// A monitor's aggregators.
struct MonitorPipe {
    monitor: Arc<Monitor>,
    /// What the lines aggregated since start counted when they were cut.
    cut: Counters,
    total: Agg,
    /// Per labelled view and label value.
    labelled: BTreeMap<(View, String), Agg>,
    /// Rows of minutes before this were final at the last restart.
    floor_ms: Option<i64>,
    /// Whether its archives' periods in progress are stored as they are
    /// (done once its lines stop; see [`Pipeline::close`]).
    archived: bool,
}

/// Rows of one table drained by [`Pipeline::close`], to store whole.
#[derive(Debug)]
pub struct TableRows {
    /// The table: a monitor, an archive, or a view of a monitor.
    pub table: String,
    /// Its key columns.
    pub keys: Vec<String>,
    /// The rows of whole minutes (or periods).
    pub rows: Vec<MinuteRow>,
}

/// What [`Pipeline::close`] drained: rows to store (in this order, before
/// the next close) and the minutes alert rules evaluate.
#[derive(Debug, Default)]
pub struct Closed {
    /// Per table, its rows.
    pub tables: Vec<TableRows>,
    /// Each (monitor, minute) stored in total, in minute order per monitor.
    pub minutes: Vec<(String, i64)>,
}

impl Closed {
    fn add(&mut self, table: &str, keys: Vec<String>, rows: Vec<MinuteRow>) {
        if !rows.is_empty() {
            self.tables.push(TableRows {
                table: table.to_string(),
                keys,
                rows,
            });
        }
    }

    /// Writes every table's rows to `store`; returns the minutes.
    pub fn store(self, store: &mut MinuteStore) -> Result<Vec<(String, i64)>> {
        for t in &self.tables {
            store
                .write_table(&t.table, &t.keys, &t.rows)
                .with_context(|| format!("storing minutes of {}", t.table))?;
        }
        Ok(self.minutes)
    }
}

/// An archive monitor: the roll-up of one monitor's closed minutes.
struct ArchivePipe {
    monitor: Arc<Monitor>,
    /// Index of the source monitor in [`Pipeline::monitors`].
    source: usize,
    aggregator: ArchiveAggregator,
}

/// What must survive the deletion of log segments: per monitor, the time
/// before which minutes are final, and the counters of the deleted lines.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Floors {
    /// Minutes before this (epoch ms) are final, per monitor.
    pub final_before_ms: BTreeMap<String, i64>,
    /// Counters of the lines in deleted segments, per monitor.
    pub counters: BTreeMap<String, Counters>,
    /// Per archive monitor, its open periods with the minutes before its
    /// source's floor merged in.
    #[serde(default)]
    pub archives: BTreeMap<String, ArchiveState>,
    /// The last log segment whose late lines are already in `counters`
    /// (whose `late` are taken when the floors are saved, not at the first
    /// kept segment): replaying it does not count them again.
    #[serde(default)]
    pub late_through: Option<u64>,
}

/// See the [module docs](self).
pub struct Pipeline {
    cutting: Cutting,
    monitors: Vec<MonitorPipe>,
    archives: Vec<ArchivePipe>,
    close_after_ms: i64,
    /// Counters of the lines deleted from the log before this start, per
    /// monitor; the cutters and aggregators count everything since.
    base: BTreeMap<String, Counters>,
    /// Per segment and monitor: the newest row time pushed.
    segment_newest: BTreeMap<u64, HashMap<usize, i64>>,
    /// Per segment: every monitor's counters before its first batch.
    segment_start: BTreeMap<u64, BTreeMap<String, Counters>>,
    /// See [`Floors::late_through`].
    late_through: Option<u64>,
    /// Per monitor: late lines counted again by replaying segments up to
    /// `late_through`, taken off its counters.
    late_replayed: Vec<u64>,
}

impl Pipeline {
    /// A pipeline for `monitors` (archives roll up the minutes of their
    /// source), resuming from `floors`.
    pub fn new(monitors: &[Arc<Monitor>], close_after_ms: i64, floors: &Floors) -> Result<Self> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let sourced: Vec<Arc<Monitor>> = monitors
            .iter()
            .filter(|m| m.source.is_some())
            .cloned()
            .collect();
        let cutting = Cutting::new(&sourced, now_ms)?;
        let mut pipes = Vec::new();
        for m in &sourced {
            let floor_ms = floors.final_before_ms.get(&m.name).copied();
            pipes.push(MonitorPipe {
                monitor: m.clone(),
                cut: Counters::default(),
                total: Agg::new(m, floor_ms, now_ms)?,
                labelled: BTreeMap::new(),
                floor_ms,
                archived: false,
            });
        }
        let mut archives = Vec::new();
        for m in monitors {
            let Kind::Archive(settings) = &m.kind else {
                continue;
            };
            let source = pipes
                .iter()
                .position(|p| p.monitor.name == settings.of)
                .with_context(|| {
                    format!(
                        "archive {} rolls up unknown monitor {}",
                        m.name, settings.of
                    )
                })?;
            let mut aggregator = ArchiveAggregator::new(m.clone(), &pipes[source].monitor)?;
            if let Some(state) = floors.archives.get(&m.name) {
                aggregator.restore(state);
            }
            archives.push(ArchivePipe {
                monitor: m.clone(),
                source,
                aggregator,
            });
        }
        let monitors_len = pipes.len();
        Ok(Pipeline {
            cutting,
            monitors: pipes,
            archives,
            close_after_ms,
            base: floors.counters.clone(),
            segment_newest: BTreeMap::new(),
            segment_start: BTreeMap::new(),
            late_through: floors.late_through,
            late_replayed: vec![0; monitors_len],
        })
    }

    /// Cuts and aggregates one batch of `agent` (with `labels`): its
    /// header and lines (each ending with `\n`), read from log segment
    /// `segment`.
    pub fn apply(
        &mut self,
        segment: u64,
        agent: &str,
        labels: &Labels,
        batch: (&BatchHeader, &[u8]),
        now_ms: i64,
    ) -> Result<()> {
        let cut = self.cutting.cut(segment, agent, batch);
        self.aggregate(cut, labels, now_ms)
    }

    /// Takes the cutting half out, for the applier to cut frames on a
    /// thread of its own while this half aggregates: [`Pipeline::apply`]
    /// cuts nothing afterwards.
    pub fn take_cutting(&mut self) -> Cutting {
        std::mem::take(&mut self.cutting)
    }

    /// [`Pipeline::aggregate`] of every cut of a frame (of an agent with
    /// `labels`), in order; a cut that fails does not stop the others.
    /// Returns the errors.
    pub fn aggregate_frame(
        &mut self,
        cuts: Vec<Cut>,
        labels: &Labels,
        now_ms: i64,
    ) -> Vec<anyhow::Error> {
        cuts.into_iter()
            .filter_map(|c| self.aggregate(c, labels, now_ms).err())
            .collect()
    }

    /// Aggregates the rows of `cut` (of an agent with `labels`) in every
    /// view, and adds what its lines counted.
    pub fn aggregate(&mut self, cut: Cut, labels: &Labels, now_ms: i64) -> Result<()> {
        let Cut {
            segment,
            path,
            monitors,
        } = cut;
        let aggregated = if self.late_through.is_none_or(|t| segment > t) {
            self.push_cut(segment, monitors, labels, now_ms)
        } else {
            let late = |p: &Pipeline| -> Vec<u64> {
                p.monitors
                    .iter()
                    .map(|m| m.total.aggregator.counters().late)
                    .collect()
            };
            let before = late(self);
            let aggregated = self.push_cut(segment, monitors, labels, now_ms);
            let after = late(self);
            for ((sum, after), before) in self.late_replayed.iter_mut().zip(after).zip(before) {
                *sum += after.saturating_sub(before);
            }
            aggregated
        };
        aggregated.with_context(|| path)
    }

    fn push_cut(
        &mut self,
        segment: u64,
        monitors: Vec<MonitorCut>,
        labels: &Labels,
        now_ms: i64,
    ) -> Result<()> {
        if !self.segment_start.contains_key(&segment) {
            let counters = self.counters();
            self.segment_start.insert(segment, counters);
        }
        // The lines are counted whatever becomes of their rows.
        for m in &monitors {
            self.monitors[m.monitor].cut.add(&m.counters);
        }
        for m in monitors {
            for b in &m.batches {
                self.push(m.monitor, b, labels, segment, now_ms)?;
            }
        }
        Ok(())
    }

    fn push(
        &mut self,
        i: usize,
        batch: &RecordBatch,
        labels: &Labels,
        segment: u64,
        now_ms: i64,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let newest = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .and_then(arrow::compute::max);
        if let Some(t) = newest {
            let slot = self
                .segment_newest
                .entry(segment)
                .or_default()
                .entry(i)
                .or_insert(t);
            *slot = (*slot).max(t);
        }
        let pipe = &mut self.monitors[i];
        // Keyed once for the total and every labelled view.
        let keyed = pipe.total.aggregator.group(batch)?;
        pipe.total.aggregator.push_grouped(&keyed)?;
        pipe.total.last_rows_ms = now_ms;
        pipe.archived = false;
        for view in View::LABELLED {
            let label = view.label_of(labels).unwrap_or_default();
            let agg = match pipe.labelled.entry((view, label)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(Agg::new(&pipe.monitor, pipe.floor_ms, now_ms)?)
                }
            };
            agg.aggregator.push_grouped(&keyed)?;
            agg.last_rows_ms = now_ms;
        }
        Ok(())
    }

    /// Closes the minutes due at `now_ms` in every view and stores them. A
    /// minute closes `close_after` after its end, by the newest line time or
    /// the wall clock, whichever comes first. An aggregator that received
    /// nothing for as long as the lateness window is final: later lines for
    /// its minutes are late. An archive period is stored once every minute
    /// in it is final; when its monitor's lines stop (the idle rule above),
    /// the periods in progress are stored as they are too, and stored again
    /// when they end: the last hour of a log that stopped is not only in
    /// memory. Returns each (monitor, minute) stored in total, in minute
    /// order per monitor: the minutes alert rules evaluate.
    pub fn close(&mut self, now_ms: i64) -> Closed {
        let close_after = self.close_after_ms;
        let mut closed = Closed::default();
        for (i, pipe) in self.monitors.iter_mut().enumerate() {
            let name = pipe.monitor.name.clone();
            let key_names: Vec<String> = pipe
                .monitor
                .key_names()
                .into_iter()
                .map(str::to_string)
                .collect();
            let lateness_ms = pipe.monitor.lateness_secs.saturating_mul(1000);
            let (buckets, idle) = drain(&mut pipe.total, now_ms, close_after, lateness_ms);
            let final_ms = pipe.total.aggregator.final_before_ms();
            let store_open = idle && !pipe.archived;
            for archive in self.archives.iter_mut().filter(|a| a.source == i) {
                for bucket in &buckets {
                    archive.aggregator.push(bucket);
                }
                let mut rows =
                    final_ms.map_or_else(Vec::new, |f| archive.aggregator.drain_closed(f));
                if store_open {
                    rows.extend(archive.aggregator.peek_open());
                }
                closed.add(
                    &archive.monitor.name,
                    archive.aggregator.key_names().to_vec(),
                    rows,
                );
            }
            pipe.archived |= store_open;
            let rows = rows_of(buckets);
            let minutes: BTreeSet<i64> = rows.iter().map(|r| r.minute).collect();
            closed
                .minutes
                .extend(minutes.into_iter().map(|m| (name.clone(), m)));
            let mut by_view: BTreeMap<View, Vec<MinuteRow>> = BTreeMap::new();
            for ((view, label), agg) in &mut pipe.labelled {
                let rows = rows_of(drain(agg, now_ms, close_after, lateness_ms).0);
                let out = by_view.entry(*view).or_default();
                out.extend(labelled(rows, *view, label));
            }
            for (view, rows) in by_view {
                let mut keys = vec![view.name().to_string()];
                keys.extend(key_names.iter().cloned());
                closed.add(&view.table(&name), keys, rows);
            }
            // Stored after its views: a minute seen in total is in every view.
            closed.add(&name, key_names.clone(), rows);
        }
        closed
    }

    /// Every monitor's counters: lines no longer in the log plus those
    /// applied since.
    pub fn counters(&self) -> BTreeMap<String, Counters> {
        self.monitors
            .iter()
            .zip(&self.late_replayed)
            .map(|(p, &late_replayed)| {
                let mut c = self.base.get(&p.monitor.name).copied().unwrap_or_default();
                c.add(&p.cut);
                p.total.aggregator.counters().add_to(&mut c);
                c.late = c.late.saturating_sub(late_replayed);
                (p.monitor.name.clone(), c)
            })
            .chain(self.archives.iter().map(|a| {
                let mut c = Counters::default();
                a.aggregator.counters().add_to(&mut c);
                (a.monitor.name.clone(), c)
            }))
            .collect()
    }

    /// The minutes in progress of `monitor` in `view` (label first among
    /// the keys in labelled views).
    pub fn peek(&self, monitor: &str, view: View) -> Vec<MinuteRow> {
        if let Some(archive) = self.archives.iter().find(|a| a.monitor.name == monitor) {
            return archive.aggregator.peek_open();
        }
        let Some(pipe) = self.monitors.iter().find(|p| p.monitor.name == monitor) else {
            return Vec::new();
        };
        match view {
            View::Total => rows_of(pipe.total.aggregator.peek_open()),
            _ => pipe
                .labelled
                .iter()
                .filter(|((v, _), _)| *v == view)
                .flat_map(|((v, label), agg)| {
                    labelled(rows_of(agg.aggregator.peek_open()), *v, label)
                })
                .collect(),
        }
    }

    /// Closes every minute in progress and makes everything final (before
    /// a reload); returns the floors and counters a new pipeline continues
    /// from, and what to store (see [`Pipeline::close`]).
    pub fn finish(&mut self, now_ms: i64) -> (Floors, Closed) {
        for pipe in &mut self.monitors {
            pipe.total.last_rows_ms = i64::MIN;
            for agg in pipe.labelled.values_mut() {
                agg.last_rows_ms = i64::MIN;
            }
        }
        let closed = self.close(now_ms);
        let final_before_ms = self
            .monitors
            .iter()
            .filter_map(|p| {
                Some((
                    p.monitor.name.clone(),
                    p.total.aggregator.final_before_ms()?,
                ))
            })
            .collect();
        let floors = Floors {
            archives: self.archive_states(&final_before_ms),
            final_before_ms,
            counters: self.counters(),
            late_through: None,
        };
        (floors, closed)
    }

    /// Per monitor, how many minutes are in progress.
    pub fn open_minutes(&self) -> Vec<(String, usize)> {
        self.monitors
            .iter()
            .map(|p| (p.monitor.name.clone(), p.total.aggregator.open_buckets()))
            .collect()
    }

    /// Given the log's segments (oldest first, the active one last), the
    /// first one still needed: every older segment only holds rows of final
    /// minutes. Returns it with the [`Floors`] to save before deleting the
    /// older ones (the caller rotates the log and sets
    /// [`Floors::late_through`]); `None` when none can go.
    pub fn releasable(&self, segments: &[u64]) -> Option<(u64, Floors)> {
        let finals: HashMap<usize, Option<i64>> = self
            .monitors
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.total.aggregator.final_before_ms()))
            .collect();
        let done = |seg: u64| {
            self.segment_newest.get(&seg).is_none_or(|newest| {
                newest.iter().all(|(i, &t)| {
                    finals
                        .get(i)
                        .copied()
                        .flatten()
                        .is_some_and(|before| t < before)
                })
            })
        };
        let (&active, old) = segments.split_last()?;
        let cut = old.iter().copied().find(|&s| !done(s)).unwrap_or(active);
        if old.first().is_none_or(|&first| first >= cut) {
            return None;
        }
        // Lines of the kept segments are counted again by a replay, but
        // their late ones only in segments after `late_through`.
        let now = self.counters();
        let mut counters = self
            .segment_start
            .range(cut..)
            .next()
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| now.clone());
        for (name, c) in &mut counters {
            c.late = now.get(name).map_or(c.late, |n| n.late);
        }
        let final_before_ms = self
            .monitors
            .iter()
            .filter_map(|p| {
                let before = p.total.aggregator.final_before_ms().or(p.floor_ms)?;
                Some((p.monitor.name.clone(), before))
            })
            .collect();
        Some((
            cut,
            Floors {
                archives: self.archive_states(&final_before_ms),
                final_before_ms,
                counters,
                late_through: None,
            },
        ))
    }

    /// Each archive's state, its source resuming at the floor in
    /// `final_before_ms` (from the start without one).
    fn archive_states(
        &self,
        final_before_ms: &BTreeMap<String, i64>,
    ) -> BTreeMap<String, ArchiveState> {
        self.archives
            .iter()
            .map(|a| {
                let source = &self.monitors[a.source].monitor.name;
                let before = final_before_ms.get(source).copied().unwrap_or(i64::MIN);
                (a.monitor.name.clone(), a.aggregator.state(before))
            })
            .collect()
    }

    /// Forgets the bookkeeping of segments before `cut` once they are
    /// deleted (their counters are in the saved [`Floors`]; the ones in
    /// memory still count since start).
    pub fn release(&mut self, cut: u64) {
        self.segment_newest = self.segment_newest.split_off(&cut);
        self.segment_start = self.segment_start.split_off(&cut);
    }
}

/// Drains what is due from `agg`; finalizes it when idle. Returns the
/// drained buckets and whether it was idle.
fn drain(
    agg: &mut Agg,
    now_ms: i64,
    close_after_ms: i64,
    lateness_ms: i64,
) -> (Vec<ClosedBucket>, bool) {
    let a = &mut agg.aggregator;
    let newest = a.newest_ms().unwrap_or(i64::MIN);
    let up_to = newest.max(now_ms).saturating_sub(close_after_ms);
    let mut buckets = a.drain_closed(up_to);
    let idle = now_ms.saturating_sub(agg.last_rows_ms) > lateness_ms.saturating_add(close_after_ms);
    if idle {
        buckets.extend(a.drain_all());
        a.finalize();
    }
    (buckets, idle)
}

/// `rows` of one label of `view`, the label first among their keys.
fn labelled(rows: Vec<MinuteRow>, view: View, label: &str) -> impl Iterator<Item = MinuteRow> + '_ {
    rows.into_iter().map(move |mut r| {
        r.keys
            .insert(0, (view.name().to_string(), label.to_string()));
        r
    })
}

fn rows_of(buckets: Vec<ClosedBucket>) -> Vec<MinuteRow> {
    buckets.into_iter().flat_map(|b| b.rows).collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use vigil_model::wire::Batch;
    use vigil_model::Value;

    use super::*;

    const MONITOR: &str = r#"monitors:
  - name: pay
    kind: minute_stat
    source: { paths: [/logs/*.log], timezone: UTC }
    time: { column: time, format: normal }
    columns:
      time:    { split: ",", index: 0 }
      channel: { split: ",", index: 1 }
      amount:  { split: ",", index: 2, type: int }
    group_by: [channel]
    stats: [count, { sum: amount }]
"#;

    /// (table, minute, label or "", channel, count, sum) of every stored row.
    type Stored = Vec<(String, i64, String, String, Option<Value>, Option<Value>)>;

    fn stored(closed: &Closed) -> Stored {
        let mut out = Vec::new();
        for t in &closed.tables {
            for r in &t.rows {
                let label = View::LABELLED
                    .iter()
                    .find_map(|v| r.key(v.name()))
                    .unwrap_or("");
                out.push((
                    t.table.clone(),
                    r.minute,
                    label.to_string(),
                    r.key("channel").unwrap_or("").to_string(),
                    r.value("count"),
                    r.value("sum_amount"),
                ));
            }
        }
        out
    }

    #[test]
    fn a_closed_minute_is_stored_in_every_view_before_its_total() {
        let text = [(PathBuf::from("m.yaml"), MONITOR.to_string())];
        let config = vigil_config::validate::load_texts(&text, &Default::default()).unwrap();
        let monitors: Vec<Arc<Monitor>> = config.monitors.into_iter().map(Arc::new).collect();
        let mut pipeline = Pipeline::new(&monitors, 10_000, &Floors::default()).unwrap();
        let lines = [
            "2024-03-13 10:00:01,card,5",
            "2024-03-13 10:00:02,cash,7",
            "2024-03-13 10:00:03,card,2",
            "2024-03-13 10:01:00,card,1",
        ];
        let payload: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let batch = Batch::new(
            "/logs/a.log".into(),
            (1, 2, 0),
            (0, payload.len() as u64),
            0,
            false,
            lines.iter().map(|l| l.as_bytes().to_vec()).collect(),
        );
        let labels = Labels {
            instance: "n1".into(),
            idc: Some("hz".into()),
            ldc: Some("hz-a".into()),
            ..Labels::default()
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        pipeline
            .apply(
                1,
                "n1",
                &labels,
                (&batch.header, payload.as_bytes()),
                now_ms,
            )
            .unwrap();
        let closed = pipeline.close(now_ms);

        let tables: Vec<&str> = closed.tables.iter().map(|t| t.table.as_str()).collect();
        assert_eq!(tables, ["pay@instance", "pay@idc", "pay@ldc", "pay"]);
        // 10:00 card 5 + 2, cash 7; 10:01 card 1: in total and per label.
        let m0 = 1_710_324_000;
        let int = |v: i64| Some(Value::Int(v));
        let rows = |table: &str, label: &str| -> Stored {
            [("card", 0, 2, 7), ("cash", 0, 1, 7), ("card", 60, 1, 1)]
                .into_iter()
                .map(|(channel, at, count, sum)| {
                    let (table, label) = (table.to_string(), label.to_string());
                    (
                        table,
                        m0 + at,
                        label,
                        channel.to_string(),
                        int(count),
                        int(sum),
                    )
                })
                .collect()
        };
        let mut want = rows("pay@instance", "n1");
        want.extend(rows("pay@idc", "hz"));
        want.extend(rows("pay@ldc", "hz-a"));
        want.extend(rows("pay", ""));
        assert_eq!(stored(&closed), want);
        let c = pipeline.counters()["pay"];
        assert_eq!((c.lines, c.parsed, c.parse_errors, c.late), (4, 4, 0, 0));
    }
}
