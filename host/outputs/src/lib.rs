//! Bounded in-memory stores of plugin outputs, and their paged queries.
//!
//! One sink of the sink stage writes them; the API reads them. A read holds
//! a store's lock only to copy out the answer.

pub mod execution;
pub mod market;
pub mod query;
pub mod store;

pub use execution::{ExecutionLimits, ExecutionStore, PnlHistoryPoint, RecordQuery};
pub use market::{CandleQuery, MarketLimits, MarketStore};
pub use query::{
    DEFAULT_LIMIT, LogQuery, MAX_LIMIT, Page, SeriesQuery, SignalCursor, SignalList, SignalQuery,
};
pub use store::{OutputStore, StoreLimits};
