//! One instrument's liquidations, positions and open-interest model, and
//! the map built from them at a boundary.

use crate::config::Config;
use prism_sdk::PositionSide;
use prism_sdk::rust_decimal::Decimal;
use prism_sdk::serde_with::{decimal, decimal_option};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// `10^(floor(log10(price)) - 3)`: four significant digits of price per
/// bucket (BTC at 60 000 → 10). `None` for a price ≤ 0.
#[must_use]
pub fn auto_bucket(price: Decimal) -> Option<Decimal> {
    if price <= Decimal::ZERO {
        return None;
    }
    let p = price.normalize();
    let digits = i64::from(p.mantissa().unsigned_abs().checked_ilog10()?) + 1;
    let exponent = digits - 1 - i64::from(p.scale()) - 3;
    if exponent >= 0 {
        let mut b = Decimal::ONE;
        for _ in 0..exponent {
            b = b.checked_mul(Decimal::TEN)?;
        }
        Some(b)
    } else {
        let scale = u32::try_from(-exponent).ok().filter(|s| *s <= 28)?;
        Some(Decimal::new(1, scale))
    }
}

/// The bucket a price falls in: `floor(price / size) * size`.
#[must_use]
pub fn bucket_of(price: Decimal, size: Decimal) -> Decimal {
    bucket_price(bucket_index(price, size), size)
}

/// The number of the bucket a price falls in, `floor(price / size)`: in the
/// buckets' price order for a positive `size`, and compared as an integer
/// (the map keys its buckets by it; comparing decimals of different scales
/// was most of a map's cost).
fn bucket_index(price: Decimal, size: Decimal) -> i128 {
    // `floor` has scale 0: its mantissa is its value.
    (price / size).floor().mantissa()
}

/// The price of bucket `index`: `index * size`, without trailing zeros.
fn bucket_price(index: i128, size: Decimal) -> Decimal {
    (Decimal::from_i128_with_scale(index, 0) * size).normalize()
}

/// The bucket of `buckets` that `price` falls in, made by `make` from the
/// bucket's price when it is not there yet.
fn bucket_for<B>(
    buckets: &mut BTreeMap<i128, B>,
    price: Decimal,
    size: Decimal,
    make: impl FnOnce(Decimal) -> B,
) -> &mut B {
    let index = bucket_index(price, size);
    buckets
        .entry(index)
        .or_insert_with(|| make(bucket_price(index, size)))
}

/// A liquidation kept for the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Liq {
    pub ts: i64,
    pub price: Decimal,
    pub size: Decimal,
    #[serde(with = "prism_sdk::serde_with::position_side")]
    pub position: PositionSide,
}

/// An account's latest position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pos {
    pub size: Decimal,
    pub entry_price: Decimal,
    pub liquidation_price: Option<Decimal>,
}

/// Modelled liquidation levels of one side: price → base units of
/// positions that would be liquidated there.
pub type Levels = BTreeMap<Decimal, Decimal>;

/// Everything kept about one instrument.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Instrument {
    pub exchange: String,
    pub symbol: String,
    /// The base asset (absent from states saved before it was kept).
    #[serde(default)]
    pub base: String,
    pub bucket: Option<Decimal>,
    pub last_price: Option<Decimal>,
    pub liquidations: VecDeque<Liq>,
    pub positions: BTreeMap<String, Pos>,
    pub last_open_interest: Option<Decimal>,
    /// Modelled levels of long positions (below the price when opened).
    pub model_longs: Levels,
    /// Modelled levels of short positions (above the price when opened).
    pub model_shorts: Levels,
}

// The document types write their decimals through the SDK's writer:
// the same text as `rust_decimal`'s, written for every bucket at every
// boundary (rust_decimal's own was 3.8 % of a 2-hour replay's samples).

/// One bucket of realized liquidations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RealizedBucket {
    #[serde(with = "decimal")]
    pub price: Decimal,
    #[serde(with = "decimal")]
    pub long_notional: Decimal,
    #[serde(with = "decimal")]
    pub short_notional: Decimal,
    pub long_count: u64,
    pub short_count: u64,
}

/// One bucket of estimated liquidation levels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EstimatedBucket {
    #[serde(with = "decimal")]
    pub price: Decimal,
    #[serde(with = "decimal")]
    pub long_notional: Decimal,
    #[serde(with = "decimal")]
    pub short_notional: Decimal,
    /// `positions` (accounts' own liquidation prices) or `open_interest`
    /// (the leverage-tier model).
    pub source: String,
}

/// The document published at a boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiquidationMap {
    pub exchange: String,
    pub symbol: String,
    pub base: String,
    #[serde(with = "decimal")]
    pub bucket_size: Decimal,
    pub from: i64,
    pub to: i64,
    #[serde(with = "decimal_option")]
    pub last_price: Option<Decimal>,
    pub realized: Vec<RealizedBucket>,
    pub estimated: Vec<EstimatedBucket>,
}

fn side_notional(bucket: &mut EstimatedBucket, side: PositionSide, notional: Decimal) {
    match side {
        PositionSide::Long => bucket.long_notional += notional,
        PositionSide::Short => bucket.short_notional += notional,
    }
}

impl Instrument {
    /// Fixes the bucket size at the first price seen (or from config).
    pub fn see_price(&mut self, price: Decimal, config: &Config) {
        if self.bucket.is_none() {
            self.bucket = config
                .bucket_for(&self.exchange, &self.symbol)
                .or_else(|| auto_bucket(price));
        }
    }

    /// A trade: the last price, and modelled levels the price reached go
    /// (long levels at or above it, short levels at or below it).
    pub fn trade(&mut self, price: Decimal) {
        self.last_price = Some(price);
        if self
            .model_longs
            .last_key_value()
            .is_some_and(|(p, _)| *p >= price)
        {
            self.model_longs.split_off(&price);
        }
        if self
            .model_shorts
            .first_key_value()
            .is_some_and(|(p, _)| *p <= price)
        {
            self.model_shorts = self.model_shorts.split_off(&price);
            self.model_shorts.remove(&price);
        }
    }

    /// An open-interest update: an increase opens positions on both sides at
    /// every leverage tier, at the last trade price. Decreases are not
    /// attributed (which positions closed is unknown).
    pub fn open_interest(&mut self, open_interest: Decimal, config: &Config) {
        let previous = self.last_open_interest.replace(open_interest);
        let (Some(before), Some(price)) = (previous, self.last_price) else {
            return;
        };
        let increase = open_interest - before;
        if increase <= Decimal::ZERO {
            return;
        }
        let mmr = config.maintenance_margin_rate;
        for tier in &config.leverage_tiers {
            let amount = increase * tier.weight;
            if amount <= Decimal::ZERO {
                continue;
            }
            let margin = Decimal::ONE / tier.leverage;
            let long = (price * (Decimal::ONE - margin + mmr)).normalize();
            let short = (price * (Decimal::ONE + margin - mmr)).normalize();
            *self.model_longs.entry(long).or_default() += amount;
            *self.model_shorts.entry(short).or_default() += amount;
        }
        // Past the cap, the levels farthest from the price go first.
        while self.model_longs.len() > config.max_model_levels {
            self.model_longs.pop_first();
        }
        while self.model_shorts.len() > config.max_model_levels {
            self.model_shorts.pop_last();
        }
    }

    /// The map at boundary `to`, or `None` when there is nothing to show.
    #[must_use]
    /// The map of `[from, to)`; each of `realized` and `estimated` holds
    /// at most `max_buckets`, those nearest the last price.
    pub fn map(&self, from: i64, to: i64, max_buckets: usize) -> Option<LiquidationMap> {
        let size = self.bucket?;
        let mut realized: BTreeMap<i128, RealizedBucket> = BTreeMap::new();
        for l in self
            .liquidations
            .iter()
            .filter(|l| l.ts >= from && l.ts < to)
        {
            let b = bucket_for(&mut realized, l.price, size, |price| RealizedBucket {
                price,
                ..RealizedBucket::default()
            });
            let notional = l.price * l.size;
            match l.position {
                PositionSide::Long => {
                    b.long_notional += notional;
                    b.long_count += 1;
                }
                PositionSide::Short => {
                    b.short_notional += notional;
                    b.short_count += 1;
                }
            }
        }
        let estimated = nearest(self.estimated(size), self.last_price, max_buckets, |b| {
            b.price
        });
        if realized.is_empty() && estimated.is_empty() {
            return None;
        }
        let realized: Vec<RealizedBucket> = realized.into_values().collect();
        let mut realized = nearest(realized, self.last_price, max_buckets, |b| b.price);
        for b in &mut realized {
            b.long_notional = b.long_notional.normalize();
            b.short_notional = b.short_notional.normalize();
        }
        Some(LiquidationMap {
            exchange: self.exchange.clone(),
            symbol: self.symbol.clone(),
            base: self.base.clone(),
            bucket_size: size,
            from,
            to,
            last_price: self.last_price.map(|p| p.normalize()),
            realized,
            estimated,
        })
    }

    fn estimated(&self, size: Decimal) -> Vec<EstimatedBucket> {
        let mut out: BTreeMap<i128, EstimatedBucket> = BTreeMap::new();
        let known: Vec<(&Pos, Decimal)> = self
            .positions
            .values()
            .filter(|p| !p.size.is_zero())
            .filter_map(|p| Some((p, p.liquidation_price?)))
            .collect();
        if known.is_empty() {
            let levels = self
                .model_longs
                .iter()
                .map(|l| (PositionSide::Long, l))
                .chain(self.model_shorts.iter().map(|l| (PositionSide::Short, l)));
            for (side, (level, amount)) in levels {
                let b = bucket_for(&mut out, *level, size, |price| EstimatedBucket {
                    price,
                    source: "open_interest".into(),
                    ..EstimatedBucket::default()
                });
                let mark = self.last_price.unwrap_or(*level);
                side_notional(b, side, *amount * mark);
            }
        } else {
            for (p, liquidation_price) in known {
                let b = bucket_for(&mut out, liquidation_price, size, |price| EstimatedBucket {
                    price,
                    source: "positions".into(),
                    ..EstimatedBucket::default()
                });
                let mark = self.last_price.unwrap_or(p.entry_price);
                let side = if p.size > Decimal::ZERO {
                    PositionSide::Long
                } else {
                    PositionSide::Short
                };
                side_notional(b, side, p.size.abs() * mark);
            }
        }
        out.into_values()
            .map(|mut b| {
                b.long_notional = b.long_notional.normalize();
                b.short_notional = b.short_notional.normalize();
                b
            })
            .collect()
    }
}

/// At most `max` of `buckets` (sorted by price): those nearest `price`
/// (without one, the middle ones), still sorted by price. Buckets nearest a
/// price form one run of the sorted list, so a window is grown around it.
pub fn nearest<T>(
    mut buckets: Vec<T>,
    price: Option<Decimal>,
    max: usize,
    price_of: impl Fn(&T) -> Decimal,
) -> Vec<T> {
    if buckets.len() <= max {
        return buckets;
    }
    let split = match price {
        Some(p) => buckets.partition_point(|b| price_of(b) < p),
        None => buckets.len() / 2,
    };
    let (mut lo, mut hi) = (split, split);
    while hi - lo < max {
        let take_low = match (lo.checked_sub(1), buckets.get(hi)) {
            (Some(l), Some(h)) => match price {
                Some(p) => p - price_of(&buckets[l]) <= price_of(h) - p,
                None => split - lo < hi - split,
            },
            (Some(_), None) => true,
            (None, _) => false,
        };
        if take_low {
            lo -= 1;
        } else {
            hi += 1;
        }
    }
    buckets.truncate(hi);
    buckets.drain(..lo);
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_numbers_sort_as_bucket_prices_and_name_the_same_bucket() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let prices = [
            "59995.5",
            "59990",
            "60000.00",
            "0.5",
            "0.05",
            "1e-3",
            "99999.999",
            "60000",
            "59999.99",
            "0.0001",
            "12.5",
        ];
        for size in ["10", "0.5", "0.001", "2.5"] {
            let size = d(size);
            let mut by_number: Vec<(i128, Decimal)> = prices
                .iter()
                .map(|p| {
                    let p = p
                        .parse::<Decimal>()
                        .or_else(|_| Decimal::from_scientific(p))
                        .unwrap();
                    // The definition, computed without the bucket number.
                    let price = ((p / size).floor() * size).normalize();
                    assert_eq!(bucket_of(p, size), price, "{p} in buckets of {size}");
                    assert_eq!(bucket_price(bucket_index(p, size), size), price);
                    (bucket_index(p, size), price)
                })
                .collect();
            by_number.sort_by_key(|(n, _)| *n);
            let prices: Vec<Decimal> = by_number.iter().map(|(_, p)| *p).collect();
            let mut sorted = prices.clone();
            sorted.sort();
            assert_eq!(prices, sorted, "buckets of {size}");
            // Equal numbers, equal prices (and the reverse).
            for w in by_number.windows(2) {
                assert_eq!(w[0].0 == w[1].0, w[0].1 == w[1].1, "{w:?}");
            }
        }
    }
}
