//! Boundaries of event time (the host's own rule, from `prism-model`, so a
//! plugin's schedule and the host's `timer` events agree) and the shared
//! grading of signals.

use crate::Strength;

pub use prism_model::schedule::Boundaries;

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
