//! A position's arithmetic: fills move its size and entry and realize
//! price PnL; funding pays or earns; all exact decimals.

use prism_model::{Decimal, Side, TimestampMs};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// Signed base units: positive long.
    pub(crate) size: Decimal,
    /// Size-weighted entry of the open size (zero when flat).
    pub(crate) entry: Decimal,
    pub(crate) realized: Decimal,
    pub(crate) funding: Decimal,
    pub(crate) fees: Decimal,
    /// When the open size was opened (from flat), event time.
    pub(crate) opened_ts: TimestampMs,
    /// The announced funding time this position pays at next (venues that
    /// announce them).
    pub(crate) funding_due: Option<TimestampMs>,
    /// When it last paid funding (venues that do not announce funding
    /// times pay at the first funding event of each new interval).
    pub(crate) last_funding: Option<TimestampMs>,
    /// A stop-loss or take-profit order is working for it.
    pub(crate) protecting: bool,
}

impl Position {
    /// Applies a fill of `size` at `price`; returns the price PnL it
    /// realized. A fill past the open size closes it and opens the rest on
    /// the other side at `price`.
    pub(crate) fn fill(
        &mut self,
        side: Side,
        price: Decimal,
        size: Decimal,
        fee: Decimal,
        ts: TimestampMs,
    ) -> Decimal {
        let signed = match side {
            Side::Buy => size,
            Side::Sell => -size,
        };
        self.fees += fee;
        let mut realized = Decimal::ZERO;
        if self.size.is_zero() || self.size.is_sign_positive() == signed.is_sign_positive() {
            // Opening or adding: the entry is the size-weighted average.
            let open = self.size.abs();
            self.entry = if open.is_zero() {
                price
            } else {
                (self.entry * open + price * size) / (open + size)
            };
            if self.size.is_zero() {
                self.opened_ts = ts;
            }
            self.size += signed;
            return realized;
        }
        let closing = size.min(self.size.abs());
        realized = if self.size.is_sign_positive() {
            (price - self.entry) * closing
        } else {
            (self.entry - price) * closing
        };
        self.realized += realized;
        self.size += signed;
        if self.size.is_zero() {
            self.entry = Decimal::ZERO;
            self.funding_due = None;
            self.last_funding = None;
            self.protecting = false;
        } else if self.size.is_sign_positive() == signed.is_sign_positive() {
            // Flipped: the rest opened at this price.
            self.entry = price;
            self.opened_ts = ts;
            self.funding_due = None;
            self.last_funding = None;
            self.protecting = false;
        }
        realized
    }

    /// Price PnL of the open size at `mark`.
    pub(crate) fn unrealized(&self, mark: Option<Decimal>) -> Decimal {
        match mark {
            Some(mark) if !self.size.is_zero() => (mark - self.entry) * self.size,
            _ => Decimal::ZERO,
        }
    }

    /// `realized + unrealized + funding − fees`.
    pub(crate) fn total(&self, mark: Option<Decimal>) -> Decimal {
        self.realized + self.unrealized(mark) + self.funding - self.fees
    }

    /// Pays or earns funding: `−size × mark × rate`. Returns the amount.
    pub(crate) fn pay_funding(&mut self, mark: Decimal, rate: Decimal) -> Decimal {
        let amount = -(self.size * mark * rate);
        self.funding += amount;
        amount
    }

    /// How much an order of `side` may reduce this position by (zero when
    /// it would add to it or the position is flat).
    pub(crate) fn reducible(&self, side: Side) -> Decimal {
        match side {
            Side::Buy if self.size.is_sign_negative() => -self.size,
            Side::Sell if self.size.is_sign_positive() => self.size,
            _ => Decimal::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::decimal::parse;

    fn d(s: &str) -> Decimal {
        parse(s).unwrap()
    }

    /// Buy 1 @ 100, buy 3 @ 104 → 4 @ 103; sell 5 @ 110 realizes
    /// (110 − 103) × 4 = 28 and leaves 1 short @ 110.
    #[test]
    fn adds_average_and_a_flip_realizes_then_reopens() {
        let mut p = Position::default();
        assert_eq!(p.fill(Side::Buy, d("100"), d("1"), d("0"), 1), d("0"));
        p.fill(Side::Buy, d("104"), d("3"), d("0"), 2);
        assert_eq!((p.size, p.entry), (d("4"), d("103")));
        assert_eq!(p.fill(Side::Sell, d("110"), d("5"), d("0.5"), 3), d("28"));
        assert_eq!(
            (p.size, p.entry, p.realized, p.fees),
            (d("-1"), d("110"), d("28"), d("0.5"))
        );
        // Short 1 @ 110 marked at 100: +10 unrealized; total 28 + 10 − 0.5.
        assert_eq!(p.unrealized(Some(d("100"))), d("10"));
        assert_eq!(p.total(Some(d("100"))), d("37.5"));
    }

    /// A short of 2 at mark 30000 with rate 0.0001 earns 2 × 30000 × 0.0001 = 6;
    /// a long pays the same.
    #[test]
    fn funding_is_minus_size_times_mark_times_rate() {
        let mut short = Position {
            size: d("-2"),
            entry: d("30000"),
            ..Position::default()
        };
        assert_eq!(short.pay_funding(d("30000"), d("0.0001")), d("6"));
        let mut long = Position {
            size: d("2"),
            entry: d("30000"),
            ..Position::default()
        };
        assert_eq!(long.pay_funding(d("30000"), d("0.0001")), d("-6"));
        // A negative rate reverses it.
        assert_eq!(long.pay_funding(d("30000"), d("-0.0001")), d("6"));
        assert_eq!(long.funding, d("0"));
    }
}
