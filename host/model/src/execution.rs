//! What the paper executor reports: orders and their states, fills,
//! positions with their PnL, and each plugin's risk state. The executor
//! (`prism-execution`) makes these; the sinks keep and serve them.
//!
//! Money is exact: every amount is a [`Decimal`] (serialized as a string).

use crate::{Decimal, InstrumentId, Side, TimestampMs};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where an order came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderOrigin {
    /// An `order-intent` output of the plugin.
    Plugin,
    /// The position's stop-loss fired.
    StopLoss,
    /// The position's take-profit fired.
    TakeProfit,
    /// An operator's order through the admin API.
    Manual,
    /// An operator's "close everything".
    Close,
}

/// The state of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Accepted, nothing filled yet.
    Open,
    /// Accepted, filled in part; the rest still works.
    PartiallyFilled,
    Filled,
    /// Ended before it filled whole (`reason` says why); fills so far stand.
    Canceled,
    /// Never accepted (`reason` names the rule or limit).
    Rejected,
}

impl OrderStatus {
    /// Whether the order can still fill.
    #[must_use]
    pub fn is_working(self) -> bool {
        matches!(self, Self::Open | Self::PartiallyFilled)
    }

    /// The name the API uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::Canceled => "canceled",
            Self::Rejected => "rejected",
        }
    }
}

/// Whether a fill added liquidity (resting limit order) or took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liquidity {
    Maker,
    Taker,
}

/// An order as it stands: made once, updated by every fill or end.
///
/// `id` is `{plugin}:{seq}` with `seq` counting the plugin's orders from 1:
/// the same input gives the same ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub id: Arc<str>,
    pub plugin: Arc<str>,
    pub client_id: Arc<str>,
    pub origin: OrderOrigin,
    pub instrument: InstrumentId,
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
    pub side: Side,
    pub size: Decimal,
    /// `None` for a market order.
    pub limit_price: Option<Decimal>,
    pub reduce_only: bool,
    pub status: OrderStatus,
    pub filled: Decimal,
    /// Size-weighted price of the fills so far.
    pub average_price: Option<Decimal>,
    pub fees: Decimal,
    /// Why it was rejected or canceled.
    pub reason: Option<String>,
    /// Event time it was placed.
    pub ts: TimestampMs,
    /// Event time of its last change.
    pub updated_ts: TimestampMs,
}

/// One fill of one order.
///
/// `id` is `{order id}:{n}` (the order's n-th fill).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillRecord {
    pub id: Arc<str>,
    pub order_id: Arc<str>,
    pub plugin: Arc<str>,
    pub client_id: Arc<str>,
    pub instrument: InstrumentId,
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
    pub side: Side,
    pub price: Decimal,
    pub size: Decimal,
    /// Paid (positive) or received (negative, a maker rebate), in quote.
    pub fee: Decimal,
    pub liquidity: Liquidity,
    /// Price PnL this fill realized (closing part of a position).
    pub realized: Decimal,
    pub ts: TimestampMs,
}

/// A position of one plugin in one instrument, with its PnL.
///
/// `total = realized + unrealized + funding − fees`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionRecord {
    pub plugin: Arc<str>,
    pub instrument: InstrumentId,
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
    /// The base asset: the positions of one base on several venues are one
    /// pair of a cross-venue strategy.
    pub base: Arc<str>,
    /// Signed base units: positive long, negative short.
    pub size: Decimal,
    /// Size-weighted entry price of the open size (`None` when flat).
    pub entry_price: Option<Decimal>,
    /// The last price seen (trade, book mid or funding mark).
    pub mark_price: Option<Decimal>,
    pub realized: Decimal,
    pub unrealized: Decimal,
    /// Funding received (positive) or paid (negative), summed.
    pub funding: Decimal,
    pub fees: Decimal,
    pub total: Decimal,
    pub ts: TimestampMs,
}

/// A funding payment on a held perpetual:
/// `amount = −size × mark_price × rate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingPayment {
    pub plugin: Arc<str>,
    pub instrument: InstrumentId,
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
    /// The position held at the funding time.
    pub size: Decimal,
    pub mark_price: Decimal,
    pub rate: Decimal,
    /// Received (positive) or paid (negative).
    pub amount: Decimal,
    /// The funding time.
    pub ts: TimestampMs,
}

/// A plugin's PnL summed over its positions, at one event time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PnlPoint {
    pub plugin: Arc<str>,
    pub ts: TimestampMs,
    pub realized: Decimal,
    pub unrealized: Decimal,
    pub funding: Decimal,
    pub fees: Decimal,
    /// `realized + unrealized + funding − fees`.
    pub total: Decimal,
}

/// What a plugin may still do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskState {
    /// Every order within the limits passes.
    Active,
    /// Only reduce-only orders pass.
    Reducing,
    /// Every order is rejected.
    Halted,
}

impl RiskState {
    /// The name the API uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Reducing => "reducing",
            Self::Halted => "halted",
        }
    }
}

/// A plugin's risk state and what moved it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskRecord {
    pub plugin: Arc<str>,
    pub state: RiskState,
    /// The limit or operator action behind the state (none at start).
    pub reason: Option<String>,
    /// Gross notional of the open positions at their marks.
    pub gross_notional: Decimal,
    /// PnL since the start of the current UTC day (event time).
    pub day_pnl: Decimal,
    pub ts: TimestampMs,
}

/// What changed in one plugin's account over one batch: sent to the sinks
/// after the batch's outputs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExecutionReport {
    /// The stream position of the plugin's last batch when it was made
    /// (`None` before any): a restart from an earlier checkpoint makes it
    /// again.
    pub position: Option<u64>,
    /// Orders made or changed, each in its latest state.
    pub orders: Vec<OrderRecord>,
    pub fills: Vec<FillRecord>,
    pub funding: Vec<FundingPayment>,
    /// Positions whose size, PnL or mark changed.
    pub positions: Vec<PositionRecord>,
    /// The account's PnL after the batch, when anything changed.
    pub pnl: Option<PnlPoint>,
    /// The risk state, when it changed.
    pub risk: Option<RiskRecord>,
}

impl ExecutionReport {
    /// The plugin the report is about (every record names it).
    #[must_use]
    pub fn plugin(&self) -> Option<&Arc<str>> {
        self.orders
            .first()
            .map(|o| &o.plugin)
            .or_else(|| self.fills.first().map(|f| &f.plugin))
            .or_else(|| self.funding.first().map(|f| &f.plugin))
            .or_else(|| self.positions.first().map(|p| &p.plugin))
            .or_else(|| self.pnl.as_ref().map(|p| &p.plugin))
            .or_else(|| self.risk.as_ref().map(|r| &r.plugin))
    }

    /// How many records it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.orders.len()
            + self.fills.len()
            + self.funding.len()
            + self.positions.len()
            + usize::from(self.pnl.is_some())
            + usize::from(self.risk.is_some())
    }

    /// Whether the report holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
            && self.fills.is_empty()
            && self.funding.is_empty()
            && self.positions.is_empty()
            && self.pnl.is_none()
            && self.risk.is_none()
    }
}
