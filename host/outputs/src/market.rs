//! Candles and the latest ticker of each instrument, kept for the API.
//!
//! Bounded: at most `candles_kept` closed candles per instrument and
//! interval (the oldest go first), at most `series` instrument-interval
//! pairs and `tickers` instruments (past either cap, new ones are counted
//! and not kept). The open candle of each pair is kept beside its closed
//! ones and replaced by each update.

use crate::query::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use prism_model::{Candle, CandleInterval, Event, Instrument, Ticker, TimestampMs};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// How much is kept.
#[derive(Debug, Clone, Copy)]
pub struct MarketLimits {
    /// Closed candles per instrument and interval.
    pub candles_kept: usize,
    /// Instrument-interval pairs.
    pub series: usize,
    /// Instruments with a ticker.
    pub tickers: usize,
}

impl Default for MarketLimits {
    fn default() -> Self {
        Self {
            candles_kept: 1_440,
            series: 100_000,
            tickers: 10_000,
        }
    }
}

/// An instrument's place: exchange and symbol.
pub type Place = (Arc<str>, Arc<str>);

#[derive(Debug, Default)]
struct Series {
    closed: VecDeque<Candle>,
    open: Option<Candle>,
}

/// Which candles a read wants. Times bound `open_ts`, inclusive.
#[derive(Debug, Clone)]
pub struct CandleQuery {
    pub exchange: String,
    pub symbol: String,
    pub interval: CandleInterval,
    pub from: Option<TimestampMs>,
    pub to: Option<TimestampMs>,
    /// Candles opening before this (from a previous page).
    pub cursor: Option<TimestampMs>,
    pub limit: Option<usize>,
    /// Also the candle still open, first, when it is in range.
    pub include_open: bool,
}

/// The kept candles and tickers.
#[derive(Debug, Default)]
pub struct MarketStore {
    limits: MarketLimits,
    candles: RwLock<BTreeMap<(Place, CandleInterval), Series>>,
    tickers: RwLock<BTreeMap<Place, Ticker>>,
    /// Candles and tickers of pairs or instruments past the caps.
    refused: AtomicU64,
}

fn place(i: &Instrument) -> Place {
    (i.exchange.clone(), i.symbol.clone())
}

impl MarketStore {
    /// A store keeping at most `limits`.
    #[must_use]
    pub fn new(limits: MarketLimits) -> Self {
        Self {
            limits: MarketLimits {
                candles_kept: limits.candles_kept.max(1),
                ..limits
            },
            ..Self::default()
        }
    }

    /// Keeps what it keeps of `events` (candles and tickers; the rest is
    /// ignored), each about its instrument.
    pub fn insert<'a>(&self, events: impl IntoIterator<Item = (&'a Arc<Instrument>, &'a Event)>) {
        for (instrument, event) in events {
            match event {
                Event::Candle(c) => self.candle(instrument, c),
                Event::Ticker(t) => self.ticker(instrument, t),
                _ => {}
            }
        }
    }

    fn candle(&self, instrument: &Instrument, c: &Candle) {
        let mut all = self
            .candles
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (place(instrument), c.interval);
        if !all.contains_key(&key) && all.len() >= self.limits.series {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let series = all.entry(key).or_default();
        // An update of a candle already closed here is late: ignored.
        if series
            .closed
            .back()
            .is_some_and(|last| c.open_ts <= last.open_ts)
        {
            return;
        }
        if let Some(open) = series.open.take()
            && open.open_ts < c.open_ts
        {
            // The venue moved on without a closing update: the last value
            // seen is the candle.
            series.closed.push_back(open);
        }
        if c.closed {
            series.closed.push_back(c.clone());
        } else {
            series.open = Some(c.clone());
        }
        while series.closed.len() > self.limits.candles_kept {
            series.closed.pop_front();
        }
    }

    fn ticker(&self, instrument: &Instrument, t: &Ticker) {
        let mut all = self
            .tickers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = place(instrument);
        if !all.contains_key(&key) && all.len() >= self.limits.tickers {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        all.insert(key, t.clone());
    }

    /// A page of candles, newest first.
    #[must_use]
    pub fn candles(&self, q: &CandleQuery) -> Page<Candle, TimestampMs> {
        let all = self
            .candles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (
            (Arc::from(q.exchange.as_str()), Arc::from(q.symbol.as_str())),
            q.interval,
        );
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let Some(series) = all.get(&key) else {
            return Page {
                items: Vec::new(),
                next_cursor: None,
            };
        };
        let wanted = |c: &&Candle| {
            q.from.is_none_or(|f| c.open_ts >= f)
                && q.to.is_none_or(|t| c.open_ts <= t)
                && q.cursor.is_none_or(|cur| c.open_ts < cur)
        };
        let open = series.open.iter().filter(|_| q.include_open);
        let mut items = Vec::new();
        let mut next_cursor = None;
        for c in open.chain(series.closed.iter().rev()).filter(wanted) {
            if items.len() == limit {
                next_cursor = items.last().map(|last: &Candle| last.open_ts);
                break;
            }
            items.push(c.clone());
        }
        Page { items, next_cursor }
    }

    /// The latest tickers, by exchange then symbol, after `cursor` (an
    /// `exchange/symbol` of a previous page).
    #[must_use]
    pub fn tickers(
        &self,
        exchange: Option<&str>,
        symbol: Option<&str>,
        cursor: Option<&Place>,
        limit: Option<usize>,
    ) -> Page<(Place, Ticker), Place> {
        let all = self
            .tickers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let mut items = Vec::new();
        let mut next_cursor = None;
        for (place, ticker) in all.iter() {
            if cursor.is_some_and(|c| place <= c)
                || exchange.is_some_and(|e| *place.0 != *e)
                || symbol.is_some_and(|s| !place.1.eq_ignore_ascii_case(s))
            {
                continue;
            }
            if items.len() == limit {
                next_cursor = items.last().map(|(p, _): &(Place, Ticker)| p.clone());
                break;
            }
            items.push((place.clone(), ticker.clone()));
        }
        Page { items, next_cursor }
    }

    /// Candles and tickers not kept because a cap was reached.
    #[must_use]
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::{InstrumentRegistry, decimal};

    fn candle(id: prism_model::InstrumentId, open_ts: i64, close: &str, closed: bool) -> Event {
        let d = |t: &str| decimal::parse(t).unwrap();
        Event::Candle(Box::new(Candle {
            instrument: id,
            ts: open_ts + 1,
            received_ts: open_ts + 1,
            interval: "1m".parse().unwrap(),
            open_ts,
            open: d("1"),
            high: d("9"),
            low: d("1"),
            close: d(close),
            volume: d("1"),
            quote_volume: None,
            trades: None,
            closed,
        }))
    }

    #[test]
    fn candles_close_page_newest_first_and_stay_bounded() {
        let mut r = InstrumentRegistry::default();
        let (id, _) = r.intern("binance", "BTCUSDT");
        let btc = r.get(id).unwrap().clone();
        let store = MarketStore::new(MarketLimits {
            candles_kept: 3,
            ..MarketLimits::default()
        });
        let events = [
            candle(id, 0, "2", false),
            candle(id, 0, "3", true),
            // No closing update: the next interval closes it as last seen.
            candle(id, 60_000, "4", false),
            candle(id, 120_000, "5", true),
            candle(id, 180_000, "6", true),
            // Late update of a closed candle.
            candle(id, 120_000, "99", false),
            candle(id, 240_000, "7", false),
        ];
        store.insert(events.iter().map(|e| (&btc, e)));
        let q = |cursor, limit, include_open| CandleQuery {
            exchange: "binance".into(),
            symbol: "BTCUSDT".into(),
            interval: "1m".parse().unwrap(),
            from: None,
            to: None,
            cursor,
            limit: Some(limit),
            include_open,
        };
        let closes = |p: &Page<Candle, i64>| -> Vec<String> {
            p.items.iter().map(|c| c.close.to_string()).collect()
        };
        // Three closed kept (the first went), the open one first if asked.
        let page = store.candles(&q(None, 10, true));
        assert_eq!(closes(&page), ["7", "6", "5", "4"]);
        let page = store.candles(&q(None, 2, false));
        assert_eq!(closes(&page), ["6", "5"]);
        assert_eq!(page.next_cursor, Some(120_000));
        let page = store.candles(&q(page.next_cursor, 2, false));
        assert_eq!(closes(&page), ["4"]);
        assert_eq!(page.next_cursor, None);
    }
}
