//! What the executor knows of one instrument's market: its last price, its
//! book (when books are subscribed) and its funding schedule.

use prism_model::{Book, Decimal, Funding, Level, TimestampMs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Levels kept per side at most: a walk deeper than this is not credible
/// for a paper fill, and the copy stays bounded whatever the feed sends.
pub(crate) const MAX_LEVELS: usize = 500;

/// Prices and sizes the account takes at most (10^12): larger ones are not
/// credible market data, and bounding them keeps every product and sum of
/// the account's arithmetic far inside the exact decimal's range (no
/// overflow, so no panic, whatever a feed or a plugin sends).
pub(crate) const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

/// Whether `value` is within [`MAX_AMOUNT`] (either sign).
pub(crate) fn sane(value: Decimal) -> bool {
    value.abs() <= MAX_AMOUNT
}

/// One side of a book: price → size.
pub(crate) type Side = BTreeMap<Decimal, Decimal>;

/// A funding rate announced for a funding time (`next_funding_ts`), with
/// the mark price that came with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Announced {
    pub(crate) at: TimestampMs,
    pub(crate) rate: Decimal,
    pub(crate) mark: Option<Decimal>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Market {
    /// The last price and its event time (trade, book mid, funding mark).
    pub(crate) price: Option<(Decimal, TimestampMs)>,
    pub(crate) bids: Side,
    pub(crate) asks: Side,
    /// Event time of the last book update (0: never).
    pub(crate) book_ts: TimestampMs,
    /// Funding interval in hours, from the last funding event.
    pub(crate) interval_hours: u32,
    /// Whether this instrument's funding events name the next funding time
    /// (then the rate paid is the one announced for it).
    pub(crate) scheduled: bool,
    /// The latest rate announced for the coming funding time.
    pub(crate) announced: Option<Announced>,
}

impl Market {
    pub(crate) fn set_price(&mut self, price: Decimal, ts: TimestampMs) {
        if price > Decimal::ZERO && sane(price) {
            self.price = Some((price, ts));
        }
    }

    /// Applies a book snapshot or delta (size 0 removes a level), keeping
    /// the best [`MAX_LEVELS`] a side.
    pub(crate) fn apply_book(&mut self, book: &Book) {
        if book.snapshot {
            self.bids.clear();
            self.asks.clear();
        }
        apply_levels(&mut self.bids, &book.bids);
        apply_levels(&mut self.asks, &book.asks);
        while self.bids.len() > MAX_LEVELS {
            self.bids.pop_first();
        }
        while self.asks.len() > MAX_LEVELS {
            self.asks.pop_last();
        }
        self.book_ts = book.ts;
        if let (Some((bid, _)), Some((ask, _))) =
            (self.bids.last_key_value(), self.asks.first_key_value())
        {
            self.set_price((*bid + *ask) / Decimal::TWO, book.ts);
        }
    }

    /// Whether a book was seen within `stale_after_ms` of `now` and has
    /// levels on the side a taker of `buy` would take.
    pub(crate) fn has_book(
        &self,
        buy: bool,
        now: TimestampMs,
        stale_after_ms: TimestampMs,
    ) -> bool {
        let side = if buy { &self.asks } else { &self.bids };
        self.book_ts > 0 && now - self.book_ts <= stale_after_ms && !side.is_empty()
    }

    /// Learns a funding event's rate, interval and mark.
    /// Whether a funding event's numbers are credible (a rate of at most
    /// 100 % an interval, a sane mark).
    pub(crate) fn credible(f: &Funding) -> bool {
        f.rate.abs() <= Decimal::ONE && f.mark_price.is_none_or(sane)
    }

    pub(crate) fn apply_funding(&mut self, f: &Funding) {
        if f.interval_hours > 0 {
            self.interval_hours = f.interval_hours;
        }
        if let Some(mark) = f.mark_price {
            self.set_price(mark, f.ts);
        }
        if let Some(next) = f.next_funding_ts.filter(|next| *next > f.ts) {
            self.scheduled = true;
            self.announced = Some(Announced {
                at: next,
                rate: f.rate,
                mark: f.mark_price,
            });
        }
    }

    /// The funding interval, ms (8 h when no funding event said).
    pub(crate) fn interval_ms(&self) -> TimestampMs {
        let hours = if self.interval_hours == 0 {
            8
        } else {
            self.interval_hours
        };
        TimestampMs::from(hours) * 3_600_000
    }
}

fn apply_levels(side: &mut Side, levels: &[Level]) {
    for level in levels {
        if level.size <= Decimal::ZERO {
            side.remove(&level.price);
        } else if level.price > Decimal::ZERO && sane(level.price) && sane(level.size) {
            side.insert(level.price, level.size);
        }
    }
}

/// The first funding time after `ts` on a schedule of `interval_ms` from
/// the unix epoch (venues fund at whole hours of UTC).
pub(crate) fn next_boundary(ts: TimestampMs, interval_ms: TimestampMs) -> TimestampMs {
    (ts.div_euclid(interval_ms) + 1) * interval_ms
}
