//! Email against a real SMTP server on 127.0.0.1: Python's aiosmtpd,
//! started by the test (`smtp_sink.py`). Install it with
//! `apt-get install -y python3-aiosmtpd` (or `pip install aiosmtpd`).

use vigil_alerting::testing::{free_port, SmtpSink};
use vigil_alerting::{Recipient, SendError, Sender};
use vigil_config::alert::Notification;

use crate::delivery;

/// Settings for `sink`.
fn config(sink: &SmtpSink) -> Notification {
    Notification {
        email: Some(sink.channel()),
        ..Notification::default()
    }
}

fn to(address: &str) -> Recipient {
    Recipient::Email {
        address: address.into(),
    }
}

#[test]
fn multipart_message_with_subject_recipient_and_both_bodies() {
    let sink = SmtpSink::start();
    Sender::new()
        .send(&delivery("d1", to("alice@example.com")), &config(&sink))
        .unwrap();
    let message = sink.message(1, 10);
    assert_eq!(
        message["subject"],
        "[P1 FIRING] rpc_service/success_rate_low service=a method=b"
    );
    assert_eq!(message["mail_from"], "vigil@example.com");
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!(["alice@example.com"])
    );
    assert_eq!(message["to"], "alice@example.com");
    assert_eq!(message["from"], "vigil@example.com");
    assert_eq!(message["content_type"], "multipart/alternative");

    let plain = message["plain"].as_str().unwrap();
    for part in [
        "Rule:      rpc_service/success_rate_low",
        "Level:     P1",
        "State:     firing",
        "Value:     0.93",
        "Threshold: 0.95",
        "Keys:      service=a method=b",
        "\"quoted\" <b>bold</b> & ünïcode",
        "  ERROR <svc> failed: \"x\"",
        "Dashboard: http://dash.example/m/rpc_service?a=1&b=2",
    ] {
        assert!(
            plain.contains(part),
            "{part:?} not in the plain text:\n{plain}"
        );
    }

    let html = message["html"].as_str().unwrap();
    for part in [
        "<th align=\"left\">Value</th><td>0.93</td>",
        "<th align=\"left\">Threshold</th><td>0.95</td>",
        "<th align=\"left\">Keys</th><td>service=a method=b</td>",
        "&quot;quoted&quot; &lt;b&gt;bold&lt;/b&gt; &amp; ünïcode",
        "ERROR &lt;svc&gt; failed: &quot;x&quot;",
        "<a href=\"http://dash.example/m/rpc_service?a=1&amp;b=2\">",
    ] {
        assert!(html.contains(part), "{part:?} not in the HTML:\n{html}");
    }
    assert!(!html.contains("<b>bold</b>"), "unescaped text in:\n{html}");
}

#[test]
fn refused_recipient_is_permanent_and_no_server_is_transient() {
    let sink = SmtpSink::start();
    let sender = Sender::new();
    let refused = sender
        .send(&delivery("d1", to("rejected@example.com")), &config(&sink))
        .unwrap_err();
    assert!(matches!(refused, SendError::Smtp { .. }), "{refused}");
    assert!(refused.is_permanent(), "{refused}");

    let mut down = config(&sink);
    if let Some(email) = down.email.as_mut() {
        email.port = free_port();
    }
    let unreachable = sender
        .send(&delivery("d2", to("alice@example.com")), &down)
        .unwrap_err();
    assert!(!unreachable.is_permanent(), "{unreachable}");

    let invalid = sender
        .send(&delivery("d3", to("not an address")), &config(&sink))
        .unwrap_err();
    assert!(matches!(invalid, SendError::Invalid { .. }), "{invalid}");
    assert!(invalid.is_permanent());
}
