//! The order of an agent's frames in flight.
//!
//! An agent sends its next frame before the previous one is acknowledged,
//! on another connection, so the two may reach the collector in either
//! order ([`vigil_model::wire::FrameLink`]). Taken out of order, the later
//! frame would move a file's held offset past the earlier frame's bytes,
//! and those would then be acknowledged as duplicates without being
//! counted. So a frame that names the one it follows waits here until that
//! one is done, and is refused when that one failed or does not come.
//!
//! Outcomes live in memory only: after a restart the collector knows no
//! frame, so a frame sent before the restart waits for its predecessor in
//! vain, is refused, and comes back in order from the agent's disk buffer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Outcomes kept per agent: at most one frame is in flight behind another,
/// so only the newest few are ever asked about.
const KEPT_OUTCOMES: usize = 16;

/// Why a frame cannot be taken now; the agent sends it again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The frame it follows was refused.
    #[error(
        "frame {after}, which this frame follows, was not taken; send this frame again after it"
    )]
    PredecessorFailed {
        /// The id of the frame it follows.
        after: u64,
    },
    /// The frame it follows did not arrive in time (or arrived before a
    /// restart of the collector).
    #[error("frame {after}, which this frame follows, did not arrive within {waited:?}; send this frame again after it")]
    PredecessorMissing {
        /// The id of the frame it follows.
        after: u64,
        /// How long it was waited for.
        waited: Duration,
    },
}

/// The outcomes of the newest frames of every agent, and a way to wait
/// for one. See the [module docs](self).
#[derive(Debug, Default)]
pub struct FrameOrder {
    outcomes: Mutex<HashMap<String, VecDeque<(u64, bool)>>>,
    changed: Condvar,
}

impl FrameOrder {
    /// An order that knows no frame yet.
    pub fn new() -> Self {
        FrameOrder::default()
    }

    fn outcomes(&self) -> MutexGuard<'_, HashMap<String, VecDeque<(u64, bool)>>> {
        self.outcomes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until frame `after` of `agent` is done, at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`OrderError::PredecessorFailed`] when it was refused,
    /// [`OrderError::PredecessorMissing`] when it is not done in time.
    pub fn wait_for(&self, agent: &str, after: u64, timeout: Duration) -> Result<(), OrderError> {
        let deadline = Instant::now() + timeout;
        let mut outcomes = self.outcomes();
        loop {
            let outcome = outcomes
                .get(agent)
                .and_then(|done| done.iter().find(|(id, _)| *id == after))
                .map(|&(_, ok)| ok);
            match outcome {
                Some(true) => return Ok(()),
                Some(false) => return Err(OrderError::PredecessorFailed { after }),
                None => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(OrderError::PredecessorMissing {
                    after,
                    waited: timeout,
                });
            }
            outcomes = self
                .changed
                .wait_timeout(outcomes, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Records that frame `id` of `agent` is done: taken (logged, or held
    /// already) when `ok`, refused otherwise. Wakes the frames waiting.
    pub fn finish(&self, agent: &str, id: u64, ok: bool) {
        let mut outcomes = self.outcomes();
        let done = outcomes.entry(agent.to_string()).or_default();
        if done.len() == KEPT_OUTCOMES {
            done.pop_front();
        }
        done.push_back((id, ok));
        drop(outcomes);
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const LONG: Duration = Duration::from_secs(10);

    #[test]
    fn a_frame_waits_for_the_one_it_follows() {
        let order = Arc::new(FrameOrder::new());
        let waiter = {
            let order = Arc::clone(&order);
            std::thread::spawn(move || {
                let started = Instant::now();
                (order.wait_for("a", 7, LONG), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        order.finish("b", 7, true);
        order.finish("a", 6, true);
        order.finish("a", 7, true);
        let (result, waited) = waiter.join().unwrap();
        assert_eq!(result, Ok(()));
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(waited < LONG, "{waited:?}");
    }

    #[test]
    fn a_frame_behind_a_refused_one_is_refused_at_once() {
        let order = FrameOrder::new();
        order.finish("a", 3, false);
        let started = Instant::now();
        assert_eq!(
            order.wait_for("a", 3, LONG),
            Err(OrderError::PredecessorFailed { after: 3 })
        );
        assert!(started.elapsed() < LONG);
    }

    #[test]
    fn a_predecessor_that_never_comes_times_out() {
        let order = FrameOrder::new();
        order.finish("a", 1, true);
        let timeout = Duration::from_millis(50);
        let started = Instant::now();
        assert_eq!(
            order.wait_for("a", 2, timeout),
            Err(OrderError::PredecessorMissing {
                after: 2,
                waited: timeout
            })
        );
        assert!(started.elapsed() >= timeout);
    }

    #[test]
    fn only_the_newest_outcomes_are_kept() {
        let order = FrameOrder::new();
        for id in 0..=KEPT_OUTCOMES as u64 {
            order.finish("a", id, true);
        }
        let short = Duration::from_millis(1);
        assert!(order.wait_for("a", 0, short).is_err());
        assert_eq!(order.wait_for("a", 1, short), Ok(()));
        assert_eq!(order.wait_for("a", KEPT_OUTCOMES as u64, short), Ok(()));
    }
}
