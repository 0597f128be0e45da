//! `/api/v1/ws`: live outputs pushed to subscribers.
//!
//! Every message is `{"type", "payload", "timestamp"}` (`timestamp` in wall
//! ms). A client sends `{"type":"subscribe","channels":[…],"symbols":[…]}`,
//! `unsubscribe` the same way, and `ping` (answered `pong`).
//!
//! Everything a client can cost is bounded: the number of clients, the
//! size of a message it sends, the channels and symbols it follows
//! ([`subscription`]), and the bytes waiting to be sent to it. A client that
//! falls behind misses the oldest frames and is told how many (`missed`); a
//! client that stops reading is dropped once a send has waited
//! `ws_send_timeout` or its buffer is full. The server sends `heartbeat`
//! every `ws_heartbeat_s` and closes a client silent for `ws_idle_timeout_s`.

pub(crate) mod subscription;

use crate::error::ApiError;
use crate::state::Shared;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Instant;
use subscription::{Limits, Subscriptions};
use tokio::sync::broadcast::error::RecvError;

/// This area's route.
pub(crate) fn router() -> utoipa_axum::router::OpenApiRouter<Shared> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(upgrade))
}

/// Live outputs over WebSocket: subscribe to channels (`liquidations`,
/// `long_short_ratio`, `liquidation_map`, `whale_activities`,
/// `opportunities`, `signals`, `alerts`, `orders`, `fills`, `positions`, `pnl`, `candles`, `tickers`, `plugin:{id}`), optionally by
/// symbol.
#[utoipa::path(get, path = "/api/v1/ws", tag = "live",
    responses((status = 101, description = "Switching to the WebSocket protocol"),
              (status = "default", body = crate::error::ErrorBody)))]
async fn upgrade(ws: WebSocketUpgrade, State(state): State<Shared>) -> Result<Response, ApiError> {
    let Ok(permit) = state.ws_clients.clone().try_acquire_owned() else {
        return Err(ApiError::busy(format!(
            "the server has {} WebSocket clients, its limit (api.ws_max_clients); retry later",
            state.ws.max_clients
        )));
    };
    let settings = state.ws;
    Ok(ws
        .max_message_size(settings.max_message_bytes)
        .max_frame_size(settings.max_message_bytes)
        .write_buffer_size(write_buffer(settings.send_buffer_bytes))
        .max_write_buffer_size(settings.send_buffer_bytes)
        .on_upgrade(move |socket| async move {
            client(socket, state).await;
            drop(permit);
        }))
}

/// Bytes of messages gathered before they are written to the socket.
///
/// A client's messages are queued one by one and flushed together (see
/// `client`); written eagerly instead, each message was its own `write`
/// call, and at 100,000 outputs a second those calls were the largest part
/// of the server's work. A flush writes whatever is gathered, so nothing
/// waits for the buffer to fill. It stays a small part of the client's
/// bound (`api.ws_send_buffer_bytes`), which must hold it and one message
/// more.
fn write_buffer(send_buffer_bytes: usize) -> usize {
    (send_buffer_bytes / 8).min(64 << 10)
}

fn message(kind: &str, payload: &serde_json::Value) -> Message {
    Message::Text(crate::live::message_text(kind, payload))
}

async fn client(socket: WebSocket, state: Shared) {
    let (mut sink, mut stream) = socket.split();
    let mut live = state.live.frames.subscribe();
    let mut subs = Subscriptions::default();
    let settings = state.ws;
    let limits = Limits {
        channels: settings.max_channels,
        symbols: settings.max_symbols,
    };
    let mut heartbeat = tokio::time::interval(settings.heartbeat);
    heartbeat.tick().await;
    let mut last_heard = Instant::now();
    let mut missed: u64 = 0;
    let known = |id: &str| state.control.view(id).is_some();
    loop {
        let outgoing: Vec<Message> = tokio::select! {
            incoming = stream.next() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(text))) => {
                    last_heard = Instant::now();
                    let (kind, payload) = subs.handle(&text, limits, &known);
                    vec![message(kind, &payload)]
                }
                Some(Ok(_)) => {
                    last_heard = Instant::now();
                    continue;
                }
            },
            frames = live.recv() => match frames {
                Ok(frames) => frames
                    .iter()
                    .filter(|f| subs.wants(&f.channel, f.symbol.as_deref()))
                    .map(|f| Message::Text(f.text.clone()))
                    .collect(),
                Err(RecvError::Lagged(n)) => {
                    missed += n;
                    vec![message("missed", &json!({"batches": n, "total": missed}))]
                }
                Err(RecvError::Closed) => break,
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > settings.idle_timeout {
                    let reason = format!(
                        "idle: no message or pong for {} s (api.ws_idle_timeout_s)",
                        settings.idle_timeout.as_secs()
                    );
                    let close = Message::Close(Some(CloseFrame {
                        code: close_code::POLICY,
                        reason: reason.into(),
                    }));
                    let _ = tokio::time::timeout(settings.send_timeout, sink.send(close)).await;
                    break;
                }
                vec![message("heartbeat", &json!({"missed": missed})), Message::Ping(Vec::new().into())]
            }
        };
        if outgoing.is_empty() {
            continue;
        }
        // A client that does not take what is sent to it within the send
        // timeout, or lets its buffer fill, is dropped.
        let sent = tokio::time::timeout(settings.send_timeout, async {
            for m in outgoing {
                sink.feed(m).await?;
            }
            sink.flush().await
        })
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
    }
}
