//! One record's fields, borrowed from the bytes they were read from: the
//! fast way from a JSON line or a MessagePack record to an event.
//!
//! [`Record`] is an internally tagged enum, and serde reads one of those by
//! first copying every field of the record into owned intermediate values,
//! since it cannot know the variant before it has seen `type`. That copy
//! (an allocation per string, a buffered map per record) cost more than
//! the rest of reading an event together. [`Fields`] reads the six market
//! records (trade, liquidation, funding, open interest, book, position) in
//! one pass, every name and number borrowed from the input.
//!
//! It never decides differently from [`Record`]: whatever it does not take
//! — another record type, a record that is not a map, a missing field, a
//! value of a type [`Record`] would refuse, a field repeated — goes the
//! slow way through [`Record`], which then gives the event or the error
//! message it always gave. Checks of the values (positive prices, times in
//! range) are one implementation, [`Normalizer::push_fields`], used by both
//! ways.

use crate::record::{
    DecimalText, Normalizer, Record, RecordError, dec, non_negative, positive, time,
};
use prism_model::{
    Book, Decimal, Event, Funding, Level, Liquidation, OpenInterest, Position, PositionSide, Side,
    TimestampMs, Trade, decimal,
};
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::Arc;

mod json;
mod packed;
mod read;

/// A decimal's text as the input has it: borrowed when it is a plain
/// string, owned when it had escapes or was written as a JSON number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecimalStr<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for DecimalStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DecimalStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal, preferably as a string like \"37000.1\"")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(DecimalStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(DecimalStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(DecimalStr(Cow::Owned(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(DecimalStr(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(DecimalStr(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if !v.is_finite() {
                    return Err(E::custom("not a finite number"));
                }
                Ok(DecimalStr(Cow::Owned(format!("{v}"))))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl AsRef<str> for DecimalStr<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'a> From<&'a DecimalText> for DecimalStr<'a> {
    fn from(text: &'a DecimalText) -> Self {
        DecimalStr(Cow::Borrowed(&text.0))
    }
}

/// The fields of the six market records, every one optional; which must
/// be there depends on `type` ([`Normalizer::push_fields`] checks).
/// Fields no market record has are ignored, as [`Record`] ignores them.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub(crate) struct Fields<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    exchange: Option<Cow<'a, str>>,
    #[serde(borrow)]
    symbol: Option<Cow<'a, str>>,
    ts: Option<TimestampMs>,
    received_ts: Option<TimestampMs>,
    #[serde(borrow)]
    price: Option<DecimalField<'a>>,
    #[serde(borrow)]
    size: Option<DecimalField<'a>>,
    side: Option<Side>,
    #[serde(borrow)]
    buyer: Option<Cow<'a, str>>,
    #[serde(borrow)]
    seller: Option<Cow<'a, str>>,
    /// Read only to refuse what [`Record`] refuses (`null`, a string).
    #[serde(default, rename = "insurance_fund")]
    _insurance_fund: bool,
    position: Option<PositionSide>,
    #[serde(borrow)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow)]
    rate: Option<DecimalField<'a>>,
    interval_h: Option<u32>,
    #[serde(borrow)]
    mark_price: Option<DecimalField<'a>>,
    #[serde(borrow)]
    index_price: Option<DecimalField<'a>>,
    next_funding_ts: Option<TimestampMs>,
    #[serde(borrow)]
    open_interest: Option<DecimalField<'a>>,
    snapshot: Option<bool>,
    #[serde(borrow)]
    bids: Option<Levels<'a>>,
    #[serde(borrow)]
    asks: Option<Levels<'a>>,
    #[serde(borrow)]
    entry_price: Option<DecimalField<'a>>,
    #[serde(borrow)]
    liquidation_price: Option<DecimalField<'a>>,
    #[serde(borrow)]
    leverage: Option<DecimalField<'a>>,
}

/// A decimal field: its text as the record has it (serde's reading, a
/// [`Record`]'s), or, from the fast readers, the decimal itself when the
/// text is plain ([`decimal::plain`] gives what parsing the text gives),
/// checked when the record's checks reach the field.
#[derive(Debug)]
pub(crate) enum DecimalField<'a> {
    Text(DecimalStr<'a>),
    Read(Decimal),
}

impl<'de: 'a, 'a> Deserialize<'de> for DecimalField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DecimalStr::deserialize(d).map(DecimalField::Text)
    }
}

impl<'a> From<&'a DecimalText> for DecimalField<'a> {
    fn from(text: &'a DecimalText) -> Self {
        DecimalField::Text(text.into())
    }
}

/// Equal when both make the same decimal, to its scale, or, as texts,
/// are the same text: what the readers' tests compare.
impl PartialEq for DecimalField<'_> {
    fn eq(&self, other: &Self) -> bool {
        let made = |d: &DecimalField<'_>| {
            Some(parts(match d {
                DecimalField::Read(d) => *d,
                DecimalField::Text(t) => decimal::parse(t.as_ref()).ok()?,
            }))
        };
        match (self, other) {
            (DecimalField::Text(a), DecimalField::Text(b)) => a == b,
            _ => made(self).is_some_and(|a| Some(a) == made(other)),
        }
    }
}

/// A decimal's mantissa and scale: what two readings must agree on
/// (`Decimal`'s own equality ignores the scale).
fn parts(d: Decimal) -> (i128, u32) {
    (d.mantissa(), d.scale())
}

/// The decimal of a field, or the error naming it.
fn value(field: &'static str, d: &DecimalField<'_>) -> Result<Decimal, RecordError> {
    match d {
        DecimalField::Read(d) => Ok(*d),
        DecimalField::Text(text) => dec(field, text),
    }
}

fn value_opt(
    field: &'static str,
    d: Option<&DecimalField<'_>>,
) -> Result<Option<Decimal>, RecordError> {
    d.map(|d| value(field, d)).transpose()
}

/// A book side: its levels' texts as the record has them (serde's
/// reading, a [`Record`]'s), or the levels already read and checked (the
/// fast readers take only levels that are valid, so that reading them
/// decides nothing the texts would decide otherwise).
#[derive(Debug)]
pub(crate) enum Levels<'a> {
    Texts(Vec<(DecimalStr<'a>, DecimalStr<'a>)>),
    Read(Vec<Level>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Levels<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::deserialize(d).map(Levels::Texts)
    }
}

/// Equal when they make the same levels, to the scale of every decimal,
/// or, as texts, the same texts: what the readers' tests compare.
impl PartialEq for Levels<'_> {
    fn eq(&self, other: &Self) -> bool {
        let each = |levels: &[Level]| -> Vec<_> {
            levels
                .iter()
                .map(|l| [parts(l.price), parts(l.size)])
                .collect()
        };
        let made = |levels: &Levels<'_>| match levels {
            Levels::Read(read) => Some(each(read)),
            Levels::Texts(texts) => read_texts("levels", texts).ok().map(|read| each(&read)),
        };
        match (self, other) {
            (Levels::Texts(a), Levels::Texts(b)) => a == b,
            _ => made(self).is_some_and(|a| Some(a) == made(other)),
        }
    }
}

/// Why [`Normalizer::push_fields`] did not make an event.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Not a record it reads (another type, a field missing): the slow
    /// way decides.
    NotMine,
    /// A record it reads, with an invalid value.
    Invalid(RecordError),
}

impl From<RecordError> for Refused {
    fn from(e: RecordError) -> Self {
        Refused::Invalid(e)
    }
}

/// Whether a MessagePack record is a map (fixmap, map 16, map 32): only
/// those are read by field name; an array would be read by position,
/// which `Record` reads otherwise.
fn is_map(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(0x80..=0x8f | 0xde | 0xdf))
}

fn need<T>(value: Option<T>) -> Result<T, Refused> {
    value.ok_or(Refused::NotMine)
}

fn levels(field: &'static str, raw: Levels<'_>) -> Result<Vec<Level>, RecordError> {
    match raw {
        Levels::Read(read) => Ok(read),
        Levels::Texts(texts) => read_texts(field, &texts),
    }
}

fn read_texts(
    field: &'static str,
    texts: &[(DecimalStr<'_>, DecimalStr<'_>)],
) -> Result<Vec<Level>, RecordError> {
    texts
        .iter()
        .map(|(p, s)| {
            Ok(Level {
                price: positive(field, dec(field, p)?)?,
                size: non_negative(field, dec(field, s)?)?,
            })
        })
        .collect()
}

/// A trade's or a liquidation's price and size, both positive, checked
/// in field order (so the first bad one is the one reported).
fn price_and_size(
    price: &DecimalField<'_>,
    size: &DecimalField<'_>,
) -> Result<(Decimal, Decimal), RecordError> {
    Ok((
        positive("price", value("price", price)?)?,
        positive("size", value("size", size)?)?,
    ))
}

fn text(value: Option<&Cow<'_, str>>) -> Option<Arc<str>> {
    value.map(|v| Arc::from(&**v))
}

fn cow(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}

fn cow_opt(text: Option<&String>) -> Option<Cow<'_, str>> {
    text.map(|t| cow(t))
}

fn dec_str_opt(text: Option<&DecimalText>) -> Option<DecimalField<'_>> {
    text.map(DecimalField::from)
}

fn pairs(raw: &[(DecimalText, DecimalText)]) -> Vec<(DecimalStr<'_>, DecimalStr<'_>)> {
    raw.iter().map(|(p, s)| (p.into(), s.into())).collect()
}

impl<'a> Fields<'a> {
    /// A market record's fields, borrowed; `None` for the other records.
    pub(crate) fn of(record: &'a Record) -> Option<Self> {
        let f = match record {
            Record::Trade {
                exchange,
                symbol,
                ts,
                received_ts,
                price,
                size,
                side,
                buyer,
                seller,
                insurance_fund,
            } => Fields {
                kind: Some(cow("trade")),
                price: Some(price.into()),
                size: Some(size.into()),
                side: Some(*side),
                buyer: cow_opt(buyer.as_ref()),
                seller: cow_opt(seller.as_ref()),
                _insurance_fund: *insurance_fund,
                ..Fields::at(exchange, symbol, *ts, *received_ts)
            },
            Record::Liquidation {
                exchange,
                symbol,
                ts,
                received_ts,
                price,
                size,
                position,
                account,
            } => Fields {
                kind: Some(cow("liquidation")),
                price: Some(price.into()),
                size: Some(size.into()),
                position: Some(*position),
                account: cow_opt(account.as_ref()),
                ..Fields::at(exchange, symbol, *ts, *received_ts)
            },
            Record::Funding {
                exchange,
                symbol,
                ts,
                received_ts,
                rate,
                interval_h,
                mark_price,
                index_price,
                next_funding_ts,
            } => Fields {
                kind: Some(cow("funding")),
                rate: Some(rate.into()),
                interval_h: Some(*interval_h),
                mark_price: dec_str_opt(mark_price.as_ref()),
                index_price: dec_str_opt(index_price.as_ref()),
                next_funding_ts: *next_funding_ts,
                ..Fields::at(exchange, symbol, *ts, *received_ts)
            },
            Record::OpenInterest {
                exchange,
                symbol,
                ts,
                received_ts,
                open_interest,
            } => Fields {
                kind: Some(cow("open_interest")),
                open_interest: Some(open_interest.into()),
                ..Fields::at(exchange, symbol, *ts, *received_ts)
            },
            Record::Book {
                exchange,
                symbol,
                ts,
                received_ts,
                snapshot,
                bids,
                asks,
            } => Fields {
                kind: Some(cow("book")),
                snapshot: Some(*snapshot),
                bids: Some(Levels::Texts(pairs(bids))),
                asks: Some(Levels::Texts(pairs(asks))),
                ..Fields::at(exchange, symbol, *ts, *received_ts)
            },
            Record::Position {
                exchange,
                symbol,
                ts,
                received_ts,
                account,
                size,
                entry_price,
                liquidation_price,
                leverage,
            } => Fields {
                kind: Some(cow("position")),
                account: Some(cow(account)),
                size: Some(size.into()),
                entry_price: Some(entry_price.into()),
                liquidation_price: dec_str_opt(liquidation_price.as_ref()),
                leverage: dec_str_opt(leverage.as_ref()),
                ..Fields::at(exchange, symbol, *ts, *received_ts)
            },
            Record::Instrument { .. } | Record::Candle { .. } | Record::Ticker { .. } => {
                return None;
            }
        };
        Some(f)
    }

    fn at(exchange: &'a str, symbol: &'a str, ts: TimestampMs, received: Option<i64>) -> Self {
        Fields {
            exchange: Some(cow(exchange)),
            symbol: Some(cow(symbol)),
            ts: Some(ts),
            received_ts: received,
            ..Fields::default()
        }
    }
}

/// Why a record read from a file made no event. The message is the one
/// [`Record`] gives, whichever way the record was read.
#[derive(Debug, thiserror::Error)]
pub enum BadRecord {
    /// Not a record of the replay format (syntax, a missing field, an
    /// unknown type, a value of the wrong type).
    #[error("{0}")]
    Syntax(String),
    /// A record with an invalid value.
    #[error(transparent)]
    Invalid(#[from] RecordError),
}

impl Normalizer {
    /// Reads one JSON record and appends its events (a declaration may
    /// come first).
    ///
    /// # Errors
    /// [`BadRecord`]; nothing is appended then.
    pub fn push_json(&mut self, text: &str, out: &mut Vec<Event>) -> Result<(), BadRecord> {
        // An array would be read by position, which `Record` reads otherwise.
        if text.starts_with('{')
            && let Some(mut fields) =
                json::read(text).or_else(|| serde_json::from_str::<Fields<'_>>(text).ok())
        {
            match self.push_fields(&mut fields, out) {
                Ok(()) => return Ok(()),
                Err(Refused::Invalid(e)) => return Err(e.into()),
                Err(Refused::NotMine) => {}
            }
        }
        let record: Record =
            serde_json::from_str(text).map_err(|e| BadRecord::Syntax(e.to_string()))?;
        Ok(self.push(&record, out)?)
    }

    /// Reads one MessagePack record and appends its events.
    ///
    /// # Errors
    /// [`BadRecord`]; nothing is appended then.
    pub fn push_msgpack(&mut self, bytes: &[u8], out: &mut Vec<Event>) -> Result<(), BadRecord> {
        let mut fields = if is_map(bytes) {
            packed::read(bytes).or_else(|| rmp_serde::from_slice::<Fields<'_>>(bytes).ok())
        } else {
            None
        };
        self.push_packed(bytes, fields.as_mut(), out)
    }

    /// Reads the MessagePack record `bytes` start with, when the fast
    /// reader takes it, and appends its events: its length and what
    /// [`Normalizer::push_msgpack`] of its bytes gives. `None` when
    /// nothing was read: the caller finds where the record ends and calls
    /// `push_msgpack`. A file reader saves walking each record twice.
    pub(crate) fn push_msgpack_front(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<Event>,
    ) -> Option<(usize, Result<(), BadRecord>)> {
        if !is_map(bytes) {
            return None;
        }
        let mut fields = Fields::default();
        let len = packed::read_front(bytes, &mut fields)?;
        let record = bytes.get(..len)?;
        Some((len, self.push_packed(record, Some(&mut fields), out)))
    }

    /// The events of the record `bytes`, from its `fields` when they were
    /// read and are a market record's, else from the record read whole.
    fn push_packed(
        &mut self,
        bytes: &[u8],
        fields: Option<&mut Fields<'_>>,
        out: &mut Vec<Event>,
    ) -> Result<(), BadRecord> {
        if let Some(fields) = fields {
            match self.push_fields(fields, out) {
                Ok(()) => return Ok(()),
                Err(Refused::Invalid(e)) => return Err(e.into()),
                Err(Refused::NotMine) => {}
            }
        }
        let record: Record =
            rmp_serde::from_slice(bytes).map_err(|e| BadRecord::Syntax(e.to_string()))?;
        Ok(self.push(&record, out)?)
    }

    /// Appends the event of a market record's fields (its instrument's
    /// declaration first, when new). The checks and their order are those
    /// of [`Normalizer::push`]: times, then the values in field order.
    ///
    /// # Errors
    /// [`Refused::NotMine`] when `fields` is no market record or lacks a
    /// field its type requires (nothing is appended; the slow way
    /// decides); [`Refused::Invalid`] naming the field of a bad value.
    pub(crate) fn push_fields(
        &mut self,
        f: &mut Fields<'_>,
        out: &mut Vec<Event>,
    ) -> Result<(), Refused> {
        let kind = need(f.kind.as_deref())?;
        let exchange = need(f.exchange.as_deref())?;
        let symbol = need(f.symbol.as_deref())?;
        let ts = need(f.ts)?;
        // In each arm: every required field taken before any value is
        // checked (a record the slow way refuses for a missing field is
        // never reported here for a bad value), then the times, then the
        // values in field order.
        let times = || -> Result<i64, RecordError> {
            time("ts", ts)?;
            f.received_ts.map(|t| time("received_ts", t)).transpose()?;
            Ok(f.received_ts.unwrap_or(ts))
        };
        let event = match kind {
            "trade" => {
                let (price, size, side) = (
                    need(f.price.as_ref())?,
                    need(f.size.as_ref())?,
                    need(f.side)?,
                );
                let received_ts = times()?;
                let (price, size) = price_and_size(price, size)?;
                let instrument = self.instrument(exchange, symbol, out);
                Event::Trade(Trade {
                    instrument,
                    ts,
                    received_ts,
                    price,
                    size,
                    side,
                    buyer: text(f.buyer.as_ref()),
                    seller: text(f.seller.as_ref()),
                })
            }
            "liquidation" => {
                let (price, size, position) = (
                    need(f.price.as_ref())?,
                    need(f.size.as_ref())?,
                    need(f.position)?,
                );
                let received_ts = times()?;
                let (price, size) = price_and_size(price, size)?;
                let instrument = self.instrument(exchange, symbol, out);
                Event::Liquidation(Liquidation {
                    instrument,
                    ts,
                    received_ts,
                    price,
                    size,
                    position,
                    account: text(f.account.as_ref()),
                })
            }
            "funding" => {
                let (rate, interval_hours) = (need(f.rate.as_ref())?, need(f.interval_h)?);
                let received_ts = times()?;
                f.next_funding_ts
                    .map(|t| time("next_funding_ts", t))
                    .transpose()?;
                let rate = value("rate", rate)?;
                if interval_hours == 0 {
                    return Err(Refused::Invalid(RecordError {
                        field: "interval_h",
                        reason: "must be at least 1".into(),
                    }));
                }
                let mark_price = value_opt("mark_price", f.mark_price.as_ref())?;
                let index_price = value_opt("index_price", f.index_price.as_ref())?;
                let instrument = self.instrument(exchange, symbol, out);
                Event::Funding(Funding {
                    instrument,
                    ts,
                    received_ts,
                    rate,
                    interval_hours,
                    mark_price,
                    index_price,
                    next_funding_ts: f.next_funding_ts,
                })
            }
            "open_interest" => {
                let raw = need(f.open_interest.as_ref())?;
                let received_ts = times()?;
                let open_interest = non_negative("open_interest", value("open_interest", raw)?)?;
                let instrument = self.instrument(exchange, symbol, out);
                Event::OpenInterest(OpenInterest {
                    instrument,
                    ts,
                    received_ts,
                    open_interest,
                })
            }
            "book" => {
                let (snapshot, bids, asks) = (
                    need(f.snapshot)?,
                    need(f.bids.take())?,
                    need(f.asks.take())?,
                );
                let received_ts = times()?;
                let bids = levels("bids", bids)?;
                let asks = levels("asks", asks)?;
                let instrument = self.instrument(exchange, symbol, out);
                Event::Book(Book {
                    instrument,
                    ts,
                    received_ts,
                    snapshot,
                    bids,
                    asks,
                })
            }
            "position" => {
                let (account, size, entry) = (
                    need(f.account.as_deref())?,
                    need(f.size.as_ref())?,
                    need(f.entry_price.as_ref())?,
                );
                let received_ts = times()?;
                let size = value("size", size)?;
                let entry_price = non_negative("entry_price", value("entry_price", entry)?)?;
                let liquidation_price =
                    value_opt("liquidation_price", f.liquidation_price.as_ref())?;
                let leverage = value_opt("leverage", f.leverage.as_ref())?;
                let instrument = self.instrument(exchange, symbol, out);
                Event::Position(Position {
                    instrument,
                    ts,
                    received_ts,
                    account: Arc::from(account),
                    size,
                    entry_price,
                    liquidation_price,
                    leverage,
                })
            }
            _ => return Err(Refused::NotMine),
        };
        out.push(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slow way alone: what `Record` makes of `text`.
    fn slow(text: &str) -> Result<Vec<Event>, String> {
        let mut out = Vec::new();
        let record: Record = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Normalizer::default()
            .push(&record, &mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn fast(text: &str) -> Result<Vec<Event>, String> {
        let mut out = Vec::new();
        Normalizer::default()
            .push_json(text, &mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn packed_slow(bytes: &[u8]) -> Result<Vec<Event>, String> {
        let mut out = Vec::new();
        let record: Record = rmp_serde::from_slice(bytes).map_err(|e| e.to_string())?;
        Normalizer::default()
            .push(&record, &mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn packed_fast(bytes: &[u8]) -> Result<Vec<Event>, String> {
        let mut out = Vec::new();
        Normalizer::default()
            .push_msgpack(bytes, &mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    const T: &str = r#""exchange":"binance","symbol":"BTCUSDT","ts":1700000000000"#;

    /// Records the fast way could misread: every one must come out as the
    /// slow way has it, event for event or message for message.
    fn cases() -> Vec<String> {
        [
            r#"{"type":"trade",@T@,"price":"37000.1","size":"0.25","side":"buy"}"#,
            r#"{"price":"37000.1",@T@,"size":"0.25","side":"sell","type":"trade"}"#,
            r#"{"type":"trade",@T@,"price":37000.1,"size":1,"side":"buy","received_ts":1700000000100}"#,
            r#"{"type":"trade",@T@,"price":"3700\u0030.5","size":"0.25","side":"buy","buyer":"0x\u0061b"}"#,
            r#"{"type":"trade",@T@,"price":"37000.1","size":"0.25","side":"buy","insurance_fund":null}"#,
            r#"{"type":"trade",@T@,"price":"37000.1","size":"0.25","side":"buy","insurance_fund":true}"#,
            r#"{"type":"trade",@T@,"price":"37000.1","size":"0.25","side":"buy","bids":"no","open":1}"#,
            r#"{"type":"trade",@T@,"price":"37000.1","size":"0.25","side":"buy","price":"1"}"#,
            r#"{"type":"trade","type":"trade",@T@,"price":"37000.1","size":"0.25","side":"buy"}"#,
            r#"{"type":"trade",@T@,"price":"37000.1","size":"0.25"}"#,
            r#"{"type":"trade",@T@,"price":null,"size":"0.25","side":"buy"}"#,
            r#"{"type":"trade",@T@,"price":"-1","size":"0.25","side":"buy"}"#,
            r#"{"type":"trade",@T@,"price":"abc","size":"x","side":"buy"}"#,
            r#"{"type":"trade",@T@,"price":"1","size":"1","side":"up"}"#,
            r#"{"type":"trade",@T@,"price":"1","size":"1","side":"buy","received_ts":null}"#,
            r#"{"type":"trade",@T@,"price":"1","size":"1","side":"buy","received_ts":-5}"#,
            r#"{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":1.7e12,"price":"1","size":"1","side":"buy"}"#,
            r#"{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":5,"price":"-1","size":"1","side":"buy"}"#,
            r#"{"type":"trade","exchange":"Binance","symbol":"BTCUSDT","ts":1700000000000,"price":"1","size":"1","side":"buy"}"#,
            r#"["trade","binance","BTCUSDT",1700000000000,null,"1","1","buy"]"#,
            r#"{"type":"liquidation",@T@,"price":"36950","size":"1.2","position":"long","account":"0xabc"}"#,
            r#"{"type":"liquidation",@T@,"price":"36950","size":"1.2","side":"buy"}"#,
            r#"{"type":"funding",@T@,"rate":"0.0000125","interval_h":1,"mark_price":"37010","next_funding_ts":1700003600000}"#,
            r#"{"type":"funding",@T@,"rate":"0.0000125","interval_h":0}"#,
            r#"{"type":"funding",@T@,"rate":"0.0000125","interval_h":-1}"#,
            r#"{"type":"funding",@T@,"rate":"1","interval_h":8,"next_funding_ts":1,"index_price":"bad"}"#,
            r#"{"type":"open_interest",@T@,"open_interest":"1234.5"}"#,
            r#"{"type":"open_interest",@T@,"open_interest":"-1"}"#,
            r#"{"type":"book",@T@,"snapshot":true,"bids":[["36999.9","2.1"]],"asks":[["37000.0","0.4"]]}"#,
            r#"{"type":"book",@T@,"snapshot":false,"bids":[],"asks":[["37000.0","0"],["1","-1"]]}"#,
            r#"{"type":"book",@T@,"snapshot":false,"bids":[["0","1"]],"asks":[]}"#,
            r#"{"type":"book",@T@,"snapshot":false,"bids":[["-1","1"]],"asks":[]}"#,
            r#"{"type":"book",@T@,"snapshot":false,"bids":[["37000","-0"],[" 36999 ","1e1"]],"asks":[[37001,0],["37002.50","0.000"]]}"#,
            r#"{"type":"book",@T@,"snapshot":"yes","bids":[],"asks":[]}"#,
            r#"{"type":"book",@T@,"snapshot":true,"bids":[["1"]],"asks":[]}"#,
            r#"{"type":"position",@T@,"account":"0xabc","size":"-12.5","entry_price":"37100","liquidation_price":"39800","leverage":"10"}"#,
            r#"{"type":"position",@T@,"size":"-12.5","entry_price":"37100"}"#,
            r#"{"type":"position",@T@,"account":"0xabc","size":"1","entry_price":"-1","position":"sideways"}"#,
            r#"{"type":"instrument","exchange":"okx","symbol":"BTC-USDT-SWAP","contract_size":"0.01","kind":"perpetual"}"#,
            r#"{"type":"candle",@T@,"interval":"1m","open_ts":1699999980000,"open":"1","high":"2","low":"1","close":"2","volume":"3","closed":true}"#,
            r#"{"type":"ticker",@T@,"bid":["1","2"],"mark_price":"3"}"#,
            r#"{"type":"weather",T}"#,
            r#"{"type":7,@T@}"#,
            r#"{@T@}"#,
            r#"{"type":"trade",@T@,"price":"1","size":"1","side":"buy"} trailing"#,
        ]
        .iter()
        .map(|s| s.replace("@T@", T))
        .collect()
    }

    #[test]
    fn json_records_come_out_as_the_slow_way_has_them() {
        let mut fast_ok = 0;
        for case in cases() {
            let (f, s) = (fast(&case), slow(&case));
            assert_eq!(f, s, "{case}");
            fast_ok += usize::from(f.is_ok());
        }
        assert!(fast_ok >= 15, "most cases are valid records: {fast_ok}");
    }

    #[test]
    fn msgpack_records_come_out_as_the_slow_way_has_them() {
        for case in cases() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&case) else {
                continue;
            };
            let bytes = rmp_serde::to_vec_named(&value).unwrap();
            assert_eq!(packed_fast(&bytes), packed_slow(&bytes), "{case}");
        }
        // A record as the writer writes it.
        let record = Record::Trade {
            exchange: "okx".into(),
            symbol: "BTC-USDT-SWAP".into(),
            ts: 1_700_000_000_000,
            received_ts: None,
            price: "37000.1".into(),
            size: "0.02".into(),
            side: Side::Sell,
            buyer: None,
            seller: Some("s".into()),
            insurance_fund: false,
        };
        let bytes = rmp_serde::to_vec_named(&record).unwrap();
        let events = packed_fast(&bytes).unwrap();
        assert_eq!(Ok(events.clone()), packed_slow(&bytes));
        let Event::Trade(t) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(
            (t.price.to_string(), t.side),
            ("37000.1".into(), Side::Sell)
        );
    }

    #[test]
    fn the_market_records_take_the_fast_way() {
        let kinds = read::KINDS;
        let mut taken = 0;
        for case in cases() {
            let Ok(mut fields) = serde_json::from_str::<Fields<'_>>(&case) else {
                continue;
            };
            let mut out = Vec::new();
            if Normalizer::default()
                .push_fields(&mut fields, &mut out)
                .is_ok()
            {
                assert_eq!(Ok(out), slow(&case), "{case}");
                taken += 1;
            } else if fields.kind.as_deref().is_some_and(|k| kinds.contains(&k)) {
                assert!(
                    slow(&case).is_err(),
                    "{case} is valid but went the slow way"
                );
            }
        }
        assert!(taken >= 10, "{taken}");
    }
}
