//! Candles built from trades, in event time, for the instruments and
//! intervals no venue streams.
//!
//! The builder sits where a source numbers its events ([`crate::Positions`]),
//! so a built candle has a position in the stream like any event, and the
//! same trades in the same order make the same candles whether they come
//! live, from a file or from the simulator.
//!
//! Rules:
//! - A trade belongs to the interval holding its `ts`; one exactly on a
//!   boundary opens the next interval.
//! - An interval's candle is emitted, closed, before the first event of the
//!   same exchange whose time is at or past the interval's end (each venue's
//!   own clock: a lagging venue never closes another's candles early). Its
//!   `ts` (and `received_ts`) is that end.
//! - An interval without trades has no candle; nor does the interval still
//!   open when the source ends.
//! - A trade older than its instrument's open interval is late: it is left
//!   out and counted.
//! - Once a venue streams a candle of an instrument and interval, that pair
//!   is no longer built (the venue's wins).
//! - Open and high/low/close are trade prices; `volume` is the sum of sizes
//!   (base units), `quote_volume` the sum of price × size, exactly; `trades`
//!   counts them.

use prism_model::{Candle, CandleInterval, Decimal, Event, InstrumentId, TimestampMs};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One interval being built.
#[derive(Debug, Clone)]
struct Building {
    exchange: Arc<str>,
    open_ts: TimestampMs,
    end_ts: TimestampMs,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
    /// None once the sum no longer fits a decimal.
    quote_volume: Option<Decimal>,
    trades: u64,
}

/// Builds candles of the configured intervals from the trades that pass.
#[derive(Debug, Clone, Default)]
pub struct CandleBuilder {
    intervals: Vec<CandleInterval>,
    /// Exchange of each instrument, from its declaration.
    exchanges: HashMap<InstrumentId, Arc<str>>,
    open: HashMap<(InstrumentId, CandleInterval), Building>,
    /// Pairs a venue streams candles of.
    streamed: HashSet<(InstrumentId, CandleInterval)>,
    /// The earliest end among open intervals, per exchange: below it an
    /// event of that exchange closes nothing, so most events cost one
    /// lookup.
    next_end: HashMap<Arc<str>, TimestampMs>,
    /// The end of each pair's last emitted candle: a trade before it is late.
    emitted_until: HashMap<(InstrumentId, CandleInterval), TimestampMs>,
    late: u64,
}

impl CandleBuilder {
    /// A builder of these intervals (duplicates are ignored).
    #[must_use]
    pub fn new(intervals: &[CandleInterval]) -> Self {
        let mut intervals = intervals.to_vec();
        intervals.sort();
        intervals.dedup();
        Self {
            intervals,
            ..Self::default()
        }
    }

    /// Whether it builds anything at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// Trades left out because they were older than their open interval.
    #[must_use]
    pub fn late_trades(&self) -> u64 {
        self.late
    }

    /// `events` with the built candles in their places.
    #[must_use]
    pub fn apply(&mut self, events: Vec<Event>) -> Vec<Event> {
        if self.intervals.is_empty() {
            return events;
        }
        let mut out = Vec::with_capacity(events.len() + 4);
        for event in events {
            self.observe(&event, &mut out);
            out.push(event);
        }
        out
    }

    /// Closes what `event` closes (into `out`) and takes its trade.
    fn observe(&mut self, event: &Event, out: &mut Vec<Event>) {
        match event {
            Event::Instrument(i) => {
                self.exchanges.insert(i.id, i.exchange.clone());
                return;
            }
            Event::Candle(c) if self.streamed.insert((c.instrument, c.interval)) => {
                self.open.remove(&(c.instrument, c.interval));
            }
            _ => {}
        }
        let (Some(id), Some(ts)) = (event.instrument(), event.ts()) else {
            return;
        };
        let Some(exchange) = self.exchanges.get(&id).cloned() else {
            return;
        };
        if self.next_end.get(&exchange).is_some_and(|end| ts >= *end) {
            self.close_until(&exchange, ts, out);
        }
        if let Event::Trade(t) = event {
            for k in 0..self.intervals.len() {
                let interval = self.intervals[k];
                self.take(id, &exchange, interval, t.ts, t.price, t.size);
            }
        }
    }

    /// Emits, closed, every open interval of `exchange` that ends at or
    /// before `ts`, in order of end then instrument.
    fn close_until(&mut self, exchange: &Arc<str>, ts: TimestampMs, out: &mut Vec<Event>) {
        let mut due: Vec<(TimestampMs, InstrumentId, CandleInterval)> = self
            .open
            .iter()
            .filter(|(_, b)| b.exchange == *exchange && b.end_ts <= ts)
            .map(|((id, interval), b)| (b.end_ts, *id, *interval))
            .collect();
        due.sort();
        for (end, id, interval) in due {
            if let Some(b) = self.open.remove(&(id, interval)) {
                self.emitted_until.insert((id, interval), end);
                out.push(Event::Candle(Box::new(Candle {
                    instrument: id,
                    ts: end,
                    received_ts: end,
                    interval,
                    open_ts: b.open_ts,
                    open: b.open,
                    high: b.high,
                    low: b.low,
                    close: b.close,
                    volume: b.volume,
                    quote_volume: b.quote_volume,
                    trades: Some(b.trades),
                    closed: true,
                })));
            }
        }
        self.refresh_end(exchange);
    }

    fn refresh_end(&mut self, exchange: &Arc<str>) {
        match self
            .open
            .values()
            .filter(|b| b.exchange == *exchange)
            .map(|b| b.end_ts)
            .min()
        {
            Some(end) => {
                self.next_end.insert(exchange.clone(), end);
            }
            None => {
                self.next_end.remove(exchange);
            }
        }
    }

    fn take(
        &mut self,
        id: InstrumentId,
        exchange: &Arc<str>,
        interval: CandleInterval,
        ts: TimestampMs,
        price: Decimal,
        size: Decimal,
    ) {
        if self.streamed.contains(&(id, interval)) {
            return;
        }
        let notional = price.checked_mul(size);
        let open_ts = interval.open_of(ts);
        if self
            .emitted_until
            .get(&(id, interval))
            .is_some_and(|until| open_ts < *until)
        {
            self.late += 1;
            return;
        }
        match self.open.get_mut(&(id, interval)) {
            Some(b) if open_ts < b.open_ts => self.late += 1,
            Some(b) => {
                b.high = b.high.max(price);
                b.low = b.low.min(price);
                b.close = price;
                b.volume = b.volume.checked_add(size).unwrap_or(b.volume);
                b.quote_volume = b
                    .quote_volume
                    .zip(notional)
                    .and_then(|(q, n)| q.checked_add(n));
                b.trades += 1;
            }
            None => {
                let end_ts = interval.next_open(open_ts);
                self.open.insert(
                    (id, interval),
                    Building {
                        exchange: exchange.clone(),
                        open_ts,
                        end_ts,
                        open: price,
                        high: price,
                        low: price,
                        close: price,
                        volume: size,
                        quote_volume: notional,
                        trades: 1,
                    },
                );
                let end = self.next_end.entry(exchange.clone()).or_insert(end_ts);
                *end = (*end).min(end_ts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Normalizer, Record};

    /// Events of replay-format lines.
    fn events(lines: &[String]) -> Vec<Event> {
        let mut n = Normalizer::default();
        let mut out = Vec::new();
        for l in lines {
            let r: Record = serde_json::from_str(l).unwrap();
            n.push(&r, &mut out).unwrap();
        }
        out
    }

    const T0: i64 = 1_700_000_040_000;

    fn trade(ex: &str, sym: &str, dt: i64, price: &str, size: &str) -> String {
        format!(
            r#"{{"type":"trade","exchange":"{ex}","symbol":"{sym}","ts":{},"price":"{price}","size":"{size}","side":"buy"}}"#,
            T0 + dt
        )
    }

    /// (symbol, open_ts − T0, ts − T0, [o, h, l, c, volume, quote], trades)
    fn built(out: &[Event], registry: &[(u32, &str)]) -> Vec<(String, i64, i64, [String; 6], u64)> {
        out.iter()
            .filter_map(|e| match e {
                Event::Candle(c) => Some((
                    registry
                        .iter()
                        .find(|(id, _)| *id == c.instrument.0)
                        .map_or("?", |(_, s)| s)
                        .to_owned(),
                    c.open_ts - T0,
                    c.ts - T0,
                    [
                        c.open,
                        c.high,
                        c.low,
                        c.close,
                        c.volume,
                        c.quote_volume.unwrap(),
                    ]
                    .map(|d| d.normalize().to_string()),
                    c.trades.unwrap(),
                )),
                _ => None,
            })
            .collect()
    }

    fn s(v: [&str; 6]) -> [String; 6] {
        v.map(str::to_owned)
    }

    #[test]
    fn one_minute_candles_by_hand() {
        let lines = [
            // Interval [T0, T0+60s): a trade exactly on its start.
            trade("binance", "BTCUSDT", 0, "100", "1"),
            trade("binance", "BTCUSDT", 10_000, "105", "0.5"),
            trade("binance", "BTCUSDT", 59_999, "99", "2"),
            // Exactly on the boundary: opens the next interval, closes the first.
            trade("binance", "BTCUSDT", 60_000, "101", "1"),
            trade("binance", "BTCUSDT", 90_000, "102.5", "0.2"),
            // [T0+120s, T0+180s) has no trade: no candle.
            trade("binance", "BTCUSDT", 185_000, "98", "3"),
            // Another venue's clock closes nothing of Binance's.
            trade("okx", "BTC-USDT", 250_000, "97", "1"),
            // Another Binance instrument moves Binance's clock past T0+240s.
            trade("binance", "ETHUSDT", 240_000, "2000", "1"),
            // Late: its interval was emitted already.
            trade("binance", "BTCUSDT", 170_000, "1", "1"),
            trade("okx", "BTC-USDT", 300_001, "96", "2"),
        ];
        let mut b = CandleBuilder::new(&["1m".parse().unwrap()]);
        let out = b.apply(events(&lines));
        let names = [(0, "BTCUSDT"), (1, "BTC-USDT"), (2, "ETHUSDT")];
        assert_eq!(
            built(&out, &names),
            [
                // O 100, H 105, L 99, C 99; V 1 + 0.5 + 2; Q 100 + 52.5 + 198.
                (
                    "BTCUSDT".into(),
                    0,
                    60_000,
                    s(["100", "105", "99", "99", "3.5", "350.5"]),
                    3
                ),
                // O 101, H 102.5, L 101, C 102.5; V 1.2; Q 101 + 20.5.
                (
                    "BTCUSDT".into(),
                    60_000,
                    120_000,
                    s(["101", "102.5", "101", "102.5", "1.2", "121.5"]),
                    2
                ),
                (
                    "BTCUSDT".into(),
                    180_000,
                    240_000,
                    s(["98", "98", "98", "98", "3", "294"]),
                    1
                ),
                // OKX's own clock reaches T0+300.001s: its first candle closes.
                (
                    "BTC-USDT".into(),
                    240_000,
                    300_000,
                    s(["97", "97", "97", "97", "1", "97"]),
                    1
                ),
            ]
        );
        assert_eq!(b.late_trades(), 1);
        // Each candle comes right before the event that closed it.
        let at = |i: usize| match &out[i] {
            Event::Trade(t) => t.ts - T0,
            other => panic!("{other:?}"),
        };
        let first = out
            .iter()
            .position(|e| matches!(e, Event::Candle(_)))
            .unwrap();
        assert_eq!(at(first + 1), 60_000);
    }

    #[test]
    fn a_streamed_candle_stops_the_building_and_months_follow_the_calendar() {
        let candle = format!(
            r#"{{"type":"candle","exchange":"binance","symbol":"BTCUSDT","ts":{},"interval":"1m","open_ts":{T0},"open":"1","high":"1","low":"1","close":"1","volume":"1","closed":false}}"#,
            T0 + 1
        );
        let lines = [
            trade("binance", "BTCUSDT", 0, "100", "1"),
            candle,
            trade("binance", "BTCUSDT", 61_000, "100", "1"),
            trade("binance", "BTCUSDT", 125_000, "100", "1"),
        ];
        let mut b = CandleBuilder::new(&["1m".parse().unwrap()]);
        let out = b.apply(events(&lines));
        let built: Vec<_> = out
            .iter()
            .filter(|e| matches!(e, Event::Candle(c) if c.closed))
            .collect();
        assert!(built.is_empty(), "{built:?}");

        // 2024-01-31T23:59:59Z then 2024-02-01T00:00:00Z: one January candle.
        let jan = 1_706_745_599_000_i64;
        let mut b = CandleBuilder::new(&["1M".parse().unwrap()]);
        let line = |ts: i64, p: &str| {
            format!(
                r#"{{"type":"trade","exchange":"x","symbol":"Y","ts":{ts},"price":"{p}","size":"1","side":"sell"}}"#
            )
        };
        let out = b.apply(events(&[line(jan, "5"), line(jan + 1_000, "6")]));
        let Some(Event::Candle(c)) = out.iter().find(|e| matches!(e, Event::Candle(_))) else {
            panic!("{out:?}")
        };
        assert_eq!((c.open_ts, c.ts), (1_704_067_200_000, 1_706_745_600_000));
        assert_eq!(c.close.to_string(), "5");
    }
}
