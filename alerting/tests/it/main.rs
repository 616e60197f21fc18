//! Integration tests of vigil-alerting's channels and outbox against real
//! servers on 127.0.0.1: an HTTP receiver (`http`) and, for email, Python's
//! aiosmtpd started as a child process (`smtp_sink.py`).

mod email;
mod http;
mod outbox;
mod robot;
mod sms;
mod webhook;

use std::time::{SystemTime, UNIX_EPOCH};

pub use vigil_alerting::testing::wait_until;
use vigil_alerting::{AlertState, Delivery, Notice, Recipient};

/// A firing notice whose text and lines need escaping in every format.
fn notice() -> Notice {
    Notice {
        alert: "success_rate_low".into(),
        monitor: "rpc_service".into(),
        app: Some("trade".into()),
        level: "P1".into(),
        state: AlertState::Firing,
        minute: 1_714_550_580,
        keys: vec![
            ("service".into(), "a".into()),
            ("method".into(), "b".into()),
        ],
        value: Some(0.93),
        threshold: Some(0.95),
        condition: "current of success_rate <".into(),
        channel: "webhook".into(),
        title: "rpc_service/success_rate_low".into(),
        text:
            "P1 rpc_service/success_rate_low FIRING: \"quoted\" <b>bold</b> & ünïcode\nsecond line"
                .into(),
        lines: vec!["ERROR <svc> failed: \"x\"".into(), "second line".into()],
        link: Some("http://dash.example/m/rpc_service?a=1&b=2".into()),
    }
}

/// A delivery of [`notice`] to `recipient`.
fn delivery(id: &str, recipient: Recipient) -> Delivery {
    Delivery {
        id: id.into(),
        recipient,
        notice: notice(),
    }
}

/// Unix time in milliseconds.
fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}
