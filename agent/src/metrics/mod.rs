//! Host, JVM and port metrics sampled by the agent and shipped to the
//! collector as [`Sample`]s of the built-in monitors `system`, `jvm` and
//! `port`.
//!
//! Every sampler implements [`Sampler`]: one call reads its sources and
//! returns the samples of that moment. A sampler never panics on bad input
//! (an unreadable /proc file, a corrupt hsperfdata file, a probe that hangs
//! until its timeout): it returns what it could read and reports each
//! problem in [`Sampled::errors`], so one broken source never stops the
//! others.

use vigil_model::wire::Sample;

pub mod jvm;
pub mod probe;
pub mod system;

/// What one sampling round produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampled {
    /// The samples read.
    pub samples: Vec<Sample>,
    /// One line per problem met (file or target, and what went wrong).
    pub errors: Vec<String>,
}

/// A source of samples, called every sampling interval.
pub trait Sampler: Send {
    /// Reads the source at `now_ms` (epoch ms), the time the samples carry.
    /// Rates are computed against the previous call; the first call may
    /// return no rate values.
    fn sample(&mut self, now_ms: i64) -> Sampled;
}

/// Most sample batches kept in memory while the collector is unreachable;
/// older ones are dropped (and counted) first.
pub const MAX_PENDING_BATCHES: usize = 360;

/// Runs `samplers` every `interval` and posts their samples to the
/// collector through `client` as `agent`, until `stop` is set. Batches
/// that cannot be delivered wait in memory (at most
/// [`MAX_PENDING_BATCHES`]) and go out, oldest first, once the collector
/// answers again. Problems are logged (`log`), never fatal.
pub fn run_samplers(
    mut samplers: Vec<Box<dyn Sampler>>,
    client: &crate::ship::client::Client,
    agent: &str,
    interval: std::time::Duration,
    stop: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    let mut pending: std::collections::VecDeque<vigil_model::wire::SampleBatch> =
        std::collections::VecDeque::new();
    let mut dropped: u64 = 0;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(100).min(next - Instant::now()));
            continue;
        }
        next += interval;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut samples = Vec::new();
        for sampler in &mut samplers {
            let round = sampler.sample(now_ms);
            for e in round.errors {
                log::warn!("metrics: {e}");
            }
            samples.extend(round.samples);
        }
        if pending.len() >= MAX_PENDING_BATCHES {
            pending.pop_front();
            dropped += 1;
            log::warn!("metrics: collector unreachable, {dropped} sample batches dropped so far");
        }
        pending.push_back(vigil_model::wire::SampleBatch {
            agent: agent.to_string(),
            samples,
        });
        while let Some(batch) = pending.front() {
            match client.samples(batch) {
                Ok(()) => {
                    pending.pop_front();
                }
                Err(e) => {
                    log::warn!("metrics: cannot send samples: {e}");
                    break;
                }
            }
        }
    }
}
