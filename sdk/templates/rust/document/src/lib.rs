//! Liquidations tallied per instrument: the document `liquidations/{symbol}`
//! holds how many long and short positions were liquidated and their size
//! and notional (exact decimals, as text), rewritten after each batch for
//! the instruments that changed.
//!
//! Config: none (`{}`).

use prism_sdk::rust_decimal::Decimal;
use prism_sdk::{Context, Event, EventKind, Plugin, PluginInfo, PositionSide, Subscription};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One side's liquidations.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub count: u64,
    /// Base units.
    pub size: Decimal,
    /// Quote units (price × size).
    pub notional: Decimal,
}

/// The document of one instrument.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub long: Side,
    pub short: Side,
    /// Event time of the last liquidation counted.
    pub ts: i64,
}

/// Tallies by symbol (kept across swaps), and those changed in this batch.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Liquidations {
    tallies: BTreeMap<String, Tally>,
    #[serde(skip)]
    changed: BTreeSet<String>,
}

impl Plugin for Liquidations {
    fn init(config: &str) -> Result<(Self, PluginInfo), String> {
        let config: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(config).map_err(|e| format!("config: {e}"))?;
        if let Some(key) = config.keys().next() {
            return Err(format!(
                "config: unknown key `{key}` (this plugin takes none)"
            ));
        }
        let info = PluginInfo::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            Subscription::kinds(&[EventKind::Liquidation]),
        );
        Ok((Self::default(), info))
    }

    fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String> {
        let Event::Liquidation(l) = event else {
            return Ok(());
        };
        let Some(symbol) = ctx
            .instruments()
            .get(l.instrument)
            .map(|i| i.symbol.clone())
        else {
            return Err(format!("instrument {} was never declared", l.instrument));
        };
        let price = l.price.to_rust().map_err(|e| e.to_string())?;
        let size = l.size.to_rust().map_err(|e| e.to_string())?;
        let tally = self.tallies.entry(symbol.clone()).or_default();
        let side = match l.position {
            PositionSide::Long => &mut tally.long,
            PositionSide::Short => &mut tally.short,
        };
        side.count += 1;
        side.size += size;
        side.notional += price * size;
        tally.ts = tally.ts.max(l.ts);
        self.changed.insert(symbol);
        Ok(())
    }

    fn on_batch_end(&mut self, ctx: &mut Context) -> Result<(), String> {
        for symbol in std::mem::take(&mut self.changed) {
            if let Some(tally) = self.tallies.get(&symbol) {
                ctx.document(&format!("liquidations/{symbol}"), tally.ts, tally)?;
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Vec<u8> {
        prism_sdk::state::encode(self)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        *self = prism_sdk::state::decode(bytes, env!("CARGO_PKG_NAME"))?;
        Ok(())
    }
}

prism_sdk::export_plugin!(Liquidations);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_sdk::Output;
    use prism_sdk::testing::{Harness, body_json};
    use serde_json::json;

    #[test]
    fn tallies_each_side_once_per_batch() {
        let mut h = Harness::<Liquidations>::new("{}").unwrap();
        let btc = h.instrument("binance", "BTCUSDT");
        let out = h
            .push(vec![
                h.liquidation(btc, 1, "36950", "1.2", PositionSide::Long),
                h.liquidation(btc, 2, "36900", "0.5", PositionSide::Long),
                h.liquidation(btc, 3, "37100", "2", PositionSide::Short),
            ])
            .unwrap();
        assert_eq!(out.len(), 1, "one document per instrument and batch");
        let Output::Document(d) = &out[0] else {
            panic!("{out:?}");
        };
        assert_eq!(d.key, "liquidations/BTCUSDT");
        assert_eq!(d.ts, 3);
        // 36950·1.2 + 36900·0.5 = 44340.0 + 18450.0; 37100·2 = 74200.
        assert_eq!(
            body_json(&d.body),
            json!({
                "long": {"count": 2, "size": "1.7", "notional": "62790.0"},
                "short": {"count": 1, "size": "2", "notional": "74200"},
                "ts": 3
            })
        );
        // A batch without liquidations writes nothing.
        assert!(h.push(vec![]).unwrap().is_empty());
    }

    #[test]
    fn refuses_a_config_key() {
        assert!(Harness::<Liquidations>::new(r#"{"x": 1}"#).is_err());
    }
}
