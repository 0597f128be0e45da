//! Wallets by position size: how many accounts hold how much of an
//! instrument, long and short, in profit and at a loss — the "wallet
//! distribution" of the venues that publish positions.

use crate::map::Instrument;
use prism_sdk::rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One size tier: positions of notional in `[min_usd, next tier's min_usd)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletTier {
    pub name: String,
    pub min_usd: Decimal,
}

/// The default tiers, by a position's notional in the quote currency.
#[must_use]
pub fn default_tiers() -> Vec<WalletTier> {
    [
        ("shrimp", 0),
        ("crab", 250),
        ("fish", 10_000),
        ("dolphin", 50_000),
        ("shark", 250_000),
        ("whale", 1_000_000),
        ("humpback", 5_000_000),
    ]
    .into_iter()
    .map(|(name, min)| WalletTier {
        name: name.to_owned(),
        min_usd: Decimal::from(min),
    })
    .collect()
}

/// At most this many tiers, each name at most 32 bytes.
pub const MAX_TIERS: usize = 16;

/// Checks tiers as config gives them.
///
/// # Errors
/// A message naming the tier at fault.
pub fn check_tiers(tiers: &[WalletTier]) -> Result<(), String> {
    if tiers.is_empty() || tiers.len() > MAX_TIERS {
        return Err(format!("wallet_tiers must hold 1 to {MAX_TIERS} tiers"));
    }
    if !tiers[0].min_usd.is_zero() {
        return Err("wallet_tiers[0].min_usd must be 0".into());
    }
    for (i, t) in tiers.iter().enumerate() {
        if t.name.is_empty() || t.name.len() > 32 {
            return Err(format!("wallet_tiers[{i}].name must be 1 to 32 bytes"));
        }
        if i > 0 && t.min_usd <= tiers[i - 1].min_usd {
            return Err(format!(
                "wallet_tiers[{i}].min_usd must be above the tier before it"
            ));
        }
        if tiers[..i].iter().any(|o| o.name == t.name) {
            return Err(format!("wallet_tiers[{i}].name `{}` is used twice", t.name));
        }
    }
    Ok(())
}

/// One tier's wallets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TierWallets {
    pub name: String,
    pub min_usd: Decimal,
    /// The next tier's `min_usd`; none for the last tier.
    pub max_usd: Option<Decimal>,
    pub wallets: u64,
    pub long_wallets: u64,
    pub short_wallets: u64,
    pub long_notional: Decimal,
    pub short_notional: Decimal,
    /// Wallets whose position shows a gain at the price, and a loss.
    pub profit_wallets: u64,
    pub loss_wallets: u64,
}

/// The document `wallet-distribution:{exchange}:{symbol}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalletDistribution {
    pub exchange: String,
    pub symbol: String,
    pub base: String,
    /// The last trade price the notionals are taken at.
    pub price: Option<Decimal>,
    pub tiers: Vec<TierWallets>,
}

impl WalletDistribution {
    /// The long and the short notional of every tier, summed.
    #[must_use]
    pub fn notional(&self) -> (Decimal, Decimal) {
        self.tiers
            .iter()
            .fold((Decimal::ZERO, Decimal::ZERO), |(l, s), t| {
                (l + t.long_notional, s + t.short_notional)
            })
    }
}

impl Instrument {
    /// Every account's latest non-zero position, by the tier of its
    /// notional `|size| × price` (price: the last trade's, else the
    /// position's entry price); a position gains when
    /// `(price − entry) × size > 0`. `None` without positions.
    #[must_use]
    pub fn wallets(&self, tiers: &[WalletTier]) -> Option<WalletDistribution> {
        if self.positions.is_empty() {
            return None;
        }
        let mut out: Vec<TierWallets> = tiers
            .iter()
            .enumerate()
            .map(|(i, t)| TierWallets {
                name: t.name.clone(),
                min_usd: t.min_usd,
                max_usd: tiers.get(i + 1).map(|n| n.min_usd),
                ..TierWallets::default()
            })
            .collect();
        for pos in self.positions.values() {
            let price = self.last_price.unwrap_or(pos.entry_price);
            let notional = pos.size.abs() * price;
            let Some(tier) = tiers.iter().rposition(|t| notional >= t.min_usd) else {
                continue;
            };
            let t = &mut out[tier];
            t.wallets += 1;
            if pos.size.is_sign_positive() {
                t.long_wallets += 1;
                t.long_notional += notional;
            } else {
                t.short_wallets += 1;
                t.short_notional += notional;
            }
            let gain = (price - pos.entry_price) * pos.size;
            if gain > Decimal::ZERO {
                t.profit_wallets += 1;
            } else if gain < Decimal::ZERO {
                t.loss_wallets += 1;
            }
        }
        for t in &mut out {
            t.long_notional = t.long_notional.normalize();
            t.short_notional = t.short_notional.normalize();
        }
        Some(WalletDistribution {
            exchange: self.exchange.clone(),
            symbol: self.symbol.clone(),
            base: self.base.clone(),
            price: self.last_price.map(|p| p.normalize()),
            tiers: out,
        })
    }
}
