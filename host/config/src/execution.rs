//! `[execution]`: the paper executor's fees, slippage and staleness, and
//! the risk limits (`[execution.risk]` for every trading plugin, a
//! plugin's own `[plugins.risk]` over them). A plugin trades on paper when
//! its entry says `paper = true`.
//!
//! Amounts are decimal strings (`"100000"`, `"0.0004"`), never floats.

use prism_model::decimal;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[execution]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutionConfig {
    /// Taker fills against trades are this many basis points worse.
    pub slippage_bps: String,
    /// An instrument without a price this long (event time) is stale.
    pub stale_after: String,
    /// Fees by venue: `[execution.fees.binance] maker = "0.0002"`.
    pub fees: BTreeMap<String, FeesConfig>,
    /// The fees of a venue not in `fees`.
    pub default_fees: FeesConfig,
    /// Limits for every trading plugin.
    pub risk: RiskConfig,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        Self {
            slippage_bps: "0".into(),
            stale_after: "60s".into(),
            fees: BTreeMap::new(),
            default_fees: FeesConfig::default(),
            risk: RiskConfig::default(),
        }
    }
}

/// Maker and taker fee rates (`"0.0004"` = 0.04 %).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeesConfig {
    pub maker: String,
    pub taker: String,
}

impl Default for FeesConfig {
    fn default() -> Self {
        Self {
            maker: "0".into(),
            taker: "0".into(),
        }
    }
}

/// Risk limits; an absent key is no limit.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    pub max_order_notional: Option<String>,
    pub max_position_notional: Option<String>,
    pub max_gross_notional: Option<String>,
    pub max_orders_per_minute: Option<u32>,
    pub max_daily_loss: Option<String>,
    /// The gross notional of every trading plugin together
    /// (`[execution.risk]` only).
    pub max_total_gross_notional: Option<String>,
    /// `"5%"` of the entry price, or a price (`"36000"`).
    pub stop_loss: Option<String>,
    pub take_profit: Option<String>,
    /// Stops per instrument, `"exchange:symbol"`.
    pub instruments: BTreeMap<String, StopsConfig>,
}

/// A stop-loss and take-profit for one instrument.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StopsConfig {
    pub stop_loss: Option<String>,
    pub take_profit: Option<String>,
}

/// A stop's level as written: a percentage of the entry or a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopLevel {
    Percent(decimal::Decimal),
    Price(decimal::Decimal),
}

/// Reads `"5%"` or `"36000"`.
///
/// # Errors
/// A message saying what is wrong.
pub fn stop_level(text: &str) -> Result<StopLevel, String> {
    let (number, percent) = match text.trim().strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (text.trim(), false),
    };
    let value = decimal::parse(number).map_err(|e| e.to_string())?;
    if value <= decimal::Decimal::ZERO {
        return Err(format!("`{text}` must be positive"));
    }
    if percent && value >= decimal::Decimal::ONE_HUNDRED {
        return Err(format!("`{text}` must be under 100%"));
    }
    Ok(if percent {
        StopLevel::Percent(value)
    } else {
        StopLevel::Price(value)
    })
}

/// A decimal amount of config.
///
/// # Errors
/// A message when it is not a decimal, or negative where `signed` is off.
pub fn amount(text: &str, signed: bool) -> Result<decimal::Decimal, String> {
    let value = decimal::parse(text.trim()).map_err(|e| e.to_string())?;
    if !signed && value < decimal::Decimal::ZERO {
        return Err(format!("`{text}` must not be negative"));
    }
    Ok(value)
}

impl RiskConfig {
    /// Every problem, by key under `prefix`.
    pub(crate) fn problems(&self, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut positive = |key: &str, v: &Option<String>| {
            if let Some(v) = v {
                match amount(v, false) {
                    Ok(d) if d.is_zero() => {
                        out.push((format!("{prefix}.{key}"), "must be positive".into()))
                    }
                    Ok(_) => {}
                    Err(e) => out.push((format!("{prefix}.{key}"), e)),
                }
            }
        };
        positive("max_order_notional", &self.max_order_notional);
        positive("max_position_notional", &self.max_position_notional);
        positive("max_gross_notional", &self.max_gross_notional);
        positive("max_daily_loss", &self.max_daily_loss);
        positive("max_total_gross_notional", &self.max_total_gross_notional);
        if self.max_orders_per_minute == Some(0) {
            out.push((
                format!("{prefix}.max_orders_per_minute"),
                "must be at least 1".into(),
            ));
        }
        let stop = |key: String, v: &Option<String>| {
            v.as_deref()
                .and_then(|v| stop_level(v).err())
                .map(|e| (key, e))
        };
        out.extend(stop(format!("{prefix}.stop_loss"), &self.stop_loss));
        out.extend(stop(format!("{prefix}.take_profit"), &self.take_profit));
        for (name, s) in &self.instruments {
            if name
                .split_once(':')
                .is_none_or(|(e, s)| e.is_empty() || s.is_empty())
            {
                out.push((
                    format!("{prefix}.instruments.{name}"),
                    "must be `exchange:symbol`".into(),
                ));
            }
            out.extend(stop(
                format!("{prefix}.instruments.{name}.stop_loss"),
                &s.stop_loss,
            ));
            out.extend(stop(
                format!("{prefix}.instruments.{name}.take_profit"),
                &s.take_profit,
            ));
        }
        out
    }
}

impl ExecutionConfig {
    /// Every problem, by key.
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Err(e) = amount(&self.slippage_bps, false) {
            out.push(("execution.slippage_bps".into(), e));
        }
        match crate::duration::parse_duration(&self.stale_after) {
            Ok(d) if d.is_zero() => {
                out.push(("execution.stale_after".into(), "must be positive".into()))
            }
            Ok(_) => {}
            Err(e) => out.push(("execution.stale_after".into(), e.to_string())),
        }
        let mut fees = |key: String, f: &FeesConfig| {
            for (name, v) in [("maker", &f.maker), ("taker", &f.taker)] {
                if let Err(e) = amount(v, true) {
                    out.push((format!("{key}.{name}"), e));
                }
            }
        };
        fees("execution.default_fees".into(), &self.default_fees);
        for (venue, f) in &self.fees {
            fees(format!("execution.fees.{venue}"), f);
        }
        out.extend(self.risk.problems("execution.risk"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_read_percentages_and_prices() {
        assert_eq!(
            stop_level("5%"),
            Ok(StopLevel::Percent(decimal::parse("5").unwrap()))
        );
        assert_eq!(
            stop_level(" 36000 "),
            Ok(StopLevel::Price(decimal::parse("36000").unwrap()))
        );
        assert!(stop_level("150%").is_err());
        assert!(stop_level("-1").is_err());
        assert!(stop_level("x%").is_err());
    }

    #[test]
    fn every_bad_value_is_named_by_its_key() {
        let config: ExecutionConfig = toml::from_str(
            r#"
            slippage_bps = "-1"
            stale_after = "soon"
            [fees.binance]
            maker = "0.0002"
            taker = "lots"
            [risk]
            max_order_notional = "0"
            max_orders_per_minute = 0
            stop_loss = "5"
            take_profit = "200%"
            [risk.instruments."BTCUSDT"]
            stop_loss = "1%"
            "#,
        )
        .unwrap();
        let keys: Vec<String> = config.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "execution.slippage_bps",
                "execution.stale_after",
                "execution.fees.binance.taker",
                "execution.risk.max_order_notional",
                "execution.risk.max_orders_per_minute",
                "execution.risk.take_profit",
                "execution.risk.instruments.BTCUSDT",
            ]
        );
    }
}
