//! The outbox and its dispatcher against a real webhook receiver: sent
//! once, across duplicates and restarts; retried through an outage; given
//! up on a permanent refusal; one hanging endpoint does not hold up the
//! others, and each recipient's order is kept.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_alerting::{AlertState, Delivery, Dispatcher, Outbox, Recipient, Sender};
use vigil_config::alert::{Notification, Webhook, WebhookFormat};

use crate::http::{free_port, Server, Silent};
use crate::{delivery, wait_until};

/// Webhooks by (name, url).
fn hooks(hooks: &[(&str, String)]) -> Arc<Notification> {
    Arc::new(Notification {
        webhooks: hooks
            .iter()
            .map(|(name, url)| Webhook {
                name: (*name).into(),
                url: url.clone(),
                headers: vec![],
                access_key: None,
                secret: None,
                global: false,
                format: WebhookFormat::Vigil,
            })
            .collect(),
        ..Notification::default()
    })
}

fn to(name: &str) -> Recipient {
    Recipient::Webhook { name: name.into() }
}

fn start(outbox: &Arc<Outbox>, config: Arc<Notification>) -> Dispatcher {
    Dispatcher::start(Arc::clone(outbox), Sender::new(), move || {
        Arc::clone(&config)
    })
    .unwrap()
}

/// The `id` the receiver saw, from the notice's minute and state.
fn seen(request: &crate::http::Request) -> (String, String) {
    let body = request.json();
    (
        body["minute"].as_str().unwrap().to_string(),
        body["state"].as_str().unwrap().to_string(),
    )
}

#[test]
fn enqueued_twice_is_sent_once() {
    let server = Server::ok();
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Outbox::open(dir.path()).unwrap());
    assert!(outbox.enqueue(delivery("d1", to("ops"))).unwrap());
    assert!(!outbox.enqueue(delivery("d1", to("ops"))).unwrap());
    let dispatcher = start(&outbox, hooks(&[("ops", server.url("/hook"))]));
    server.next();
    assert!(wait_until(Duration::from_secs(5), || outbox
        .counters()
        .sent
        == 1));
    assert!(!outbox.enqueue(delivery("d1", to("ops"))).unwrap());
    assert!(server.next_within(Duration::from_millis(500)).is_none());
    dispatcher.stop();
    let counters = outbox.counters();
    assert_eq!(
        (counters.queued, counters.sent, counters.pending),
        (1, 1, 0)
    );
}

#[test]
fn a_restart_keeps_what_is_queued_and_sends_it_exactly_once() {
    let server = Server::ok();
    let config = hooks(&[("ops", server.url("/hook"))]);
    let dir = tempfile::tempdir().unwrap();

    let outbox = Outbox::open(dir.path()).unwrap();
    assert!(outbox.enqueue(delivery("d1", to("ops"))).unwrap());
    drop(outbox);

    let outbox = Arc::new(Outbox::open(dir.path()).unwrap());
    assert!(
        !outbox.enqueue(delivery("d1", to("ops"))).unwrap(),
        "still queued"
    );
    assert_eq!(outbox.due(Instant::now()).len(), 1);
    let dispatcher = start(&outbox, Arc::clone(&config));
    server.next();
    assert!(wait_until(Duration::from_secs(5), || outbox
        .counters()
        .sent
        == 1));
    dispatcher.stop();
    drop(outbox);

    let outbox = Arc::new(Outbox::open(dir.path()).unwrap());
    assert!(
        !outbox.enqueue(delivery("d1", to("ops"))).unwrap(),
        "already sent"
    );
    assert!(outbox.due(Instant::now()).is_empty());
    let dispatcher = start(&outbox, config);
    assert!(server.next_within(Duration::from_millis(500)).is_none());
    dispatcher.stop();
}

#[test]
fn a_receiver_down_then_up_gets_the_delivery_after_a_retry() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Outbox::open(dir.path()).unwrap());
    let dispatcher = start(&outbox, hooks(&[("ops", url)]));
    outbox.enqueue(delivery("d1", to("ops"))).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || outbox.counters().retried >= 1),
        "no failed attempt while the receiver is down"
    );
    let server = Server::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), |_| {
        (200, "{}".into())
    });
    let request = server
        .next_within(Duration::from_secs(10))
        .expect("delivered within the backoff once the receiver is up");
    assert_eq!(request.json()["alert"], "success_rate_low");
    assert!(wait_until(Duration::from_secs(5), || outbox
        .counters()
        .sent
        == 1));
    assert!(server.next_within(Duration::from_millis(300)).is_none());
    dispatcher.stop();
}

#[test]
fn a_permanent_refusal_is_given_up_and_not_retried() {
    let server = Server::start(|_| (400, "bad payload".into()));
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Outbox::open(dir.path()).unwrap());
    outbox.enqueue(delivery("d1", to("ops"))).unwrap();
    outbox.enqueue(delivery("d2", to("ops"))).unwrap();
    let dispatcher = start(&outbox, hooks(&[("ops", server.url("/hook"))]));
    server.next();
    server.next();
    assert!(wait_until(Duration::from_secs(5), || outbox
        .counters()
        .failed
        == 2));
    assert!(server.next_within(Duration::from_millis(1500)).is_none());
    dispatcher.stop();
    let counters = outbox.counters();
    assert_eq!(
        (counters.sent, counters.retried, counters.pending),
        (0, 0, 0)
    );
    drop(outbox);
    let outbox = Outbox::open(dir.path()).unwrap();
    assert!(!outbox.enqueue(delivery("d1", to("ops"))).unwrap());
    assert!(outbox.due(Instant::now()).is_empty());
}

#[test]
fn a_hanging_endpoint_does_not_hold_up_the_others_and_order_is_kept() {
    let silent = Silent::start();
    let server = Server::ok();
    let config = hooks(&[("stuck", silent.url("/hook")), ("ops", server.url("/hook"))]);
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Outbox::open(dir.path()).unwrap());
    let mut firing = delivery("firing", to("ops"));
    firing.notice.minute = 1_714_550_580;
    let mut resolved: Delivery = delivery("resolved", to("ops"));
    resolved.notice.state = AlertState::Resolved;
    resolved.notice.minute = 1_714_550_880;
    outbox.enqueue(delivery("stuck", to("stuck"))).unwrap();
    outbox.enqueue(firing).unwrap();
    outbox.enqueue(resolved).unwrap();

    let started = Instant::now();
    let dispatcher = start(&outbox, config);
    let first = server.next();
    let second = server.next();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "held up by the hanging endpoint: {:?}",
        started.elapsed()
    );
    assert_eq!(
        [seen(&first), seen(&second)],
        [
            ("2024-05-01T08:03:00Z".to_string(), "firing".to_string()),
            ("2024-05-01T08:08:00Z".to_string(), "resolved".to_string()),
        ]
    );
    assert!(
        wait_until(Duration::from_secs(10), || outbox.counters().retried >= 1),
        "the hanging endpoint's attempt is bounded by the timeout"
    );
    dispatcher.stop();
    let counters = outbox.counters();
    assert_eq!((counters.sent, counters.pending), (2, 1));
}
