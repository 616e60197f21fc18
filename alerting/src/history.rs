//! The alert history: one record per firing episode of a rule and key,
//! with first seen, last seen and count, kept across restarts.

use serde::{Deserialize, Serialize};

use crate::eval::Keys;
use crate::notice::AlertState;

/// Most records kept; the oldest go first.
pub const MAX_RECORDS: usize = 10_000;

/// One firing episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unique, increasing id.
    pub id: u64,
    /// `<monitor>/<rule>`.
    pub rule: String,
    /// The monitor.
    pub monitor: String,
    /// The rule's name.
    pub alert: String,
    /// The key (empty for a monitor without keys).
    pub keys: Keys,
    /// Level.
    pub level: String,
    /// First firing minute, epoch seconds.
    pub first_seen: i64,
    /// Latest firing minute, epoch seconds.
    pub last_seen: i64,
    /// Firing minutes evaluated so far.
    pub count: u32,
    /// The latest value that crossed a threshold.
    pub value: Option<f64>,
    /// The threshold it crossed.
    pub threshold: Option<f64>,
    /// The condition, readable.
    pub condition: String,
    /// Channels that fired during the episode.
    pub channels: Vec<String>,
    /// Notifications queued for sending during the episode.
    pub notifications: u32,
    /// Firing, or resolved.
    pub state: AlertState,
    /// The first minute it no longer held.
    pub resolved_at: Option<i64>,
}

/// Records, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// The records.
    pub records: Vec<Record>,
    /// The id the next record gets.
    pub next_id: u64,
}

impl History {
    /// Starts a record and returns its id.
    pub fn open(&mut self, mut record: Record) -> u64 {
        self.next_id = self.next_id.max(1);
        record.id = self.next_id;
        self.next_id += 1;
        self.records.push(record);
        if self.records.len() > MAX_RECORDS {
            let extra = self.records.len() - MAX_RECORDS;
            self.records.drain(..extra);
        }
        self.next_id - 1
    }

    /// The record with this id, if still kept.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Record> {
        let i = self.records.binary_search_by_key(&id, |r| r.id).ok()?;
        self.records.get_mut(i)
    }

    /// Records overlapping `[from_s, to_s)`, newest first, optionally of one
    /// rule and/or level.
    pub fn query(
        &self,
        from_s: i64,
        to_s: i64,
        rule: Option<&str>,
        level: Option<&str>,
    ) -> Vec<&Record> {
        self.records
            .iter()
            .rev()
            .filter(|r| r.first_seen < to_s && r.resolved_at.unwrap_or(r.last_seen + 60) > from_s)
            .filter(|r| rule.is_none_or(|x| r.rule == x || r.alert == x))
            .filter(|r| level.is_none_or(|l| r.level == l))
            .collect()
    }
}
