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
    assert!(stats.unsupported["bookTicker"] == 613 && stats.unsupported["kline"] == 67);
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
    // Tickers have no Prism event; the other 18 lines naming them are subscriptions.
    assert_eq!(stats.unsupported["tickers"], 28);
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
