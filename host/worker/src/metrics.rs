//! Per-plugin counters and state, updated by the plugin's worker with atomics
//! (and, on the failure path only, a mutex), so the API reads them without
//! touching the hot path.

use prism_model::{Event, Instrument, OutputKind, wall_ms};
use prism_runtime::Fault;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the call-latency histogram buckets, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 12] = [
    10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000, 1_000_000,
];

/// A plugin's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// Loaded, its worker not yet started.
    Starting,
    /// Processing events.
    Running,
    /// Moving its state to a new version (between two batches).
    Swapping,
    /// Rebuilding a crashed instance: restoring the last snapshot, replaying
    /// the batches since, isolating a poison event.
    Recovering,
    /// Failed too often; events are skipped until the backoff ends.
    Quarantined,
    /// Paused by an operator; events are skipped until resumed.
    Paused,
    /// Stopped by failures; events are skipped until an operator resumes it.
    Failed,
    /// Its stream ended or it was removed.
    Stopped,
}

impl PluginState {
    const ALL: [PluginState; 8] = [
        PluginState::Starting,
        PluginState::Running,
        PluginState::Swapping,
        PluginState::Recovering,
        PluginState::Quarantined,
        PluginState::Paused,
        PluginState::Failed,
        PluginState::Stopped,
    ];

    /// The name used in the API and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Starting => "starting",
            PluginState::Running => "running",
            PluginState::Swapping => "swapping",
            PluginState::Recovering => "recovering",
            PluginState::Quarantined => "quarantined",
            PluginState::Paused => "paused",
            PluginState::Failed => "failed",
            PluginState::Stopped => "stopped",
        }
    }
}

/// An event a plugin could not process: it failed on this event alone,
/// from a clean state, so the host set it aside and went on.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub event: Event,
    /// The instrument the event is about, if any.
    pub instrument: Option<Arc<Instrument>>,
    pub fault: Fault,
    /// Wall time it was set aside, unix ms.
    pub at_ms: i64,
    /// SHA-256 of the plugin version that failed on it.
    pub version: String,
}

/// The last failure of a plugin.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErrorRecord {
    pub message: String,
    /// Wall time, unix ms.
    pub at_ms: i64,
}

/// Counters of one plugin. Written by its worker, read by anyone.
#[derive(Debug)]
pub struct PluginMetrics {
    state: AtomicU8,
    /// Market events and timers delivered (declarations excluded).
    pub events_in: AtomicU64,
    /// Events not delivered because the plugin was paused, quarantined or
    /// failed.
    pub events_dropped: AtomicU64,
    pub batches: AtomicU64,
    /// Failed calls (each trap, deadline, limit or `err`), including those
    /// met while isolating a poison event.
    pub errors: AtomicU64,
    /// Fresh instances started to recover from a failure.
    pub restarts: AtomicU64,
    /// Instances recycled: grown past `recycle_memory_mb`, their state
    /// moved into a fresh one between two batches.
    pub recycles: AtomicU64,
    /// Versions (or configs) switched to.
    pub swaps: AtomicU64,
    /// Swaps refused because the new version failed to compile, start or restore.
    pub swap_failures: AtomicU64,
    /// Events set aside as dead letters, in all.
    pub dead_letters_total: AtomicU64,
    /// Checkpoints made (state snapshots: the one at start, the periodic
    /// ones, after swaps and recoveries, the last at the stream's end).
    pub snapshots: AtomicU64,
    /// Size of the last state snapshot, bytes.
    pub snapshot_bytes: AtomicU64,
    /// Wall time of the last state snapshot, unix ms (0 before any).
    pub snapshot_at_ms: AtomicI64,
    /// When a quarantine ends, unix ms (0 when not quarantined).
    pub quarantined_until_ms: AtomicI64,
    outputs: [AtomicU64; 6],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
    /// Event time of the last event the plugin processed (ms), or `i64::MIN`.
    pub last_event_ts: AtomicI64,
    /// Bytes of linear memory the instance uses.
    pub memory_bytes: AtomicU64,
    /// Log lines of the plugin suppressed by its log rate limit.
    pub logs_suppressed: AtomicU64,
    last_error: Mutex<Option<ErrorRecord>>,
    dead_letters: Mutex<VecDeque<DeadLetter>>,
    dead_letters_kept: usize,
}

impl Default for PluginMetrics {
    fn default() -> Self {
        Self::new(1000)
    }
}

impl PluginMetrics {
    /// Counters keeping at most `dead_letters_kept` dead letters (the oldest go first).
    #[must_use]
    pub fn new(dead_letters_kept: usize) -> Self {
        Self {
            state: AtomicU8::new(0),
            events_in: AtomicU64::new(0),
            events_dropped: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            recycles: AtomicU64::new(0),
            swaps: AtomicU64::new(0),
            swap_failures: AtomicU64::new(0),
            dead_letters_total: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            snapshot_bytes: AtomicU64::new(0),
            snapshot_at_ms: AtomicI64::new(0),
            quarantined_until_ms: AtomicI64::new(0),
            outputs: Default::default(),
            latency_buckets: Default::default(),
            latency_sum_us: AtomicU64::new(0),
            last_event_ts: AtomicI64::new(i64::MIN),
            memory_bytes: AtomicU64::new(0),
            logs_suppressed: AtomicU64::new(0),
            last_error: Mutex::new(None),
            dead_letters: Mutex::new(VecDeque::new()),
            dead_letters_kept: dead_letters_kept.max(1),
        }
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> PluginState {
        let v = self.state.load(Ordering::Acquire) as usize;
        PluginState::ALL
            .get(v)
            .copied()
            .unwrap_or(PluginState::Stopped)
    }

    /// Sets the state.
    pub fn set_state(&self, state: PluginState) {
        let v = PluginState::ALL
            .iter()
            .position(|s| *s == state)
            .unwrap_or(0);
        self.state.store(v as u8, Ordering::Release);
    }

    /// Records a failure's text for the status API (without counting it as
    /// a failed call: see [`Self::record_fault`]).
    pub fn record_error(&self, message: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(ErrorRecord {
                message,
                at_ms: wall_ms(),
            });
        }
    }

    /// Counts a failed call and keeps its text.
    pub fn record_fault(&self, fault: &Fault) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.record_error(fault.to_string());
    }

    /// The last error's text.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.last_error_record().map(|e| e.message)
    }

    /// The last error, with when it happened.
    #[must_use]
    pub fn last_error_record(&self) -> Option<ErrorRecord> {
        self.last_error.lock().ok().and_then(|l| l.clone())
    }

    /// Keeps a dead letter (dropping the oldest beyond the limit).
    pub fn push_dead_letter(&self, letter: DeadLetter) {
        self.dead_letters_total.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut kept) = self.dead_letters.lock() {
            kept.push_back(letter);
            while kept.len() > self.dead_letters_kept {
                kept.pop_front();
            }
        }
    }

    /// The dead letters kept, oldest first.
    #[must_use]
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters
            .lock()
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Counts one output of `kind`.
    pub fn count_output(&self, kind: OutputKind) {
        self.outputs[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Outputs of `kind` so far.
    #[must_use]
    pub fn outputs(&self, kind: OutputKind) -> u64 {
        self.outputs[kind as usize].load(Ordering::Relaxed)
    }

    /// Records one `on-events` call's duration.
    pub fn observe_call(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Time spent in the plugin's calls so far, µs (the latency sum).
    #[must_use]
    pub fn busy_us(&self) -> u64 {
        self.latency_sum_us.load(Ordering::Relaxed)
    }

    /// Cumulative histogram: `(upper bound µs or None for +Inf, count ≤ bound)`,
    /// and the sum of all observations in µs.
    #[must_use]
    pub fn latency(&self) -> (Vec<(Option<u64>, u64)>, u64) {
        let mut cumulative = 0;
        let mut out = Vec::with_capacity(self.latency_buckets.len());
        for (i, bucket) in self.latency_buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            out.push((LATENCY_BUCKETS_US.get(i).copied(), cumulative));
        }
        (out, self.latency_sum_us.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = PluginMetrics::default();
        m.observe_call(Duration::from_micros(5));
        m.observe_call(Duration::from_micros(300));
        m.observe_call(Duration::from_secs(5));
        let (buckets, sum) = m.latency();
        assert_eq!(buckets[0], (Some(10), 1));
        assert_eq!(buckets[3], (Some(250), 1));
        assert_eq!(buckets[4], (Some(500), 2));
        assert_eq!(*buckets.last().unwrap(), (None, 3));
        assert_eq!(sum, 5_000_305);
    }

    #[test]
    fn states_round_trip_and_dead_letters_are_bounded() {
        let m = PluginMetrics::new(2);
        for s in PluginState::ALL {
            m.set_state(s);
            assert_eq!(m.state(), s);
        }
        for ts in 0..3 {
            m.push_dead_letter(DeadLetter {
                event: Event::Timer(prism_model::Timer { ts }),
                instrument: None,
                fault: Fault {
                    kind: prism_runtime::FaultKind::Panic,
                    message: "boom".into(),
                },
                at_ms: 0,
                version: String::new(),
            });
        }
        let kept: Vec<_> = m.dead_letters().iter().map(|d| d.event.ts()).collect();
        assert_eq!(kept, [Some(1), Some(2)]);
        assert_eq!(m.dead_letters_total.load(Ordering::Relaxed), 3);
    }
}
