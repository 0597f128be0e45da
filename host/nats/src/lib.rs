//! NATS JetStream for Prism (the only crate naming async-nats).
//!
//! - The **collector** ([`Nats::collector`]): a sink that publishes the
//!   source's normalized events, as replay records, to
//!   `{prefix}.{exchange}.{symbol}.{type}`, each with the message id
//!   `{collector}:{position}`, so the stream drops what a restarted
//!   collector publishes again.
//! - The **output publisher** ([`Nats::outputs`]): a sink that publishes every
//!   plugin output to `{output_prefix}.{plugin}.{kind}` with the output's
//!   identity `{plugin}:{position}:{index}` as message id.
//! - The **source** ([`NatsSource`]): a durable pull consumer whose messages
//!   become the pipeline's events; an event's position is derived from its
//!   stream sequence (`2 × sequence`; a declaration the source adds before
//!   it, `2 × sequence − 1`), so outputs have the same identities in every
//!   run and on every host, and a restart resumes from the plugins'
//!   checkpoints. Instrument ids come from a stream of their own
//!   (`{stream}_IDS`), so every consumer of the stream, in every run, names
//!   an instrument by the same id.
//!
//! Publishing runs on the sink's own thread; an unreachable server makes it
//! retry, in order, and the sink stage's bounded queue holds the pipeline
//! back once full: nothing is dropped.

pub mod cluster;
mod collector;
mod health;
mod instruments;
mod outputs;
mod publisher;
mod source;
mod spooled;
mod subject;

pub use collector::Collector;
pub use health::NatsHealth;
pub use outputs::{CheckpointHook, Delivered, Handovers, OutputPublisher};
pub use source::{NatsSource, Rewind, SourceSettings, first_sequence, position_of};
pub use subject::{market_subject, output_subject, token};

use async_nats::jetstream;
use std::sync::Arc;
use std::time::Duration;

/// How events are encoded on the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A replay record as JSON (`Content-Type: application/json`).
    Json,
    /// A replay record as MessagePack (`Content-Type: application/msgpack`).
    Msgpack,
}

/// Everything `[nats]` says, validated.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    pub url: String,
    pub connect_timeout: Duration,
    /// The stream of market events and its subject prefix.
    pub stream: String,
    pub subject_prefix: String,
    pub max_age: Duration,
    pub replicas: usize,
    pub duplicate_window: Duration,
    /// The stream of outputs and its subject prefix.
    pub output_stream: String,
    pub output_prefix: String,
    /// Names the collector in message ids.
    pub collector: String,
    /// The input event kinds the collector publishes.
    pub collect: Vec<prism_model::EventKind>,
    pub encoding: Encoding,
    /// Publishes awaiting acknowledgement at once.
    pub in_flight: usize,
    /// Where outputs wait on disk for the stream, and how many bytes at
    /// most; `None`: they wait in the sink's queue (a cluster host, whose
    /// take-overs read what the stream has).
    pub spool: Option<(std::path::PathBuf, u64)>,
}

/// Why NATS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The server did not answer.
    #[error("cannot reach NATS at {url}: {message}")]
    Connect { url: String, message: String },
    /// A stream exists with settings that do not fit.
    #[error("JetStream stream `{stream}`: {message}")]
    Stream { stream: String, message: String },
    /// A request to JetStream failed.
    #[error("JetStream: {0}")]
    JetStream(String),
}

/// Opens (creating) a stream that keeps the last message of each subject
/// (`max_age`: and each only that long): what ids, leases and states are
/// kept in.
pub(crate) async fn keyed_stream(
    js: &jetstream::Context,
    name: &str,
    description: &str,
    subjects: Vec<String>,
    replicas: usize,
    max_age: Option<Duration>,
) -> Result<jetstream::stream::Stream, NatsError> {
    js.get_or_create_stream(jetstream::stream::Config {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        subjects,
        max_messages_per_subject: 1,
        max_age: max_age.unwrap_or_default(),
        num_replicas: replicas,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| NatsError::Stream {
        stream: name.to_owned(),
        message: e.to_string(),
    })
}

fn js_error(e: impl std::fmt::Display) -> NatsError {
    NatsError::JetStream(e.to_string())
}

/// A connection to the server, with the streams checked.
pub struct Nats {
    pub(crate) settings: NatsSettings,
    pub(crate) js: jetstream::Context,
    pub(crate) handle: tokio::runtime::Handle,
    health: Arc<NatsHealth>,
    /// The host is stopping: publishers keep trying for a while, then end.
    pub(crate) stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Nats {
    /// Connects and creates the streams that are missing: the market
    /// stream when `market` (a collector or a source uses it) and the
    /// output stream when `outputs`. Call inside `handle`'s runtime.
    ///
    /// # Errors
    /// [`NatsError::Connect`] when the server does not answer in time;
    /// [`NatsError::Stream`] when a stream exists but does not take the
    /// subjects it must.
    pub async fn connect(
        settings: NatsSettings,
        market: bool,
        outputs: bool,
    ) -> Result<Self, NatsError> {
        let failed = |message: String| NatsError::Connect {
            url: settings.url.clone(),
            message,
        };
        let health = Arc::new(NatsHealth::default());
        let watched = health.clone();
        let client = tokio::time::timeout(
            settings.connect_timeout,
            async_nats::ConnectOptions::new()
                // A lost connection shows at once, not only when a request
                // times out (a pull waits quietly while disconnected).
                .event_callback(move |event| {
                    let health = watched.clone();
                    async move {
                        match event {
                            async_nats::Event::Connected => health.reached(),
                            async_nats::Event::Disconnected => {
                                health.failed("disconnected from the server".into());
                            }
                            async_nats::Event::ServerError(e) => {
                                tracing::warn!("NATS server error: {e}");
                            }
                            _ => {}
                        }
                    }
                })
                .connection_timeout(settings.connect_timeout)
                .request_timeout(Some(settings.connect_timeout))
                // After the first connection, reconnect for good.
                .max_reconnects(None)
                .connect(settings.url.as_str()),
        )
        .await
        .map_err(|_| failed(format!("no answer in {:?}", settings.connect_timeout)))?
        .map_err(|e| failed(e.to_string()))?;
        let js = jetstream::new(client);
        let nats = Self {
            handle: tokio::runtime::Handle::current(),
            health,
            js,
            settings,
            stopping: Arc::default(),
        };
        if market {
            let s = &nats.settings;
            nats.ensure_stream(&s.stream, &s.subject_prefix).await?;
        }
        if outputs {
            let s = &nats.settings;
            nats.ensure_stream(&s.output_stream, &s.output_prefix)
                .await?;
        }
        Ok(nats)
    }

    async fn ensure_stream(&self, name: &str, prefix: &str) -> Result<(), NatsError> {
        let subject = format!("{prefix}.>");
        let config = jetstream::stream::Config {
            name: name.to_owned(),
            subjects: vec![subject.clone()],
            max_age: self.settings.max_age,
            num_replicas: self.settings.replicas,
            duplicate_window: self.settings.duplicate_window,
            storage: jetstream::stream::StorageType::File,
            retention: jetstream::stream::RetentionPolicy::Limits,
            ..Default::default()
        };
        let stream = self
            .js
            .get_or_create_stream(config)
            .await
            .map_err(|e| NatsError::Stream {
                stream: name.to_owned(),
                message: e.to_string(),
            })?;
        let info = stream.cached_info();
        if !info.config.subjects.contains(&subject) {
            return Err(NatsError::Stream {
                stream: name.to_owned(),
                message: format!(
                    "exists with subjects {:?}, not `{subject}`; use another stream name or prefix",
                    info.config.subjects
                ),
            });
        }
        Ok(())
    }

    /// The host is stopping: publishing that cannot reach the server gives
    /// up 10 s from now, counting what it lost (`lost`), rather than hold
    /// the shutdown for good.
    pub fn shutting_down(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counters of publishing and consuming.
    #[must_use]
    pub fn health(&self) -> Arc<NatsHealth> {
        self.health.clone()
    }

    /// The collector: a sink that publishes archived input events.
    #[must_use]
    pub fn collector(&self) -> Collector {
        Collector::new(self)
    }

    /// The output publisher: a sink that publishes every output (through
    /// the spool, when one is set).
    ///
    /// # Errors
    /// When the spool cannot be opened.
    pub fn outputs(
        &self,
        on_checkpoint: Option<CheckpointHook>,
    ) -> Result<OutputPublisher, NatsError> {
        OutputPublisher::new(self, on_checkpoint)
    }

    /// How far `plugin`'s outputs are in the output stream (from the last
    /// message of each of its subjects); `None` when it has none.
    ///
    /// # Errors
    /// When the stream cannot be read.
    pub async fn delivered_until(&self, plugin: &str) -> Result<Option<Delivered>, NatsError> {
        outputs::delivered_until(&self.js, &self.settings, plugin).await
    }
}
