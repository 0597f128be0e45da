//! Pacing and counting for sources.

use prism_model::TimestampMs;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Holds a source to a pace: `pace` event-time seconds per wall second
/// (1.0 = real time, 0 = as fast as possible).
#[derive(Debug)]
pub struct Pacer {
    pace: f64,
    origin: Option<(Instant, TimestampMs)>,
}

impl Pacer {
    /// A pacer at `pace`.
    #[must_use]
    pub fn new(pace: f64) -> Self {
        Self { pace, origin: None }
    }

    /// How long to wait before emitting an event at `ts`.
    pub fn delay_for(&mut self, ts: TimestampMs) -> Duration {
        if self.pace <= 0.0 {
            return Duration::ZERO;
        }
        let (wall, first) = *self.origin.get_or_insert((Instant::now(), ts));
        let due = Duration::from_secs_f64(((ts - first).max(0) as f64 / 1000.0) / self.pace);
        due.saturating_sub(wall.elapsed())
    }

    /// Sleeps until an event at `ts` is due, or `stop` is set (checked
    /// every 50 ms: a paced source never holds a shutdown back).
    pub fn wait_for(&mut self, ts: TimestampMs, stop: &std::sync::atomic::AtomicBool) {
        let mut delay = self.delay_for(ts);
        while !delay.is_zero() && !stop.load(Ordering::Relaxed) {
            let step = delay.min(Duration::from_millis(50));
            std::thread::sleep(step);
            delay -= step;
        }
    }
}

/// Where a source stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// Emitting events (or waiting for them).
    Running,
    /// A finite source (a replay file, a simulator with a duration) reached
    /// its end.
    Finished,
    /// The source stopped on an error; no more events will come.
    Failed,
}

/// Counters and state of a source, readable while it runs.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Events emitted (declarations excluded).
    pub events: AtomicU64,
    /// Malformed records skipped.
    pub skipped: AtomicU64,
    /// Event time of the last event emitted.
    pub last_ts: std::sync::atomic::AtomicI64,
    /// Bytes of the input read, and its size (0: unknown), for progress.
    pub bytes_read: AtomicU64,
    pub bytes_total: AtomicU64,
    state: AtomicU8,
    error: Mutex<Option<String>>,
}

impl SourceStats {
    /// Records how far through its input the source is.
    pub fn read_bytes(&self, done: u64, total: u64) {
        self.bytes_read.store(done, Ordering::Relaxed);
        self.bytes_total.store(total, Ordering::Relaxed);
    }

    /// Adds `n` events up to `ts`.
    pub fn emitted(&self, n: u64, ts: Option<TimestampMs>) {
        self.events.fetch_add(n, Ordering::Relaxed);
        if let Some(ts) = ts {
            self.last_ts.fetch_max(ts, Ordering::Relaxed);
        }
    }

    /// The source's state now.
    #[must_use]
    pub fn state(&self) -> SourceState {
        match self.state.load(Ordering::Acquire) {
            0 => SourceState::Running,
            1 => SourceState::Finished,
            _ => SourceState::Failed,
        }
    }

    /// Why the source failed, when it did.
    #[must_use]
    pub fn error(&self) -> Option<String> {
        self.error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records how the source ended: `None` for a normal end.
    pub fn ended(&self, error: Option<String>) {
        let failed = error.is_some();
        *self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = error;
        self.state.store(u8::from(failed) + 1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_event_time_against_wall_time() {
        let mut p = Pacer::new(1000.0);
        assert_eq!(p.delay_for(0), Duration::ZERO);
        let d = p.delay_for(2_000);
        assert!(
            d > Duration::from_millis(1) && d <= Duration::from_millis(2),
            "{d:?}"
        );
        assert_eq!(Pacer::new(0.0).delay_for(1_000_000), Duration::ZERO);
    }

    #[test]
    fn a_source_reports_how_it_ended() {
        let s = SourceStats::default();
        assert_eq!(s.state(), SourceState::Running);
        s.ended(Some("disk on fire".into()));
        assert_eq!(s.state(), SourceState::Failed);
        assert_eq!(s.error().as_deref(), Some("disk on fire"));
        let s = SourceStats::default();
        s.ended(None);
        assert_eq!(s.state(), SourceState::Finished);
        assert_eq!(s.error(), None);
    }
}
