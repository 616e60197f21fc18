//! The alerter: evaluates rules as their monitor's minutes close, keeps
//! state per rule and key (firing until it no longer holds), the history,
//! pauses, and turns state changes into deliveries following the
//! throttling schedule.
//!
//! Exactly-once: every delivery has a deterministic id (rule, key, minute,
//! state, recipient); the outbox refuses an id it has seen, so evaluating
//! a minute again (after an amendment, or a restart that replays the log)
//! never sends twice. A minute older than the rule's last evaluated one is
//! not evaluated again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Timelike};
use serde::{Deserialize, Serialize};
use vigil_config::alert::{AlertRule, Channel, Notification};

use crate::eval::{evaluate, Crossing, KeyResult, Keys, MinuteSource};
use crate::history::{History, Record};
use crate::notice::{AlertState, Delivery, Recipient};
use crate::recipients::reached;
use crate::text::{notice, About};
use crate::throttle;
use crate::value::MINUTE;

/// Why the alerter failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// State could not be read or written.
    #[error("alert state {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A state file is not valid JSON.
    #[error("alert state {path} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The minutes of a rule could not be read.
    #[error("reading minutes of {table} for {rule}: {message}")]
    Source {
        /// The table.
        table: String,
        /// The rule id.
        rule: String,
        /// What failed.
        message: String,
    },
    /// No rule has this id.
    #[error("no alert rule `{0}`")]
    UnknownRule(String),
}

/// A rule with what the alerter needs to know of its monitor.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The rule.
    pub rule: AlertRule,
    /// The table of its minutes (the monitor's name).
    pub table: String,
    /// Whether the monitor has key columns.
    pub keyed: bool,
    /// The monitor's application.
    pub app: Option<String>,
}

/// A pause of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Why, as the person who paused it wrote.
    pub reason: String,
    /// When it ends by itself, epoch seconds.
    pub until: i64,
}

/// A notification decided for one channel (what `vigil alert-test` prints).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The minute, RFC 3339 UTC.
    pub minute: String,
    /// The rule's name.
    pub alert: String,
    /// The monitor.
    pub monitor: String,
    /// The key, as an object in group-by order.
    pub keys: serde_json::Map<String, serde_json::Value>,
    /// Level.
    pub level: String,
    /// Firing or resolved.
    pub state: AlertState,
    /// The channel.
    pub channel: String,
    /// The value that crossed the threshold.
    pub value: Option<f64>,
    /// The threshold.
    pub threshold: Option<f64>,
}

/// What one evaluation decided.
#[derive(Debug, Default)]
pub struct Decisions {
    /// Notifications per channel.
    pub events: Vec<Event>,
    /// Notifications per recipient, for the outbox.
    pub deliveries: Vec<Delivery>,
}

/// A firing rule and key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Track {
    rule: String,
    keys: Keys,
    first: i64,
    last: i64,
    record: u64,
    /// Channel → last throttling slot notified.
    slots: BTreeMap<String, i64>,
    /// Everyone notified in this episode (they get the resolution).
    notified: BTreeSet<(String, Recipient)>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    tracks: BTreeMap<String, Track>,
    evaluated: BTreeMap<String, i64>,
    pauses: BTreeMap<String, Pause>,
}

/// The state of one rule, for the API.
#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    /// `<monitor>/<rule>`.
    pub id: String,
    /// The monitor.
    pub monitor: String,
    /// The rule's name.
    pub alert: String,
    /// Level.
    pub level: String,
    /// The conditions, readable.
    pub conditions: Vec<String>,
    /// `firing` when some key fires, else `ok`.
    pub state: &'static str,
    /// Firing keys with their history record ids.
    pub firing: Vec<(Keys, u64)>,
    /// The pause, if paused.
    pub paused: Option<Pause>,
    /// Last evaluated minute, epoch seconds.
    pub evaluated: Option<i64>,
    /// What that evaluation found per key (at most 50 keys): missing data
    /// and zero bases are reported as such.
    pub last: Vec<KeyOutcome>,
}

/// Evaluates rules and keeps their state.
pub struct Alerter {
    dir: Option<PathBuf>,
    rules: Vec<Watched>,
    notification: Notification,
    state: State,
    history: History,
    /// Per rule, what its last evaluation found for each key.
    last: BTreeMap<String, Vec<KeyOutcome>>,
}

/// Most keys kept per rule in [`RuleStatus::last`].
const LAST_KEYS: usize = 50;

/// What one evaluation found for one key: each condition's outcome as
/// people read it (a number, `missing data`, or `zero base`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyOutcome {
    /// The key.
    pub keys: Keys,
    /// Each condition's outcome, in rule order.
    pub outcomes: Vec<String>,
    /// Whether the rule held.
    pub firing: bool,
}

const STATE_FILE: &str = "state.json";
const HISTORY_FILE: &str = "history.json";

fn track_key(rule: &str, keys: &Keys) -> String {
    let keys: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{rule}|{}", keys.join(","))
}

fn rfc3339(minute: i64) -> String {
    chrono::DateTime::from_timestamp(minute, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn load<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> Result<T, AlertError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| AlertError::Corrupt {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(source) => Err(AlertError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl Alerter {
    /// An alerter keeping its state under `dir` (loaded if present), or in
    /// memory only when `dir` is `None` (`vigil alert-test`).
    pub fn open(
        dir: Option<&Path>,
        rules: Vec<Watched>,
        notification: Notification,
    ) -> Result<Self, AlertError> {
        let (state, history) = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| AlertError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
                (load(&dir.join(STATE_FILE))?, load(&dir.join(HISTORY_FILE))?)
            }
            None => Default::default(),
        };
        Ok(Alerter {
            dir: dir.map(Path::to_path_buf),
            rules,
            notification,
            state,
            history,
            last: BTreeMap::new(),
        })
    }

    /// Replaces the rules and notification settings (a config reload);
    /// state of rules that remain is kept.
    pub fn reconfigure(&mut self, rules: Vec<Watched>, notification: Notification) {
        let ids: BTreeSet<String> = rules.iter().map(|w| w.rule.id()).collect();
        self.state.tracks.retain(|_, t| ids.contains(&t.rule));
        self.rules = rules;
        self.notification = notification;
    }

    /// Whether any rule watches `table`.
    pub fn watches(&self, table: &str) -> bool {
        self.rules.iter().any(|w| w.table == table)
    }

    /// Tables with a rule that needs evaluating while no minute closes
    /// (`nodata`): the caller evaluates them by the wall clock.
    pub fn silent_tables(&self) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter(|w| {
                w.rule
                    .conditions
                    .iter()
                    .any(|c| c.func == vigil_config::alert::ValueFn::NoData)
            })
            .map(|w| w.table.clone())
            .collect()
    }

    /// Evaluates every rule of `table` at the closed minute `minute`.
    pub fn on_minute(
        &mut self,
        table: &str,
        minute: i64,
        source: &dyn MinuteSource,
    ) -> Result<Decisions, AlertError> {
        let mut out = Decisions::default();
        let watched: Vec<Watched> = self
            .rules
            .iter()
            .filter(|w| w.table == table)
            .cloned()
            .collect();
        for w in &watched {
            self.rule_minute(w, minute, source, &mut out)?;
        }
        if !watched.is_empty() {
            self.save()?;
        }
        Ok(out)
    }

    /// Whether `rule` is checked at `minute`: its frequency (in its
    /// timezone, so 60 is on the hour) and active windows.
    fn scheduled(rule: &AlertRule, minute: i64) -> bool {
        let Some(local) = rule.timezone.timestamp_opt(minute, 0).single() else {
            return false;
        };
        let of_day = local.hour() * 60 + local.minute();
        of_day % rule.every.max(1) == 0
            && (rule.active.is_empty() || rule.active.iter().any(|w| w.contains(of_day)))
    }

    fn rule_minute(
        &mut self,
        w: &Watched,
        minute: i64,
        source: &dyn MinuteSource,
        out: &mut Decisions,
    ) -> Result<(), AlertError> {
        let id = w.rule.id();
        if !Self::scheduled(&w.rule, minute) {
            return Ok(());
        }
        if self.state.evaluated.get(&id).is_some_and(|&m| minute < m) {
            return Ok(());
        }
        let firing_before: Vec<Keys> = self
            .state
            .tracks
            .values()
            .filter(|t| t.rule == id)
            .map(|t| t.keys.clone())
            .collect();
        let results = evaluate(&w.rule, &w.table, w.keyed, minute, source, &firing_before)
            .map_err(|message| AlertError::Source {
                table: w.table.clone(),
                rule: id.clone(),
                message,
            })?;
        self.state.evaluated.insert(id.clone(), minute);
        let paused = match self.state.pauses.get(&id) {
            Some(p) if p.until > minute => true,
            Some(_) => {
                self.state.pauses.remove(&id);
                false
            }
            None => false,
        };
        let outcomes = results
            .iter()
            .take(LAST_KEYS)
            .map(|r| KeyOutcome {
                keys: r.keys.clone(),
                outcomes: r.outcomes.iter().map(|o| o.describe()).collect(),
                firing: r.firing(),
            })
            .collect();
        self.last.insert(id.clone(), outcomes);
        for result in results {
            let key = track_key(&id, &result.keys);
            match (self.state.tracks.contains_key(&key), result.firing()) {
                (_, true) => self.fire(w, minute, &key, &result, paused, out),
                (true, false) => self.resolve(w, minute, &key, &result, paused, out),
                (false, false) => {}
            }
        }
        Ok(())
    }

    fn fire(
        &mut self,
        w: &Watched,
        minute: i64,
        key: &str,
        result: &KeyResult,
        paused: bool,
        out: &mut Decisions,
    ) {
        let rule = &w.rule;
        let first = result.channels.values().next();
        let new = !self.state.tracks.contains_key(key);
        if new {
            let record = self.history.open(Record {
                id: 0,
                rule: rule.id(),
                monitor: rule.monitor.clone(),
                alert: rule.name.clone(),
                keys: result.keys.clone(),
                level: rule.level.name().to_string(),
                first_seen: minute,
                last_seen: minute,
                count: 0,
                value: None,
                threshold: None,
                condition: String::new(),
                channels: Vec::new(),
                notifications: 0,
                state: AlertState::Firing,
                resolved_at: None,
            });
            self.state.tracks.insert(
                key.to_string(),
                Track {
                    rule: rule.id(),
                    keys: result.keys.clone(),
                    first: minute,
                    last: minute,
                    record,
                    slots: BTreeMap::new(),
                    notified: BTreeSet::new(),
                },
            );
        }
        let Some(track) = self.state.tracks.get_mut(key) else {
            return;
        };
        let counts = new || minute > track.last;
        track.last = track.last.max(minute);
        let elapsed = (minute - track.first) / MINUTE;
        let mut sent = 0;
        for (channel, crossing) in &result.channels {
            let recipients = reached(&self.notification, rule, *channel);
            let last_slot = track.slots.get(channel.name()).copied();
            let due = throttle::due(elapsed, last_slot, true);
            let unthrottled = recipients.values().any(|t| !t);
            if paused || !(due || unthrottled) {
                continue;
            }
            if due {
                track
                    .slots
                    .insert(channel.name().to_string(), throttle::slot(elapsed, true));
            }
            out.events.push(event(
                rule,
                minute,
                &result.keys,
                AlertState::Firing,
                *channel,
                Some(crossing),
            ));
            let about = About {
                watched: w,
                minute,
                keys: &result.keys,
                state: AlertState::Firing,
                channel: *channel,
                crossing: Some(crossing),
                lines: &result.lines,
            };
            let notice = notice(&about, &self.notification);
            for (recipient, throttled) in recipients {
                if throttled && !due {
                    continue;
                }
                track
                    .notified
                    .insert((channel.name().to_string(), recipient.clone()));
                out.deliveries.push(Delivery {
                    id: delivery_id(key, minute, AlertState::Firing, &recipient),
                    recipient,
                    notice: notice.clone(),
                });
                sent += 1;
            }
        }
        let record = track.record;
        if let Some(r) = self.history.get_mut(record) {
            if counts {
                r.count += 1;
            }
            r.last_seen = r.last_seen.max(minute);
            if let Some(c) = first {
                r.value = Some(c.value);
                r.threshold = Some(c.threshold);
                r.condition = c.condition.clone();
            }
            for ch in result.channels.keys() {
                if !r.channels.iter().any(|x| x == ch.name()) {
                    r.channels.push(ch.name().to_string());
                }
            }
            r.notifications += sent;
        }
    }

    fn resolve(
        &mut self,
        w: &Watched,
        minute: i64,
        key: &str,
        result: &KeyResult,
        paused: bool,
        out: &mut Decisions,
    ) {
        let Some(track) = self.state.tracks.remove(key) else {
            return;
        };
        let rule = &w.rule;
        let mut channels: BTreeSet<String> = track.slots.keys().cloned().collect();
        channels.extend(track.notified.iter().map(|(c, _)| c.clone()));
        let mut sent = 0;
        for name in channels {
            let Some(channel) = Channel::parse(&name) else {
                continue;
            };
            if paused {
                continue;
            }
            out.events.push(event(
                rule,
                minute,
                &track.keys,
                AlertState::Resolved,
                channel,
                None,
            ));
            let about = About {
                watched: w,
                minute,
                keys: &track.keys,
                state: AlertState::Resolved,
                channel,
                crossing: None,
                lines: &result.lines,
            };
            let notice = notice(&about, &self.notification);
            for (_, recipient) in track.notified.iter().filter(|(c, _)| *c == name) {
                out.deliveries.push(Delivery {
                    id: delivery_id(key, minute, AlertState::Resolved, recipient),
                    recipient: recipient.clone(),
                    notice: notice.clone(),
                });
                sent += 1;
            }
        }
        if let Some(r) = self.history.get_mut(track.record) {
            r.state = AlertState::Resolved;
            r.resolved_at = Some(minute);
            r.notifications += sent;
        }
    }

    /// Pauses a rule (`<monitor>/<rule>`) until `until` (epoch seconds).
    pub fn pause(&mut self, id: &str, reason: &str, until: i64) -> Result<(), AlertError> {
        if !self.rules.iter().any(|w| w.rule.id() == id) {
            return Err(AlertError::UnknownRule(id.to_string()));
        }
        self.state.pauses.insert(
            id.to_string(),
            Pause {
                reason: reason.to_string(),
                until,
            },
        );
        self.save()
    }

    /// Ends a rule's pause.
    pub fn resume(&mut self, id: &str) -> Result<(), AlertError> {
        if !self.rules.iter().any(|w| w.rule.id() == id) {
            return Err(AlertError::UnknownRule(id.to_string()));
        }
        self.state.pauses.remove(id);
        self.save()
    }

    /// Every rule with its state.
    pub fn status(&self, now_s: i64) -> Vec<RuleStatus> {
        self.rules
            .iter()
            .map(|w| {
                let id = w.rule.id();
                let firing: Vec<(Keys, u64)> = self
                    .state
                    .tracks
                    .values()
                    .filter(|t| t.rule == id)
                    .map(|t| (t.keys.clone(), t.record))
                    .collect();
                RuleStatus {
                    monitor: w.rule.monitor.clone(),
                    alert: w.rule.name.clone(),
                    level: w.rule.level.name().to_string(),
                    conditions: w.rule.conditions.iter().map(|c| c.describe()).collect(),
                    state: if firing.is_empty() { "ok" } else { "firing" },
                    firing,
                    paused: self
                        .state
                        .pauses
                        .get(&id)
                        .filter(|p| p.until > now_s)
                        .cloned(),
                    evaluated: self.state.evaluated.get(&id).copied(),
                    last: self.last.get(&id).cloned().unwrap_or_default(),
                    id,
                }
            })
            .collect()
    }

    /// The history.
    pub fn history(&self) -> &History {
        &self.history
    }

    fn save(&self) -> Result<(), AlertError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        for (name, json) in [
            (STATE_FILE, serde_json::to_vec(&self.state)),
            (HISTORY_FILE, serde_json::to_vec(&self.history)),
        ] {
            let path = dir.join(name);
            let json = json.map_err(|source| AlertError::Corrupt {
                path: path.clone(),
                source,
            })?;
            vigil_model::fsutil::write_atomic(&path, &json)
                .map_err(|source| AlertError::Io { path, source })?;
        }
        Ok(())
    }
}

fn delivery_id(key: &str, minute: i64, state: AlertState, r: &Recipient) -> String {
    let who = serde_json::to_string(r).unwrap_or_default();
    format!("{key}|{minute}|{}|{who}", state.name())
}

fn event(
    rule: &AlertRule,
    minute: i64,
    keys: &Keys,
    state: AlertState,
    channel: Channel,
    crossing: Option<&Crossing>,
) -> Event {
    Event {
        minute: rfc3339(minute),
        alert: rule.name.clone(),
        monitor: rule.monitor.clone(),
        keys: keys
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
            .collect(),
        level: rule.level.name().to_string(),
        state,
        channel: channel.name().to_string(),
        value: crossing.map(|c| c.value),
        threshold: crossing.map(|c| c.threshold),
    }
}
