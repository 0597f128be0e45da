//! Every message in `tests/data/messages/` (copies of `shared/data/`) through its venue's normalizer,
//! compared with the expected records in `tests/golden/`, which were checked
//! by hand against the exchanges' documented semantics (see
//! `tests/data/README.md`). A line's receive time is taken as
//! `RECEIVED + line number`, for messages that carry no time of their own.
//!
//! After a deliberate change, rewrite the expectations with
//! `PRISM_BLESS=1 cargo test -p prism-venues --test golden` and review the diff.

use prism_venues::{Contracts, FeedNormalizer, Outcome, Venue};
use serde_json::{Value, json};
use std::path::PathBuf;

const RECEIVED: i64 = 1_800_000_000_000;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name)
}

fn outcome(o: &Outcome) -> Value {
    match o {
        Outcome::Records(n) => json!({"records": n}),
        Outcome::Control => json!("control"),
        Outcome::Unsupported(t) => json!({"unsupported": t}),
        Outcome::Unknown(t) => json!({"unknown": t}),
        Outcome::Rejected(r) => json!({"rejected": r}),
    }
}

fn check(venue: Venue, file: &str) {
    check_in(venue, "messages", file, file);
}

fn check_in(venue: Venue, folder: &str, file: &str, golden: &str) {
    let path = data(&format!("{folder}/{file}"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        panic!(
            "{} is missing: tests/data holds the recordings",
            path.display()
        );
    };
    let mut n = FeedNormalizer::new(venue, Contracts::default());
    let mut got = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut records = Vec::new();
        let o = n.push(line, Some(RECEIVED + i as i64 + 1), &mut records);
        got.push(json!({"line": i + 1, "outcome": outcome(&o), "records": records}));
    }
    let got_text: String = got.iter().map(|v| format!("{v}\n")).collect();
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{golden}"));
    if std::env::var_os("PRISM_BLESS").is_some() {
        std::fs::write(&golden, &got_text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    for (g, e) in got_text.lines().zip(expected.lines()) {
        assert_eq!(g, e, "{file}");
    }
    assert_eq!(got_text.lines().count(), expected.lines().count(), "{file}");
    assert_eq!(n.stats().messages as usize, text.lines().count());
}

#[test]
fn binance() {
    check(Venue::Binance, "binance-futures.jsonl");
}

#[test]
fn okx() {
    check(Venue::Okx, "okx.jsonl");
}

#[test]
fn hyperliquid() {
    check(Venue::Hyperliquid, "hyperliquid.jsonl");
}

#[test]
fn deribit() {
    check(Venue::Deribit, "deribit.jsonl");
}

#[test]
fn bybit() {
    check(Venue::Bybit, "bybit.jsonl");
}

#[test]
fn lighter() {
    check(Venue::Lighter, "lighter-trades.jsonl");
    check(Venue::Lighter, "lighter-stats.jsonl");
}

/// The exchanges' documented candle and ticker examples (`tests/data/docs/`).
#[test]
fn documented_candles_and_tickers() {
    check_in(Venue::Okx, "docs", "okx.jsonl", "docs-okx.jsonl");
    check_in(Venue::Bybit, "docs", "bybit.jsonl", "docs-bybit.jsonl");
    check_in(
        Venue::Deribit,
        "docs",
        "deribit.jsonl",
        "docs-deribit.jsonl",
    );
}
