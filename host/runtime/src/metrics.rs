//! Per-plugin counters and state, updated by the plugin's worker with atomics
//! only, so the API can read them without touching the hot path.

use prism_model::OutputKind;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the call-latency histogram buckets, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 12] = [
    10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000, 1_000_000,
];

/// A plugin's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    Starting,
    Running,
    Failed,
    Stopped,
}

impl PluginState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => PluginState::Starting,
            1 => PluginState::Running,
            2 => PluginState::Failed,
            _ => PluginState::Stopped,
        }
    }

    /// The name used in the API and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Starting => "starting",
            PluginState::Running => "running",
            PluginState::Failed => "failed",
            PluginState::Stopped => "stopped",
        }
    }
}

/// Counters of one plugin. Written by its worker, read by anyone.
#[derive(Debug)]
pub struct PluginMetrics {
    state: AtomicU8,
    /// Market events and timers delivered (declarations excluded).
    pub events_in: AtomicU64,
    /// Events that arrived after the plugin failed and were not delivered.
    pub events_dropped: AtomicU64,
    pub batches: AtomicU64,
    pub errors: AtomicU64,
    outputs: [AtomicU64; 6],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
    /// Event time of the last event the plugin processed (ms), or `i64::MIN`.
    pub last_event_ts: AtomicI64,
    /// Bytes of linear memory the instance uses.
    pub memory_bytes: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Default for PluginMetrics {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(0),
            events_in: AtomicU64::new(0),
            events_dropped: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            outputs: Default::default(),
            latency_buckets: Default::default(),
            latency_sum_us: AtomicU64::new(0),
            last_event_ts: AtomicI64::new(i64::MIN),
            memory_bytes: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }
}

impl PluginMetrics {
    /// Current state.
    #[must_use]
    pub fn state(&self) -> PluginState {
        PluginState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Sets the state.
    pub fn set_state(&self, state: PluginState) {
        let v = match state {
            PluginState::Starting => 0,
            PluginState::Running => 1,
            PluginState::Failed => 2,
            PluginState::Stopped => 3,
        };
        self.state.store(v, Ordering::Release);
    }

    /// Records a failure: counts it and keeps its text for the status API.
    pub fn record_error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message);
        }
    }

    /// The last error's text.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|l| l.clone())
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
}
