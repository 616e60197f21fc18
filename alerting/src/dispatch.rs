//! The [`Dispatcher`]: a thread that sends what the [`Outbox`] holds.
//!
//! It loops: take the due deliveries, send them with the [`Sender`] and the
//! latest [`Notification`], record each result, then sleep until the next
//! retry time or a new [`Outbox::enqueue`], whichever comes first.
//! Recipients are served in parallel (up to [`MAX_PARALLEL_RECIPIENTS`]
//! threads per round), each recipient's deliveries in order and stopping at
//! its first transient failure; every attempt is bounded by the channel
//! timeouts, so an endpoint that is down delays a round by seconds, and
//! the other recipients of that round not at all.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::select;
use vigil_config::alert::Notification;

use crate::channel::Sender;
use crate::notice::{Delivery, Recipient};
use crate::outbox::Outbox;

/// Most recipients served at the same time in one round.
pub const MAX_PARALLEL_RECIPIENTS: usize = 8;

/// The running send loop; stopping it (or dropping it) waits for the
/// attempts in flight (at most the channel timeouts).
#[derive(Debug)]
pub struct Dispatcher {
    stop: Option<crossbeam_channel::Sender<()>>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Dispatcher {
    /// Starts the send loop over `outbox`. `notification` is called at the
    /// start of each round for the running settings (so a configuration
    /// reload applies to deliveries already queued).
    ///
    /// # Errors
    ///
    /// When the thread cannot be spawned.
    pub fn start<F>(outbox: Arc<Outbox>, sender: Sender, notification: F) -> io::Result<Dispatcher>
    where
        F: Fn() -> Arc<Notification> + Send + 'static,
    {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopping);
        let thread = thread::Builder::new()
            .name("vigil-notify".into())
            .spawn(move || run(&outbox, &sender, &notification, &stopped, &flag))?;
        Ok(Dispatcher {
            stop: Some(stop),
            stopping,
            thread: Some(thread),
        })
    }

    /// Stops the loop and waits for it.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Disconnecting the channel wakes the loop.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the notification dispatcher panicked");
            }
        }
    }
}

/// The loop of the dispatcher thread.
fn run<F>(
    outbox: &Outbox,
    sender: &Sender,
    notification: &F,
    stopped: &crossbeam_channel::Receiver<()>,
    stopping: &AtomicBool,
) where
    F: Fn() -> Arc<Notification>,
{
    let wakeups = outbox.wakeups();
    while !stopping.load(Ordering::SeqCst) {
        let due = outbox.due(Instant::now());
        if !due.is_empty() {
            send_round(outbox, sender, &notification(), due, stopping);
            continue;
        }
        let stop = match outbox.next_retry() {
            Some(at) => select! {
                recv(stopped) -> _ => true,
                recv(wakeups) -> _ => false,
                default(at.saturating_duration_since(Instant::now())) => false,
            },
            None => select! {
                recv(stopped) -> _ => true,
                recv(wakeups) -> _ => false,
            },
        };
        if stop {
            return;
        }
    }
}

/// Sends `due` (in outbox order) with one worker per recipient, up to
/// [`MAX_PARALLEL_RECIPIENTS`] at once; the calling thread is one of them.
fn send_round(
    outbox: &Outbox,
    sender: &Sender,
    notification: &Notification,
    due: Vec<Delivery>,
    stopping: &AtomicBool,
) {
    let mut groups: Vec<Vec<Delivery>> = Vec::new();
    let mut index: HashMap<Recipient, usize> = HashMap::new();
    for delivery in due {
        let slot = *index.entry(delivery.recipient.clone()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[slot].push(delivery);
    }
    let workers = groups.len().min(MAX_PARALLEL_RECIPIENTS);
    let queue = Mutex::new(groups.into_iter());
    let work = || loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
        let Some(group) = next else { break };
        send_group(outbox, sender, notification, group, stopping);
    };
    thread::scope(|scope| {
        for _ in 1..workers {
            let spawned = thread::Builder::new()
                .name("vigil-notify-send".into())
                .spawn_scoped(scope, work);
            if let Err(e) = spawned {
                log::warn!("sending with fewer threads: {e}");
                break;
            }
        }
        work();
    });
}

/// Sends one recipient's deliveries in order; stops at the first transient
/// failure (the later ones wait behind it), goes on after a permanent one.
fn send_group(
    outbox: &Outbox,
    sender: &Sender,
    notification: &Notification,
    group: Vec<Delivery>,
    stopping: &AtomicBool,
) {
    for delivery in group {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let id = &delivery.id;
        match sender.send(&delivery, notification) {
            Ok(()) => {
                log::info!("notification {id}: sent");
                if let Err(e) = outbox.mark_sent(id) {
                    log::error!("notification {id}: sent, but not recorded: {e}");
                }
            }
            Err(e) => {
                let permanent = e.is_permanent();
                let recorded = outbox.mark_failed(id, Instant::now(), permanent, &e.to_string());
                if let Err(record) = recorded {
                    log::error!("notification {id}: failure not recorded: {record}");
                }
                if !permanent {
                    return;
                }
            }
        }
    }
}
