//! A rule builder and an in-memory minute source.

use std::collections::BTreeMap;
use std::sync::Mutex;

use vigil_alerting::eval::MinuteSource;
use vigil_config::alert::*;
use vigil_model::{MinuteRow, Value};

/// A rule on `monitor` with one condition on every channel.
pub fn rule(monitor: &str, value: &str, func: ValueFn, op: Op, threshold: f64) -> AlertRule {
    AlertRule {
        name: "r".to_string(),
        monitor: monitor.to_string(),
        level: Level::P1,
        every: 1,
        keys: Vec::new(),
        matching: Match::Any,
        conditions: vec![Condition {
            value: value.to_string(),
            func,
            op,
            thresholds: [(Channel::Webhook, threshold)].into_iter().collect(),
        }],
        active: Vec::new(),
        timezone: chrono_tz::UTC,
        notify: Vec::new(),
        message: Message {
            attach: 5,
            ..Message::default()
        },
    }
}

/// Rows held in memory: table → rows.
#[derive(Default)]
pub struct Rows(pub Mutex<BTreeMap<String, Vec<MinuteRow>>>);

impl Rows {
    /// Adds a row of `table` at `minute` with `keys` and one value.
    pub fn put(&self, table: &str, minute: i64, keys: &[(&str, &str)], name: &str, v: f64) {
        let keys: Vec<(String, String)> = keys
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut all = self.0.lock().unwrap();
        let rows = all.entry(table.to_string()).or_default();
        let row = match rows
            .iter()
            .position(|r| r.minute == minute && r.keys == keys)
        {
            Some(i) => &mut rows[i],
            None => {
                rows.push(MinuteRow::new(table, minute, keys));
                rows.last_mut().unwrap()
            }
        };
        row.values.retain(|(n, _)| n != name);
        row.values.push((name.to_string(), Value::Float(v)));
    }
}

impl MinuteSource for Rows {
    fn rows(&self, table: &str, from_s: i64, to_s: i64) -> Result<Vec<MinuteRow>, String> {
        let all = self.0.lock().unwrap();
        Ok(all
            .get(table)
            .map(|rows| {
                rows.iter()
                    .filter(|r| r.minute >= from_s && r.minute < to_s)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Epoch seconds of a UTC date and time.
pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .timestamp()
}
