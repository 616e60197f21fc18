//! The throttling schedule, driven minute by minute for six hours.

use vigil_alerting::alerter::{Alerter, Watched};
use vigil_alerting::AlertState;
use vigil_config::alert::*;

use crate::support::{rule, Rows};

const START: i64 = 1_790_000_000 / 3600 * 3600;

fn webhook(name: &str, global: bool) -> Webhook {
    Webhook {
        name: name.to_string(),
        url: "http://127.0.0.1:9/hook".to_string(),
        headers: Vec::new(),
        access_key: None,
        secret: None,
        global,
        format: WebhookFormat::Vigil,
    }
}

/// Fires every minute for `minutes`; returns the minutes (after the first)
/// at which a firing notification went to `who`.
fn drive(minutes: i64, notification: Notification, who: &str) -> Vec<i64> {
    let rows = Rows::default();
    let watched = Watched {
        rule: rule("errors", "count", ValueFn::Current, Op::Gt, 0.0),
        table: "errors".to_string(),
        keyed: false,
        app: None,
    };
    let mut alerter = Alerter::open(None, vec![watched], notification).unwrap();
    let mut at = Vec::new();
    for i in 0..minutes {
        let minute = START + i * 60;
        rows.put("errors", minute, &[], "count", 1.0);
        let d = alerter.on_minute("errors", minute, &rows).unwrap();
        for delivery in d.deliveries {
            assert_eq!(delivery.notice.state, AlertState::Firing);
            if delivery.id.contains(who) {
                at.push(i);
            }
        }
    }
    at
}

#[test]
fn six_hours_of_firing_follow_the_schedule_exactly() {
    let n = Notification {
        webhooks: vec![webhook("ops", true)],
        ..Notification::default()
    };
    // every 1 min for 3, every 2 for 4, every 5 for 25, every 10 for 50,
    // every 30 for 150, then hourly
    let want = vec![
        0, 1, 2, // 1 min
        3, 5, // 2 min
        7, 12, 17, 22, 27, // 5 min
        32, 42, 52, 62, 72, // 10 min
        82, 112, 142, 172, 202, // 30 min
        232, 292, 352, // hourly
    ];
    assert_eq!(drive(360, n, "\"ops\""), want);
}

#[test]
fn a_subscription_without_throttling_hears_every_minute() {
    let n = Notification {
        webhooks: vec![webhook("ops", true), webhook("audit", false)],
        subscriptions: vec![Subscription {
            who: "audit".to_string(),
            levels: vec![Level::P1],
            throttle: false,
        }],
        ..Notification::default()
    };
    assert_eq!(
        drive(30, n.clone(), "\"audit\""),
        (0..30).collect::<Vec<_>>()
    );
    assert_eq!(drive(30, n, "\"ops\"").len(), 10);
}

#[test]
fn a_subscription_for_other_levels_hears_nothing() {
    let n = Notification {
        webhooks: vec![webhook("audit", false)],
        subscriptions: vec![Subscription {
            who: "audit".to_string(),
            levels: vec![Level::P0],
            throttle: false,
        }],
        ..Notification::default()
    };
    assert!(drive(10, n, "\"audit\"").is_empty());
}
