//! Wall-clock time, for what happens outside event time: when a snapshot
//! was taken, when an operator swapped a plugin, how long a feed has been
//! silent. The pipeline's decisions (timers, windows, fills) use event time
//! only, so a replay gives the same outputs whenever it runs.

use crate::TimestampMs;

/// A source of wall-clock time. Tests and replays can supply their own.
pub trait Clock: Send + Sync {
    /// Now, in unix milliseconds.
    fn now_ms(&self) -> TimestampMs;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> TimestampMs {
        wall_ms()
    }
}

/// The system's clock now, in unix milliseconds (0 if it is set before 1970).
#[must_use]
pub fn wall_ms() -> TimestampMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
