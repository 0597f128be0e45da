//! A plugin's worker: its turns on the pool, its one state, and swaps.
//! Plugins never run on the async reactor.

use crate::budget::OutputBudget;
use crate::canary::{Candidate, call_declared};
use crate::command::{Refusal, WorkerCommand};
use crate::metrics::{PluginMetrics, PluginState};
use crate::since::Since;
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use prism_execution::Executor;
use prism_model::{Checkpoint, Delivery, Event, InstrumentTable, Output, OutputBatch, wall_ms};
use prism_router::{Batch, BatchReceiver};
use prism_runtime::{Fault, FaultKind, PluginInstance, PluginVersion};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Where workers send their output batches and checkpoints, in order: a
/// bounded channel to the sink stage.
pub type OutputSender = Sender<Delivery>;

/// Reports a fault to whoever watches plugins (the host's log).
pub type FaultReporter = Arc<dyn Fn(&str, &Fault) + Send + Sync>;

/// When to snapshot, and how to treat a plugin that keeps failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoverySettings {
    /// Snapshot the plugin's state once the batches since the last
    /// snapshot hold this many events (counted by events, not batches, so
    /// that partial batches of a quiet feed do not make snapshots more
    /// frequent)…
    pub snapshot_every_events: u64,
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
            snapshot_every_events: 100 * 256,
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
    pub outputs: OutputSender,
    pub metrics: Arc<PluginMetrics>,
    pub recovery: RecoverySettings,
    pub on_fault: FaultReporter,
    /// The stream position the instance's state covers (it was restored
    /// from a checkpoint), if any.
    pub position: Option<u64>,
    /// The instruments the restored state names by id: declared to the
    /// instance before its first batch.
    pub instruments: Vec<Arc<prism_model::Instrument>>,
    /// The plugin's paper account (restored with its state), when it trades.
    pub executor: Option<Box<dyn Executor>>,
}

/// What the worker does with events: the one state it keeps. It changes
/// only through [`Worker::enter`], which publishes it (state and end of
/// quarantine) for the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Running,
    Paused,
    /// Skipping events until `until` (`until_ms` on the wall clock).
    Quarantined {
        until: Instant,
        until_ms: i64,
    },
    Failed,
    /// The stream ended.
    Stopped,
}

/// Work shown over the mode while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    Swapping,
    Recovering,
}

/// The last good state: a snapshot and the batches processed after it.
pub(crate) struct Saved {
    pub(crate) state: Arc<[u8]>,
    pub(crate) since: Since,
    pub(crate) taken: Instant,
}

/// What a turn ended with.
pub(crate) enum Step {
    /// More batches are waiting: the turn used its share.
    More,
    /// Nothing to do; wake the worker at this time (a quarantine's end, a
    /// snapshot due), if any, or when a batch or command comes.
    Idle(Option<Instant>),
    /// The stream ended: the last checkpoint was sent.
    Ended,
    /// The worker panicked (set by the pool).
    Panicked,
}

pub(crate) struct Worker {
    pub(crate) id: Arc<str>,
    pub(crate) version: Arc<PluginVersion>,
    pub(crate) instance: Option<PluginInstance>,
    queue: BatchReceiver,
    control: Receiver<WorkerCommand>,
    outputs: OutputSender,
    pub(crate) metrics: Arc<PluginMetrics>,
    pub(crate) settings: RecoverySettings,
    on_fault: FaultReporter,
    /// The position of the last batch processed (or restored).
    pub(crate) position: Option<u64>,
    /// The batch being recovered (its position) and the dead letters set
    /// aside from it so far.
    pub(crate) recovering: (u64, u32),
    pub(crate) mode: Mode,
    pub(crate) checkpoint: Saved,
    /// The queue has closed: the checkpoint taken now is the last.
    ending: bool,
    /// Every instrument declared to this plugin so far: a fresh instance
    /// gets them all again before its first event.
    pub(crate) instruments: InstrumentTable,
    pub(crate) redeclare: bool,
    pub(crate) failures: VecDeque<Instant>,
    pub(crate) quarantines: u32,
    pub(crate) last_failure: Option<Instant>,
    pub(crate) budget: OutputBudget,
    /// The paper account, when the plugin trades.
    pub(crate) executor: Option<Box<dyn Executor>>,
    /// Fills made while the plugin was not running: handed to it first
    /// when it runs again.
    pub(crate) held_fills: Vec<Event>,
    /// Outputs and delivered events of a traded batch's first part, when
    /// its rest went through recovery: sent with the rest's.
    pub(crate) carry: (Vec<Output>, u64),
    /// The memory past which the instance is recycled: the configured
    /// threshold, or twice what a fresh instance took with the state
    /// restored, whichever is more (so a state larger than the threshold
    /// does not recycle at every batch).
    pub(crate) recycle_at: usize,
    /// A candidate version run beside this one on the same batches.
    pub(crate) candidate: Option<Candidate>,
}

impl Worker {
    pub(crate) fn new(parts: WorkerParts, control: Receiver<WorkerCommand>) -> Self {
        let mut worker = Self {
            id: parts.id,
            version: parts.version,
            instance: Some(parts.instance),
            queue: parts.queue,
            control,
            outputs: parts.outputs,
            metrics: parts.metrics,
            settings: parts.recovery,
            on_fault: parts.on_fault,
            position: parts.position,
            recovering: (0, 0),
            mode: Mode::Running,
            ending: false,
            checkpoint: Saved {
                state: Arc::from(Vec::new()),
                since: Since::default(),
                taken: Instant::now(),
            },
            redeclare: !parts.instruments.is_empty(),
            instruments: {
                let mut table = InstrumentTable::default();
                for i in parts.instruments {
                    table.insert(i);
                }
                table
            },
            failures: VecDeque::new(),
            quarantines: 0,
            last_failure: None,
            budget: OutputBudget::default(),
            executor: parts.executor,
            held_fills: Vec::new(),
            carry: (Vec::new(), 0),
            recycle_at: 0,
            candidate: None,
        };
        // The state at start is the first checkpoint: recovery always has a
        // base, even before the first periodic snapshot.
        if let Err(fault) = worker.take_checkpoint() {
            worker.fault(&fault);
            worker.instance = None;
            worker.enter_failed("the plugin failed in `snapshot` right after starting");
        } else {
            worker.enter(Mode::Running);
        }
        worker
    }

    /// The one place the mode changes; the published state follows it.
    pub(crate) fn enter(&mut self, mode: Mode) {
        self.mode = mode;
        self.show(None);
    }

    /// Publishes the mode, or an activity over it while it lasts.
    pub(crate) fn show(&self, activity: Option<Activity>) {
        let state = match (activity, self.mode) {
            (Some(Activity::Swapping), _) => PluginState::Swapping,
            (Some(Activity::Recovering), _) => PluginState::Recovering,
            (None, Mode::Running) => PluginState::Running,
            (None, Mode::Paused) => PluginState::Paused,
            (None, Mode::Quarantined { .. }) => PluginState::Quarantined,
            (None, Mode::Failed) => PluginState::Failed,
            (None, Mode::Stopped) => PluginState::Stopped,
        };
        let until = match self.mode {
            Mode::Quarantined { until_ms, .. } => until_ms,
            _ => 0,
        };
        self.metrics
            .quarantined_until_ms
            .store(until, Ordering::Relaxed);
        self.metrics.set_state(state);
    }

    /// One turn: commands first (a swap is never starved by a busy
    /// stream), then batches in order, at most `batches` of them or for
    /// `time`, whichever ends first.
    pub(crate) fn step(&mut self, batches: u32, time: Duration) -> Step {
        let started = Instant::now();
        let mut taken = 0;
        loop {
            while let Ok(command) = self.control.try_recv() {
                self.command(command);
            }
            match self.queue.try_recv() {
                Ok(batch) => {
                    self.batch(batch);
                    taken += 1;
                    if taken >= batches || started.elapsed() >= time {
                        return Step::More;
                    }
                }
                Err(TryRecvError::Empty) => {
                    self.idle();
                    return Step::Idle(self.wake_at());
                }
                Err(TryRecvError::Disconnected) => {
                    self.end();
                    return Step::Ended;
                }
            }
        }
    }

    /// When the worker must look at the time with no batch coming: the end
    /// of a quarantine, or a snapshot falling due over batches processed.
    fn wake_at(&self) -> Option<Instant> {
        match self.mode {
            Mode::Quarantined { until, .. } => Some(until),
            Mode::Running if !self.checkpoint.since.is_empty() => {
                Some(self.checkpoint.taken + self.settings.snapshot_every)
            }
            _ => None,
        }
    }

    /// The stream ended and the queue is drained.
    fn end(&mut self) {
        if matches!(self.mode, Mode::Running | Mode::Paused) {
            // The last state, for a restart to continue from. Sent again
            // when nothing came since the last one: the sinks see the
            // plugin's last checkpoint after its last outputs, which tells
            // a cluster host handing the plugin over that the stream has
            // them all.
            self.ending = true;
            if self.checkpoint.since.is_empty() {
                let state = self.checkpoint.state.clone();
                self.set_checkpoint(state);
            } else if let Err(fault) = self.take_checkpoint() {
                self.fault(&fault);
            }
            self.enter(Mode::Stopped);
        }
    }

    fn batch(&mut self, batch: Batch) {
        self.instruments.learn(&batch.events);
        if let Mode::Quarantined { until, .. } = self.mode
            && Instant::now() >= until
        {
            self.leave_quarantine();
        }
        if self.mode != Mode::Running {
            self.observe_idle(&batch.events);
            self.drop_events(batch.market_events() as u64);
            return;
        }
        if self.executor.is_some() {
            self.traded(batch);
        } else {
            let started = self.candidate.is_some().then(Instant::now);
            let result = self.call(&batch.events);
            let market = market_count(&batch.events);
            if let (Some(candidate), Some(started)) = (self.candidate.as_mut(), started) {
                let took = started.elapsed();
                let live = result.as_ref().ok().map(|o| (o.as_slice(), took));
                candidate.follow(&self.id, &batch, market, live, &self.instruments);
            }
            match result {
                Ok(outputs) => {
                    self.delivered(&batch, market, outputs);
                    self.checkpoint.since.push(batch);
                    self.maybe_checkpoint();
                }
                Err(fault) => self.recover(batch, &fault),
            }
        }
        self.maybe_recycle();
    }

    /// Moves the state into a fresh instance when the live one's memory
    /// has grown past the plugin's `recycle_memory_mb`: a wasm instance's
    /// memory never shrinks, a fresh one holds only what the state needs.
    /// Between two batches, with the state the next batch would see, so
    /// the plugin and the API see no difference; the new state is the
    /// checkpoint. If the fresh instance cannot start, the old one goes on.
    fn maybe_recycle(&mut self) {
        let threshold = self.version.settings.limits.recycle_memory_bytes;
        if threshold == 0 || self.mode != Mode::Running {
            return;
        }
        let Some(live) = self.instance.as_mut() else {
            return;
        };
        if live.memory_used() <= threshold.max(self.recycle_at) {
            return;
        }
        let state = match live.snapshot() {
            Ok(state) => state,
            Err(fault) => {
                self.fault(&fault);
                self.recover_without_batch(&fault);
                return;
            }
        };
        match self.fresh_instance(&state) {
            Ok(fresh) => {
                self.recycle_at = fresh.memory_used().saturating_mul(2);
                self.metrics
                    .memory_bytes
                    .store(fresh.memory_used() as u64, Ordering::Relaxed);
                self.instance = Some(fresh);
                self.redeclare = true;
                self.metrics.recycles.fetch_add(1, Ordering::Relaxed);
                self.set_checkpoint(Arc::from(state));
            }
            Err(e) => {
                // Next time only past twice this size: no retry per batch.
                self.recycle_at = threshold.max(self.recycle_at).saturating_mul(2);
                tracing::warn!(plugin = %self.id, "the instance is not recycled: {e}");
            }
        }
    }

    /// A fresh instance of the running version with `state` restored: for
    /// recovery and for recycling.
    pub(crate) fn fresh_instance(
        &self,
        state: &[u8],
    ) -> Result<PluginInstance, prism_runtime::LoadError> {
        let mut fresh = self.version.start(&self.id)?;
        fresh.restore(state)?;
        Ok(fresh)
    }

    /// Calls the plugin with `events`, preceded by every known instrument
    /// when the instance is fresh.
    pub(crate) fn call(&mut self, events: &[Event]) -> Result<Vec<Output>, Fault> {
        let Some(instance) = self.instance.as_mut() else {
            return Err(Fault {
                kind: FaultKind::Trap,
                message: "no live instance".into(),
            });
        };
        let started = Instant::now();
        let mut redeclare = self.redeclare;
        let result = call_declared(instance, &mut redeclare, &self.instruments, events);
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
            self.redeclare = redeclare;
        }
        result
    }

    /// Counts `market` events of `batch` as delivered, sends its outputs
    /// on, and moves the worker's position past it.
    pub(crate) fn delivered(&mut self, batch: &Batch, market: u64, mut outputs: Vec<Output>) {
        let (mut first, carried) = std::mem::take(&mut self.carry);
        let market = market + carried;
        if !first.is_empty() {
            first.append(&mut outputs);
            outputs = first;
        }
        // Never back: the checkpoint's position covers every batch before.
        self.position = self.position.max(Some(batch.position));
        self.metrics.events_in.fetch_add(market, Ordering::Relaxed);
        if let Some(ts) = batch.events.iter().rev().find_map(Event::ts) {
            self.metrics.last_event_ts.fetch_max(ts, Ordering::Relaxed);
        }
        if outputs.is_empty() {
            return;
        }
        for o in &outputs {
            self.metrics.count_output(o.kind());
        }
        self.send(Delivery::Outputs(OutputBatch {
            plugin: self.id.clone(),
            position: batch.position,
            previous: batch.previous,
            outputs,
        }));
    }

    pub(crate) fn send(&self, delivery: Delivery) {
        if self.outputs.send(delivery).is_err() {
            tracing::debug!(plugin = %self.id, "the sink stage has closed");
        }
    }

    pub(crate) fn drop_events(&self, n: u64) {
        self.metrics.events_dropped.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn maybe_checkpoint(&mut self) {
        let due = self.checkpoint.since.events() >= self.settings.snapshot_every_events
            || self.checkpoint.taken.elapsed() >= self.settings.snapshot_every;
        if due && let Err(fault) = self.take_checkpoint() {
            // The batches since the last checkpoint are intact; recovery
            // rebuilds from there.
            self.recover_without_batch(&fault);
        }
    }

    /// Snapshots the live instance; the batches since are no longer needed.
    pub(crate) fn take_checkpoint(&mut self) -> Result<(), Fault> {
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

    pub(crate) fn set_checkpoint(&mut self, state: Arc<[u8]>) {
        self.metrics.snapshots.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .snapshot_bytes
            .store(state.len() as u64, Ordering::Relaxed);
        self.metrics
            .snapshot_at_ms
            .store(wall_ms(), Ordering::Relaxed);
        self.send(Delivery::Checkpoint(Checkpoint {
            plugin: self.id.clone(),
            position: self.position,
            version: Arc::from(self.version.digest()),
            state: state.clone(),
            instruments: self.instruments.iter().cloned().collect(),
            account: self.executor.as_ref().map(|e| Arc::from(e.snapshot())),
            last: self.ending,
        }));
        self.checkpoint = Saved {
            state,
            since: Since::default(),
            taken: Instant::now(),
        };
    }

    fn idle(&mut self) {
        match self.mode {
            Mode::Quarantined { until, .. } if Instant::now() >= until => self.leave_quarantine(),
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
        let (reply, result) = match command {
            WorkerCommand::Swap {
                version,
                instance,
                same_version,
                reply,
            } => (reply, self.swap(version, *instance, same_version)),
            WorkerCommand::Pause { reply } => {
                let result = match self.mode {
                    Mode::Running | Mode::Paused => {
                        self.enter(Mode::Paused);
                        Ok(())
                    }
                    Mode::Quarantined { .. } | Mode::Failed | Mode::Stopped => {
                        Err(Refusal::NotRunning)
                    }
                };
                (reply, result)
            }
            WorkerCommand::Resume { reply } => {
                let result = match self.mode {
                    Mode::Running => Ok(()),
                    Mode::Paused => {
                        self.enter(Mode::Running);
                        Ok(())
                    }
                    Mode::Quarantined { .. } | Mode::Failed | Mode::Stopped => {
                        self.quarantines = 0;
                        self.failures.clear();
                        self.resume_from_checkpoint().map_err(Refusal::Restart)
                    }
                };
                (reply, result)
            }
            WorkerCommand::Account { command, reply } => {
                let _ = reply.send(self.account_command(*command));
                return;
            }
            WorkerCommand::StartCandidate {
                version,
                instance,
                report,
                reply,
            } => (reply, self.start_candidate(version, *instance, report)),
            WorkerCommand::Promote { reply } => (reply, self.promote_candidate()),
            WorkerCommand::Discard { reply } => (reply, self.discard_candidate()),
        };
        let _ = reply.send(result);
    }

    /// Moves the state of the running version into `candidate` and makes
    /// it the running one.
    fn swap(
        &mut self,
        version: Arc<PluginVersion>,
        mut candidate: PluginInstance,
        same_version: bool,
    ) -> Result<(), Refusal> {
        if same_version && self.instance.is_none() {
            // Other code for the same version while nothing runs
            // (quarantined, failed): the next start takes it; the mode is
            // the operator's and the recovery's, not the compiler's.
            self.version = version;
            return Ok(());
        }
        self.show(Some(Activity::Swapping));
        // The state to carry over: the live instance's, or, when it is not
        // alive, the last checkpoint with the batches since replayed.
        let (state, replay) = match self.instance.as_mut() {
            Some(live) => match live.snapshot() {
                Ok(s) => (Arc::from(s), Since::default()),
                Err(fault) => {
                    self.show(None);
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
            self.show(None);
            self.checkpoint.since.put_back(replay);
            return Err(Refusal::Restore(e));
        }
        let previous = self.instance.replace(candidate);
        let previous_version = std::mem::replace(&mut self.version, version);
        self.redeclare = true;
        for batch in replay.iter() {
            if let Err(fault) = self.call(&batch.events) {
                // Roll back: the old version keeps running.
                self.instance = previous;
                self.version = previous_version;
                self.checkpoint.since.put_back(replay);
                self.show(None);
                return Err(Refusal::CatchUp(fault));
            }
        }
        self.set_checkpoint(state);
        // The old version's figure does not hold for the new one.
        self.recycle_at = 0;
        if !same_version && let Some(candidate) = self.candidate.take() {
            // Compared with a version that no longer runs: meaningless.
            candidate
                .report
                .end("discarded: the running version was swapped");
        }
        if matches!(
            self.mode,
            Mode::Quarantined { .. } | Mode::Failed | Mode::Stopped
        ) {
            self.quarantines = 0;
            self.failures.clear();
            self.enter(Mode::Running);
        } else {
            self.show(None);
        }
        Ok(())
    }

    pub(crate) fn fault(&self, fault: &Fault) {
        self.metrics.record_fault(fault);
        (self.on_fault)(&self.id, fault);
    }
}

/// How many of `events` count as delivered (see [`Event::is_market`]).
pub(crate) fn market_count(events: &[Event]) -> u64 {
    events.iter().filter(|e| e.is_market()).count() as u64
}
