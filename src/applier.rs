//! The [`Applier`]: cuts and aggregates logged batches on threads of its
//! own, so that the collector acknowledges a frame once it is in the
//! write-ahead log and the agent reads and sends the next one while this
//! one is applied. A cutting thread cuts frames ([`Cutting`]) and hands
//! them to an aggregating thread, which applies them to the [`Pipeline`]
//! under its lock: the cutting thread goes on while the ticker holds the
//! pipeline to close minutes. A frame counts as applied once it is
//! aggregated.
//!
//! Batches are applied in the order they were logged. [`Applier::settle`]
//! waits until every logged batch is applied: a reload calls it before it
//! replaces the pipeline ([`Applier::replace`]), and the ticker before it
//! deletes log segments, so that what they see is exactly the log's
//! content. [`Applier::settle_before`] waits only for the frames of the
//! segments before a given one: enough for the ticker to tell whether any
//! segment can go, while the frames of the active segment go on being
//! logged and applied. The monitors' counters are published each time the
//! queue runs empty, and by the ticker.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};
use vigil_dashboards::api::Bytes;
use vigil_model::wire::{self, Labels};
use vigil_model::Counters;

use crate::cutting::{Cut, Cutting};
use crate::pipeline::Pipeline;

/// Frames queued between the log and the pipeline: enough for frames to
/// go on being logged and acknowledged while the ticker holds the pipeline
/// (10-25 ms when a backlog amends closed minutes, 2-3 frames of 2 MiB),
/// few enough for a [`Applier::settle`] before deleting log segments to be
/// short. 4 rather than 2: e2e_bench took 1.24 s instead of 1.44 s and
/// 1.33 s instead of 1.43 s (medians of interleaved runs), for about
/// 8 MB more at the collector's peak.
const QUEUE_FRAMES: usize = 4;

/// Frames cut and waiting for the aggregating thread: one, so that the
/// cutting thread goes on through a tick's hold on the pipeline (10-25 ms
/// when a backlog amends closed minutes) without holding more cut frames
/// in memory than it must.
const CUT_FRAMES: usize = 1;

/// One logged frame to apply: what a write-ahead log record holds.
struct Job {
    segment: u64,
    labels: Labels,
    frame: Bytes,
}

/// A frame cut and not aggregated yet.
struct Held {
    agent: String,
    labels: Labels,
    cuts: Vec<Cut>,
}

/// The log segments of the frames submitted and not yet applied (in
/// submission order), a signal each time one is applied, and the counters
/// published last.
#[derive(Default)]
struct Pending {
    frames: Mutex<VecDeque<u64>>,
    settled: Condvar,
    counters: Mutex<BTreeMap<String, Counters>>,
}

/// See the [module docs](self).
pub struct Applier {
    pipeline: Arc<Mutex<Pipeline>>,
    cutting: Arc<Mutex<Cutting>>,
    queue: Sender<Job>,
    pending: Arc<Pending>,
}

impl Applier {
    /// Starts the threads that apply queued frames to `pipeline` (whose
    /// cutting half they take).
    pub fn start(mut pipeline: Pipeline) -> std::io::Result<Self> {
        let pending = Arc::new(Pending {
            counters: Mutex::new(pipeline.counters()),
            ..Pending::default()
        });
        let cutting = Arc::new(Mutex::new(pipeline.take_cutting()));
        let pipeline = Arc::new(Mutex::new(pipeline));
        let (queue, jobs) = crossbeam_channel::bounded(QUEUE_FRAMES);
        let (cut_frames, to_aggregate) = crossbeam_channel::bounded(CUT_FRAMES);
        {
            let (pipeline, pending) = (pipeline.clone(), pending.clone());
            std::thread::Builder::new()
                .name("vigil-applier".into())
                .spawn(move || {
                    background();
                    aggregate_loop(&to_aggregate, &pipeline, &pending);
                })?;
        }
        {
            let (pipeline, cutting, pending) = (pipeline.clone(), cutting.clone(), pending.clone());
            std::thread::Builder::new()
                .name("vigil-cutter".into())
                .spawn(move || {
                    background();
                    cut_loop(&jobs, &cutting, &cut_frames, &pipeline, &pending);
                })?;
        }
        Ok(Applier {
            pipeline,
            cutting,
            queue,
            pending,
        })
    }

    /// Queues `frame`, of an agent with `labels`, logged in `segment`;
    /// blocks while the queue is full. Call in log order.
    pub fn submit(&self, segment: u64, labels: Labels, frame: Bytes) {
        lock(&self.pending.frames).push_back(segment);
        let job = Job {
            segment,
            labels,
            frame,
        };
        if let Err(job) = self.queue.send(job) {
            // The threads are gone (one panicked): apply here, in order still.
            let held = cut(&mut lock(&self.cutting), job.into_inner());
            apply(&self.pipeline, &self.pending, held);
        }
    }

    /// Waits until every submitted frame is applied, then returns the
    /// pipeline. Hold the lock that orders submissions (the log's) so that
    /// none comes in meanwhile.
    pub fn settle(&self) -> MutexGuard<'_, Pipeline> {
        self.settle_before(u64::MAX)
    }

    /// Waits until every submitted frame of a segment before `segment` is
    /// applied, then returns the pipeline (with frames of `segment` and
    /// later perhaps not applied yet). Hold the log's lock, as for
    /// [`Applier::settle`].
    pub fn settle_before(&self, segment: u64) -> MutexGuard<'_, Pipeline> {
        let mut frames = lock(&self.pending.frames);
        while frames.front().is_some_and(|&s| s < segment) {
            frames = self
                .pending
                .settled
                .wait(frames)
                .unwrap_or_else(|p| p.into_inner());
        }
        drop(frames);
        self.pipeline()
    }

    /// Replaces the pipeline that `running` (from [`Applier::settle`], so
    /// that no frame is half applied) guards with `pipeline`, whose cutting
    /// half the cutting thread takes.
    pub fn replace(&self, running: &mut MutexGuard<'_, Pipeline>, mut pipeline: Pipeline) {
        *lock(&self.cutting) = pipeline.take_cutting();
        **running = pipeline;
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
        lock(&self.pending.frames).len()
    }
}

/// How much lower than the rest of the process the applier's threads
/// run (a nice increment; the threads that cut a batch's first half
/// inherit it).
///
/// On a busy machine the request that logs a frame waited a millisecond
/// or more for a core held by cutting, and the agent, which then had one
/// frame in flight, waited with it; cutting has a queue in front and can
/// wait.
/// e2e_bench, interleaved, medians of 10 and 12 runs: wall 1.321 -> 1.241
/// s and 1.181 -> 1.121 s, CPU unchanged.
const APPLIER_NICE: i32 = 10;

/// Lowers the calling thread's priority by [`APPLIER_NICE`] (on Linux
/// the nice value is a thread's own). Where the system refuses, the
/// thread runs as it is.
fn background() {
    let _ = rustix::process::nice(APPLIER_NICE);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Cuts queued frames in order and hands them to the aggregating thread;
/// when that one is gone, aggregates them here.
fn cut_loop(
    jobs: &Receiver<Job>,
    cutting: &Mutex<Cutting>,
    cut_frames: &Sender<Held>,
    pipeline: &Mutex<Pipeline>,
    pending: &Pending,
) {
    for job in jobs {
        let held = cut(&mut lock(cutting), job);
        if let Err(unsent) = cut_frames.send(held) {
            apply(pipeline, pending, unsent.into_inner());
        }
    }
}

/// Aggregates cut frames in order.
fn aggregate_loop(cut_frames: &Receiver<Held>, pipeline: &Mutex<Pipeline>, pending: &Pending) {
    for held in cut_frames {
        apply(pipeline, pending, held);
    }
}

/// Aggregates a frame cut by [`cut`] and counts it as applied.
fn apply(pipeline: &Mutex<Pipeline>, pending: &Pending, held: Held) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut pipeline = lock(pipeline);
    let errors = pipeline.aggregate_frame(held.cuts, &held.labels, now_ms);
    report(&held.agent, errors);
    applied(&pipeline, pending);
}

/// Cuts the batches of a logged frame.
fn cut(cutting: &mut Cutting, job: Job) -> Held {
    let Job {
        segment,
        labels,
        frame,
    } = job;
    // The record is durable: a failure to use it now is retried by the
    // replay at the next start, not by the agent.
    match wire::decode_ingest_payloads(&frame) {
        Ok((agent, batches)) => Held {
            cuts: batches
                .iter()
                .map(|&(ref header, lines)| cutting.cut(segment, &agent, (header, lines)))
                .collect(),
            agent,
            labels,
        },
        Err(e) => {
            eprintln!("vigil: WAL segment {segment}: bad record: {e:#}");
            Held {
                agent: String::new(),
                labels: Labels::default(),
                cuts: Vec::new(),
            }
        }
    }
}

/// Reports the errors of aggregating a frame of `agent`: the record is
/// durable, so the lines are aggregated again by the replay at the next
/// start, not re-sent by the agent.
fn report(agent: &str, errors: Vec<anyhow::Error>) {
    for e in errors {
        eprintln!("vigil: {agent}: {e:#}");
    }
}

/// Counts the oldest submitted frame as applied; publishes the counters
/// when none is left.
fn applied(pipeline: &Pipeline, pending: &Pending) {
    let mut frames = lock(&pending.frames);
    frames.pop_front();
    if frames.is_empty() {
        *lock(&pending.counters) = pipeline.counters();
    }
    pending.settled.notify_all();
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::pipeline::Floors;

    /// The nice value in a `/proc/…/stat` file (field 19).
    fn nice_in(stat: &Path) -> Option<i32> {
        let stat = std::fs::read_to_string(stat).ok()?;
        // The fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        fields.get(16)?.parse().ok()
    }

    /// The nice values of this process's threads named `name`.
    fn nice_of(name: &str) -> Vec<i32> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| {
                let dir = task.ok()?.path();
                let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
                (comm.trim_end() == name).then_some(())?;
                nice_in(&dir.join("stat"))
            })
            .collect()
    }

    #[test]
    fn cutting_and_aggregating_run_below_ingest() {
        let own = nice_in(Path::new("/proc/thread-self/stat")).unwrap();
        let lowered = (own + APPLIER_NICE).min(19);
        let pipeline = Pipeline::new(&[], 10_000, &Floors::default()).unwrap();
        let _applier = Applier::start(pipeline).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (cutters, aggregators) = (nice_of("vigil-cutter"), nice_of("vigil-applier"));
            let done = |n: &[i32]| !n.is_empty() && n.iter().all(|&n| n == lowered);
            if done(&cutters) && done(&aggregators) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "nice {cutters:?} and {aggregators:?}, expected {lowered}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
