//! A native test harness: drive a plugin's logic in a plain `cargo test`,
//! with no wasm and no host.
//!
//! It declares instruments the way the host does (before their first use)
//! and runs the same dispatch code the wasm export runs.

use crate::{
    Candle, CandleInterval, Context, Decimal, Event, Funding, Instrument, InstrumentId,
    IntervalUnit, Level, Liquidation, MarketKind, OpenInterest, Output, Plugin, PluginInfo,
    Position, PositionSide, Side, Ticker, TimestampMs, Trade,
};
use std::collections::HashMap;

/// Drives one plugin value natively.
pub struct Harness<P: Plugin> {
    plugin: P,
    info: PluginInfo,
    ctx: Context,
    ids: HashMap<(String, String), InstrumentId>,
    undeclared: Vec<Instrument>,
}

fn dec(text: &str) -> Decimal {
    Decimal::parse(text).unwrap_or_else(|e| panic!("test decimal `{text}`: {e}"))
}

impl<P: Plugin> Harness<P> {
    /// Calls `P::init` with `config` (JSON text).
    ///
    /// # Errors
    /// The plugin's refusal of the config.
    pub fn new(config: &str) -> Result<Self, String> {
        let (plugin, info) = P::init(config)?;
        Ok(Self {
            plugin,
            info,
            ctx: Context::default(),
            ids: HashMap::new(),
            undeclared: Vec::new(),
        })
    }

    /// What `init` returned.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The plugin value, to inspect.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    /// The id of `(exchange, symbol)` (a perpetual, contract size 1, base
    /// the symbol without a `USDT` suffix); it is declared to the plugin
    /// ahead of the next [`Self::push`].
    pub fn instrument(&mut self, exchange: &str, symbol: &str) -> InstrumentId {
        let base = symbol.trim_end_matches("USDT").to_owned();
        self.instrument_of(exchange, symbol, &base, "USD")
    }

    /// The id of `(exchange, symbol)` with this base and quote asset (a
    /// perpetual, contract size 1).
    pub fn instrument_of(
        &mut self,
        exchange: &str,
        symbol: &str,
        base: &str,
        quote: &str,
    ) -> InstrumentId {
        let key = (exchange.to_owned(), symbol.to_owned());
        if let Some(id) = self.ids.get(&key) {
            return *id;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.insert(key, id);
        self.undeclared.push(Instrument {
            id,
            exchange: exchange.to_owned(),
            symbol: symbol.to_owned(),
            base: base.to_owned(),
            quote: quote.to_owned(),
            kind: MarketKind::Perpetual,
            contract_size: Decimal::new(1, 0),
        });
        id
    }

    /// Delivers a batch (after any pending declarations) and returns its outputs.
    ///
    /// # Errors
    /// The plugin's error for the batch.
    pub fn push(&mut self, events: Vec<Event>) -> Result<Vec<Output>, String> {
        let mut batch: Vec<Event> = self.undeclared.drain(..).map(Event::Instrument).collect();
        batch.extend(events);
        crate::runtime::dispatch(&mut self.plugin, &mut self.ctx, &batch)
    }

    /// The plugin's snapshot.
    pub fn snapshot(&self) -> Vec<u8> {
        self.plugin.snapshot()
    }

    /// Restores a snapshot into this harness's plugin.
    ///
    /// # Errors
    /// The plugin's refusal.
    pub fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        self.plugin.restore(state)
    }

    /// A trade event (decimals as text).
    pub fn trade(
        &self,
        instrument: InstrumentId,
        ts: TimestampMs,
        price: &str,
        size: &str,
        side: Side,
    ) -> Event {
        Event::Trade(Trade {
            instrument,
            ts,
            received_ts: ts,
            price: dec(price),
            size: dec(size),
            side,
            buyer: None,
            seller: None,
        })
    }

    /// A trade with the buyer's and seller's accounts.
    #[allow(clippy::too_many_arguments)]
    pub fn trade_between(
        &self,
        instrument: InstrumentId,
        ts: TimestampMs,
        price: &str,
        size: &str,
        side: Side,
        buyer: &str,
        seller: &str,
    ) -> Event {
        Event::Trade(Trade {
            instrument,
            ts,
            received_ts: ts,
            price: dec(price),
            size: dec(size),
            side,
            buyer: Some(buyer.to_owned()),
            seller: Some(seller.to_owned()),
        })
    }

    /// A liquidation of `account`'s position.
    pub fn liquidation_of(
        &self,
        instrument: InstrumentId,
        ts: TimestampMs,
        price: &str,
        size: &str,
        position: PositionSide,
        account: &str,
    ) -> Event {
        let mut event = self.liquidation(instrument, ts, price, size, position);
        if let Event::Liquidation(l) = &mut event {
            l.account = Some(account.to_owned());
        }
        event
    }

    /// A liquidation event.
    pub fn liquidation(
        &self,
        instrument: InstrumentId,
        ts: TimestampMs,
        price: &str,
        size: &str,
        position: PositionSide,
    ) -> Event {
        Event::Liquidation(Liquidation {
            instrument,
            ts,
            received_ts: ts,
            price: dec(price),
            size: dec(size),
            position,
            account: None,
        })
    }

    /// A position event (signed size).
    pub fn position(
        &self,
        instrument: InstrumentId,
        ts: TimestampMs,
        account: &str,
        size: &str,
        entry_price: &str,
        liquidation_price: Option<&str>,
    ) -> Event {
        Event::Position(Position {
            instrument,
            ts,
            received_ts: ts,
            account: account.to_owned(),
            size: dec(size),
            entry_price: dec(entry_price),
            liquidation_price: liquidation_price.map(dec),
            leverage: None,
        })
    }

    /// A funding event.
    pub fn funding(
        &self,
        instrument: InstrumentId,
        ts: TimestampMs,
        rate: &str,
        interval_hours: u32,
        mark: Option<&str>,
    ) -> Event {
        Event::Funding(Funding {
            instrument,
            ts,
            received_ts: ts,
            rate: dec(rate),
            interval_hours,
            mark_price: mark.map(dec),
            index_price: None,
            next_funding_ts: None,
        })
    }

    /// A closed one-minute candle opening at `open_ts`, event time at its
    /// close; `ohlcv` is open, high, low, close, volume (base units).
    pub fn candle_1m(
        &self,
        instrument: InstrumentId,
        open_ts: TimestampMs,
        ohlcv: [&str; 5],
    ) -> Event {
        let [open, high, low, close, volume] = ohlcv.map(dec);
        Event::Candle(Candle {
            instrument,
            interval: CandleInterval {
                count: 1,
                unit: IntervalUnit::Minute,
            },
            closed: true,
            ts: open_ts + 60_000,
            open_ts,
            open,
            high,
            low,
            close,
            volume,
            values: Vec::new(),
        })
    }

    /// A best bid/offer ticker: `(price, size)` of each side.
    pub fn bbo(
        &self,
        instrument: InstrumentId,
        ts: TimestampMs,
        bid: (&str, &str),
        ask: (&str, &str),
    ) -> Event {
        let level = |(price, size): (&str, &str)| Level {
            price: dec(price),
            size: dec(size),
        };
        Event::Ticker(Ticker {
            instrument,
            ts,
            received_ts: ts,
            best_bid: Some(level(bid)),
            best_ask: Some(level(ask)),
            values: Vec::new(),
        })
    }

    /// An open-interest event.
    pub fn open_interest(
        &self,
        instrument: InstrumentId,
        ts: TimestampMs,
        open_interest: &str,
    ) -> Event {
        Event::OpenInterest(OpenInterest {
            instrument,
            ts,
            received_ts: ts,
            open_interest: dec(open_interest),
        })
    }
}

/// Decodes a document or log body (MessagePack) as JSON, for assertions.
///
/// # Panics
/// When the body is not valid MessagePack (a test failure).
#[must_use]
pub fn body_json(body: &[u8]) -> serde_json::Value {
    rmp_serde::from_slice(body).expect("body is MessagePack")
}
