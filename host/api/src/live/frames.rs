//! The live stream as WebSocket frames, made once for every client.
//!
//! The live sink takes each batch of outputs on its own thread, behind its
//! own queue in the sink stage (a full queue drops the batch and counts it:
//! live viewers never slow the pipeline). It turns each batch into frames —
//! the message text of every channel an output belongs to — and publishes
//! them, in chunks of bounded size, on a broadcast channel. A client then
//! only picks the frames it subscribed to and sends their shared bytes: the
//! cost of an output is paid once, not once per client, and never on the
//! async reactor.

use super::Channel;
use crate::names::{
    ACCOUNT_RATIO, LIQUIDATION_LOG, LIQUIDATION_MAP_PREFIX, OPPORTUNITIES_DOC, TAKER_RATIO,
    WHALE_LOGS,
};
use crate::state::AnalyticsPlugins;
use crate::views::{
    CandleView, DEFAULT_RANGE_PERCENT, FillView, LiquidationHeatmap, LiquidationMapView,
    LiquidationView, Opportunities, OrderView, PnlView, PositionView, TickerView,
};
use axum::extract::ws::Utf8Bytes;
use prism_model::{Output, OutputBatch, wall_ms};
use prism_sinks::{Sink, SinkError};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Bytes of frames per broadcast chunk, about.
const CHUNK_BYTES: usize = 64 << 10;

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
}

impl LiveFrames {
    /// A stream no output reaches yet; `buffer` chunks are kept for
    /// clients that lag.
    #[must_use]
    pub fn new(buffer: usize) -> Self {
        Self {
            frames: broadcast::channel(buffer.max(1)).0,
        }
    }

    /// Forwards every change of a notification to the `alerts` channel,
    /// until the notifier is gone.
    pub fn forward_alerts(&self, notifier: &prism_notifier::Notifier) {
        let mut updates = notifier.subscribe();
        let out = self.frames.clone();
        tokio::spawn(async move {
            loop {
                let record = match updates.recv().await {
                    Ok(r) => r,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if out.receiver_count() == 0 {
                    continue;
                }
                let item = crate::alerts::AlertItem::from(&record);
                let frame = Frame {
                    channel: Channel::Alerts,
                    symbol: None,
                    text: message_text(&Channel::Alerts.name(), &json(item)),
                };
                let _ = out.send(Arc::new(vec![frame]));
            }
        });
    }

    /// The sink that feeds this stream (give it [`prism_sinks::Overflow::Drop`]).
    #[must_use]
    pub fn sink(&self, analytics: AnalyticsPlugins) -> LiveSink {
        LiveSink {
            analytics,
            out: self.frames.clone(),
            chunk: Vec::new(),
            bytes: 0,
        }
    }
}

/// Turns output batches into frames for the WebSocket clients.
pub struct LiveSink {
    analytics: AnalyticsPlugins,
    out: broadcast::Sender<Frames>,
    chunk: Vec<Frame>,
    bytes: usize,
}

impl LiveSink {
    fn send_chunk(&mut self) {
        if !self.chunk.is_empty() {
            let _ = self.out.send(Arc::new(std::mem::take(&mut self.chunk)));
        }
        self.bytes = 0;
    }
}

impl Sink for LiveSink {
    fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError> {
        if self.out.receiver_count() == 0 {
            return Ok(());
        }
        let analytics = self.analytics.clone();
        frames_of(batch, &analytics, &mut |f: Frame| {
            self.bytes += f.text.len();
            self.chunk.push(f);
            if self.bytes >= CHUNK_BYTES {
                self.send_chunk();
            }
        });
        Ok(())
    }

    /// Paper execution on the `orders`, `fills`, `positions` and `pnl`
    /// channels (the REST endpoints' items).
    fn execution(&mut self, report: &prism_model::ExecutionReport) -> Result<(), SinkError> {
        if self.out.receiver_count() == 0 {
            return Ok(());
        }
        let mut frames = Vec::new();
        for o in &report.orders {
            frames.push((
                Channel::Orders,
                Some(upper(&o.symbol)),
                json(OrderView::from(o)),
            ));
        }
        for f in &report.fills {
            frames.push((
                Channel::Fills,
                Some(upper(&f.symbol)),
                json(FillView::from(f)),
            ));
        }
        for p in &report.positions {
            let view = PositionView::from(p);
            frames.push((Channel::Positions, Some(upper(&p.symbol)), json(view)));
        }
        if let Some(p) = &report.pnl {
            frames.push((Channel::Pnl, None, json(PnlView::from(p))));
        }
        for (channel, symbol, payload) in frames {
            let text = message_text(&channel.name(), &payload);
            self.bytes += text.len();
            self.chunk.push(Frame {
                channel,
                symbol,
                text,
            });
        }
        if self.bytes >= CHUNK_BYTES {
            self.send_chunk();
        }
        Ok(())
    }

    /// Candles and tickers on the `candles` and `tickers` channels (the
    /// REST endpoints' items).
    fn archive(&mut self, events: &prism_model::Archived) -> Result<(), SinkError> {
        if self.out.receiver_count() == 0 {
            return Ok(());
        }
        for (_, i, event) in &events.events {
            let (channel, payload) = match event {
                prism_model::Event::Candle(c) => (
                    Channel::Candles,
                    json(CandleView::new(&i.exchange, &i.symbol, c)),
                ),
                prism_model::Event::Ticker(t) => (
                    Channel::Tickers,
                    json(TickerView::new(&i.exchange, &i.symbol, t)),
                ),
                _ => continue,
            };
            let text = message_text(&channel.name(), &payload);
            self.bytes += text.len();
            self.chunk.push(Frame {
                channel,
                symbol: Some(upper(&i.symbol)),
                text,
            });
            if self.bytes >= CHUNK_BYTES {
                self.send_chunk();
            }
        }
        Ok(())
    }

    /// Sends what the batches so far made: latency over chunk size.
    fn idle(&mut self) -> Result<(), SinkError> {
        self.send_chunk();
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.send_chunk();
        Ok(())
    }
}

/// The text of one message: `{"type", "payload", "timestamp"}`.
pub(crate) fn message_text(kind: &str, payload: &impl serde::Serialize) -> Utf8Bytes {
    #[derive(serde::Serialize)]
    struct Message<'a, P> {
        #[serde(rename = "type")]
        kind: &'a str,
        payload: &'a P,
        timestamp: i64,
    }
    let message = Message {
        kind,
        payload,
        timestamp: wall_ms(),
    };
    Utf8Bytes::from(serde_json::to_string(&message).unwrap_or_default())
}

/// Every frame a batch makes: each output on its plugin's channel, and on
/// the analytics channel it feeds, if any.
pub(crate) fn frames_of(
    batch: &OutputBatch,
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
            text: message_text(&own.name(), &o.line(plugin)),
        });
        if let Some(frame) = price_update(o, plugin, analytics) {
            emit(frame);
        }
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

/// A new liquidation map as a heatmap on `price_updates`, for the clients
/// of its base asset (the `symbols` a client names there are tokens).
fn price_update(o: &Output, plugin: &str, analytics: &AnalyticsPlugins) -> Option<Frame> {
    let Output::Document(d) = o else { return None };
    if plugin != analytics.liquidation_map || !d.key.starts_with(LIQUIDATION_MAP_PREFIX) {
        return None;
    }
    let base = d.body["base"].as_str().filter(|b| !b.is_empty())?;
    let heatmap = LiquidationHeatmap::merge(base, &[(d.ts, &d.body)], DEFAULT_RANGE_PERCENT);
    let channel = Channel::PriceUpdates;
    Some(Frame {
        text: message_text(&channel.name(), &json(heatmap)),
        channel,
        symbol: Some(upper(base)),
    })
}

fn upper(s: &str) -> Arc<str> {
    Arc::from(s.to_ascii_uppercase())
}

fn json(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The analytics channel an output feeds, with its payload (the same body
/// as the matching REST endpoint's items).
fn analytics_of(
    o: &Output,
    plugin: &str,
    analytics: &AnalyticsPlugins,
) -> Option<(Channel, Value)> {
    Some(match o {
        Output::Signal(_) => (Channel::Signals, o.to_line(plugin)),
        Output::Log(l) if plugin == analytics.liquidations && &*l.name == LIQUIDATION_LOG => {
            (Channel::Liquidations, json(LiquidationView::from(l)))
        }
        Output::Series(p)
            if plugin == analytics.long_short_ratio
                && (&*p.name == TAKER_RATIO || &*p.name == ACCOUNT_RATIO) =>
        {
            (Channel::LongShortRatio, o.to_line(plugin))
        }
        Output::Document(d)
            if plugin == analytics.liquidation_map && d.key.starts_with(LIQUIDATION_MAP_PREFIX) =>
        {
            let map = LiquidationMapView {
                key: d.key.to_string(),
                ts: d.ts,
                map: d.body.value().clone(),
            };
            (Channel::LiquidationMap, json(map))
        }
        Output::Log(l) if plugin == analytics.whales && WHALE_LOGS.contains(&&*l.name) => {
            let mut line = o.to_line(plugin);
            // The unit of the body's sizes, for clients that show amounts.
            if let (Some(i), Some(fields)) = (&l.instrument, line.as_object_mut()) {
                fields.insert("base".into(), Value::from(&*i.base));
            }
            (Channel::WhaleActivities, line)
        }
        Output::Document(d)
            if plugin == analytics.opportunities && &*d.key == OPPORTUNITIES_DOC =>
        {
            let items = d.body["items"].as_array().cloned().unwrap_or_default();
            let body = Opportunities {
                ts: Some(d.ts),
                items,
            };
            (Channel::Opportunities, json(body))
        }
        _ => return None,
    })
}
