//! The output stage: takes what plugin workers produce and keeps it in
//! bounded in-memory stores, or writes it to a file.
//!
//! Stores are written by one dispatcher thread, behind the workers' bounded
//! output queue, and read by the API; a read holds a store's lock only to
//! copy out the answer.

pub mod dispatch;
pub mod query;
pub mod store;

pub use dispatch::{OutputSink, run_dispatcher};
pub use query::{LogQuery, MAX_LIMIT, Page, SeriesQuery, SignalQuery};
pub use store::{OutputStore, StoreLimits};
