//! [`ArchiveAggregator`]: hour, day and week roll-ups of closed buckets.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use vigil_config::monitor::{Kind, Monitor, Period};
use vigil_model::MinuteRow;

use crate::aggregate::{ClosedBucket, EngineCounters};
use crate::error::Error;
use crate::partial::{KeyedPartial, Partial};

/// Seconds in an hour, a day and a week.
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// One open period: its end and the merged partial of each key.
#[derive(Clone)]
struct PeriodBucket {
    end_s: i64,
    keys: HashMap<Vec<String>, Partial>,
}

impl PeriodBucket {
    fn merge(&mut self, partials: &[KeyedPartial]) {
        for kp in partials {
            match self.keys.get_mut(kp.key.as_slice()) {
                Some(p) => p.merge(&kp.partial),
                None => {
                    self.keys.insert(kp.key.clone(), kp.partial.clone());
                }
            }
        }
    }
}

/// What an [`ArchiveAggregator`] holds, to continue after a restart: the
/// open periods with every source bucket before a time merged in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArchiveState {
    /// Open periods.
    pub periods: Vec<PeriodState>,
    /// Periods ending at or before this (ms) were drained.
    pub drained_to: i64,
    /// Source buckets that came after their period was drained.
    pub late: u64,
}

/// One open period of an [`ArchiveState`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodState {
    /// Which roll-up.
    pub period: Period,
    /// Start, epoch seconds.
    pub start_s: i64,
    /// End, epoch seconds.
    pub end_s: i64,
    /// Merged partial per key.
    pub keys: Vec<KeyedPartial>,
}

/// Rolls the closed buckets of one monitor up into the periods of an archive
/// monitor, aligned in the source monitor's timezone (UTC when it has none):
/// hours on the local hour, days on local midnight, weeks on local Monday
/// midnight. Values are recomputed from merged partials, so an hourly average
/// is the hour's sum over the hour's lines.
///
/// A pushed bucket stays pending, and replaced when it is pushed again (an
/// amended minute), until [`ArchiveAggregator::settle`] merges it into its
/// periods; draining settles what it drains.
///
/// Only minute_stat, second_stat and service_metrics monitors can be rolled
/// up. Keys are not limited beyond the source's per-bucket key limit.
pub struct ArchiveAggregator {
    archive: Arc<Monitor>,
    periods: Vec<Period>,
    tz: Tz,
    key_names: Vec<String>,
    value_names: Vec<String>,
    /// Open periods by (start, period), with the settled buckets merged.
    open: BTreeMap<(i64, Period), PeriodBucket>,
    /// Buckets pushed and not settled, by start (s).
    pending: BTreeMap<i64, Vec<KeyedPartial>>,
    /// Periods ending at or before this (ms) were drained.
    drained_to: i64,
    late: u64,
}

impl fmt::Debug for ArchiveAggregator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArchiveAggregator")
            .field("monitor", &self.archive.name)
            .field("periods", &self.periods)
            .field("tz", &self.tz)
            .field("open", &self.open.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl ArchiveAggregator {
    /// The roll-up `archive` (an archive monitor) of `source` (the monitor
    /// it names). [`Error::Unsupported`] when `source` is a top, record or
    /// match monitor; [`Error::Invalid`] when `archive` is not an archive of
    /// `source`.
    pub fn new(archive: Arc<Monitor>, source: &Monitor) -> Result<Self, Error> {
        let Kind::Archive(settings) = &archive.kind else {
            return Err(Error::invalid(
                &archive.name,
                format!("is a {} monitor, not an archive", archive.kind.name()),
            ));
        };
        if settings.of != source.name {
            return Err(Error::invalid(
                &archive.name,
                format!("archives `{}`, not `{}`", settings.of, source.name),
            ));
        }
        match source.kind {
            Kind::MinuteStat(_) | Kind::SecondStat(_) | Kind::ServiceMetrics(_) => {}
            _ => {
                return Err(Error::unsupported(
                    &archive.name,
                    format!("an archive of a {} monitor", source.kind.name()),
                ))
            }
        }
        let key_names = source
            .group_by
            .iter()
            .map(|&i| {
                source
                    .columns
                    .get(i)
                    .map(|c| c.name.clone())
                    .ok_or_else(|| {
                        Error::invalid(&source.name, format!("group_by refers to column #{i}"))
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut periods = settings.periods.clone();
        periods.sort();
        periods.dedup();
        Ok(ArchiveAggregator {
            periods,
            tz: source.source.as_ref().map_or(Tz::UTC, |s| s.timezone),
            key_names,
            value_names: source.value_names(),
            archive,
            open: BTreeMap::new(),
            pending: BTreeMap::new(),
            drained_to: i64::MIN,
            late: 0,
        })
    }

    /// The names of the archive's key columns (the source's group-by).
    pub fn key_names(&self) -> &[String] {
        &self.key_names
    }

    /// Takes a closed bucket of the source monitor; a bucket pushed again
    /// replaces the earlier one until it is settled. A bucket whose periods
    /// were all drained is counted as late and dropped.
    pub fn push(&mut self, closed: &ClosedBucket) {
        let open = self.periods.iter().any(|&period| {
            let (_, end_s) = period_bounds(self.tz, period, closed.start);
            end_s.saturating_mul(1000) > self.drained_to
        });
        if !open {
            self.late += 1;
            return;
        }
        self.pending.insert(closed.start, closed.partials.clone());
    }

    /// Merges every pending bucket starting before `before_ms` into its
    /// periods: buckets the source will not amend any more. A period already
    /// drained does not take it (the bucket is counted as late).
    pub fn settle(&mut self, before_ms: i64) {
        let keep = self.pending.split_off(&first_second_at_or_after(before_ms));
        let settled = std::mem::replace(&mut self.pending, keep);
        for (start, partials) in settled {
            let late = merge_into(
                &mut self.open,
                (self.tz, &self.periods, self.drained_to),
                start,
                &partials,
            );
            if late {
                self.late += 1;
            }
        }
    }

    /// Closed source buckets that arrived after their period was drained
    /// (in `late`; the other counters are always 0).
    pub fn counters(&self) -> EngineCounters {
        EngineCounters {
            late: self.late,
            ..EngineCounters::default()
        }
    }

    /// Settles the buckets before `up_to_ms` and returns the rows of every
    /// period ending at or before it, sorted by start, period and keys.
    pub fn drain_closed(&mut self, up_to_ms: i64) -> Vec<MinuteRow> {
        self.settle(up_to_ms);
        self.drained_to = self.drained_to.max(up_to_ms);
        let closed: Vec<_> = self
            .open
            .extract_if(.., |_, b| b.end_s.saturating_mul(1000) <= up_to_ms)
            .collect();
        self.rows(closed)
    }

    /// Settles everything and returns the rows of every open period, sorted
    /// by start, period and keys.
    pub fn drain_all(&mut self) -> Vec<MinuteRow> {
        self.settle(i64::MAX);
        let closed: Vec<_> = std::mem::take(&mut self.open).into_iter().collect();
        if let Some(end) = closed.iter().map(|(_, b)| b.end_s).max() {
            self.drained_to = self.drained_to.max(end.saturating_mul(1000));
        }
        self.rows(closed)
    }

    /// The rows the open periods would have if they were drained now
    /// (pending buckets included), without changing anything: the periods
    /// in progress, for a live view.
    pub fn peek_open(&self) -> Vec<MinuteRow> {
        self.rows(self.merged(i64::MAX).into_iter().collect())
    }

    /// The open periods with the pending buckets starting before
    /// `before_ms` merged in, leaving this aggregator as it is.
    fn merged(&self, before_ms: i64) -> BTreeMap<(i64, Period), PeriodBucket> {
        let mut open = self.open.clone();
        let settled = self.pending.range(..first_second_at_or_after(before_ms));
        for (&start, partials) in settled {
            merge_into(
                &mut open,
                (self.tz, &self.periods, self.drained_to),
                start,
                partials,
            );
        }
        open
    }

    /// The state to continue from after a restart whose source resumes at
    /// `before_ms`: the open periods with the pending buckets before it
    /// merged in (later ones come again from the source).
    pub fn state(&self, before_ms: i64) -> ArchiveState {
        let open = self.merged(before_ms);
        ArchiveState {
            periods: open
                .into_iter()
                .map(|((start_s, period), bucket)| {
                    let mut keys: Vec<KeyedPartial> = bucket
                        .keys
                        .into_iter()
                        .map(|(key, partial)| KeyedPartial { key, partial })
                        .collect();
                    keys.sort_by(|a, b| a.key.cmp(&b.key));
                    PeriodState {
                        period,
                        start_s,
                        end_s: bucket.end_s,
                        keys,
                    }
                })
                .collect(),
            drained_to: self.drained_to,
            late: self.late,
        }
    }

    /// Continues from `state` (see [`ArchiveAggregator::state`]); periods
    /// this archive does not roll up any more are left out.
    pub fn restore(&mut self, state: &ArchiveState) {
        self.drained_to = self.drained_to.max(state.drained_to);
        self.late += state.late;
        for p in state
            .periods
            .iter()
            .filter(|p| self.periods.contains(&p.period))
        {
            self.open
                .entry((p.start_s, p.period))
                .or_insert_with(|| PeriodBucket {
                    end_s: p.end_s,
                    keys: HashMap::new(),
                })
                .merge(&p.keys);
        }
    }

    fn rows(&self, closed: Vec<((i64, Period), PeriodBucket)>) -> Vec<MinuteRow> {
        let mut rows = Vec::new();
        for ((start_s, period), bucket) in closed {
            let mut keys: Vec<_> = bucket.keys.into_iter().collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, partial) in keys {
                let keys = self.key_names.iter().cloned().zip(key).collect();
                let mut row = MinuteRow::new(&self.archive.name, start_s, keys);
                row.values = self
                    .value_names
                    .iter()
                    .cloned()
                    .zip(partial.values())
                    .collect();
                row.period = Some(period.name().to_string());
                rows.push(row);
            }
        }
        rows.sort_by(MinuteRow::output_order);
        rows
    }
}

/// Merges the source bucket starting at `start_s` into the periods of
/// `open` that hold it (in `tz`), except the periods ending at or before
/// `drained_to` ms; returns whether there was such a drained one.
fn merge_into(
    open: &mut BTreeMap<(i64, Period), PeriodBucket>,
    (tz, periods, drained_to): (Tz, &[Period], i64),
    start_s: i64,
    partials: &[KeyedPartial],
) -> bool {
    let mut drained = false;
    for &period in periods {
        let (period_start, end_s) = period_bounds(tz, period, start_s);
        if end_s.saturating_mul(1000) <= drained_to {
            drained = true;
            continue;
        }
        open.entry((period_start, period))
            .or_insert_with(|| PeriodBucket {
                end_s,
                keys: HashMap::new(),
            })
            .merge(partials);
    }
    drained
}

/// The first whole second (epoch s) at or after `ms`: buckets starting
/// before it start before `ms`.
fn first_second_at_or_after(ms: i64) -> i64 {
    ms.div_euclid(1000)
        .saturating_add(i64::from(ms.rem_euclid(1000) != 0))
}

/// Start and end (epoch seconds) of the `period` holding `t_s`, in `tz`.
pub(crate) fn period_bounds(tz: Tz, period: Period, t_s: i64) -> (i64, i64) {
    let Some(utc) = DateTime::from_timestamp(t_s, 0) else {
        return utc_bounds(period, t_s);
    };
    let local = tz.from_utc_datetime(&utc.naive_utc());
    match period {
        Period::Hour => {
            let offset = i64::from(local.offset().fix().local_minus_utc());
            let start = (t_s + offset).div_euclid(HOUR) * HOUR - offset;
            (start, start + HOUR)
        }
        Period::Day => {
            let date = local.date_naive();
            day_span(tz, date, 1).unwrap_or_else(|| utc_bounds(period, t_s))
        }
        Period::Week => {
            let date = local.date_naive();
            let back = u64::from(date.weekday().num_days_from_monday());
            date.checked_sub_days(Days::new(back))
                .and_then(|monday| day_span(tz, monday, 7))
                .unwrap_or_else(|| utc_bounds(period, t_s))
        }
    }
}

/// Local midnight of `date` to local midnight `days` later, epoch seconds.
fn day_span(tz: Tz, date: NaiveDate, days: u64) -> Option<(i64, i64)> {
    let end = date.checked_add_days(Days::new(days))?;
    Some((day_start(tz, date), day_start(tz, end)))
}

/// The first instant of `date` in `tz`: local midnight, or when a clock
/// change skips midnight, the first local minute that exists.
fn day_start(tz: Tz, date: NaiveDate) -> i64 {
    let midnight = NaiveDateTime::new(date, NaiveTime::MIN);
    (0..24 * 60)
        .filter_map(|m| midnight.checked_add_signed(chrono::Duration::minutes(m)))
        .find_map(|local| tz.from_local_datetime(&local).earliest())
        .map_or_else(|| midnight.and_utc().timestamp(), |t| t.timestamp())
}

/// UTC bounds, for times chrono cannot represent (weeks start on Monday).
fn utc_bounds(period: Period, t_s: i64) -> (i64, i64) {
    // 1970-01-01 was a Thursday: Mondays fall 3 days before multiples of a week.
    let (size, shift) = match period {
        Period::Hour => (HOUR, 0),
        Period::Day => (DAY, 0),
        Period::Week => (WEEK, 3 * DAY),
    };
    let start = (t_s.saturating_add(shift)).div_euclid(size) * size - shift;
    (start, start.saturating_add(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_in_utc() {
        // 2024-03-13 (a Wednesday) 10:17:00 UTC.
        let t = 1_710_325_020;
        assert_eq!(
            period_bounds(Tz::UTC, Period::Hour, t),
            (1_710_324_000, 1_710_327_600)
        );
        assert_eq!(
            period_bounds(Tz::UTC, Period::Day, t),
            (1_710_288_000, 1_710_374_400)
        );
        // Monday 2024-03-11 00:00 UTC.
        assert_eq!(
            period_bounds(Tz::UTC, Period::Week, t),
            (1_710_115_200, 1_710_720_000)
        );
        for p in [Period::Hour, Period::Day, Period::Week] {
            assert_eq!(utc_bounds(p, t), period_bounds(Tz::UTC, p, t));
        }
    }

    #[test]
    fn bounds_in_a_half_hour_zone_and_across_dst() {
        // India is UTC+5:30: 10:17 UTC is 15:47 local, hour starts 15:00 local = 09:30 UTC.
        let t = 1_710_325_020;
        assert_eq!(
            period_bounds(chrono_tz::Asia::Kolkata, Period::Hour, t),
            (1_710_322_200, 1_710_325_800)
        );
        // 2024-03-10 is 23 hours long in New York.
        let ny = chrono_tz::America::New_York;
        let (start, end) = period_bounds(ny, Period::Day, 1_710_072_000); // 12:00 UTC
        assert_eq!(start, 1_710_046_800); // 05:00 UTC = local midnight (EST)
        assert_eq!(end - start, 23 * HOUR);
    }
}
