//! Candles and tickers: the records every venue makes the same way, and
//! what venues that never mark a candle closed need to mark it.

use super::Ctx;
use crate::num::{self, BadValue, bad, out};
use prism_model::{CandleInterval, Decimal, TimestampMs};
use prism_sources::Record;
use std::collections::HashMap;

/// A candle's values as the venue gave them (volumes in base units).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CandleFields {
    pub(crate) interval: CandleInterval,
    pub(crate) open_ts: TimestampMs,
    pub(crate) open: Decimal,
    pub(crate) high: Decimal,
    pub(crate) low: Decimal,
    pub(crate) close: Decimal,
    pub(crate) volume: Decimal,
    pub(crate) quote_volume: Option<Decimal>,
    pub(crate) trades: Option<u64>,
    pub(crate) closed: bool,
}

/// A ticker's values, each where the venue gave it (sizes in base units).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TickerFields {
    /// Best bid `(price, size)`.
    pub(crate) bid: Option<(Decimal, Decimal)>,
    pub(crate) ask: Option<(Decimal, Decimal)>,
    pub(crate) last: Option<Decimal>,
    pub(crate) volume_24h: Option<Decimal>,
    pub(crate) quote_volume_24h: Option<Decimal>,
    pub(crate) change_24h: Option<Decimal>,
    pub(crate) change_24h_percent: Option<Decimal>,
    pub(crate) mark: Option<Decimal>,
    pub(crate) index: Option<Decimal>,
}

impl Ctx<'_> {
    pub(crate) fn candle(&mut self, symbol: &str, ts: TimestampMs, c: CandleFields) {
        self.out.push(Record::Candle {
            exchange: self.venue.into(),
            symbol: symbol.to_owned(),
            ts,
            received_ts: self.received,
            interval: c.interval,
            open_ts: c.open_ts,
            open: out(c.open),
            high: out(c.high),
            low: out(c.low),
            close: out(c.close),
            volume: out(c.volume),
            quote_volume: c.quote_volume.map(out),
            trades: c.trades,
            closed: c.closed,
        });
    }

    pub(crate) fn ticker(&mut self, symbol: &str, ts: TimestampMs, t: TickerFields) {
        let level = |l: Option<(Decimal, Decimal)>| l.map(|(p, s)| (out(p), out(s)));
        self.out.push(Record::Ticker {
            exchange: self.venue.into(),
            symbol: symbol.to_owned(),
            ts,
            received_ts: self.received,
            bid: level(t.bid),
            ask: level(t.ask),
            last_price: t.last.map(out),
            volume_24h: t.volume_24h.map(out),
            quote_volume_24h: t.quote_volume_24h.map(out),
            change_24h: t.change_24h.map(out),
            change_24h_percent: t.change_24h_percent.map(out),
            mark_price: t.mark.map(out),
            index_price: t.index.map(out),
        });
    }
}

/// A venue's interval name (`1m`, `1H`, `1D`, `1W`, `1M`; OKX's `…utc`
/// suffix dropped) as an interval, refused by `field` when it is not one.
pub(crate) fn interval(field: &str, name: &str) -> Result<CandleInterval, BadValue> {
    let name = name.strip_suffix("utc").unwrap_or(name);
    name.parse()
        .map_err(|e: prism_model::IntervalError| bad(field, e.to_string()))
}

/// An optional decimal text that venues send empty when they have none.
pub(crate) fn maybe(field: &str, text: Option<&str>) -> Result<Option<Decimal>, BadValue> {
    match text {
        None | Some("") => Ok(None),
        Some(t) => num::text(field, t).map(Some),
    }
}

/// Open candles of venues that never say a candle closed (Hyperliquid,
/// Deribit): each is the latest value of its interval, and the first update
/// of a later interval closes it. Bounded: one per instrument and interval
/// subscribed.
#[derive(Debug, Default)]
pub(crate) struct OpenCandles {
    open: HashMap<(String, CandleInterval), CandleFields>,
}

/// Most (instrument, interval) pairs tracked; past it the oldest-opened
/// is forgotten (its close is then never announced).
const MAX_OPEN: usize = 10_000;

impl OpenCandles {
    /// Emits `c` (an update of the open candle of `symbol`), first the
    /// candle it closes, if any, marked closed at the same event time.
    pub(crate) fn update(
        &mut self,
        ctx: &mut Ctx<'_>,
        symbol: &str,
        ts: TimestampMs,
        c: CandleFields,
    ) {
        let key = (symbol.to_owned(), c.interval);
        match self.open.get(&key) {
            Some(last) if last.open_ts > c.open_ts => {
                // An update of an interval already closed: late, dropped.
                ctx.stats.duplicates += 1;
                return;
            }
            Some(last) if last.open_ts < c.open_ts => {
                let closed = CandleFields {
                    closed: true,
                    ..last.clone()
                };
                ctx.candle(symbol, ts, closed);
            }
            _ => {}
        }
        if self.open.len() >= MAX_OPEN && !self.open.contains_key(&key) {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, v)| v.open_ts)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.open.remove(&k);
            }
        }
        ctx.candle(symbol, ts, c.clone());
        self.open.insert(key, c);
    }
}
