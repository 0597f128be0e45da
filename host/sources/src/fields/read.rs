//! [`Fields`] read straight from a record's text or bytes, without serde.
//!
//! serde reads a record through its generic machinery: a visitor per
//! value, each key matched as a string (in MessagePack after its UTF-8 was
//! checked), each `Option` unwrapped on its own. That was about a third
//! of the source thread's time in a replay. [`read`] walks a record once
//! and fills the same [`Fields`], through a [`Cursor`] of its format
//! ([`packed`](super::packed) for MessagePack, [`json`](super::json) for
//! JSON).
//!
//! It only ever answers what serde answers for [`Fields`]: it takes the
//! forms the replay format's writer uses and whose reading is plain (a map
//! with string keys, each known key once; null, booleans, integers,
//! strings; book levels as two-element arrays) and gives up on anything
//! else — a key it does not know, a float, a key repeated, a value of a
//! type its field does not take, and what each cursor names. Giving up is
//! never a refusal: the caller then reads the record with serde, as
//! before, which decides.

use super::{DecimalField, Fields, Levels};
use prism_model::{Level, PositionSide, Side};
use std::borrow::Cow;

/// One format's reading of the values [`Fields`] holds. Every method
/// gives `None` for what it does not read plainly (the record is then
/// left to serde).
pub(super) trait Cursor<'a> {
    /// Enters the record's map.
    fn open(&mut self) -> Option<()>;
    /// The next key's bytes; `Some(None)` after the last entry.
    fn key(&mut self) -> Option<Option<&'a [u8]>>;
    /// After the map: the input must end here.
    fn close(&mut self) -> Option<()>;
    /// Takes a null, if that is what comes next.
    fn null(&mut self) -> bool;
    fn str(&mut self) -> Option<&'a str>;
    /// A string's bytes, not checked for UTF-8: for values matched
    /// against known words, which are.
    fn raw_str(&mut self) -> Option<&'a [u8]>;
    /// An integer that fits `i64` (serde's `i64` refuses the others).
    fn i64(&mut self) -> Option<i64>;
    fn bool(&mut self) -> Option<bool>;
    /// A decimal: read when it is a string `prism_model::decimal::plain`
    /// reads or an integer, else its text (a string borrowed; what
    /// [`DecimalStr`](super::DecimalStr)'s serde reading makes of it).
    fn decimal(&mut self) -> Option<DecimalField<'a>>;
    /// Enters a list; its length when the format says it up front.
    fn open_list(&mut self) -> Option<Option<usize>>;
    /// Whether a list entered with [`Cursor::open_list`] has another
    /// element (`count` of them read so far); `None` when malformed.
    fn more(&mut self, count: usize, len: Option<usize>) -> Option<bool>;
}

/// The record's fields, or `None` when this reader does not take the
/// record (see the module's description).
pub(super) fn read<'a, C: Cursor<'a>>(c: &mut C) -> Option<Fields<'a>> {
    let mut f = Fields::default();
    read_into(c, &mut f)?;
    Some(f)
}

/// [`read`] into fields the caller holds (all `None` before): a record's
/// fields are hundreds of bytes, and returning them by value copied them
/// at each call that passed them on (4 % of a replay's source thread).
/// After `None`, `f` holds what was read before the reader gave up.
pub(super) fn read_into<'a, C: Cursor<'a>>(c: &mut C, f: &mut Fields<'a>) -> Option<()> {
    c.open()?;
    let mut seen = 0u32;
    while let Some(key) = c.key()? {
        let slot = slot(key)?;
        if seen & (1 << slot) != 0 {
            return None;
        }
        seen |= 1 << slot;
        match slot {
            0 => f.kind = optional(c, kind)?.map(Cow::Borrowed),
            1 => f.exchange = optional(c, Cursor::str)?.map(Cow::Borrowed),
            2 => f.symbol = optional(c, Cursor::str)?.map(Cow::Borrowed),
            3 => f.ts = optional(c, Cursor::i64)?,
            4 => f.received_ts = optional(c, Cursor::i64)?,
            5 => f.price = optional(c, Cursor::decimal)?,
            6 => f.size = optional(c, Cursor::decimal)?,
            7 => f.side = optional(c, side)?,
            8 => f.buyer = optional(c, Cursor::str)?.map(Cow::Borrowed),
            9 => f.seller = optional(c, Cursor::str)?.map(Cow::Borrowed),
            10 => f._insurance_fund = c.bool()?,
            11 => f.position = optional(c, position)?,
            12 => f.account = optional(c, Cursor::str)?.map(Cow::Borrowed),
            13 => f.rate = optional(c, Cursor::decimal)?,
            14 => {
                f.interval_h = optional(c, |c| c.i64().and_then(|v| u32::try_from(v).ok()))?;
            }
            15 => f.mark_price = optional(c, Cursor::decimal)?,
            16 => f.index_price = optional(c, Cursor::decimal)?,
            17 => f.next_funding_ts = optional(c, Cursor::i64)?,
            18 => f.open_interest = optional(c, Cursor::decimal)?,
            19 => f.snapshot = optional(c, Cursor::bool)?,
            20 => f.bids = optional(c, levels)?,
            21 => f.asks = optional(c, levels)?,
            22 => f.entry_price = optional(c, Cursor::decimal)?,
            23 => f.liquidation_price = optional(c, Cursor::decimal)?,
            24 => f.leverage = optional(c, Cursor::decimal)?,
            _ => return None,
        }
    }
    c.close()
}

/// A null as `None`, else the value `read` takes (`None` overall when it
/// does not).
fn optional<'a, C: Cursor<'a>, T>(
    c: &mut C,
    read: impl FnOnce(&mut C) -> Option<T>,
) -> Option<Option<T>> {
    if c.null() {
        return Some(None);
    }
    read(c).map(Some)
}

/// The market records' types, matched as bytes (most records are one).
pub(super) const KINDS: [&str; 6] = [
    "trade",
    "liquidation",
    "funding",
    "open_interest",
    "book",
    "position",
];

fn kind<'a>(c: &mut impl Cursor<'a>) -> Option<&'a str> {
    let bytes = c.raw_str()?;
    match KINDS.iter().find(|k| k.as_bytes() == bytes) {
        Some(known) => Some(known),
        None => std::str::from_utf8(bytes).ok(),
    }
}

fn side<'a>(c: &mut impl Cursor<'a>) -> Option<Side> {
    match c.raw_str()? {
        b"buy" => Some(Side::Buy),
        b"sell" => Some(Side::Sell),
        _ => None,
    }
}

fn position<'a>(c: &mut impl Cursor<'a>) -> Option<PositionSide> {
    match c.raw_str()? {
        b"long" => Some(PositionSide::Long),
        b"short" => Some(PositionSide::Short),
        _ => None,
    }
}

/// Book levels: a list of `[price, size]` lists, each price and size a
/// plain decimal string and valid (a price above zero, a size not below
/// it), read; any other book is left to serde, whose texts then meet the
/// same checks in their turn (so a bad level is reported as before, in
/// the order the record's checks are made).
fn levels<'a>(c: &mut impl Cursor<'a>) -> Option<Levels<'a>> {
    let len = c.open_list()?;
    // A length said up front sizes the list, up to a bound: a record's
    // claim is not an allocation to make.
    let mut levels = Vec::with_capacity(len.unwrap_or(0).min(1024));
    while c.more(levels.len(), len)? {
        let pair = c.open_list()?;
        if !c.more(0, pair)? {
            return None;
        }
        let DecimalField::Read(price) = c.decimal()? else {
            return None;
        };
        if !c.more(1, pair)? {
            return None;
        }
        let DecimalField::Read(size) = c.decimal()? else {
            return None;
        };
        if c.more(2, pair)? {
            return None;
        }
        // `plain` never reads a negative zero: a size is valid when it is
        // not negative, a price when it is not negative and not zero.
        if price.is_sign_negative() || price.is_zero() || size.is_sign_negative() {
            return None;
        }
        levels.push(Level { price, size });
    }
    Some(Levels::Read(levels))
}

/// Where a key's value goes in [`read`]; `None` for a key [`Fields`]
/// does not read.
fn slot(key: &[u8]) -> Option<u32> {
    Some(match key {
        b"type" => 0,
        b"exchange" => 1,
        b"symbol" => 2,
        b"ts" => 3,
        b"received_ts" => 4,
        b"price" => 5,
        b"size" => 6,
        b"side" => 7,
        b"buyer" => 8,
        b"seller" => 9,
        b"insurance_fund" => 10,
        b"position" => 11,
        b"account" => 12,
        b"rate" => 13,
        b"interval_h" => 14,
        b"mark_price" => 15,
        b"index_price" => 16,
        b"next_funding_ts" => 17,
        b"open_interest" => 18,
        b"snapshot" => 19,
        b"bids" => 20,
        b"asks" => 21,
        b"entry_price" => 22,
        b"liquidation_price" => 23,
        b"leverage" => 24,
        _ => return None,
    })
}

/// Keys records have, for the readers' tests: some unknown to
/// [`Fields`], `type` the most.
#[cfg(test)]
pub(super) const TEST_KEYS: [&str; 28] = [
    "type",
    "type",
    "exchange",
    "symbol",
    "ts",
    "received_ts",
    "price",
    "size",
    "side",
    "buyer",
    "seller",
    "insurance_fund",
    "position",
    "account",
    "rate",
    "interval_h",
    "mark_price",
    "index_price",
    "next_funding_ts",
    "open_interest",
    "snapshot",
    "bids",
    "asks",
    "entry_price",
    "liquidation_price",
    "leverage",
    "contract_size",
    "Type",
];

#[cfg(test)]
mod tests {
    use super::super::{Fields, json, packed};

    #[test]
    fn every_record_the_writer_writes_is_read_here_in_either_format() {
        let mut sim = crate::simulator::Simulator::new(&crate::simulator::SimulatorSettings {
            seed: 3,
            start_ms: 1_700_000_000_000,
            duration_ms: None,
            accounts: 20,
            tickers: true,
            candles: Vec::new(),
        });
        let mut records = Vec::new();
        while records.len() < 20_000 {
            sim.step(&mut records);
        }
        let mut kinds = std::collections::BTreeSet::new();
        for record in records {
            let Some(expected) = Fields::of(&record) else {
                continue;
            };
            let text = serde_json::to_string(&record).unwrap();
            assert_eq!(json::read(&text).as_ref(), Some(&expected), "{text}");
            let bytes = rmp_serde::to_vec_named(&record).unwrap();
            assert_eq!(packed::read(&bytes).as_ref(), Some(&expected), "{text}");
            kinds.insert(format!("{:?}", expected.kind));
        }
        assert!(kinds.len() >= 5, "{kinds:?}");
    }
}
