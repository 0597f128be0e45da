//! The plugin's config, validated at `init`.

use prism_sdk::rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Operator config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Spacing of the boundaries, ms.
    pub step_ms: i64,
    /// Whale trades in `[B - window_ms, B)` make the flow at boundary `B`.
    pub window_ms: i64,
    /// A trade of at least this notional (price × size) is a whale trade…
    pub min_trade_usd: Decimal,
    /// …unless its symbol (`BTCUSDT`) or `exchange:symbol` has its own.
    pub min_trade_usd_by_symbol: BTreeMap<String, Decimal>,
    /// A position whose notional changes by at least this is logged.
    pub min_position_change_usd: Decimal,
    /// Accounts whose every trade, position change and liquidation is logged.
    pub watched: Vec<String>,
    /// Whale taker flow (buy − sell notional) that makes a signal.
    pub flow_threshold_usd: Decimal,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            step_ms: 60_000,
            window_ms: 300_000,
            min_trade_usd: Decimal::from(500_000),
            min_trade_usd_by_symbol: BTreeMap::new(),
            min_position_change_usd: Decimal::from(1_000_000),
            watched: Vec::new(),
            flow_threshold_usd: Decimal::from(2_000_000),
        }
    }
}

impl Config {
    /// Parses and checks the config text.
    ///
    /// # Errors
    /// A message naming the field at fault.
    pub fn parse(text: &str) -> Result<Self, String> {
        let c: Config =
            serde_json::from_str(text).map_err(|e| format!("whale-detector config: {e}"))?;
        if c.step_ms <= 0 {
            return Err(format!("step_ms must be > 0, got {}", c.step_ms));
        }
        if c.window_ms <= 0 {
            return Err(format!("window_ms must be > 0, got {}", c.window_ms));
        }
        for (key, value) in [
            ("min_trade_usd", c.min_trade_usd),
            ("min_position_change_usd", c.min_position_change_usd),
            ("flow_threshold_usd", c.flow_threshold_usd),
        ] {
            if value <= Decimal::ZERO {
                return Err(format!("{key} must be > 0, got {value}"));
            }
        }
        for (symbol, value) in &c.min_trade_usd_by_symbol {
            if *value <= Decimal::ZERO {
                return Err(format!(
                    "min_trade_usd_by_symbol.{symbol} must be > 0, got {value}"
                ));
            }
        }
        for (i, account) in c.watched.iter().enumerate() {
            if account.trim().is_empty() {
                return Err(format!("watched[{i}] is empty"));
            }
        }
        Ok(c)
    }

    /// The whale-trade threshold of an instrument.
    #[must_use]
    pub fn min_trade(&self, exchange: &str, symbol: &str) -> Decimal {
        // Asked for every trade: no key is formatted when there are none.
        if self.min_trade_usd_by_symbol.is_empty() {
            return self.min_trade_usd;
        }
        self.min_trade_usd_by_symbol
            .get(&format!("{exchange}:{symbol}"))
            .or_else(|| self.min_trade_usd_by_symbol.get(symbol))
            .copied()
            .unwrap_or(self.min_trade_usd)
    }

    /// Whether an account is watched (addresses compare without case).
    #[must_use]
    pub fn is_watched(&self, account: &str) -> bool {
        self.watched.iter().any(|w| w.eq_ignore_ascii_case(account))
    }
}
