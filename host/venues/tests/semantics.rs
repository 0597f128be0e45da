//! The venues' documented semantics, message by message, with values
//! worked out by hand.

use prism_sources::Record;
use prism_venues::{Contract, Contracts, FeedNormalizer, Outcome, Venue};
use serde_json::{Value, json};

fn run(venue: Venue, contracts: Contracts, messages: &[&str]) -> (FeedNormalizer, Vec<Value>) {
    let mut n = FeedNormalizer::new(venue, contracts);
    let mut out = Vec::new();
    for m in messages {
        n.push(m, Some(1_000), &mut out);
    }
    let json = out
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    (n, json)
}

#[test]
fn binance_depth_follows_the_sequence_and_asks_for_a_snapshot_after_a_gap() {
    let depth = |first: u64, last: u64, prev: u64| {
        format!(
            r#"{{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":{first},"u":{last},"pu":{prev},"b":[["100","1"]],"a":[]}}"#
        )
    };
    let snapshot = r#"{"stream":"btcusdt@depthSnapshot","data":{"lastUpdateId":100,"bids":[["99","2"]],"asks":[["101","3"]]}}"#;
    let mut n = FeedNormalizer::new(Venue::Binance, Contracts::default());
    let mut out = Vec::new();
    let mut push = |n: &mut FeedNormalizer, m: &str| {
        let before = out.len();
        n.push(m, Some(5), &mut out);
        out.len() - before
    };
    assert_eq!(push(&mut n, &depth(90, 95, 80)), 0, "before any snapshot");
    assert_eq!(push(&mut n, snapshot), 1);
    assert_eq!(
        push(&mut n, &depth(90, 99, 85)),
        0,
        "older than the snapshot"
    );
    assert_eq!(
        push(&mut n, &depth(95, 105, 90)),
        1,
        "U <= 100 <= u: the first to apply"
    );
    assert_eq!(push(&mut n, &depth(106, 110, 105)), 1, "pu is the last u");
    assert_eq!(
        push(&mut n, &depth(120, 125, 115)),
        0,
        "pu 115 != 110: a gap"
    );
    assert_eq!(n.take_resync(), ["BTCUSDT"]);
    assert_eq!(
        push(&mut n, &depth(126, 130, 125)),
        0,
        "out of sync until a snapshot"
    );
    assert_eq!(push(&mut n, snapshot), 1);
    let s = n.stats();
    assert_eq!((s.book_unsynced, s.book_stale, s.book_gaps), (2, 1, 1));
    assert!(matches!(&out[0], Record::Book { snapshot: true, .. }));
}

#[test]
fn liquidated_sides_follow_each_venue_s_convention() {
    // Binance: the order side; SELL closes a long.
    let (_, b) = run(
        Venue::Binance,
        Contracts::default(),
        &[
            r#"{"e":"forceOrder","E":1,"o":{"s":"ETHUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"2","p":"1900","ap":"1901.5","X":"FILLED","l":"1","z":"1.5","T":7}}"#,
        ],
    );
    assert_eq!(b[0]["position"], "long");
    assert_eq!(
        (b[0]["price"].as_str(), b[0]["size"].as_str()),
        (Some("1901.5"), Some("1.5"))
    );
    // Bybit: S is the position's side; Buy = a long was liquidated.
    let (_, y) = run(
        Venue::Bybit,
        Contracts::default(),
        &[
            r#"{"topic":"allLiquidation.BTCUSDT","ts":1,"data":[{"T":5,"s":"BTCUSDT","S":"Buy","v":"0.5","p":"60000"}]}"#,
        ],
    );
    assert_eq!(y[0]["position"], "long");
    // Deribit MT: both the maker's and the taker's positions. The taker
    // sold (closing a long); the maker bought (closing a short). Amount 6000
    // USD of an inverse perpetual at 60000: 0.1 BTC.
    let (_, d) = run(
        Venue::Deribit,
        Contracts::default(),
        &[
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.raw","data":[{"timestamp":9,"price":60000.0,"amount":6000,"direction":"sell","instrument_name":"BTC-PERPETUAL","liquidation":"MT"}]}}"#,
        ],
    );
    let kinds: Vec<(&str, &str)> = d
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap(),
                r["position"].as_str().or(r["side"].as_str()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("trade", "sell"),
            ("liquidation", "short"),
            ("liquidation", "long")
        ]
    );
    assert!(d.iter().all(|r| r["size"] == "0.1"));
    // OKX net mode: a buy liquidation order closes a short.
    let (_, o) = run(
        Venue::Okx,
        Contracts::default(),
        &[
            r#"{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"instId":"BTC-USDT-SWAP","instType":"SWAP","details":[{"bkPx":"60000","posSide":"net","side":"buy","sz":"25","ts":"3"}]}]}"#,
        ],
    );
    // 25 contracts × 0.01 BTC.
    assert_eq!(
        o[0],
        json!({"type": "liquidation", "exchange": "okx", "symbol": "BTC-USDT-SWAP", "ts": 3,
        "received_ts": 1000, "price": "60000", "size": "0.25", "position": "short"})
    );
}

#[test]
fn contract_values_come_from_config_and_unknown_ones_are_refused_by_name() {
    let trade = r#"{"arg":{"channel":"trades","instId":"PEPE-USDT-SWAP"},"data":[{"instId":"PEPE-USDT-SWAP","tradeId":"1","px":"0.00001","sz":"3","side":"sell","ts":"2"}]}"#;
    let mut n = FeedNormalizer::new(Venue::Okx, Contracts::default());
    let mut out = Vec::new();
    let o = n.push(trade, None, &mut out);
    let Outcome::Rejected(reason) = o else {
        panic!("{o:?}")
    };
    assert!(
        reason.contains("PEPE-USDT-SWAP") && reason.contains("contract value"),
        "{reason}"
    );
    let mut contracts = Contracts::default();
    contracts.set(
        "okx",
        "PEPE-USDT-SWAP",
        Contract {
            value: "10000000".parse().unwrap(),
            inverse: false,
        },
    );
    let (_, r) = run(Venue::Okx, contracts, &[trade]);
    assert_eq!(r[0]["size"], "30000000");
    assert_eq!(r[0]["side"], "sell");
}

#[test]
fn values_that_are_not_exact_are_refused_and_counted() {
    let (n, out) = run(
        Venue::Binance,
        Contracts::default(),
        &[
            r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"1.0000000000000000000000000000001","q":"1","T":1,"m":true}"#,
            r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"99999999999999999999","q":"1","T":1,"m":true}"#,
            r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"NaN","q":"1","T":1,"m":true}"#,
            r#"{"e":"somethingNew","E":1}"#,
        ],
    );
    assert!(out.is_empty());
    let s = n.stats();
    assert_eq!(s.rejected, 3);
    assert!(
        s.rejections.iter().all(|r| r.contains("`p`")),
        "{:?}",
        s.rejections
    );
    assert_eq!(s.unknown["somethingNew"], 1);
}
