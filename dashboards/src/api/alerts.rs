//! Alert endpoints: rules with their state (`GET /api/v1/alerts`), the
//! history (`GET /api/v1/alerts/history?from=&to=&rule=&level=`), and
//! `POST /api/v1/alerts/{monitor}/{rule}/pause` (JSON `{"reason": "…",
//! "until": "<RFC 3339>"}` or `{"reason": "…", "minutes": 30}`) and
//! `…/resume`.

use serde_json::Value as J;

use super::{parse_time, percent_decode, ApiError, DEFAULT_HISTORY_SECS};

/// What a history request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Start, epoch seconds (inclusive).
    pub from_s: i64,
    /// End, epoch seconds (exclusive).
    pub to_s: i64,
    /// Only this rule (`<monitor>/<rule>` or the rule's name).
    pub rule: Option<String>,
    /// Only this level (`P0` … `P4`).
    pub level: Option<String>,
}

impl HistoryQuery {
    /// Parses `from`, `to`, `rule`, `level`; the default range is the last
    /// day.
    pub fn parse(query: &str, now_s: i64) -> Result<Self, ApiError> {
        let mut q = HistoryQuery {
            from_s: now_s - DEFAULT_HISTORY_SECS,
            to_s: now_s + 60,
            rule: None,
            level: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v, true);
            match k {
                "from" | "to" => {
                    let t = parse_time(&v).ok_or_else(|| {
                        ApiError::bad(k, format!("`{v}` is not an RFC 3339 time or epoch seconds"))
                    })?;
                    if k == "from" {
                        q.from_s = t;
                    } else {
                        q.to_s = t;
                    }
                }
                "rule" => q.rule = Some(v),
                "level" => {
                    if !matches!(v.as_str(), "P0" | "P1" | "P2" | "P3" | "P4") {
                        return Err(ApiError::bad("level", format!("`{v}` is not P0 … P4")));
                    }
                    q.level = Some(v);
                }
                other => {
                    return Err(ApiError::bad(
                        other,
                        "unknown parameter; use from, to, rule, level",
                    ))
                }
            }
        }
        if q.from_s >= q.to_s {
            return Err(ApiError::bad("from", "`from` must be before `to`"));
        }
        Ok(q)
    }
}

/// A pause asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseRequest {
    /// Why.
    pub reason: String,
    /// When it ends, epoch seconds.
    pub until_s: i64,
}

impl PauseRequest {
    /// Parses the JSON body of a pause.
    pub fn parse(body: &[u8], now_s: i64) -> Result<Self, ApiError> {
        let json: J = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad("body", format!("not JSON: {e}")))?;
        let reason = json
            .get("reason")
            .and_then(J::as_str)
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| ApiError::bad("reason", "a pause needs a reason (a non-empty string)"))?
            .to_string();
        let until_s = match (json.get("until"), json.get("minutes")) {
            (Some(until), None) => until
                .as_str()
                .and_then(parse_time)
                .or_else(|| until.as_i64())
                .ok_or_else(|| ApiError::bad("until", "an RFC 3339 time or epoch seconds"))?,
            (None, Some(minutes)) => {
                let m = minutes
                    .as_i64()
                    .filter(|m| (1..=60 * 24 * 30).contains(m))
                    .ok_or_else(|| ApiError::bad("minutes", "a whole number from 1 to 43200"))?;
                now_s + m * 60
            }
            _ => {
                return Err(ApiError::bad(
                    "until",
                    "give the pause's end as `until` (a time) or `minutes`, one of them",
                ))
            }
        };
        if until_s <= now_s {
            return Err(ApiError::bad("until", "the pause must end in the future"));
        }
        Ok(PauseRequest { reason, until_s })
    }
}

/// The rule id and action of a POST path `/api/v1/alerts/{monitor}/{rule}/{action}`.
pub fn post_target(path: &str) -> Option<(String, &str)> {
    let rest = path.strip_prefix("/api/v1/alerts/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [monitor, rule, action @ ("pause" | "resume")] => {
            Some((format!("{monitor}/{rule}"), *action))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_bodies() {
        let p = PauseRequest::parse(br#"{"reason":"deploy","minutes":30}"#, 1000).unwrap();
        assert_eq!(p.until_s, 2800);
        let p =
            PauseRequest::parse(br#"{"reason":"x","until":"1970-01-01T01:00:00Z"}"#, 0).unwrap();
        assert_eq!(p.until_s, 3600);
        assert!(PauseRequest::parse(br#"{"minutes":30}"#, 0).is_err());
        assert!(PauseRequest::parse(br#"{"reason":"x","minutes":0}"#, 0).is_err());
        assert!(PauseRequest::parse(br#"{"reason":"x","until":10}"#, 100).is_err());
    }

    #[test]
    fn post_paths() {
        assert_eq!(
            post_target("/api/v1/alerts/rpc/low/pause"),
            Some(("rpc/low".to_string(), "pause"))
        );
        assert_eq!(post_target("/api/v1/alerts/rpc/low/stop"), None);
        assert_eq!(post_target("/api/v1/sql"), None);
    }
}
