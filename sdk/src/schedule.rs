//! Boundaries of event time and the shared grading of signals.

use crate::{Strength, TimestampMs};
use serde::{Deserialize, Serialize};

/// Boundaries at multiples of `step_ms` of event time, emitted when the
/// first event with `ts >= B` arrives for a boundary `B` not yet emitted.
/// Every boundary skipped by a gap is emitted, in order. Nothing happens at
/// the end of a stream. The first boundary is the first multiple of the
/// step after the first event's time.
///
/// ```
/// let mut b = prism_sdk::Boundaries::new(60_000);
/// assert!(b.due(30_000).is_empty());
/// assert_eq!(b.due(185_000), vec![60_000, 120_000, 180_000]);
/// assert!(b.due(185_001).is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boundaries {
    step_ms: i64,
    next: Option<TimestampMs>,
}

impl Boundaries {
    /// Boundaries every `step_ms` (which must be > 0; smaller counts as 1).
    #[must_use]
    pub fn new(step_ms: i64) -> Self {
        Self {
            step_ms: step_ms.max(1),
            next: None,
        }
    }

    /// These boundaries if they already step by `step_ms`, else fresh ones
    /// (for a restored state under a config with another step).
    #[must_use]
    pub fn with_step(self, step_ms: i64) -> Self {
        if self.step_ms == step_ms.max(1) {
            self
        } else {
            Self::new(step_ms)
        }
    }

    /// The step, ms.
    #[must_use]
    pub fn step_ms(&self) -> i64 {
        self.step_ms
    }

    /// The boundaries an event at `ts` makes due, oldest first (usually none).
    #[inline]
    pub fn due(&mut self, ts: TimestampMs) -> Vec<TimestampMs> {
        let step = self.step_ms;
        let next = *self
            .next
            .get_or_insert_with(|| ts.div_euclid(step) * step + step);
        if ts < next {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut at = next;
        while at <= ts {
            out.push(at);
            at += step;
        }
        self.next = Some(at);
        out
    }
}

/// The one grading convention of Prism's signals: `strong` at ≥ 3× the
/// plugin's threshold, `medium` at ≥ 2×, `weak` at ≥ 1×, and `None` below
/// it (no signal). `value` and `threshold` are magnitudes (compare
/// absolute values); a threshold ≤ 0 grades nothing.
///
/// ```
/// use prism_sdk::{grade, Strength};
/// assert_eq!(grade(300.0, 100.0), Some(Strength::Strong));
/// assert_eq!(grade(-250.0, 100.0), Some(Strength::Medium));
/// assert_eq!(grade(100.0, 100.0), Some(Strength::Weak));
/// assert_eq!(grade(99.9, 100.0), None);
/// ```
#[must_use]
pub fn grade(value: f64, threshold: f64) -> Option<Strength> {
    if threshold <= 0.0 || !value.is_finite() {
        return None;
    }
    let multiple = value.abs() / threshold;
    if multiple >= 3.0 {
        Some(Strength::Strong)
    } else if multiple >= 2.0 {
        Some(Strength::Medium)
    } else if multiple >= 1.0 {
        Some(Strength::Weak)
    } else {
        None
    }
}
