//! The replay file format: one normalized event per record (DESIGN.md).
//!
//! Numbers that are money or sizes are decimal strings; `ts` is unix ms.
//! The same records serve JSON Lines and MessagePack files.

use crate::fields::{Fields, Refused};
use prism_model::decimal::{self, Decimal};
use prism_model::instrument::InstrumentSpec;
use prism_model::{
    CandleInterval, Event, InstrumentRegistry, MarketKind, PositionSide, Side, TimestampMs,
};
use serde::{Deserialize, Serialize};

/// A decimal as written in a file: normally a string (`"37000.1"`), exact.
/// A JSON number is accepted too, read through its shortest round-trip
/// text, which is exact for up to 15 significant digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText(pub String);

/// A record's venue name: borrowed when a normalizer names its own venue
/// (no allocation per record), owned when read from a file.
pub type Exchange = std::borrow::Cow<'static, str>;

impl Serialize for DecimalText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::fields::DecimalStr::deserialize(d).map(|text| DecimalText(text.0.into_owned()))
    }
}

impl From<&str> for DecimalText {
    fn from(text: &str) -> Self {
        DecimalText(text.to_owned())
    }
}

impl From<String> for DecimalText {
    fn from(text: String) -> Self {
        DecimalText(text)
    }
}

/// One record of a replay file. Unknown fields are ignored, so files with
/// extra columns (trade ids, raw payloads) still replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Instrument {
        exchange: Exchange,
        symbol: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quote: Option<String>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            alias = "kind",
            alias = "market_kind"
        )]
        market: Option<MarketKind>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contract_size: Option<DecimalText>,
    },
    Trade {
        exchange: Exchange,
        symbol: String,
        ts: TimestampMs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_ts: Option<TimestampMs>,
        price: DecimalText,
        size: DecimalText,
        side: Side,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        buyer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seller: Option<String>,
        /// A trade of the venue's insurance fund (Binance `X: INSURANCE_FUND`):
        /// the takeover of a liquidated position.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        insurance_fund: bool,
    },
    Liquidation {
        exchange: Exchange,
        symbol: String,
        ts: TimestampMs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_ts: Option<TimestampMs>,
        price: DecimalText,
        size: DecimalText,
        position: PositionSide,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
    },
    Funding {
        exchange: Exchange,
        symbol: String,
        ts: TimestampMs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_ts: Option<TimestampMs>,
        rate: DecimalText,
        interval_h: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mark_price: Option<DecimalText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index_price: Option<DecimalText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_funding_ts: Option<TimestampMs>,
    },
    OpenInterest {
        exchange: Exchange,
        symbol: String,
        ts: TimestampMs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_ts: Option<TimestampMs>,
        open_interest: DecimalText,
    },
    Book {
        exchange: Exchange,
        symbol: String,
        ts: TimestampMs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_ts: Option<TimestampMs>,
        snapshot: bool,
        bids: Vec<(DecimalText, DecimalText)>,
        asks: Vec<(DecimalText, DecimalText)>,
    },
    Position {
        exchange: Exchange,
        symbol: String,
        ts: TimestampMs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_ts: Option<TimestampMs>,
        account: String,
        size: DecimalText,
        entry_price: DecimalText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        liquidation_price: Option<DecimalText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leverage: Option<DecimalText>,
    },
    /// An OHLCV candle; `volume` in base units, `open_ts` its interval's start.
    Candle {
        exchange: Exchange,
        symbol: String,
        ts: TimestampMs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_ts: Option<TimestampMs>,
        interval: CandleInterval,
        open_ts: TimestampMs,
        open: DecimalText,
        high: DecimalText,
        low: DecimalText,
        close: DecimalText,
        volume: DecimalText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quote_volume: Option<DecimalText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trades: Option<u64>,
        closed: bool,
    },
    /// Best bid and offer (`[price, size]`) and the venue's summary; every
    /// field but the place and times is optional.
    Ticker {
        exchange: Exchange,
        symbol: String,
        ts: TimestampMs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_ts: Option<TimestampMs>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bid: Option<(DecimalText, DecimalText)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ask: Option<(DecimalText, DecimalText)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_price: Option<DecimalText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        volume_24h: Option<DecimalText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quote_volume_24h: Option<DecimalText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change_24h: Option<DecimalText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change_24h_percent: Option<DecimalText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mark_price: Option<DecimalText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index_price: Option<DecimalText>,
    },
}

/// Why a record is not a valid event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct RecordError {
    pub field: &'static str,
    pub reason: String,
}

impl AsRef<str> for DecimalText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The exact decimal of a field's text (a record's, or one read borrowed).
pub(crate) fn dec(field: &'static str, text: &impl AsRef<str>) -> Result<Decimal, RecordError> {
    decimal::parse(text.as_ref()).map_err(|e| RecordError {
        field,
        reason: e.to_string(),
    })
}

pub(crate) fn dec_opt<T: AsRef<str>>(
    field: &'static str,
    text: Option<&T>,
) -> Result<Option<Decimal>, RecordError> {
    text.map(|t| dec(field, t)).transpose()
}

pub(crate) fn positive(field: &'static str, value: Decimal) -> Result<Decimal, RecordError> {
    if value.is_sign_negative() || value.is_zero() {
        return Err(RecordError {
            field,
            reason: format!("must be positive, got {value}"),
        });
    }
    Ok(value)
}

pub(crate) fn non_negative(field: &'static str, value: Decimal) -> Result<Decimal, RecordError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(RecordError {
            field,
            reason: format!("must not be negative, got {value}"),
        });
    }
    Ok(value)
}

pub(crate) fn time(field: &'static str, ts: TimestampMs) -> Result<TimestampMs, RecordError> {
    if !prism_model::EVENT_TIMES.contains(&ts) {
        return Err(RecordError {
            field,
            reason: format!("{ts} is not a time between 1970 and 2100 in unix milliseconds"),
        });
    }
    Ok(ts)
}

/// Checks a record's times: event time, receive time, next funding time.
fn times(record: &Record) -> Result<(), RecordError> {
    let (ts, received, next) = match record {
        Record::Instrument { .. } => return Ok(()),
        Record::Trade {
            ts, received_ts, ..
        }
        | Record::Liquidation {
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
        | Record::Ticker {
            ts, received_ts, ..
        } => (*ts, *received_ts, None),
        Record::Candle {
            ts,
            received_ts,
            open_ts,
            ..
        } => {
            time("open_ts", *open_ts)?;
            (*ts, *received_ts, None)
        }
        Record::Funding {
            ts,
            received_ts,
            next_funding_ts,
            ..
        } => (*ts, *received_ts, *next_funding_ts),
    };
    time("ts", ts)?;
    received.map(|t| time("received_ts", t)).transpose()?;
    next.map(|t| time("next_funding_ts", t)).transpose()?;
    Ok(())
}

/// Turns records into events, interning instruments and declaring each one
/// (an `Event::Instrument`) before its first use.
#[derive(Debug, Default)]
pub struct Normalizer {
    registry: InstrumentRegistry,
}

impl Normalizer {
    /// A normalizer whose instruments start as `registry` (one preloaded
    /// with an earlier run's ids).
    #[must_use]
    pub fn with_registry(registry: InstrumentRegistry) -> Self {
        Self { registry }
    }

    /// The instruments seen so far.
    #[must_use]
    pub fn registry(&self) -> &InstrumentRegistry {
        &self.registry
    }

    /// The instruments, to reserve ids handed out elsewhere
    /// ([`InstrumentRegistry::reserve`]).
    pub fn registry_mut(&mut self) -> &mut InstrumentRegistry {
        &mut self.registry
    }

    pub(crate) fn instrument(
        &mut self,
        exchange: &str,
        symbol: &str,
        out: &mut Vec<Event>,
    ) -> prism_model::InstrumentId {
        let (id, fresh) = self.registry.intern(exchange, symbol);
        if fresh && let Some(i) = self.registry.get(id) {
            out.push(Event::Instrument(i.clone()));
        }
        id
    }

    /// Converts one record, appending its events (a declaration may come first).
    ///
    /// # Errors
    /// [`RecordError`] naming the field; nothing is appended then.
    pub fn push(&mut self, record: &Record, out: &mut Vec<Event>) -> Result<(), RecordError> {
        if let Some(mut fields) = Fields::of(record) {
            return match self.push_fields(&mut fields, out) {
                Ok(()) => Ok(()),
                Err(Refused::Invalid(e)) => Err(e),
                // A record always has its type's fields.
                Err(Refused::NotMine) => Err(RecordError {
                    field: "type",
                    reason: "an incomplete record".into(),
                }),
            };
        }
        times(record)?;
        let event = match record {
            Record::Instrument {
                exchange,
                symbol,
                base,
                quote,
                market,
                contract_size,
            } => {
                let spec = InstrumentSpec {
                    base: base.clone(),
                    quote: quote.clone(),
                    kind: *market,
                    contract_size: dec_opt("contract_size", contract_size.as_ref())?
                        .map(|c| positive("contract_size", c))
                        .transpose()?,
                };
                let id = self.registry.declare(exchange, symbol, &spec);
                if let Some(i) = self.registry.get(id) {
                    out.push(Event::Instrument(i.clone()));
                }
                return Ok(());
            }
            _ => self.market_record(record, out)?,
        };
        out.push(event);
        Ok(())
    }
}
