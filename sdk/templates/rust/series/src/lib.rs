//! A volume-weighted average price per instrument over its last `window`
//! trades, as the series `vwap` after every trade. Sums are exact
//! decimals; only the published point is a float.
//!
//! Config: `{"window": 20}` (trades, 1 to 10000).

use prism_sdk::rust_decimal::Decimal;
use prism_sdk::{Context, Event, EventKind, Plugin, PluginInfo, Subscription};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_window")]
    window: usize,
}

fn default_window() -> usize {
    20
}

/// One instrument's last trades (price, size) and their sums.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Window {
    trades: VecDeque<(Decimal, Decimal)>,
    notional: Decimal,
    size: Decimal,
}

impl Window {
    /// Takes a trade, forgets the oldest past `limit`; the VWAP after it.
    fn push(&mut self, price: Decimal, size: Decimal, limit: usize) -> Option<Decimal> {
        self.trades.push_back((price, size));
        self.notional += price * size;
        self.size += size;
        while self.trades.len() > limit {
            if let Some((p, s)) = self.trades.pop_front() {
                self.notional -= p * s;
                self.size -= s;
            }
        }
        (self.size > Decimal::ZERO).then(|| self.notional / self.size)
    }
}

/// Windows by instrument id (kept across swaps).
#[derive(Debug, Serialize, Deserialize)]
pub struct Vwap {
    window: usize,
    windows: BTreeMap<u32, Window>,
}

impl Plugin for Vwap {
    fn init(config: &str) -> Result<(Self, PluginInfo), String> {
        let config: Config = serde_json::from_str(config).map_err(|e| format!("config: {e}"))?;
        if !(1..=10_000).contains(&config.window) {
            return Err(format!(
                "config: window {} is not between 1 and 10000",
                config.window
            ));
        }
        let info = PluginInfo::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            Subscription::kinds(&[EventKind::Trade]),
        );
        Ok((
            Self {
                window: config.window,
                windows: BTreeMap::new(),
            },
            info,
        ))
    }

    fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String> {
        let Event::Trade(t) = event else {
            return Ok(());
        };
        let price = t.price.to_rust().map_err(|e| e.to_string())?;
        let size = t.size.to_rust().map_err(|e| e.to_string())?;
        let window = self.windows.entry(t.instrument).or_default();
        if let Some(vwap) = window.push(price, size, self.window) {
            // The nearest float to the exact value (the decimal's own
            // conversion can be a unit in the last place off).
            let value: f64 = vwap
                .to_string()
                .parse()
                .map_err(|e| format!("the VWAP {vwap}: {e}"))?;
            ctx.series("vwap", Some(t.instrument), t.ts, value);
        }
        Ok(())
    }

    fn snapshot(&self) -> Vec<u8> {
        prism_sdk::state::encode(&self.windows)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.windows = prism_sdk::state::decode(bytes, env!("CARGO_PKG_NAME"))?;
        // A smaller window from the new config applies at the next trade.
        Ok(())
    }
}

prism_sdk::export_plugin!(Vwap);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_sdk::testing::Harness;
    use prism_sdk::{Output, Side};

    fn values(out: Vec<Output>) -> Vec<f64> {
        out.into_iter()
            .map(|o| match o {
                Output::Series(p) => p.value,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn averages_the_last_trades_by_their_size() {
        let mut h = Harness::<Vwap>::new(r#"{"window": 2}"#).unwrap();
        let btc = h.instrument("binance", "BTCUSDT");
        let eth = h.instrument("binance", "ETHUSDT");
        let out = h
            .push(vec![
                h.trade(btc, 1, "100", "1", Side::Buy),
                // (100·1 + 110·3) / 4 = 107.5
                h.trade(btc, 2, "110", "3", Side::Sell),
                // The first trade leaves the window: (110·3 + 90·1) / 4 = 105
                h.trade(btc, 3, "90", "1", Side::Buy),
                // Another instrument has its own window.
                h.trade(eth, 4, "2000", "0.5", Side::Buy),
            ])
            .unwrap();
        assert_eq!(values(out), vec![100.0, 107.5, 105.0, 2000.0]);
    }

    #[test]
    fn the_windows_survive_a_swap() {
        let mut h = Harness::<Vwap>::new(r#"{"window": 3}"#).unwrap();
        let btc = h.instrument("binance", "BTCUSDT");
        h.push(vec![h.trade(btc, 1, "100", "1", Side::Buy)])
            .unwrap();
        let state = h.snapshot();
        let mut next = Harness::<Vwap>::new(r#"{"window": 3}"#).unwrap();
        next.restore(&state).unwrap();
        let btc = next.instrument("binance", "BTCUSDT");
        // (100·1 + 200·1) / 2
        let out = next
            .push(vec![next.trade(btc, 2, "200", "1", Side::Buy)])
            .unwrap();
        assert_eq!(values(out), vec![150.0]);
    }

    #[test]
    fn refuses_a_window_out_of_range() {
        assert!(Harness::<Vwap>::new(r#"{"window": 0}"#).is_err());
        assert!(Harness::<Vwap>::new(r#"{"window": 10001}"#).is_err());
    }
}
