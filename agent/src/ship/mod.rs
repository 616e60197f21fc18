//! Shipping lines to the collector over HTTP (protocol:
//! [`vigil_model::wire`]).
//!
//! - [`Agent::run`] is the whole agent: register, pull the configuration,
//!   tail, ship, spool, heartbeat, until told to stop.
//! - [`client::Client`]: the blocking HTTP client of the collector's agent
//!   API; its [`client::ClientError`] says how to react to each failure
//!   (retry, retry slowly, resynchronise, give up on the request).
//! - [`spool::Spool`]: the bounded disk buffer of frames waiting for the
//!   collector, in order, surviving restarts.
//! - [`labels`]: the node's labels from `key=value` pairs and the
//!   environment.
//!
//! # Delivery
//!
//! A poll's batches (their headers, and each one's lines in one
//! [`crate::tail::LineBuf`]) are grouped into frames.
//! With an empty spool a frame is posted at once; once acknowledged (200) its
//! offsets are committed and the checkpoints saved. If the collector cannot
//! take it (unreachable, timeout, 5xx, 401) the frame is written to the spool
//! and committed (the spool is now the durable copy), and later frames queue
//! behind it; the oldest spooled frame is retried with exponential backoff
//! and deleted after its 200. A lost acknowledgement makes the collector see
//! a batch twice: it recognises it by agent, file identity, generation and
//! byte range and does not count it again. A 409 means the collector holds
//! another range of a file: the agent registers again and resumes every file
//! after the offsets the collector holds ([`merge_offsets`]). Any other 4xx
//! refuses the frame for good: it is reported and dropped.

mod agent;
pub mod client;
pub mod labels;
pub mod spool;

pub use crate::tail::RatePolicy;
pub use agent::{
    agent_id, merge_offsets, Agent, AgentError, AgentOptions, Clock, SystemClock, AGENT_ID_FILE,
    DEFAULT_MAX_FRAME_BYTES, DEFAULT_POLL_INTERVAL, MIN_FRAME_BYTES,
};
