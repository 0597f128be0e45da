//! The smallest useful plugin: counts the events it sees, by type, and
//! publishes the counts as the document `counts` after every batch.

use prism_sdk::{Context, Event, Plugin, PluginInfo, Subscription, state};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Event counts by type name.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Hello {
    counts: BTreeMap<String, u64>,
    last_ts: i64,
    dirty: bool,
}

fn type_name(event: &Event) -> Option<&'static str> {
    Some(match event {
        Event::Instrument(_) => return None,
        Event::Trade(_) => "trade",
        Event::Liquidation(_) => "liquidation",
        Event::Funding(_) => "funding",
        Event::OpenInterest(_) => "open_interest",
        Event::Book(_) => "book",
        Event::Position(_) => "position",
        Event::Timer(_) => "timer",
        Event::Fill(_) => "fill",
        Event::Candle(_) => "candle",
        Event::Ticker(_) => "ticker",
    })
}

impl Plugin for Hello {
    fn init(_config: &str) -> Result<(Self, PluginInfo), String> {
        Ok((
            Self::default(),
            PluginInfo::new("hello", env!("CARGO_PKG_VERSION"), Subscription::all()),
        ))
    }

    fn on_event(&mut self, _ctx: &mut Context, event: &Event) -> Result<(), String> {
        if let Some(name) = type_name(event) {
            *self.counts.entry(name.to_owned()).or_default() += 1;
            self.last_ts = event.ts().unwrap_or(self.last_ts);
            self.dirty = true;
        }
        Ok(())
    }

    /// Publishes the counts once per batch, not once per event.
    fn on_batch_end(&mut self, ctx: &mut Context) -> Result<(), String> {
        if self.dirty {
            self.dirty = false;
            ctx.document("counts", self.last_ts, &self.counts)?;
        }
        Ok(())
    }

    fn snapshot(&self) -> Vec<u8> {
        state::encode(self)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        *self = state::decode(bytes, "hello")?;
        Ok(())
    }
}

prism_sdk::export_plugin!(Hello);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_sdk::testing::{Harness, body_json};
    use prism_sdk::{Output, Side};

    #[test]
    fn counts_by_type_once_per_batch() {
        let mut h = Harness::<Hello>::new("{}").unwrap();
        let btc = h.instrument("binance", "BTCUSDT");
        let events = vec![
            h.trade(btc, 1, "100", "1", Side::Buy),
            h.trade(btc, 2, "100", "1", Side::Sell),
            h.funding(btc, 3, "0.0001", 8, None),
        ];
        let out = h.push(events).unwrap();
        assert_eq!(out.len(), 1);
        let Output::Document(doc) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(doc.key, "counts");
        assert_eq!(doc.ts, 3);
        assert_eq!(
            body_json(&doc.body),
            serde_json::json!({"trade": 2, "funding": 1})
        );
        assert!(
            h.push(vec![]).unwrap().is_empty(),
            "nothing new, nothing published"
        );
    }
}
