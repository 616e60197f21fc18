//! The [`Applier`]: cuts and aggregates logged batches on a thread of its
//! own, so that the collector acknowledges a frame once it is in the
//! write-ahead log and the agent reads and sends the next one while this
//! one is cut.
//!
//! Batches are applied in the order they were logged. [`Applier::settle`]
//! waits until every logged batch is applied: the ticker and a reload call
//! it before they read or replace the pipeline, so that what they see is
//! exactly the log's content.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};
use vigil_model::wire::{Batch, Labels};

use crate::pipeline::Pipeline;

/// Frames queued between the log and the pipeline: enough for the next
/// frame to be logged while one is cut, few enough for a tick's
/// [`Applier::settle`] to be short.
const QUEUE_FRAMES: usize = 2;

/// One logged frame to apply.
struct Job {
    segment: u64,
    agent: String,
    labels: Labels,
    batches: Vec<Batch>,
}

/// Logged frames not yet applied, and a signal when there are none.
#[derive(Default)]
struct Pending {
    frames: Mutex<usize>,
    settled: Condvar,
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
        let pipeline = Arc::new(Mutex::new(pipeline));
        let pending = Arc::new(Pending::default());
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

    /// Queues the batches of a frame logged in `segment`; blocks while the
    /// queue is full. Call in log order.
    pub fn submit(&self, segment: u64, agent: &str, labels: &Labels, batches: Vec<Batch>) {
        *lock(&self.pending.frames) += 1;
        let job = Job {
            segment,
            agent: agent.to_string(),
            labels: labels.clone(),
            batches,
        };
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
    for b in &job.batches {
        // The batch is durable: a failure to use it now is retried by the
        // replay at the next start, not by the agent.
        if let Err(e) = pipeline.apply(job.segment, &job.agent, &job.labels, b, now_ms) {
            eprintln!("vigil: {} {}: {e:#}", job.agent, b.header.path);
        }
    }
    let mut frames = lock(&pending.frames);
    *frames = frames.saturating_sub(1);
    if *frames == 0 {
        pending.settled.notify_all();
    }
}
