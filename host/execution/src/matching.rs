//! Filling working orders against the market, in event time.
//!
//! - A taker order (market, or a limit that crossed when placed) fills at
//!   the next trades on its instrument, up to each trade's size, at the
//!   trade's price made worse by the slippage (capped at its limit); when a
//!   fresh book is known it walks the book's levels instead, up to its limit.
//! - A resting limit order fills, as maker, at its limit price when a trade
//!   prints strictly through it (a trade at the limit price may not have
//!   reached it: the queue position is unknown), up to the trade's size.
//! - The orders of one instrument share a trade's size in time priority.
//! - A reduce-only order never fills past the position it reduces; what it
//!   can no longer reduce is canceled.

use crate::account::PaperAccount;
use prism_model::{Decimal, Fill, FillRecord, InstrumentId, Liquidity, OrderStatus, Side, decimal};
use rust_decimal::RoundingStrategy;
use std::sync::Arc;

/// Decimals a fill's price and fee keep: they go to the plugin as contract
/// decimals (64-bit mantissa), rounded against the trader.
const FILL_DECIMALS: u32 = 12;

/// Rounds `value` to at most [`FILL_DECIMALS`] places (fewer when the
/// 64-bit mantissa demands) with `strategy`.
pub(crate) fn contract_decimal(value: Decimal, strategy: RoundingStrategy) -> Decimal {
    let mut dp = FILL_DECIMALS;
    loop {
        let rounded = value.round_dp_with_strategy(dp, strategy).normalize();
        if decimal::exact(rounded).is_ok() || dp == 0 {
            return rounded;
        }
        dp -= 1;
    }
}

/// Liquidity a matching step offers one order: a price and a size.
struct Offer {
    price: Decimal,
    size: Decimal,
    liquidity: Liquidity,
}

impl PaperAccount {
    /// Fills working orders of `id` against a trade of `size` at `price`.
    pub(crate) fn match_trade(
        &mut self,
        id: InstrumentId,
        price: Decimal,
        size: Decimal,
        fills: &mut Vec<Fill>,
    ) {
        let book_buy = self
            .book
            .markets
            .get(&id)
            .is_some_and(|m| m.has_book(true, self.book.now, self.settings.stale_after_ms));
        let book_sell = self
            .book
            .markets
            .get(&id)
            .is_some_and(|m| m.has_book(false, self.book.now, self.settings.stale_after_ms));
        let slip = self.settings.slippage_bps / Decimal::from(10_000);
        let mut available = size;
        let mut at = 0;
        while at < self.book.working.len() && available > Decimal::ZERO {
            let w = &self.book.working[at];
            if w.record.instrument != id {
                at += 1;
                continue;
            }
            let buy = w.record.side == Side::Buy;
            let offer = if w.taker {
                if (buy && book_buy) || (!buy && book_sell) {
                    // Walked at the next book event instead.
                    at += 1;
                    continue;
                }
                let worse = if buy {
                    contract_decimal(
                        price * (Decimal::ONE + slip),
                        RoundingStrategy::ToPositiveInfinity,
                    )
                } else {
                    contract_decimal(
                        price * (Decimal::ONE - slip),
                        RoundingStrategy::ToNegativeInfinity,
                    )
                };
                match w.record.limit_price {
                    // A taker limit takes trades at or better than its limit.
                    Some(limit) if (buy && price > limit) || (!buy && price < limit) => None,
                    Some(limit) => Some(if buy {
                        worse.min(limit)
                    } else {
                        worse.max(limit)
                    }),
                    None => Some(worse),
                }
                .map(|p| Offer {
                    price: p,
                    size: available,
                    liquidity: Liquidity::Taker,
                })
            } else {
                let limit = w.record.limit_price.unwrap_or(price);
                let through = if buy { price < limit } else { price > limit };
                through.then_some(Offer {
                    price: limit,
                    size: available,
                    liquidity: Liquidity::Maker,
                })
            };
            let Some(offer) = offer else {
                at += 1;
                continue;
            };
            let filled = self.fill(at, &offer, fills);
            available -= filled;
            if self.end_if_done(at) {
                continue;
            }
            at += 1;
        }
        // After its first chance to take, a limit order rests as maker.
        for w in &mut self.book.working {
            if w.record.instrument == id && w.record.limit_price.is_some() {
                w.taker = false;
            }
        }
    }

    /// Walks the book of `id` for its taker orders.
    pub(crate) fn match_book(&mut self, id: InstrumentId, fills: &mut Vec<Fill>) {
        let mut at = 0;
        while at < self.book.working.len() {
            let w = &self.book.working[at];
            if w.record.instrument != id || !w.taker {
                at += 1;
                continue;
            }
            let buy = w.record.side == Side::Buy;
            let limit = w.record.limit_price;
            let fresh = self
                .book
                .markets
                .get(&id)
                .is_some_and(|m| m.has_book(buy, self.book.now, self.settings.stale_after_ms));
            if !fresh {
                at += 1;
                continue;
            }
            while let Some((price, size)) = self.best(id, buy) {
                if limit.is_some_and(|l| if buy { price > l } else { price < l }) {
                    break;
                }
                let offer = Offer {
                    price,
                    size,
                    liquidity: Liquidity::Taker,
                };
                let filled = self.fill(at, &offer, fills);
                if filled.is_zero() {
                    break;
                }
                let market = self.market(id);
                let side = if buy {
                    &mut market.asks
                } else {
                    &mut market.bids
                };
                // What this account took is gone until the venue says again.
                if size - filled <= Decimal::ZERO {
                    side.remove(&price);
                } else {
                    side.insert(price, size - filled);
                }
                if !self.book.working[at].record.status.is_working()
                    || self.book.working[at].remaining().is_zero()
                {
                    break;
                }
            }
            if self.end_if_done(at) {
                continue;
            }
            if self.book.working[at].record.limit_price.is_some() {
                self.book.working[at].taker = false;
            }
            at += 1;
        }
    }

    /// The best level a taker on `buy` side would take from `id`'s book.
    fn best(&self, id: InstrumentId, buy: bool) -> Option<(Decimal, Decimal)> {
        let market = self.book.markets.get(&id)?;
        let best = if buy {
            market.asks.first_key_value()
        } else {
            market.bids.last_key_value()
        };
        best.map(|(p, s)| (*p, *s))
    }

    /// Fills the working order at `at` from `offer` as far as its size, the
    /// offer's size and (reduce-only) its position allow. Returns the size.
    fn fill(&mut self, at: usize, offer: &Offer, fills: &mut Vec<Fill>) -> Decimal {
        let now = self.book.now;
        let w = &self.book.working[at];
        let id = w.record.instrument;
        let side = w.record.side;
        let mut size = w.remaining().min(offer.size);
        if w.record.reduce_only {
            let reducible = self
                .book
                .positions
                .get(&id)
                .map_or(Decimal::ZERO, |p| p.reducible(side));
            size = size.min(reducible);
        }
        if size <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        let exchange = self.names(id).0;
        let fees = self.settings.fees_of(&exchange);
        let rate = match offer.liquidity {
            Liquidity::Maker => fees.maker,
            Liquidity::Taker => fees.taker,
        };
        // Up, toward what the trader pays: a rebate (negative) rounds toward zero.
        let fee = contract_decimal(
            offer.price * size * rate,
            RoundingStrategy::ToPositiveInfinity,
        );
        let realized =
            self.book
                .positions
                .entry(id)
                .or_default()
                .fill(side, offer.price, size, fee, now);
        self.schedule_funding(id);
        self.dirty.insert(id);
        let w = &mut self.book.working[at];
        let before = w.record.filled;
        w.record.filled += size;
        w.record.fees += fee;
        w.record.average_price = Some(match w.record.average_price {
            None => offer.price,
            Some(avg) => ((avg * before + offer.price * size) / w.record.filled).normalize(),
        });
        w.record.fees = w.record.fees.normalize();
        w.record.status = if w.remaining().is_zero() {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        w.record.updated_ts = now;
        w.fills += 1;
        let record = &w.record;
        fills.push(Fill {
            client_id: record.client_id.clone(),
            instrument: id,
            ts: now,
            price: offer.price,
            size,
            side,
            fee,
        });
        self.report.fills.push(FillRecord {
            id: Arc::from(format!("{}:{}", record.id, w.fills)),
            order_id: record.id.clone(),
            plugin: record.plugin.clone(),
            client_id: record.client_id.clone(),
            instrument: id,
            exchange: record.exchange.clone(),
            symbol: record.symbol.clone(),
            side,
            price: offer.price,
            size,
            fee,
            liquidity: offer.liquidity,
            realized,
            ts: now,
        });
        size
    }

    /// Ends the order at `at` if it is filled, or is reduce-only with
    /// nothing left to reduce; reports it. Returns whether it ended.
    fn end_if_done(&mut self, at: usize) -> bool {
        let now = self.book.now;
        let w = &mut self.book.working[at];
        let id = w.record.instrument;
        let nothing_to_reduce = w.record.reduce_only
            && self
                .book
                .positions
                .get(&id)
                .is_none_or(|p| p.reducible(w.record.side).is_zero());
        if w.remaining().is_zero() {
            w.record.status = OrderStatus::Filled;
        } else if nothing_to_reduce {
            w.record.status = OrderStatus::Canceled;
            w.record.reason = Some("reduce-only: the position is closed".into());
            w.record.updated_ts = now;
        } else {
            if w.fills > 0 {
                let record = w.record.clone();
                self.report.orders.push(record);
            }
            return false;
        }
        let record = self.book.working.remove(at).record;
        self.unprotect(&record);
        self.report.orders.push(record);
        true
    }
}
