//! Webhooks: a JSON POST of vigil's notice object, or of an Alertmanager
//! webhook (version 4) payload so that existing consumers work unchanged.
//!
//! When the webhook has a secret, the request carries `X-Vigil-Timestamp`
//! (Unix milliseconds) and `X-Vigil-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of `timestamp + "." + body` keyed with the secret: the
//! receiver recomputes it over the exact bytes it received and may refuse
//! old timestamps to stop replays. `X-Vigil-Delivery` carries the
//! delivery's id: an attempt that timed out after the receiver took it is
//! sent again, and the id lets the receiver drop the repeat.

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use vigil_config::alert::{Notification, Webhook, WebhookFormat};

use super::{answer, has_header, link, minute_rfc3339, SendError};
use crate::notice::{AlertState, Notice};

/// `endsAt` of an alert that still fires (Go's zero time, as Alertmanager
/// sends it).
const NOT_ENDED: &str = "0001-01-01T00:00:00Z";

/// POSTs `notice` (of delivery `id`) to the webhook called `name`.
pub(super) fn send(
    http: &ureq::Agent,
    name: &str,
    id: &str,
    notice: &Notice,
    notification: &Notification,
    now_ms: u128,
) -> Result<(), SendError> {
    let recipient = format!("webhook {name}");
    let hook = notification
        .webhook(name)
        .ok_or_else(|| SendError::NotConfigured {
            recipient: recipient.clone(),
            what: format!("no webhook named {name:?}"),
        })?;
    let payload = match hook.format {
        WebhookFormat::Vigil => vigil_payload(notice),
        WebhookFormat::Alertmanager => alertmanager_payload(notice, hook, notification),
    };
    let body = payload.to_string().into_bytes();
    let mut request = http.post(&hook.url);
    if !has_header(&hook.headers, "content-type") {
        request = request.header("Content-Type", "application/json; charset=UTF-8");
    }
    for (header, value) in &hook.headers {
        request = request.header(header, value);
    }
    request = request.header("X-Vigil-Delivery", id);
    if let Some(key) = &hook.access_key {
        request = request.header("X-Vigil-Access-Key", key);
    }
    if let Some(secret) = &hook.secret {
        let timestamp = now_ms.to_string();
        let signature = sign(secret, &timestamp, &body);
        request = request
            .header("X-Vigil-Timestamp", &timestamp)
            .header("X-Vigil-Signature", &format!("sha256={signature}"));
    }
    answer(&recipient, request.send(&body[..])).map(drop)
}

/// Hex HMAC-SHA256 of `timestamp.body` keyed with `secret`.
fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    // Invariant: HMAC accepts keys of any length.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// vigil's notice object: the fields of [`Notice`] a consumer needs, with
/// the minute as RFC 3339 UTC and the keys as an object.
fn vigil_payload(notice: &Notice) -> Value {
    let keys: Map<String, Value> = notice
        .keys
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    json!({
        "alert": notice.alert,
        "monitor": notice.monitor,
        "app": notice.app,
        "level": notice.level,
        "state": notice.state.name(),
        "minute": minute_rfc3339(notice.minute),
        "keys": keys,
        "value": notice.value,
        "threshold": notice.threshold,
        "condition": notice.condition,
        "channel": notice.channel,
        "text": notice.text,
        "lines": notice.lines,
    })
}

/// An Alertmanager webhook (version 4) payload with one alert: labels
/// `alertname`, `monitor`, `severity`, `app` and the keys; annotations
/// `summary` (the title), `description` (the text) and the numbers.
fn alertmanager_payload(notice: &Notice, hook: &Webhook, notification: &Notification) -> Value {
    let mut labels = Map::new();
    labels.insert("alertname".into(), notice.alert.clone().into());
    labels.insert("monitor".into(), notice.monitor.clone().into());
    labels.insert("severity".into(), notice.level.clone().into());
    if let Some(app) = &notice.app {
        labels.insert("app".into(), app.clone().into());
    }
    for (key, value) in &notice.keys {
        labels
            .entry(key.clone())
            .or_insert_with(|| value.clone().into());
    }
    let mut annotations = Map::new();
    annotations.insert("summary".into(), notice.title.clone().into());
    annotations.insert("description".into(), notice.text.clone().into());
    annotations.insert("condition".into(), notice.condition.clone().into());
    if let Some(value) = notice.value {
        annotations.insert("value".into(), value.to_string().into());
    }
    if let Some(threshold) = notice.threshold {
        annotations.insert("threshold".into(), threshold.to_string().into());
    }
    let status = notice.state.name();
    let starts_at = minute_rfc3339(notice.minute);
    let ends_at = match notice.state {
        AlertState::Firing => NOT_ENDED.to_string(),
        AlertState::Resolved => starts_at.clone(),
    };
    let alert = json!({
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": link(notice, notification).unwrap_or_default(),
        "fingerprint": fingerprint(&labels),
    });
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname={:?}}}", notice.alert),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": hook.name,
        "groupLabels": { "alertname": notice.alert },
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": notification.dashboard_url.clone().unwrap_or_default(),
        "alerts": [alert],
    })
}

/// 16 hex digits identifying an alert by its labels (sorted by name), as
/// Alertmanager's fingerprint does.
fn fingerprint(labels: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, &Value)> = labels.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut hash = Sha256::new();
    for (name, value) in pairs {
        hash.update(name.as_bytes());
        hash.update([0xff]);
        hash.update(value.as_str().unwrap_or_default().as_bytes());
        hash.update([0xff]);
    }
    hex::encode(&hash.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // From `printf '1700000000000.{}' | openssl dgst -sha256 -hmac key`.
        assert_eq!(
            sign("key", "1700000000000", b"{}"),
            "36a72f4525d3323bd0f238fe82098164fb77b1e42288ff8e07b074c686178ad3"
        );
    }
}
