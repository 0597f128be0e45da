//! Every capture in `tests/data/captures/` (copies of `shared/data/`) replays through the capture
//! reader and its venue's normalizer with no line or message refused; books
//! stay in sequence and OKX checksums all match.

use prism_venues::capture::{Format, Line, parse_line};
use prism_venues::{Contracts, FeedNormalizer, Stats, Venue};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/captures")
        .join(name)
}

/// Frames of a capture (several files merged by receive time).
fn frames(files: &[&str]) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(data(file)).expect("tests/data holds the recordings");
        for (i, line) in text.lines().enumerate() {
            match parse_line(Format::Cryptofeed, line) {
                Line::Frame(f) => out.push((
                    f.received_ms.expect("captures record receive times"),
                    f.message,
                )),
                Line::Skip(_) => {}
                Line::Bad(why) => panic!("{file}:{}: {why}", i + 1),
            }
        }
    }
    // Stable: frames received in the same millisecond keep file order.
    out.sort_by_key(|(ms, _)| *ms);
    out
}

fn replay(venue: Venue, files: &[&str]) -> (Stats, Vec<prism_sources::Record>) {
    let mut n = FeedNormalizer::new(venue, Contracts::default());
    let mut records = Vec::new();
    for (ms, message) in frames(files) {
        n.push(&message, Some(ms), &mut records);
    }
    (n.stats().clone(), records)
}

#[test]
fn binance_futures_capture_with_its_depth_snapshots() {
    let (stats, records) = replay(
        Venue::Binance,
        &[
            "binance-futures-2021-07-22.cryptofeed.txt",
            "binance-futures-2021-07-22-depth-snapshots.cryptofeed.txt",
        ],
    );
    assert_eq!(stats.rejected, 0, "{:?}", stats.rejections);
    assert!(stats.unknown.is_empty(), "{:?}", stats.unknown);
    assert_eq!(stats.book_gaps, 0, "diffs follow each other once synced");
    let trades = records
        .iter()
        .filter(|r| matches!(r, prism_sources::Record::Trade { .. }))
        .count();
    assert_eq!(trades, 91, "every aggTrade");
    let snapshots = records
        .iter()
        .filter(|r| matches!(r, prism_sources::Record::Book { snapshot: true, .. }))
        .count();
    assert_eq!(snapshots, 4, "one per depth snapshot");
    // Every bookTicker is a ticker, every kline a candle; 4 klines close.
    let tickers: Vec<_> = records
        .iter()
        .filter(|r| matches!(r, prism_sources::Record::Ticker { .. }))
        .collect();
    assert_eq!(tickers.len(), 613);
    let candles: Vec<_> = records
        .iter()
        .filter(|r| matches!(r, prism_sources::Record::Candle { .. }))
        .collect();
    assert_eq!(candles.len(), 67);
    assert!(stats.unsupported.is_empty(), "{:?}", stats.unsupported);
    // The first closed candle, field by field from its message: SUSHIUSDT
    // 1m opening 1626992700000, o 7.6080 h 7.6180 l 7.6070 c 7.6170, v 3005
    // SUSHI, q 22875.8590 USDT, 113 trades, pushed at E 1626992760203.
    let closed: Vec<serde_json::Value> = candles
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .filter(|c| c["closed"] == true)
        .collect();
    assert_eq!(closed.len(), 4);
    let c = &closed[0];
    assert_eq!(
        (
            c["symbol"].as_str(),
            c["interval"].as_str(),
            c["open_ts"].as_i64(),
            c["ts"].as_i64()
        ),
        (
            Some("SUSHIUSDT"),
            Some("1m"),
            Some(1_626_992_700_000),
            Some(1_626_992_760_203)
        )
    );
    let fields =
        ["open", "high", "low", "close", "volume", "quote_volume"].map(|f| c[f].as_str().unwrap());
    assert_eq!(
        fields,
        ["7.608", "7.618", "7.607", "7.617", "3005", "22875.859"]
    );
    assert_eq!(c["trades"], 113);
    // The first bookTicker: SUSHIUSDT bid 7.6110 × 2, ask 7.6120 × 297 at T.
    let t = serde_json::to_value(tickers[0]).unwrap();
    assert_eq!(t["ts"], 1_626_992_741_012_i64);
    assert_eq!(t["bid"], serde_json::json!(["7.611", "2"]));
    assert_eq!(t["ask"], serde_json::json!(["7.612", "297"]));
    // Diffs before a symbol's snapshot wait for it; the rest apply.
    let deltas = records
        .iter()
        .filter(|r| {
            matches!(
                r,
                prism_sources::Record::Book {
                    snapshot: false,
                    ..
                }
            )
        })
        .count() as u64;
    assert_eq!(
        deltas + stats.book_unsynced + stats.book_stale + stats.book_waiting,
        764
    );
    assert_eq!(
        stats.book_unsynced, 0,
        "diffs before a snapshot wait for it"
    );
    assert!(deltas > 600, "{deltas} diffs applied");
}

#[test]
fn okx_capture_books_match_every_checksum() {
    let (stats, records) = replay(Venue::Okx, &["okx-2022-05-13.cryptofeed.txt"]);
    assert_eq!(stats.rejected, 0, "{:?}", stats.rejections);
    assert!(stats.unknown.is_empty(), "{:?}", stats.unknown);
    assert_eq!(stats.checksum_mismatches, 0);
    assert_eq!(stats.book_gaps, 0);
    let books = records
        .iter()
        .filter(|r| matches!(r, prism_sources::Record::Book { .. }))
        .count();
    // 296 lines name the channel: 6 are subscription answers, 290 books.
    assert_eq!(books, 290, "every books message");
    // 40 lines name the tickers channel: 28 carry data (one ticker each),
    // the rest are subscriptions.
    let tickers: Vec<serde_json::Value> = records
        .iter()
        .filter(|r| matches!(r, prism_sources::Record::Ticker { .. }))
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_eq!(tickers.len(), 28);
    // BTC-USDT spot, from its first ticker: sizes and vol24h in BTC,
    // volCcy24h in USDT, change = last 30236 − open24h 29700.4.
    let spot = tickers.iter().find(|t| t["symbol"] == "BTC-USDT").unwrap();
    assert_eq!(spot["ts"], 1_652_459_224_956_i64);
    assert_eq!(spot["bid"], serde_json::json!(["30228.6", "0.23393"]));
    assert_eq!(spot["ask"], serde_json::json!(["30228.7", "1.55896972"]));
    assert_eq!(spot["volume_24h"], "17602.13085371");
    assert_eq!(spot["quote_volume_24h"], "525802090.62716611");
    assert_eq!(spot["change_24h"], "535.6");
    // BTC-USD-220527 (inverse, 100 USD a contract): 4 contracts bid at
    // 30210.4 are 400 / 30210.4 BTC; volume is volCcy24h, in BTC.
    let future = tickers
        .iter()
        .find(|t| t["symbol"] == "BTC-USD-220527")
        .unwrap();
    assert_eq!(
        future["bid"],
        serde_json::json!(["30210.4", "0.013240473479"])
    );
    assert_eq!(future["volume_24h"], "2620.289");
    assert_eq!(future.get("quote_volume_24h"), None);
}

#[test]
fn deribit_options_capture() {
    let (stats, records) = replay(
        Venue::Deribit,
        &["deribit-options-2021-07-22.cryptofeed.txt"],
    );
    assert_eq!(stats.rejected, 0, "{:?}", stats.rejections);
    assert!(stats.unknown.is_empty(), "{:?}", stats.unknown);
    // 89 option tickers: open interest in the base currency.
    let oi = records
        .iter()
        .filter(|r| matches!(r, prism_sources::Record::OpenInterest { .. }))
        .count();
    assert_eq!(oi, 89);
}
