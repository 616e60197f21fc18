//! vigil-alerting: evaluates alert rules as minutes close, keeps alert
//! state and history, and delivers notifications through a persisted
//! outbox.
//!
//! - [`notice`]: what is sent and to whom ([`Notice`], [`Recipient`],
//!   [`Delivery`]), the seam between evaluation and the channels.
//! - [`value`]: the value functions over a value's minutes.
//! - [`eval`]: one rule at one minute, per key: which channels fire.
//! - [`throttle`]: the notification schedule of a continuing alert.
//! - [`recipients`]: who a rule reaches on each channel.
//! - [`text`]: titles and texts of notices, from the rules' templates.
//! - [`channel`]: sending one delivery by webhook, email, SMS or chat robot.
//! - [`outbox`]: the persisted queue that sends each delivery once;
//!   [`dispatch`]: the thread that drains it with retries.
//! - [`alerter`]: state per rule and key, pauses, and the deliveries that
//!   state changes cause; [`history`]: one record per firing episode.

pub mod alerter;
pub mod channel;
pub mod dispatch;
pub mod eval;
pub mod history;
pub mod notice;
pub mod outbox;
pub mod recipients;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod text;
pub mod throttle;
pub mod value;

pub use channel::{SendError, Sender};
pub use dispatch::Dispatcher;
pub use notice::{AlertState, Delivery, Notice, Recipient};
pub use outbox::{Outbox, OutboxCounters, OutboxError};
