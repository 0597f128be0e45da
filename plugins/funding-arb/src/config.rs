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
    /// Taker fee rate per venue (e.g. `{"binance": "0.0004"}`).
    pub fees: BTreeMap<String, Decimal>,
    /// The fee rate of a venue not in `fees`.
    pub default_fee: Decimal,
    /// How long a position is held, hours: the round trip's fees are spread
    /// over it.
    pub holding_hours: Decimal,
    /// Enter when net APR (a fraction: 0.10 = 10 %) reaches this.
    pub entry_apr: f64,
    /// Exit an entered pair when its net APR falls to this.
    pub exit_apr: f64,
    /// Emit order intents for both legs on entry and reduce-only closes on exit.
    pub trade: bool,
    /// Size of each leg, in quote currency.
    pub notional_usd: Decimal,
    /// A venue's funding older than this (event time) is left out.
    pub max_age_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            step_ms: 60_000,
            fees: BTreeMap::new(),
            default_fee: Decimal::new(5, 4),
            holding_hours: Decimal::from(24 * 7),
            entry_apr: 0.10,
            exit_apr: 0.02,
            trade: false,
            notional_usd: Decimal::from(10_000),
            max_age_ms: 86_400_000,
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
            serde_json::from_str(text).map_err(|e| format!("funding-arb config: {e}"))?;
        if c.step_ms <= 0 {
            return Err(format!("step_ms must be > 0, got {}", c.step_ms));
        }
        if c.holding_hours <= Decimal::ZERO {
            return Err(format!(
                "holding_hours must be > 0, got {}",
                c.holding_hours
            ));
        }
        if !(c.entry_apr > 0.0 && c.entry_apr.is_finite()) {
            return Err(format!("entry_apr must be > 0, got {}", c.entry_apr));
        }
        if !c.exit_apr.is_finite() || c.exit_apr >= c.entry_apr {
            return Err(format!(
                "exit_apr must be below entry_apr ({}), got {}",
                c.entry_apr, c.exit_apr
            ));
        }
        if c.notional_usd <= Decimal::ZERO {
            return Err("notional_usd must be > 0".into());
        }
        for (venue, fee) in &c.fees {
            if *fee < Decimal::ZERO {
                return Err(format!("fees.{venue} must be >= 0, got {fee}"));
            }
        }
        if c.max_age_ms <= 0 {
            return Err("max_age_ms must be > 0".into());
        }
        Ok(c)
    }

    /// The fee rate of a venue.
    #[must_use]
    pub fn fee(&self, venue: &str) -> Decimal {
        self.fees.get(venue).copied().unwrap_or(self.default_fee)
    }
}
