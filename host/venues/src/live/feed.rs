//! The connection loop of one venue's feed.

use super::protocol::{self, Resync};
use super::{FeedMetrics, FeedSettings};
use crate::capture::{CapturedFrame, combined_stream};
use crate::{FeedNormalizer, Outcome};
use crossbeam_channel::Sender;
use futures_util::{SinkExt, StreamExt};
use prism_model::wall_ms;
use prism_sources::Record;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_CHECK: Duration = Duration::from_millis(200);

/// Where a feed's results go.
pub struct FeedOutputs {
    /// Normalized records, one batch per message (blocking when full:
    /// reading the socket waits, nothing is dropped).
    pub records: Sender<Vec<Record>>,
    /// Every raw frame, for recording.
    pub frames: Option<Sender<CapturedFrame>>,
}

/// Starts a venue's feed on its own thread; it runs until `stop` is set.
///
/// # Errors
/// When the OS refuses a thread.
pub fn spawn_feed(
    settings: FeedSettings,
    outputs: FeedOutputs,
    metrics: Arc<FeedMetrics>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("feed-{}", settings.venue))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(venue = %settings.venue, "cannot start the feed's runtime: {e}");
                    return;
                }
            };
            let mut feed = Feed::new(settings, outputs, metrics, stop);
            runtime.block_on(feed.run());
        })
}

struct Feed {
    s: FeedSettings,
    out: FeedOutputs,
    metrics: Arc<FeedMetrics>,
    stop: Arc<AtomicBool>,
    normalizer: FeedNormalizer,
    http: reqwest::Client,
    wanted: HashSet<String>,
    scratch: Vec<Record>,
    /// The current connection delivered at least one message.
    delivered: bool,
}

/// Why a connection ended.
enum Ended {
    Stopped,
    Lost(String),
}

impl Feed {
    fn new(
        s: FeedSettings,
        out: FeedOutputs,
        metrics: Arc<FeedMetrics>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        // TLS (wss, https) uses ring; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            normalizer: FeedNormalizer::new(s.venue, s.contracts.clone()),
            wanted: s.symbols.iter().map(|x| x.to_ascii_uppercase()).collect(),
            s,
            out,
            metrics,
            stop,
            http,
            scratch: Vec::new(),
            delivered: false,
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    async fn run(&mut self) {
        let mut failures: u32 = 0;
        while !self.stopped() {
            self.delivered = false;
            let ended = self.connection().await;
            // A connection that delivered messages resets the backoff.
            if self.delivered {
                failures = 0;
            }
            match ended {
                Ended::Stopped => break,
                Ended::Lost(reason) => {
                    self.metrics.connected.store(false, Ordering::Relaxed);
                    if self.stopped() {
                        break;
                    }
                    self.metrics.reconnects.fetch_add(1, Ordering::Relaxed);
                    let wait = self.backoff(failures);
                    failures = failures.saturating_add(1);
                    tracing::warn!(venue = %self.s.venue, "feed lost ({reason}); reconnecting in {wait:?}");
                    let until = Instant::now() + wait;
                    while Instant::now() < until && !self.stopped() {
                        tokio::time::sleep(STOP_CHECK.min(until - Instant::now())).await;
                    }
                }
            }
        }
        self.metrics.connected.store(false, Ordering::Relaxed);
    }

    /// `backoff × 2^failures`, capped, times a random factor in [0.5, 1).
    fn backoff(&self, failures: u32) -> Duration {
        let base = self.s.backoff.saturating_mul(1u32 << failures.min(16));
        let capped = base.min(self.s.max_backoff);
        let jitter = 0.5 + rand::random::<f64>() * 0.5;
        capped.mul_f64(jitter)
    }

    async fn connection(&mut self) -> Ended {
        let (mut ws, _) = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async(&self.s.url),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Ended::Lost(format!("cannot connect to {}: {e}", self.s.url)),
            Err(_) => return Ended::Lost(format!("connecting to {} timed out", self.s.url)),
        };
        self.metrics.connects.fetch_add(1, Ordering::Relaxed);
        self.metrics.connected.store(true, Ordering::Relaxed);
        tracing::info!(venue = %self.s.venue, url = %self.s.url, "feed connected");
        for m in protocol::subscriptions(&self.s) {
            if let Err(e) = ws.send(Message::Text(m.into())).await {
                return Ended::Lost(format!("cannot subscribe: {e}"));
            }
        }
        // Frames arriving meanwhile wait in the socket: the snapshot is
        // applied first, the older diffs after it are dropped as stale.
        for symbol in protocol::snapshots_after_connect(&self.s) {
            if let Err(e) = self.resync(&mut ws, &symbol).await {
                return Ended::Lost(e);
            }
        }
        let polls = protocol::polls(&self.s);
        let mut heartbeat = tokio::time::interval(self.s.heartbeat);
        heartbeat.tick().await;
        let mut poll = tokio::time::interval(self.s.open_interest_poll);
        let mut check = tokio::time::interval(STOP_CHECK);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                incoming = ws.next() => {
                    let text = match incoming {
                        None => return Ended::Lost("the venue closed the connection".into()),
                        Some(Err(e)) => return Ended::Lost(e.to_string()),
                        Some(Ok(Message::Text(t))) => t.to_string(),
                        Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                        Some(Ok(Message::Close(_))) => return Ended::Lost("the venue closed the connection".into()),
                        Some(Ok(_)) => {
                            // Pings are answered by the WebSocket layer; flush the pong.
                            last_heard = Instant::now();
                            let _ = ws.flush().await;
                            continue;
                        }
                    };
                    last_heard = Instant::now();
                    self.delivered = true;
                    if let Err(e) = self.handle(&mut ws, text, None).await {
                        return Ended::Lost(e);
                    }
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > self.s.idle_timeout {
                        return Ended::Lost(format!("nothing received for {:?}", self.s.idle_timeout));
                    }
                    if let Some(h) = protocol::heartbeat(self.s.venue)
                        && let Err(e) = ws.send(Message::Text(h.into())).await
                    {
                        return Ended::Lost(format!("cannot send a heartbeat: {e}"));
                    }
                }
                _ = poll.tick(), if !polls.is_empty() => {
                    for (url, wrap) in &polls {
                        if let Some(text) = self.fetch_stream(url, wrap).await
                            && let Err(e) = self.handle(&mut ws, text, Some(url)).await
                        {
                            return Ended::Lost(e);
                        }
                    }
                }
                _ = check.tick() => {
                    if self.stopped() {
                        let _ = ws.close(None).await;
                        return Ended::Stopped;
                    }
                }
            }
        }
    }

    /// Fetches a REST answer and wraps it as the combined-stream message
    /// `stream` so the normalizer reads it like any socket message.
    async fn fetch_stream(&self, url: &str, stream: &str) -> Option<String> {
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        match answer {
            Ok(r) => r
                .text()
                .await
                .ok()
                .map(|body| combined_stream(stream, &body)),
            Err(e) => {
                tracing::warn!(venue = %self.s.venue, "GET {url}: {e}");
                None
            }
        }
    }

    /// Brings a book back in sync.
    async fn resync(&mut self, ws: &mut Socket, symbol: &str) -> Result<(), String> {
        self.metrics.resyncs.fetch_add(1, Ordering::Relaxed);
        match protocol::resync(&self.s, symbol) {
            Resync::Rest { url, wrap } => {
                if let Some(text) = self.fetch_stream(&url, &wrap).await {
                    Box::pin(self.handle(ws, text, Some(&url))).await?;
                }
            }
            Resync::Resubscribe(messages) => {
                for m in messages {
                    ws.send(Message::Text(m.into()))
                        .await
                        .map_err(|e| format!("cannot resubscribe: {e}"))?;
                }
            }
            Resync::Nothing => {}
        }
        Ok(())
    }

    /// One message: recorded, answered if it asks, normalized, filtered to
    /// the configured symbols, handed on; books that broke are resynced.
    /// `url` names a REST source; `None` is the socket itself.
    async fn handle(
        &mut self,
        ws: &mut Socket,
        text: String,
        url: Option<&str>,
    ) -> Result<(), String> {
        let received = wall_ms();
        self.metrics
            .last_message_ms
            .store(received, Ordering::Relaxed);
        self.metrics.messages.fetch_add(1, Ordering::Relaxed);
        if let Some(frames) = &self.out.frames {
            let _ = frames.send(CapturedFrame {
                received_ms: received,
                venue: self.s.venue.name().to_owned(),
                url: url.unwrap_or(&self.s.url).to_owned(),
                message: text.clone(),
            });
        }
        if let Some(reply) = protocol::answer(self.s.venue, &text) {
            ws.send(Message::Text(reply.into()))
                .await
                .map_err(|e| format!("cannot answer: {e}"))?;
        }
        self.scratch.clear();
        match self
            .normalizer
            .push(&text, Some(received), &mut self.scratch)
        {
            Outcome::Rejected(reason) => {
                self.metrics.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(venue = %self.s.venue, "message refused: {reason}");
            }
            Outcome::Unknown(_) => {
                self.metrics.unknown.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        let stats = self.normalizer.stats();
        self.metrics
            .book_gaps
            .store(stats.book_gaps, Ordering::Relaxed);
        self.metrics
            .checksum_mismatches
            .store(stats.checksum_mismatches, Ordering::Relaxed);
        let mut kept: Vec<Record> = Vec::with_capacity(self.scratch.len());
        for r in self.scratch.drain(..) {
            if !self.wanted.contains(&r.symbol().to_ascii_uppercase()) {
                continue;
            }
            if let (Some(ts), Some(rx)) = r.times() {
                let latency = rx - ts;
                self.metrics
                    .latency_sum_ms
                    .fetch_add(latency, Ordering::Relaxed);
                self.metrics.latency_count.fetch_add(1, Ordering::Relaxed);
                self.metrics
                    .latency_max_ms
                    .fetch_max(latency, Ordering::Relaxed);
            }
            kept.push(r);
        }
        if !kept.is_empty() {
            self.metrics
                .records
                .fetch_add(kept.len() as u64, Ordering::Relaxed);
            if self.out.records.send(kept).is_err() {
                return Err("the pipeline is gone".into());
            }
        }
        for symbol in self.normalizer.take_resync() {
            tracing::info!(venue = %self.s.venue, %symbol, "book out of sync; resyncing");
            Box::pin(self.resync(ws, &symbol)).await?;
        }
        Ok(())
    }
}
