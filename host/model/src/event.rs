//! Normalized market events. Immutable once made; sizes in base-asset units.

use crate::{Candle, Decimal, Instrument, InstrumentId, Ticker, TimestampMs};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Side of an order, or of a trade's aggressor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

/// Side of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionSide {
    Long,
    Short,
}

/// An executed trade; `side` is the aggressor's.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    pub instrument: InstrumentId,
    pub ts: TimestampMs,
    pub received_ts: TimestampMs,
    pub price: Decimal,
    pub size: Decimal,
    pub side: Side,
    pub buyer: Option<Arc<str>>,
    pub seller: Option<Arc<str>>,
}

/// A forced liquidation; `position` is the liquidated side.
#[derive(Debug, Clone, PartialEq)]
pub struct Liquidation {
    pub instrument: InstrumentId,
    pub ts: TimestampMs,
    pub received_ts: TimestampMs,
    pub price: Decimal,
    pub size: Decimal,
    pub position: PositionSide,
    pub account: Option<Arc<str>>,
}

/// A funding-rate update; `rate` is per `interval_hours`.
#[derive(Debug, Clone, PartialEq)]
pub struct Funding {
    pub instrument: InstrumentId,
    pub ts: TimestampMs,
    pub received_ts: TimestampMs,
    pub rate: Decimal,
    pub interval_hours: u32,
    pub mark_price: Option<Decimal>,
    pub index_price: Option<Decimal>,
    pub next_funding_ts: Option<TimestampMs>,
}

/// Open interest in base-asset units.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenInterest {
    pub instrument: InstrumentId,
    pub ts: TimestampMs,
    pub received_ts: TimestampMs,
    pub open_interest: Decimal,
}

/// One book level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub price: Decimal,
    pub size: Decimal,
}

/// Book levels: a snapshot, or a delta where size 0 removes a level.
#[derive(Debug, Clone, PartialEq)]
pub struct Book {
    pub instrument: InstrumentId,
    pub ts: TimestampMs,
    pub received_ts: TimestampMs,
    pub snapshot: bool,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// An account's position; `size` is signed (positive long).
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub instrument: InstrumentId,
    pub ts: TimestampMs,
    pub received_ts: TimestampMs,
    pub account: Arc<str>,
    pub size: Decimal,
    pub entry_price: Decimal,
    pub liquidation_price: Option<Decimal>,
    pub leverage: Option<Decimal>,
}

/// A scheduled tick of event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub ts: TimestampMs,
}

/// A paper fill of a plugin's own order.
#[derive(Debug, Clone, PartialEq)]
pub struct Fill {
    pub client_id: Arc<str>,
    pub instrument: InstrumentId,
    pub ts: TimestampMs,
    pub price: Decimal,
    pub size: Decimal,
    pub side: Side,
    pub fee: Decimal,
}

/// One event of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Declares an instrument; precedes the first event that uses its id.
    Instrument(Arc<Instrument>),
    Trade(Trade),
    Liquidation(Liquidation),
    Funding(Funding),
    OpenInterest(OpenInterest),
    Book(Book),
    Position(Position),
    Timer(Timer),
    Fill(Fill),
    // Boxed: each is larger than every other event, and unboxed they would
    // double the size of every event in every batch.
    Candle(Box<Candle>),
    Ticker(Box<Ticker>),
}

/// The kinds of market event a subscription can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Trade,
    Liquidation,
    Funding,
    OpenInterest,
    Book,
    Position,
    Fill,
    Candle,
    Ticker,
}

impl EventKind {
    /// Every kind, in contract order.
    pub const ALL: [EventKind; 9] = [
        EventKind::Trade,
        EventKind::Liquidation,
        EventKind::Funding,
        EventKind::OpenInterest,
        EventKind::Book,
        EventKind::Position,
        EventKind::Fill,
        EventKind::Candle,
        EventKind::Ticker,
    ];

    /// The name used in files and config (`open_interest`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Trade => "trade",
            EventKind::Liquidation => "liquidation",
            EventKind::Funding => "funding",
            EventKind::OpenInterest => "open_interest",
            EventKind::Book => "book",
            EventKind::Position => "position",
            EventKind::Fill => "fill",
            EventKind::Candle => "candle",
            EventKind::Ticker => "ticker",
        }
    }
}

impl Event {
    /// An event of the stream proper: anything but an instrument
    /// declaration. These are what a plugin is counted as receiving (every
    /// one ends delivered, dead-lettered or dropped); declarations only
    /// name the ids the others use.
    #[must_use]
    pub fn is_market(&self) -> bool {
        !matches!(self, Event::Instrument(_))
    }

    /// The instrument the event is about (none for timers).
    #[must_use]
    pub fn instrument(&self) -> Option<InstrumentId> {
        match self {
            Event::Instrument(i) => Some(i.id),
            Event::Trade(e) => Some(e.instrument),
            Event::Liquidation(e) => Some(e.instrument),
            Event::Funding(e) => Some(e.instrument),
            Event::OpenInterest(e) => Some(e.instrument),
            Event::Book(e) => Some(e.instrument),
            Event::Position(e) => Some(e.instrument),
            Event::Fill(e) => Some(e.instrument),
            Event::Candle(e) => Some(e.instrument),
            Event::Ticker(e) => Some(e.instrument),
            Event::Timer(_) => None,
        }
    }

    /// Event time, if the event has one (declarations do not).
    #[must_use]
    pub fn ts(&self) -> Option<TimestampMs> {
        match self {
            Event::Instrument(_) => None,
            Event::Trade(e) => Some(e.ts),
            Event::Liquidation(e) => Some(e.ts),
            Event::Funding(e) => Some(e.ts),
            Event::OpenInterest(e) => Some(e.ts),
            Event::Book(e) => Some(e.ts),
            Event::Position(e) => Some(e.ts),
            Event::Timer(e) => Some(e.ts),
            Event::Fill(e) => Some(e.ts),
            Event::Candle(e) => Some(e.ts),
            Event::Ticker(e) => Some(e.ts),
        }
    }

    /// The subscribable kind, if any (declarations and timers have none).
    #[must_use]
    pub fn kind(&self) -> Option<EventKind> {
        match self {
            Event::Trade(_) => Some(EventKind::Trade),
            Event::Liquidation(_) => Some(EventKind::Liquidation),
            Event::Funding(_) => Some(EventKind::Funding),
            Event::OpenInterest(_) => Some(EventKind::OpenInterest),
            Event::Book(_) => Some(EventKind::Book),
            Event::Position(_) => Some(EventKind::Position),
            Event::Fill(_) => Some(EventKind::Fill),
            Event::Candle(_) => Some(EventKind::Candle),
            Event::Ticker(_) => Some(EventKind::Ticker),
            Event::Instrument(_) | Event::Timer(_) => None,
        }
    }
}

/// Events as a source hands them to the router, at consecutive positions
/// in the stream from `first`. A position identifies an event for good
/// (with a replayable source, across runs too): outputs are identified by
/// the position of the batch they came from, and a plugin restored from a
/// checkpoint resumes after the position it covers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    pub first: u64,
    pub events: Vec<Event>,
}

impl Chunk {
    /// The position after this chunk's last event.
    #[must_use]
    pub fn end(&self) -> u64 {
        self.first + self.events.len() as u64
    }
}
