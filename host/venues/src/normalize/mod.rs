//! The dispatch from a venue's messages to its normalizer, and the counts.

mod binance;
mod bybit;
mod dedup;
mod deribit;
mod envelope;
mod hyperliquid;
mod lighter;
mod market;
mod okx;

use crate::Venue;
use crate::contracts::Contracts;
use crate::num::{BadValue, out};
use prism_model::{Decimal, PositionSide, Side, TimestampMs};
use prism_sources::Record;
use std::collections::BTreeMap;

/// A value as replay-format text: a decimal (formatted) or text already
/// canonical ([`crate::num::canonical`]).
pub(crate) trait Text {
    fn text(self) -> prism_sources::DecimalText;
}

impl Text for Decimal {
    fn text(self) -> prism_sources::DecimalText {
        out(self)
    }
}

impl Text for prism_sources::DecimalText {
    fn text(self) -> prism_sources::DecimalText {
        self
    }
}

/// A book level as replay-format text.
pub(crate) type TextLevel = (prism_sources::DecimalText, prism_sources::DecimalText);

/// What one message was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It made this many records (0 for a book delta held back until the
    /// book is in sync again).
    Records(usize),
    /// A subscription answer, a heartbeat, a pong: nothing to normalize.
    Control,
    /// A known message type Prism has no event for (mini tickers, index
    /// candles, spot contexts); named.
    Unsupported(String),
    /// A message type this normalizer does not know; named as well as it can.
    Unknown(String),
    /// A message that could not be normalized, with the reason.
    Rejected(String),
}

/// Counts of what a feed's messages were.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub messages: u64,
    pub records: u64,
    pub control: u64,
    /// Known types Prism has no event for, by type.
    pub unsupported: BTreeMap<String, u64>,
    /// Unknown types, by type.
    pub unknown: BTreeMap<String, u64>,
    pub rejected: u64,
    /// The first rejections' reasons (at most [`KEPT_REASONS`]).
    pub rejections: Vec<String>,
    /// Book updates that did not follow the previous one (sequence gaps,
    /// checksum mismatches): the book waits for a new snapshot.
    pub book_gaps: u64,
    /// Books whose checksum did not match the venue's after an update (the
    /// update is still emitted, as the venue sent it; a live feed resyncs).
    pub checksum_mismatches: u64,
    /// Book updates older than the book (dropped, as the venue prescribes).
    pub book_stale: u64,
    /// Book updates that arrived while the book was out of sync and were
    /// dropped (venues whose updates cannot straddle a snapshot drop them at
    /// once; Binance holds them for the next snapshot, up to a bound).
    pub book_unsynced: u64,
    /// Book updates held now for the next snapshot of their book (Binance:
    /// a diff that arrived before the snapshot may still apply after it).
    pub book_waiting: u64,
    /// Messages seen again (e.g. a venue resending recent trades on subscribe).
    pub duplicates: u64,
}

/// Rejection reasons kept in [`Stats::rejections`].
pub const KEPT_REASONS: usize = 100;

/// What a venue normalizer gets besides the message.
pub(crate) struct Ctx<'a> {
    pub(crate) venue: &'static str,
    pub(crate) received: Option<TimestampMs>,
    pub(crate) contracts: &'a Contracts,
    pub(crate) stats: &'a mut Stats,
    pub(crate) resync: &'a mut Vec<String>,
    pub(crate) out: &'a mut Vec<Record>,
}

impl Ctx<'_> {
    /// Event time from the message, or the receive time when the message
    /// carries none, or a refusal saying so.
    pub(crate) fn time(&self, from_message: Option<TimestampMs>) -> Result<TimestampMs, BadValue> {
        from_message.or(self.received).ok_or_else(|| {
            crate::num::bad(
                "time",
                "the message carries no time and none was recorded with it; normalize a capture with receive times (prism record, cryptofeed, tardis)",
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn trade(
        &mut self,
        symbol: &str,
        ts: TimestampMs,
        price: impl Text,
        size: impl Text,
        side: Side,
        buyer: Option<String>,
        seller: Option<String>,
        insurance_fund: bool,
    ) {
        self.out.push(Record::Trade {
            exchange: self.venue.into(),
            symbol: symbol.to_owned(),
            ts,
            received_ts: self.received,
            price: price.text(),
            size: size.text(),
            side,
            buyer,
            seller,
            insurance_fund,
        });
    }

    pub(crate) fn liquidation(
        &mut self,
        symbol: &str,
        ts: TimestampMs,
        price: impl Text,
        size: impl Text,
        position: PositionSide,
        account: Option<String>,
    ) {
        self.out.push(Record::Liquidation {
            exchange: self.venue.into(),
            symbol: symbol.to_owned(),
            ts,
            received_ts: self.received,
            price: price.text(),
            size: size.text(),
            position,
            account,
        });
    }

    pub(crate) fn funding(&mut self, symbol: &str, ts: TimestampMs, f: Funding) {
        self.out.push(Record::Funding {
            exchange: self.venue.into(),
            symbol: symbol.to_owned(),
            ts,
            received_ts: self.received,
            rate: out(f.rate),
            interval_h: f.interval_h,
            mark_price: f.mark.map(out),
            index_price: f.index.map(out),
            next_funding_ts: f.next,
        });
    }

    pub(crate) fn open_interest(&mut self, symbol: &str, ts: TimestampMs, open_interest: Decimal) {
        self.out.push(Record::OpenInterest {
            exchange: self.venue.into(),
            symbol: symbol.to_owned(),
            ts,
            received_ts: self.received,
            open_interest: out(open_interest),
        });
    }

    pub(crate) fn book(
        &mut self,
        symbol: &str,
        ts: TimestampMs,
        snapshot: bool,
        bids: Vec<TextLevel>,
        asks: Vec<TextLevel>,
    ) {
        self.out.push(Record::Book {
            exchange: self.venue.into(),
            symbol: symbol.to_owned(),
            ts,
            received_ts: self.received,
            snapshot,
            bids,
            asks,
        });
    }

    /// Base units of `size` of `symbol` at `price`: sizes of contracts with a
    /// known value are multiplied by it (inverse: a USD amount, so divided
    /// by the price too); anything else trades in base units already.
    pub(crate) fn base_size(
        &self,
        field: &str,
        symbol: &str,
        size: Decimal,
        price: Decimal,
    ) -> Result<Decimal, BadValue> {
        match self.contracts.get(self.venue, symbol) {
            Some(contract) => in_base(field, contract, size, price),
            None => Ok(size),
        }
    }

    /// A book that lost its sequence: count it and ask for a new snapshot.
    pub(crate) fn gap(&mut self, symbol: &str) {
        self.stats.book_gaps += 1;
        self.request_resync(symbol);
    }

    /// Asks the feed for a new snapshot of `symbol`'s book, once per push.
    pub(crate) fn request_resync(&mut self, symbol: &str) {
        if !self.resync.iter().any(|s| s == symbol) {
            self.resync.push(symbol.to_owned());
        }
    }
}

/// Base units of `size` contracts of `contract` at `price` (see
/// [`Ctx::base_size`]).
pub(crate) fn in_base(
    field: &str,
    contract: crate::contracts::Contract,
    size: Decimal,
    price: Decimal,
) -> Result<Decimal, BadValue> {
    let amount = crate::num::mul(field, size, contract.value)?;
    if contract.inverse {
        crate::num::div(field, amount, price)
    } else {
        Ok(amount)
    }
}

/// A funding update's fields.
pub(crate) struct Funding {
    pub(crate) rate: Decimal,
    pub(crate) interval_h: u32,
    pub(crate) mark: Option<Decimal>,
    pub(crate) index: Option<Decimal>,
    pub(crate) next: Option<TimestampMs>,
}

/// Per-venue state.
enum State {
    Binance(binance::State),
    Okx(okx::State),
    Hyperliquid(hyperliquid::State),
    Deribit(deribit::State),
    Bybit(bybit::State),
    Lighter(lighter::State),
}

/// One venue's feed into records.
pub struct FeedNormalizer {
    venue: Venue,
    contracts: Contracts,
    state: State,
    stats: Stats,
    resync: Vec<String>,
}

impl FeedNormalizer {
    /// A normalizer for `venue`, with contract values for venues that trade
    /// in contracts.
    #[must_use]
    pub fn new(venue: Venue, contracts: Contracts) -> Self {
        let state = match venue {
            Venue::Binance => State::Binance(binance::State::default()),
            Venue::Okx => State::Okx(okx::State::default()),
            Venue::Hyperliquid => State::Hyperliquid(hyperliquid::State::default()),
            Venue::Deribit => State::Deribit(deribit::State::default()),
            Venue::Bybit => State::Bybit(bybit::State::default()),
            Venue::Lighter => State::Lighter(lighter::State::default()),
        };
        Self {
            venue,
            contracts,
            state,
            stats: Stats::default(),
            resync: Vec::new(),
        }
    }

    /// The venue.
    #[must_use]
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// Normalizes one message; records are appended to `out`. The receive
    /// time (unix ms), when known, becomes each record's `received_ts` and
    /// the event time of messages that carry none.
    pub fn push(
        &mut self,
        message: &str,
        received: Option<TimestampMs>,
        out: &mut Vec<Record>,
    ) -> Outcome {
        let before = out.len();
        let mut ctx = Ctx {
            venue: self.venue.name(),
            received,
            contracts: &self.contracts,
            stats: &mut self.stats,
            resync: &mut self.resync,
            out,
        };
        let result = match &mut self.state {
            State::Binance(s) => s.push(&mut ctx, message),
            State::Okx(s) => s.push(&mut ctx, message),
            State::Hyperliquid(s) => s.push(&mut ctx, message),
            State::Deribit(s) => s.push(&mut ctx, message),
            State::Bybit(s) => s.push(&mut ctx, message),
            State::Lighter(s) => s.push(&mut ctx, message),
        };
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                // A message is all or nothing.
                out.truncate(before);
                Outcome::Rejected(e.to_string())
            }
        };
        let stats = &mut self.stats;
        stats.messages += 1;
        match &outcome {
            Outcome::Records(n) => stats.records += *n as u64,
            Outcome::Control => stats.control += 1,
            Outcome::Unsupported(t) => *stats.unsupported.entry(t.clone()).or_default() += 1,
            Outcome::Unknown(t) => *stats.unknown.entry(t.clone()).or_default() += 1,
            Outcome::Rejected(reason) => {
                stats.rejected += 1;
                if stats.rejections.len() < KEPT_REASONS {
                    stats.rejections.push(reason.clone());
                }
            }
        }
        outcome
    }

    /// The counts so far.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Symbols whose book lost its sequence since the last call: a live
    /// connector fetches a new snapshot for each (or resubscribes).
    pub fn take_resync(&mut self) -> Vec<String> {
        std::mem::take(&mut self.resync)
    }
}

/// Counts the records a venue normalizer appended.
pub(crate) fn made(ctx: &Ctx<'_>, before: usize) -> Outcome {
    Outcome::Records(ctx.out.len() - before)
}

/// Parses JSON, naming the problem on failure.
pub(crate) fn parse<'a, T: serde::Deserialize<'a>>(
    what: &str,
    text: &'a str,
) -> Result<T, BadValue> {
    serde_json::from_str(text).map_err(|e| crate::num::bad(what, e.to_string()))
}
