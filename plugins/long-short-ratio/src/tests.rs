//! Values computed by hand from the definition in the crate docs.

use super::*;
use prism_sdk::testing::Harness;
use prism_sdk::{Output, Side};

fn series(out: &[Output]) -> Vec<(String, u32, i64, f64)> {
    out.iter()
        .map(|o| match o {
            Output::Series(s) => (s.name.clone(), s.instrument.unwrap(), s.ts, s.value),
            other => panic!("unexpected output {other:?}"),
        })
        .collect()
}

#[test]
fn taker_ratio_over_the_window_at_each_boundary() {
    let mut h =
        Harness::<LongShortRatio>::new(r#"{"window_ms": 120000, "step_ms": 60000}"#).unwrap();
    let btc = h.instrument("binance", "BTCUSDT");
    let events = vec![
        // Minute 0: buy 2×100 = 200, sell 1×100 = 100.
        h.trade(btc, 10_000, "100", "2", Side::Buy),
        h.trade(btc, 59_999, "100", "1", Side::Sell),
        // Minute 1: buy 0.5×110 = 55, sell 3×110 = 330.
        h.trade(btc, 60_000, "110", "0.5", Side::Buy),
        h.trade(btc, 61_000, "110", "3", Side::Sell),
        // Crosses 120 000: window [0, 120000): buy 255, sell 430.
        h.trade(btc, 125_000, "120", "1", Side::Buy),
        // Crosses 180 000: window [60000, 180000): buy 55 + 120 = 175, sell 330.
        h.trade(btc, 180_000, "120", "1", Side::Sell),
    ];
    let out = series(&h.push(events).unwrap());
    // Boundary 60 000 was crossed by the event at 60 000: window [-60000, 60000): 200/100.
    assert_eq!(
        out,
        vec![
            ("taker_long_short_ratio".into(), btc, 60_000, 2.0),
            ("taker_long_short_ratio".into(), btc, 120_000, 255.0 / 430.0),
            ("taker_long_short_ratio".into(), btc, 180_000, 175.0 / 330.0),
        ]
    );
}

#[test]
fn boundaries_skipped_by_a_gap_are_each_emitted_and_empty_windows_are_not() {
    let mut h =
        Harness::<LongShortRatio>::new(r#"{"window_ms": 120000, "step_ms": 60000}"#).unwrap();
    let btc = h.instrument("binance", "BTCUSDT");
    let events = vec![
        h.trade(btc, 1_000, "10", "1", Side::Buy),
        h.trade(btc, 2_000, "10", "4", Side::Sell),
        // Jumps over 60k, 120k, 180k, 240k: windows [-60k,60k) and [0,120k) hold
        // the trades (10/40); [60k,180k) and [120k,240k) have no sells: nothing.
        h.trade(btc, 250_000, "10", "1", Side::Sell),
    ];
    let out = series(&h.push(events).unwrap());
    let ts: Vec<i64> = out.iter().map(|s| s.2).collect();
    assert_eq!(ts, vec![60_000, 120_000]);
    assert!(out.iter().all(|s| (s.3 - 0.25).abs() < 1e-15));
}

#[test]
fn only_instruments_with_sells_emit_and_nothing_is_flushed_at_the_end() {
    let mut h = Harness::<LongShortRatio>::new("{}").unwrap();
    let btc = h.instrument("binance", "BTCUSDT");
    let eth = h.instrument("okx", "ETH-USDT-SWAP");
    let events = vec![
        h.trade(btc, 0, "37000.1", "0.25", Side::Buy),
        h.trade(btc, 1, "37000.1", "0.5", Side::Sell),
        h.trade(eth, 2, "2000", "1", Side::Buy),
        h.trade(eth, 59_999, "2000", "1", Side::Buy),
    ];
    assert!(
        h.push(events).unwrap().is_empty(),
        "no boundary crossed yet"
    );
    let out = series(
        &h.push(vec![h.funding(eth, 60_000, "0.0001", 8, None)])
            .unwrap(),
    );
    assert_eq!(
        out,
        vec![("taker_long_short_ratio".into(), btc, 60_000, 0.5)]
    );
}

#[test]
fn account_ratio_counts_latest_positions() {
    let mut h = Harness::<LongShortRatio>::new("{}").unwrap();
    let btc = h.instrument("hyperliquid", "BTC");
    let events = vec![
        h.position(btc, 1_000, "0xa", "1.5", "37000", None),
        h.position(btc, 2_000, "0xb", "2", "37000", None),
        h.position(btc, 3_000, "0xc", "-1", "37000", None),
        h.position(btc, 4_000, "0xd", "-3", "37000", None),
        h.position(btc, 5_000, "0xe", "0.1", "37000", None),
        // 0xa flips short, 0xd closes: longs {b, e} = 2, shorts {a, c} = 2.
        h.position(btc, 6_000, "0xa", "-0.5", "37000", None),
        h.position(btc, 7_000, "0xd", "0", "0", None),
        h.position(btc, 8_000, "0xe", "0.2", "37000", None),
        // At the boundary; processed after the emission.
        h.position(btc, 60_000, "0xc", "5", "37000", None),
        h.position(btc, 120_000, "0xb", "0", "0", None),
    ];
    let out = series(&h.push(events).unwrap());
    assert_eq!(
        out,
        vec![
            ("account_long_short_ratio".into(), btc, 60_000, 1.0),
            // At 120 000: longs {b, c, e} = 3, shorts {a} = 1.
            ("account_long_short_ratio".into(), btc, 120_000, 3.0),
        ]
    );
}

#[test]
fn state_survives_snapshot_and_restore() {
    let mut h = Harness::<LongShortRatio>::new("{}").unwrap();
    let btc = h.instrument("binance", "BTCUSDT");
    h.push(vec![
        h.trade(btc, 1, "100", "3", Side::Buy),
        h.trade(btc, 2, "100", "1", Side::Sell),
    ])
    .unwrap();
    let state = h.snapshot();
    let mut fresh = Harness::<LongShortRatio>::new("{}").unwrap();
    let btc2 = fresh.instrument("binance", "BTCUSDT");
    assert_eq!(btc, btc2);
    fresh.restore(&state).unwrap();
    let out = series(
        &fresh
            .push(vec![fresh.trade(btc, 60_000, "1", "1", Side::Buy)])
            .unwrap(),
    );
    assert_eq!(
        out,
        vec![("taker_long_short_ratio".into(), btc, 60_000, 3.0)]
    );
}

/// A state written by 0.1.0 kept its schedule as `next_boundary`: a swap
/// from it keeps its place (the boundary at 60 s is still due, not skipped).
#[test]
fn a_state_of_the_earlier_version_is_restored_in_place() {
    #[derive(Serialize)]
    struct Earlier<'a> {
        config: Config,
        bucket_ms: i64,
        next_boundary: Option<i64>,
        books: &'a [Book],
    }
    let mut h = Harness::<LongShortRatio>::new("{}").unwrap();
    let btc = h.instrument("binance", "BTCUSDT");
    h.push(vec![
        h.trade(btc, 1, "100", "3", Side::Buy),
        h.trade(btc, 2, "100", "1", Side::Sell),
    ])
    .unwrap();
    let now: LongShortRatio = state::decode(&h.snapshot(), "test").unwrap();
    let earlier = state::encode(&Earlier {
        config: now.config,
        bucket_ms: now.bucket_ms,
        next_boundary: Some(60_000),
        books: &now.books,
    });
    let mut fresh = Harness::<LongShortRatio>::new("{}").unwrap();
    fresh.instrument("binance", "BTCUSDT");
    fresh.restore(&earlier).unwrap();
    let out = series(
        &fresh
            .push(vec![fresh.trade(btc, 61_000, "1", "1", Side::Buy)])
            .unwrap(),
    );
    assert_eq!(
        out,
        vec![("taker_long_short_ratio".into(), btc, 60_000, 3.0)]
    );
}

#[test]
fn bad_config_is_refused_with_the_field() {
    let err = Harness::<LongShortRatio>::new(r#"{"step_ms": 0}"#)
        .err()
        .unwrap();
    assert!(err.contains("step_ms"), "{err}");
    let err = Harness::<LongShortRatio>::new(r#"{"windw_ms": 5}"#)
        .err()
        .unwrap();
    assert!(err.contains("windw_ms"), "{err}");
}

#[test]
fn windows_that_are_not_multiples_of_the_step_are_exact() {
    // window 90 s, step 60 s: buckets of 30 s.
    let mut h =
        Harness::<LongShortRatio>::new(r#"{"window_ms": 90000, "step_ms": 60000}"#).unwrap();
    let btc = h.instrument("binance", "BTCUSDT");
    let events = vec![
        h.trade(btc, 29_999, "1", "100", Side::Sell), // outside [30000, 120000)
        h.trade(btc, 30_000, "1", "10", Side::Sell),
        h.trade(btc, 119_999, "1", "5", Side::Buy),
        h.trade(btc, 120_000, "1", "1", Side::Buy),
    ];
    let out = series(&h.push(events).unwrap());
    assert_eq!(
        out.last().unwrap(),
        &("taker_long_short_ratio".into(), btc, 120_000, 0.5)
    );
}
