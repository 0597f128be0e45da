//! The boundary rule of event time, shared by the router's `timer` events
//! and the plugins' schedules (through the SDK): one implementation.
//!
//! Boundaries lie at the multiples of a step. The first is the first
//! multiple after the first event's time; boundary `B` is due when the
//! first event with `ts >= B` arrives, and every boundary a gap skipped is
//! due then too, in order. Nothing happens at the end of a stream.

use crate::TimestampMs;
use serde::{Deserialize, Serialize};

/// Calls `emit` for each boundary of `step` (≥ 1) an event at `ts` makes
/// due, oldest first, and keeps the next one in `next` (`None` before the
/// first event). At most `max` are emitted: over a longer gap the oldest
/// are skipped, and their number is returned.
///
/// ```
/// let mut next = None;
/// let mut due = Vec::new();
/// prism_model::schedule::advance(&mut next, 60_000, 30_000, u64::MAX, |b| due.push(b));
/// assert!(due.is_empty());
/// prism_model::schedule::advance(&mut next, 60_000, 185_000, u64::MAX, |b| due.push(b));
/// assert_eq!(due, [60_000, 120_000, 180_000]);
/// assert_eq!(prism_model::schedule::advance(&mut next, 60_000, 600_000, 2, |_| {}), 5);
/// assert_eq!(next, Some(660_000));
/// ```
#[inline]
pub fn advance(
    next: &mut Option<TimestampMs>,
    step: i64,
    ts: TimestampMs,
    max: u64,
    mut emit: impl FnMut(TimestampMs),
) -> u64 {
    let step = step.max(1);
    let mut at = *next.get_or_insert_with(|| ts.div_euclid(step) * step + step);
    if ts < at {
        return 0;
    }
    let due = u64::try_from((ts - at) / step)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let skipped = due.saturating_sub(max);
    at = at.saturating_add(
        i64::try_from(skipped)
            .unwrap_or(i64::MAX)
            .saturating_mul(step),
    );
    while at <= ts {
        emit(at);
        at += step;
    }
    *next = Some(at);
    skipped
}

/// Boundaries at multiples of `step_ms` of event time (see the module).
///
/// ```
/// let mut b = prism_model::schedule::Boundaries::new(60_000);
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

    /// Boundaries every `step_ms` whose next one is `next` (a schedule
    /// kept in another shape, e.g. an earlier version's state).
    #[must_use]
    pub fn resume(step_ms: i64, next: Option<TimestampMs>) -> Self {
        Self {
            step_ms: step_ms.max(1),
            next,
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

    /// Calls `emit` for each boundary an event at `ts` makes due, oldest
    /// first (usually none).
    #[inline]
    pub fn advance(&mut self, ts: TimestampMs, emit: impl FnMut(TimestampMs)) {
        advance(&mut self.next, self.step_ms, ts, u64::MAX, emit);
    }

    /// The boundaries an event at `ts` makes due, oldest first (usually none).
    #[inline]
    pub fn due(&mut self, ts: TimestampMs) -> Vec<TimestampMs> {
        let mut out = Vec::new();
        self.advance(ts, |b| out.push(b));
        out
    }
}
