//! Normalizer throughput: ns per message, one trade message per venue (the
//! shape each venue sends), and the recorded captures replayed whole.
//!
//! Run: `cargo bench -p prism-venues --bench normalize`; `-- --smoke` runs it
//! small (CI does, so it never rots); `-- --only <text>` runs only the rows
//! whose name holds the text (to profile one venue).

use prism_venues::capture::{Format, Line, parse_line};
use prism_venues::{Contracts, FeedNormalizer, Venue};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

/// Messages per kind: 200 000, or 2 000 for a smoke run.
fn rounds() -> usize {
    if smoke() { 2_000 } else { 200_000 }
}

fn smoke() -> bool {
    std::env::args().any(|a| a == "--smoke")
}

/// Whether the row `name` runs: every row, or those `--only <text>` names.
fn chosen(name: &str) -> bool {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--only") {
        Some(at) => args
            .get(at + 1)
            .is_some_and(|only| name.contains(only.as_str())),
        None => true,
    }
}

fn per_message(venue: Venue, make: impl Fn(usize) -> String) -> (f64, usize) {
    let messages: Vec<String> = (0..rounds()).map(&make).collect();
    let mut best = f64::INFINITY;
    let mut records = 0;
    for _ in 0..3 {
        let mut n = FeedNormalizer::new(venue, Contracts::default());
        let mut out = Vec::with_capacity(8);
        records = 0;
        let started = Instant::now();
        for m in &messages {
            out.clear();
            n.push(black_box(m), Some(1_700_000_000_000), &mut out);
            records += out.len();
        }
        best = best.min(started.elapsed().as_nanos() as f64 / rounds() as f64);
    }
    (best, records)
}

fn capture(venue: Venue, file: &str) -> (f64, usize, usize) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/captures")
        .join(file);
    let text = std::fs::read_to_string(path).expect("tests/data holds the recordings");
    let frames: Vec<(Option<i64>, String)> = text
        .lines()
        .filter_map(|l| match parse_line(Format::Cryptofeed, l) {
            Line::Frame(f) => Some((f.received_ms, f.message)),
            _ => None,
        })
        .collect();
    let mut best = f64::INFINITY;
    let mut records = 0;
    for _ in 0..if smoke() { 1 } else { 20 } {
        let mut n = FeedNormalizer::new(venue, Contracts::default());
        let mut out = Vec::new();
        let started = Instant::now();
        for (ms, m) in &frames {
            n.push(m, *ms, &mut out);
        }
        records = out.len();
        best = best.min(started.elapsed().as_nanos() as f64 / frames.len() as f64);
    }
    (best, frames.len(), records)
}

/// A message kind: its name, venue, and the i-th message of it.
type Case = (&'static str, Venue, Box<dyn Fn(usize) -> String>);

fn main() {
    println!("| message | ns/message | records |");
    println!("|---|--:|--:|");
    let cases: Vec<Case> = vec![
        (
            "binance aggTrade (combined stream)",
            Venue::Binance,
            Box::new(|i| {
                format!(
                    r#"{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{t},"a":{i},"s":"BTCUSDT","p":"37000.{d}","q":"0.2{d}","f":100,"l":105,"T":{t},"m":{m}}}}}"#,
                    t = 1_700_000_000_000u64 + i as u64,
                    d = i % 10,
                    m = i % 2 == 0
                )
            }),
        ),
        (
            "okx trades (linear swap)",
            Venue::Okx,
            Box::new(|i| {
                format!(
                    r#"{{"arg":{{"channel":"trades","instId":"BTC-USDT-SWAP"}},"data":[{{"instId":"BTC-USDT-SWAP","tradeId":"{i}","px":"37000.{d}","sz":"{s}","side":"buy","ts":"{t}","count":"1"}}]}}"#,
                    t = 1_700_000_000_000u64 + i as u64,
                    d = i % 10,
                    s = 1 + i % 7
                )
            }),
        ),
        (
            "hyperliquid trades (with users)",
            Venue::Hyperliquid,
            Box::new(|i| {
                format!(
                    r#"{{"channel":"trades","data":[{{"coin":"BTC","side":"B","px":"69997.{d}","sz":"0.0{s}","time":{t},"hash":"0x40d169aa50ad8a32b44a04156eee0201d8002e5c6456b7c1ae175e381f73f9dd","tid":{i},"users":["0xaaaa","0xbbbb"]}}]}}"#,
                    t = 1_700_000_000_000u64 + i as u64,
                    d = i % 10,
                    s = 1 + i % 9
                )
            }),
        ),
        (
            "deribit trades (inverse perpetual)",
            Venue::Deribit,
            Box::new(|i| {
                format!(
                    r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.BTC-PERPETUAL.100ms","data":[{{"trade_seq":{i},"trade_id":"{i}","timestamp":{t},"tick_direction":2,"price":9598.5,"instrument_name":"BTC-PERPETUAL","index_price":9600.8,"direction":"sell","amount":{a}}}]}}}}"#,
                    t = 1_700_000_000_000u64 + i as u64,
                    a = 10 * (1 + i % 50)
                )
            }),
        ),
    ];
    for (name, venue, make) in cases.into_iter().filter(|c| chosen(c.0)) {
        let (ns, records) = per_message(venue, make);
        println!("| {name} | {ns:.0} | {records} |");
    }
    println!();
    println!("| capture | ns/frame | frames | records |");
    println!("|---|--:|--:|--:|");
    for (venue, file) in [
        (Venue::Binance, "binance-futures-2021-07-22.cryptofeed.txt"),
        (Venue::Okx, "okx-2022-05-13.cryptofeed.txt"),
        (Venue::Deribit, "deribit-options-2021-07-22.cryptofeed.txt"),
    ]
    .into_iter()
    .filter(|(_, file)| chosen(file))
    {
        let (ns, frames, records) = capture(venue, file);
        println!("| {file} | {ns:.0} | {frames} | {records} |");
    }
}
