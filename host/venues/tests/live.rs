//! Live feeds against a loopback exchange: subscriptions, heartbeats,
//! reconnects with resubscription, and books resynced after a sequence gap
//! or a disconnect, without losing or repeating book state.

use crossbeam_channel::{Receiver, unbounded};
use prism_loopback::{Loopback, Step};
use prism_sources::Record;
use prism_venues::book::{Book, BookSide};
use prism_venues::live::{Channels, FeedMetrics, FeedOutputs, FeedSettings, spawn_feed};
use prism_venues::{Contracts, Venue};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Running {
    records: Receiver<Vec<Record>>,
    metrics: Arc<FeedMetrics>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(settings: FeedSettings) -> Running {
    let (tx, rx) = unbounded();
    let metrics = Arc::new(FeedMetrics::default());
    let stop = Arc::new(AtomicBool::new(false));
    let thread = spawn_feed(
        settings,
        FeedOutputs {
            records: tx,
            frames: None,
        },
        metrics.clone(),
        stop.clone(),
    )
    .unwrap();
    Running {
        records: rx,
        metrics,
        stop,
        thread: Some(thread),
    }
}

impl Running {
    /// Collects records until `done` holds for them (or panics after 20 s).
    fn collect(&self, done: impl Fn(&[Record]) -> bool) -> Vec<Record> {
        let started = Instant::now();
        let mut all = Vec::new();
        while !done(&all) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out; got {all:#?}"
            );
            if let Ok(batch) = self.records.recv_timeout(Duration::from_millis(50)) {
                all.extend(batch);
            }
        }
        all
    }
}

fn settings(venue: Venue, server: &Loopback, symbols: &[&str]) -> FeedSettings {
    let mut s = FeedSettings::new(venue, symbols.iter().map(|s| (*s).to_owned()).collect());
    s.url = server.ws_url.clone();
    s.rest_url = server.rest_url.clone();
    s.backoff = Duration::from_millis(50);
    s.max_backoff = Duration::from_millis(200);
    s
}

fn agg_trade(ts: i64, qty: &str) -> String {
    format!(
        r#"{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{ts},"s":"BTCUSDT","p":"100","q":"{qty}","T":{ts},"m":false}}}}"#
    )
}

fn depth(first: u64, last: u64, prev: u64, bid: (&str, &str)) -> String {
    format!(
        r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":{first},"u":{last},"pu":{prev},"b":[["{}","{}"]],"a":[]}}}}"#,
        bid.0, bid.1
    )
}

fn snapshot(id: u64, bid: &str) -> String {
    format!(r#"{{"lastUpdateId":{id},"bids":[["{bid}","1"]],"asks":[["200","1"]]}}"#)
}

fn trades(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Trade { size, .. } => Some(size.0.clone()),
            _ => None,
        })
        .collect()
}

/// The book the records describe: snapshots replace, deltas update.
fn rebuild(records: &[Record]) -> Vec<(String, String)> {
    let mut book = Book::default();
    for r in records {
        if let Record::Book {
            snapshot,
            bids,
            asks,
            ..
        } = r
        {
            if *snapshot {
                book.clear();
            }
            for (p, s) in bids {
                book.set(BookSide::Bid, &p.0, &s.0).unwrap();
            }
            for (p, s) in asks {
                book.set(BookSide::Ask, &p.0, &s.0).unwrap();
            }
        }
    }
    book.bids()
        .chain(book.asks())
        .map(|l| (l.price.clone(), l.size.clone()))
        .collect()
}

#[test]
fn binance_resyncs_after_a_gap_and_after_a_disconnect() {
    let server = Loopback::start(vec![
        vec![
            Step::Expect("SUBSCRIBE".into()),
            Step::Send(agg_trade(1, "1")),
            Step::Send(depth(95, 105, 90, ("99", "2"))),
            Step::Send(depth(106, 110, 105, ("98", "3"))),
            // pu 115 is not 110: a gap. The feed fetches a new snapshot (130).
            Step::Send(depth(120, 125, 115, ("97", "4"))),
            Step::Sleep(Duration::from_millis(300)),
            Step::Send(depth(126, 135, 125, ("96", "5"))),
            Step::Send(agg_trade(2, "2")),
            Step::Drop,
        ],
        vec![
            // Resubscribed; a fresh snapshot (200) after the reconnect.
            Step::Expect("SUBSCRIBE".into()),
            Step::Sleep(Duration::from_millis(300)),
            Step::Send(depth(199, 205, 190, ("95", "6"))),
            Step::Send(agg_trade(3, "3")),
        ],
    ]);
    server.rest(
        "/fapi/v1/depth?symbol=BTCUSDT&limit=1000",
        vec![
            snapshot(100, "90"),
            snapshot(130, "91"),
            snapshot(200, "92"),
        ],
    );
    let mut s = settings(Venue::Binance, &server, &["BTCUSDT"]);
    s.channels = Channels {
        trades: true,
        book: true,
        liquidations: false,
        funding: false,
        open_interest: false,
        tickers: false,
    };
    let feed = start(s);
    let records = feed.collect(|r| trades(r).len() == 3);
    assert_eq!(trades(&records), ["1", "2", "3"], "every trade once");
    let books: Vec<(bool, Vec<String>)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Book { snapshot, bids, .. } => {
                Some((*snapshot, bids.iter().map(|(p, _)| p.0.clone()).collect()))
            }
            _ => None,
        })
        .collect();
    let expect = |snap: bool, bid: &str| (snap, vec![bid.to_owned()]);
    assert_eq!(
        books,
        [
            expect(true, "90"),
            expect(false, "99"),
            expect(false, "98"),
            expect(true, "91"),
            expect(false, "96"),
            expect(true, "92"),
            expect(false, "95"),
        ]
    );
    // After the reconnect: the 200 snapshot and the one diff after it.
    let last_snapshot = records
        .iter()
        .rposition(|r| matches!(r, Record::Book { snapshot: true, .. }))
        .unwrap();
    assert_eq!(
        rebuild(&records[last_snapshot..]),
        [
            ("95".into(), "6".into()),
            ("92".into(), "1".into()),
            ("200".into(), "1".into())
        ]
    );
    let m = &feed.metrics;
    assert_eq!(m.book_gaps.load(Ordering::Relaxed), 1);
    assert_eq!(m.connects.load(Ordering::Relaxed), 2);
    assert!(m.reconnects.load(Ordering::Relaxed) >= 1);
    assert_eq!(server.rest_calls().len(), 3, "{:?}", server.rest_calls());
    let subscriptions: Vec<usize> = server
        .received()
        .iter()
        .filter(|(_, t)| t.contains("btcusdt@depth@100ms") && t.contains("btcusdt@aggTrade"))
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(subscriptions, [0, 1], "subscribed on each connection");
}

fn okx_book(
    action: &str,
    prev: i64,
    seq: i64,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
    book: &mut Book,
) -> String {
    if action == "snapshot" {
        book.clear();
    }
    for (p, s) in bids {
        book.set(BookSide::Bid, p, s).unwrap();
    }
    for (p, s) in asks {
        book.set(BookSide::Ask, p, s).unwrap();
    }
    let levels = |l: &[(&str, &str)]| {
        l.iter()
            .map(|(p, s)| format!(r#"["{p}","{s}","0","1"]"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"{action}","data":[{{"asks":[{}],"bids":[{}],"ts":"5","checksum":{},"prevSeqId":{prev},"seqId":{seq}}}]}}"#,
        levels(asks),
        levels(bids),
        book.okx_checksum()
    )
}

#[test]
fn okx_heartbeats_and_resubscribes_a_book_that_skipped_a_sequence() {
    let mut truth = Book::default();
    let snap = okx_book(
        "snapshot",
        -1,
        10,
        &[("100", "1")],
        &[("101", "2")],
        &mut truth,
    );
    let update = okx_book("update", 10, 11, &[("100", "3")], &[], &mut truth);
    let gapped = okx_book("update", 99, 100, &[("99", "1")], &[], &mut truth);
    let mut fresh = Book::default();
    let resnap = okx_book(
        "snapshot",
        -1,
        200,
        &[("100", "7")],
        &[("101", "8")],
        &mut fresh,
    );
    let trade = r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"1","px":"100.5","sz":"0.1","side":"buy","ts":"9"}]}"#;
    let server = Loopback::start(vec![vec![
        Step::Expect("subscribe".into()),
        Step::Send(snap),
        Step::Send(update),
        Step::Send(gapped),
        Step::Expect("unsubscribe".into()),
        Step::Send(resnap),
        Step::Expect("ping".into()),
        Step::Send(trade.into()),
    ]]);
    server.reply("ping", "pong");
    let mut s = settings(Venue::Okx, &server, &["BTC-USDT"]);
    s.heartbeat = Duration::from_millis(300);
    let feed = start(s);
    let records = feed.collect(|r| !trades(r).is_empty());
    let books: Vec<bool> = records
        .iter()
        .filter_map(|r| match r {
            Record::Book { snapshot, .. } => Some(*snapshot),
            _ => None,
        })
        .collect();
    assert_eq!(
        books,
        [true, false, true],
        "the gapped update is dropped; a new snapshot follows"
    );
    assert_eq!(
        rebuild(&records),
        [("100".into(), "7".into()), ("101".into(), "8".into())]
    );
    assert_eq!(feed.metrics.book_gaps.load(Ordering::Relaxed), 1);
    assert_eq!(feed.metrics.checksum_mismatches.load(Ordering::Relaxed), 0);
    let sent: Vec<String> = server.received().into_iter().map(|(_, t)| t).collect();
    assert!(sent.iter().any(|t| t == "ping"), "{sent:?}");
    assert!(
        sent.iter()
            .any(|t| t.contains("\"unsubscribe\"") && t.contains("books")),
        "{sent:?}"
    );
}

fn sample(file: &str, line: usize) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/messages")
        .join(file);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .nth(line - 1)
        .unwrap()
        .to_owned()
}

#[test]
fn every_venue_subscribes_and_normalizes_its_recorded_messages_live() {
    let cases: [(Venue, &str, &str, &str, usize, usize); 6] = [
        (
            Venue::Binance,
            "BTCUSDT",
            "btcusdt@aggTrade",
            "binance-futures.jsonl",
            1,
            1,
        ),
        (
            Venue::Okx,
            "BTC-USD",
            r#""instId":"BTC-USD""#,
            "okx.jsonl",
            6,
            1,
        ),
        (
            Venue::Hyperliquid,
            "BTC",
            r#""coin":"BTC""#,
            "hyperliquid.jsonl",
            3,
            3,
        ),
        (
            Venue::Deribit,
            "BTC-PERPETUAL",
            "trades.BTC-PERPETUAL.100ms",
            "deribit.jsonl",
            1,
            2,
        ),
        (
            Venue::Bybit,
            "PIPPINUSDT",
            "allLiquidation.PIPPINUSDT",
            "bybit.jsonl",
            1,
            1,
        ),
        (
            Venue::Lighter,
            "BTC",
            "trade/1",
            "lighter-trades.jsonl",
            2,
            1,
        ),
    ];
    for (venue, symbol, subscription, file, line, expected) in cases {
        let mut script = vec![Step::Expect(subscription.into())];
        if venue == Venue::Deribit {
            script.push(Step::Send(
                r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#.into(),
            ));
            script.push(Step::Expect("public/test".into()));
        }
        script.push(Step::Send(sample(file, line)));
        let server = Loopback::start(vec![script]);
        let mut s = settings(venue, &server, &[symbol]);
        s.channels = Channels {
            book: false,
            open_interest: false,
            ..Channels::ALL
        };
        s.contracts = Contracts::default();
        let feed = start(s);
        let records = feed.collect(|r| r.len() >= expected);
        assert_eq!(records.len(), expected, "{venue}: {records:?}");
        assert!(
            records.iter().all(|r| r.symbol() == symbol),
            "{venue}: {records:?}"
        );
        assert_eq!(feed.metrics.connects.load(Ordering::Relaxed), 1, "{venue}");
        assert!(feed.metrics.latency_count.load(Ordering::Relaxed) >= 1);
    }
}

/// Line `line` of one of the exchanges' documented examples.
fn doc_sample(file: &str, line: usize) -> String {
    sample(&format!("../docs/{file}"), line)
}

/// Candles and tickers asked for in the settings are subscribed under each
/// venue's own names, and what comes back is normalized.
#[test]
fn every_venue_subscribes_its_candles_and_tickers_live() {
    let one = |t: &str| vec![t.parse::<prism_model::CandleInterval>().unwrap()];
    let cases = [
        (
            Venue::Binance,
            "BTCUSDT",
            one("1m"),
            "btcusdt@kline_1m",
            sample("binance-futures.jsonl", 14),
            "ticker",
        ),
        (
            Venue::Binance,
            "BTCUSDT",
            one("1m"),
            "btcusdt@bookTicker",
            sample("binance-futures.jsonl", 14),
            "ticker",
        ),
        (
            Venue::Okx,
            "BTC-USDT",
            one("1d"),
            r#""channel":"candle1Dutc""#,
            doc_sample("okx.jsonl", 1),
            "candle",
        ),
        (
            Venue::Okx,
            "BTC-USDT",
            one("1d"),
            r#""channel":"tickers""#,
            doc_sample("okx.jsonl", 3),
            "ticker",
        ),
        (
            Venue::Hyperliquid,
            "BTC",
            one("15m"),
            r#""interval":"15m""#,
            sample("hyperliquid.jsonl", 10),
            "ticker",
        ),
        (
            Venue::Deribit,
            "BTC-PERPETUAL",
            one("1m"),
            "chart.trades.BTC-PERPETUAL.1",
            doc_sample("deribit.jsonl", 1),
            "candle",
        ),
        (
            Venue::Bybit,
            "BTCUSDT",
            one("5m"),
            "kline.5.BTCUSDT",
            doc_sample("bybit.jsonl", 1),
            "candle",
        ),
        (
            Venue::Bybit,
            "BTCUSDT",
            one("5m"),
            "tickers.BTCUSDT",
            doc_sample("bybit.jsonl", 2),
            "ticker",
        ),
    ];
    for (venue, symbol, candles, subscription, message, kind) in cases {
        let mut script = vec![Step::Expect(subscription.into())];
        if venue == Venue::Deribit {
            script.push(Step::Send(
                r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#.into(),
            ));
            script.push(Step::Expect("public/test".into()));
        }
        script.push(Step::Send(message));
        let server = Loopback::start(vec![script]);
        let mut s = settings(venue, &server, &[symbol]);
        s.channels = Channels {
            tickers: true,
            ..Channels::default()
        };
        s.candles = candles;
        let feed = start(s);
        let records = feed.collect(|r| !r.is_empty());
        let got = serde_json::to_value(&records[0]).unwrap();
        assert_eq!(got["type"], kind, "{venue}: {got}");
        assert_eq!(got["symbol"], symbol, "{venue}: {got}");
    }
}
