//! Candles and tickers through a running host: built from trades and
//! streamed, served by `GET /api/v1/candles` and `/api/v1/tickers` and on
//! the `candles` and `tickers` WebSocket channels; a plugin built against
//! contract 0.1 and one built against 0.2 side by side over one stream.

use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

/// `tests/fixtures/market.jsonl` starts here, on a minute boundary.
const T0: i64 = 1_700_000_040_000;

fn config(dir: &std::path::Path, events: &std::path::Path, pace: f64) -> std::path::PathBuf {
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
[market]
candles_from_trades = ["1m"]
[source]
kind = "replay"
path = "{events}"
pace = {pace}
[[plugins]]
id = "legacy"
path = "{legacy}"
[[plugins]]
id = "hello"
path = "{hello}"
"#,
            data = dir.join("data").display(),
            events = events.display(),
            legacy = wasm("contract_0_1").display(),
            hello = wasm("hello").display(),
        ),
    )
    .unwrap();
    config
}

/// A candle's fields as compared: open time − T0, event time − T0, OHLC,
/// volume, quote volume, trades, closed.
fn candle(v: &Value) -> (i64, i64, [&str; 6], Value, bool) {
    let s = |k: &str| v[k].as_str().unwrap_or("-");
    (
        v["open_ts"].as_i64().unwrap() - T0,
        v["ts"].as_i64().unwrap() - T0,
        [
            s("open"),
            s("high"),
            s("low"),
            s("close"),
            s("volume"),
            s("quote_volume"),
        ],
        v["trades"].clone(),
        v["closed"].as_bool().unwrap(),
    )
}

#[test]
fn candles_built_and_streamed_and_tickers_are_served_and_both_contracts_run() {
    let dir = temp_dir("market");
    let server = Server::start(&config(&dir, &fixture("market.jsonl"), 0.0));
    server.wait_for("/health", Duration::from_secs(20), |h| {
        h["source"]["state"] == "finished"
    });
    // Built from Binance's BTCUSDT trades, worked by hand (the fixture's
    // comments are the trades): [T0, +60 s) has 100×1 (on the boundary),
    // 105×0.5, 99×2; the trade at exactly +60 s opens the next interval,
    // which has 101×1 and 102.5×0.2; [+120 s, +180 s) has no trade and no
    // candle; [+180 s, +240 s) has 98×3 and closes when ETHUSDT trades at
    // +240 s (Binance's clock); [+300 s, …) is still open at the end.
    let page = server.json("/api/v1/candles?exchange=binance&symbol=BTCUSDT&interval=1m");
    let got: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(candle)
        .collect();
    assert_eq!(
        got,
        [
            (
                180_000,
                240_000,
                ["98", "98", "98", "98", "3", "294"],
                json!(1),
                true
            ),
            (
                60_000,
                120_000,
                ["101", "102.5", "101", "102.5", "1.2", "121.5"],
                json!(2),
                true
            ),
            (
                0,
                60_000,
                ["100", "105", "99", "99", "3.5", "350.5"],
                json!(3),
                true
            ),
        ]
    );
    assert_eq!(page["next_cursor"], Value::Null);
    // Paged: two, then the rest from the cursor; a window by open time.
    let first = server.json("/api/v1/candles?exchange=binance&symbol=BTCUSDT&interval=1m&limit=2");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(cursor, (T0 + 60_000).to_string());
    let rest = server.json(&format!(
        "/api/v1/candles?exchange=binance&symbol=BTCUSDT&interval=1m&limit=2&cursor={cursor}"
    ));
    assert_eq!(candle(&rest["items"][0]).0, 0);
    let window = server.json(&format!(
        "/api/v1/candles?exchange=binance&symbol=BTCUSDT&interval=1m&from={}&to={}",
        T0 + 1,
        T0 + 180_000
    ));
    let opens: Vec<i64> = window["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| candle(c).0)
        .collect();
    assert_eq!(opens, [180_000, 60_000]);
    // `60m` is `1h`, of which nothing was built.
    let hour = server.json("/api/v1/candles?exchange=binance&symbol=BTCUSDT&interval=60m");
    assert_eq!(hour["items"], json!([]));
    // OKX streams its own 1m candles for BTC-USDT-SWAP: those are kept
    // (the last value of the interval) and none is built beside them.
    let okx = server.json("/api/v1/candles?exchange=okx&symbol=BTC-USDT-SWAP&interval=1m");
    let got: Vec<_> = okx["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(candle)
        .collect();
    assert_eq!(
        got,
        [(
            0,
            60_000,
            ["100", "101", "99", "100.5", "7", "700.5"],
            Value::Null,
            true
        )]
    );
    // ETHUSDT's one trade at +240 s closes at +300 s, when BTCUSDT trades.
    let eth = server.json("/api/v1/candles?exchange=binance&symbol=ETHUSDT&interval=1m");
    let got: Vec<_> = eth["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(candle)
        .collect();
    assert_eq!(
        got,
        [(
            240_000,
            300_000,
            ["2000", "2000", "2000", "2000", "1", "2000"],
            json!(1),
            true
        )]
    );
    // The latest ticker, as its line gave it.
    let tickers = server.json("/api/v1/tickers?exchange=binance");
    assert_eq!(
        tickers["items"],
        json!([{
            "exchange": "binance", "symbol": "BTCUSDT", "ts": T0 + 95_000,
            "best_bid": {"price": "102.4", "size": "1"},
            "best_ask": {"price": "102.6", "size": "1.5"},
            "last_price": "102.5", "volume_24h": "1000", "quote_volume_24h": null,
            "change_24h": "-2.5", "change_24h_percent": null,
            "mark_price": null, "index_price": null
        }])
    );
    // Bad queries are told what is wrong.
    for (path, words) in [
        (
            "/api/v1/candles?exchange=binance&symbol=BTCUSDT&interval=7x",
            "interval",
        ),
        (
            "/api/v1/candles?exchange=binance&symbol=BTCUSDT",
            "interval",
        ),
        (
            "/api/v1/candles?exchange=binance&symbol=BTCUSDT&interval=1m&from=5&to=4",
            "from is after to",
        ),
        ("/api/v1/tickers?cursor=nonsense", "cursor"),
    ] {
        let (status, body) = server.get(path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(words), "{path}: {body}");
    }
    // The 0.1 plugin saw the 9 trades and nothing of the kinds it lacks;
    // the 0.2 plugin saw 9 trades, 2 tickers and 6 candles (2 streamed by
    // OKX, 4 built).
    let legacy = server.json("/api/v1/plugins/legacy");
    assert_eq!(legacy["contract"], "0.1.0", "{legacy}");
    let seen = server.json("/api/v1/plugins/legacy/series/seen.trade");
    let last = seen["points"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["value"], 9.0);
    for other in ["seen.candle", "seen.ticker"] {
        let points = server.json(&format!("/api/v1/plugins/legacy/series/{other}"));
        assert_eq!(points["points"], json!([]), "{other}");
    }
    let hello = server.json("/api/v1/plugins/hello");
    assert_eq!(hello["contract"], "0.2.0", "{hello}");
    let counts = server.json("/api/v1/plugins/hello/documents/counts");
    assert_eq!(
        counts["body"],
        json!({"candle": 6, "ticker": 2, "trade": 9})
    );
    // Both are in the OpenAPI document's paths.
    let doc = server.json("/api/v1/openapi.json");
    assert!(doc["paths"]["/api/v1/candles"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/tickers"]["get"].is_object());
}

/// The `candles` and `tickers` WebSocket channels carry what the REST
/// endpoints serve, as it happens, filtered by symbol.
#[test]
fn candles_and_tickers_stream_on_the_websocket() {
    let dir = temp_dir("market-ws");
    // A replay is read and paced a chunk (1024 events) at a time: 1100
    // SOLUSDT tickers before T0 make a first chunk that goes at once, and
    // the fixture's 300 s at 30× then take about 10 s, time to subscribe.
    let events = dir.join("events.jsonl");
    let mut text = String::new();
    for i in 0..1_100 {
        text.push_str(&format!(
            r#"{{"type":"ticker","exchange":"binance","symbol":"SOLUSDT","ts":{},"last_price":"55"}}"#,
            T0 - 1_100 + i
        ));
        text.push('\n');
    }
    text.push_str(&std::fs::read_to_string(fixture("market.jsonl")).unwrap());
    std::fs::write(&events, text).unwrap();
    let server = Server::start(&config(&dir, &events, 30.0));
    let url = format!("{}/api/v1/ws", server.base.replace("http://", "ws://"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let messages = runtime.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let subscribe = json!({"type": "subscribe", "channels": ["candles", "tickers"], "symbols": ["btcusdt"]});
        ws.send(Message::Text(subscribe.to_string().into())).await.unwrap();
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await {
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                let done = v["type"] == "candles" && v["payload"]["open_ts"] == T0 + 180_000;
                got.push(v);
                if done {
                    break;
                }
            }
        }
        got
    });
    let of = |t: &str| -> Vec<Value> {
        messages
            .iter()
            .filter(|m| m["type"] == t)
            .map(|m| m["payload"].clone())
            .collect()
    };
    let candles = of("candles");
    // Filtered to BTCUSDT: Binance's built candles, not OKX's nor ETH's.
    assert!(
        candles.iter().all(|c| c["symbol"] == "BTCUSDT"),
        "{candles:?}"
    );
    let last = candles.last().expect("a candle on the channel");
    assert_eq!(
        candle(last),
        (
            180_000,
            240_000,
            ["98", "98", "98", "98", "3", "294"],
            json!(1),
            true
        )
    );
    let tickers = of("tickers");
    assert!(
        tickers.iter().any(|t| t["best_bid"]["price"] == "102.4"),
        "{messages:?}"
    );
}

/// An operator cannot subscribe a 0.1 plugin to kinds 0.1 lacks: the start
/// is refused, saying so; "every kind" for it is every kind 0.1 has.
#[test]
fn a_0_1_plugin_cannot_be_subscribed_to_the_new_kinds() {
    let dir = temp_dir("market-0-1-kinds");
    for (kinds, refused) in [(r#"["trade", "candle"]"#, true), ("[]", false)] {
        let config = dir.join("prism.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[runtime]
data_dir = "{data}"
[[plugins]]
id = "legacy"
path = "{legacy}"
subscription = {{ kinds = {kinds} }}
"#,
                data = dir.join("data").display(),
                legacy = wasm("contract_0_1").display(),
            ),
        )
        .unwrap();
        let result = prism()
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        if refused {
            assert_eq!(result.status.code(), Some(1), "{out}");
            assert!(
                out.contains("built against prism:plugin@0.1.0, which has no candle events"),
                "{out}"
            );
        } else {
            assert!(result.status.success(), "{out}");
        }
    }
}
