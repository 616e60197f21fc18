//! The agents page (`/agents`): every registered agent with its state,
//! version, labels, last heartbeat, clock offset and reported errors.

use serde_json::{json, Value as J};

use super::format;
use super::params::Params;
use super::Page;
use crate::api::{parse_time, ApiError, Catalog};

/// Renders the agents page.
pub fn render(catalog: &dyn Catalog, params: &Params) -> Result<Page, ApiError> {
    let tz = format::display_tz(&catalog.monitors());
    let agents: Vec<J> = catalog.agents().iter().map(|a| agent(a, tz)).collect();
    let count = |state: &str| agents.iter().filter(|a| a["state"] == state).count();
    let states: Vec<J> = ["healthy", "abnormal", "clock_skew", "lost"]
        .into_iter()
        .map(|s| json!({"state": s, "count": count(s)}))
        .collect();
    Page::of(
        "agents.html",
        &json!({
            "title": "Agents",
            "nav": "agents",
            "refresh": 60,
            "tz": tz.name(),
            "now": format::local(params.now_s(), tz, "%Y-%m-%d %H:%M:%S"),
            "agents": agents,
            "states": states,
        }),
    )
}

/// One agent of the catalog, for the template.
fn agent(a: &J, tz: chrono_tz::Tz) -> J {
    let labels = &a["labels"];
    let mut shown: Vec<String> = Vec::new();
    for key in ["idc", "ldc"] {
        if let Some(v) = labels[key].as_str() {
            shown.push(format!("{key}={v}"));
        }
    }
    if let Some(extra) = labels["extra"].as_object() {
        for (k, v) in extra {
            shown.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    let time = |key: &str| {
        a[key]
            .as_str()
            .and_then(parse_time)
            .map(|t| format::local(t, tz, "%Y-%m-%d %H:%M:%S"))
    };
    let status = &a["status"];
    json!({
        "agent": a["agent"],
        "instance": labels["instance"],
        "labels": shown.join(", "),
        "version": a["version"],
        "state": a["state"],
        "registered": time("registered"),
        "last_heartbeat": time("last_heartbeat"),
        "clock_offset_ms": a["clock_offset_ms"],
        "skewed": a["clock_offset_ms"].as_i64().is_some_and(|o| o.abs() > 3000),
        "config_version": a["config_version"],
        "files": status["files"],
        "lines_read": status["lines_read"],
        "spool_bytes": status["spool_bytes"],
        "errors": status["errors"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_rows() {
        let a = json!({
            "agent": "a1", "labels": {"instance": "node-1", "idc": "hz", "extra": {"app": "trade"}},
            "version": "0.1.0", "state": "clock_skew", "registered": "2026-11-20T02:00:00+00:00",
            "last_heartbeat": "2026-11-20T02:00:10+00:00", "clock_offset_ms": -4200,
            "status": {"errors": ["cannot read x"], "files": 2, "lines_read": 10}
        });
        let row = agent(&a, chrono_tz::Asia::Shanghai);
        assert_eq!(row["labels"], "idc=hz, app=trade");
        assert_eq!(row["last_heartbeat"], "2026-11-20 10:00:10");
        assert_eq!(row["skewed"], true);
        assert_eq!(row["errors"][0], "cannot read x");
    }
}
