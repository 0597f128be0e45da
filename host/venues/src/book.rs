//! A local order book kept from snapshots and deltas, with each level's
//! original text (venue checksums are computed over it).

use crate::num::{self, BadValue};
use prism_model::Decimal;
use std::collections::BTreeMap;

/// A level as the venue sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub price: String,
    pub size: String,
}

/// Which side of a book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookSide {
    Bid,
    Ask,
}

/// One instrument's book.
#[derive(Debug, Clone, Default)]
pub struct Book {
    bids: BTreeMap<Decimal, Level>,
    asks: BTreeMap<Decimal, Level>,
}

impl Book {
    /// Forgets every level.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Sets a level; size 0 removes it.
    ///
    /// # Errors
    /// A price or size that is not an exact decimal.
    pub fn set(&mut self, side: BookSide, price: &str, size: &str) -> Result<(), BadValue> {
        let p = num::text("price", price)?;
        let s = num::text("size", size)?;
        let levels = match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        if s.is_zero() {
            levels.remove(&p);
        } else {
            levels.insert(
                p,
                Level {
                    price: price.to_owned(),
                    size: size.to_owned(),
                },
            );
        }
        Ok(())
    }

    /// Levels best first.
    pub fn bids(&self) -> impl Iterator<Item = &Level> {
        self.bids.values().rev()
    }

    /// Levels best first.
    pub fn asks(&self) -> impl Iterator<Item = &Level> {
        self.asks.values()
    }

    /// OKX's checksum: CRC-32 of the best 25 bids and asks interleaved as
    /// `bidPx:bidSz:askPx:askSz:…` (a side that runs out is skipped), as a
    /// signed 32-bit integer.
    #[must_use]
    pub fn okx_checksum(&self) -> i32 {
        let bids: Vec<&Level> = self.bids().take(25).collect();
        let asks: Vec<&Level> = self.asks().take(25).collect();
        let mut parts: Vec<&str> = Vec::with_capacity(100);
        for i in 0..bids.len().max(asks.len()) {
            if let Some(b) = bids.get(i) {
                parts.push(&b.price);
                parts.push(&b.size);
            }
            if let Some(a) = asks.get(i) {
                parts.push(&a.price);
                parts.push(&a.size);
            }
        }
        let text = parts.join(":");
        i32::from_ne_bytes(crc32fast::hash(text.as_bytes()).to_ne_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_removed_at_zero() {
        let mut b = Book::default();
        b.set(BookSide::Bid, "100.5", "1").unwrap();
        b.set(BookSide::Bid, "101", "2").unwrap();
        b.set(BookSide::Ask, "102", "3").unwrap();
        b.set(BookSide::Bid, "100.50", "0").unwrap();
        let bids: Vec<&str> = b.bids().map(|l| l.price.as_str()).collect();
        assert_eq!(bids, ["101"]);
        // The checksum of "101:2:102:3".
        assert_eq!(
            b.okx_checksum(),
            i32::from_ne_bytes(crc32fast::hash(b"101:2:102:3").to_ne_bytes())
        );
    }
}
