//! A plugin's worker thread: takes batches from its queue, calls the plugin,
//! hands the outputs on, and carries out the control plane's commands
//! (swap, pause, resume) between two batches. Plugins never run on the async
//! reactor.
//!
//! The worker also owns the plugin's recovery (see [`recovery`]): it keeps
//! the last snapshot of the plugin's state and the batches processed since,
//! so a crashed instance can be rebuilt without losing or repeating an
//! output.

mod budget;
mod recovery;

use crate::error::Fault;
use crate::metrics::{PluginMetrics, PluginState, wall_ms};
use crate::plugin::PluginInstance;
use crate::version::PluginVersion;
use crossbeam_channel::{Receiver, Sender};
use prism_model::{Event, Instrument, Output};
use prism_router::{Batch, BatchReceiver, Wake};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The outputs of one batch of one plugin, in the order it returned them.
#[derive(Debug, Clone)]
pub struct PluginOutputs {
    pub plugin: Arc<str>,
    pub outputs: Vec<Output>,
}

/// Where workers send outputs: a bounded channel to the output stage.
pub type OutputSender = Sender<PluginOutputs>;

/// Reports a fault to whoever watches plugins (the host's log).
pub type FaultReporter = Arc<dyn Fn(&str, &Fault) + Send + Sync>;

/// Receives each new snapshot of a plugin's state (e.g. to persist it).
/// Called on the worker thread: it must only hand the bytes on.
pub type SnapshotSink = Arc<dyn Fn(&str, &Arc<[u8]>) + Send + Sync>;

/// Why a worker refused a command. The running version is untouched
/// whenever one of these is the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The running version failed in `snapshot`, so there is no state to
    /// carry over (the plugin recovers on its own).
    #[error("the running version failed to snapshot its state: {0}")]
    Snapshot(Fault),
    /// The new version's `restore` refused the state, or failed in it.
    #[error("the new version refused the state: {0}")]
    Restore(crate::LoadError),
    /// The new version failed replaying the batches since the last snapshot.
    #[error("the new version failed while catching up on the state: {0}")]
    CatchUp(Fault),
    /// The command needs a plugin that is running or paused.
    #[error("the plugin is not running (quarantined or failed); resume it first")]
    NotRunning,
    /// The plugin could not be restarted from its last good state.
    #[error("{0}")]
    Restart(String),
}

/// A worker's answer to a command.
pub type Reply = Sender<Result<(), Refusal>>;

/// A command from the control plane, carried out between two batches.
pub enum WorkerCommand {
    /// Switch to `instance` (of `version`, already through `init`): the
    /// running version's state is snapshotted and restored into it. On any
    /// failure the running version stays, and the reply says why.
    Swap {
        version: Arc<PluginVersion>,
        instance: Box<PluginInstance>,
        reply: Reply,
    },
    /// Stop calling the plugin; events are skipped (and counted) until
    /// resumed. The instance and its state are kept.
    Pause { reply: Reply },
    /// Leave a pause, a quarantine or a failure. From a quarantine or a
    /// failure, a fresh instance is built from the last good state.
    Resume { reply: Reply },
}

/// When to snapshot, and how to treat a plugin that keeps failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoverySettings {
    /// Snapshot the plugin's state after this many batches…
    pub snapshot_every_batches: u32,
    /// …or when the last snapshot is this old, whichever comes first.
    pub snapshot_every: Duration,
    /// More failures than this within `failure_window` quarantine the plugin.
    pub max_failures: u32,
    pub failure_window: Duration,
    /// The first quarantine lasts this long; each next one twice as long.
    pub backoff: Duration,
    /// After this many quarantines in a row the plugin stays failed until
    /// an operator resumes it.
    pub max_quarantines: u32,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        Self {
            snapshot_every_batches: 100,
            snapshot_every: Duration::from_secs(5),
            max_failures: 5,
            failure_window: Duration::from_secs(60),
            backoff: Duration::from_secs(1),
            max_quarantines: 3,
        }
    }
}

/// Everything a worker needs.
pub struct WorkerParts {
    pub id: Arc<str>,
    pub version: Arc<PluginVersion>,
    /// A started instance of `version` (state restored, if any).
    pub instance: PluginInstance,
    pub queue: BatchReceiver,
    pub control: Receiver<WorkerCommand>,
    pub outputs: OutputSender,
    pub metrics: Arc<PluginMetrics>,
    pub recovery: RecoverySettings,
    pub on_fault: FaultReporter,
    pub on_snapshot: Option<SnapshotSink>,
}

/// How many of `events` are market events (instrument declarations are not).
fn market_count(events: &[Event]) -> u64 {
    events
        .iter()
        .filter(|e| !matches!(e, Event::Instrument(_)))
        .count() as u64
}

/// Starts the worker thread for one plugin.
///
/// The thread ends when the queue's senders are gone and it is drained.
///
/// # Errors
/// When the OS refuses a thread.
pub fn spawn_worker(parts: WorkerParts) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("plugin-{}", parts.id))
        .spawn(move || Worker::new(parts).run())
}

/// What the worker is doing with events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Running,
    Paused,
    Quarantined { until: Instant },
    Failed,
}

/// The last good state: a snapshot and the batches processed after it.
struct Checkpoint {
    state: Arc<[u8]>,
    since: Vec<Batch>,
    taken: Instant,
}

/// How often an idle worker wakes up (ends of quarantines, due snapshots).
const IDLE_TICK: Duration = Duration::from_millis(250);

struct Worker {
    id: Arc<str>,
    version: Arc<PluginVersion>,
    instance: Option<PluginInstance>,
    queue: BatchReceiver,
    control: Receiver<WorkerCommand>,
    outputs: OutputSender,
    metrics: Arc<PluginMetrics>,
    settings: RecoverySettings,
    on_fault: FaultReporter,
    on_snapshot: Option<SnapshotSink>,
    mode: Mode,
    checkpoint: Checkpoint,
    /// Every instrument declared to this plugin so far, by id: a fresh
    /// instance gets them all again before its first event.
    instruments: Vec<Option<Arc<Instrument>>>,
    redeclare: bool,
    failures: VecDeque<Instant>,
    quarantines: u32,
    last_failure: Option<Instant>,
    budget: budget::OutputBudget,
}

impl Worker {
    fn new(parts: WorkerParts) -> Self {
        let mut worker = Self {
            id: parts.id,
            version: parts.version,
            instance: Some(parts.instance),
            queue: parts.queue,
            control: parts.control,
            outputs: parts.outputs,
            metrics: parts.metrics,
            settings: parts.recovery,
            on_fault: parts.on_fault,
            on_snapshot: parts.on_snapshot,
            mode: Mode::Running,
            checkpoint: Checkpoint {
                state: Arc::from(Vec::new()),
                since: Vec::new(),
                taken: Instant::now(),
            },
            instruments: Vec::new(),
            redeclare: false,
            failures: VecDeque::new(),
            quarantines: 0,
            last_failure: None,
            budget: budget::OutputBudget::default(),
        };
        // The state at start is the first checkpoint: recovery always has a
        // base, even before the first periodic snapshot.
        if let Err(fault) = worker.take_checkpoint() {
            worker.fault(&fault);
            worker.instance = None;
            worker.enter_failed("the plugin failed in `snapshot` right after starting");
        } else {
            worker.metrics.set_state(PluginState::Running);
        }
        worker
    }

    fn run(mut self) {
        loop {
            let timeout = match self.mode {
                Mode::Quarantined { until } => until
                    .saturating_duration_since(Instant::now())
                    .min(IDLE_TICK),
                _ => IDLE_TICK,
            };
            match self.queue.recv_or(&self.control, timeout) {
                Wake::Batch(batch) => self.batch(batch),
                Wake::Other(command) => self.command(command),
                Wake::Idle => self.idle(),
                Wake::Closed => break,
            }
        }
        if self.mode == Mode::Running || self.mode == Mode::Paused {
            // The last state, for a restart to continue from.
            if !self.checkpoint.since.is_empty()
                && let Err(fault) = self.take_checkpoint()
            {
                self.fault(&fault);
            }
            self.metrics.set_state(PluginState::Stopped);
        }
    }

    fn learn_instruments(&mut self, events: &[Event]) {
        for event in events {
            if let Event::Instrument(i) = event {
                let at = i.id.0 as usize;
                if self.instruments.len() <= at {
                    self.instruments.resize(at + 1, None);
                }
                self.instruments[at] = Some(i.clone());
            }
        }
    }

    fn batch(&mut self, batch: Batch) {
        self.learn_instruments(&batch.events);
        if let Mode::Quarantined { until } = self.mode
            && Instant::now() >= until
        {
            self.leave_quarantine();
        }
        if self.mode != Mode::Running {
            self.metrics
                .events_dropped
                .fetch_add(batch.market_events() as u64, Ordering::Relaxed);
            return;
        }
        match self.call(&batch.events) {
            Ok(outputs) => {
                self.delivered(market_count(&batch.events), &batch.events, outputs);
                self.checkpoint.since.push(batch);
                self.maybe_checkpoint();
            }
            Err(fault) => self.recover(batch, &fault),
        }
    }

    /// Calls the plugin with `events`, preceded by every known instrument
    /// when the instance is fresh.
    fn call(&mut self, events: &[Event]) -> Result<Vec<Output>, Fault> {
        let Some(instance) = self.instance.as_mut() else {
            return Err(Fault {
                kind: crate::FaultKind::Trap,
                message: "no live instance".into(),
            });
        };
        let started = Instant::now();
        let result = if self.redeclare {
            let mut all: Vec<Event> = self
                .instruments
                .iter()
                .flatten()
                .map(|i| Event::Instrument(i.clone()))
                .collect();
            all.extend_from_slice(events);
            instance.on_events(&all)
        } else {
            instance.on_events(events)
        };
        self.metrics.observe_call(started.elapsed());
        self.metrics.batches.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .memory_bytes
            .store(instance.memory_used() as u64, Ordering::Relaxed);
        self.metrics
            .logs_suppressed
            .fetch_add(instance.take_suppressed_logs(), Ordering::Relaxed);
        let result = result.and_then(|outputs| {
            self.budget
                .admit(&outputs, &self.version.settings.limits.outputs)
                .map(|()| outputs)
        });
        if result.is_ok() {
            self.redeclare = false;
        }
        result
    }

    /// Counts `market` events of `events` as delivered and sends their
    /// outputs on.
    fn delivered(&self, market: u64, events: &[Event], outputs: Vec<Output>) {
        self.metrics.events_in.fetch_add(market, Ordering::Relaxed);
        if let Some(ts) = events.iter().rev().find_map(Event::ts) {
            self.metrics.last_event_ts.fetch_max(ts, Ordering::Relaxed);
        }
        self.send(outputs);
    }

    fn send(&self, outputs: Vec<Output>) {
        if outputs.is_empty() {
            return;
        }
        for o in &outputs {
            self.metrics.count_output(o.kind());
        }
        let batch = PluginOutputs {
            plugin: self.id.clone(),
            outputs,
        };
        if self.outputs.send(batch).is_err() {
            tracing::debug!(plugin = %self.id, "output stage closed");
        }
    }

    fn maybe_checkpoint(&mut self) {
        let due = self.checkpoint.since.len() >= self.settings.snapshot_every_batches as usize
            || self.checkpoint.taken.elapsed() >= self.settings.snapshot_every;
        if due && let Err(fault) = self.take_checkpoint() {
            // The batches since the last checkpoint are intact; recovery
            // rebuilds from there.
            self.recover_without_batch(&fault);
        }
    }

    /// Snapshots the live instance; the batches since are no longer needed.
    fn take_checkpoint(&mut self) -> Result<(), Fault> {
        let Some(instance) = self.instance.as_mut() else {
            return Ok(());
        };
        let state: Arc<[u8]> = Arc::from(instance.snapshot()?);
        self.set_checkpoint(state);
        if let Some(last) = self.last_failure
            && last.elapsed() >= self.settings.failure_window
        {
            // A clean run as long as the failure window forgives the past.
            self.quarantines = 0;
            self.last_failure = None;
        }
        Ok(())
    }

    fn set_checkpoint(&mut self, state: Arc<[u8]>) {
        self.metrics
            .snapshot_bytes
            .store(state.len() as u64, Ordering::Relaxed);
        self.metrics
            .snapshot_at_ms
            .store(wall_ms(), Ordering::Relaxed);
        if let Some(sink) = &self.on_snapshot {
            sink(&self.id, &state);
        }
        self.checkpoint = Checkpoint {
            state,
            since: Vec::new(),
            taken: Instant::now(),
        };
    }

    fn idle(&mut self) {
        match self.mode {
            Mode::Quarantined { until } if Instant::now() >= until => self.leave_quarantine(),
            Mode::Running
                if !self.checkpoint.since.is_empty()
                    && self.checkpoint.taken.elapsed() >= self.settings.snapshot_every =>
            {
                if let Err(fault) = self.take_checkpoint() {
                    self.recover_without_batch(&fault);
                }
            }
            _ => {}
        }
    }

    fn command(&mut self, command: WorkerCommand) {
        match command {
            WorkerCommand::Swap {
                version,
                instance,
                reply,
            } => {
                let result = self.swap(version, *instance);
                let _ = reply.send(result);
            }
            WorkerCommand::Pause { reply } => {
                let result = match self.mode {
                    Mode::Running | Mode::Paused => {
                        self.mode = Mode::Paused;
                        self.metrics.set_state(PluginState::Paused);
                        Ok(())
                    }
                    Mode::Quarantined { .. } | Mode::Failed => Err(Refusal::NotRunning),
                };
                let _ = reply.send(result);
            }
            WorkerCommand::Resume { reply } => {
                let result = match self.mode {
                    Mode::Running => Ok(()),
                    Mode::Paused => {
                        self.mode = Mode::Running;
                        self.metrics.set_state(PluginState::Running);
                        Ok(())
                    }
                    Mode::Quarantined { .. } | Mode::Failed => {
                        self.quarantines = 0;
                        self.failures.clear();
                        self.resume_from_checkpoint().map_err(Refusal::Restart)
                    }
                };
                let _ = reply.send(result);
            }
        }
    }

    /// Moves the state of the running version into `candidate` and makes
    /// it the running one.
    fn swap(
        &mut self,
        version: Arc<PluginVersion>,
        mut candidate: PluginInstance,
    ) -> Result<(), Refusal> {
        let before = self.metrics.state();
        self.metrics.set_state(PluginState::Swapping);
        // The state to carry over: the live instance's, or, when it is not
        // alive, the last checkpoint with the batches since replayed.
        let (state, replay) = match self.instance.as_mut() {
            Some(live) => match live.snapshot() {
                Ok(s) => (Arc::from(s), Vec::new()),
                Err(fault) => {
                    self.metrics.set_state(before);
                    self.fault(&fault);
                    self.recover_without_batch(&fault);
                    return Err(Refusal::Snapshot(fault));
                }
            },
            None => (
                self.checkpoint.state.clone(),
                std::mem::take(&mut self.checkpoint.since),
            ),
        };
        if let Err(e) = candidate.restore(&state) {
            self.metrics.set_state(before);
            self.checkpoint.since.extend(replay);
            return Err(Refusal::Restore(e));
        }
        let previous = self.instance.replace(candidate);
        let previous_version = std::mem::replace(&mut self.version, version);
        self.redeclare = true;
        for batch in &replay {
            if let Err(fault) = self.call(&batch.events) {
                // Roll back: the old version keeps running.
                self.instance = previous;
                self.version = previous_version;
                self.checkpoint.since = replay;
                self.metrics.set_state(before);
                return Err(Refusal::CatchUp(fault));
            }
        }
        self.set_checkpoint(state);
        if matches!(self.mode, Mode::Quarantined { .. } | Mode::Failed) {
            self.mode = Mode::Running;
            self.quarantines = 0;
            self.failures.clear();
            self.metrics
                .quarantined_until_ms
                .store(0, Ordering::Relaxed);
        }
        self.metrics.set_state(match self.mode {
            Mode::Paused => PluginState::Paused,
            _ => PluginState::Running,
        });
        self.metrics.swaps.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn fault(&self, fault: &Fault) {
        self.metrics.record_fault(fault);
        (self.on_fault)(&self.id, fault);
    }
}
