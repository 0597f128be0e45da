//! A candidate version run beside the live one: it is given the very
//! batches the live version processes, its outputs are compared with the
//! live one's and never served, and an operator promotes it (it becomes
//! the live version with its own state) or discards it.
//!
//! The comparison is shared with the API as counters and set-once cells:
//! the worker never takes a lock the control plane holds.

use crate::budget::OutputBudget;
use crate::command::Refusal;
use crate::worker::{Mode, Worker};
use prism_model::{Event, InstrumentTable, Output, OutputKind, wall_ms};
use prism_router::Batch;
use prism_runtime::{Fault, PluginInstance, PluginVersion};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// One output kind's tally: how many each version made in the compared
/// batches, and how many of them were equal, pair by pair in order.
#[derive(Debug, Default)]
struct KindTally {
    live: AtomicU64,
    candidate: AtomicU64,
    matching: AtomicU64,
}

/// One output kind's figures, as read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindFigures {
    pub live: u64,
    pub candidate: u64,
    /// Outputs equal to the live one's at the same place: the `i`-th
    /// output of this kind in a batch against the live one's `i`-th.
    pub matching: u64,
}

/// The first place the candidate's outputs left the live one's.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The stream position of the batch.
    pub position: u64,
    pub kind: OutputKind,
    /// Which output of that kind in the batch, from 0.
    pub index: usize,
    /// The live version's output there (`None`: it made fewer).
    pub live: Option<Output>,
    /// The candidate's output there (`None`: it made fewer).
    pub candidate: Option<Output>,
}

/// What the comparison of a candidate with the live version found so far.
/// The worker writes it; readers see counters that only grow and cells
/// that are set once.
#[derive(Debug)]
pub struct Comparison {
    started_at_ms: i64,
    batches: AtomicU64,
    events: AtomicU64,
    differing: AtomicU64,
    /// Batches the live version failed (recovered apart): given to the
    /// candidate, not compared.
    uncompared: AtomicU64,
    kinds: [KindTally; 6],
    live_call_ns: AtomicU64,
    candidate_call_ns: AtomicU64,
    first: OnceLock<Difference>,
    ended: OnceLock<String>,
}

/// A [`Comparison`]'s figures at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonFigures {
    /// Unix ms when the candidate started.
    pub started_at_ms: i64,
    /// Batches both versions processed and that were compared.
    pub batches: u64,
    /// Market events in them.
    pub events: u64,
    /// Compared batches whose outputs were not all equal.
    pub differing_batches: u64,
    /// Batches the live version failed: the candidate got them, they
    /// were not compared.
    pub uncompared_batches: u64,
    /// Per output kind, in contract order.
    pub kinds: [(OutputKind, KindFigures); 6],
    /// Time spent in calls over the compared batches.
    pub live_call_time: Duration,
    pub candidate_call_time: Duration,
    pub first_difference: Option<Difference>,
    /// Why the candidate stopped (it failed, or the live version was
    /// swapped); `None` while it runs.
    pub ended: Option<String>,
}

impl Default for Comparison {
    fn default() -> Self {
        Self {
            started_at_ms: wall_ms(),
            batches: AtomicU64::new(0),
            events: AtomicU64::new(0),
            differing: AtomicU64::new(0),
            uncompared: AtomicU64::new(0),
            kinds: Default::default(),
            live_call_ns: AtomicU64::new(0),
            candidate_call_ns: AtomicU64::new(0),
            first: OnceLock::new(),
            ended: OnceLock::new(),
        }
    }
}

impl Comparison {
    /// The figures now.
    #[must_use]
    pub fn figures(&self) -> ComparisonFigures {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ComparisonFigures {
            started_at_ms: self.started_at_ms,
            batches: load(&self.batches),
            events: load(&self.events),
            differing_batches: load(&self.differing),
            uncompared_batches: load(&self.uncompared),
            kinds: std::array::from_fn(|i| {
                let t = &self.kinds[i];
                (
                    OutputKind::ALL[i],
                    KindFigures {
                        live: load(&t.live),
                        candidate: load(&t.candidate),
                        matching: load(&t.matching),
                    },
                )
            }),
            live_call_time: Duration::from_nanos(load(&self.live_call_ns)),
            candidate_call_time: Duration::from_nanos(load(&self.candidate_call_ns)),
            first_difference: self.first.get().cloned(),
            ended: self.ended.get().cloned(),
        }
    }

    /// Why the candidate ended, if it has.
    pub(crate) fn ended(&self) -> Option<String> {
        self.ended.get().cloned()
    }

    /// Marks the candidate as ended, with why (the first reason stays).
    pub(crate) fn end(&self, why: impl Into<String>) {
        let _ = self.ended.set(why.into());
    }

    /// Tallies one batch's outputs of both versions.
    fn record(&self, position: u64, market: u64, live: &[Output], candidate: &[Output]) {
        let mut first: Option<(usize, Difference)> = None;
        for (k, kind) in OutputKind::ALL.into_iter().enumerate() {
            let mut ours = live.iter().enumerate().filter(|(_, o)| o.kind() == kind);
            let mut theirs = candidate.iter().filter(|o| o.kind() == kind);
            let (mut n_live, mut n_candidate, mut matching) = (0u64, 0u64, 0u64);
            let mut index = 0;
            loop {
                let (a, b) = (ours.next(), theirs.next());
                if a.is_none() && b.is_none() {
                    break;
                }
                n_live += u64::from(a.is_some());
                n_candidate += u64::from(b.is_some());
                let equal = matches!((a, b), (Some((_, x)), Some(y)) if x == y);
                if equal {
                    matching += 1;
                } else {
                    // Where the difference shows in the batch: the live
                    // output's place, or past every live output.
                    let at = a.map_or(live.len(), |(i, _)| i);
                    if first.as_ref().is_none_or(|(best, _)| at < *best) {
                        first = Some((
                            at,
                            Difference {
                                position,
                                kind,
                                index,
                                live: a.map(|(_, o)| o.clone()),
                                candidate: b.cloned(),
                            },
                        ));
                    }
                }
                index += 1;
            }
            let tally = &self.kinds[k];
            tally.live.fetch_add(n_live, Ordering::Relaxed);
            tally.candidate.fetch_add(n_candidate, Ordering::Relaxed);
            tally.matching.fetch_add(matching, Ordering::Relaxed);
        }
        if let Some((_, difference)) = first {
            self.differing.fetch_add(1, Ordering::Relaxed);
            let _ = self.first.set(difference);
        }
        self.events.fetch_add(market, Ordering::Relaxed);
        // Last: a reader that sees the batch counted sees its tallies.
        self.batches.fetch_add(1, Ordering::Release);
    }
}

/// A candidate version and its instance, kept by the live version's worker.
pub(crate) struct Candidate {
    pub(crate) version: Arc<PluginVersion>,
    /// `None` once it failed: it is given nothing more.
    pub(crate) instance: Option<PluginInstance>,
    /// A fresh instance is told every known instrument before its first
    /// batch (the state it restored names them by id).
    pub(crate) redeclare: bool,
    /// The live version's budget when the candidate started: the
    /// candidate is held to the same limits on distinct outputs.
    budget: OutputBudget,
    pub(crate) report: Arc<Comparison>,
}

impl Candidate {
    pub(crate) fn new(
        version: Arc<PluginVersion>,
        instance: PluginInstance,
        budget: OutputBudget,
        report: Arc<Comparison>,
    ) -> Self {
        Self {
            version,
            instance: Some(instance),
            redeclare: true,
            budget,
            report,
        }
    }

    /// Gives the candidate the batch the live version just processed.
    /// `live` is what the live version made of it and how long it took;
    /// `None` when it failed (the batch is then not compared). A candidate
    /// that fails is stopped; the live version never notices.
    pub(crate) fn follow(
        &mut self,
        id: &str,
        batch: &Batch,
        market: u64,
        live: Option<(&[Output], Duration)>,
        instruments: &InstrumentTable,
    ) {
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        let started = std::time::Instant::now();
        let result = call_declared(instance, &mut self.redeclare, instruments, &batch.events)
            .and_then(|outputs| {
                self.budget
                    .admit(&outputs, &self.version.settings.limits.outputs)
                    .map(|()| outputs)
            });
        let took = started.elapsed();
        match (result, live) {
            (Ok(outputs), Some((live, live_took))) => {
                let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                let report = &self.report;
                report
                    .live_call_ns
                    .fetch_add(ns(live_took), Ordering::Relaxed);
                report
                    .candidate_call_ns
                    .fetch_add(ns(took), Ordering::Relaxed);
                report.record(batch.position, market, live, &outputs);
            }
            (Ok(_), None) => {
                self.report.uncompared.fetch_add(1, Ordering::Relaxed);
            }
            (Err(fault), _) => {
                tracing::warn!(plugin = id, "the candidate version failed: {fault}");
                self.report.end(format!(
                    "failed at the batch at position {}: {fault}",
                    batch.position
                ));
                self.instance = None;
            }
        }
    }
}

/// Calls `instance` with `events`, preceded by every known instrument
/// when `redeclare` is set (cleared once a call succeeds).
pub(crate) fn call_declared(
    instance: &mut PluginInstance,
    redeclare: &mut bool,
    instruments: &InstrumentTable,
    events: &[Event],
) -> Result<Vec<Output>, Fault> {
    let result = if *redeclare {
        let mut all: Vec<Event> = instruments
            .iter()
            .map(|i| Event::Instrument(i.clone()))
            .collect();
        all.extend_from_slice(events);
        instance.on_events(&all)
    } else {
        instance.on_events(events)
    };
    if result.is_ok() {
        *redeclare = false;
    }
    result
}

impl Worker {
    /// Starts `instance` as a candidate: the running version's state is
    /// restored into it, and from the next batch on it is given every
    /// batch the running version processes. A candidate there was is
    /// replaced.
    pub(crate) fn start_candidate(
        &mut self,
        version: Arc<PluginVersion>,
        mut instance: PluginInstance,
        report: Arc<Comparison>,
    ) -> Result<(), Refusal> {
        if self.executor.is_some() {
            return Err(Refusal::CandidateTrades);
        }
        if !matches!(self.mode, Mode::Running | Mode::Paused) {
            return Err(Refusal::NotRunning);
        }
        let Some(live) = self.instance.as_mut() else {
            return Err(Refusal::NotRunning);
        };
        let state = match live.snapshot() {
            Ok(state) => state,
            Err(fault) => {
                self.fault(&fault);
                self.recover_without_batch(&fault);
                return Err(Refusal::Snapshot(fault));
            }
        };
        instance.restore(&state).map_err(Refusal::Restore)?;
        if let Some(old) = self.candidate.take() {
            old.report.end("replaced by another candidate");
        }
        self.candidate = Some(Candidate::new(
            version,
            instance,
            self.budget.clone(),
            report,
        ));
        Ok(())
    }

    /// Makes the candidate the running version, with the state it has
    /// built; the running version's instance is dropped. Between two
    /// batches, so no event is lost or given twice.
    pub(crate) fn promote_candidate(&mut self) -> Result<(), Refusal> {
        let Some(mut candidate) = self.candidate.take() else {
            return Err(Refusal::NoCandidate);
        };
        let snapshot = match (candidate.report.ended(), candidate.instance.as_mut()) {
            (Some(why), _) => Err(why),
            (None, None) => Err("it has stopped".to_owned()),
            (None, Some(instance)) => instance
                .snapshot()
                .map_err(|fault| format!("it failed in `snapshot`: {fault}")),
        };
        let (state, instance) = match (snapshot, candidate.instance.take()) {
            (Ok(state), Some(instance)) => (state, instance),
            (result, _stopped) => {
                let why = result.err().unwrap_or_else(|| "it has stopped".to_owned());
                candidate.report.end(why.clone());
                // Kept, stopped, so its figures stay readable until discarded.
                self.candidate = Some(candidate);
                return Err(Refusal::CandidateEnded(why));
            }
        };
        candidate.report.end("promoted");
        self.instance = Some(instance);
        self.version = candidate.version;
        self.redeclare = candidate.redeclare;
        self.recycle_at = 0;
        self.set_checkpoint(Arc::from(state));
        if matches!(self.mode, Mode::Quarantined { .. } | Mode::Failed) {
            self.quarantines = 0;
            self.failures.clear();
            self.enter(Mode::Running);
        }
        Ok(())
    }

    /// Stops and drops the candidate.
    pub(crate) fn discard_candidate(&mut self) -> Result<(), Refusal> {
        let candidate = self.candidate.take().ok_or(Refusal::NoCandidate)?;
        candidate.report.end("discarded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::{Document, SeriesPoint};

    fn point(name: &str, value: f64) -> Output {
        Output::Series(SeriesPoint {
            name: Arc::from(name),
            instrument: None,
            ts: 1,
            value,
        })
    }

    fn document(key: &str, n: u64) -> Output {
        Output::Document(Document {
            key: Arc::from(key),
            ts: 1,
            body: serde_json::json!({ "n": n }).into(),
        })
    }

    fn tally(c: &ComparisonFigures, kind: OutputKind) -> KindFigures {
        c.kinds.iter().find(|(k, _)| *k == kind).unwrap().1
    }

    #[test]
    fn equal_batches_match_kind_by_kind_in_order() {
        let c = Comparison::default();
        let live = [point("a", 1.0), document("d", 1), point("b", 2.0)];
        // Interleaved otherwise: kinds are compared apart, order within each.
        let candidate = [document("d", 1), point("a", 1.0), point("b", 2.0)];
        c.record(7, 3, &live, &candidate);
        let f = c.figures();
        assert_eq!((f.batches, f.events, f.differing_batches), (1, 3, 0));
        let series = tally(&f, OutputKind::Series);
        assert_eq!((series.live, series.candidate, series.matching), (2, 2, 2));
        let documents = tally(&f, OutputKind::Document);
        assert_eq!(
            (documents.live, documents.candidate, documents.matching),
            (1, 1, 1)
        );
        assert_eq!(f.first_difference, None);
    }

    #[test]
    fn the_first_difference_is_the_earliest_in_the_live_batch_and_stays() {
        let c = Comparison::default();
        // The document differs at live place 1, the series at place 2: the
        // document is first; one extra candidate series point is unmatched.
        let live = [point("a", 1.0), document("d", 1), point("b", 2.0)];
        let candidate = [
            point("a", 1.0),
            document("d", 2),
            point("b", 3.0),
            point("c", 4.0),
        ];
        c.record(5, 2, &live, &candidate);
        // A later differing batch does not replace the first difference.
        c.record(6, 1, &[point("a", 1.0)], &[]);
        let f = c.figures();
        assert_eq!((f.batches, f.events, f.differing_batches), (2, 3, 2));
        let series = tally(&f, OutputKind::Series);
        assert_eq!((series.live, series.candidate, series.matching), (3, 3, 1));
        let documents = tally(&f, OutputKind::Document);
        assert_eq!(
            (documents.live, documents.candidate, documents.matching),
            (1, 1, 0)
        );
        assert_eq!(
            f.first_difference,
            Some(Difference {
                position: 5,
                kind: OutputKind::Document,
                index: 0,
                live: Some(document("d", 1)),
                candidate: Some(document("d", 2)),
            })
        );
    }

    #[test]
    fn outputs_only_the_candidate_makes_differ_past_the_live_ones() {
        let c = Comparison::default();
        c.record(
            9,
            1,
            &[document("d", 1)],
            &[document("d", 1), point("x", 0.5)],
        );
        let f = c.figures();
        assert_eq!(f.differing_batches, 1);
        let d = f.first_difference.unwrap();
        assert_eq!((d.kind, d.index, d.live), (OutputKind::Series, 0, None));
        assert_eq!(d.candidate, Some(point("x", 0.5)));
    }
}
