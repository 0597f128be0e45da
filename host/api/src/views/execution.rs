//! The paper accounts' records as the API shows them: amounts as decimal
//! strings, exact.

use prism_model::{
    Decimal, FillRecord, FundingPayment, OrderRecord, PnlPoint, PositionRecord, RiskRecord,
};
use serde::Serialize;
use utoipa::ToSchema;

/// An order in its latest state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct OrderView {
    /// `{plugin}:{n}`: the plugin's n-th order.
    pub(crate) id: String,
    pub(crate) plugin: String,
    pub(crate) client_id: String,
    /// `plugin`, `stop_loss`, `take_profit`, `manual` or `close`.
    pub(crate) origin: String,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    /// `buy` or `sell`.
    pub(crate) side: String,
    #[schema(value_type = String)]
    pub(crate) size: Decimal,
    /// Absent for a market order.
    #[schema(value_type = Option<String>)]
    pub(crate) limit_price: Option<Decimal>,
    pub(crate) reduce_only: bool,
    /// `open`, `partially_filled`, `filled`, `canceled` or `rejected`.
    pub(crate) status: String,
    #[schema(value_type = String)]
    pub(crate) filled: Decimal,
    #[schema(value_type = Option<String>)]
    pub(crate) average_price: Option<Decimal>,
    #[schema(value_type = String)]
    pub(crate) fees: Decimal,
    /// Why it was rejected or canceled (the rule or limit's name first).
    pub(crate) reason: Option<String>,
    /// Event time it was placed, unix ms.
    pub(crate) ts: i64,
    pub(crate) updated_ts: i64,
}

fn name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl From<&OrderRecord> for OrderView {
    fn from(o: &OrderRecord) -> Self {
        Self {
            id: o.id.to_string(),
            plugin: o.plugin.to_string(),
            client_id: o.client_id.to_string(),
            origin: name(&o.origin),
            exchange: o.exchange.to_string(),
            symbol: o.symbol.to_string(),
            side: name(&o.side),
            size: o.size,
            limit_price: o.limit_price,
            reduce_only: o.reduce_only,
            status: o.status.as_str().to_owned(),
            filled: o.filled,
            average_price: o.average_price,
            fees: o.fees,
            reason: o.reason.clone(),
            ts: o.ts,
            updated_ts: o.updated_ts,
        }
    }
}

/// One fill.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct FillView {
    /// `{order id}:{n}`: the order's n-th fill.
    pub(crate) id: String,
    pub(crate) order_id: String,
    pub(crate) plugin: String,
    pub(crate) client_id: String,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) side: String,
    #[schema(value_type = String)]
    pub(crate) price: Decimal,
    #[schema(value_type = String)]
    pub(crate) size: Decimal,
    /// Paid (positive) or a rebate (negative), in quote.
    #[schema(value_type = String)]
    pub(crate) fee: Decimal,
    /// `maker` or `taker`.
    pub(crate) liquidity: String,
    /// Price PnL it realized.
    #[schema(value_type = String)]
    pub(crate) realized: Decimal,
    pub(crate) ts: i64,
}

impl From<&FillRecord> for FillView {
    fn from(f: &FillRecord) -> Self {
        Self {
            id: f.id.to_string(),
            order_id: f.order_id.to_string(),
            plugin: f.plugin.to_string(),
            client_id: f.client_id.to_string(),
            exchange: f.exchange.to_string(),
            symbol: f.symbol.to_string(),
            side: name(&f.side),
            price: f.price,
            size: f.size,
            fee: f.fee,
            liquidity: name(&f.liquidity),
            realized: f.realized,
            ts: f.ts,
        }
    }
}

/// A funding payment: `amount = −size × mark_price × rate`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct FundingPaymentView {
    pub(crate) plugin: String,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    #[schema(value_type = String)]
    pub(crate) size: Decimal,
    #[schema(value_type = String)]
    pub(crate) mark_price: Decimal,
    #[schema(value_type = String)]
    pub(crate) rate: Decimal,
    /// Received (positive) or paid (negative).
    #[schema(value_type = String)]
    pub(crate) amount: Decimal,
    /// The funding time, unix ms.
    pub(crate) ts: i64,
}

impl From<&FundingPayment> for FundingPaymentView {
    fn from(f: &FundingPayment) -> Self {
        Self {
            plugin: f.plugin.to_string(),
            exchange: f.exchange.to_string(),
            symbol: f.symbol.to_string(),
            size: f.size,
            mark_price: f.mark_price,
            rate: f.rate,
            amount: f.amount,
            ts: f.ts,
        }
    }
}

/// A position and its PnL: `total = realized + unrealized + funding − fees`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PositionView {
    pub(crate) plugin: String,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    /// The base asset (`BTC`).
    pub(crate) base: String,
    /// Signed base units: positive long, negative short, 0 flat.
    #[schema(value_type = String)]
    pub(crate) size: Decimal,
    #[schema(value_type = Option<String>)]
    pub(crate) entry_price: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub(crate) mark_price: Option<Decimal>,
    #[schema(value_type = String)]
    pub(crate) realized: Decimal,
    #[schema(value_type = String)]
    pub(crate) unrealized: Decimal,
    #[schema(value_type = String)]
    pub(crate) funding: Decimal,
    #[schema(value_type = String)]
    pub(crate) fees: Decimal,
    #[schema(value_type = String)]
    pub(crate) total: Decimal,
    pub(crate) ts: i64,
}

impl From<&PositionRecord> for PositionView {
    fn from(p: &PositionRecord) -> Self {
        Self {
            plugin: p.plugin.to_string(),
            exchange: p.exchange.to_string(),
            symbol: p.symbol.to_string(),
            base: p.base.to_string(),
            size: p.size,
            entry_price: p.entry_price,
            mark_price: p.mark_price,
            realized: p.realized,
            unrealized: p.unrealized,
            funding: p.funding,
            fees: p.fees,
            total: p.total,
            ts: p.ts,
        }
    }
}

/// PnL of a plugin (or of all of them) at one event time.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub(crate) struct PnlView {
    /// Absent for the total over every plugin.
    pub(crate) plugin: Option<String>,
    /// Present for one position's point.
    pub(crate) exchange: Option<String>,
    pub(crate) symbol: Option<String>,
    #[schema(value_type = String)]
    pub(crate) realized: Decimal,
    #[schema(value_type = String)]
    pub(crate) unrealized: Decimal,
    #[schema(value_type = String)]
    pub(crate) funding: Decimal,
    #[schema(value_type = String)]
    pub(crate) fees: Decimal,
    /// `realized + unrealized + funding − fees`.
    #[schema(value_type = String)]
    pub(crate) total: Decimal,
    pub(crate) ts: i64,
}

impl From<&PnlPoint> for PnlView {
    fn from(p: &PnlPoint) -> Self {
        Self {
            plugin: Some(p.plugin.to_string()),
            exchange: None,
            symbol: None,
            realized: p.realized,
            unrealized: p.unrealized,
            funding: p.funding,
            fees: p.fees,
            total: p.total,
            ts: p.ts,
        }
    }
}

impl From<&PositionRecord> for PnlView {
    fn from(p: &PositionRecord) -> Self {
        Self {
            plugin: Some(p.plugin.to_string()),
            exchange: Some(p.exchange.to_string()),
            symbol: Some(p.symbol.to_string()),
            realized: p.realized,
            unrealized: p.unrealized,
            funding: p.funding,
            fees: p.fees,
            total: p.total,
            ts: p.ts,
        }
    }
}

/// A trading plugin's risk state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RiskView {
    pub(crate) plugin: String,
    /// `active`, `reducing` (only reduce-only orders pass) or `halted`.
    pub(crate) state: String,
    /// The limit or operator action that set it.
    pub(crate) reason: Option<String>,
    #[schema(value_type = String)]
    pub(crate) gross_notional: Decimal,
    /// PnL since the start of the UTC day (event time).
    #[schema(value_type = String)]
    pub(crate) day_pnl: Decimal,
    pub(crate) ts: i64,
}

impl From<&RiskRecord> for RiskView {
    fn from(r: &RiskRecord) -> Self {
        Self {
            plugin: r.plugin.to_string(),
            state: r.state.as_str().to_owned(),
            reason: r.reason.clone(),
            gross_notional: r.gross_notional,
            day_pnl: r.day_pnl,
            ts: r.ts,
        }
    }
}

/// A page of orders, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct OrderPage {
    pub(crate) items: Vec<OrderView>,
    pub(crate) next_cursor: Option<String>,
}

/// A page of fills, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct FillPage {
    pub(crate) items: Vec<FillView>,
    pub(crate) next_cursor: Option<String>,
}

/// A page of funding payments, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct FundingPaymentPage {
    pub(crate) items: Vec<FundingPaymentView>,
    pub(crate) next_cursor: Option<String>,
}

/// Every position.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PositionList {
    pub(crate) items: Vec<PositionView>,
}

/// The PnL of one plugin's positions in one base asset, summed over
/// venues: a cross-venue pair's (e.g. funding-arb's long and short legs).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PairPnlView {
    pub(crate) plugin: String,
    pub(crate) base: String,
    /// `exchange:symbol` of each leg.
    pub(crate) legs: Vec<String>,
    #[schema(value_type = String)]
    pub(crate) realized: Decimal,
    #[schema(value_type = String)]
    pub(crate) unrealized: Decimal,
    #[schema(value_type = String)]
    pub(crate) funding: Decimal,
    #[schema(value_type = String)]
    pub(crate) fees: Decimal,
    #[schema(value_type = String)]
    pub(crate) total: Decimal,
}

/// Current PnL: per plugin, per base asset (pair), and the total.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PnlNow {
    pub(crate) plugins: Vec<PnlView>,
    pub(crate) pairs: Vec<PairPnlView>,
    pub(crate) total: PnlView,
}

/// Sums positions by (plugin, base asset).
pub(crate) fn pairs(positions: &[PositionRecord]) -> Vec<PairPnlView> {
    let mut by: std::collections::BTreeMap<(String, String), PairPnlView> = Default::default();
    for p in positions {
        let pair = by
            .entry((p.plugin.to_string(), p.base.to_string()))
            .or_insert_with(|| PairPnlView {
                plugin: p.plugin.to_string(),
                base: p.base.to_string(),
                legs: Vec::new(),
                realized: Decimal::ZERO,
                unrealized: Decimal::ZERO,
                funding: Decimal::ZERO,
                fees: Decimal::ZERO,
                total: Decimal::ZERO,
            });
        pair.legs.push(format!("{}:{}", p.exchange, p.symbol));
        pair.realized += p.realized;
        pair.unrealized += p.unrealized;
        pair.funding += p.funding;
        pair.fees += p.fees;
        pair.total += p.total;
    }
    by.into_values()
        .map(|mut p| {
            for d in [
                &mut p.realized,
                &mut p.unrealized,
                &mut p.funding,
                &mut p.fees,
                &mut p.total,
            ] {
                *d = d.normalize();
            }
            p
        })
        .collect()
}

/// PnL over time, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PnlHistoryPage {
    pub(crate) items: Vec<PnlView>,
    pub(crate) next_cursor: Option<String>,
}

/// Every trading plugin's risk state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RiskList {
    pub(crate) items: Vec<RiskView>,
}

/// Orders an operator's action placed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PlacedOrders {
    pub(crate) orders: Vec<OrderView>,
}
