//! Funding of each leg, and the opportunity of each pair of venues.

use crate::config::Config;
use prism_sdk::rust_decimal::Decimal;
use prism_sdk::rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

/// Hours in a year (365 days), for annualizing hourly rates.
pub const HOURS_PER_YEAR: i64 = 8760;

/// The latest funding of one instrument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    pub instrument: u32,
    pub exchange: String,
    pub symbol: String,
    pub base: String,
    /// Rate per hour: the venue's rate divided by its interval.
    pub hourly: Decimal,
    pub mark: Option<Decimal>,
    pub ts: i64,
}

/// One pair of venues for one base asset, oriented: long where funding is
/// lower, short where it is higher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    pub base: String,
    pub long_exchange: String,
    pub long_symbol: String,
    pub short_exchange: String,
    pub short_symbol: String,
    pub long_rate_hourly: Decimal,
    pub short_rate_hourly: Decimal,
    /// short − long, ≥ 0.
    pub spread_hourly: Decimal,
    /// spread × 8760.
    pub gross_apr: f64,
    /// gross − round-trip fees × 8760 / holding hours.
    pub net_apr: f64,
    /// (short mark − long mark) / long mark, when both marks are known.
    pub basis: Option<f64>,
    #[serde(skip)]
    pub long_instrument: u32,
    #[serde(skip)]
    pub short_instrument: u32,
}

/// Net APR of holding long `long` and short `short`: may be negative, and
/// a negative spread (funding against the position) counts against it.
#[must_use]
pub fn net_apr(config: &Config, long: &Leg, short: &Leg) -> (Decimal, f64, f64) {
    let spread = short.hourly - long.hourly;
    let year = Decimal::from(HOURS_PER_YEAR);
    let gross = spread * year;
    let round_trip = Decimal::TWO * (config.fee(&long.exchange) + config.fee(&short.exchange));
    let net = gross - round_trip * year / config.holding_hours;
    (
        spread,
        gross.to_f64().unwrap_or(f64::NAN),
        net.to_f64().unwrap_or(f64::NAN),
    )
}

/// The opportunity of two legs of one base on different venues.
#[must_use]
pub fn opportunity(config: &Config, a: &Leg, b: &Leg) -> Opportunity {
    // Lower funding is the long leg; on a tie, the venue first by name.
    let (long, short) = if (a.hourly, &a.exchange) <= (b.hourly, &b.exchange) {
        (a, b)
    } else {
        (b, a)
    };
    let (spread, gross, net) = net_apr(config, long, short);
    let basis = match (long.mark, short.mark) {
        (Some(l), Some(s)) if l > Decimal::ZERO => ((s - l) / l).to_f64(),
        _ => None,
    };
    Opportunity {
        base: long.base.clone(),
        long_exchange: long.exchange.clone(),
        long_symbol: long.symbol.clone(),
        short_exchange: short.exchange.clone(),
        short_symbol: short.symbol.clone(),
        long_rate_hourly: long.hourly.normalize(),
        short_rate_hourly: short.hourly.normalize(),
        spread_hourly: spread.normalize(),
        gross_apr: gross,
        net_apr: net,
        basis,
        long_instrument: long.instrument,
        short_instrument: short.instrument,
    }
}

/// Every pair of legs with the same base on different venues, best net
/// APR first (ties by base and venues, so the order is stable).
#[must_use]
pub fn opportunities(config: &Config, legs: &[&Leg]) -> Vec<Opportunity> {
    let mut out = Vec::new();
    for (i, a) in legs.iter().enumerate() {
        for b in &legs[i + 1..] {
            if a.base == b.base && a.exchange != b.exchange {
                out.push(opportunity(config, a, b));
            }
        }
    }
    out.sort_by(|x, y| {
        y.net_apr
            .total_cmp(&x.net_apr)
            .then_with(|| x.base.cmp(&y.base))
            .then_with(|| x.long_exchange.cmp(&y.long_exchange))
            .then_with(|| x.short_exchange.cmp(&y.short_exchange))
    });
    out
}
