//! What the paper executor is told: fees per venue, slippage, when an
//! instrument's price is too old to trade on, and the risk limits.

use prism_model::{Decimal, Instrument, TimestampMs};
use std::collections::BTreeMap;

/// Maker and taker fee rates of a venue (`0.0002` = 0.02 % of notional).
/// A negative maker rate is a rebate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fees {
    pub maker: Decimal,
    pub taker: Decimal,
}

/// Where a stop-loss or take-profit sits: a percentage of the entry price
/// or a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Percent of the entry price (`5` = 5 %).
    Percent(Decimal),
    Price(Decimal),
}

/// A position's stop-loss and take-profit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stops {
    pub stop_loss: Option<Trigger>,
    pub take_profit: Option<Trigger>,
}

/// Risk limits; `None` is no limit. Notional is size × price, in quote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RiskLimits {
    /// An order bigger than this is rejected (`max_order_notional`).
    pub max_order_notional: Option<Decimal>,
    /// An order that would take the position in its instrument (with the
    /// working orders on the same side) past this is rejected.
    pub max_position_notional: Option<Decimal>,
    /// An order that would take the sum of all positions' notionals past
    /// this is rejected.
    pub max_gross_notional: Option<Decimal>,
    /// Orders accepted in the last 60 s of event time, at most.
    pub max_orders_per_minute: Option<u32>,
    /// A loss this big since the start of the UTC day (event time) moves
    /// the plugin to `reducing`.
    pub max_daily_loss: Option<Decimal>,
    /// An order that would take the gross notional of every trading plugin
    /// together past this is rejected (`[execution.risk]` only).
    pub max_total_gross_notional: Option<Decimal>,
    /// Stops of every position…
    pub stops: Stops,
    /// …and per instrument (`exchange:symbol`), field by field over them.
    pub instrument_stops: BTreeMap<String, Stops>,
}

impl RiskLimits {
    /// The stops of a position in `instrument`.
    #[must_use]
    pub fn stops_for(&self, instrument: &Instrument) -> Stops {
        let key = format!("{}:{}", instrument.exchange, instrument.symbol);
        match self.instrument_stops.get(&key) {
            Some(own) => Stops {
                stop_loss: own.stop_loss.or(self.stops.stop_loss),
                take_profit: own.take_profit.or(self.stops.take_profit),
            },
            None => self.stops,
        }
    }

    /// The tighter of two sets of limits, limit by limit (a plugin's own
    /// and the global ones); the plugin's stops win over the global stops.
    #[must_use]
    pub fn tightest(&self, global: &RiskLimits) -> RiskLimits {
        fn min<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        let mut instrument_stops = global.instrument_stops.clone();
        instrument_stops.extend(self.instrument_stops.clone());
        RiskLimits {
            max_order_notional: min(self.max_order_notional, global.max_order_notional),
            max_position_notional: min(self.max_position_notional, global.max_position_notional),
            max_gross_notional: min(self.max_gross_notional, global.max_gross_notional),
            max_orders_per_minute: min(self.max_orders_per_minute, global.max_orders_per_minute),
            max_daily_loss: min(self.max_daily_loss, global.max_daily_loss),
            max_total_gross_notional: global.max_total_gross_notional,
            stops: Stops {
                stop_loss: self.stops.stop_loss.or(global.stops.stop_loss),
                take_profit: self.stops.take_profit.or(global.stops.take_profit),
            },
            instrument_stops,
        }
    }
}

/// Everything one plugin's paper account needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSettings {
    /// Fees by venue (lower case).
    pub fees: BTreeMap<String, Fees>,
    /// The fees of a venue not in `fees`.
    pub default_fees: Fees,
    /// A taker fill against a trade is this many basis points worse than
    /// the trade's price (buys higher, sells lower). Walking a book adds
    /// none: the levels are the slippage.
    pub slippage_bps: Decimal,
    /// An instrument with no price (trade, book or funding mark) for this
    /// long in event time is stale: orders on it are rejected, and a market
    /// order still unfilled this long after it was placed is canceled.
    pub stale_after_ms: TimestampMs,
    pub risk: RiskLimits,
}

impl Default for ExecutionSettings {
    fn default() -> Self {
        Self {
            fees: BTreeMap::new(),
            default_fees: Fees::default(),
            slippage_bps: Decimal::ZERO,
            stale_after_ms: 60_000,
            risk: RiskLimits::default(),
        }
    }
}

impl ExecutionSettings {
    /// The fees of `exchange`.
    #[must_use]
    pub fn fees_of(&self, exchange: &str) -> Fees {
        self.fees
            .get(exchange)
            .copied()
            .unwrap_or(self.default_fees)
    }
}
