//! What a notification says and to whom it goes. Evaluation produces
//! [`Delivery`]s; the outbox persists them and the channels send them.

use serde::{Deserialize, Serialize};

/// Whether an alert starts/continues or has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The rule holds.
    Firing,
    /// The rule held and no longer does.
    Resolved,
}

impl AlertState {
    /// `firing` or `resolved`.
    pub fn name(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// The content of one notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The rule's name.
    pub alert: String,
    /// The monitor's name.
    pub monitor: String,
    /// The monitor's application, if it has one.
    pub app: Option<String>,
    /// Level (`P0` … `P4`).
    pub level: String,
    /// Firing or resolved.
    pub state: AlertState,
    /// Start of the evaluated minute, epoch seconds.
    pub minute: i64,
    /// Key column names and values (empty for a monitor without keys).
    pub keys: Vec<(String, String)>,
    /// The computed value of the condition that decided the channel;
    /// `None` when it could not be computed (missing data, zero base).
    pub value: Option<f64>,
    /// The threshold crossed for this channel.
    pub threshold: Option<f64>,
    /// The condition, readable (`current of success_rate < 0.95`).
    pub condition: String,
    /// The channel this notice goes out on.
    pub channel: String,
    /// Title (`<monitor>/<rule>` unless the rule sets one).
    pub title: String,
    /// The text for people: rule, value, threshold, keys.
    pub text: String,
    /// Attached log lines (match_alert, record_top).
    pub lines: Vec<String>,
    /// A link to the dashboard or a runbook.
    pub link: Option<String>,
}

/// Who receives a notice, by identity; the settings (URL, secret, SMTP
/// server) are looked up in the running configuration when it is sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Recipient {
    /// A configured webhook, by name.
    Webhook {
        /// The webhook's name.
        name: String,
    },
    /// An email address of a contact.
    Email {
        /// The address.
        address: String,
    },
    /// A phone number of a contact, through the SMS gateway.
    Sms {
        /// The number.
        phone: String,
    },
    /// A group's chat robot, by URL.
    Robot {
        /// The robot's webhook URL.
        url: String,
    },
}

impl Recipient {
    /// A short, log-safe description (`webhook ops`, `email a@b.c`).
    pub fn describe(&self) -> String {
        match self {
            Recipient::Webhook { name } => format!("webhook {name}"),
            Recipient::Email { address } => format!("email {address}"),
            Recipient::Sms { phone } => format!("sms {phone}"),
            Recipient::Robot { url } => {
                let host = url.split('?').next().unwrap_or(url);
                format!("robot {host}")
            }
        }
    }
}

/// One notice to one recipient, with an id that makes sending idempotent:
/// the same id is sent at most once, across retries and restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `<monitor>/<rule>|<keys>|<minute>|<state>|<recipient>`.
    pub id: String,
    /// Who receives it.
    pub recipient: Recipient,
    /// What it says.
    pub notice: Notice,
}
