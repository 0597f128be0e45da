//! The channels of the live stream, by the names clients use.

use std::sync::Arc;

/// What a client can subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Channel {
    Liquidations,
    LongShortRatio,
    LiquidationMap,
    /// Each new liquidation map as a heatmap around its price (the shape
    /// of `GET /api/v1/market/liquidation`), by base asset.
    PriceUpdates,
    WhaleActivities,
    Opportunities,
    Signals,
    /// Notifications and their delivery status (`GET /api/v1/alerts` items).
    Alerts,
    /// Paper orders in their latest state (`GET /api/v1/orders` items).
    Orders,
    Fills,
    Positions,
    /// Each trading plugin's PnL after each change.
    Pnl,
    /// Every candle update (`GET /api/v1/candles` items).
    Candles,
    /// Every ticker (`GET /api/v1/tickers` items).
    Tickers,
    Plugin(Arc<str>),
}

impl Channel {
    /// The channel a name means; `plugin:{id}` only for a valid id.
    pub(crate) fn parse(name: &str) -> Option<Channel> {
        Some(match name {
            "liquidations" => Channel::Liquidations,
            "long_short_ratio" => Channel::LongShortRatio,
            "liquidation_map" => Channel::LiquidationMap,
            "price_updates" => Channel::PriceUpdates,
            "whale_activities" => Channel::WhaleActivities,
            "opportunities" => Channel::Opportunities,
            "signals" => Channel::Signals,
            "alerts" => Channel::Alerts,
            "orders" => Channel::Orders,
            "fills" => Channel::Fills,
            "positions" => Channel::Positions,
            "pnl" => Channel::Pnl,
            "candles" => Channel::Candles,
            "tickers" => Channel::Tickers,
            other => {
                let id = other.strip_prefix("plugin:")?;
                prism_model::PluginId::parse(id).ok()?;
                Channel::Plugin(Arc::from(id))
            }
        })
    }

    /// The name clients use, and the `type` of the messages it carries.
    pub(crate) fn name(&self) -> String {
        match self {
            Channel::Liquidations => "liquidations".into(),
            Channel::LongShortRatio => "long_short_ratio".into(),
            Channel::LiquidationMap => "liquidation_map".into(),
            Channel::PriceUpdates => "price_updates".into(),
            Channel::WhaleActivities => "whale_activities".into(),
            Channel::Opportunities => "opportunities".into(),
            Channel::Signals => "signals".into(),
            Channel::Alerts => "alerts".into(),
            Channel::Orders => "orders".into(),
            Channel::Fills => "fills".into(),
            Channel::Positions => "positions".into(),
            Channel::Pnl => "pnl".into(),
            Channel::Candles => "candles".into(),
            Channel::Tickers => "tickers".into(),
            Channel::Plugin(id) => format!("plugin:{id}"),
        }
    }
}
