//! Candles (klines) and tickers (best bid/offer with the venue's summary).

use crate::event::Level;
use crate::{Decimal, InstrumentId, TimestampMs};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The unit of a candle interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    /// A calendar month (UTC).
    Month,
}

impl IntervalUnit {
    fn letter(self) -> char {
        match self {
            IntervalUnit::Second => 's',
            IntervalUnit::Minute => 'm',
            IntervalUnit::Hour => 'h',
            IntervalUnit::Day => 'd',
            IntervalUnit::Week => 'w',
            IntervalUnit::Month => 'M',
        }
    }

    /// Milliseconds in one unit; none for a month, whose length varies.
    #[must_use]
    pub fn fixed_ms(self) -> Option<i64> {
        match self {
            IntervalUnit::Second => Some(1_000),
            IntervalUnit::Minute => Some(60_000),
            IntervalUnit::Hour => Some(3_600_000),
            IntervalUnit::Day => Some(86_400_000),
            IntervalUnit::Week => Some(604_800_000),
            IntervalUnit::Month => None,
        }
    }
}

/// A candle interval: `count` units. Written `1s`, `15m`, `4h`, `1d`, `1w`,
/// `1M` (capital M: month; lower-case m: minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CandleInterval {
    pub count: u32,
    pub unit: IntervalUnit,
}

/// Why an interval text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a candle interval: {reason} (e.g. 1s, 1m, 15m, 1h, 4h, 1d, 1w, 1M)")]
pub struct IntervalError {
    pub text: String,
    pub reason: &'static str,
}

/// Longest interval accepted, in each unit: a year, and no more than
/// 65,535 units (the contract's `u16`).
const MAX_COUNT: [(IntervalUnit, u32); 6] = [
    (IntervalUnit::Second, 65_535),
    (IntervalUnit::Minute, 65_535),
    (IntervalUnit::Hour, 8_760),
    (IntervalUnit::Day, 366),
    (IntervalUnit::Week, 53),
    (IntervalUnit::Month, 12),
];

impl CandleInterval {
    /// `count` units, if that is between one unit and a year (at most
    /// 65,535 seconds or minutes when not a whole number of a larger unit).
    ///
    /// # Errors
    /// When `count` is 0 or longer than a year.
    /// Written in the largest unit it is a whole number of (`60m` is
    /// `1h`, `24h` is `1d`, `7d` is `1w`), so one interval has one name
    /// whichever venue it came from.
    pub fn new(count: u32, unit: IntervalUnit) -> Result<Self, IntervalError> {
        let refuse = || IntervalError {
            text: format!("{count}{}", unit.letter()),
            reason: "the count must be from 1 up to a year (at most 65535 seconds or minutes)",
        };
        if count == 0 {
            return Err(refuse());
        }
        let (mut n, mut u) = (count, unit);
        loop {
            let (factor, larger) = match u {
                IntervalUnit::Second => (60, IntervalUnit::Minute),
                IntervalUnit::Minute => (60, IntervalUnit::Hour),
                IntervalUnit::Hour => (24, IntervalUnit::Day),
                IntervalUnit::Day => (7, IntervalUnit::Week),
                IntervalUnit::Week | IntervalUnit::Month => break,
            };
            if n % factor != 0 {
                break;
            }
            n /= factor;
            u = larger;
        }
        let max = MAX_COUNT
            .iter()
            .find(|(unit, _)| *unit == u)
            .map_or(1, |(_, m)| *m);
        if n > max {
            return Err(refuse());
        }
        Ok(Self { count: n, unit: u })
    }

    /// Length in milliseconds; none for months.
    #[must_use]
    pub fn fixed_ms(self) -> Option<i64> {
        self.unit.fixed_ms().map(|ms| ms * i64::from(self.count))
    }

    /// Start of the interval holding `ts`. Fixed intervals are aligned to
    /// the unix epoch, except weeks, which start on Monday 00:00 UTC as
    /// venues count them; months start on the first of a month, counted
    /// from January 1970.
    #[must_use]
    pub fn open_of(self, ts: TimestampMs) -> TimestampMs {
        match self.unit {
            IntervalUnit::Month => {
                let (y, m) = year_month(ts);
                let months = (y - 1970) * 12 + (m - 1);
                let start = months - months.rem_euclid(i64::from(self.count));
                month_start(start)
            }
            IntervalUnit::Week => {
                // 1970-01-01 was a Thursday; the Monday before is 3 days earlier.
                const MONDAY: i64 = -3 * 86_400_000;
                let len = self.fixed_ms().unwrap_or(1);
                ts - (ts - MONDAY).rem_euclid(len)
            }
            _ => {
                let len = self.fixed_ms().unwrap_or(1);
                ts - ts.rem_euclid(len)
            }
        }
    }

    /// Start of the interval after the one opening at `open`.
    #[must_use]
    pub fn next_open(self, open: TimestampMs) -> TimestampMs {
        match self.unit {
            IntervalUnit::Month => {
                let (y, m) = year_month(open);
                month_start((y - 1970) * 12 + (m - 1) + i64::from(self.count))
            }
            _ => open + self.fixed_ms().unwrap_or(1),
        }
    }
}

/// Year and month (1-based) of a unix millisecond time, UTC.
fn year_month(ts: TimestampMs) -> (i64, i64) {
    let (year, month, _) = crate::clock::civil_date(ts);
    (year, i64::from(month))
}

/// Unix ms of the first day of the month `months` after January 1970.
fn month_start(months: i64) -> TimestampMs {
    let y = 1970 + months.div_euclid(12);
    let m = months.rem_euclid(12) + 1;
    // Howard Hinnant's days-from-civil algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400_000
}

impl fmt::Display for CandleInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.letter())
    }
}

impl FromStr for CandleInterval {
    type Err = IntervalError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = |reason| IntervalError {
            text: text.chars().take(32).collect(),
            reason,
        };
        let Some(letter) = text.chars().last() else {
            return Err(refuse("it is empty"));
        };
        let unit = match letter {
            's' => IntervalUnit::Second,
            'm' => IntervalUnit::Minute,
            'h' | 'H' => IntervalUnit::Hour,
            'd' | 'D' => IntervalUnit::Day,
            'w' | 'W' => IntervalUnit::Week,
            'M' => IntervalUnit::Month,
            _ => return Err(refuse("it must end in s, m, h, d, w or M")),
        };
        let digits = &text[..text.len() - letter.len_utf8()];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 9 {
            return Err(refuse("it must start with a whole number"));
        }
        let count = digits
            .parse()
            .map_err(|_| refuse("the count is too large"))?;
        CandleInterval::new(count, unit).map_err(|e| refuse(e.reason))
    }
}

impl Serialize for CandleInterval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CandleInterval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An OHLCV candle; volumes in base-asset units. `ts` is the event time of
/// this value (for a candle built from trades, the boundary that closed
/// it); `closed` marks a candle's final value.
#[derive(Debug, Clone, PartialEq)]
pub struct Candle {
    pub instrument: InstrumentId,
    pub ts: TimestampMs,
    pub received_ts: TimestampMs,
    pub interval: CandleInterval,
    pub open_ts: TimestampMs,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
    pub quote_volume: Option<Decimal>,
    pub trades: Option<u64>,
    pub closed: bool,
}

/// Best bid and offer with the venue's summary; every optional field is
/// given only where the venue's message carries it. Sizes in base units.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticker {
    pub instrument: InstrumentId,
    pub ts: TimestampMs,
    pub received_ts: TimestampMs,
    pub best_bid: Option<Level>,
    pub best_ask: Option<Level>,
    pub last_price: Option<Decimal>,
    pub volume_24h: Option<Decimal>,
    pub quote_volume_24h: Option<Decimal>,
    /// Last price minus the price 24 hours ago.
    pub change_24h: Option<Decimal>,
    pub change_24h_percent: Option<Decimal>,
    pub mark_price: Option<Decimal>,
    pub index_price: Option<Decimal>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(text: &str) -> CandleInterval {
        text.parse().unwrap()
    }

    #[test]
    fn intervals_parse_and_print() {
        for text in ["1s", "1m", "15m", "4h", "1d", "3d", "1w", "1M", "3M"] {
            assert_eq!(i(text).to_string(), text);
        }
        assert_eq!(i("1H"), i("1h"));
        assert_eq!(i("60m").to_string(), "1h");
        assert_eq!(i("120m").to_string(), "2h");
        assert_eq!(i("1440m").to_string(), "1d");
        assert_eq!(i("14d").to_string(), "2w");
        assert_eq!(i("90m").to_string(), "90m");
        // Normalized first, then bounded: 1000 hours in seconds is fine.
        assert_eq!(i("3600000s").to_string(), "1000h");
        assert!("65537s".parse::<CandleInterval>().is_err());
        assert!("367d".parse::<CandleInterval>().is_err());
        assert_eq!(i("1D").fixed_ms(), Some(86_400_000));
        for bad in [
            "",
            "m",
            "0m",
            "1x",
            "-1m",
            "1.5h",
            "13M",
            "99999999999m",
            "1 m",
        ] {
            assert!(bad.parse::<CandleInterval>().is_err(), "{bad}");
        }
    }

    #[test]
    fn fixed_intervals_align_to_the_epoch_and_weeks_to_monday() {
        // 2023-11-14T22:13:20Z
        let ts = 1_700_000_000_000;
        assert_eq!(i("1m").open_of(ts), 1_699_999_980_000);
        assert_eq!(i("1h").open_of(ts), 1_699_999_200_000);
        assert_eq!(i("4h").open_of(ts), 1_699_992_000_000);
        assert_eq!(i("1d").open_of(ts), 1_699_920_000_000);
        // Monday 2023-11-13T00:00Z.
        assert_eq!(i("1w").open_of(ts), 1_699_833_600_000);
        assert_eq!(i("1m").open_of(1_699_999_980_000), 1_699_999_980_000);
        assert_eq!(i("1m").next_open(1_699_999_980_000), 1_700_000_040_000);
    }

    #[test]
    fn months_follow_the_calendar() {
        // 2024-02-29T12:00Z is in February 2024 (leap year).
        let ts = 1_709_208_000_000;
        // 2024-02-01T00:00Z and 2024-03-01T00:00Z.
        assert_eq!(i("1M").open_of(ts), 1_706_745_600_000);
        assert_eq!(i("1M").next_open(1_706_745_600_000), 1_709_251_200_000);
        // Quarters from January: 2024-01-01 .. 2024-04-01.
        assert_eq!(i("3M").open_of(ts), 1_704_067_200_000);
        assert_eq!(i("3M").next_open(1_704_067_200_000), 1_711_929_600_000);
        // December rolls into the next year: 2023-12-01 → 2024-01-01.
        assert_eq!(i("1M").next_open(1_701_388_800_000), 1_704_067_200_000);
    }
}
