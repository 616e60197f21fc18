//! Webhooks: vigil's JSON with signature and headers, the Alertmanager
//! payload, and which failures are worth a retry.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use vigil_alerting::{AlertState, Recipient, SendError, Sender};
use vigil_config::alert::{Notification, Webhook, WebhookFormat};

use crate::http::{free_port, Server};
use crate::{delivery, now_ms};

fn hook(url: String, secret: Option<&str>, format: WebhookFormat) -> Notification {
    Notification {
        webhooks: vec![Webhook {
            name: "ops".into(),
            url,
            headers: vec![("X-Team".into(), "core".into())],
            access_key: Some("AK1".into()),
            secret: secret.map(String::from),
            global: true,
            format,
        }],
        dashboard_url: Some("http://dash.example".into()),
        ..Notification::default()
    }
}

fn to_ops() -> Recipient {
    Recipient::Webhook { name: "ops".into() }
}

#[test]
fn signed_json_with_every_field_and_the_custom_headers() {
    let server = Server::ok();
    let config = hook(server.url("/hook"), Some("s3cret"), WebhookFormat::Vigil);
    let before = now_ms();
    Sender::new()
        .send(&delivery("d1", to_ops()), &config)
        .unwrap();
    let request = server.next();
    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        ("POST", "/hook")
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(request.header("x-team"), Some("core"));
    assert_eq!(request.header("x-vigil-access-key"), Some("AK1"));
    assert_eq!(request.header("x-vigil-delivery"), Some("d1"));

    let timestamp = request.header("x-vigil-timestamp").unwrap();
    let ms: u128 = timestamp.parse().unwrap();
    assert!((before..=now_ms()).contains(&ms), "timestamp {ms}");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(request.header("x-vigil-signature"), Some(expected.as_str()));

    assert_eq!(
        request.json(),
        json!({
            "alert": "success_rate_low",
            "monitor": "rpc_service",
            "app": "trade",
            "level": "P1",
            "state": "firing",
            "minute": "2024-05-01T08:03:00Z",
            "keys": { "service": "a", "method": "b" },
            "value": 0.93,
            "threshold": 0.95,
            "condition": "current of success_rate <",
            "channel": "webhook",
            "text": crate::notice().text,
            "lines": crate::notice().lines,
        })
    );
}

#[test]
fn without_a_secret_nothing_is_signed_and_missing_numbers_are_null() {
    let server = Server::ok();
    let config = hook(server.url("/hook"), None, WebhookFormat::Vigil);
    let mut delivery = delivery("d1", to_ops());
    delivery.notice.value = None;
    delivery.notice.threshold = None;
    delivery.notice.app = None;
    Sender::new().send(&delivery, &config).unwrap();
    let request = server.next();
    assert_eq!(request.header("x-vigil-signature"), None);
    assert_eq!(request.header("x-vigil-timestamp"), None);
    let body = request.json();
    assert!(body["value"].is_null() && body["threshold"].is_null() && body["app"].is_null());
}

#[test]
fn alertmanager_payload_for_firing_and_resolved() {
    let server = Server::ok();
    let config = hook(server.url("/am"), None, WebhookFormat::Alertmanager);
    let sender = Sender::new();
    sender.send(&delivery("d1", to_ops()), &config).unwrap();
    let body = server.next().json();
    let labels = json!({
        "alertname": "success_rate_low",
        "monitor": "rpc_service",
        "severity": "P1",
        "app": "trade",
        "service": "a",
        "method": "b",
    });
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "ops");
    assert_eq!(
        body["groupLabels"],
        json!({ "alertname": "success_rate_low" })
    );
    assert_eq!(body["commonLabels"], labels);
    assert_eq!(body["externalURL"], "http://dash.example");
    assert_eq!(body["truncatedAlerts"], 0);
    assert!(body["groupKey"]
        .as_str()
        .unwrap()
        .contains("success_rate_low"));
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"], labels);
    assert_eq!(
        alert["annotations"]["summary"],
        "rpc_service/success_rate_low"
    );
    assert_eq!(alert["annotations"]["description"], crate::notice().text);
    assert_eq!(alert["startsAt"], "2024-05-01T08:03:00Z");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        alert["generatorURL"],
        "http://dash.example/m/rpc_service?a=1&b=2"
    );
    let fingerprint = alert["fingerprint"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 16);

    let mut resolved = delivery("d2", to_ops());
    resolved.notice.state = AlertState::Resolved;
    resolved.notice.minute += 300;
    sender.send(&resolved, &config).unwrap();
    let body = server.next().json();
    assert_eq!(body["status"], "resolved");
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "resolved");
    assert_eq!(alert["endsAt"], "2024-05-01T08:08:00Z");
    assert_eq!(alert["fingerprint"], fingerprint, "same alert, same labels");
}

#[test]
fn client_errors_are_permanent_server_errors_and_outages_transient() {
    let server = Server::start(|request| match request.path() {
        "/400" => (400, "bad".into()),
        "/404" => (404, "gone".into()),
        "/429" => (429, "slow down".into()),
        "/408" => (408, "timeout".into()),
        _ => (503, "maintenance".into()),
    });
    let sender = Sender::new();
    let send = |url: String| {
        sender
            .send(
                &delivery("d", to_ops()),
                &hook(url, None, WebhookFormat::Vigil),
            )
            .unwrap_err()
    };
    for (path, permanent) in [
        ("/400", true),
        ("/404", true),
        ("/429", false),
        ("/408", false),
        ("/503", false),
    ] {
        let error = send(server.url(path));
        assert!(matches!(error, SendError::Status { .. }), "{path}: {error}");
        assert_eq!(error.is_permanent(), permanent, "{path}: {error}");
    }
    let refused = send(format!("http://127.0.0.1:{}/hook", free_port()));
    assert!(matches!(refused, SendError::Http { .. }), "{refused}");
    assert!(!refused.is_permanent(), "{refused}");

    let unknown = sender
        .send(
            &delivery(
                "d",
                Recipient::Webhook {
                    name: "gone".into(),
                },
            ),
            &Notification::default(),
        )
        .unwrap_err();
    assert!(unknown.is_permanent(), "{unknown}");
    assert!(unknown.to_string().contains("webhook gone"), "{unknown}");
}
