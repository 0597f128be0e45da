//! The `nats` source: a durable pull consumer of the market stream whose
//! messages (replay records) become the pipeline's events.
//!
//! Positions come from stream sequences: the event of sequence `s` is at
//! `2s`, a declaration made for it at `2s − 1`. So the outputs of a batch
//! have the same identity in every run and on every host, and a plugin
//! restored from a checkpoint at position `p` needs the stream from
//! [`first_sequence`]`(p)` on. At start the consumer is made anew there;
//! without checkpoints, where the last run's acknowledgements reached, or,
//! new, from `deliver`.
//!
//! A pulled batch is acknowledged (all up to its last message) once the
//! pipeline has taken it; what a crash loses after that is read again from
//! the plugins' checkpoints at the next start, since the stream keeps its
//! messages (limits retention). A message delivered twice (an
//! acknowledgement lost) is skipped by its sequence. Messages lost on the
//! way (a connection dropped while they were sent) show as a jump in the
//! consumer's sequence: nothing past the gap is taken or acknowledged, and
//! the consumer is placed again after the last message taken.

use crate::health::NatsHealth;
use crate::instruments::SharedIds;
use crate::{Nats, NatsError, js_error};
use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy, pull};
use crossbeam_channel::Sender;
use futures_util::StreamExt;
use prism_model::{Chunk, Event, InstrumentRegistry};
use prism_sources::{Normalizer, Record, SourceError, SourceStats};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Refusals logged one by one; past this only counted.
const LOGGED_REFUSALS: u64 = 100;
/// How long a pull waits for messages before asking again (and looking at
/// the stop flag).
const PULL_WAIT: Duration = Duration::from_millis(500);
/// Nothing delivered for this long: the consumer is asked whether it holds
/// messages for the source; if it does, it is made again (a pull consumer
/// can stall with messages pending, on the client's side or the server's).
const STALL_AFTER: Duration = Duration::from_secs(5);

/// The position of the event of stream sequence `sequence`.
#[must_use]
pub fn position_of(sequence: u64) -> u64 {
    sequence.saturating_mul(2)
}

/// The first stream sequence a plugin whose checkpoint covers `position`
/// still needs.
#[must_use]
pub fn first_sequence(position: u64) -> u64 {
    position / 2 + 1
}

/// The consumer, as `[source]` and the restored checkpoints say.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Subjects consumed.
    pub filter: String,
    pub durable: String,
    /// A new consumer starts with the oldest message (`false`: new ones).
    pub from_oldest: bool,
    pub fetch: usize,
    pub ack_wait: Duration,
    /// The first sequence the restored plugins need (from their
    /// checkpoints); `None` when no plugin was restored.
    pub start: Option<u64>,
}

/// Asks a running [`NatsSource`] to read the stream again from a sequence
/// (a host taking over a partition whose state is behind the others'):
/// the earliest asked for wins, and the source, between two pulls, places
/// its consumer there and sends an empty chunk at that position first, so
/// the router sees the jump back.
#[derive(Debug, Clone)]
pub struct Rewind(Arc<AtomicU64>);

impl Default for Rewind {
    fn default() -> Self {
        Self(Arc::new(AtomicU64::new(u64::MAX)))
    }
}

impl Rewind {
    /// Reads the stream again from `sequence` (at least 1).
    pub fn request(&self, sequence: u64) {
        self.0.fetch_min(sequence.max(1), Ordering::SeqCst);
    }

    fn take(&self) -> Option<u64> {
        Some(self.0.swap(u64::MAX, Ordering::SeqCst)).filter(|s| *s != u64::MAX)
    }
}

/// The consumer, placed, and the shared instrument ids.
pub struct NatsSource {
    consumer: consumer::Consumer<pull::Config>,
    /// The stream, and the consumer's config, to place it again.
    stream: async_nats::jetstream::stream::Stream,
    config: pull::Config,
    /// The consumer sequence of the last message delivered: a jump means
    /// messages were lost on the way (a dropped connection).
    delivered: Option<u64>,
    ids: SharedIds,
    registry: InstrumentRegistry,
    health: Arc<NatsHealth>,
    handle: tokio::runtime::Handle,
    fetch: usize,
    /// The consumer's outstanding pulls, made at the first pull.
    messages: Option<pull::Stream>,
    /// The last sequence taken: anything at or below is a redelivery.
    taken: u64,
    rewind: Rewind,
}

impl NatsSource {
    /// Places the durable consumer and opens the instrument ids. Call
    /// inside the runtime of `nats`.
    ///
    /// # Errors
    /// When the stream, the consumer or the bucket cannot be used.
    pub async fn open(nats: &Nats, settings: &SourceSettings) -> Result<Self, NatsError> {
        let stream = nats
            .js
            .get_stream(nats.settings.stream.as_str())
            .await
            .map_err(js_error)?;
        let wanted = |deliver_policy: DeliverPolicy| pull::Config {
            durable_name: Some(settings.durable.clone()),
            filter_subject: settings.filter.clone(),
            ack_policy: AckPolicy::All,
            ack_wait: settings.ack_wait,
            deliver_policy,
            // A pull asks for at most `fetch`; a few in flight at once.
            max_ack_pending: i64::try_from(settings.fetch * 4).unwrap_or(i64::MAX),
            ..Default::default()
        };
        let existing = stream.consumer_info(&settings.durable).await.ok();
        let next = existing.as_ref().map(|i| i.ack_floor.stream_sequence + 1);
        // Always made anew at start: a consumer left by a crashed run holds
        // messages it delivered but never had acknowledged, and sends them
        // again only after `ack_wait`, behind newer ones (which would then
        // pass them by). Placed where the checkpoints need it, else where
        // the last run's acknowledgements reached.
        let policy = match (settings.start, next) {
            (Some(start), _) => DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            (None, Some(next)) => DeliverPolicy::ByStartSequence {
                start_sequence: next,
            },
            (None, None) if settings.from_oldest => DeliverPolicy::All,
            (None, None) => DeliverPolicy::New,
        };
        if existing.is_some() {
            tracing::info!(durable = %settings.durable, "the consumer is placed at {policy:?}");
            stream
                .delete_consumer(&settings.durable)
                .await
                .map_err(js_error)?;
        }
        let consumer = stream
            .create_consumer(wanted(policy))
            .await
            .map_err(js_error)?;
        let ids = SharedIds::open(&nats.js, &nats.settings.stream, nats.settings.replicas)
            .await
            .map_err(NatsError::JetStream)?;
        let config = wanted(DeliverPolicy::All);
        Ok(Self {
            consumer,
            stream,
            config,
            delivered: None,
            ids,
            registry: InstrumentRegistry::default(),
            health: nats.health(),
            handle: tokio::runtime::Handle::current(),
            fetch: settings.fetch,
            messages: None,
            taken: settings.start.map_or(0, |s| s.saturating_sub(1)),
            rewind: Rewind::default(),
        })
    }

    /// The handle that makes this source read the stream again.
    #[must_use]
    pub fn rewinder(&self) -> Rewind {
        self.rewind.clone()
    }

    /// The last stream sequence handed to the pipeline.
    #[must_use]
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// Feeds the pipeline until `stop` or the pipeline's end. Runs on the
    /// source thread.
    ///
    /// # Errors
    /// When the instrument ids cannot be kept in step with the bucket.
    pub fn run(
        mut self,
        tx: &Sender<Chunk>,
        stats: &SourceStats,
        stop: &AtomicBool,
    ) -> Result<(), SourceError> {
        // The ids handed out so far, before the first message.
        let mut registry = std::mem::take(&mut self.registry);
        self.ids.sync(&mut registry).map_err(SourceError::Other)?;
        let mut normalizer = Normalizer::with_registry(registry);
        let mut backoff = Duration::from_millis(100);
        let mut misplaced = false;
        let mut idle_since = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            // A request for what is not read yet is moot: a route waiting
            // for it starts at once (the router sees it is not behind).
            if let Some(from) = self.rewind.take().filter(|f| *f <= self.taken) {
                tracing::info!(from, at = self.taken, "reading the stream again");
                self.taken = from - 1;
                misplaced = true;
                // The jump back, before any event read again.
                let jump = Chunk {
                    first: position_of(from) - 1,
                    events: Vec::new(),
                };
                if tx.send(jump).is_err() {
                    return Ok(());
                }
            }
            if misplaced {
                match self.place_again() {
                    Ok(()) => {
                        misplaced = false;
                        self.health.reached();
                    }
                    Err(e) => {
                        self.health
                            .failed(format!("placing the consumer again: {e}"));
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            }
            let messages = match self.pull() {
                Ok(m) => {
                    backoff = Duration::from_millis(100);
                    m
                }
                Err(e) => {
                    self.health.failed(format!("fetch: {e}"));
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    // The consumer may be gone (deleted, or lost with the
                    // server's state): made again where the pipeline is.
                    misplaced = true;
                    continue;
                }
            };
            let Some(last) = messages.last() else {
                if idle_since.elapsed() >= STALL_AFTER {
                    idle_since = Instant::now();
                    misplaced = self.stalled();
                }
                continue;
            };
            idle_since = Instant::now();
            self.health.reached();
            let arrived = Instant::now();
            let mut taken = 0;
            for message in &messages {
                if self.lost_before(message) {
                    break;
                }
                if !self.take(message, &mut normalizer, tx, stats)? {
                    return Ok(());
                }
                taken += 1;
            }
            if taken < messages.len() {
                // Acknowledging past the gap would acknowledge what never
                // came (acknowledgements cover everything before them):
                // the consumer is placed again after the last one taken.
                misplaced = true;
                continue;
            }
            // The pipeline has every message up to `last`.
            match self.handle.block_on(last.ack()) {
                Ok(()) => {
                    self.health
                        .acked
                        .fetch_add(messages.len() as u64, Ordering::Relaxed);
                    self.health.ack_us_total.fetch_add(
                        arrived.elapsed().as_micros() as u64 * messages.len() as u64,
                        Ordering::Relaxed,
                    );
                }
                // Redelivered later, and skipped then by its sequence.
                Err(e) => self.health.failed(format!("ack: {e}")),
            }
        }
        Ok(())
    }

    /// The next messages: waits up to [`PULL_WAIT`] for the first, then
    /// takes what has arrived, up to `fetch`. Pulls stay outstanding
    /// between calls (the client asks for the next batch while this one is
    /// processed), so the bus and the pipeline work at once.
    fn pull(&mut self) -> Result<Vec<async_nats::jetstream::Message>, String> {
        let fetch = self.fetch;
        let consumer = &self.consumer;
        let pending = &mut self.messages;
        let result = self.handle.block_on(async {
            if pending.is_none() {
                let stream = consumer
                    .stream()
                    .max_messages_per_batch(fetch)
                    .expires(Duration::from_secs(5))
                    .messages()
                    .await
                    .map_err(|e| e.to_string())?;
                *pending = Some(stream);
            }
            let Some(stream) = pending.as_mut() else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            let mut wait = PULL_WAIT;
            while out.len() < fetch {
                match tokio::time::timeout(wait, stream.next()).await {
                    Ok(Some(Ok(m))) => out.push(m),
                    Ok(Some(Err(e))) => return Err(e.to_string()),
                    Ok(None) => return Err("the consumer's message stream ended".into()),
                    Err(_) => break,
                }
                // The rest of a batch is already here or close behind.
                wait = Duration::from_millis(2);
            }
            Ok(out)
        });
        if result.is_err() {
            // Made again at the next pull.
            self.messages = None;
        }
        result
    }

    /// Whether messages were lost on the way before `message` (its
    /// consumer sequence jumps).
    fn lost_before(&mut self, message: &async_nats::jetstream::Message) -> bool {
        let Ok(info) = message.info() else {
            return false;
        };
        let expected = self.delivered.map(|d| d + 1);
        if expected.is_some_and(|e| info.consumer_sequence != e) {
            tracing::warn!(
                after = self.taken,
                "messages from NATS were lost on the way (a dropped connection); reading again from there"
            );
            return true;
        }
        self.delivered = Some(info.consumer_sequence);
        false
    }

    /// Whether the consumer, which delivered nothing for [`STALL_AFTER`],
    /// holds messages for the source all the same (or is gone): then it is
    /// to be made again, after the last message taken.
    fn stalled(&mut self) -> bool {
        let consumer = &mut self.consumer;
        let info = self.handle.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), consumer.info())
                .await
                .map_err(|_| "no answer in 5 s".to_owned())?
                .map(|i| (i.num_pending, i.num_ack_pending))
                .map_err(|e| e.to_string())
        });
        if info.is_ok() {
            // The server answered: the source is connected, whatever it said.
            self.health.reached();
        }
        match info {
            Ok((0, 0)) => false,
            Ok((pending, unacknowledged)) => {
                self.health.stalls.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    pending,
                    unacknowledged,
                    at = self.taken,
                    "the consumer delivered nothing for {STALL_AFTER:?} while it holds messages; it is made again"
                );
                true
            }
            Err(e) => {
                self.health
                    .failed(format!("asking the consumer for its state: {e}"));
                true
            }
        }
    }

    /// Makes the consumer again, from the sequence after the last taken.
    fn place_again(&mut self) -> Result<(), String> {
        self.messages = None;
        self.delivered = None;
        let mut config = self.config.clone();
        config.deliver_policy = DeliverPolicy::ByStartSequence {
            start_sequence: self.taken + 1,
        };
        let name = config.durable_name.clone().unwrap_or_default();
        let stream = &self.stream;
        self.consumer = self.handle.block_on(async {
            let _ = stream.delete_consumer(&name).await;
            stream
                .create_consumer(config)
                .await
                .map_err(|e| e.to_string())
        })?;
        Ok(())
    }

    /// Turns one message into the pipeline's events; false when the
    /// pipeline is gone.
    fn take(
        &mut self,
        message: &async_nats::jetstream::Message,
        normalizer: &mut Normalizer,
        tx: &Sender<Chunk>,
        stats: &SourceStats,
    ) -> Result<bool, SourceError> {
        let Ok(info) = message.info() else {
            self.refuse(message, "no JetStream metadata");
            return Ok(true);
        };
        let sequence = info.stream_sequence;
        self.health.pending.store(info.pending, Ordering::Relaxed);
        self.health.consumed.fetch_add(1, Ordering::Relaxed);
        if sequence <= self.taken {
            self.health.redelivered.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        self.taken = sequence;
        let record = match decode(message) {
            Ok(r) => r,
            Err(why) => {
                self.refuse(message, &why);
                stats.skipped.fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
        };
        self.ids
            .resolve(
                normalizer.registry_mut(),
                record.exchange(),
                record.symbol(),
            )
            .map_err(SourceError::Other)?;
        let mut events = Vec::with_capacity(2);
        if let Err(e) = normalizer.push(&record, &mut events) {
            self.refuse(message, &e.to_string());
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        if events.is_empty() {
            return Ok(true);
        }
        let at = position_of(sequence);
        let first = at + 1 - events.len() as u64;
        let market = events.iter().filter(|e| e.is_market()).count() as u64;
        stats.emitted(market, events.iter().rev().find_map(Event::ts));
        Ok(tx.send(Chunk { first, events }).is_ok())
    }

    fn refuse(&self, message: &async_nats::jetstream::Message, why: &str) {
        let n = self.health.refused.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= LOGGED_REFUSALS {
            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            tracing::warn!(
                subject = %message.subject,
                sequence,
                "a message is not a replay record and is skipped: {why}"
            );
        } else if n == LOGGED_REFUSALS + 1 {
            tracing::warn!("more messages refused; only counting them from now on");
        }
    }
}

/// A replay record from a message: MessagePack when its `Content-Type`
/// says so, else JSON.
fn decode(message: &async_nats::jetstream::Message) -> Result<Record, String> {
    let msgpack = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Content-Type"))
        .is_some_and(|v| v.as_str() == "application/msgpack");
    if msgpack {
        rmp_serde::from_slice(&message.payload).map_err(|e| format!("MessagePack: {e}"))
    } else {
        serde_json::from_slice(&message.payload).map_err(|e| format!("JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_names_the_first_sequence_still_needed() {
        // The event of sequence 5 is at 10; a declaration for it at 9.
        assert_eq!(position_of(5), 10);
        assert_eq!(first_sequence(10), 6);
        // A checkpoint at a declaration: its event is still needed.
        assert_eq!(first_sequence(9), 5);
        assert_eq!(first_sequence(0), 1);
    }
}
