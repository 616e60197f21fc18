//! vigil-alerting: evaluates alert rules as minutes close, keeps alert
//! state and history, and delivers notifications through a persisted
//! outbox.
//!
//! - [`notice`]: what is sent and to whom ([`Notice`], [`Recipient`],
//!   [`Delivery`]), the seam between evaluation and the channels.

pub mod notice;

pub use notice::{AlertState, Delivery, Notice, Recipient};
