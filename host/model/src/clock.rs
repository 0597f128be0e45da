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

/// The UTC calendar date of a unix millisecond time: (year, month 1–12,
/// day 1–31), proleptic Gregorian.
#[must_use]
pub fn civil_date(ts: TimestampMs) -> (i64, u32, u32) {
    // Howard Hinnant's civil-from-days algorithm.
    let days = ts.div_euclid(86_400_000) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=12, 1..=31).
    (year, month as u32, day as u32)
}

/// A unix millisecond time as RFC 3339 text in UTC:
/// `2023-11-14T22:13:20Z`, with `.mmm` when the milliseconds are not 0.
#[must_use]
pub fn utc_text(ts: TimestampMs) -> String {
    let (y, m, d) = civil_date(ts);
    let in_day = ts.rem_euclid(86_400_000);
    let (h, min, s, ms) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000,
    );
    if ms == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_in_utc() {
        // 1700000000 s is 2023-11-14 22:13:20 UTC (`date -u -d @1700000000`).
        assert_eq!(utc_text(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_text(1_700_000_000_250), "2023-11-14T22:13:20.250Z");
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        // A leap day, and the last millisecond of a year.
        assert_eq!(civil_date(951_782_400_000), (2000, 2, 29));
        assert_eq!(utc_text(1_704_067_199_999), "2023-12-31T23:59:59.999Z");
        assert_eq!(civil_date(-86_400_000), (1969, 12, 31));
    }
}
