//! Exchange feeds, normalized exactly.
//!
//! [`FeedNormalizer`] turns one venue's wire messages (JSON text, as the
//! venue sent them) into Prism's replay records — pure functions over the
//! message and the state a feed needs (order books, sequence numbers,
//! instrument names), so they are tested on recorded payloads. Sizes come
//! out in base-asset units (contract values applied), liquidations with the
//! liquidated side. Unknown message types are counted, not errors; a value
//! that cannot be represented exactly is refused with a reason and counted;
//! nothing panics on any input.
//!
//! [`capture`] reads recorded feeds (Prism's `record` format, cryptofeed
//! captures, tardis-machine NDJSON) into `(receive time, message)` pairs;
//! [`recording`] replays them as a source and writes them; [`live`] runs
//! the venues' WebSocket feeds.

pub mod book;
pub mod capture;
pub mod contracts;
pub mod live;
mod normalize;
pub mod num;
pub mod recording;

pub use contracts::{Contract, Contracts};
pub use normalize::{FeedNormalizer, KEPT_REASONS, Outcome, Stats};

use std::fmt;
use std::str::FromStr;

/// The venues Prism normalizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Venue {
    /// Binance USDⓈ-M futures.
    Binance,
    /// OKX v5.
    Okx,
    Hyperliquid,
    Deribit,
    /// Bybit v5 (its `allLiquidation` stream).
    Bybit,
    Lighter,
}

impl Venue {
    /// Every venue.
    pub const ALL: [Venue; 6] = [
        Venue::Binance,
        Venue::Okx,
        Venue::Hyperliquid,
        Venue::Deribit,
        Venue::Bybit,
        Venue::Lighter,
    ];

    /// The exchange name used in events.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Okx => "okx",
            Venue::Hyperliquid => "hyperliquid",
            Venue::Deribit => "deribit",
            Venue::Bybit => "bybit",
            Venue::Lighter => "lighter",
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A venue name Prism does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown venue `{0}`; use binance, okx, hyperliquid, deribit, bybit or lighter")]
pub struct UnknownVenue(pub String);

impl FromStr for Venue {
    type Err = UnknownVenue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Venue::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownVenue(s.to_owned()))
    }
}
