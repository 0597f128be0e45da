//! The analytics endpoints' bodies (and the WebSocket payloads that show
//! the same things).

use super::place;
use prism_model::LogEntry;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A page of liquidations, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiquidationPage {
    pub(crate) items: Vec<LiquidationView>,
    pub(crate) next_cursor: Option<String>,
}

/// One liquidation, as `liquidation-map` logged it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiquidationView {
    pub(crate) exchange: Option<String>,
    pub(crate) symbol: Option<String>,
    /// The instrument's base asset, the unit of `size`.
    pub(crate) base: Option<String>,
    pub(crate) ts: i64,
    /// The liquidated position's side: `long` or `short`.
    #[schema(value_type = Option<String>)]
    pub(crate) side: Value,
    /// Exact decimal text.
    #[schema(value_type = Option<String>)]
    pub(crate) price: Value,
    #[schema(value_type = Option<String>)]
    pub(crate) size: Value,
    /// Price × size, exact decimal text.
    #[schema(value_type = Option<String>)]
    pub(crate) notional: Value,
    #[schema(value_type = Option<String>)]
    pub(crate) account: Value,
}

impl From<&LogEntry> for LiquidationView {
    fn from(l: &LogEntry) -> Self {
        let (exchange, symbol) = place(l.instrument.as_ref());
        let field = |k: &str| l.body.get(k).cloned().unwrap_or(Value::Null);
        Self {
            exchange,
            symbol,
            base: l.instrument.as_ref().map(|i| i.base.to_string()),
            ts: l.ts,
            side: field("side"),
            price: field("price"),
            size: field("size"),
            notional: field("notional"),
            account: field("account"),
        }
    }
}

/// `GET /api/v1/liquidations/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiquidationStats {
    /// The newest event time routed: windows end there.
    pub(crate) now: i64,
    pub(crate) windows: Vec<LiquidationWindow>,
}

/// Liquidations with `now − span < ts ≤ now`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiquidationWindow {
    /// `1h`, `4h` or `24h`.
    pub(crate) window: &'static str,
    pub(crate) from: i64,
    pub(crate) to: i64,
    pub(crate) long: SideTotals,
    pub(crate) short: SideTotals,
    pub(crate) total: SideTotals,
}

/// A count and its notional.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SideTotals {
    pub(crate) count: u64,
    /// Exact decimal text.
    pub(crate) notional: String,
}

/// `GET /api/v1/long-short-ratios/current`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RatiosNow {
    pub(crate) items: Vec<RatioNow>,
}

/// An instrument's newest ratios.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RatioNow {
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) taker: Option<RatioPoint>,
    pub(crate) account: Option<RatioPoint>,
}

/// A ratio at a time.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RatioPoint {
    pub(crate) ts: i64,
    pub(crate) value: f64,
}

/// `GET /api/v1/long-short-ratios/history`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RatioHistory {
    pub(crate) items: Vec<RatioHistoryItem>,
    /// Opaque; pass it back as `cursor`.
    pub(crate) next_cursor: Option<String>,
}

/// One ratio point.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RatioHistoryItem {
    pub(crate) exchange: Option<String>,
    pub(crate) symbol: Option<String>,
    /// `taker` or `account`.
    pub(crate) kind: &'static str,
    pub(crate) ts: i64,
    pub(crate) value: f64,
}

/// `GET /api/v1/liquidation-map` (and the `liquidation_map` channel).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiquidationMapView {
    pub(crate) key: String,
    pub(crate) ts: i64,
    /// As `docs/plugins/liquidation-map.md` defines it.
    #[schema(value_type = Object)]
    pub(crate) map: Value,
}

/// `GET /api/v1/liquidation-maps`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiquidationMapList {
    /// By exchange, then symbol.
    pub(crate) items: Vec<LiquidationMapRef>,
}

/// An instrument with a liquidation map.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiquidationMapRef {
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    /// The newest map's time.
    pub(crate) ts: i64,
}

/// The watched accounts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WhaleList {
    /// The plugin that watches them.
    pub(crate) plugin: String,
    pub(crate) items: Vec<WhaleAccount>,
}

/// One watched account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WhaleAccount {
    pub(crate) account: String,
}

impl WhaleList {
    pub(crate) fn of(plugin: &str, accounts: &[String]) -> Self {
        Self {
            plugin: plugin.to_owned(),
            items: accounts
                .iter()
                .map(|a| WhaleAccount { account: a.clone() })
                .collect(),
        }
    }
}

/// `GET /api/v1/whales/{account}/activities`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WhaleActivities {
    pub(crate) account: String,
    /// `whale_activity` bodies, each with its `ts`.
    #[schema(value_type = Vec<Object>)]
    pub(crate) items: Vec<Value>,
    pub(crate) next_cursor: Option<String>,
}

/// `GET /api/v1/opportunities` (and the `opportunities` channel).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Opportunities {
    /// When `funding-arb` computed them; null before it did.
    pub(crate) ts: Option<i64>,
    /// Venue pairs, best net APR first, as `docs/plugins/funding-arb.md` defines them.
    #[schema(value_type = Vec<Object>)]
    pub(crate) items: Vec<Value>,
}

/// `GET /api/v1/signals/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignalStats {
    pub(crate) now: i64,
    pub(crate) windows: Vec<SignalWindow>,
}

/// Signal counts of one window (`all`: every kept signal).
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct SignalWindow {
    /// `1h`, `4h`, `24h` or `all`.
    pub(crate) window: &'static str,
    pub(crate) from: Option<i64>,
    pub(crate) to: i64,
    pub(crate) total: u64,
    pub(crate) by_plugin: BTreeMap<String, u64>,
    pub(crate) by_strength: BTreeMap<String, u64>,
    pub(crate) by_direction: BTreeMap<String, u64>,
}
