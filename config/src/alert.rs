//! Resolved alert rules and notification settings (DESIGN.md §6 and §7):
//! what validation lowers a monitor's `alerts:` and the top-level
//! `notification:` into, and what the alerting crate evaluates and sends.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

/// Alert level; P0 is the most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    /// Red: wake people up.
    P0,
    /// Orange.
    P1,
    /// Normal (the default).
    #[default]
    P2,
    /// Normal.
    P3,
    /// Normal.
    P4,
}

impl Level {
    /// Every level, most urgent first.
    pub const ALL: [Level; 5] = [Level::P0, Level::P1, Level::P2, Level::P3, Level::P4];

    /// The level as written in YAML (`P0` … `P4`).
    pub fn name(self) -> &'static str {
        match self {
            Level::P0 => "P0",
            Level::P1 => "P1",
            Level::P2 => "P2",
            Level::P3 => "P3",
            Level::P4 => "P4",
        }
    }

    /// Parses `P0` … `P4`.
    pub fn parse(text: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == text)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A way to reach people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// Chat robot (DingTalk-style signed webhook) of a group.
    Im,
    /// Text message through the HTTP SMS gateway.
    Sms,
    /// Email over SMTP.
    Email,
    /// The configured webhooks.
    Webhook,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 4] = [Channel::Im, Channel::Sms, Channel::Email, Channel::Webhook];

    /// The channel as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Im => "im",
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    /// Parses `im`, `sms`, `email` or `webhook`.
    pub fn parse(text: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == text)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a condition turns a value's minutes into one number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueFn {
    /// The value of the evaluated minute.
    Current,
    /// Change vs the previous minute, percent.
    Mom,
    /// Change vs the same local minute yesterday, percent.
    Dod,
    /// Change vs the same local minute a week ago, percent.
    Wow,
    /// Sum of the last `n` minutes (the evaluated one included).
    SumLast(u32),
    /// Average of the last `n` minutes that have data.
    AvgLast(u32),
    /// Smallest value of the last `n` minutes: "above X for n minutes".
    MinLast(u32),
    /// Largest value of the last `n` minutes: "below X for n minutes".
    MaxLast(u32),
    /// Sum of the last `n` minutes vs the `n` before, change in percent.
    SumLastVsPrev(u32),
    /// Sum of the last `n` minutes vs the same `n` minutes yesterday, percent.
    SumLastVsYesterday(u32),
    /// Minutes without any line, up to and including the evaluated one
    /// (compared with the threshold: `nodata >= 5` = silent for 5 minutes).
    NoData,
    /// Keys (or records) of the evaluated minute whose value is above `over`
    /// (for top monitors: "more than K keys above a value").
    CountAbove(f64),
}

impl ValueFn {
    /// The function's name as written in YAML.
    pub fn name(&self) -> &'static str {
        match self {
            ValueFn::Current => "current",
            ValueFn::Mom => "mom",
            ValueFn::Dod => "dod",
            ValueFn::Wow => "wow",
            ValueFn::SumLast(_) => "sum_last",
            ValueFn::AvgLast(_) => "avg_last",
            ValueFn::MinLast(_) => "min_last",
            ValueFn::MaxLast(_) => "max_last",
            ValueFn::SumLastVsPrev(_) => "sum_last_vs_prev",
            ValueFn::SumLastVsYesterday(_) => "sum_last_vs_yesterday",
            ValueFn::NoData => "nodata",
            ValueFn::CountAbove(_) => "count_above",
        }
    }
}

/// A comparison of a computed value with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// The operator as written in YAML.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    /// Parses `>`, `>=`, `<`, `<=`, `==`, `!=`.
    pub fn parse(text: &str) -> Option<Op> {
        [Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::Eq, Op::Ne]
            .into_iter()
            .find(|o| o.symbol() == text)
    }

    /// Whether `value op threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Eq => value == threshold,
            Op::Ne => value != threshold,
        }
    }
}

/// One condition: a value function on a value, compared with a threshold
/// per channel.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The value name of the monitor's rows (`total`, `success_rate`, …);
    /// empty for `nodata`.
    pub value: String,
    /// The value function.
    pub func: ValueFn,
    /// The comparison.
    pub op: Op,
    /// Threshold per channel; the condition holds for the channels whose
    /// threshold it crosses.
    pub thresholds: BTreeMap<Channel, f64>,
}

impl Condition {
    /// A readable form: `sum_last(5) of total > 1000`.
    pub fn describe(&self) -> String {
        let f = match self.func {
            ValueFn::SumLast(n)
            | ValueFn::AvgLast(n)
            | ValueFn::MinLast(n)
            | ValueFn::MaxLast(n)
            | ValueFn::SumLastVsPrev(n)
            | ValueFn::SumLastVsYesterday(n) => format!("{}({n})", self.func.name()),
            ValueFn::CountAbove(over) => format!("count_above({over})"),
            _ => self.func.name().to_string(),
        };
        if self.value.is_empty() {
            format!("{f} {}", self.op.symbol())
        } else {
            format!("{f} of {} {}", self.value, self.op.symbol())
        }
    }
}

/// How conditions combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Match {
    /// A channel fires when any condition crosses its threshold for it.
    #[default]
    Any,
    /// Every condition must hold (for some channel); the channels are those
    /// whose thresholds were crossed.
    All,
}

/// Which keys of a keyed monitor a rule watches, per key column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySelector {
    /// Every value, each evaluated separately (`*`).
    Each,
    /// Only these values, each evaluated separately.
    Values(Vec<String>),
}

impl KeySelector {
    /// Whether the selector accepts `value`.
    pub fn accepts(&self, value: &str) -> bool {
        match self {
            KeySelector::Each => true,
            KeySelector::Values(v) => v.iter().any(|x| x == value),
        }
    }
}

/// A daily window of local time, `08:00-20:00`; it may wrap past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Start, minutes after local midnight (inclusive).
    pub start_minute: u32,
    /// End, minutes after local midnight (exclusive); below `start_minute`
    /// for a window that wraps past midnight.
    pub end_minute: u32,
}

impl TimeWindow {
    /// Whether a local minute of the day (0..1440) falls in the window.
    pub fn contains(&self, minute_of_day: u32) -> bool {
        if self.start_minute <= self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute_of_day)
        } else {
            minute_of_day >= self.start_minute || minute_of_day < self.end_minute
        }
    }
}

/// What a notification says beyond the numbers (mostly for match_alert).
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Title; default `<monitor>/<rule>`.
    pub title: Option<String>,
    /// Custom text, a template over `monitor`, `rule`, `value`, `keys`,
    /// `level` and the named groups of `extract`.
    pub text: Option<String>,
    /// Extracts named groups from the first attached line for `text`.
    pub extract: Option<Regex>,
    /// Text prepended for P0/P1 alerts.
    pub emergency: Option<String>,
    /// A link to follow (a runbook, a dashboard).
    pub link: Option<String>,
    /// Most lines attached (match_alert and record_top), default 5.
    pub attach: usize,
}

/// One alert rule of a monitor.
#[derive(Debug, Clone)]
pub struct AlertRule {
    /// Name, unique within the monitor.
    pub name: String,
    /// The monitor it belongs to.
    pub monitor: String,
    /// Level.
    pub level: Level,
    /// Check frequency in minutes (1 = every minute; 60 = on the hour).
    pub every: u32,
    /// Key selection per key column of the monitor, in group-by order;
    /// empty for a monitor without keys (or to watch the sum of all keys).
    pub keys: Vec<(String, KeySelector)>,
    /// How conditions combine.
    pub matching: Match,
    /// The conditions, at least one.
    pub conditions: Vec<Condition>,
    /// Active windows; empty means always.
    pub active: Vec<TimeWindow>,
    /// Timezone of the windows, of `every` and of "yesterday".
    pub timezone: chrono_tz::Tz,
    /// Groups and webhooks notified, beyond global webhooks and subscriptions.
    pub notify: Vec<String>,
    /// What the notification says.
    pub message: Message,
}

impl AlertRule {
    /// The rule's unique id: `<monitor>/<rule>`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.monitor, self.name)
    }
}

/// A monitor the collector makes itself from agents' samples and states;
/// rules on it go in the top-level `alerts:` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinMonitor {
    /// The monitor's name (`system`, `jvm`, `port`, `agents`).
    pub name: &'static str,
    /// Its key columns, which a rule's `keys` may select.
    pub keys: &'static [&'static str],
}

/// The built-in monitors rules may watch. Their value names come from the
/// agents and are not listed.
pub const BUILTIN_MONITORS: [BuiltinMonitor; 4] = [
    BuiltinMonitor {
        name: "system",
        keys: &["instance", "partition", "disk", "interface"],
    },
    BuiltinMonitor {
        name: "jvm",
        keys: &["instance", "pid", "main_class"],
    },
    BuiltinMonitor {
        name: "port",
        keys: &["instance", "app", "target", "kind"],
    },
    BuiltinMonitor {
        name: "agents",
        keys: &["instance"],
    },
];

/// A person who can be notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Name (2–40 characters, starts with a letter or CJK character).
    pub name: String,
    /// Email address.
    pub email: Option<String>,
    /// Phone number for SMS.
    pub phone: Option<String>,
}

/// A DingTalk-style chat robot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Robot {
    /// The robot's webhook URL.
    pub url: String,
    /// Signing secret (`sign` = base64 HMAC-SHA256 of `timestamp\nsecret`).
    pub secret: Option<String>,
}

/// Contacts and robots notified together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Name.
    pub name: String,
    /// Contact names (all defined).
    pub contacts: Vec<String>,
    /// Chat robots.
    pub robots: Vec<Robot>,
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookFormat {
    /// vigil's JSON object.
    #[default]
    Vigil,
    /// Prometheus Alertmanager's webhook payload (version 4).
    Alertmanager,
}

/// An HTTP endpoint that receives alerts as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Name.
    pub name: String,
    /// URL (http or https).
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Access key, sent as `X-Vigil-Access-Key`.
    pub access_key: Option<String>,
    /// Signing secret.
    pub secret: Option<String>,
    /// Receives every alert, whoever the rule notifies.
    pub global: bool,
    /// Body format.
    pub format: WebhookFormat,
}

/// Who gets which levels, and whether throttling applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// A group, contact or webhook name.
    pub who: String,
    /// The levels received.
    pub levels: Vec<Level>,
    /// Whether the throttling schedule applies (default on).
    pub throttle: bool,
}

/// How email leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain SMTP.
    #[default]
    None,
    /// STARTTLS on a plain connection.
    Starttls,
    /// TLS from the first byte.
    Tls,
}

/// The SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChannel {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Transport security.
    pub tls: SmtpTls,
    /// Sender address.
    pub from: String,
    /// Login user.
    pub username: Option<String>,
    /// Login password.
    pub password: Option<String>,
}

/// The HTTP SMS gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsChannel {
    /// URL.
    pub url: String,
    /// `POST`, `PUT` or `GET`.
    pub method: String,
    /// Body template over `phone` and `text`.
    pub body: String,
    /// Extra headers (for example `Authorization`).
    pub headers: Vec<(String, String)>,
}

/// The `notification:` section.
#[derive(Debug, Clone, Default)]
pub struct Notification {
    /// Contacts.
    pub contacts: Vec<Contact>,
    /// Groups.
    pub groups: Vec<Group>,
    /// Webhooks.
    pub webhooks: Vec<Webhook>,
    /// Subscriptions.
    pub subscriptions: Vec<Subscription>,
    /// SMTP settings, if email is used.
    pub email: Option<EmailChannel>,
    /// SMS gateway, if SMS is used.
    pub sms: Option<SmsChannel>,
    /// Link prefix of the dashboard in notifications (`http://host:8686`).
    pub dashboard_url: Option<String>,
}

impl Notification {
    /// The contact with this name.
    pub fn contact(&self, name: &str) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.name == name)
    }

    /// The group with this name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The webhook with this name.
    pub fn webhook(&self, name: &str) -> Option<&Webhook> {
        self.webhooks.iter().find(|w| w.name == name)
    }
}
