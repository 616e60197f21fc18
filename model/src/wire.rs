//! The agent ↔ collector protocol: JSON control messages and the ingest
//! frame that carries raw log lines.
//!
//! Every request carries `Authorization: Bearer <ingest token>` when the
//! collector has one configured.
//!
//! - `POST` [`REGISTER_PATH`] with a [`Register`] → [`RegisterReply`]: the
//!   heartbeat interval, the config version, and the offsets the collector
//!   already holds for this agent's files (the agent resumes after them).
//! - `POST` [`HEARTBEAT_PATH`] with a [`Heartbeat`] → [`HeartbeatReply`].
//! - `GET` [`CONFIG_PATH`] → [`AgentConfig`]: which files to tail.
//! - `POST` [`INGEST_PATH`] with an ingest frame → [`IngestReply`]. A frame
//!   is one line of JSON ([`IngestHeader`]), `\n`, then for every batch its
//!   lines, each followed by `\n` ([`BatchHeader::bytes`] bytes in all).
//!   Lines are raw bytes (any encoding); they never contain `\n`.
//!
//! A batch is identified by agent, file identity (device, inode,
//! generation) and byte range; the collector acknowledges a batch it
//! already holds without counting it again.
//!
//! An agent may send its next frame before the previous one is
//! acknowledged, on another connection, so the two can arrive in either
//! order. Such a frame names itself and the frame it follows in two
//! headers ([`FrameLink`]); the collector takes it only after that one,
//! which keeps each file's batches in order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Path of agent registration.
pub const REGISTER_PATH: &str = "/api/v1/agents/register";
/// Path of agent heartbeats.
pub const HEARTBEAT_PATH: &str = "/api/v1/agents/heartbeat";
/// Path the agent pulls its configuration from.
pub const CONFIG_PATH: &str = "/api/v1/agents/config";
/// Path of line ingestion.
pub const INGEST_PATH: &str = "/api/v1/ingest";
/// Largest request body the collector accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Header of an ingest request: the frame's id ([`FrameLink::id`]).
pub const FRAME_ID_HEADER: &str = "vigil-frame";
/// Header of an ingest request: the id of the frame it follows
/// ([`FrameLink::after`]).
pub const FRAME_AFTER_HEADER: &str = "vigil-after";

/// Where a frame stands in its agent's sequence of frames in flight.
///
/// Ids are unique per agent for the life of its process. A frame with
/// `after` is taken only once the frame `after` is taken; when that one was
/// refused, or does not arrive in time, the collector answers 503 and the
/// agent sends it again from its disk buffer, behind the frame it follows
/// if that one is to be sent again too. Frames sent from the disk buffer
/// carry no link: they are sent one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLink {
    /// This frame's id.
    pub id: u64,
    /// The frame sent just before it and not yet acknowledged, if any.
    pub after: Option<u64>,
}

/// Labels of an agent's node, by which rows can be viewed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels {
    /// The instance (node or pod) name; unique per agent.
    pub instance: String,
    /// Data centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idc: Option<String>,
    /// Logical data centre (zone, cell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldc: Option<String>,
    /// Any other labels (`app`, `node`, `pod`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// An agent introducing itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    /// The agent's identity, stable across restarts.
    pub agent: String,
    /// Its labels.
    pub labels: Labels,
    /// Its version.
    pub version: String,
    /// Its clock, epoch milliseconds, when sending.
    pub time_ms: i64,
}

/// How far the collector holds one file of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffset {
    /// Device number of the file.
    pub dev: u64,
    /// Inode number of the file.
    pub ino: u64,
    /// Generation: incremented by the agent each time the file restarts
    /// from offset 0 (truncation, copy-truncate rotation).
    pub gen: u32,
    /// Offset just after the last byte the collector holds.
    pub end: u64,
}

/// The collector's answer to a [`Register`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterReply {
    /// Seconds between heartbeats.
    pub heartbeat_secs: u64,
    /// Version of the agent configuration ([`AgentConfig::version`]).
    pub config_version: String,
    /// The collector's clock, epoch milliseconds.
    pub server_time_ms: i64,
    /// Offsets the collector holds for this agent's files.
    pub offsets: Vec<FileOffset>,
}

/// What an agent reports about itself with each heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// Recent errors (unreadable files, failed sends), newest last.
    #[serde(default)]
    pub errors: Vec<String>,
    /// Files followed.
    #[serde(default)]
    pub files: u64,
    /// Lines read since start.
    #[serde(default)]
    pub lines_read: u64,
    /// Bytes read since start.
    #[serde(default)]
    pub bytes_read: u64,
    /// Lines dropped by rate limits since start.
    #[serde(default)]
    pub rate_limited: u64,
    /// Bytes waiting in the disk buffer.
    #[serde(default)]
    pub spool_bytes: u64,
    /// Whether reading is paused because the disk buffer is full.
    #[serde(default)]
    pub paused: bool,
}

/// A periodic sign of life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The agent's identity.
    pub agent: String,
    /// Its clock, epoch milliseconds, when sending.
    pub time_ms: i64,
    /// Version of the configuration it runs.
    pub config_version: String,
    /// Its state.
    pub status: AgentStatus,
}

/// The collector's answer to a [`Heartbeat`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatReply {
    /// Current configuration version; pull [`CONFIG_PATH`] when it differs.
    pub config_version: String,
    /// The collector's clock, epoch milliseconds.
    pub server_time_ms: i64,
    /// False when the collector does not know the agent: register again.
    pub known: bool,
}

/// Which files an agent tails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// Version of this configuration (changes when it does).
    pub version: String,
    /// The sources to tail.
    pub sources: Vec<SourceConfig>,
}

/// One group of files to tail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceConfig {
    /// Glob patterns of the files.
    pub patterns: Vec<String>,
    /// Lines longer than this are skipped (and counted).
    pub max_line_bytes: usize,
    /// Most KiB read per minute from each file; lines over it are dropped
    /// and reported in [`BatchHeader::rate_dropped`]. None: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_kb_per_min: Option<u64>,
}

/// Where one batch of lines comes from, in an ingest frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchHeader {
    /// Path the file was read at.
    pub path: String,
    /// Device number of the file.
    pub dev: u64,
    /// Inode number of the file.
    pub ino: u64,
    /// Generation of the file (see [`FileOffset::gen`]).
    pub gen: u32,
    /// Offset of the first byte of the batch.
    pub start: u64,
    /// Offset just after the batch's last line.
    pub end: u64,
    /// Lines in the range skipped as too long.
    #[serde(default)]
    pub too_long: u64,
    /// Lines in the range dropped by the source's rate limit.
    #[serde(default)]
    pub rate_dropped: u64,
    /// The file had nothing more to read: a multi-line event still being
    /// joined is complete.
    #[serde(default)]
    pub flush: bool,
    /// Number of lines carried.
    pub lines: u64,
    /// Bytes of the payload (lines and their `\n`).
    pub bytes: u64,
}

/// The JSON line that opens an ingest frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestHeader {
    /// The sending agent.
    pub agent: String,
    /// The batches, in order.
    pub batches: Vec<BatchHeader>,
}

/// The collector's answer to an ingest frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReply {
    /// Batches newly accepted.
    pub accepted: u64,
    /// Batches already held (re-sent after a lost acknowledgement).
    pub duplicates: u64,
}

/// One batch of lines with its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Where the lines come from.
    pub header: BatchHeader,
    /// The lines, without `\n`.
    pub lines: Vec<Vec<u8>>,
}

impl Batch {
    /// A batch of `lines` from `path`; `bytes` and `lines` of the header are
    /// filled from the lines.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        path: String,
        (dev, ino, gen): (u64, u64, u32),
        (start, end): (u64, u64),
        too_long: u64,
        flush: bool,
        lines: Vec<Vec<u8>>,
    ) -> Self {
        let bytes = lines.iter().map(|l| l.len() as u64 + 1).sum();
        Batch {
            header: BatchHeader {
                path,
                dev,
                ino,
                gen,
                start,
                end,
                too_long,
                rate_dropped: 0,
                flush,
                lines: lines.len() as u64,
                bytes,
            },
            lines,
        }
    }
}

/// Why an ingest frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad ingest frame: {}", self.0)
    }
}

impl std::error::Error for WireError {}

/// Encodes the batches of `agent` as one ingest frame.
pub fn encode_ingest(agent: &str, batches: &[Batch]) -> Vec<u8> {
    let mut out = frame_head(agent, batches.iter().map(|b| &b.header));
    for b in batches {
        for line in &b.lines {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out
}

/// [`encode_ingest`] of batches whose lines are already one payload each
/// (every line followed by `\n`, as [`lines`] reads them), copied as they
/// are: a sender that keeps a batch's lines in one buffer allocates
/// nothing per line. Any payload type that is bytes will do, borrowed
/// ([`BatchPayload`]) or owned.
pub fn encode_ingest_payloads<P: AsRef<[u8]>>(
    agent: &str,
    batches: &[(BatchHeader, P)],
) -> Vec<u8> {
    let mut out = frame_head(agent, batches.iter().map(|(h, _)| h));
    for (_, payload) in batches {
        out.extend_from_slice(payload.as_ref());
    }
    out
}

/// The header line of a frame of batches with `headers`, with room for
/// their payloads.
fn frame_head<'a>(agent: &str, headers: impl Iterator<Item = &'a BatchHeader>) -> Vec<u8> {
    let header = IngestHeader {
        agent: agent.to_string(),
        batches: headers.cloned().collect(),
    };
    let payload: u64 = header.batches.iter().map(|h| h.bytes).sum();
    let mut out = serde_json::to_vec(&header).expect("headers serialize");
    out.reserve(1 + payload as usize);
    out.push(b'\n');
    out
}

/// Decodes an ingest frame into its agent and batches, checking that every
/// batch carries exactly the lines and bytes its header announces.
pub fn decode_ingest(frame: &[u8]) -> Result<(String, Vec<Batch>), WireError> {
    let (agent, batches) = decode_ingest_payloads(frame)?;
    let batches = batches
        .into_iter()
        .map(|(header, payload)| Batch {
            header,
            lines: lines(payload).map(<[u8]>::to_vec).collect(),
        })
        .collect();
    Ok((agent, batches))
}

/// A batch with its lines borrowed from a frame as one payload: the lines,
/// each ending with `\n` (see [`lines`]).
pub type BatchPayload<'a> = (BatchHeader, &'a [u8]);

/// [`decode_ingest`] with each batch's lines borrowed from `frame`, not
/// copied.
pub fn decode_ingest_payloads(frame: &[u8]) -> Result<(String, Vec<BatchPayload<'_>>), WireError> {
    let (agent, headers, body) = checked(frame)?;
    let mut rest = body;
    let batches = headers
        .into_iter()
        .map(|header| {
            let (payload, tail) = rest.split_at(header.bytes as usize);
            rest = tail;
            (header, payload)
        })
        .collect();
    Ok((agent, batches))
}

/// The lines of a batch's payload, without their `\n`.
pub fn lines(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', payload).map(move |end| {
        let line = &payload[start..end];
        start = end + 1;
        line
    })
}

/// Decodes only the agent and the batch headers of an ingest frame, with
/// the same checks as [`decode_ingest`] but without copying a line.
pub fn decode_ingest_headers(frame: &[u8]) -> Result<(String, Vec<BatchHeader>), WireError> {
    let (agent, headers, _) = checked(frame)?;
    Ok((agent, headers))
}

/// The agent, the batch headers and the lines of a frame whose batches
/// carry exactly the lines and bytes their headers announce.
fn checked(frame: &[u8]) -> Result<(String, Vec<BatchHeader>, &[u8]), WireError> {
    let nl = memchr::memchr(b'\n', frame).ok_or_else(|| WireError("no header line".into()))?;
    let header: IngestHeader =
        serde_json::from_slice(&frame[..nl]).map_err(|e| WireError(format!("header: {e}")))?;
    let body = &frame[nl + 1..];
    let mut rest = body;
    for (i, h) in header.batches.iter().enumerate() {
        let bytes = usize::try_from(h.bytes).unwrap_or(usize::MAX);
        if bytes > rest.len() {
            return Err(WireError(format!(
                "batch {i} announces {} bytes, {} remain",
                h.bytes,
                rest.len()
            )));
        }
        if h.end < h.start {
            return Err(WireError(format!("batch {i} ends before it starts")));
        }
        let (payload, tail) = rest.split_at(bytes);
        rest = tail;
        if payload.last().is_some_and(|&b| b != b'\n') {
            return Err(WireError(format!("batch {i} does not end with a newline")));
        }
        let lines = memchr::memchr_iter(b'\n', payload).count() as u64;
        if lines != h.lines {
            return Err(WireError(format!(
                "batch {i} announces {} lines, carries {lines}",
                h.lines
            )));
        }
    }
    if !rest.is_empty() {
        return Err(WireError(format!(
            "{} bytes after the last batch",
            rest.len()
        )));
    }
    Ok((header.agent, header.batches, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let batches = vec![
            Batch::new(
                "/l/a.log".into(),
                (1, 2, 0),
                (0, 12),
                0,
                false,
                vec![b"one".to_vec(), b"\xb0\xa1two".to_vec()],
            ),
            Batch::new("/l/b.log".into(), (1, 3, 2), (5, 5), 1, true, vec![]),
            Batch::new("/l/c.log".into(), (1, 4, 0), (0, 1), 0, false, vec![vec![]]),
        ];
        let frame = encode_ingest("node-1", &batches);
        let (agent, back) = decode_ingest(&frame).unwrap();
        assert_eq!(agent, "node-1");
        assert_eq!(back, batches);
        // The same batches with each one's lines as one payload.
        let joined: Vec<(BatchHeader, Vec<u8>)> = batches
            .iter()
            .map(|b| {
                let text: Vec<u8> = b
                    .lines
                    .iter()
                    .flat_map(|l| [l.as_slice(), b"\n"])
                    .flatten()
                    .copied()
                    .collect();
                (b.header.clone(), text)
            })
            .collect();
        let payloads: Vec<BatchPayload> = joined
            .iter()
            .map(|(h, t)| (h.clone(), t.as_slice()))
            .collect();
        assert_eq!(encode_ingest_payloads("node-1", &joined), frame);
        let (_, borrowed) = decode_ingest_payloads(&frame).unwrap();
        assert_eq!(borrowed, payloads);
    }

    #[test]
    fn bad_frames_are_refused() {
        let frame = encode_ingest(
            "a",
            &[Batch::new(
                "p".into(),
                (1, 2, 0),
                (0, 4),
                0,
                false,
                vec![b"abc".to_vec()],
            )],
        );
        assert!(decode_ingest(&frame[..frame.len() - 1]).is_err());
        let mut longer = frame.clone();
        longer.extend_from_slice(b"x\n");
        assert!(decode_ingest(&longer).is_err());
        assert!(decode_ingest(b"{not json}\n").is_err());
        assert!(decode_ingest(b"").is_err());
    }
}

/// Path where agents post sampled metrics ([`SampleBatch`]).
pub const SAMPLES_PATH: &str = "/api/v1/samples";

/// One sampled point of a built-in metrics monitor (`system`, `jvm`,
/// `port`): the values of one series at one time. Gauges are as read;
/// counters are already per-second rates over the last sampling interval;
/// percentages are 0–100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The built-in monitor: `system`, `jvm` or `port`.
    pub monitor: String,
    /// When it was sampled, epoch milliseconds of the agent's clock.
    pub time_ms: i64,
    /// What the series is about besides the instance, e.g.
    /// `{"partition": "/"}`, `{"pid": "4242", "main_class": "App"}`,
    /// `{"app": "trade", "target": "tcp://127.0.0.1:8080"}`; empty for
    /// node-wide metrics.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Metric name (the names of DESIGN.md §2) to value.
    pub values: BTreeMap<String, f64>,
}

/// A batch of samples of one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleBatch {
    /// The sending agent.
    pub agent: String,
    /// The samples, oldest first.
    pub samples: Vec<Sample>,
}
