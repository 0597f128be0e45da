//! What each venue wants on the wire: where to connect, how to subscribe,
//! how to stay alive, how to get a book back in sync.

use super::FeedSettings;
use crate::Venue;
use serde_json::json;

/// Public WebSocket and REST addresses and the advised heartbeat (s).
pub(crate) fn defaults(venue: Venue) -> (&'static str, &'static str, u64) {
    match venue {
        Venue::Binance => (
            "wss://fstream.binance.com/stream",
            "https://fapi.binance.com",
            60,
        ),
        Venue::Okx => (
            "wss://ws.okx.com:8443/ws/v5/public",
            "https://www.okx.com",
            25,
        ),
        Venue::Hyperliquid => (
            "wss://api.hyperliquid.xyz/ws",
            "https://api.hyperliquid.xyz",
            30,
        ),
        Venue::Deribit => (
            "wss://www.deribit.com/ws/api/v2",
            "https://www.deribit.com",
            30,
        ),
        Venue::Bybit => (
            "wss://stream.bybit.com/v5/public/linear",
            "https://api.bybit.com",
            20,
        ),
        Venue::Lighter => (
            "wss://mainnet.zklighter.elliot.ai/stream",
            "https://mainnet.zklighter.elliot.ai",
            30,
        ),
    }
}

/// Lighter's market ids of the symbols it knows by name.
fn lighter_market(symbol: &str) -> String {
    match symbol.to_ascii_uppercase().as_str() {
        "ETH" => "0".into(),
        "BTC" => "1".into(),
        "SOL" => "2".into(),
        other => other.to_owned(),
    }
}

/// The messages that subscribe a fresh connection.
pub(crate) fn subscriptions(s: &FeedSettings) -> Vec<String> {
    let c = s.channels;
    match s.venue {
        Venue::Binance => {
            let mut streams = Vec::new();
            for sym in &s.symbols {
                let sym = sym.to_ascii_lowercase();
                if c.trades {
                    streams.push(format!("{sym}@aggTrade"));
                }
                if c.liquidations {
                    streams.push(format!("{sym}@forceOrder"));
                }
                if c.funding {
                    streams.push(format!("{sym}@markPrice@1s"));
                }
                if c.book {
                    streams.push(format!("{sym}@depth@100ms"));
                }
            }
            vec![json!({"method": "SUBSCRIBE", "params": streams, "id": 1}).to_string()]
        }
        Venue::Okx => {
            let mut args = Vec::new();
            for sym in &s.symbols {
                for (on, channel) in [
                    (c.trades, "trades"),
                    (c.funding, "funding-rate"),
                    (c.open_interest, "open-interest"),
                    (c.book, "books"),
                ] {
                    if on {
                        args.push(json!({"channel": channel, "instId": sym}));
                    }
                }
            }
            if c.liquidations {
                for kind in ["SWAP", "FUTURES"] {
                    args.push(json!({"channel": "liquidation-orders", "instType": kind}));
                }
            }
            vec![json!({"op": "subscribe", "args": args}).to_string()]
        }
        Venue::Hyperliquid => {
            let mut out = Vec::new();
            for coin in &s.symbols {
                for (on, kind) in [
                    (c.trades, "trades"),
                    (c.book, "l2Book"),
                    (c.funding || c.open_interest, "activeAssetCtx"),
                ] {
                    if on {
                        out.push(json!({"method": "subscribe", "subscription": {"type": kind, "coin": coin}}).to_string());
                    }
                }
            }
            if c.liquidations {
                for user in &s.accounts {
                    out.push(json!({"method": "subscribe", "subscription": {"type": "userFills", "user": user}}).to_string());
                }
            }
            out
        }
        Venue::Deribit => {
            let mut channels = Vec::new();
            for sym in &s.symbols {
                if c.trades || c.liquidations {
                    channels.push(format!("trades.{sym}.100ms"));
                }
                if c.funding || c.open_interest {
                    channels.push(format!("ticker.{sym}.100ms"));
                }
            }
            vec![
                json!({"jsonrpc": "2.0", "id": 1, "method": "public/set_heartbeat", "params": {"interval": s.heartbeat.as_secs().max(10)}}).to_string(),
                json!({"jsonrpc": "2.0", "id": 2, "method": "public/subscribe", "params": {"channels": channels}}).to_string(),
            ]
        }
        Venue::Bybit => {
            let mut args = Vec::new();
            for sym in &s.symbols {
                if c.liquidations {
                    args.push(format!("allLiquidation.{sym}"));
                }
                if c.trades {
                    args.push(format!("publicTrade.{sym}"));
                }
            }
            vec![json!({"op": "subscribe", "args": args}).to_string()]
        }
        Venue::Lighter => {
            let mut out = Vec::new();
            for sym in &s.symbols {
                if c.trades || c.liquidations {
                    out.push(json!({"type": "subscribe", "channel": format!("trade/{}", lighter_market(sym))}).to_string());
                }
            }
            if c.funding || c.open_interest {
                out.push(json!({"type": "subscribe", "channel": "market_stats/all"}).to_string());
            }
            out
        }
    }
}

/// The client's application-level heartbeat, where the venue wants one.
pub(crate) fn heartbeat(venue: Venue) -> Option<String> {
    match venue {
        Venue::Okx => Some("ping".into()),
        Venue::Hyperliquid => Some(json!({"method": "ping"}).to_string()),
        Venue::Bybit => Some(json!({"op": "ping"}).to_string()),
        Venue::Lighter => Some(json!({"type": "ping"}).to_string()),
        // Binance pings at the WebSocket level; Deribit asks with test_request.
        Venue::Binance | Venue::Deribit => None,
    }
}

/// A message that must be answered (Deribit's heartbeat test request).
pub(crate) fn answer(venue: Venue, text: &str) -> Option<String> {
    (venue == Venue::Deribit && text.contains("\"test_request\"")).then(|| {
        json!({"jsonrpc": "2.0", "id": 3, "method": "public/test", "params": {}}).to_string()
    })
}

/// How a book gets back in sync.
pub(crate) enum Resync {
    /// Fetch this REST snapshot (wrapped as the normalizer expects).
    Rest { url: String, wrap: String },
    /// Send these messages (unsubscribe, subscribe).
    Resubscribe(Vec<String>),
    /// The venue sends full books: nothing to do.
    Nothing,
}

pub(crate) fn resync(s: &FeedSettings, symbol: &str) -> Resync {
    match s.venue {
        Venue::Binance => Resync::Rest {
            url: format!(
                "{}/fapi/v1/depth?symbol={}&limit=1000",
                s.rest_url,
                symbol.to_ascii_uppercase()
            ),
            wrap: format!("{}@depthSnapshot", symbol.to_ascii_lowercase()),
        },
        Venue::Okx => {
            let arg = json!([{"channel": "books", "instId": symbol}]);
            Resync::Resubscribe(vec![
                json!({"op": "unsubscribe", "args": arg}).to_string(),
                json!({"op": "subscribe", "args": arg}).to_string(),
            ])
        }
        _ => Resync::Nothing,
    }
}

/// Books to fetch over REST after each (re)connection.
pub(crate) fn snapshots_after_connect(s: &FeedSettings) -> Vec<String> {
    if s.venue == Venue::Binance && s.channels.book {
        s.symbols.clone()
    } else {
        Vec::new()
    }
}

/// REST addresses polled for data the venue does not stream, with the
/// stream name their answers are wrapped under.
pub(crate) fn polls(s: &FeedSettings) -> Vec<(String, String)> {
    if s.venue == Venue::Binance && s.channels.open_interest {
        s.symbols
            .iter()
            .map(|sym| {
                (
                    format!(
                        "{}/fapi/v1/openInterest?symbol={}",
                        s.rest_url,
                        sym.to_ascii_uppercase()
                    ),
                    format!("{}@openInterest", sym.to_ascii_lowercase()),
                )
            })
            .collect()
    } else {
        Vec::new()
    }
}
