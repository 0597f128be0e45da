//! `/api/v1/ws`: live outputs pushed to subscribers.
//!
//! Every message is `{"type", "payload", "timestamp"}` (`timestamp` in wall
//! ms). A client sends `{"type":"subscribe","channels":[…],"symbols":[…]}`,
//! `unsubscribe` the same way, and `ping` (answered `pong`). Each client
//! reads the output stream through its own bounded buffer: a client that
//! falls behind misses the oldest batches and is told how many
//! (`missed`); it never slows the pipeline. The server sends `heartbeat`
//! every `ws_heartbeat_s` and drops a client silent for `ws_idle_timeout_s`.

use crate::analytics::{AnalyticsPlugins, liquidation_item};
use crate::state::AppState;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use prism_model::Output;
use prism_runtime::metrics::wall_ms;
use prism_runtime::worker::PluginOutputs;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;

/// What a client can subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Channel {
    Liquidations,
    LongShortRatio,
    LiquidationMap,
    WhaleActivities,
    Opportunities,
    Signals,
    Plugin(String),
}

impl Channel {
    fn parse(name: &str) -> Option<Channel> {
        Some(match name {
            "liquidations" => Channel::Liquidations,
            "long_short_ratio" => Channel::LongShortRatio,
            "liquidation_map" => Channel::LiquidationMap,
            "whale_activities" => Channel::WhaleActivities,
            "opportunities" => Channel::Opportunities,
            "signals" => Channel::Signals,
            other => {
                let id = other.strip_prefix("plugin:")?;
                prism_model::PluginId::new(id).ok()?;
                Channel::Plugin(id.to_owned())
            }
        })
    }

    fn name(&self) -> String {
        match self {
            Channel::Liquidations => "liquidations".into(),
            Channel::LongShortRatio => "long_short_ratio".into(),
            Channel::LiquidationMap => "liquidation_map".into(),
            Channel::WhaleActivities => "whale_activities".into(),
            Channel::Opportunities => "opportunities".into(),
            Channel::Signals => "signals".into(),
            Channel::Plugin(id) => format!("plugin:{id}"),
        }
    }
}

/// A client's subscriptions: channel → symbols (upper case; `None` = all).
type Subscriptions = BTreeMap<Channel, Option<BTreeSet<String>>>;

#[derive(Debug, Default, Deserialize)]
struct Request {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default)]
    payload: Option<Value>,
}

fn message(kind: &str, payload: Value) -> Message {
    Message::Text(
        json!({"type": kind, "payload": payload, "timestamp": wall_ms()})
            .to_string()
            .into(),
    )
}

/// `GET /api/v1/ws`.
pub(crate) async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.on_upgrade(move |socket| client(socket, state))
}

fn current(subs: &Subscriptions) -> Value {
    let list: Vec<Value> = subs
        .iter()
        .map(|(c, symbols)| json!({"channel": c.name(), "symbols": symbols}))
        .collect();
    json!({"subscriptions": list})
}

/// Answers one client message.
fn handle(text: &str, subs: &mut Subscriptions) -> Message {
    let request: Request = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return message("error", json!({"message": format!("not a request: {e}")})),
    };
    let (mut channels, mut symbols) = (request.channels, request.symbols);
    if let Some(payload) = request.payload {
        if let Some(c) = payload
            .get("channels")
            .and_then(|c| serde_json::from_value::<Vec<String>>(c.clone()).ok())
        {
            channels.extend(c);
        }
        if let Some(s) = payload
            .get("symbols")
            .and_then(|s| serde_json::from_value::<Vec<String>>(s.clone()).ok())
        {
            symbols.extend(s);
        }
    }
    match request.kind.as_str() {
        "ping" => message("pong", json!({})),
        "subscribe" | "unsubscribe" => {
            let mut parsed = Vec::new();
            for name in &channels {
                match Channel::parse(name) {
                    Some(c) => parsed.push(c),
                    None => {
                        return message(
                            "error",
                            json!({"message": format!("unknown channel `{name}`; use liquidations, long_short_ratio, liquidation_map, whale_activities, opportunities, signals or plugin:{{id}}")}),
                        );
                    }
                }
            }
            if parsed.is_empty() {
                return message("error", json!({"message": "name at least one channel"}));
            }
            let symbols: Option<BTreeSet<String>> = (!symbols.is_empty())
                .then(|| symbols.iter().map(|s| s.to_ascii_uppercase()).collect());
            for c in parsed {
                if request.kind == "subscribe" {
                    subs.insert(c, symbols.clone());
                } else {
                    subs.remove(&c);
                }
            }
            let kind = if request.kind == "subscribe" {
                "subscribed"
            } else {
                "unsubscribed"
            };
            message(kind, current(subs))
        }
        other => message(
            "error",
            json!({"message": format!("unknown message type `{other}`; use subscribe, unsubscribe or ping")}),
        ),
    }
}

fn wanted(subs: &Subscriptions, channel: &Channel, symbol: Option<&str>) -> bool {
    match subs.get(channel) {
        None => false,
        Some(None) => true,
        Some(Some(symbols)) => symbol.is_some_and(|s| symbols.contains(&s.to_ascii_uppercase())),
    }
}

/// The messages one batch of outputs makes for a client.
fn route(
    subs: &Subscriptions,
    analytics: &AnalyticsPlugins,
    batch: &PluginOutputs,
) -> Vec<Message> {
    let plugin: &str = &batch.plugin;
    let mut out = Vec::new();
    let own = Channel::Plugin(plugin.to_owned());
    for o in &batch.outputs {
        let symbol: Option<&str> = match o {
            Output::Series(p) => p.instrument.as_deref().map(|i| &*i.symbol),
            Output::Log(l) => l.instrument.as_deref().map(|i| &*i.symbol),
            Output::Signal(s) => Some(&s.instrument.symbol),
            Output::Order(o) => Some(&o.instrument.symbol),
            Output::Document(d) => d.key.rsplit(':').next(),
            Output::Alert(_) => None,
        };
        if wanted(subs, &own, symbol) {
            out.push(message(&own.name(), o.to_record(plugin)));
        }
        let (channel, payload) = match o {
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
            Output::Document(d)
                if plugin == analytics.opportunities && &*d.key == "opportunities" =>
            {
                (
                    Channel::Opportunities,
                    json!({"ts": d.ts, "items": d.body["items"]}),
                )
            }
            _ => continue,
        };
        // Opportunities are about several instruments: never filtered by symbol.
        let symbol = if channel == Channel::Opportunities {
            None
        } else {
            symbol
        };
        let pass = if channel == Channel::Opportunities {
            subs.contains_key(&channel)
        } else {
            wanted(subs, &channel, symbol)
        };
        if pass {
            out.push(message(&channel.name(), payload));
        }
    }
    out
}

async fn client(socket: WebSocket, state: AppState) {
    let (mut sink, mut stream) = socket.split();
    let mut live = state.live.subscribe();
    let mut subs = Subscriptions::new();
    let mut heartbeat = tokio::time::interval(state.ws.heartbeat);
    heartbeat.tick().await;
    let mut last_heard = Instant::now();
    let mut missed: u64 = 0;
    let idle = state.ws.idle_timeout;
    loop {
        let outgoing: Vec<Message> = tokio::select! {
            incoming = stream.next() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(text))) => {
                    last_heard = Instant::now();
                    vec![handle(&text, &mut subs)]
                }
                Some(Ok(_)) => {
                    last_heard = Instant::now();
                    Vec::new()
                }
            },
            batch = live.recv() => match batch {
                Ok(batch) => route(&subs, &state.analytics, &batch),
                Err(RecvError::Lagged(n)) => {
                    missed += n;
                    vec![message("missed", json!({"batches": n, "total": missed}))]
                }
                Err(RecvError::Closed) => break,
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > idle {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
                vec![message("heartbeat", json!({"missed": missed})), Message::Ping(Vec::new().into())]
            }
        };
        for m in outgoing {
            match tokio::time::timeout(idle, sink.send(m)).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_change_subscriptions_and_bad_ones_are_answered() {
        let mut subs = Subscriptions::new();
        let text = |m: Message| match m {
            Message::Text(t) => serde_json::from_str::<Value>(&t).unwrap(),
            other => panic!("{other:?}"),
        };
        let reply = text(handle(
            r#"{"type":"subscribe","channels":["liquidations","plugin:hello"],"symbols":["btcusdt"]}"#,
            &mut subs,
        ));
        assert_eq!(reply["type"], "subscribed");
        assert!(reply["timestamp"].is_i64());
        assert!(wanted(&subs, &Channel::Liquidations, Some("BTCUSDT")));
        assert!(!wanted(&subs, &Channel::Liquidations, Some("ETHUSDT")));
        assert!(wanted(
            &subs,
            &Channel::Plugin("hello".into()),
            Some("btcusdt")
        ));
        let reply = text(handle(
            r#"{"type":"unsubscribe","payload":{"channels":["liquidations"]}}"#,
            &mut subs,
        ));
        assert_eq!(reply["type"], "unsubscribed");
        assert!(!wanted(&subs, &Channel::Liquidations, Some("BTCUSDT")));
        assert_eq!(
            text(handle(r#"{"type":"ping"}"#, &mut subs))["type"],
            "pong"
        );
        for bad in [
            r#"{"type":"subscribe","channels":["nope"]}"#,
            r#"{"type":"dance"}"#,
            "not json",
            r#"{"type":"subscribe"}"#,
        ] {
            assert_eq!(text(handle(bad, &mut subs))["type"], "error", "{bad}");
        }
    }
}
