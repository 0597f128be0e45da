//! Live feeds: one thread per venue, connected over WebSocket, subscribed
//! from config, kept alive with the venue's heartbeat, reconnected with
//! exponential backoff and jitter, resubscribed after each reconnect, with
//! books resynced (REST snapshot or resubscription) whenever their sequence
//! breaks. The thread's I/O is thin: every message goes through the same
//! [`FeedNormalizer`](crate::FeedNormalizer) as recorded data.

mod feed;
mod feeds;
mod protocol;

pub use feed::{FeedOutputs, spawn_feed};
pub use feeds::{FeedUse, Feeds};
pub use protocol::candle_channel;

use crate::Venue;
use crate::contracts::Contracts;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// What a feed subscribes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Channels {
    pub trades: bool,
    pub liquidations: bool,
    pub funding: bool,
    pub open_interest: bool,
    pub book: bool,
    /// Best bid/offer and the venue's 24-hour summary.
    pub tickers: bool,
}

impl Channels {
    /// Everything.
    pub const ALL: Channels = Channels {
        trades: true,
        liquidations: true,
        funding: true,
        open_interest: true,
        book: true,
        tickers: true,
    };
}

/// One venue's live feed.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    pub venue: Venue,
    /// The venue's own symbols; records about others are dropped.
    pub symbols: Vec<String>,
    pub channels: Channels,
    pub url: String,
    pub rest_url: String,
    pub heartbeat: Duration,
    pub idle_timeout: Duration,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub open_interest_poll: Duration,
    pub contracts: Contracts,
    /// Accounts whose fills are followed (Hyperliquid liquidations).
    pub accounts: Vec<String>,
    /// Candle intervals streamed by the venue (each must be one it has:
    /// [`candle_channel`]).
    pub candles: Vec<prism_model::CandleInterval>,
}

impl FeedSettings {
    /// Settings with the venue's public addresses and advised heartbeat.
    #[must_use]
    pub fn new(venue: Venue, symbols: Vec<String>) -> Self {
        let (url, rest_url, heartbeat_s) = protocol::defaults(venue);
        Self {
            venue,
            symbols,
            channels: Channels::ALL,
            url: url.to_owned(),
            rest_url: rest_url.to_owned(),
            heartbeat: Duration::from_secs(heartbeat_s),
            idle_timeout: Duration::from_secs(60),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            open_interest_poll: Duration::from_secs(30),
            contracts: Contracts::default(),
            accounts: Vec::new(),
            candles: Vec::new(),
        }
    }
}

/// A feed's counters, readable while it runs.
#[derive(Debug, Default)]
pub struct FeedMetrics {
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    /// Connections lost (and retried) after the first.
    pub reconnects: AtomicU64,
    pub messages: AtomicU64,
    pub records: AtomicU64,
    pub rejected: AtomicU64,
    pub unknown: AtomicU64,
    pub book_gaps: AtomicU64,
    pub checksum_mismatches: AtomicU64,
    /// Book snapshots fetched over REST or resubscriptions made to resync.
    pub resyncs: AtomicU64,
    /// Receive time − event time, over records that carry both, ms.
    pub latency_sum_ms: AtomicI64,
    pub latency_count: AtomicU64,
    pub latency_max_ms: AtomicI64,
    /// Wall time of the last message, unix ms.
    pub last_message_ms: AtomicI64,
}

impl FeedMetrics {
    /// Mean exchange-to-receive latency, ms (0 before any).
    #[must_use]
    pub fn latency_mean_ms(&self) -> f64 {
        let n = self.latency_count.load(Ordering::Relaxed);
        if n == 0 {
            0.0
        } else {
            self.latency_sum_ms.load(Ordering::Relaxed) as f64 / n as f64
        }
    }
}
