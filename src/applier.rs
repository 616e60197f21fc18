//! The [`Applier`]: cuts and aggregates logged batches on a thread of its
//! own, so that the collector acknowledges a frame once it is in the
//! write-ahead log and the agent reads and sends the next one while this
//! one is cut.
//!
//! Batches are applied in the order they were logged. [`Applier::settle`]
//! waits until every logged batch is applied: the ticker and a reload call
//! it before they read or replace the pipeline, so that what they see is
//! exactly the log's content. The monitors' counters are published each
//! time the queue runs empty, and by the ticker.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};
use vigil_model::Counters;

use crate::collector::decode_record;
use crate::pipeline::Pipeline;

/// Frames queued between the log and the pipeline: enough for the next
/// frame to be logged while one is cut, few enough for a tick's
/// [`Applier::settle`] to be short.
const QUEUE_FRAMES: usize = 2;

/// One logged frame to apply: a write-ahead log record.
struct Job {
    segment: u64,
    record: Vec<u8>,
}

/// Logged frames not yet applied, a signal when there are none, and the
/// counters published last.
#[derive(Default)]
struct Pending {
    frames: Mutex<usize>,
    settled: Condvar,
    counters: Mutex<BTreeMap<String, Counters>>,
}

/// See the [module docs](self).
pub struct Applier {
    pipeline: Arc<Mutex<Pipeline>>,
    queue: Sender<Job>,
    pending: Arc<Pending>,
}

impl Applier {
    /// Starts the thread that applies queued frames to `pipeline`.
    pub fn start(pipeline: Pipeline) -> std::io::Result<Self> {
        let pending = Arc::new(Pending {
            counters: Mutex::new(pipeline.counters()),
            ..Pending::default()
        });
        let pipeline = Arc::new(Mutex::new(pipeline));
        let (queue, jobs) = crossbeam_channel::bounded(QUEUE_FRAMES);
        {
            let pipeline = pipeline.clone();
            let pending = pending.clone();
            std::thread::Builder::new()
                .name("vigil-applier".into())
                .spawn(move || apply_loop(&jobs, &pipeline, &pending))?;
        }
        Ok(Applier {
            pipeline,
            queue,
            pending,
        })
    }

    /// Queues a frame logged in `segment` as `record`; blocks while the
    /// queue is full. Call in log order.
    pub fn submit(&self, segment: u64, record: Vec<u8>) {
        *lock(&self.pending.frames) += 1;
        let job = Job { segment, record };
        if let Err(job) = self.queue.send(job) {
            // The thread is gone (it panicked): apply here, in order still.
            apply(&mut self.pipeline(), &job.into_inner(), &self.pending);
        }
    }

    /// Waits until every submitted frame is applied, then returns the
    /// pipeline. Hold the lock that orders submissions (the log's) so that
    /// none comes in meanwhile.
    pub fn settle(&self) -> MutexGuard<'_, Pipeline> {
        let mut frames = lock(&self.pending.frames);
        while *frames > 0 {
            frames = self
                .pending
                .settled
                .wait(frames)
                .unwrap_or_else(|p| p.into_inner());
        }
        drop(frames);
        self.pipeline()
    }

    /// The pipeline as it is, with submitted frames perhaps not applied
    /// yet: for reads that need not be exact to the last frame.
    pub fn pipeline(&self) -> MutexGuard<'_, Pipeline> {
        lock(&self.pipeline)
    }

    /// Publishes the counters of `pipeline` (this applier's, locked).
    pub fn publish(&self, pipeline: &Pipeline) {
        *lock(&self.pending.counters) = pipeline.counters();
    }

    /// Every monitor's counters as last published.
    pub fn counters(&self) -> BTreeMap<String, Counters> {
        lock(&self.pending.counters).clone()
    }

    /// Frames submitted and not applied yet.
    pub fn queued(&self) -> usize {
        *lock(&self.pending.frames)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn apply_loop(jobs: &Receiver<Job>, pipeline: &Mutex<Pipeline>, pending: &Pending) {
    for job in jobs {
        apply(&mut lock(pipeline), &job, pending);
    }
}

fn apply(pipeline: &mut Pipeline, job: &Job, pending: &Pending) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    // The record is durable: a failure to use it now is retried by the
    // replay at the next start, not by the agent.
    match decode_record(&job.record) {
        Ok((labels, agent, batches)) => {
            for (header, lines) in &batches {
                let batch = (header, lines.as_slice());
                if let Err(e) = pipeline.apply(job.segment, &agent, &labels, batch, now_ms) {
                    eprintln!("vigil: {agent} {}: {e:#}", header.path);
                }
            }
        }
        Err(e) => eprintln!("vigil: WAL segment {}: bad record: {e:#}", job.segment),
    }
    let mut frames = lock(&pending.frames);
    *frames = frames.saturating_sub(1);
    if *frames == 0 {
        *lock(&pending.counters) = pipeline.counters();
        pending.settled.notify_all();
    }
}
