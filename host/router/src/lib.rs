//! The router: takes the source's event stream, decides which plugin gets
//! which event (subscriptions), declares instruments to each plugin before
//! their first use, inserts timers, batches by size and time, and hands
//! batches to each plugin's bounded queue.
//!
//! A full queue blocks the router, which stops reading from the source: the
//! stream slows down, nothing is dropped.

pub mod filter;
pub mod queue;
mod route;
pub mod router;

pub use filter::{Filter, SymbolPattern};
pub use queue::{Batch, BatchReceiver, BatchSender, QueueWaker, plugin_queue};
pub use route::Route;
pub use router::{Router, RouterCommand, RouterSettings, run_router};

/// Re-exported so every stage uses the same channel crate.
pub use crossbeam_channel;
