//! The agent-facing side of the API: registration, heartbeats, the agent
//! configuration and line ingestion (the protocol of
//! [`vigil_model::wire`]), served by whatever implements [`Ingest`].

use hyper::body::Bytes;
use hyper::StatusCode;
use serde_json::{json, Value as J};
use vigil_model::wire::{
    AgentConfig, FrameLink, Heartbeat, HeartbeatReply, IngestReply, Register, RegisterReply,
    SampleBatch,
};

/// Why the collector refused an agent's request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// A batch overlaps what the collector holds of that file without being
    /// part of it (409); the agent resumes after `offset`.
    #[error("{message}")]
    Conflict {
        /// Which file and why.
        message: String,
        /// Offset just after the bytes the collector holds.
        offset: u64,
    },
    /// The collector cannot accept data right now, e.g. its disk failed
    /// (503); the agent retries later.
    #[error("{0}")]
    Unavailable(String),
}

impl IngestError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::Conflict { .. } => StatusCode::CONFLICT,
            IngestError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The error as a JSON body: `{"error": ...}`, plus `offset` for a 409.
    pub fn to_json(&self) -> J {
        match self {
            IngestError::Conflict { offset, .. } => {
                json!({ "error": self.to_string(), "offset": offset })
            }
            _ => json!({ "error": self.to_string() }),
        }
    }
}

/// The collector, as the agents see it. Calls run on tokio's blocking pool:
/// [`Ingest::ingest`] may wait for its write-ahead log to reach the disk.
pub trait Ingest: Send + Sync + 'static {
    /// An agent registers (or registers again after a restart).
    fn register(&self, request: Register) -> Result<RegisterReply, IngestError>;
    /// An agent's periodic heartbeat.
    fn heartbeat(&self, request: Heartbeat) -> Result<HeartbeatReply, IngestError>;
    /// Which files agents tail.
    fn agent_config(&self) -> AgentConfig;
    /// One ingest frame (the request body, handed over whole so that it
    /// need not be copied) and its place among the agent's frames in
    /// flight, if it has one; acknowledged only once it is durable.
    fn ingest(&self, frame: Bytes, link: Option<FrameLink>) -> Result<IngestReply, IngestError>;
    /// Sampled host, JVM and port metrics; answers how many were taken.
    fn samples(&self, batch: SampleBatch) -> Result<u64, IngestError>;
}
