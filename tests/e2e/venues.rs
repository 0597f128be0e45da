//! Exchange feeds through the binary: `prism run` on live feeds from a
//! loopback exchange, `prism record`, and `prism normalize` of the shared
//! recordings.

use crate::common::*;
use prism_loopback::{Loopback, Step};
use std::time::Duration;

fn agg(ts: i64) -> String {
    format!(
        r#"{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{ts},"s":"BTCUSDT","p":"60000.5","q":"0.5","T":{ts},"m":true}}}}"#
    )
}

fn exchange() -> Loopback {
    let first = vec![
        Step::Expect("SUBSCRIBE".into()),
        Step::Send(agg(1_700_000_000_000)),
        Step::Send(agg(1_700_000_000_100)),
        Step::Send(agg(1_700_000_000_200)),
        Step::Send(r#"{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":1700000000300,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"1","p":"59000","ap":"59010","X":"FILLED","l":"1","z":"1","T":1700000000300}}}"#.into()),
        Step::Send(r#"{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1700000000400,"s":"BTCUSDT","p":"60001","i":"60000","r":"0.0001","T":1700006400000}}"#.into()),
        Step::Send(r#"{"stream":"ethusdt@aggTrade","data":{"e":"aggTrade","E":1700000000450,"s":"ETHUSDT","p":"3000","q":"1","T":1700000000450,"m":true}}"#.into()),
        Step::Sleep(Duration::from_millis(200)),
        Step::Drop,
    ];
    let second = vec![
        Step::Expect("SUBSCRIBE".into()),
        Step::Send(agg(1_700_000_000_500)),
        Step::Send(agg(1_700_000_000_600)),
    ];
    let server = Loopback::start(vec![first, second]);
    server.rest(
        "/fapi/v1/depth?symbol=BTCUSDT&limit=1000",
        vec![r#"{"lastUpdateId":10,"E":1700000000000,"T":1700000000000,"bids":[["59999","2"]],"asks":[["60001","3"]]}"#.into()],
    );
    server.rest(
        "/fapi/v1/openInterest?symbol=BTCUSDT",
        vec![r#"{"symbol":"BTCUSDT","openInterest":"12345.678","time":1700000000700}"#.into()],
    );
    server
}

fn live_config(dir: &std::path::Path, server: &Loopback, extra: &str) -> std::path::PathBuf {
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
[source]
kind = "live"
{extra}
[[source.venues]]
venue = "binance"
symbols = ["BTCUSDT"]
url = "{ws}"
rest_url = "{rest}"
backoff_ms = 50
max_backoff_ms = 200
open_interest_poll_s = 1
[[plugins]]
id = "hello"
path = "{hello}"
"#,
            data = dir.join("data").display(),
            ws = server.ws_url,
            rest = server.rest_url,
            hello = wasm("hello").display(),
        ),
    )
    .unwrap();
    config
}

#[test]
fn prism_run_streams_live_feeds_into_plugins_through_a_reconnect() {
    let server = exchange();
    let dir = temp_dir("live");
    let prism = Server::start(&live_config(&dir, &server, ""));
    // Five BTCUSDT trades over two connections, the ETHUSDT one filtered
    // out; one liquidation, one funding, book snapshots, open interest.
    let counts = prism.wait_for(
        "/api/v1/plugins/hello/documents/counts",
        Duration::from_secs(30),
        |v| v["body"]["trade"] == 5 && v["body"]["open_interest"].as_u64().unwrap_or(0) >= 1,
    );
    let body = &counts["body"];
    assert_eq!(body["liquidation"], 1);
    assert_eq!(body["funding"], 1);
    assert!(
        body["book"].as_u64().unwrap() >= 2,
        "a snapshot on each connection: {body}"
    );
    let feeds = prism.json("/api/v1/feeds");
    let feed = &feeds["items"][0];
    assert_eq!(feed["venue"], "binance");
    assert!(feed["reconnects"].as_u64().unwrap() >= 1, "{feed}");
    assert!(feed["connects"].as_u64().unwrap() >= 2, "{feed}");
    assert_eq!(feed["rejected"], 0);
    let (_, metrics) = prism.get("/metrics");
    assert!(
        metrics.contains("prism_feed_messages_total{venue=\"binance\"}"),
        "{metrics}"
    );
    let subscriptions = server
        .received()
        .iter()
        .filter(|(_, t)| {
            t.contains("SUBSCRIBE")
                && t.contains("btcusdt@aggTrade")
                && t.contains("btcusdt@forceOrder")
        })
        .count();
    assert!(subscriptions >= 2, "resubscribed after the reconnect");
}

/// With a linger far longer than the test, a quiet feed's events reach the
/// plugin only because a partial batch goes `batch_idle_ms` after the
/// source has nothing more queued (without it this test waits in vain).
#[test]
fn a_quiet_feeds_events_go_after_the_idle_time_not_the_linger() {
    let server = exchange();
    let dir = temp_dir("live-idle");
    let pipeline = "[pipeline]\nbatch_linger_ms = 600000\nbatch_idle_ms = 1\n";
    let prism = Server::start(&live_config(&dir, &server, pipeline));
    let counts = prism.wait_for(
        "/api/v1/plugins/hello/documents/counts",
        Duration::from_secs(30),
        |v| v["body"]["trade"] == 5,
    );
    assert_eq!(counts["body"]["liquidation"], 1, "{counts}");
}

/// `prism record` of `config`'s feeds into `out` for `duration`.
fn record(config: &std::path::Path, out: &std::path::Path, duration: &str) -> std::process::Output {
    prism()
        .args(["record", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(["--duration", duration])
        .output()
        .unwrap()
}

#[test]
fn recorded_frames_normalize_to_the_same_events() {
    let server = exchange();
    let dir = temp_dir("record");
    let config = live_config(&dir, &server, "");
    let raw = dir.join("raw.jsonl");
    let result = record(&config, &raw, "3s");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(stdout.contains("binance:"), "{stdout}");
    let frames = std::fs::read_to_string(&raw).unwrap();
    assert!(frames.lines().count() >= 8, "{frames}");
    let first: serde_json::Value = serde_json::from_str(frames.lines().next().unwrap()).unwrap();
    assert!(
        first["received_ms"].is_i64()
            && first["venue"] == "binance"
            && first["message"].is_string()
    );
    let out = dir.join("events.jsonl");
    let result = prism()
        .args(["normalize", "--venue", "binance", "--format", "prism"])
        .arg(&raw)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{stdout}");
    assert!(stdout.contains("refused: 0 messages"), "{stdout}");
    let events = std::fs::read_to_string(&out).unwrap();
    let trades = events
        .lines()
        .filter(|l| l.contains(r#""type":"trade""#) && l.contains("BTCUSDT"))
        .count();
    assert_eq!(trades, 5, "{events}");
}

#[test]
fn normalize_turns_the_shared_recordings_into_replay_files() {
    let dir = temp_dir("normalize");
    let data = repo().join("tests/data");
    for (venue, format, file, want) in [
        (
            "okx",
            "cryptofeed",
            "captures/okx-2022-05-13.cryptofeed.txt",
            // 290 books, 74 trades, 28 tickers.
            392,
        ),
        (
            "deribit",
            "cryptofeed",
            "captures/deribit-options-2021-07-22.cryptofeed.txt",
            // 89 ticker notifications: each an open interest and a ticker.
            178,
        ),
        ("bybit", "raw", "messages/bybit.jsonl", 1),
    ] {
        let out = dir.join(format!("{venue}.jsonl"));
        let result = prism()
            .args(["normalize", "--venue", venue, "--format", format])
            .arg(data.join(file))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&result.stdout);
        assert!(result.status.success(), "{stdout}");
        assert!(stdout.contains("refused: 0 messages, 0 lines"), "{stdout}");
        let lines = std::fs::read_to_string(&out).unwrap().lines().count();
        assert_eq!(lines, want, "{venue}: {stdout}");
    }
    // The normalized file replays through plugins like any other.
    let result = prism()
        .args(["replay", "--events"])
        .arg(dir.join("okx.jsonl"))
        .arg("--plugin")
        .arg(wasm("hello"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(stdout.contains("replayed 392 events"), "{stdout}");
    // …and the recording replays directly, through the same normalizer.
    let result = prism()
        .args([
            "replay",
            "--venue",
            "okx",
            "--format",
            "cryptofeed",
            "--events",
        ])
        .arg(data.join("captures/okx-2022-05-13.cryptofeed.txt"))
        .arg("--plugin")
        .arg(wasm("hello"))
        .output()
        .unwrap();
    let direct = String::from_utf8_lossy(&result.stdout);
    assert!(
        direct.contains("replayed 392 events") && direct.contains("0 malformed"),
        "{direct}"
    );
    // A tardis-machine file, and a refusal named by line.
    let tardis = dir.join("tardis.ndjson");
    std::fs::write(
        &tardis,
        concat!(
            r#"{"localTimestamp":"2023-11-14T22:13:20.123Z","message":{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"1.5","q":"2","T":1,"m":false}}"#,
            "\n",
            r#"{"localTimestamp":"2023-11-14T22:13:20.200Z","message":{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"abc","q":"2","T":1,"m":false}}"#,
            "\n",
            "not json\n"
        ),
    )
    .unwrap();
    let out = dir.join("tardis.jsonl");
    let result = prism()
        .args(["normalize", "--venue", "binance", "--format", "tardis"])
        .arg(&tardis)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stdout.contains("refused: 1 messages, 1 lines not in the format"),
        "{stdout}"
    );
    assert!(
        stderr.contains("tardis.ndjson:2: refused") && stderr.contains("`p`"),
        "{stderr}"
    );
    assert!(stderr.contains("tardis.ndjson:3:"), "{stderr}");
    let line = std::fs::read_to_string(&out).unwrap();
    assert!(line.contains(r#""received_ts":1700000000123"#), "{line}");
    let (status, _) = (
        prism()
            .args(["normalize", "--venue", "kraken"])
            .arg(&tardis)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
            .status,
        (),
    );
    assert!(!status.success());
}

/// Candles built from a live feed's trades: the same rules as a replay. A
/// trade exactly on the minute closes the minute before.
#[test]
fn prism_run_builds_candles_from_live_trades() {
    let trade = |ts: i64, price: &str, qty: &str| {
        format!(
            r#"{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{ts},"s":"BTCUSDT","p":"{price}","q":"{qty}","T":{ts},"m":false}}}}"#
        )
    };
    let server = Loopback::start(vec![vec![
        Step::Expect("SUBSCRIBE".into()),
        Step::Send(trade(1_700_000_039_000, "60000.5", "0.5")),
        Step::Send(trade(1_700_000_039_999, "60010", "0.25")),
        Step::Send(trade(1_700_000_040_000, "59990", "1")),
    ]]);
    let dir = temp_dir("live-candles");
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
kind = "live"
[[source.venues]]
venue = "binance"
symbols = ["BTCUSDT"]
channels = ["trades"]
url = "{ws}"
rest_url = "{rest}"
"#,
            data = dir.join("data").display(),
            ws = server.ws_url,
            rest = server.rest_url,
        ),
    )
    .unwrap();
    let prism = Server::start(&config);
    let page = prism.wait_for(
        "/api/v1/candles?exchange=binance&symbol=BTCUSDT&interval=1m",
        Duration::from_secs(30),
        |v| v["items"].as_array().is_some_and(|i| !i.is_empty()),
    );
    // [1699999980000, 1700000040000): 60000.5 × 0.5 and 60010 × 0.25;
    // quote volume 30000.25 + 15002.5.
    let c = &page["items"][0];
    assert_eq!(c["open_ts"], 1_699_999_980_000_i64);
    assert_eq!(c["ts"], 1_700_000_040_000_i64);
    let fields: Vec<&str> = ["open", "high", "low", "close", "volume", "quote_volume"]
        .iter()
        .map(|k| c[*k].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["60000.5", "60010", "60000.5", "60010", "0.75", "45002.75"]
    );
    assert_eq!(c["trades"], 2);
    assert_eq!(c["closed"], true);
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        1,
        "the new minute is open"
    );
}

#[test]
fn record_that_receives_nothing_fails_and_says_so() {
    let server = exchange();
    let dir = temp_dir("record-nothing");
    let config = live_config(&dir, &server, "");
    // The same config, its feed pointed at a port where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("url = \"{}\"", server.ws_url),
        &format!("url = \"ws://{closed}/ws\""),
    );
    assert!(text.contains(&closed.to_string()), "{text}");
    std::fs::write(&config, text).unwrap();
    let result = record(&config, &dir.join("raw.jsonl"), "2s");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nothing was recorded"), "{stderr}");
}
