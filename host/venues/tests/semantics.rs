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
    let snapshot = |id: u64| {
        format!(
            r#"{{"stream":"btcusdt@depthSnapshot","data":{{"lastUpdateId":{id},"bids":[["99","2"]],"asks":[["101","3"]]}}}}"#
        )
    };
    let mut n = FeedNormalizer::new(Venue::Binance, Contracts::default());
    let mut out = Vec::new();
    let mut push = |n: &mut FeedNormalizer, m: &str| {
        let before = out.len();
        n.push(m, Some(5), &mut out);
        out.len() - before
    };
    assert_eq!(
        push(&mut n, &depth(90, 95, 80)),
        0,
        "before any snapshot: held"
    );
    assert_eq!(n.stats().book_waiting, 1);
    assert_eq!(
        push(&mut n, &snapshot(100)),
        1,
        "the snapshot; the held diff (u 95 < 100) is stale"
    );
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
        "held until a snapshot"
    );
    assert_eq!(
        push(&mut n, &snapshot(127)),
        2,
        "the snapshot, then the held diff straddling 127; 120..125 is stale"
    );
    assert_eq!(push(&mut n, &depth(131, 133, 130)), 1, "in sequence again");
    let s = n.stats();
    assert_eq!(
        (s.book_unsynced, s.book_stale, s.book_gaps, s.book_waiting),
        (0, 3, 1, 0)
    );
    assert!(matches!(&out[0], Record::Book { snapshot: true, .. }));
}

/// Binance's procedure buffers the diff stream before it fetches the
/// snapshot: a diff received before the snapshot whose range straddles the
/// snapshot's id is the first to apply, and the next one follows it.
#[test]
fn binance_depth_applies_a_diff_received_before_the_snapshot_that_straddles_it() {
    let mut n = FeedNormalizer::new(Venue::Binance, Contracts::default());
    let mut out = Vec::new();
    for m in [
        r#"{"e":"depthUpdate","E":10,"T":9,"s":"BTCUSDT","U":95,"u":105,"pu":94,"b":[["99","0"],["98","4"]],"a":[["101","2"]]}"#,
        r#"{"stream":"btcusdt@depthSnapshot","data":{"lastUpdateId":100,"T":8,"bids":[["99","2"]],"asks":[["101","3"]]}}"#,
        r#"{"e":"depthUpdate","E":20,"T":19,"s":"BTCUSDT","U":106,"u":108,"pu":105,"b":[],"a":[["102","1"]]}"#,
    ] {
        n.push(m, Some(5), &mut out);
    }
    let s = n.stats();
    assert_eq!(
        (s.book_gaps, s.book_unsynced, s.book_stale, s.book_waiting),
        (0, 0, 0, 0)
    );
    // The book built from the records, by hand: bids {98: 4}, asks {101: 2, 102: 1}.
    let mut bids = std::collections::BTreeMap::new();
    let mut asks = std::collections::BTreeMap::new();
    for r in &out {
        let Record::Book {
            snapshot,
            bids: b,
            asks: a,
            ..
        } = r
        else {
            panic!("{r:?}")
        };
        if *snapshot {
            bids.clear();
            asks.clear();
        }
        for (side, levels) in [(&mut bids, b), (&mut asks, a)] {
            for (price, size) in levels {
                if size.0 == "0" {
                    side.remove(price.0.as_str());
                } else {
                    side.insert(price.0.clone(), size.0.clone());
                }
            }
        }
    }
    assert_eq!(out.len(), 3, "snapshot and both diffs");
    assert_eq!(bids, [("98".to_owned(), "4".to_owned())].into());
    assert_eq!(
        asks,
        [
            ("101".to_owned(), "2".to_owned()),
            ("102".to_owned(), "1".to_owned())
        ]
        .into()
    );
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

/// Deribit sends prices and amounts as JSON numbers: they are read as the
/// venue printed them, digit for digit, not through a float (a float keeps
/// 17 significant digits: 0.123456789012345678 would come out as
/// 0.12345678901234568). An option's amount is in the coin already; a
/// perpetual's is USD over the price: 10 / 9598.5 = 0.0010418294525186…,
/// 0.001041829453 at 12 places (half-even); 10 / 0.01 = 1000. A value that
/// is no number is refused by name.
#[test]
fn deribit_numbers_are_read_as_printed() {
    let trade = |instrument: &str, price: &str, amount: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.{instrument}.raw","data":[{{"trade_seq":1,"trade_id":"1","timestamp":7,"tick_direction":2,"price":{price},"instrument_name":"{instrument}","index_price":9600.8,"direction":"buy","amount":{amount}}}]}}}}"#
        )
    };
    let (n, out) = run(
        Venue::Deribit,
        Contracts::default(),
        &[
            &trade("BTC-24SEP21-8000-P", "0.123456789012345678", "1.50"),
            &trade("BTC-PERPETUAL", "9598.5", "10"),
            &trade("BTC-PERPETUAL", "1e-2", "1E+1"),
            &trade("BTC-PERPETUAL", r#""9598.5""#, "10"),
        ],
    );
    let got: Vec<(&str, &str)> = out
        .iter()
        .map(|r| (r["price"].as_str().unwrap(), r["size"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("0.123456789012345678", "1.5"),
            ("9598.5", "0.001041829453"),
            ("0.01", "1000"),
        ]
    );
    assert_eq!(n.stats().rejected, 1);
    assert!(
        n.stats().rejections[0].contains("`price`"),
        "{:?}",
        n.stats().rejections
    );
}

/// Bybit's inverse contracts are 1 USD each (Bybit v5 docs, instruments
/// info: `contractType: InversePerpetual`), so a size in contracts is USD:
/// 5823 USD at 28560.5 is 5823 / 28560.5 = 0.203882985242 BTC (12 places,
/// half-even). Linear symbols are in base units already.
#[test]
fn bybit_inverse_sizes_are_usd_over_the_price() {
    let (n, out) = run(
        Venue::Bybit,
        Contracts::default(),
        &[
            r#"{"topic":"publicTrade.BTCUSD","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSD","S":"Buy","v":"5823","p":"28560.5","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}"#,
            r#"{"topic":"allLiquidation.ETHUSDH25","type":"snapshot","ts":1739502303204,"data":[{"T":1739502302929,"s":"ETHUSDH25","S":"Sell","v":"1000","p":"2500"}]}"#,
            r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Sell","v":"0.001","p":"16578.50","L":"PlusTick","i":"x","BT":false}]}"#,
        ],
    );
    assert_eq!(n.stats().rejected, 0, "{:?}", n.stats().rejections);
    assert_eq!(out[0]["size"], "0.203882985242");
    assert_eq!(out[0]["price"], "28560.5");
    assert_eq!(out[0]["side"], "buy");
    // 1000 USD / 2500 = 0.4 ETH; `Sell` = a short was liquidated.
    assert_eq!(out[1]["size"], "0.4");
    assert_eq!(out[1]["position"], "short");
    assert_eq!(out[2]["size"], "0.001");
}

/// The older `liquidation.{symbol}` topic carries one object, its side the
/// liquidated position's (Bybit v5 docs: "When you receive a Buy update,
/// this means that a long position has been liquidated").
#[test]
fn bybit_single_liquidation_topic() {
    let (n, out) = run(
        Venue::Bybit,
        Contracts::default(),
        &[
            r#"{"data":{"price":"0.03803","side":"Buy","size":"1637","symbol":"GALAUSDT","updatedTime":1673251091822},"topic":"liquidation.GALAUSDT","ts":1673251091822,"type":"snapshot"}"#,
            r#"{"data":{"price":"20000","side":"Sell","size":"500","symbol":"BTCUSD","updatedTime":1673251091900},"topic":"liquidation.BTCUSD","ts":1673251091900,"type":"snapshot"}"#,
        ],
    );
    assert_eq!(n.stats().rejected, 0, "{:?}", n.stats().rejections);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["type"], "liquidation");
    assert_eq!(out[0]["symbol"], "GALAUSDT");
    assert_eq!(out[0]["position"], "long");
    assert_eq!(out[0]["size"], "1637");
    assert_eq!(out[0]["price"], "0.03803");
    assert_eq!(out[0]["ts"], 1673251091822_i64);
    // Inverse: 500 USD / 20000 = 0.025 BTC.
    assert_eq!(out[1]["position"], "short");
    assert_eq!(out[1]["size"], "0.025");
}

/// Trades are read in one pass when the channel comes before the data (as
/// OKX, Hyperliquid and Deribit send them); in any other order, or when
/// something is wrong, a message reads as it always did: the same records,
/// the same refusals naming the part. Each case: the venue, its message
/// around a data value (channel first, or data first), the data, the data
/// with the price missing and that field's name, and the record. OKX's
/// BTC-USDT-SWAP is 0.01 BTC a contract (OKX `ctVal`): 3 contracts are
/// 0.03 BTC; a Deribit option's amount is in the coin.
#[test]
fn trades_read_the_same_whatever_the_order_and_refusals_name_the_part() {
    type Wrap = fn(bool, &str) -> String;
    let okx: Wrap = |data_first, data| {
        let arg = r#""arg":{"channel":"trades","instId":"BTC-USDT-SWAP"}"#;
        if data_first {
            format!(r#"{{"data":{data},{arg}}}"#)
        } else {
            format!(r#"{{{arg},"data":{data}}}"#)
        }
    };
    let hyperliquid: Wrap = |data_first, data| {
        if data_first {
            format!(r#"{{"data":{data},"channel":"trades"}}"#)
        } else {
            format!(r#"{{"channel":"trades","data":{data}}}"#)
        }
    };
    let deribit: Wrap = |data_first, data| {
        let channel = r#""channel":"trades.BTC-24SEP21-8000-P.raw""#;
        let params = if data_first {
            format!(r#"{{"data":{data},{channel}}}"#)
        } else {
            format!(r#"{{{channel},"data":{data}}}"#)
        };
        format!(r#"{{"jsonrpc":"2.0","method":"subscription","params":{params}}}"#)
    };
    let cases = [
        (
            Venue::Okx,
            okx,
            r#"[{"instId":"BTC-USDT-SWAP","tradeId":"1","px":"37000.10","sz":"3","side":"sell","ts":"1700000000000"}]"#,
            r#"[{"instId":"BTC-USDT-SWAP"}]"#,
            "px",
            json!({"type": "trade", "exchange": "okx", "symbol": "BTC-USDT-SWAP",
                "ts": 1_700_000_000_000_i64, "received_ts": 1, "price": "37000.1",
                "size": "0.03", "side": "sell"}),
        ),
        (
            Venue::Hyperliquid,
            hyperliquid,
            r#"[{"coin":"BTC","side":"B","px":"69997.0","sz":"0.50","time":1700000000000,"hash":"0x1","tid":7}]"#,
            r#"[{"coin":"BTC","side":"B","sz":"0.5","time":1,"hash":"0x1","tid":8}]"#,
            "px",
            json!({"type": "trade", "exchange": "hyperliquid", "symbol": "BTC",
                "ts": 1_700_000_000_000_i64, "received_ts": 1, "price": "69997",
                "size": "0.5", "side": "buy"}),
        ),
        (
            Venue::Deribit,
            deribit,
            r#"[{"timestamp":1700000000000,"price":0.0150,"amount":2.0,"direction":"sell","instrument_name":"BTC-24SEP21-8000-P","trade_seq":1}]"#,
            r#"[{"timestamp":1,"amount":1,"direction":"buy","instrument_name":"BTC-PERPETUAL"}]"#,
            "price",
            json!({"type": "trade", "exchange": "deribit", "symbol": "BTC-24SEP21-8000-P",
                "ts": 1_700_000_000_000_i64, "received_ts": 1, "price": "0.015",
                "size": "2", "side": "sell"}),
        ),
    ];
    for (venue, wrap, data, bad_data, missing, expected) in cases {
        for data_first in [false, true] {
            // A fresh normalizer each time: Hyperliquid would count the
            // repeated trade as a duplicate.
            let mut n = FeedNormalizer::new(venue, Contracts::default());
            let mut out = Vec::new();
            let outcome = n.push(&wrap(data_first, data), Some(1), &mut out);
            assert_eq!(outcome, Outcome::Records(1), "{venue:?} {data_first}");
            assert_eq!(serde_json::to_value(&out[0]).unwrap(), expected);
        }
        let mut n = FeedNormalizer::new(venue, Contracts::default());
        let mut out = Vec::new();
        let mut refusal = |m: &str| match n.push(m, Some(1), &mut out) {
            Outcome::Rejected(reason) => reason,
            other => panic!("{venue:?} {m}: {other:?}"),
        };
        let reason = refusal(&wrap(false, bad_data));
        let want = format!("`trades`: missing field `{missing}`");
        assert!(reason.starts_with(&want), "{reason}");
        let reason = refusal(&wrap(false, &format!(r#"{data},"data":[]"#)));
        assert!(
            reason.starts_with("`message`: duplicate field `data`"),
            "{reason}"
        );
        let none = n.push(&wrap(false, "null"), Some(1), &mut out);
        assert!(matches!(none, Outcome::Unknown(_)), "{venue:?}: {none:?}");
        assert!(out.is_empty(), "{venue:?}: nothing made");
    }
}

/// OKX's first `liquidation-orders` push after a (re)subscription repeats
/// recent liquidations, which carry no id: the same liquidation twice is
/// kept once and counted as a duplicate; a different one still passes.
#[test]
fn okx_liquidations_repeated_after_a_reconnect_are_kept_once() {
    let first = r#"{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0","bkPx":"37000.5","ccy":"","posSide":"long","side":"sell","sz":"3","ts":"1700000000100"},{"bkLoss":"0","bkPx":"36990","ccy":"","posSide":"short","side":"buy","sz":"1","ts":"1700000000200"}],"instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT"}]}"#;
    // After the reconnect: the same two, then a new one.
    let again = r#"{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0","bkPx":"37000.5","ccy":"","posSide":"long","side":"sell","sz":"3","ts":"1700000000100"},{"bkLoss":"0","bkPx":"36990","ccy":"","posSide":"short","side":"buy","sz":"1","ts":"1700000000200"},{"bkLoss":"0","bkPx":"36980","ccy":"","posSide":"long","side":"sell","sz":"3","ts":"1700000000300"}],"instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT"}]}"#;
    let (n, out) = run(Venue::Okx, Contracts::default(), &[first, again]);
    assert_eq!(n.stats().duplicates, 2);
    let times: Vec<i64> = out.iter().map(|r| r["ts"].as_i64().unwrap()).collect();
    assert_eq!(times, [1700000000100, 1700000000200, 1700000000300]);
    // 3 contracts of 0.01 BTC.
    assert_eq!(out[0]["size"], "0.03");
}

/// Hyperliquid's `candle` channel (fields as its docs list them: `t` start,
/// `T` end, `s` coin, `i` interval, `o`/`c`/`h`/`l`, `v` in coins, `n`
/// trades) never says a candle closed: the first update of the next
/// interval closes the last value of the one before.
#[test]
fn hyperliquid_candles_close_when_the_next_interval_starts() {
    let candle = |t: i64, o: &str, c: &str, h: &str, l: &str, v: &str, n: u64| {
        format!(
            r#"{{"channel":"candle","data":{{"t":{t},"T":{},"s":"BTC","i":"1m","o":"{o}","c":"{c}","h":"{h}","l":"{l}","v":"{v}","n":{n}}}}}"#,
            t + 59_999
        )
    };
    let a1 = candle(
        1_700_000_040_000,
        "37000",
        "37010",
        "37010",
        "37000",
        "0.5",
        3,
    );
    let a2 = candle(
        1_700_000_040_000,
        "37000",
        "36990.5",
        "37010",
        "36990.5",
        "1.25",
        7,
    );
    let b1 = candle(
        1_700_000_100_000,
        "36990.5",
        "36991",
        "36991",
        "36990.5",
        "0.01",
        1,
    );
    let late = candle(1_700_000_040_000, "37000", "1", "37010", "1", "9", 9);
    let (_, out) = run(
        Venue::Hyperliquid,
        Contracts::default(),
        &[&a1, &a2, &b1, &late],
    );
    let view: Vec<(i64, bool, &str, &str)> = out
        .iter()
        .map(|c| {
            (
                c["open_ts"].as_i64().unwrap(),
                c["closed"].as_bool().unwrap(),
                c["close"].as_str().unwrap(),
                c["volume"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            (1_700_000_040_000, false, "37010", "0.5"),
            (1_700_000_040_000, false, "36990.5", "1.25"),
            // b1 closes a2's values, then is itself the open candle.
            (1_700_000_040_000, true, "36990.5", "1.25"),
            (1_700_000_100_000, false, "36991", "0.01"),
        ],
        "the late update of a closed interval is dropped"
    );
    assert_eq!(out[2]["trades"], 7);
    assert_eq!(out[2]["interval"], "1m");
}

/// Bybit's `tickers` pushes a snapshot, then deltas holding only what
/// changed: each ticker is the snapshot with every delta since applied.
#[test]
fn bybit_ticker_deltas_apply_to_the_last_snapshot() {
    let delta_first = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","lastPrice":"1"},"cs":1,"ts":1673272861000}"#;
    let snapshot = r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","price24hPcnt":"0.017103","lastPrice":"17216.00","prevPrice24h":"16926.50","markPrice":"17217.33","indexPrice":"17227.36","turnover24h":"1570383121.943499","volume24h":"91705.276","bid1Price":"17215.50","bid1Size":"84.489","ask1Price":"17216.00","ask1Size":"83.020"},"cs":24987956059,"ts":1673272861686}"#;
    let delta = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","lastPrice":"17220.5","bid1Price":"17220.00","bid1Size":"1.5"},"cs":24987956060,"ts":1673272861800}"#;
    let (n, out) = run(
        Venue::Bybit,
        Contracts::default(),
        &[delta_first, snapshot, delta],
    );
    assert_eq!(out.len(), 2, "a delta before any snapshot cannot be read");
    assert_eq!(n.stats().rejected, 0);
    let t = &out[1];
    assert_eq!(t["ts"], 1_673_272_861_800_i64);
    assert_eq!(t["last_price"], "17220.5");
    assert_eq!(t["bid"], json!(["17220", "1.5"]));
    // Unchanged by the delta: the ask and the marks.
    assert_eq!(t["ask"], json!(["17216", "83.02"]));
    assert_eq!(t["mark_price"], "17217.33");
    // 17220.5 − 16926.5, from the new last price and the kept reference.
    assert_eq!(t["change_24h"], "294");
}

/// Bybit inverse symbols count `volume` in USD contracts and `turnover` in
/// the coin: the coin is the base volume.
#[test]
fn bybit_inverse_klines_take_the_coin_volume() {
    let kline = r#"{"topic":"kline.1.BTCUSD","data":[{"start":1672324800000,"end":1672324859999,"interval":"1","open":"16649.5","close":"16677","high":"16677","low":"16608","volume":"50000","turnover":"3.00123","confirm":true,"timestamp":1672324860001}],"ts":1672324860001,"type":"snapshot"}"#;
    let (_, out) = run(Venue::Bybit, Contracts::default(), &[kline]);
    assert_eq!(out[0]["volume"], "3.00123");
    assert_eq!(out[0]["quote_volume"], "50000");
    assert_eq!(out[0]["closed"], true);
    assert_eq!(out[0]["interval"], "1m");
}

/// OKX derivatives' candles: `vol` is contracts, `volCcy` the base
/// currency; a channel of another kind of candle (mark price) is named.
#[test]
fn okx_derivative_candles_take_the_base_volume() {
    let candle = r#"{"arg":{"channel":"candle1H","instId":"BTC-USDT-SWAP"},"data":[["1597026000000","8533.02","8553.74","8527.17","8548.26","4524","45.24","386562.1","0"]]}"#;
    let mark = r#"{"arg":{"channel":"mark-price-candle1m","instId":"BTC-USDT-SWAP"},"data":[["1597026383085","3.721","3.743","3.677","3.708","0"]]}"#;
    let (n, out) = run(Venue::Okx, Contracts::default(), &[candle, mark]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["interval"], "1h");
    assert_eq!(out[0]["volume"], "45.24");
    assert_eq!(out[0]["quote_volume"], "386562.1");
    assert_eq!(out[0]["closed"], false);
    assert_eq!(n.stats().unsupported["mark-price-candle1m"], 1);
}
