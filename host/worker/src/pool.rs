//! The fixed pool of threads that runs every plugin's worker.
//!
//! Plugins are not threads. A worker is a task: a pool thread takes it when
//! it has something to do (a batch in its queue, a command, a timer that
//! fell due), runs it for one turn, and lets it go. A task is on the run
//! queue at most once and on at most one thread, so each plugin still sees
//! its batches strictly in order, one call at a time. A plugin with nothing
//! to do is on no thread and costs no CPU: it is woken by the router (a
//! batch, the end of its stream), by the control plane (a command), or by
//! the pool's timer (a quarantine that ends, a snapshot that falls due).
//!
//! Fairness: a turn ends after [`TURN_BATCHES`] batches or [`TURN_TIME`],
//! whichever comes first, and a task with more to do goes to the back of
//! the run queue, behind every plugin that was waiting. One hot or slow
//! plugin holds one thread for one batch at a time and never starves the
//! others; the call deadline still bounds each call.

use crate::command::WorkerCommand;
use crate::metrics::{PluginMetrics, PluginState};
use crate::worker::{Step, Worker, WorkerParts};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// Most batches one turn takes before the task yields its thread.
pub const TURN_BATCHES: u32 = 64;
/// Longest a turn goes on taking batches before the task yields its thread.
pub const TURN_TIME: Duration = Duration::from_millis(2);

// A task's scheduling state. Only `wake` moves a task out of `IDLE`, and
// only the thread running it moves it out of `RUNNING`/`NOTIFIED`, so a
// task is queued at most once and run by one thread at a time.
const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const RUNNING: u8 = 2;
/// Running, and woken meanwhile: it runs again after this turn.
const NOTIFIED: u8 = 3;
const ENDED: u8 = 4;

/// How a worker's task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Its stream ended and its last checkpoint was sent.
    Drained,
    /// The worker panicked (a bug in the host, never a plugin's fault: a
    /// plugin's trap is a fault the worker handles). Its plugin is shown
    /// as failed.
    Panicked,
}

/// The pool: a fixed number of threads and a timer thread. Cheap to clone.
#[derive(Clone)]
pub struct WorkerPool {
    shared: Arc<Shared>,
}

struct Shared {
    run: Sender<Arc<Task>>,
    timers: Sender<Timer>,
    threads: usize,
}

/// What a plugin's worker is while it lives.
enum Body {
    /// Added, not yet run: the worker is built on its first turn, on a
    /// pool thread (building it takes the first snapshot).
    Starting(Box<(WorkerParts, Receiver<WorkerCommand>)>),
    Running(Box<Worker>),
    Ended,
}

struct Task {
    state: AtomicU8,
    body: Mutex<Body>,
    pool: Arc<Shared>,
    id: Arc<str>,
    metrics: Arc<PluginMetrics>,
    /// The earliest timer registered for this task and not yet fired.
    armed: Mutex<Option<Instant>>,
    ended: Mutex<Option<Ended>>,
    ended_signal: Condvar,
}

/// The control plane's handle on one worker: commands, and its end.
pub struct WorkerHandle {
    task: Arc<Task>,
    commands: Sender<WorkerCommand>,
}

struct Timer {
    at: Instant,
    task: Weak<Task>,
}

impl WorkerPool {
    /// Starts `threads` threads (at least 1) and the timer thread. They
    /// end when the pool and every worker it runs are gone.
    ///
    /// # Errors
    /// When the OS refuses a thread.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (run, queue) = unbounded::<Arc<Task>>();
        let (timers, timer_rx) = unbounded::<Timer>();
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("prism-plugins-{n}"))
                .spawn(move || {
                    while let Ok(task) = queue.recv() {
                        task.turn();
                    }
                })?;
        }
        std::thread::Builder::new()
            .name("prism-plugin-timers".into())
            .spawn(move || run_timers(&timer_rx))?;
        Ok(Self {
            shared: Arc::new(Shared {
                run,
                timers,
                threads,
            }),
        })
    }

    /// One thread per core (as the OS reports them) when `threads` is 0.
    #[must_use]
    pub fn threads_for(threads: usize) -> usize {
        if threads > 0 {
            threads
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        }
    }

    /// Threads in the pool.
    #[must_use]
    pub fn threads(&self) -> usize {
        self.shared.threads
    }

    /// Starts a plugin's worker on the pool. It first runs at once (to
    /// take its first checkpoint), then whenever its queue, its commands
    /// or its timer wake it; it ends when its queue's senders are gone and
    /// the queue is drained.
    #[must_use]
    pub fn spawn(&self, parts: WorkerParts) -> WorkerHandle {
        let (commands, control) = unbounded();
        let task = Arc::new(Task {
            state: AtomicU8::new(SCHEDULED),
            id: parts.id.clone(),
            metrics: parts.metrics.clone(),
            pool: self.shared.clone(),
            armed: Mutex::new(None),
            ended: Mutex::new(None),
            ended_signal: Condvar::new(),
            body: Mutex::new(Body::Starting(Box::new((parts, control)))),
        });
        let woken = task.clone();
        if let Body::Starting(start) = &*lock(&task.body) {
            // The queue's senders keep the task alive until its end: an
            // idle worker is on no thread and in no queue, and the control
            // plane lets go of a removed plugin at once, yet it must still
            // drain its queue and send its last checkpoint. The worker's
            // end drops the queue, and with it this reference.
            let _ = start.0.queue.set_waker(Arc::new(move || woken.wake()));
        }
        task.enqueue();
        WorkerHandle { task, commands }
    }
}

impl WorkerHandle {
    /// Hands the worker a command (carried out between two batches).
    ///
    /// # Errors
    /// The command, when the worker has ended.
    pub fn send(&self, command: WorkerCommand) -> Result<(), WorkerCommand> {
        self.commands.send(command).map_err(|e| e.0)?;
        self.task.wake();
        Ok(())
    }

    /// Waits until the worker has ended (its queue closed and drained).
    pub fn wait(&self) -> Ended {
        let mut ended = lock(&self.task.ended);
        loop {
            if let Some(how) = *ended {
                return how;
            }
            ended = self
                .task
                .ended_signal
                .wait(ended)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// How the worker ended, if it has.
    #[must_use]
    pub fn ended(&self) -> Option<Ended> {
        *lock(&self.task.ended)
    }
}

impl Task {
    /// Something for the task: queue it unless it is queued or running
    /// already (a running task then takes another turn).
    fn wake(self: &Arc<Self>) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let next = match state {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                _ => return,
            };
            match self
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == SCHEDULED => {
                    self.enqueue();
                    return;
                }
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
    }

    fn enqueue(self: &Arc<Self>) {
        // Fails only once every pool thread is gone, when nothing runs.
        let _ = self.pool.run.send(self.clone());
    }

    /// One turn on a pool thread.
    fn turn(self: &Arc<Self>) {
        self.state.store(RUNNING, Ordering::Release);
        let mut body = lock(&self.body);
        let step = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if let Body::Starting(_) = &*body {
                let Body::Starting(start) = std::mem::replace(&mut *body, Body::Ended) else {
                    unreachable!("matched above")
                };
                let (parts, control) = *start;
                *body = Body::Running(Box::new(Worker::new(parts, control)));
            }
            match &mut *body {
                Body::Running(worker) => worker.step(TURN_BATCHES, TURN_TIME),
                Body::Starting(_) | Body::Ended => Step::Ended,
            }
        }));
        let step = step.unwrap_or_else(|_| {
            tracing::error!(plugin = %self.id, "the plugin's worker panicked; the plugin is stopped");
            self.metrics.set_state(PluginState::Failed);
            Step::Panicked
        });
        match step {
            Step::More => {
                drop(body);
                self.state.store(SCHEDULED, Ordering::Release);
                self.enqueue();
            }
            Step::Idle(wake_at) => {
                drop(body);
                if let Some(at) = wake_at {
                    self.arm(at);
                }
                if self
                    .state
                    .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // Woken during the turn: what woke it may not have
                    // been seen.
                    self.state.store(SCHEDULED, Ordering::Release);
                    self.enqueue();
                }
            }
            Step::Ended | Step::Panicked => {
                // Dropping the worker drops its queue, commands and
                // output sender: the sink stage sees it gone.
                *body = Body::Ended;
                drop(body);
                self.state.store(ENDED, Ordering::Release);
                let how = if matches!(step, Step::Panicked) {
                    Ended::Panicked
                } else {
                    Ended::Drained
                };
                *lock(&self.ended) = Some(how);
                self.ended_signal.notify_all();
            }
        }
    }

    /// Asks the timer thread to wake the task at `at`, unless an earlier
    /// wake-up is pending (the task then registers again when it runs).
    fn arm(self: &Arc<Self>, at: Instant) {
        let mut armed = lock(&self.armed);
        if armed.is_some_and(|a| a <= at) {
            return;
        }
        *armed = Some(at);
        let _ = self.pool.timers.send(Timer {
            at,
            task: Arc::downgrade(self),
        });
    }

    fn fire(self: &Arc<Self>, at: Instant) {
        {
            let mut armed = lock(&self.armed);
            if *armed == Some(at) {
                *armed = None;
            }
        }
        self.wake();
    }
}

/// Wakes tasks at the times they asked for. A wake-up that is no longer
/// needed only costs the task a turn that finds nothing to do.
fn run_timers(registrations: &Receiver<Timer>) {
    let mut due: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut tasks: std::collections::HashMap<u64, Weak<Task>> = std::collections::HashMap::new();
    let mut next_id = 0u64;
    loop {
        let received = match due.peek() {
            Some(Reverse((at, _))) => registrations.recv_deadline(*at),
            None => registrations
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(timer) => {
                due.push(Reverse((timer.at, next_id)));
                tasks.insert(next_id, timer.task);
                next_id += 1;
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                while let Some(Reverse((at, id))) = due.peek().copied()
                    && at <= now
                {
                    due.pop();
                    if let Some(task) = tasks.remove(&id).and_then(|t| t.upgrade()) {
                        task.fire(at);
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
