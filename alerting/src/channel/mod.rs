//! The notification channels: [`Sender::send`] delivers one [`Delivery`]
//! with the settings of the running [`Notification`] (looked up at send
//! time, so a reload applies to deliveries still waiting in the outbox).
//!
//! One module per channel, each with the same shape (a `send` that builds
//! the request and reads the answer):
//! - `webhook`: vigil's JSON or an Alertmanager v4 payload, optionally
//!   signed (`X-Vigil-Signature`);
//! - `email`: a multipart plain-text + HTML message over SMTP (lettre);
//! - `sms`: the gateway's body template rendered with minijinja;
//! - `robot`: a DingTalk-style signed robot webhook with a markdown message.
//!
//! Every attempt is bounded: [`CONNECT_TIMEOUT`] to connect and
//! [`REQUEST_TIMEOUT`] for the whole exchange, so one endpoint that is down
//! delays the others by seconds at most. A failure says whether sending
//! again can help ([`SendError::is_permanent`]).

mod email;
mod robot;
mod sms;
mod webhook;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat};
use vigil_config::alert::Notification;

use crate::notice::{Delivery, Notice, Recipient};

pub use sms::MAX_SMS_CHARS;

/// Longest wait for a TCP connection to an endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest time one attempt (connect, send, answer) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer body read from an endpoint.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;
/// Characters of an answer body kept in an error message.
const MAX_MESSAGE_CHARS: usize = 200;

/// Why a delivery was not sent; [`SendError::is_permanent`] tells whether
/// trying again later can help.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The recipient's channel is not in the running configuration (a
    /// webhook renamed away, no SMTP or SMS settings, a robot no group
    /// lists any more). Permanent.
    #[error("{recipient}: not configured: {what}")]
    NotConfigured {
        /// The recipient ([`Recipient::describe`]).
        recipient: String,
        /// What is missing.
        what: String,
    },
    /// The message cannot be built from the settings and the notice (an
    /// invalid address, method or template). Permanent.
    #[error("{recipient}: cannot build the message: {reason}")]
    Invalid {
        /// The recipient ([`Recipient::describe`]).
        recipient: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP exchange failed: connection refused or lost, timeout, TLS.
    /// Transient, except for a request that cannot be formed at all (a
    /// malformed URL or header).
    #[error("{recipient}: request failed: {source}")]
    Http {
        /// The recipient ([`Recipient::describe`]).
        recipient: String,
        /// The transport error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// The endpoint answered with a status other than 2xx. Transient for
    /// 5xx, 408 and 429; permanent otherwise (the request is refused as
    /// it is).
    #[error("{recipient}: answered {status}: {message}")]
    Status {
        /// The recipient ([`Recipient::describe`]).
        recipient: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer body.
        message: String,
    },
    /// The chat robot answered 2xx with a non-zero `errcode`. Transient for
    /// "system busy" (-1) and "too many messages" (130101), permanent
    /// otherwise (a wrong signature, keyword or token).
    #[error("{recipient}: robot refused the message (errcode {errcode}): {message}")]
    RobotRefused {
        /// The recipient ([`Recipient::describe`]).
        recipient: String,
        /// The robot's error code.
        errcode: i64,
        /// The robot's `errmsg`.
        message: String,
    },
    /// The chat robot answered 2xx without an `errcode`: the URL is not a
    /// DingTalk-style robot. Permanent.
    #[error("{recipient}: unexpected robot answer: {message}")]
    RobotAnswer {
        /// The recipient ([`Recipient::describe`]).
        recipient: String,
        /// The start of the answer body.
        message: String,
    },
    /// SMTP failed: connection, TLS, login or a refusal by the server.
    /// Permanent only when the server answered with a 5xx code.
    #[error("{recipient}: SMTP: {source}")]
    Smtp {
        /// The recipient ([`Recipient::describe`]).
        recipient: String,
        /// lettre's error.
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

impl SendError {
    /// Whether sending the same delivery again cannot succeed without a
    /// change of configuration; a permanent failure is given up, a
    /// transient one is retried.
    pub fn is_permanent(&self) -> bool {
        match self {
            SendError::NotConfigured { .. }
            | SendError::Invalid { .. }
            | SendError::RobotAnswer { .. } => true,
            SendError::Http { source, .. } => matches!(
                **source,
                ureq::Error::BadUri(_)
                    | ureq::Error::Http(_)
                    | ureq::Error::InvalidProxyUrl
                    | ureq::Error::RequireHttpsOnly(_)
            ),
            SendError::Status { status, .. } => !matches!(status, 408 | 429 | 500..=599),
            SendError::RobotRefused { errcode, .. } => !matches!(errcode, -1 | 130101),
            SendError::Smtp { source, .. } => source.is_permanent(),
        }
    }
}

/// Sends deliveries over HTTP (webhook, SMS gateway, chat robot) and SMTP.
/// Cheap to share between threads: the HTTP client pools connections.
#[derive(Debug, Clone)]
pub struct Sender {
    http: ureq::Agent,
}

impl Default for Sender {
    fn default() -> Self {
        Sender::new()
    }
}

impl Sender {
    /// A sender with bounded attempts ([`CONNECT_TIMEOUT`],
    /// [`REQUEST_TIMEOUT`]); redirects are not followed (a redirected
    /// endpoint is a configuration to fix); https is verified against the
    /// bundled Mozilla roots; `HTTPS_PROXY` / `NO_PROXY` are honoured.
    pub fn new() -> Sender {
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Sender { http }
    }

    /// Sends one delivery with the settings of `notification`.
    ///
    /// # Errors
    ///
    /// See [`SendError`]; the error names the recipient.
    pub fn send(&self, delivery: &Delivery, notification: &Notification) -> Result<(), SendError> {
        let notice = &delivery.notice;
        match &delivery.recipient {
            Recipient::Webhook { name } => webhook::send(
                &self.http,
                name,
                &delivery.id,
                notice,
                notification,
                unix_ms(),
            ),
            Recipient::Email { address } => email::send(address, notice, notification),
            Recipient::Sms { phone } => sms::send(&self.http, phone, notice, notification),
            Recipient::Robot { url } => {
                robot::send(&self.http, url, notice, notification, unix_ms())
            }
        }
    }
}

/// Milliseconds since the Unix epoch by the wall clock (signatures carry
/// the time they were made; receivers compare it with theirs).
fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The body of a 2xx answer, or the error its status means. The status
/// decides: a body that cannot be read (too long, cut off) after a 2xx
/// still means the endpoint took the message, so it is not sent again.
fn answer(
    recipient: &str,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<String, SendError> {
    let mut response = result.map_err(|source| SendError::Http {
        recipient: recipient.to_string(),
        source: Box::new(source),
    })?;
    let status = response.status().as_u16();
    let body = match response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_vec()
    {
        Ok(body) => String::from_utf8_lossy(&body).into_owned(),
        Err(e) => {
            log::debug!("{recipient}: answer {status} with an unreadable body: {e}");
            String::new()
        }
    };
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(SendError::Status {
            recipient: recipient.to_string(),
            status,
            message: excerpt(&body),
        })
    }
}

/// The start of an answer body, on one line, for an error message.
fn excerpt(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > MAX_MESSAGE_CHARS {
        let cut: String = line.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// Whether `headers` set `name` (compared without case).
fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// `service=a method=b` (empty for a monitor without keys).
fn keys_text(notice: &Notice) -> String {
    notice
        .keys
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `[P1 FIRING] rpc_service/success_rate_low service=a method=b`: the
/// subject of an email, the title of a robot message.
fn headline(notice: &Notice) -> String {
    let state = notice.state.name().to_ascii_uppercase();
    let keys = keys_text(notice);
    if keys.is_empty() {
        format!("[{} {state}] {}", notice.level, notice.title)
    } else {
        format!("[{} {state}] {} {keys}", notice.level, notice.title)
    }
}

/// The start of the notice's minute as RFC 3339 UTC (`2024-05-01T08:03:00Z`).
fn minute_rfc3339(minute: i64) -> String {
    DateTime::from_timestamp(minute, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A value or threshold for people: the number, or `no data`.
fn number_text(value: Option<f64>) -> String {
    value.map_or_else(|| "no data".to_string(), |v| v.to_string())
}

/// The link a notice points to: its own, else the dashboard's.
fn link(notice: &Notice, notification: &Notification) -> Option<String> {
    notice
        .link
        .clone()
        .or_else(|| notification.dashboard_url.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::AlertState;

    fn notice() -> Notice {
        Notice {
            alert: "success_rate_low".into(),
            monitor: "rpc_service".into(),
            app: None,
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
            channel: "email".into(),
            title: "rpc_service/success_rate_low".into(),
            text: String::new(),
            lines: vec![],
            link: None,
        }
    }

    #[test]
    fn headline_names_level_state_rule_and_keys() {
        assert_eq!(
            headline(&notice()),
            "[P1 FIRING] rpc_service/success_rate_low service=a method=b"
        );
        let mut resolved = notice();
        resolved.state = AlertState::Resolved;
        resolved.keys.clear();
        assert_eq!(
            headline(&resolved),
            "[P1 RESOLVED] rpc_service/success_rate_low"
        );
    }

    #[test]
    fn minute_is_rfc3339_utc() {
        assert_eq!(minute_rfc3339(1_714_550_580), "2024-05-01T08:03:00Z");
    }

    #[test]
    fn statuses_that_retrying_can_fix() {
        let status = |status| SendError::Status {
            recipient: "webhook ops".into(),
            status,
            message: String::new(),
        };
        for transient in [408, 429, 500, 502, 503] {
            assert!(!status(transient).is_permanent(), "{transient}");
        }
        for permanent in [301, 400, 401, 403, 404, 410] {
            assert!(status(permanent).is_permanent(), "{permanent}");
        }
    }

    #[test]
    fn excerpt_is_one_bounded_line() {
        assert_eq!(excerpt("a\n  b\tc"), "a b c");
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
