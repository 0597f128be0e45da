//! The shared model of Prism: normalized market events, the instrument table
//! and plugin outputs.
//!
//! Every other stage of the host depends on this crate and on nothing beside
//! it, so it names no async runtime, no wasm engine and no network type.
//! Prices and sizes are exact [`Decimal`]s whose mantissa fits the plugin
//! contract's `s64` (see [`decimal::exact`]); times are unix milliseconds.
//!
//! ```
//! use prism_model::{InstrumentRegistry, decimal};
//! let mut registry = InstrumentRegistry::default();
//! let (btc, fresh) = registry.intern("binance", "BTCUSDT");
//! assert!(fresh);
//! assert_eq!(registry.intern("binance", "BTCUSDT"), (btc, false));
//! assert_eq!(registry.get(btc).unwrap().base.as_ref(), "BTC");
//! assert_eq!(decimal::parse("37000.1").unwrap().to_string(), "37000.1");
//! ```

mod body;
pub mod candle;
pub mod clock;
pub mod decimal;
pub mod event;
pub mod execution;
pub mod id;
pub mod instrument;
pub mod output;
pub mod partition;
pub mod schedule;
pub mod subscription;

pub use candle::{Candle, CandleInterval, IntervalError, IntervalUnit, Ticker};
pub use clock::{Clock, WallClock, civil_date, utc_text, wall_ms};
pub use decimal::Decimal;
pub use event::{
    Book, Chunk, Event, EventKind, Fill, Funding, Level, Liquidation, OpenInterest, Position,
    PositionSide, Side, Timer, Trade,
};
pub use execution::{
    ExecutionReport, FillRecord, FundingPayment, Liquidity, OrderOrigin, OrderRecord, OrderStatus,
    PnlPoint, PositionRecord, RiskRecord, RiskState,
};
pub use id::{PluginId, hex};
pub use instrument::{Instrument, InstrumentId, InstrumentRegistry, InstrumentTable, MarketKind};
pub use output::{
    Alert, Archived, Checkpoint, Delivery, Direction, Document, LogEntry, OrderIntent, Output,
    OutputBatch, OutputId, OutputKind, PluginOrigin, PluginRecord, Priority, RegistryChange,
    Rejected, SeriesPoint, Signal, Strength, VersionEntry,
};
pub use partition::{PartitionKey, PartitionSlice};
pub use subscription::{Subscription, SubscriptionOverride};

/// Unix epoch time in milliseconds (event time unless stated otherwise).
pub type TimestampMs = i64;

/// The event times Prism accepts: from the unix epoch up to (not including)
/// 2100-01-01. A time outside is a damaged record, refused where it enters
/// (a replay file, a venue message), so plugins never do arithmetic on
/// `i64::MIN` or `i64::MAX`.
pub const EVENT_TIMES: std::ops::Range<TimestampMs> = 0..4_102_444_800_000;
