//! What each venue wants on the wire: where to connect, how to subscribe,
//! how to stay alive, how to get a book back in sync.

use super::FeedSettings;
use crate::Venue;
use prism_model::CandleInterval;
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

/// A venue's name for a candle interval on its WebSocket, if it streams
/// candles of that interval.
#[must_use]
pub fn candle_channel(venue: Venue, interval: CandleInterval) -> Option<String> {
    use prism_model::IntervalUnit::{Day, Hour, Minute, Month, Second, Week};
    let (n, unit) = (interval.count, interval.unit);
    // Minutes as the venue counts them, for venues that name intervals so.
    let minutes = match unit {
        Minute => Some(n),
        Hour => Some(n * 60),
        _ => None,
    };
    match venue {
        Venue::Binance | Venue::Hyperliquid => {
            let ok = match unit {
                Minute => [1, 3, 5, 15, 30].contains(&n),
                Hour => [1, 2, 4, 6, 8, 12].contains(&n) && (venue == Venue::Binance || n != 6),
                Day => [1, 3].contains(&n),
                Week | Month => n == 1,
                Second => false,
            };
            ok.then(|| interval.to_string())
        }
        Venue::Okx => {
            let name = match unit {
                Second => (n == 1).then(|| "1s".to_owned()),
                Minute => [1, 3, 5, 15, 30].contains(&n).then(|| format!("{n}m")),
                Hour => [1, 2, 4, 6, 12].contains(&n).then(|| format!("{n}H")),
                Day => [1, 2, 3, 5].contains(&n).then(|| format!("{n}Dutc")),
                Week => (n == 1).then(|| "1Wutc".to_owned()),
                Month => [1, 3].contains(&n).then(|| format!("{n}Mutc")),
            };
            name.map(|n| format!("candle{n}"))
        }
        Venue::Deribit => match (unit, minutes) {
            (Day, _) if n == 1 => Some("1D".into()),
            (_, Some(m)) if [1, 3, 5, 10, 15, 30, 60, 120, 180, 360, 720].contains(&m) => {
                Some(m.to_string())
            }
            _ => None,
        },
        Venue::Bybit => match (unit, minutes) {
            (Day, _) if n == 1 => Some("D".into()),
            (Week, _) if n == 1 => Some("W".into()),
            (Month, _) if n == 1 => Some("M".into()),
            (_, Some(m)) if [1, 3, 5, 15, 30, 60, 120, 240, 360, 720].contains(&m) => {
                Some(m.to_string())
            }
            _ => None,
        },
        Venue::Lighter => None,
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
                if c.tickers {
                    streams.push(format!("{sym}@bookTicker"));
                    streams.push(format!("{sym}@ticker"));
                }
                for name in candles(s) {
                    streams.push(format!("{sym}@kline_{name}"));
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
                    (c.tickers, "tickers"),
                ] {
                    if on {
                        args.push(json!({"channel": channel, "instId": sym}));
                    }
                }
                for name in candles(s) {
                    args.push(json!({"channel": name, "instId": sym}));
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
                    (c.tickers, "bbo"),
                ] {
                    if on {
                        out.push(json!({"method": "subscribe", "subscription": {"type": kind, "coin": coin}}).to_string());
                    }
                }
                for name in candles(s) {
                    out.push(json!({"method": "subscribe", "subscription": {"type": "candle", "coin": coin, "interval": name}}).to_string());
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
                if c.funding || c.open_interest || c.tickers {
                    channels.push(format!("ticker.{sym}.100ms"));
                }
                for name in candles(s) {
                    channels.push(format!("chart.trades.{sym}.{name}"));
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
                if c.tickers {
                    args.push(format!("tickers.{sym}"));
                }
                for name in candles(s) {
                    args.push(format!("kline.{name}.{sym}"));
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

/// The venue's names of the candle intervals asked for (validated at
/// configuration; one a venue lacks is left out here).
fn candles(s: &FeedSettings) -> Vec<String> {
    s.candles
        .iter()
        .filter_map(|i| candle_channel(s.venue, *i))
        .collect()
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
