//! Big taker trades as signals: a trade whose notional (price × size) is at
//! least `min_notional` is a signal in the aggressor's direction, weak from
//! 1×, medium from 3× and strong from 10× the threshold.
//!
//! Config: `{"min_notional": "50000"}` (quote units, exact decimal text).

use prism_sdk::rust_decimal::Decimal;
use prism_sdk::{Context, Direction, Event, Plugin, PluginInfo, Side, Strength, Subscription};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_min_notional")]
    min_notional: String,
}

fn default_min_notional() -> String {
    "50000".into()
}

/// The threshold, and how many signals were given (kept across swaps).
#[derive(Debug, Serialize, Deserialize)]
pub struct BigTrades {
    min_notional: Decimal,
    signals: u64,
}

/// How strong a trade of `notional` is against `min` (`None`: below it).
fn strength(notional: Decimal, min: Decimal) -> Option<Strength> {
    if notional >= min * Decimal::TEN {
        Some(Strength::Strong)
    } else if notional >= min * Decimal::from(3) {
        Some(Strength::Medium)
    } else if notional >= min {
        Some(Strength::Weak)
    } else {
        None
    }
}

impl Plugin for BigTrades {
    fn init(config: &str) -> Result<(Self, PluginInfo), String> {
        let config: Config = serde_json::from_str(config).map_err(|e| format!("config: {e}"))?;
        let min_notional: Decimal = config
            .min_notional
            .parse()
            .map_err(|e| format!("config: min_notional `{}`: {e}", config.min_notional))?;
        if min_notional <= Decimal::ZERO {
            return Err("config: min_notional must be above 0".into());
        }
        let info = PluginInfo::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            Subscription::kinds(&[prism_sdk::EventKind::Trade]),
        );
        Ok((
            Self {
                min_notional,
                signals: 0,
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
        let notional = price * size;
        let Some(strength) = strength(notional, self.min_notional) else {
            return Ok(());
        };
        let (direction, side) = match t.side {
            Side::Buy => (Direction::Long, "buy"),
            Side::Sell => (Direction::Short, "sell"),
        };
        let symbol = ctx
            .instruments()
            .get(t.instrument)
            .map_or("?", |i| i.symbol.as_str())
            .to_owned();
        self.signals += 1;
        ctx.signal(
            t.instrument,
            t.ts,
            direction,
            strength,
            &format!("taker {side} of {notional} on {symbol}"),
        );
        Ok(())
    }

    fn snapshot(&self) -> Vec<u8> {
        prism_sdk::state::encode(self)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let old: Self = prism_sdk::state::decode(bytes, env!("CARGO_PKG_NAME"))?;
        // The threshold is the config's; only the count carries over.
        self.signals = old.signals;
        Ok(())
    }
}

prism_sdk::export_plugin!(BigTrades);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_sdk::Output;
    use prism_sdk::testing::Harness;

    #[test]
    fn grades_trades_by_their_notional() {
        let mut h = Harness::<BigTrades>::new(r#"{"min_notional": "10000"}"#).unwrap();
        let btc = h.instrument("binance", "BTCUSDT");
        let out = h
            .push(vec![
                // 9,999.99: below. 10,000: weak. 30,000: medium. 100,000: strong.
                h.trade(btc, 1, "99999.99", "0.1", Side::Buy),
                h.trade(btc, 2, "100000", "0.1", Side::Sell),
                h.trade(btc, 3, "100000", "0.3", Side::Buy),
                h.trade(btc, 4, "100000", "1", Side::Sell),
            ])
            .unwrap();
        let got: Vec<(Direction, Strength, String)> = out
            .into_iter()
            .map(|o| match o {
                Output::Signal(s) => (s.direction, s.strength, s.reason),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Direction::Short,
                    Strength::Weak,
                    "taker sell of 10000.0 on BTCUSDT".to_owned()
                ),
                (
                    Direction::Long,
                    Strength::Medium,
                    "taker buy of 30000.0 on BTCUSDT".to_owned()
                ),
                (
                    Direction::Short,
                    Strength::Strong,
                    "taker sell of 100000 on BTCUSDT".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn refuses_a_threshold_that_is_not_a_positive_decimal() {
        assert!(Harness::<BigTrades>::new(r#"{"min_notional": "abc"}"#).is_err());
        assert!(Harness::<BigTrades>::new(r#"{"min_notional": "0"}"#).is_err());
        assert!(Harness::<BigTrades>::new(r#"{"min": "1"}"#).is_err());
    }

    #[test]
    fn the_count_survives_a_swap() {
        let mut h = Harness::<BigTrades>::new("{}").unwrap();
        let eth = h.instrument("binance", "ETHUSDT");
        h.push(vec![h.trade(eth, 1, "2000", "30", Side::Buy)])
            .unwrap();
        let state = h.snapshot();
        let mut next = Harness::<BigTrades>::new("{}").unwrap();
        next.restore(&state).unwrap();
        assert_eq!(next.plugin().signals, 1);
    }
}
