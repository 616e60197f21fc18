//! The alerts page (`/alerts`): every rule with its state, pause and
//! resume forms (they POST to the API's pause and resume endpoints), and
//! the history with filters (`from`, `to`, `rule`, `level`).

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{json, Value as J};

use super::format;
use super::params::{parse_local, Params};
use super::Page;
use crate::api::{ApiError, Catalog, HistoryQuery};

/// One alert history record, as the catalog gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    /// Unique id.
    pub id: u64,
    /// `<monitor>/<rule>`.
    pub rule: String,
    /// The monitor.
    pub monitor: String,
    /// The key, column and value pairs.
    #[serde(default)]
    pub keys: Vec<(String, String)>,
    /// P0 … P4.
    pub level: String,
    /// First firing minute, epoch seconds.
    pub first_seen: i64,
    /// Latest firing minute, epoch seconds.
    pub last_seen: i64,
    /// Firing minutes.
    #[serde(default)]
    pub count: u32,
    /// The latest value that crossed a threshold.
    #[serde(default)]
    pub value: Option<f64>,
    /// The threshold it crossed.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// The condition, readable.
    #[serde(default)]
    pub condition: String,
    /// Channels that fired.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Notifications queued.
    #[serde(default)]
    pub notifications: u32,
    /// `firing` or `resolved`.
    pub state: String,
    /// The first minute it no longer held.
    #[serde(default)]
    pub resolved_at: Option<i64>,
}

impl Record {
    /// Whether the alert was firing in the minute starting at `minute`.
    pub fn open_at(&self, minute: i64) -> bool {
        self.first_seen <= minute && self.resolved_at.is_none_or(|r| r > minute)
    }

    /// Whether the episode overlaps `[from_s, to_s)` (as the history API
    /// selects records).
    pub fn overlaps(&self, from_s: i64, to_s: i64) -> bool {
        self.first_seen < to_s && self.resolved_at.unwrap_or(self.last_seen + 60) > from_s
    }

    /// The record for a template, times in `tz`.
    pub fn to_json(&self, tz: Tz, app: Option<&str>) -> J {
        json!({
            "id": self.id,
            "rule": self.rule,
            "monitor": self.monitor,
            "app": app,
            "keys": super::series::keys_label(&self.keys),
            "level": self.level,
            "first_seen": format::minute(self.first_seen, tz),
            "last_seen": format::minute(self.last_seen, tz),
            "resolved_at": self.resolved_at.map(|r| format::minute(r, tz)),
            "count": self.count,
            "value": self.value.map(format::number),
            "threshold": self.threshold.map(format::number),
            "condition": self.condition,
            "channels": self.channels.join(", "),
            "notifications": self.notifications,
            "state": self.state,
            "link": format!("/alerts?from={}&to={}&rule={}", self.first_seen, self.last_seen + 60, format::url(&self.rule)),
        })
    }
}

/// One rule with its state, as the catalog gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    /// `<monitor>/<rule>`.
    pub id: String,
    /// The monitor.
    pub monitor: String,
    /// The rule's name.
    pub alert: String,
    /// P0 … P4.
    pub level: String,
    /// The conditions, readable.
    #[serde(default)]
    pub conditions: Vec<String>,
    /// `firing` or `ok`.
    pub state: String,
    /// Firing keys with their history record ids.
    #[serde(default)]
    pub firing: Vec<(Vec<(String, String)>, u64)>,
    /// The pause, if paused.
    #[serde(default)]
    pub paused: Option<Pause>,
    /// Last evaluated minute.
    #[serde(default)]
    pub evaluated: Option<i64>,
}

/// A rule's pause.
#[derive(Debug, Clone, Deserialize)]
pub struct Pause {
    /// Why.
    pub reason: String,
    /// When it ends, epoch seconds.
    pub until: i64,
}

/// The history records overlapping `[from_s, to_s)`, newest first.
pub fn history(catalog: &dyn Catalog, from_s: i64, to_s: i64) -> Result<Vec<Record>, ApiError> {
    let q = HistoryQuery {
        from_s,
        to_s,
        rule: None,
        level: None,
    };
    query_history(catalog, &q)
}

fn query_history(catalog: &dyn Catalog, q: &HistoryQuery) -> Result<Vec<Record>, ApiError> {
    match catalog.alert_history(q) {
        Ok(json) => serde_json::from_value(json)
            .map_err(|e| ApiError::Catalog(format!("unreadable alert history: {e}"))),
        // A catalog without alerting has no history.
        Err(ApiError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Every rule with its state at `now_s`.
pub fn rules(catalog: &dyn Catalog, now_s: i64) -> Result<Vec<Rule>, ApiError> {
    match catalog.alerts(now_s) {
        Ok(json) => serde_json::from_value(json)
            .map_err(|e| ApiError::Catalog(format!("unreadable alert rules: {e}"))),
        Err(ApiError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Renders the alerts page, the history filtered by `params`.
pub fn render(catalog: &dyn Catalog, params: &Params) -> Result<Page, ApiError> {
    let monitors = catalog.monitors();
    let tz = format::display_tz(&monitors);
    let now = params.now_s();
    // The filter form sends local minutes; the history query takes
    // instants.
    let mut filters = Vec::new();
    for key in ["from", "to", "rule", "level"] {
        if let Some(v) = params.get(key) {
            let v = match key {
                "from" | "to" => parse_local(v, tz)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| v.to_string()),
                _ => v.to_string(),
            };
            filters.push(format!("{key}={}", format::url(&v)));
        }
    }
    let q = HistoryQuery::parse(&filters.join("&"), now)?;
    let app_of: BTreeMap<&str, &str> = monitors
        .iter()
        .filter_map(|m| Some((m.name.as_str(), m.app.as_deref()?)))
        .collect();
    let rules = rules(catalog, now)?;
    let rule_list: Vec<J> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "monitor": r.monitor,
                "alert": r.alert,
                "app": app_of.get(r.monitor.as_str()),
                "level": r.level,
                "conditions": r.conditions.join("; "),
                "state": r.state,
                "firing": r.firing.iter().map(|(k, id)| json!({"keys": super::series::keys_label(k), "id": id})).collect::<Vec<_>>(),
                "paused": r.paused.as_ref().map(|p| json!({"reason": p.reason, "until": format::minute(p.until, tz)})),
                "evaluated": r.evaluated.map(|e| format::minute(e, tz)),
                "pause_action": format!("/api/v1/alerts/{}/{}/pause", format::url(&r.monitor), format::url(&r.alert)),
                "resume_action": format!("/api/v1/alerts/{}/{}/resume", format::url(&r.monitor), format::url(&r.alert)),
            })
        })
        .collect();
    let records = query_history(catalog, &q)?;
    let list: Vec<J> = records
        .iter()
        .map(|r| r.to_json(tz, app_of.get(r.monitor.as_str()).copied()))
        .collect();
    Page::of(
        "alerts.html",
        &json!({
            "title": "Alerts",
            "nav": "alerts",
            "tz": tz.name(),
            "rules": rule_list,
            "firing": rules.iter().filter(|r| r.state == "firing").count(),
            "records": list,
            "filter": {
                "from": format::local(q.from_s, tz, "%Y-%m-%dT%H:%M"),
                "to": format::local(q.to_s, tz, "%Y-%m-%dT%H:%M"),
                "rule": q.rule,
                "level": q.level,
            },
            "rule_ids": rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            "levels": super::overview::LEVELS,
            "notice": params.get("notice"),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_open_and_overlap() {
        let r: Record = serde_json::from_value(json!({
            "id": 1, "rule": "m/r", "monitor": "m", "alert": "r", "keys": [["service", "交易"]],
            "level": "P1", "first_seen": 600, "last_seen": 660, "count": 2,
            "state": "resolved", "resolved_at": 720
        }))
        .unwrap();
        assert!(!r.open_at(540));
        assert!(r.open_at(600) && r.open_at(660));
        assert!(!r.open_at(720));
        assert!(r.overlaps(660, 720) && !r.overlaps(720, 780) && !r.overlaps(0, 600));
        assert_eq!(r.to_json(Tz::UTC, Some("trade"))["keys"], "交易");
    }
}
