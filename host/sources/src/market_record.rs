//! Candle and ticker records of the replay format, both ways.

use crate::from_event::{opt, text};
use crate::record::{
    DecimalText, Exchange, Normalizer, Record, RecordError, dec, dec_opt, non_negative, positive,
};
use prism_model::{Candle, Decimal, Event, Level, Ticker};

fn quote(
    field: &'static str,
    raw: Option<&(DecimalText, DecimalText)>,
) -> Result<Option<Level>, RecordError> {
    raw.map(|(p, s)| {
        Ok(Level {
            price: positive(field, dec(field, p)?)?,
            size: non_negative(field, dec(field, s)?)?,
        })
    })
    .transpose()
}

fn amount_opt(
    field: &'static str,
    raw: Option<&DecimalText>,
) -> Result<Option<Decimal>, RecordError> {
    dec_opt(field, raw)?
        .map(|v| non_negative(field, v))
        .transpose()
}

impl Normalizer {
    /// The event of a candle or ticker record (its declaration, if new,
    /// appended to `out` first).
    pub(crate) fn market_record(
        &mut self,
        record: &Record,
        out: &mut Vec<Event>,
    ) -> Result<Event, RecordError> {
        match record {
            Record::Candle {
                exchange,
                symbol,
                ts,
                received_ts,
                interval,
                open_ts,
                open,
                high,
                low,
                close,
                volume,
                quote_volume,
                trades,
                closed,
            } => {
                let open = positive("open", dec("open", open)?)?;
                let high = positive("high", dec("high", high)?)?;
                let low = positive("low", dec("low", low)?)?;
                let close = positive("close", dec("close", close)?)?;
                if high < open.max(close).max(low) {
                    return Err(RecordError {
                        field: "high",
                        reason: format!("{high} is below the open, close or low"),
                    });
                }
                if low > open.min(close) {
                    return Err(RecordError {
                        field: "low",
                        reason: format!("{low} is above the open or close"),
                    });
                }
                if open_ts > ts {
                    return Err(RecordError {
                        field: "open_ts",
                        reason: format!("{open_ts} is after the candle's time {ts}"),
                    });
                }
                let volume = non_negative("volume", dec("volume", volume)?)?;
                let quote_volume = amount_opt("quote_volume", quote_volume.as_ref())?;
                let instrument = self.instrument(exchange, symbol, out);
                Ok(Event::Candle(Box::new(Candle {
                    instrument,
                    ts: *ts,
                    received_ts: received_ts.unwrap_or(*ts),
                    interval: *interval,
                    open_ts: *open_ts,
                    open,
                    high,
                    low,
                    close,
                    volume,
                    quote_volume,
                    trades: *trades,
                    closed: *closed,
                })))
            }
            Record::Ticker {
                exchange,
                symbol,
                ts,
                received_ts,
                bid,
                ask,
                last_price,
                volume_24h,
                quote_volume_24h,
                change_24h,
                change_24h_percent,
                mark_price,
                index_price,
            } => {
                let ticker = Ticker {
                    instrument: prism_model::InstrumentId(0),
                    ts: *ts,
                    received_ts: received_ts.unwrap_or(*ts),
                    best_bid: quote("bid", bid.as_ref())?,
                    best_ask: quote("ask", ask.as_ref())?,
                    last_price: amount_opt("last_price", last_price.as_ref())?,
                    volume_24h: amount_opt("volume_24h", volume_24h.as_ref())?,
                    quote_volume_24h: amount_opt("quote_volume_24h", quote_volume_24h.as_ref())?,
                    change_24h: dec_opt("change_24h", change_24h.as_ref())?,
                    change_24h_percent: dec_opt("change_24h_percent", change_24h_percent.as_ref())?,
                    mark_price: amount_opt("mark_price", mark_price.as_ref())?,
                    index_price: amount_opt("index_price", index_price.as_ref())?,
                };
                let instrument = self.instrument(exchange, symbol, out);
                Ok(Event::Ticker(Box::new(Ticker {
                    instrument,
                    ..ticker
                })))
            }
            _ => Err(RecordError {
                field: "type",
                reason: "not a candle or ticker".into(),
            }),
        }
    }
}

/// The record of a candle or ticker event at `exchange`/`symbol`.
pub(crate) fn market_record_of(
    event: &Event,
    exchange: Exchange,
    symbol: String,
) -> Option<Record> {
    match event {
        Event::Candle(c) => Some(Record::Candle {
            exchange,
            symbol,
            ts: c.ts,
            received_ts: (c.received_ts != c.ts).then_some(c.received_ts),
            interval: c.interval,
            open_ts: c.open_ts,
            open: text(c.open),
            high: text(c.high),
            low: text(c.low),
            close: text(c.close),
            volume: text(c.volume),
            quote_volume: opt(c.quote_volume),
            trades: c.trades,
            closed: c.closed,
        }),
        Event::Ticker(t) => {
            let level = |l: Option<Level>| l.map(|l| (text(l.price), text(l.size)));
            Some(Record::Ticker {
                exchange,
                symbol,
                ts: t.ts,
                received_ts: (t.received_ts != t.ts).then_some(t.received_ts),
                bid: level(t.best_bid),
                ask: level(t.best_ask),
                last_price: opt(t.last_price),
                volume_24h: opt(t.volume_24h),
                quote_volume_24h: opt(t.quote_volume_24h),
                change_24h: opt(t.change_24h),
                change_24h_percent: opt(t.change_24h_percent),
                mark_price: opt(t.mark_price),
                index_price: opt(t.index_price),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(line: &str) -> Result<Vec<Event>, RecordError> {
        let record: Record = serde_json::from_str(line).unwrap();
        let mut out = Vec::new();
        Normalizer::default().push(&record, &mut out)?;
        Ok(out)
    }

    #[test]
    fn a_candle_line_becomes_a_candle() {
        let out = push(
            r#"{"type":"candle","exchange":"binance","symbol":"BTCUSDT","ts":1700000060000,"interval":"1m","open_ts":1700000000000,"open":"37000","high":"37010.5","low":"36990","close":"37005","volume":"12.5","quote_volume":"462550.25","trades":42,"closed":true}"#,
        )
        .unwrap();
        let Event::Candle(c) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(c.interval.to_string(), "1m");
        assert_eq!(c.open_ts, 1_700_000_000_000);
        assert_eq!(c.high.to_string(), "37010.5");
        assert_eq!(c.quote_volume.unwrap().to_string(), "462550.25");
        assert_eq!(c.trades, Some(42));
        assert!(c.closed);
    }

    #[test]
    fn impossible_candles_are_refused_naming_the_field() {
        let line = |high: &str, low: &str, interval: &str| {
            format!(
                r#"{{"type":"candle","exchange":"x","symbol":"Y","ts":1700000060000,"interval":"{interval}","open_ts":1700000000000,"open":"10","high":"{high}","low":"{low}","close":"11","volume":"1","closed":false}}"#
            )
        };
        assert_eq!(push(&line("10.5", "9", "1m")).unwrap_err().field, "high");
        assert_eq!(push(&line("12", "10.5", "1m")).unwrap_err().field, "low");
        let bad: Result<Record, _> = serde_json::from_str(&line("12", "9", "1x"));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("not a candle interval")
        );
    }

    #[test]
    fn a_ticker_line_keeps_what_it_has() {
        let out = push(
            r#"{"type":"ticker","exchange":"okx","symbol":"BTC-USDT-SWAP","ts":1700000000000,"bid":["36999.9","2.1"],"ask":["37000","0.4"],"last_price":"37000"}"#,
        )
        .unwrap();
        let Event::Ticker(t) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(t.best_bid.unwrap().size.to_string(), "2.1");
        assert_eq!(t.best_ask.unwrap().price.to_string(), "37000");
        assert_eq!(t.volume_24h, None);
        let bad = push(
            r#"{"type":"ticker","exchange":"okx","symbol":"X","ts":1700000000000,"bid":["-1","2"]}"#,
        );
        assert_eq!(bad.unwrap_err().field, "bid");
    }
}
