//! Crash recovery: rebuild an instance from the last snapshot, replay the
//! batches since (their outputs were already sent, so they are discarded),
//! retry the failed batch, and if it fails again bisect it down to the
//! poison event, which becomes a dead letter. A plugin that keeps failing is
//! quarantined with exponential backoff, then stopped until an operator
//! resumes it.

use crate::metrics::DeadLetter;
use crate::worker::{Activity, Mode, Worker, market_count};
use prism_model::{Delivery, Event, Output, Rejected, wall_ms};
use prism_router::Batch;
use prism_runtime::Fault;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// A fault kind's name, as the API and the stores show it.
fn fault_name(kind: prism_runtime::FaultKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Why isolating a batch stopped early.
enum Stop {
    /// An instance could not be rebuilt: the plugin is broken beyond this batch.
    Broken(String),
    /// The plugin failed too often; it goes into quarantine.
    TooManyFailures,
}

impl Worker {
    /// Recovers from `fault` on `batch`: every event of the batch ends up
    /// processed exactly once, set aside as a dead letter, or (if the plugin
    /// is quarantined on the way) counted as dropped.
    pub(crate) fn recover(&mut self, batch: Batch, fault: &Fault) {
        self.recovering = (batch.position, 0);
        self.fault(fault);
        self.show(Some(Activity::Recovering));
        if let Err(reason) = self.rebuild() {
            self.drop_events(market_count(&batch.events));
            self.hard_failure(&reason);
            return;
        }
        let letters = self.metrics.dead_letters_total.load(Ordering::Relaxed);
        let mut outputs = Vec::new();
        let mut done = 0;
        let stop = self.isolate(&batch.events, &mut outputs, &mut done).err();
        if self.metrics.dead_letters_total.load(Ordering::Relaxed) == letters {
            // It passed on a retry: a transient failure, still a failure.
            self.note_failure();
        }
        match stop {
            None | Some(Stop::TooManyFailures) => {
                // The live instance holds the state after what was processed.
                self.place_orders(&outputs);
                self.delivered(&batch, done, outputs);
                let lettered = self.metrics.dead_letters_total.load(Ordering::Relaxed) - letters;
                self.drop_events(market_count(&batch.events).saturating_sub(done + lettered));
                if let Err(f) = self.take_checkpoint() {
                    self.fault(&f);
                    self.hard_failure("the plugin failed in `snapshot` after recovering");
                    return;
                }
                if stop.is_some() || self.too_many_failures() {
                    self.quarantine("it keeps failing");
                } else {
                    self.show(None);
                }
            }
            Some(Stop::Broken(reason)) => {
                self.carry = (Vec::new(), 0);
                // The state is back at the checkpoint: nothing of this batch
                // happened, so none of its outputs may be sent.
                self.drop_events(market_count(&batch.events));
                self.hard_failure(&reason);
            }
        }
    }

    /// Rebuilds after a failure outside a batch (a failed `snapshot`).
    pub(crate) fn recover_without_batch(&mut self, fault: &Fault) {
        self.fault(fault);
        self.note_failure();
        self.show(Some(Activity::Recovering));
        match self.rebuild() {
            Err(reason) => self.hard_failure(&reason),
            Ok(()) if self.too_many_failures() => self.quarantine("it keeps failing"),
            Ok(()) => self.show(None),
        }
    }

    /// Runs `events` on the live instance; on failure, restarts from the
    /// state before them and splits them in two, down to single events.
    fn isolate(
        &mut self,
        events: &[Event],
        outputs: &mut Vec<Output>,
        done: &mut u64,
    ) -> Result<(), Stop> {
        let base: Arc<[u8]> = match self.instance.as_mut().map(|i| i.snapshot()) {
            Some(Ok(state)) => Arc::from(state),
            Some(Err(fault)) => {
                self.fault(&fault);
                return Err(Stop::Broken(format!("`snapshot` failed: {fault}")));
            }
            None => return Err(Stop::Broken("no live instance".into())),
        };
        let fault = match self.call(events) {
            Ok(out) => {
                outputs.extend(out);
                *done += market_count(events);
                return Ok(());
            }
            Err(fault) => fault,
        };
        self.metrics.record_fault(&fault);
        self.rebuild_from(&base).map_err(Stop::Broken)?;
        let market: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_market())
            .map(|(i, _)| i)
            .collect();
        match market.len() {
            // Only declarations failed; the fresh instance gets them again.
            0 => Ok(()),
            1 => {
                self.dead_letter(&events[market[0]], fault);
                if self.too_many_failures() {
                    Err(Stop::TooManyFailures)
                } else {
                    Ok(())
                }
            }
            n => {
                let mid = market[n / 2];
                self.isolate(&events[..mid], outputs, done)?;
                self.isolate(&events[mid..], outputs, done)
            }
        }
    }

    fn dead_letter(&mut self, event: &Event, fault: Fault) {
        tracing::warn!(plugin = %self.id, kind = ?fault.kind, ts = ?event.ts(),
            "event set aside as a dead letter: {}", fault.message);
        let instrument = event
            .instrument()
            .and_then(|id| self.instruments.get(id).cloned());
        let at_ms = wall_ms();
        let (position, index) = self.recovering;
        self.recovering.1 += 1;
        self.send(Delivery::Rejected(Rejected {
            plugin: self.id.clone(),
            position,
            index,
            at_ms,
            event: event.clone(),
            instrument: instrument.clone(),
            kind: Arc::from(fault_name(fault.kind)),
            message: Arc::from(fault.message.as_str()),
            version: Arc::from(self.version.digest()),
        }));
        self.metrics.push_dead_letter(DeadLetter {
            event: event.clone(),
            instrument,
            fault,
            at_ms,
            version: self.version.digest().to_owned(),
        });
        self.note_failure();
    }

    /// A fresh instance of the running version with `state` restored.
    fn rebuild_from(&mut self, state: &[u8]) -> Result<(), String> {
        // Release the old instance's pool slot before taking a new one.
        self.instance = None;
        self.metrics.restarts.fetch_add(1, Ordering::Relaxed);
        let fresh = self
            .fresh_instance(state)
            .map_err(|e| format!("cannot restart the plugin from its last snapshot: {e}"))?;
        self.instance = Some(fresh);
        self.redeclare = true;
        Ok(())
    }

    /// A fresh instance at the last checkpoint, with the batches since
    /// replayed (their outputs were sent already and are discarded).
    fn rebuild(&mut self) -> Result<(), String> {
        let state = self.checkpoint.state.clone();
        self.rebuild_from(&state)?;
        let since = std::mem::take(&mut self.checkpoint.since);
        let mut result = Ok(());
        for batch in since.iter() {
            if let Err(fault) = self.call(&batch.events) {
                self.instance = None;
                result = Err(format!(
                    "replaying the batches since the last snapshot failed (is the plugin deterministic?): {fault}"
                ));
                break;
            }
        }
        self.checkpoint.since.put_back(since);
        result
    }

    fn note_failure(&mut self) {
        let now = Instant::now();
        self.failures.push_back(now);
        self.last_failure = Some(now);
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.settings.failure_window)
        {
            self.failures.pop_front();
        }
    }

    fn too_many_failures(&self) -> bool {
        self.failures.len() > self.settings.max_failures as usize
    }

    fn hard_failure(&mut self, reason: &str) {
        tracing::error!(plugin = %self.id, "recovery failed: {reason}");
        self.metrics.record_error(reason.to_owned());
        self.quarantine(reason);
    }

    /// Stops calling the plugin for a while (or for good, after too many
    /// quarantines in a row). The last good state is kept for the restart.
    pub(crate) fn quarantine(&mut self, reason: &str) {
        if self.instance.is_some()
            && let Err(fault) = self.take_checkpoint()
        {
            self.metrics.record_fault(&fault);
        }
        self.instance = None;
        self.failures.clear();
        self.quarantines += 1;
        if self.quarantines > self.settings.max_quarantines {
            self.enter_failed(&format!(
                "{reason}; quarantined {} times in a row",
                self.settings.max_quarantines
            ));
            return;
        }
        let backoff = self
            .settings
            .backoff
            .saturating_mul(1 << (self.quarantines - 1).min(16));
        let until_ms = wall_ms().saturating_add(i64::try_from(backoff.as_millis()).unwrap_or(0));
        self.enter(Mode::Quarantined {
            until: Instant::now() + backoff,
            until_ms,
        });
        let message = format!("quarantined for {backoff:?}: {reason}");
        tracing::warn!(plugin = %self.id, "{message}");
        if self.metrics.last_error().is_none() {
            self.metrics.record_error(message);
        }
    }

    /// Stops the plugin until an operator resumes it.
    pub(crate) fn enter_failed(&mut self, reason: &str) {
        self.instance = None;
        self.enter(Mode::Failed);
        tracing::error!(plugin = %self.id, "plugin stopped: {reason}; resume it through the admin API");
        self.metrics.record_error(format!(
            "stopped: {reason}; resume it through the admin API"
        ));
    }

    pub(crate) fn leave_quarantine(&mut self) {
        if let Err(reason) = self.resume_from_checkpoint() {
            self.hard_failure(&reason);
        }
    }

    /// Back to running from the last good state.
    pub(crate) fn resume_from_checkpoint(&mut self) -> Result<(), String> {
        self.show(Some(Activity::Recovering));
        if let Err(reason) = self.rebuild() {
            self.instance = None;
            self.show(None);
            return Err(reason);
        }
        self.enter(Mode::Running);
        if let Err(fault) = self.take_checkpoint() {
            self.recover_without_batch(&fault);
        }
        Ok(())
    }
}
