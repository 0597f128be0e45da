//! Leans against crowded funding: when an instrument's funding rate is at
//! least `threshold`, longs pay shorts, so it goes short `size`; at
//! `-threshold` or below, long `size`; once the rate is back within half
//! the threshold, it closes (reduce-only). Its position comes from its
//! fills (`prism run` with `paper = true`, or `prism test --paper`); while
//! an order waits for its fill, it sends no other on that instrument.
//!
//! Config: `{"threshold": "0.0005", "size": "0.01"}` (rate per funding
//! interval, and base units; exact decimal text).

use prism_sdk::rust_decimal::Decimal;
use prism_sdk::{Context, Event, EventKind, Plugin, PluginInfo, Side, Subscription};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_threshold")]
    threshold: String,
    #[serde(default = "default_size")]
    size: String,
}

fn default_threshold() -> String {
    "0.0005".into()
}

fn default_size() -> String {
    "0.01".into()
}

fn positive(key: &str, text: &str) -> Result<Decimal, String> {
    let value: Decimal = text
        .parse()
        .map_err(|e| format!("config: {key} `{text}`: {e}"))?;
    if value <= Decimal::ZERO {
        return Err(format!("config: {key} must be above 0"));
    }
    Ok(value)
}

/// Positions and orders in flight by instrument id (kept across swaps).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Book {
    /// Signed base units, from fills.
    positions: BTreeMap<u32, Decimal>,
    /// The client id of the order waiting for its fill.
    in_flight: BTreeMap<u32, String>,
    orders: u64,
}

#[derive(Debug)]
pub struct FundingLean {
    threshold: Decimal,
    size: Decimal,
    book: Book,
}

impl FundingLean {
    /// The position wanted at funding `rate`, given the one held.
    fn target(&self, rate: Decimal, held: Decimal) -> Decimal {
        if rate >= self.threshold {
            -self.size
        } else if rate <= -self.threshold {
            self.size
        } else if rate.abs() * Decimal::TWO < self.threshold {
            Decimal::ZERO
        } else {
            held
        }
    }
}

impl Plugin for FundingLean {
    fn init(config: &str) -> Result<(Self, PluginInfo), String> {
        let config: Config = serde_json::from_str(config).map_err(|e| format!("config: {e}"))?;
        let plugin = Self {
            threshold: positive("threshold", &config.threshold)?,
            size: positive("size", &config.size)?,
            book: Book::default(),
        };
        let info = PluginInfo::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            // The paper executor fills orders against the trades the
            // plugin receives: it takes them even though it ignores them.
            Subscription::kinds(&[EventKind::Funding, EventKind::Trade, EventKind::Fill]),
        );
        Ok((plugin, info))
    }

    fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String> {
        match event {
            Event::Fill(f) => {
                let size = f.size.to_rust().map_err(|e| e.to_string())?;
                let signed = match f.side {
                    Side::Buy => size,
                    Side::Sell => -size,
                };
                *self.book.positions.entry(f.instrument).or_default() += signed;
                if self.book.in_flight.get(&f.instrument) == Some(&f.client_id) {
                    self.book.in_flight.remove(&f.instrument);
                }
            }
            Event::Funding(f) if !self.book.in_flight.contains_key(&f.instrument) => {
                let rate = f.rate.to_rust().map_err(|e| e.to_string())?;
                let held = self
                    .book
                    .positions
                    .get(&f.instrument)
                    .copied()
                    .unwrap_or_default();
                let target = self.target(rate, held);
                if target == held {
                    return Ok(());
                }
                let side = if target > held { Side::Buy } else { Side::Sell };
                let size = prism_sdk::Decimal::from_rust((target - held).abs())
                    .map_err(|e| e.to_string())?;
                self.book.orders += 1;
                let id = format!("lean-{}", self.book.orders);
                ctx.order(&id, f.instrument, f.ts, side, size, None, target.is_zero());
                self.book.in_flight.insert(f.instrument, id);
            }
            _ => {}
        }
        Ok(())
    }

    fn snapshot(&self) -> Vec<u8> {
        prism_sdk::state::encode(&self.book)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.book = prism_sdk::state::decode(bytes, env!("CARGO_PKG_NAME"))?;
        Ok(())
    }
}

prism_sdk::export_plugin!(FundingLean);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_sdk::testing::Harness;
    use prism_sdk::{Fill, Output};

    fn orders(out: Vec<Output>) -> Vec<(String, Side, String, bool)> {
        out.into_iter()
            .map(|o| match o {
                Output::Order(o) => (
                    o.client_id,
                    o.side,
                    o.size.to_rust().unwrap().to_string(),
                    o.reduce_only,
                ),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn fill(id: &str, instrument: u32, side: Side, size: &str) -> Event {
        Event::Fill(Fill {
            client_id: id.into(),
            instrument,
            ts: 0,
            price: prism_sdk::Decimal::parse("100").unwrap(),
            size: prism_sdk::Decimal::parse(size).unwrap(),
            side,
            fee: prism_sdk::Decimal::parse("0").unwrap(),
        })
    }

    #[test]
    fn shorts_crowded_longs_and_closes_when_funding_calms() {
        let mut h = Harness::<FundingLean>::new(r#"{"threshold": "0.001", "size": "2"}"#).unwrap();
        let btc = h.instrument("binance", "BTCUSDT");
        // 0.0012 ≥ 0.001: short 2.
        let out = h.push(vec![h.funding(btc, 1, "0.0012", 8, None)]).unwrap();
        assert_eq!(
            orders(out),
            vec![("lean-1".into(), Side::Sell, "2".into(), false)]
        );
        // Not filled yet: nothing more, whatever the rate.
        let out = h.push(vec![h.funding(btc, 2, "-0.002", 8, None)]).unwrap();
        assert!(out.is_empty());
        // Filled; 0.0007 is between half the threshold and the threshold: hold.
        let out = h
            .push(vec![
                fill("lean-1", btc, Side::Sell, "2"),
                h.funding(btc, 3, "0.0007", 8, None),
            ])
            .unwrap();
        assert!(out.is_empty());
        // 0.0004 < 0.0005: close, reduce-only.
        let out = h.push(vec![h.funding(btc, 4, "0.0004", 8, None)]).unwrap();
        assert_eq!(
            orders(out),
            vec![("lean-2".into(), Side::Buy, "2".into(), true)]
        );
        // Filled; -0.001: long 2 from flat.
        let out = h
            .push(vec![
                fill("lean-2", btc, Side::Buy, "2"),
                h.funding(btc, 5, "-0.001", 8, None),
            ])
            .unwrap();
        assert_eq!(
            orders(out),
            vec![("lean-3".into(), Side::Buy, "2".into(), false)]
        );
    }

    #[test]
    fn refuses_sizes_and_thresholds_that_are_not_positive() {
        assert!(Harness::<FundingLean>::new(r#"{"size": "-1"}"#).is_err());
        assert!(Harness::<FundingLean>::new(r#"{"threshold": "x"}"#).is_err());
    }
}
