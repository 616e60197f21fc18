//! Chat robots: the `sign` query parameter, the markdown message, and the
//! robot's `errcode`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use vigil_alerting::{Recipient, SendError, Sender};
use vigil_config::alert::{Group, Notification, Robot};

use crate::http::Server;
use crate::{delivery, now_ms};

fn group(url: &str, secret: Option<&str>) -> Notification {
    Notification {
        groups: vec![Group {
            name: "oncall".into(),
            contacts: vec![],
            robots: vec![Robot {
                url: url.into(),
                secret: secret.map(String::from),
            }],
        }],
        ..Notification::default()
    }
}

#[test]
fn signed_markdown_message() {
    let server = Server::ok();
    let url = server.url("/robot/send?access_token=tok");
    let config = group(&url, Some("SECabc"));
    let before = now_ms();
    Sender::new()
        .send(&delivery("d1", Recipient::Robot { url }), &config)
        .unwrap();
    let request = server.next();
    assert_eq!(request.path(), "/robot/send");
    assert_eq!(request.query("access_token").as_deref(), Some("tok"));
    let timestamp = request.query("timestamp").unwrap();
    let ms: u128 = timestamp.parse().unwrap();
    assert!((before..=now_ms()).contains(&ms), "timestamp {ms}");
    let mut mac = Hmac::<Sha256>::new_from_slice(b"SECabc").unwrap();
    mac.update(format!("{timestamp}\nSECabc").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(request.query("sign"), Some(expected));

    let body = request.json();
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(
        body["markdown"]["title"],
        "[P1 FIRING] rpc_service/success_rate_low service=a method=b"
    );
    let text = body["markdown"]["text"].as_str().unwrap();
    for part in [
        "**Value**: 0.93",
        "**Threshold**: 0.95",
        "**Keys**: service=a method=b",
        "> ERROR <svc> failed",
        "[Dashboard](http://dash.example/m/rpc_service?a=1&b=2)",
    ] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
}

#[test]
fn without_a_secret_the_url_is_used_as_it_is() {
    let server = Server::ok();
    let url = server.url("/robot/send?access_token=tok");
    Sender::new()
        .send(
            &delivery("d1", Recipient::Robot { url: url.clone() }),
            &group(&url, None),
        )
        .unwrap();
    assert_eq!(server.next().target, "/robot/send?access_token=tok");
}

#[test]
fn errcodes_are_refusals() {
    let server = Server::start(|request| match request.query("access_token").as_deref() {
        Some("busy") => (200, r#"{"errcode":130101,"errmsg":"send too fast"}"#.into()),
        Some("bad") => (
            200,
            r#"{"errcode":310000,"errmsg":"sign not match"}"#.into(),
        ),
        _ => (200, "<html>not a robot</html>".into()),
    });
    let sender = Sender::new();
    let send = |token: &str| {
        let url = server.url(&format!("/robot/send?access_token={token}"));
        sender
            .send(
                &delivery("d", Recipient::Robot { url: url.clone() }),
                &group(&url, Some("S")),
            )
            .unwrap_err()
    };
    let busy = send("busy");
    assert!(
        matches!(
            busy,
            SendError::RobotRefused {
                errcode: 130101,
                ..
            }
        ),
        "{busy}"
    );
    assert!(!busy.is_permanent());
    let bad = send("bad");
    assert!(
        matches!(
            bad,
            SendError::RobotRefused {
                errcode: 310000,
                ..
            }
        ),
        "{bad}"
    );
    assert!(bad.is_permanent());
    let html = send("html");
    assert!(matches!(html, SendError::RobotAnswer { .. }), "{html}");
    assert!(html.is_permanent());

    let unlisted = sender
        .send(
            &delivery(
                "d",
                Recipient::Robot {
                    url: server.url("/other"),
                },
            ),
            &Notification::default(),
        )
        .unwrap_err();
    assert!(
        matches!(unlisted, SendError::NotConfigured { .. }),
        "{unlisted}"
    );
}
