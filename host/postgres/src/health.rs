//! How the database sink is doing, for `/health` and the metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The database sink's state and counters. Written by its threads, read by
/// anyone.
#[derive(Debug, Default)]
pub struct PostgresHealth {
    /// The writer holds a working connection.
    pub connected: AtomicBool,
    /// Rows written (outputs, dead letters, archived events, registry).
    pub rows: AtomicU64,
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Failed attempts (connecting, writing); each is retried.
    pub errors: AtomicU64,
    /// Duration of the last commit, µs.
    pub last_commit_us: AtomicU64,
    /// Sum of commit durations, µs (with `commits`, the mean).
    pub commit_us_total: AtomicU64,
    /// Bytes waiting in the spool.
    pub spool_bytes: AtomicU64,
    /// The spool is full: the pipeline is held back.
    pub spool_full: AtomicBool,
    /// Output rows read from the spool that wait for their plugin's checkpoint.
    pub pending_rows: AtomicU64,
    /// Rows deleted by retention.
    pub retained_away: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl PostgresHealth {
    /// Why the sink is not healthy now, if it is not.
    #[must_use]
    pub fn problem(&self) -> Option<String> {
        if self.spool_full.load(Ordering::Relaxed) {
            return Some(
                "the PostgreSQL spool is full: the pipeline is held back until the database takes what is spooled".into(),
            );
        }
        if !self.connected.load(Ordering::Relaxed) {
            let why = self
                .last_error()
                .unwrap_or_else(|| "not connected yet".into());
            return Some(format!(
                "PostgreSQL is unreachable ({why}); outputs are spooled locally and written when it returns"
            ));
        }
        None
    }

    /// The last failure's text.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn failed(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.connected.store(false, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(what);
    }
}
