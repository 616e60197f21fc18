//! The SMS gateway: body template with JSON escaping, a text cut for SMS,
//! the gateway's headers, and a GET gateway with the values in the URL.

use vigil_alerting::channel::MAX_SMS_CHARS;
use vigil_alerting::{Recipient, SendError, Sender};
use vigil_config::alert::{Notification, SmsChannel};

use crate::delivery;
use crate::http::Server;

fn gateway(url: String, method: &str, body: &str) -> Notification {
    Notification {
        sms: Some(SmsChannel {
            url,
            method: method.into(),
            body: body.into(),
            headers: vec![("Authorization".into(), "Bearer t0k".into())],
        }),
        ..Notification::default()
    }
}

fn to_phone() -> Recipient {
    Recipient::Sms {
        phone: "+8613800000000".into(),
    }
}

#[test]
fn json_body_escapes_the_text_and_cuts_it_for_sms() {
    let server = Server::start(|_| (200, "{}".into()));
    let config = gateway(
        server.url("/send"),
        "POST",
        r#"{"to":"{{phone}}","text":"{{text}}","sign":"vigil"}"#,
    );
    let mut long = delivery("d1", to_phone());
    long.notice.text.push_str(&" and more".repeat(20));
    Sender::new().send(&long, &config).unwrap();
    let request = server.next();
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("authorization"), Some("Bearer t0k"));
    assert_eq!(
        request.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    let body = request.json();
    assert_eq!(body["to"], "+8613800000000");
    assert_eq!(body["sign"], "vigil");
    let text = body["text"].as_str().unwrap();
    assert_eq!(text.chars().count(), MAX_SMS_CHARS);
    assert!(text.ends_with('…'), "{text}");
    let one_line = long
        .notice
        .text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(one_line.starts_with(text.trim_end_matches('…')), "{text}");
    assert!(
        text.contains(r#""quoted" <b>bold</b> & ünïcode second line"#),
        "{text}"
    );

    let short = delivery("d2", to_phone());
    Sender::new().send(&short, &config).unwrap();
    let text = server.next().json()["text"].as_str().unwrap().to_string();
    assert_eq!(
        text,
        "P1 rpc_service/success_rate_low FIRING: \"quoted\" <b>bold</b> & ünïcode second line"
    );
}

#[test]
fn get_gateway_takes_the_values_in_the_url() {
    let server = Server::start(|_| (200, "OK".into()));
    let config = gateway(server.url("/sms?to={{phone}}&msg={{text}}"), "GET", "");
    Sender::new()
        .send(&delivery("d1", to_phone()), &config)
        .unwrap();
    let request = server.next();
    assert_eq!(request.method, "GET");
    assert_eq!(request.query("to").as_deref(), Some("+8613800000000"));
    assert!(request
        .query("msg")
        .unwrap()
        .starts_with("P1 rpc_service/success_rate_low FIRING: \"quoted\""));
    assert!(request.body.is_empty());
}

#[test]
fn template_and_method_mistakes_are_permanent() {
    let server = Server::start(|_| (200, "OK".into()));
    let sender = Sender::new();
    for (method, body) in [("POST", "{{phon}}"), ("DELETE", "{{phone}}")] {
        let error = sender
            .send(
                &delivery("d1", to_phone()),
                &gateway(server.url("/send"), method, body),
            )
            .unwrap_err();
        assert!(matches!(error, SendError::Invalid { .. }), "{error}");
        assert!(error.is_permanent());
    }
    assert!(server
        .next_within(std::time::Duration::from_millis(100))
        .is_none());
}
