//! Pacing and counting for sources.

use prism_model::TimestampMs;
use std::sync::atomic::{AtomicU64, Ordering};
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

    /// Sleeps until an event at `ts` is due.
    pub fn wait_for(&mut self, ts: TimestampMs) {
        let delay = self.delay_for(ts);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
    }
}

/// Counters of a source, readable while it runs.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Events emitted (declarations excluded).
    pub events: AtomicU64,
    /// Malformed records skipped.
    pub skipped: AtomicU64,
    /// Event time of the last event emitted.
    pub last_ts: std::sync::atomic::AtomicI64,
}

impl SourceStats {
    /// Adds `n` events up to `ts`.
    pub fn emitted(&self, n: u64, ts: Option<TimestampMs>) {
        self.events.fetch_add(n, Ordering::Relaxed);
        if let Some(ts) = ts {
            self.last_ts.fetch_max(ts, Ordering::Relaxed);
        }
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
}
