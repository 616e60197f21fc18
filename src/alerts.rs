//! Alerting inside the collector: the rules of the configuration, their
//! evaluation as minutes close (and by the wall clock for `nodata`), and
//! the outbox that delivers notifications.
//!
//! The ticker hands over the (table, minute) pairs each tick stored; rules
//! evaluate them in minute order, read through the store (so an amended
//! minute is read whole), and every delivery goes to the persisted outbox
//! before anything is sent. State lives under `<data>/alerts/`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use anyhow::{Context, Result};
use serde_json::{json, Value as J};
use vigil_alerting::alerter::{Alerter, Watched};
use vigil_alerting::eval::{CachedSource, MinuteSource};
use vigil_alerting::{Dispatcher, Outbox, Sender};
use vigil_config::alert::Notification;
use vigil_config::Config;
use vigil_dashboards::api::{ApiError, HistoryQuery, PauseRequest};
use vigil_engine::store::MinuteStore;
use vigil_model::MinuteRow;

/// Every alert rule of `config`: those of its monitors, and those on the
/// built-in monitors (`system`, `jvm`, `port`, `agents`).
pub fn watched(config: &Config) -> Vec<Watched> {
    let mut out: Vec<Watched> = config
        .monitors
        .iter()
        .flat_map(|m| {
            m.alerts.iter().map(|rule| Watched {
                rule: rule.clone(),
                table: m.name.clone(),
                keyed: !m.group_by.is_empty(),
                app: m.app.clone(),
            })
        })
        .collect();
    out.extend(config.builtin_alerts.iter().map(|rule| Watched {
        rule: rule.clone(),
        table: rule.monitor.clone(),
        keyed: true,
        app: None,
    }));
    out
}

/// Rules read stored minutes.
struct StoreSource(Arc<MinuteStore>);

impl MinuteSource for StoreSource {
    fn rows(&self, table: &str, from_s: i64, to_s: i64) -> Result<Vec<MinuteRow>, String> {
        self.0.read(table, from_s, to_s).map_err(|e| e.to_string())
    }
}

/// The collector's alerting: rules, state, outbox and the sending thread.
pub struct AlertService {
    alerter: Mutex<Alerter>,
    outbox: Arc<Outbox>,
    notification: Arc<RwLock<Arc<Notification>>>,
    source: StoreSource,
    /// The last wall-clock minute evaluated for `nodata` rules.
    clock_minute: Mutex<i64>,
    /// Kept for its thread; dropping it stops sending.
    _dispatcher: Dispatcher,
}

impl AlertService {
    /// Opens the alert state and outbox under `<data>/alerts` and starts
    /// sending what is queued.
    pub fn open(config: &Config, data: &Path, store: Arc<MinuteStore>) -> Result<Self> {
        let dir = data.join("alerts");
        let alerter = Alerter::open(Some(&dir), watched(config), config.notification.clone())
            .context("cannot open the alert state")?;
        let outbox = Arc::new(
            Outbox::open(dir.join("outbox")).context("cannot open the notification outbox")?,
        );
        let notification = Arc::new(RwLock::new(Arc::new(config.notification.clone())));
        let current = notification.clone();
        let dispatcher = Dispatcher::start(outbox.clone(), Sender::new(), move || {
            current
                .read()
                .map(|n| n.clone())
                .unwrap_or_else(|p| p.into_inner().clone())
        })
        .context("cannot start the notification sender")?;
        Ok(AlertService {
            alerter: Mutex::new(alerter),
            outbox,
            notification,
            source: StoreSource(store),
            clock_minute: Mutex::new(0),
            _dispatcher: dispatcher,
        })
    }

    fn alerter(&self) -> MutexGuard<'_, Alerter> {
        self.alerter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Evaluates the rules of each closed (table, minute), in minute order,
    /// and queues their notifications.
    pub fn on_closed(&self, closed: &[(String, i64)]) -> Result<()> {
        let mut ordered: Vec<(i64, &str)> = closed.iter().map(|(t, m)| (*m, t.as_str())).collect();
        ordered.sort();
        ordered.dedup();
        let mut alerter = self.alerter();
        // The rules of one table mostly read the same minutes: once each.
        let source = CachedSource::new(&self.source);
        for (minute, table) in ordered {
            if !alerter.watches(table) {
                continue;
            }
            let decided = alerter.on_minute(table, minute, &source)?;
            for delivery in decided.deliveries {
                self.outbox
                    .enqueue(delivery)
                    .context("cannot queue a notification")?;
            }
        }
        Ok(())
    }

    /// Evaluates the tables with `nodata` rules at the newest minute that
    /// should have closed by `now_ms`, once per minute: a silent monitor
    /// closes no minute by itself.
    pub fn on_clock(&self, now_ms: i64, close_after_ms: i64) -> Result<()> {
        let minute = ((now_ms - close_after_ms).div_euclid(60_000) - 1) * 60;
        {
            let mut last = self.clock_minute.lock().unwrap_or_else(|p| p.into_inner());
            if minute <= *last {
                return Ok(());
            }
            *last = minute;
        }
        let tables: BTreeSet<String> = self.alerter().silent_tables();
        let closed: Vec<(String, i64)> = tables.into_iter().map(|t| (t, minute)).collect();
        self.on_closed(&closed)
    }

    /// Applies a reloaded configuration; state of rules that remain stays.
    pub fn reconfigure(&self, config: &Config) {
        self.alerter()
            .reconfigure(watched(config), config.notification.clone());
        if let Ok(mut n) = self.notification.write() {
            *n = Arc::new(config.notification.clone());
        }
    }

    /// Every rule with its state, as JSON.
    pub fn status_json(&self, now_s: i64) -> J {
        serde_json::to_value(self.alerter().status(now_s)).unwrap_or_default()
    }

    /// History records matching `q`, newest first, as JSON.
    pub fn history_json(&self, q: &HistoryQuery) -> J {
        let alerter = self.alerter();
        let records =
            alerter
                .history()
                .query(q.from_s, q.to_s, q.rule.as_deref(), q.level.as_deref());
        serde_json::to_value(records).unwrap_or_default()
    }

    /// Pauses a rule.
    pub fn pause(&self, rule: &str, p: &PauseRequest) -> Result<J, ApiError> {
        self.alerter()
            .pause(rule, &p.reason, p.until_s)
            .map_err(|e| ApiError::NotFound(e.to_string()))?;
        Ok(
            json!({ "rule": rule, "paused": true, "reason": p.reason, "until": vigil_model::rfc3339(p.until_s, chrono_tz::UTC) }),
        )
    }

    /// Resumes a rule.
    pub fn resume(&self, rule: &str) -> Result<J, ApiError> {
        self.alerter()
            .resume(rule)
            .map_err(|e| ApiError::NotFound(e.to_string()))?;
        Ok(json!({ "rule": rule, "paused": false }))
    }

    /// Outbox counters in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let c = self.outbox.counters();
        let mut out = String::new();
        out.push_str("# HELP vigil_notifications_total Notifications by outcome since start.\n# TYPE vigil_notifications_total counter\n");
        for (outcome, n) in [
            ("queued", c.queued),
            ("sent", c.sent),
            ("failed", c.failed),
            ("retried", c.retried),
        ] {
            out.push_str(&format!(
                "vigil_notifications_total{{outcome=\"{outcome}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP vigil_notifications_pending Notifications waiting to be sent.\n# TYPE vigil_notifications_pending gauge\n");
        out.push_str(&format!("vigil_notifications_pending {}\n", c.pending));
        out
    }
}
