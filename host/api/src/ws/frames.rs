//! The live stream as WebSocket frames, made once for every client.
//!
//! The dispatcher hands each batch of outputs to a bounded queue (a full
//! queue drops the batch and counts it: live viewers never slow the
//! pipeline). One thread turns each batch into frames — the message text of
//! every channel an output belongs to — and publishes them, in chunks of
//! bounded size, on a broadcast channel. A client then only picks the frames
//! it subscribed to and sends their shared bytes: the cost of an output is
//! paid once, not once per client, and never on the async reactor.

use super::subscription::Channel;
use crate::analytics::{AnalyticsPlugins, liquidation_item};
use axum::extract::ws::Utf8Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use prism_model::Output;
use prism_runtime::metrics::wall_ms;
use prism_runtime::worker::PluginOutputs;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// Bytes of frames per broadcast chunk, about.
const CHUNK_BYTES: usize = 64 << 10;
/// Output batches waiting for the frame thread.
const QUEUE: usize = 256;

/// One message for the clients of a channel.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) channel: Channel,
    /// The symbol the output is about, upper case.
    pub(crate) symbol: Option<Arc<str>>,
    pub(crate) text: Utf8Bytes,
}

/// Frames of one chunk of the stream.
pub(crate) type Frames = Arc<Vec<Frame>>;

/// The live stream as the WebSocket clients read it.
#[derive(Debug, Clone)]
pub struct LiveFrames {
    pub(crate) frames: broadcast::Sender<Frames>,
    /// Output batches dropped because the frame thread was behind.
    pub(crate) dropped: Arc<AtomicU64>,
}

impl LiveFrames {
    /// A stream no output reaches (for an API without a pipeline).
    #[must_use]
    pub fn idle(buffer: usize) -> Self {
        Self {
            frames: broadcast::channel(buffer.max(1)).0,
            dropped: Arc::default(),
        }
    }
}

/// What the dispatcher sends live outputs to: never blocks.
#[derive(Clone)]
pub struct LiveSender {
    tx: Sender<Arc<PluginOutputs>>,
    dropped: Arc<AtomicU64>,
    clients: broadcast::Sender<Frames>,
}

impl LiveSender {
    /// Hands a batch on, unless no client listens; drops and counts it when
    /// the frame thread is behind.
    pub fn send(&self, batch: &PluginOutputs) {
        if self.clients.receiver_count() == 0 {
            return;
        }
        match self.tx.try_send(Arc::new(batch.clone())) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Starts the frame thread; `buffer` chunks are kept for clients that lag.
///
/// # Errors
/// When the OS refuses a thread.
pub fn start_live(
    analytics: AnalyticsPlugins,
    buffer: usize,
) -> std::io::Result<(LiveSender, LiveFrames)> {
    let live = LiveFrames::idle(buffer);
    let (tx, rx) = crossbeam_channel::bounded(QUEUE);
    let frames = live.frames.clone();
    std::thread::Builder::new()
        .name("prism-ws-frames".into())
        .spawn(move || run(&rx, &analytics, &frames))?;
    Ok((
        LiveSender {
            tx,
            dropped: live.dropped.clone(),
            clients: live.frames.clone(),
        },
        live,
    ))
}

fn run(
    rx: &Receiver<Arc<PluginOutputs>>,
    analytics: &AnalyticsPlugins,
    out: &broadcast::Sender<Frames>,
) {
    let mut chunk = Vec::new();
    let mut bytes = 0;
    while let Ok(batch) = rx.recv() {
        frames_of(&batch, analytics, &mut |f: Frame| {
            bytes += f.text.len();
            chunk.push(f);
            if bytes >= CHUNK_BYTES {
                let _ = out.send(Arc::new(std::mem::take(&mut chunk)));
                bytes = 0;
            }
        });
        // Send what a batch made at once: latency over chunk size.
        if rx.is_empty() && !chunk.is_empty() {
            let _ = out.send(Arc::new(std::mem::take(&mut chunk)));
            bytes = 0;
        }
    }
}

/// The text of one message: `{"type", "payload", "timestamp"}`.
pub(crate) fn message_text(kind: &str, payload: &Value) -> Utf8Bytes {
    Utf8Bytes::from(json!({"type": kind, "payload": payload, "timestamp": wall_ms()}).to_string())
}

/// Every frame a batch makes: each output on its plugin's channel, and on
/// the analytics channel it feeds, if any.
pub(crate) fn frames_of(
    batch: &PluginOutputs,
    analytics: &AnalyticsPlugins,
    emit: &mut dyn FnMut(Frame),
) {
    let plugin: &str = &batch.plugin;
    let own = Channel::Plugin(batch.plugin.clone());
    for o in &batch.outputs {
        let symbol: Option<Arc<str>> = match o {
            Output::Series(p) => p.instrument.as_deref().map(|i| upper(&i.symbol)),
            Output::Log(l) => l.instrument.as_deref().map(|i| upper(&i.symbol)),
            Output::Signal(s) => Some(upper(&s.instrument.symbol)),
            Output::Order(o) => Some(upper(&o.instrument.symbol)),
            Output::Document(d) => d.key.rsplit(':').next().map(upper),
            Output::Alert(_) => None,
        };
        emit(Frame {
            channel: own.clone(),
            symbol: symbol.clone(),
            text: message_text(&own.name(), &o.to_record(plugin)),
        });
        let Some((channel, payload)) = analytics_of(o, plugin, analytics) else {
            continue;
        };
        emit(Frame {
            text: message_text(&channel.name(), &payload),
            channel,
            symbol,
        });
    }
}

fn upper(s: &str) -> Arc<str> {
    Arc::from(s.to_ascii_uppercase())
}

/// The analytics channel an output feeds, with its payload.
fn analytics_of(
    o: &Output,
    plugin: &str,
    analytics: &AnalyticsPlugins,
) -> Option<(Channel, Value)> {
    Some(match o {
        Output::Signal(_) => (Channel::Signals, o.to_record(plugin)),
        Output::Log(l) if plugin == analytics.liquidations && &*l.name == "liquidation" => {
            (Channel::Liquidations, liquidation_item(l))
        }
        Output::Series(p)
            if plugin == analytics.long_short_ratio
                && matches!(
                    &*p.name,
                    "taker_long_short_ratio" | "account_long_short_ratio"
                ) =>
        {
            (Channel::LongShortRatio, o.to_record(plugin))
        }
        Output::Document(d)
            if plugin == analytics.liquidation_map && d.key.starts_with("liquidation-map:") =>
        {
            (
                Channel::LiquidationMap,
                json!({"key": d.key.as_ref(), "ts": d.ts, "map": d.body}),
            )
        }
        Output::Log(l)
            if plugin == analytics.whales
                && matches!(
                    &*l.name,
                    "whale_trade" | "whale_position" | "whale_activity"
                ) =>
        {
            (Channel::WhaleActivities, o.to_record(plugin))
        }
        Output::Document(d) if plugin == analytics.opportunities && &*d.key == "opportunities" => (
            Channel::Opportunities,
            json!({"ts": d.ts, "items": d.body["items"]}),
        ),
        _ => return None,
    })
}
