//! The plugin's config, validated at `init`.

use prism_sdk::rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most buckets a map may hold per list: 1000 realized and 1000
/// estimated buckets stay under the host's default 1 MiB document limit.
pub const MAX_MAP_BUCKETS: usize = 1000;

/// One leverage tier of the open-interest model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub leverage: Decimal,
    /// Share of each open-interest increase opened at this leverage.
    pub weight: Decimal,
}

/// Operator config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Spacing of the boundaries, ms.
    pub step_ms: i64,
    /// Liquidations in `[B - window_ms, B)` are in the map at boundary `B`.
    pub window_ms: i64,
    /// Bucket size by symbol (`BTCUSDT`) or `exchange:symbol`; otherwise
    /// `10^(floor(log10(first price seen)) - 3)`.
    pub bucket_sizes: BTreeMap<String, Decimal>,
    /// Liquidations with notional (price × size) at least this are logged
    /// as `large_liquidation`.
    pub large_liquidation_usd: Decimal,
    /// The open-interest model's leverage tiers.
    pub leverage_tiers: Vec<Tier>,
    /// Maintenance margin rate of the model's liquidation prices.
    pub maintenance_margin_rate: Decimal,
    /// Modelled levels kept per instrument and side (past it, the levels
    /// farthest from the price go first).
    pub max_model_levels: usize,
    /// Buckets a map holds at most in `realized` and in `estimated`, those
    /// nearest the last price (so a map stays well under the host's
    /// document size limit).
    pub max_map_buckets: usize,
    /// Position-size tiers of the wallet distribution, by notional.
    pub wallet_tiers: Vec<crate::wallets::WalletTier>,
}

impl Default for Config {
    fn default() -> Self {
        let quarter = Decimal::new(25, 2);
        Self {
            step_ms: 60_000,
            window_ms: 86_400_000,
            bucket_sizes: BTreeMap::new(),
            large_liquidation_usd: Decimal::from(100_000),
            leverage_tiers: [10, 25, 50, 100]
                .into_iter()
                .map(|l| Tier {
                    leverage: Decimal::from(l),
                    weight: quarter,
                })
                .collect(),
            maintenance_margin_rate: Decimal::new(5, 3),
            max_model_levels: 10_000,
            max_map_buckets: 500,
            wallet_tiers: crate::wallets::default_tiers(),
        }
    }
}

impl Config {
    /// Parses and checks the config text.
    ///
    /// # Errors
    /// A message naming the field at fault.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Config =
            serde_json::from_str(text).map_err(|e| format!("liquidation-map config: {e}"))?;
        if config.step_ms <= 0 {
            return Err(format!("step_ms must be > 0, got {}", config.step_ms));
        }
        if config.window_ms <= 0 {
            return Err(format!("window_ms must be > 0, got {}", config.window_ms));
        }
        for (key, size) in &config.bucket_sizes {
            if *size <= Decimal::ZERO {
                return Err(format!("bucket_sizes.{key} must be > 0, got {size}"));
            }
        }
        for (i, tier) in config.leverage_tiers.iter().enumerate() {
            if tier.leverage < Decimal::ONE {
                return Err(format!("leverage_tiers[{i}].leverage must be >= 1"));
            }
            if tier.weight < Decimal::ZERO {
                return Err(format!("leverage_tiers[{i}].weight must be >= 0"));
            }
        }
        if config.maintenance_margin_rate < Decimal::ZERO
            || config.maintenance_margin_rate >= Decimal::ONE
        {
            return Err("maintenance_margin_rate must be in [0, 1)".into());
        }
        if !(1..=MAX_MAP_BUCKETS).contains(&config.max_map_buckets) {
            return Err(format!(
                "max_map_buckets must be 1 to {MAX_MAP_BUCKETS}, got {}",
                config.max_map_buckets
            ));
        }
        crate::wallets::check_tiers(&config.wallet_tiers)?;
        Ok(config)
    }

    /// The configured bucket size of an instrument, if any.
    #[must_use]
    pub fn bucket_for(&self, exchange: &str, symbol: &str) -> Option<Decimal> {
        self.bucket_sizes
            .get(&format!("{exchange}:{symbol}"))
            .or_else(|| self.bucket_sizes.get(symbol))
            .copied()
    }
}
