//! The register of agents: who they are (labels, version), when they were
//! last heard of, how far their clock is off, and the state that follows.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigil_model::wire::{AgentStatus, Heartbeat, Labels, Register};

use crate::offsets::write_atomic;

/// Heartbeats missed before an agent is lost.
pub const LOST_AFTER_MISSED: i64 = 3;
/// Clock offset beyond which an agent's clock is skewed, in milliseconds.
pub const MAX_CLOCK_OFFSET_MS: i64 = 3_000;

/// The state of an agent, worst first when several apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// No heartbeat for [`LOST_AFTER_MISSED`] intervals.
    Lost,
    /// Its clock differs from the collector's by more than
    /// [`MAX_CLOCK_OFFSET_MS`]: its line times and minutes may be off.
    ClockSkew,
    /// It reports errors, or it paused reading (disk buffer full).
    Abnormal,
    /// None of the above.
    Healthy,
}

impl AgentState {
    /// The state's name as shown in the API and metrics.
    pub fn name(self) -> &'static str {
        match self {
            AgentState::Lost => "lost",
            AgentState::ClockSkew => "clock_skew",
            AgentState::Abnormal => "abnormal",
            AgentState::Healthy => "healthy",
        }
    }

    /// Every state, for metrics that list them all.
    pub const ALL: [AgentState; 4] = [
        AgentState::Healthy,
        AgentState::Abnormal,
        AgentState::ClockSkew,
        AgentState::Lost,
    ];
}

/// What the collector knows about one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// The agent's identity.
    pub agent: String,
    /// Its labels.
    pub labels: Labels,
    /// Its version.
    pub version: String,
    /// When it (last) registered, epoch ms of the collector's clock.
    pub registered_ms: i64,
    /// When it was last heard of, epoch ms of the collector's clock.
    pub last_seen_ms: i64,
    /// Its clock minus the collector's, in ms, at the last message.
    pub clock_offset_ms: i64,
    /// The configuration version it runs.
    pub config_version: String,
    /// What it reported with its last heartbeat.
    pub status: AgentStatus,
}

impl AgentRecord {
    /// The agent's state at `now_ms` with heartbeats every `heartbeat_ms`.
    pub fn state(&self, now_ms: i64, heartbeat_ms: i64) -> AgentState {
        if now_ms - self.last_seen_ms > LOST_AFTER_MISSED * heartbeat_ms {
            AgentState::Lost
        } else if self.clock_offset_ms.abs() > MAX_CLOCK_OFFSET_MS {
            AgentState::ClockSkew
        } else if !self.status.errors.is_empty() || self.status.paused {
            AgentState::Abnormal
        } else {
            AgentState::Healthy
        }
    }
}

/// Every agent that registered, persisted as JSON so that the list and
/// labels survive a restart.
#[derive(Debug)]
pub struct Registry {
    agents: BTreeMap<String, AgentRecord>,
    path: PathBuf,
}

impl Registry {
    /// The register saved at `path`, or an empty one.
    pub fn load(path: &Path) -> io::Result<Self> {
        let agents = match std::fs::read(path) {
            Ok(bytes) => {
                let list: Vec<AgentRecord> = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
                list.into_iter().map(|a| (a.agent.clone(), a)).collect()
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(Registry {
            agents,
            path: path.to_path_buf(),
        })
    }

    /// Records a registration at `now_ms` and saves the register.
    pub fn register(&mut self, r: &Register, config_version: &str, now_ms: i64) -> io::Result<()> {
        let status = self
            .agents
            .get(&r.agent)
            .map(|a| a.status.clone())
            .unwrap_or_default();
        self.agents.insert(
            r.agent.clone(),
            AgentRecord {
                agent: r.agent.clone(),
                labels: r.labels.clone(),
                version: r.version.clone(),
                registered_ms: now_ms,
                last_seen_ms: now_ms,
                clock_offset_ms: r.time_ms - now_ms,
                config_version: config_version.to_string(),
                status,
            },
        );
        self.save()
    }

    /// Records a heartbeat at `now_ms`; false if the agent is unknown (it
    /// must register first).
    pub fn heartbeat(&mut self, h: &Heartbeat, now_ms: i64) -> bool {
        let Some(a) = self.agents.get_mut(&h.agent) else {
            return false;
        };
        a.last_seen_ms = now_ms;
        a.clock_offset_ms = h.time_ms - now_ms;
        a.config_version = h.config_version.clone();
        a.status = h.status.clone();
        true
    }

    /// Notes that `agent` sent data at `now_ms` (a sign of life too).
    pub fn seen(&mut self, agent: &str, now_ms: i64) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.last_seen_ms = a.last_seen_ms.max(now_ms);
        }
    }

    /// The labels of `agent`, if it registered.
    pub fn labels(&self, agent: &str) -> Option<&Labels> {
        self.agents.get(agent).map(|a| &a.labels)
    }

    /// Every agent, by identity.
    pub fn agents(&self) -> impl Iterator<Item = &AgentRecord> {
        self.agents.values()
    }

    /// Saves the register (temporary file, sync, rename).
    pub fn save(&self) -> io::Result<()> {
        let list: Vec<&AgentRecord> = self.agents.values().collect();
        let json = serde_json::to_vec_pretty(&list).map_err(io::Error::other)?;
        write_atomic(&self.path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(agent: &str, time_ms: i64) -> Register {
        Register {
            agent: agent.into(),
            labels: Labels {
                instance: agent.into(),
                idc: Some("hz".into()),
                ..Labels::default()
            },
            version: "0.1.0".into(),
            time_ms,
        }
    }

    #[test]
    fn states_follow_heartbeats_and_clocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agents.json");
        let mut r = Registry::load(&path).unwrap();
        r.register(&reg("n1", 1_000_000), "v1", 1_000_000).unwrap();
        r.register(&reg("n2", 1_005_000), "v1", 1_000_000).unwrap();
        let state = |r: &Registry, agent: &str, now: i64| {
            r.agents()
                .find(|a| a.agent == agent)
                .unwrap()
                .state(now, 10_000)
        };
        assert_eq!(state(&r, "n1", 1_000_000), AgentState::Healthy);
        assert_eq!(state(&r, "n2", 1_000_000), AgentState::ClockSkew);
        // 30 s without news is 3 missed heartbeats: still in time; 30.001 s lost.
        assert_eq!(state(&r, "n1", 1_030_000), AgentState::Healthy);
        assert_eq!(state(&r, "n1", 1_030_001), AgentState::Lost);
        let mut hb = Heartbeat {
            agent: "n1".into(),
            time_ms: 1_020_500,
            config_version: "v1".into(),
            status: AgentStatus::default(),
        };
        assert!(r.heartbeat(&hb, 1_020_000));
        assert_eq!(state(&r, "n1", 1_030_001), AgentState::Healthy);
        hb.status.errors.push("cannot read /l/a.log".into());
        assert!(r.heartbeat(&hb, 1_021_000));
        assert_eq!(state(&r, "n1", 1_021_000), AgentState::Abnormal);
        hb.agent = "stranger".into();
        assert!(!r.heartbeat(&hb, 1_021_000));
        // Labels survive a reload.
        let back = Registry::load(&path).unwrap();
        assert_eq!(back.labels("n2").unwrap().idc.as_deref(), Some("hz"));
    }
}
