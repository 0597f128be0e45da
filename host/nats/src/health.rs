//! How publishing and consuming go, for `/health` and the metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters of the NATS sinks and source. Written by their threads, read by
/// anyone.
#[derive(Debug, Default)]
pub struct NatsHealth {
    /// The last publish or fetch reached the server.
    pub connected: AtomicBool,
    /// Messages the stream acknowledged (duplicates included).
    pub published: AtomicU64,
    /// Of those, dropped by the stream as already seen (same message id).
    pub duplicates: AtomicU64,
    /// Failed publishes or fetches; each is retried.
    pub errors: AtomicU64,
    /// Outputs not published: the stream had them from an earlier run.
    pub suppressed: AtomicU64,
    /// Messages given up on: the host stopped while the server was away.
    pub lost: AtomicU64,
    /// Messages sent again after a failure, in order.
    pub republished: AtomicU64,
    /// Publishes awaiting the server's acknowledgement.
    pub in_flight: AtomicU64,
    /// Messages the source took from its consumer.
    pub consumed: AtomicU64,
    /// Of those, delivered more than once (skipped: already taken).
    pub redelivered: AtomicU64,
    /// Messages acknowledged to the consumer.
    pub acked: AtomicU64,
    /// Sum of the time from a message's arrival to its acknowledgement, µs.
    pub ack_us_total: AtomicU64,
    /// Messages the consumer still has for the source (its lag).
    pub pending: AtomicU64,
    /// Times the consumer delivered nothing while it held messages, and
    /// was made again.
    pub stalls: AtomicU64,
    /// Messages refused as not a replay record (each named in the log).
    pub refused: AtomicU64,
    /// Bytes of outputs waiting in the disk spool for the stream.
    pub spooled_bytes: AtomicU64,
    /// The spool is full: the pipeline waits.
    pub spool_full: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl NatsHealth {
    /// Why NATS is not healthy now, if it is not.
    #[must_use]
    pub fn problem(&self) -> Option<String> {
        if self.spool_full.load(Ordering::Relaxed) {
            return Some(
                "the outputs' spool is full: the pipeline waits until NATS takes what is spooled"
                    .into(),
            );
        }
        if self.connected.load(Ordering::Relaxed) || self.errors.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let why = self.last_error().unwrap_or_default();
        Some(format!(
            "NATS is unreachable ({why}); publishes are retried in order (outputs wait in the spool, when there is one) and the pipeline waits once the queue or the spool is full"
        ))
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

    pub(crate) fn reached(&self) {
        self.connected.store(true, Ordering::Relaxed);
    }
}
