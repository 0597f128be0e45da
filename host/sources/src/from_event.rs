//! Events back into the replay format: the inverse of [`Normalizer`], used
//! to write normalized files and to show events (e.g. dead letters) in the
//! same shape a user feeds in.
//!
//! [`Normalizer`]: crate::Normalizer

use crate::record::{DecimalText, Exchange, Record};
use prism_model::{Decimal, Event, Instrument};

/// A decimal as the replay format writes it (no trailing zeros).
pub(crate) fn text(d: Decimal) -> DecimalText {
    DecimalText(d.normalize().to_string())
}

pub(crate) fn opt(d: Option<Decimal>) -> Option<DecimalText> {
    d.map(text)
}

impl Record {
    /// The venue's symbol the record is about.
    #[must_use]
    pub fn symbol(&self) -> &str {
        match self {
            Record::Instrument { symbol, .. }
            | Record::Trade { symbol, .. }
            | Record::Liquidation { symbol, .. }
            | Record::Funding { symbol, .. }
            | Record::OpenInterest { symbol, .. }
            | Record::Book { symbol, .. }
            | Record::Position { symbol, .. }
            | Record::Candle { symbol, .. }
            | Record::Ticker { symbol, .. } => symbol,
        }
    }

    /// The exchange the record is about.
    #[must_use]
    pub fn exchange(&self) -> &str {
        match self {
            Record::Instrument { exchange, .. }
            | Record::Trade { exchange, .. }
            | Record::Liquidation { exchange, .. }
            | Record::Funding { exchange, .. }
            | Record::OpenInterest { exchange, .. }
            | Record::Book { exchange, .. }
            | Record::Position { exchange, .. }
            | Record::Candle { exchange, .. }
            | Record::Ticker { exchange, .. } => exchange,
        }
    }

    /// Event time and receive time, where the record has them.
    #[must_use]
    pub fn times(&self) -> (Option<i64>, Option<i64>) {
        match self {
            Record::Instrument { .. } => (None, None),
            Record::Trade {
                ts, received_ts, ..
            }
            | Record::Liquidation {
                ts, received_ts, ..
            }
            | Record::Funding {
                ts, received_ts, ..
            }
            | Record::OpenInterest {
                ts, received_ts, ..
            }
            | Record::Book {
                ts, received_ts, ..
            }
            | Record::Position {
                ts, received_ts, ..
            }
            | Record::Candle {
                ts, received_ts, ..
            }
            | Record::Ticker {
                ts, received_ts, ..
            } => (Some(*ts), *received_ts),
        }
    }

    /// The record of `event`, which is about `instrument`. `None` for events
    /// the replay format has no record for (timers, fills) and when the
    /// event is about another instrument than the one given.
    #[must_use]
    pub fn from_event(event: &Event, instrument: &Instrument) -> Option<Record> {
        if let Some(id) = event.instrument()
            && id != instrument.id
        {
            return None;
        }
        let exchange: Exchange = instrument.exchange.to_string().into();
        let symbol = instrument.symbol.to_string();
        Some(match event {
            Event::Instrument(i) => Record::Instrument {
                exchange,
                symbol,
                base: Some(i.base.to_string()),
                quote: Some(i.quote.to_string()),
                market: Some(i.kind),
                contract_size: Some(text(i.contract_size)),
            },
            Event::Trade(t) => Record::Trade {
                exchange,
                symbol,
                ts: t.ts,
                received_ts: (t.received_ts != t.ts).then_some(t.received_ts),
                price: text(t.price),
                size: text(t.size),
                side: t.side,
                buyer: t.buyer.as_deref().map(str::to_owned),
                seller: t.seller.as_deref().map(str::to_owned),
                insurance_fund: false,
            },
            Event::Liquidation(l) => Record::Liquidation {
                exchange,
                symbol,
                ts: l.ts,
                received_ts: (l.received_ts != l.ts).then_some(l.received_ts),
                price: text(l.price),
                size: text(l.size),
                position: l.position,
                account: l.account.as_deref().map(str::to_owned),
            },
            Event::Funding(f) => Record::Funding {
                exchange,
                symbol,
                ts: f.ts,
                received_ts: (f.received_ts != f.ts).then_some(f.received_ts),
                rate: text(f.rate),
                interval_h: f.interval_hours,
                mark_price: opt(f.mark_price),
                index_price: opt(f.index_price),
                next_funding_ts: f.next_funding_ts,
            },
            Event::OpenInterest(o) => Record::OpenInterest {
                exchange,
                symbol,
                ts: o.ts,
                received_ts: (o.received_ts != o.ts).then_some(o.received_ts),
                open_interest: text(o.open_interest),
            },
            Event::Book(b) => Record::Book {
                exchange,
                symbol,
                ts: b.ts,
                received_ts: (b.received_ts != b.ts).then_some(b.received_ts),
                snapshot: b.snapshot,
                bids: b
                    .bids
                    .iter()
                    .map(|l| (text(l.price), text(l.size)))
                    .collect(),
                asks: b
                    .asks
                    .iter()
                    .map(|l| (text(l.price), text(l.size)))
                    .collect(),
            },
            Event::Position(p) => Record::Position {
                exchange,
                symbol,
                ts: p.ts,
                received_ts: (p.received_ts != p.ts).then_some(p.received_ts),
                account: p.account.to_string(),
                size: text(p.size),
                entry_price: text(p.entry_price),
                liquidation_price: opt(p.liquidation_price),
                leverage: opt(p.leverage),
            },
            Event::Candle(_) | Event::Ticker(_) => {
                return crate::market_record::market_record_of(event, exchange, symbol);
            }
            Event::Timer(_) | Event::Fill(_) => return None,
        })
    }
}

/// Any event as JSON in the replay format's shape; timers and fills, which
/// have no replay record, as `{"type":"timer","ts":…}` and
/// `{"type":"fill",…}`.
#[must_use]
pub fn event_json(event: &Event, instrument: Option<&Instrument>) -> serde_json::Value {
    use serde_json::json;
    if let Some(record) = instrument.and_then(|i| Record::from_event(event, i)) {
        return serde_json::to_value(record).unwrap_or(serde_json::Value::Null);
    }
    let place = instrument.map(|i| (i.exchange.to_string(), i.symbol.to_string()));
    match event {
        Event::Timer(t) => json!({"type": "timer", "ts": t.ts}),
        Event::Fill(f) => json!({
            "type": "fill", "client_id": f.client_id.as_ref(),
            "exchange": place.as_ref().map(|p| &p.0), "symbol": place.as_ref().map(|p| &p.1),
            "ts": f.ts, "price": f.price.normalize().to_string(), "size": f.size.normalize().to_string(),
            "side": f.side, "fee": f.fee.normalize().to_string(),
        }),
        other => {
            json!({"type": other.kind().map_or("instrument", |k| k.as_str()), "ts": other.ts(),
                        "instrument_id": other.instrument().map(|i| i.0)})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Normalizer;

    #[test]
    fn records_round_trip_through_events() {
        let lines = [
            r#"{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":1700000000000,"price":"37000.1","size":"0.25","side":"buy"}"#,
            r#"{"type":"liquidation","exchange":"binance","symbol":"BTCUSDT","ts":1700000000500,"price":"36950","size":"1.2","position":"long"}"#,
            r#"{"type":"funding","exchange":"hyperliquid","symbol":"BTC","ts":1700000001000,"rate":"0.0000125","interval_h":1,"mark_price":"37010"}"#,
            r#"{"type":"open_interest","exchange":"okx","symbol":"BTC-USDT-SWAP","ts":1700000002000,"open_interest":"1234.5"}"#,
            r#"{"type":"book","exchange":"binance","symbol":"BTCUSDT","ts":1700000003000,"snapshot":true,"bids":[["36999.9","2.1"]],"asks":[["37000","0.4"]]}"#,
            r#"{"type":"position","exchange":"hyperliquid","symbol":"BTC","ts":1700000004000,"account":"0xabc","size":"-12.5","entry_price":"37100","liquidation_price":"39800","leverage":"10"}"#,
            r#"{"type":"candle","exchange":"binance","symbol":"BTCUSDT","ts":1700000060000,"received_ts":1700000060005,"interval":"15m","open_ts":1699999200000,"open":"37000","high":"37010.5","low":"36990","close":"37005","volume":"12.5","quote_volume":"462550.25","trades":42,"closed":true}"#,
            r#"{"type":"candle","exchange":"okx","symbol":"BTC-USDT-SWAP","ts":1700000001000,"interval":"1M","open_ts":1698796800000,"open":"34000","high":"38000","low":"33000","close":"37000","volume":"0","closed":false}"#,
            r#"{"type":"ticker","exchange":"binance","symbol":"BTCUSDT","ts":1700000005000,"bid":["36999.9","2.1"],"ask":["37000","0.4"],"last_price":"37000","volume_24h":"1000.5","quote_volume_24h":"37000000","change_24h":"-150.5","change_24h_percent":"-0.405","mark_price":"37001","index_price":"36998"}"#,
            r#"{"type":"ticker","exchange":"hyperliquid","symbol":"BTC","ts":1700000006000,"ask":["37000","0.4"]}"#,
        ];
        let mut n = Normalizer::default();
        for line in lines {
            let record: Record = serde_json::from_str(line).unwrap();
            let mut out = Vec::new();
            n.push(&record, &mut out).unwrap();
            let event = out.last().unwrap();
            let instrument = n.registry().get(event.instrument().unwrap()).unwrap();
            let back = Record::from_event(event, instrument).unwrap();
            assert_eq!(back, record, "{line}");
            assert_eq!(
                serde_json::to_value(&back).unwrap(),
                serde_json::from_str::<serde_json::Value>(line).unwrap()
            );
        }
    }
}
