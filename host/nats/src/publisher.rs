//! Publishing to JetStream in order, many messages in flight, retried until
//! the stream has each one.
//!
//! Messages are sent without waiting (up to `in_flight` unacknowledged),
//! and their acknowledgements are awaited oldest first. When one fails (a
//! timeout, a lost connection), every message from it on is sent again, in
//! the original order, after a backoff: the stream drops those it already
//! has by their message id, so a retry never stores a message twice (within
//! the stream's duplicate window).

use crate::health::NatsHealth;
use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishAckFuture;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Once the host is stopping, how long a publisher keeps trying.
pub(crate) const DRAIN: Duration = Duration::from_secs(10);

/// One message to publish.
pub(crate) struct Message {
    pub(crate) subject: String,
    /// `Nats-Msg-Id`: the stream keeps one message per id.
    pub(crate) id: String,
    pub(crate) content_type: &'static str,
    /// More headers.
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) payload: Bytes,
}

/// An ordered publisher, driven from a sink's thread.
pub(crate) struct Publisher {
    js: async_nats::jetstream::Context,
    handle: tokio::runtime::Handle,
    health: Arc<NatsHealth>,
    max_in_flight: usize,
    /// Sent and not yet acknowledged, oldest first; `None`: to be sent again.
    window: VecDeque<(Message, Option<PublishAckFuture>)>,
    backoff: Duration,
    /// Set when the host is stopping: retries end [`DRAIN`] later.
    stopping: Arc<AtomicBool>,
    drain_until: Option<Instant>,
    /// Messages pushed, and of those the oldest ones the stream has (or
    /// that were given up): `settled` never passes `pushed`.
    pushed: u64,
    settled: u64,
    /// The highest stream sequence acknowledged so far: whatever is
    /// published from now on is stored after it.
    stored_up_to: u64,
}

impl Publisher {
    pub(crate) fn new(
        js: async_nats::jetstream::Context,
        handle: tokio::runtime::Handle,
        health: Arc<NatsHealth>,
        max_in_flight: usize,
        stopping: Arc<AtomicBool>,
    ) -> Self {
        Self {
            js,
            handle,
            health,
            max_in_flight: max_in_flight.max(1),
            window: VecDeque::new(),
            backoff: FIRST_BACKOFF,
            stopping,
            drain_until: None,
            pushed: 0,
            settled: 0,
            stored_up_to: 0,
        }
    }

    /// How many messages were pushed so far.
    pub(crate) fn pushed(&self) -> u64 {
        self.pushed
    }

    /// This publisher, for a stream whose last message is at `sequence`.
    pub(crate) fn stored_after(mut self, sequence: u64) -> Self {
        self.stored_up_to = sequence;
        self
    }

    /// The highest stream sequence acknowledged so far (0: none yet): a
    /// message pushed from now on is stored at a later sequence.
    pub(crate) fn stored_up_to(&self) -> u64 {
        self.stored_up_to
    }

    /// How many of the first messages pushed the stream has (or were given
    /// up at shutdown): each of them, and every one before it.
    pub(crate) fn settled(&self) -> u64 {
        self.settled
    }

    /// When retrying ends: never while the host runs; [`DRAIN`] after it
    /// began to stop.
    fn deadline(&mut self) -> Option<Instant> {
        if self.drain_until.is_none() && self.stopping.load(Ordering::Relaxed) {
            self.drain_until = Some(Instant::now() + DRAIN);
        }
        self.drain_until
    }

    /// Sends `message` after every earlier one; blocks while the window is
    /// full (and so, through an outage, until the server is back).
    pub(crate) fn push(&mut self, message: Message) {
        while self.window.len() >= self.max_in_flight {
            if !self.settle_oldest(None) {
                // Stopping, and the server is still away: said loudly.
                self.window.pop_front();
                self.settled += 1;
                self.health.lost.fetch_add(1, Ordering::Relaxed);
                tracing::error!("the host is stopping and NATS is unreachable: a message is lost");
            }
        }
        let sent = self.send(&message);
        self.window.push_back((message, sent));
        self.pushed += 1;
        self.gauge();
    }

    /// Waits until the stream has every message sent so far, or until
    /// `deadline`; returns how many it still lacks then.
    pub(crate) fn flush(&mut self, deadline: Option<Instant>) -> usize {
        while !self.window.is_empty() {
            if !self.settle_oldest(deadline) {
                break;
            }
        }
        self.gauge();
        self.window.len()
    }

    /// The sink's last flush at shutdown: waits [`DRAIN`] at most for what
    /// the stream still lacks, and names how much of `what` it lacked then.
    pub(crate) fn finish(&mut self, sink: &str, what: &str) -> Result<(), prism_sinks::SinkError> {
        match self.flush(Some(Instant::now() + DRAIN)) {
            0 => Ok(()),
            lacking => Err(prism_sinks::SinkError::Other {
                sink: sink.into(),
                message: format!(
                    "{lacking} {what} were not acknowledged by the stream before shutdown (NATS unreachable)"
                ),
            }),
        }
    }

    fn gauge(&self) {
        self.health
            .in_flight
            .store(self.window.len() as u64, Ordering::Relaxed);
    }

    fn send(&self, m: &Message) -> Option<PublishAckFuture> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", m.id.as_str());
        headers.insert("Content-Type", m.content_type);
        for (name, value) in &m.headers {
            headers.insert(*name, value.as_str());
        }
        // The client buffers while disconnected; a full buffer must not
        // hold the thread past the request timeout.
        let sent = self.handle.block_on(async {
            tokio::time::timeout(
                SEND_TIMEOUT,
                self.js
                    .publish_with_headers(m.subject.clone(), headers, m.payload.clone()),
            )
            .await
        });
        match sent {
            Ok(Ok(ack)) => Some(ack),
            Err(_) => {
                self.health.failed(format!(
                    "publish to {}: no room in {SEND_TIMEOUT:?}",
                    m.subject
                ));
                None
            }
            Ok(Err(e)) => {
                self.health.failed(format!("publish to {}: {e}", m.subject));
                None
            }
        }
    }

    /// Waits for the oldest message's acknowledgement, sending the window
    /// again after each failure. False when `deadline` passed first.
    fn settle_oldest(&mut self, deadline: Option<Instant>) -> bool {
        loop {
            let deadline = match (deadline, self.deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let Some((message, sent)) = self.window.front_mut() else {
                return true;
            };
            let outcome = match sent.take() {
                Some(ack) => self
                    .handle
                    .block_on(ack.into_future())
                    .map_err(|e| e.to_string()),
                None => Err("not sent".to_owned()),
            };
            match outcome {
                Ok(ack) => {
                    self.health.published.fetch_add(1, Ordering::Relaxed);
                    if ack.duplicate {
                        self.health.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    self.health.reached();
                    self.stored_up_to = self.stored_up_to.max(ack.sequence);
                    self.backoff = FIRST_BACKOFF;
                    self.window.pop_front();
                    self.settled += 1;
                    return true;
                }
                Err(e) => {
                    let subject = message.subject.clone();
                    self.health
                        .failed(format!("no acknowledgement for {subject}: {e}"));
                    if deadline.is_some_and(|d| Instant::now() + self.backoff > d) {
                        return false;
                    }
                    tracing::warn!(
                        waiting = self.window.len(),
                        "NATS publish failed ({e}); sending again in {:?}",
                        self.backoff
                    );
                    std::thread::sleep(self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    self.resend();
                }
            }
        }
    }

    fn resend(&mut self) {
        // Dropping an older future first keeps the client's permits free.
        for (_, sent) in &mut self.window {
            *sent = None;
        }
        for i in 0..self.window.len() {
            let again = self.send(&self.window[i].0);
            let failed = again.is_none();
            self.window[i].1 = again;
            self.health.republished.fetch_add(1, Ordering::Relaxed);
            if failed {
                // Still away: the rest waits for the next round.
                break;
            }
        }
    }
}
