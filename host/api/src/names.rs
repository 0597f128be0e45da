//! The names the reference plugins give their outputs, which the analytics
//! endpoints and WebSocket channels read: one table for REST and WebSocket.
//! The plugins define them (`docs/plugins/`); the ids of the plugins behind
//! each are config (`[analytics]`).

/// `liquidation-map`'s log entry for each liquidation.
pub(crate) const LIQUIDATION_LOG: &str = "liquidation";
/// `liquidation-map`'s document per instrument: `liquidation-map:{exchange}:{symbol}`.
pub(crate) const LIQUIDATION_MAP_PREFIX: &str = "liquidation-map:";
/// `liquidation-map`'s document per instrument with open positions:
/// `wallet-distribution:{exchange}:{symbol}`.
pub(crate) const WALLET_DISTRIBUTION_PREFIX: &str = "wallet-distribution:";
/// `liquidation-map`'s series of open long and short positions' notional.
pub(crate) const POSITION_NOTIONAL: [&str; 2] =
    ["long_position_notional", "short_position_notional"];
/// `long-short-ratio`'s series of taker buy over sell notional.
pub(crate) const TAKER_RATIO: &str = "taker_long_short_ratio";
/// `long-short-ratio`'s series of long over short accounts.
pub(crate) const ACCOUNT_RATIO: &str = "account_long_short_ratio";
/// `whale-detector`'s log of everything a watched account does.
pub(crate) const WHALE_ACTIVITY_LOG: &str = "whale_activity";
/// `whale-detector`'s log of large position changes.
pub(crate) const WHALE_POSITION_LOG: &str = "whale_position";
/// `whale-detector`'s logs shown on the `whale_activities` channel.
pub(crate) const WHALE_LOGS: [&str; 3] = ["whale_trade", WHALE_POSITION_LOG, WHALE_ACTIVITY_LOG];
/// The key of `whale-detector`'s config that lists watched accounts.
pub(crate) const WATCHED: &str = "watched";
/// `funding-arb`'s document of current opportunities.
pub(crate) const OPPORTUNITIES_DOC: &str = "opportunities";
