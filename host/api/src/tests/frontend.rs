//! The routes front-ends already call, over hand-made plugin outputs; every
//! expected value is computed by hand in the comments.

use crate::state::AppState;
use crate::testing::{Fixed, view};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use prism_model::{Document, InstrumentRegistry, LogEntry, Output, SeriesPoint};
use prism_outputs::{OutputStore, StoreLimits};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

const NOW: i64 = 1_700_100_000_000;
const HOUR: i64 = 3_600_000;

fn doc(key: &str, ts: i64, body: Value) -> Output {
    Output::Document(Document {
        key: Arc::from(key),
        ts,
        body: body.into(),
    })
}

fn state() -> AppState {
    let store = Arc::new(OutputStore::new(StoreLimits::default()));
    let mut reg = InstrumentRegistry::default();
    let (hl_btc, _) = reg.intern("hyperliquid", "BTC");
    let (hl_eth, _) = reg.intern("hyperliquid", "ETH");
    let i = |id| Some(reg.get(id).unwrap().clone());
    let series = |id, name: &str, ts, value| {
        Output::Series(SeriesPoint {
            name: Arc::from(name),
            instrument: i(id),
            ts,
            value,
        })
    };
    let tiers = |wallets: u64, long: &str, short: &str| {
        json!([
            {"name": "shrimp", "min_usd": "0", "max_usd": "250", "wallets": wallets, "long_wallets": 0,
             "short_wallets": 0, "long_notional": "100", "short_notional": "0", "profit_wallets": 1, "loss_wallets": 0},
            {"name": "whale", "min_usd": "250", "max_usd": null, "wallets": 1, "long_wallets": 0,
             "short_wallets": 0, "long_notional": long, "short_notional": short, "profit_wallets": 0, "loss_wallets": 1},
        ])
    };
    store.insert(
        &Arc::from("liquidation-map"),
        vec![
            doc("liquidation-map:binance:BTCUSDT", NOW - 60_000, json!({
                "exchange": "binance", "symbol": "BTCUSDT", "base": "BTC", "bucket_size": "10",
                "last_price": "60005",
                "realized": [{"price": "59990", "long_notional": "1000", "short_notional": "0", "long_count": 1, "short_count": 0}],
                "estimated": [{"price": "60300", "long_notional": "0", "short_notional": "250.5", "source": "positions"},
                              {"price": "65000", "long_notional": "0", "short_notional": "9", "source": "positions"}]})),
            doc("liquidation-map:okx:ETH-USDT-SWAP", NOW, json!({
                "exchange": "okx", "symbol": "ETH-USDT-SWAP", "base": "ETH", "bucket_size": "1",
                "last_price": "2000", "realized": [{"price": "1999", "long_notional": "7", "short_notional": "0"}],
                "estimated": []})),
            doc("wallet-distribution:hyperliquid:BTC", NOW - 60_000, json!({
                "exchange": "hyperliquid", "symbol": "BTC", "base": "BTC", "price": "60000",
                "tiers": tiers(3, "900", "300")})),
            doc("wallet-distribution:hyperliquid:ETH", NOW, json!({
                "exchange": "hyperliquid", "symbol": "ETH", "base": "ETH", "price": "2000",
                "tiers": tiers(2, "0", "600")})),
            series(hl_btc, "long_position_notional", NOW - 25 * HOUR, 100.0),
            series(hl_btc, "short_position_notional", NOW - 25 * HOUR, 100.0),
            series(hl_btc, "long_position_notional", NOW - HOUR, 300.0),
            series(hl_btc, "short_position_notional", NOW - HOUR, 100.0),
            series(hl_eth, "long_position_notional", NOW - HOUR, 50.0),
            series(hl_eth, "short_position_notional", NOW - HOUR, 150.0),
        ],
    );
    let position = |ts, account: &str, old: &str, new: &str, price: &str| {
        Output::Log(LogEntry {
            name: Arc::from("whale_position"),
            instrument: i(hl_btc),
            ts,
            body: json!({"account": account, "exchange": "hyperliquid", "symbol": "BTC",
                         "old_size": old, "new_size": new, "price": price})
            .into(),
        })
    };
    let whale = "0x49f3aa9d1b3c3b8f6a1e2d8c3a6f0e1d2c3b8d2b";
    store.insert(
        &Arc::from("whale-detector"),
        vec![
            position(NOW - 3 * HOUR, whale, "0", "28.405720", "60000"),
            position(NOW - 120_000, whale, "28.405720", "-20", "61000"),
            position(NOW - 1_000, "0xsmall", "0", "0.001", "60000"),
        ],
    );
    let control = Fixed::new(vec![
        view("liquidation-map", json!({})),
        view("whale-detector", json!({})),
    ]);
    let state = AppState::new(store, Arc::new(control));
    state.head_ts.store(NOW, Ordering::Relaxed);
    state
}

async fn call(state: &AppState, path: &str) -> (StatusCode, Value) {
    crate::testing::call(state, Request::get(path).body(Body::empty()).unwrap()).await
}

async fn get(state: &AppState, path: &str) -> Value {
    let (status, body) = call(state, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

#[tokio::test]
async fn the_heatmap_covers_the_range_around_the_price_of_one_token() {
    let s = state();
    // ±1 % of 60005: 59404.95 … 60605.05, buckets of 10 from 59400 to 60600;
    // 65000 is out of range, ETH's map is another token.
    let h = get(&s, "/api/v1/market/liquidation?token=btc&range=1").await;
    assert_eq!(h["token"], "BTC");
    assert_eq!(h["currentPrice"], 60005.0);
    assert_eq!(
        h["points"],
        json!([
            {"price": 59990.0, "longVol": 1000.0, "shortVol": 0.0, "current": false,
             "longRealized": 1000.0, "longEstimated": 0.0, "shortRealized": 0.0, "shortEstimated": 0.0},
            {"price": 60000.0, "longVol": 0.0, "shortVol": 0.0, "current": true,
             "longRealized": 0.0, "longEstimated": 0.0, "shortRealized": 0.0, "shortEstimated": 0.0},
            {"price": 60300.0, "longVol": 0.0, "shortVol": 250.5, "current": false,
             "longRealized": 0.0, "longEstimated": 0.0, "shortRealized": 0.0, "shortEstimated": 250.5},
        ])
    );
    assert_eq!(
        (h["minPrice"].clone(), h["maxPrice"].clone()),
        (json!(59990.0), json!(60300.0))
    );
    assert_eq!(h["exchanges"], json!(["binance"]));
    assert_eq!(h["updatedAt"], "2023-11-16T01:59:00Z");
    // The default token is BTC and the default range 4.5 %: 65000 is 8 % away.
    let d = get(&s, "/api/v1/market/liquidation").await;
    assert_eq!(d["points"].as_array().unwrap().len(), 3);
    // A token without a map: an empty heatmap, not an error.
    let sol = get(&s, "/api/v1/market/liquidation?token=SOL").await;
    assert_eq!(
        (sol["points"].clone(), sol["currentPrice"].clone()),
        (json!([]), Value::Null)
    );
    for bad in ["range=0", "range=101", "range=x", "tokn=BTC"] {
        let (status, body) = call(&s, &format!("/api/v1/market/liquidation?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn long_and_short_positions_with_their_change_over_a_day() {
    let s = state();
    // BTC: 300 long, 100 short now; 100 and 100 a day before (25 h ago).
    let btc = get(&s, "/api/v1/market/long-short-ratio?token=BTC").await;
    assert_eq!(
        (btc["longPercent"].clone(), btc["shortPercent"].clone()),
        (json!(75.0), json!(25.0))
    );
    assert_eq!(
        (btc["longVolume"].clone(), btc["shortVolume"].clone()),
        (json!(300.0), json!(100.0))
    );
    assert_eq!(btc["longChange24h"], 200.0);
    assert_eq!(btc["shortChange24h"], 0.0);
    assert_eq!(btc["instruments"], json!(["hyperliquid:BTC"]));
    // All tokens: 350 long, 250 short; ETH has no value a day old, so no change.
    let all = get(&s, "/api/v1/market/long-short-ratio").await;
    assert_eq!(
        (all["longPercent"].clone(), all["shortPercent"].clone()),
        (json!(58.33), json!(41.67))
    );
    assert_eq!(all["longChange24h"], Value::Null);
}

#[tokio::test]
async fn whale_position_changes_are_opens_and_closes_newest_first() {
    let s = state();
    let w = get(&s, "/api/v1/whale/activities").await;
    // Default minValue 1000000: the flip's close, 28.40572 × 61000 =
    // 1732748.92, and the first open, 28.40572 × 60000 = 1704343.2; the
    // flip's open (20 × 61000 = 1220000) too; 0xsmall's (60) is not.
    let t = w["transactions"].as_array().unwrap();
    assert_eq!(w["totalCount"], 3);
    let summary: Vec<(&str, &str, &str, f64)> = t
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap(),
                t["side"].as_str().unwrap(),
                t["amount"].as_str().unwrap(),
                t["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            // The flip: closed, then opened, so the open is the newer.
            ("Open", "Short", "20 BTC", 1_220_000.0),
            ("Close", "Long", "28.40572 BTC", 1_732_748.92),
            ("Open", "Long", "28.40572 BTC", 1_704_343.2),
        ]
    );
    assert_eq!(t[0]["address"], "0x49f3…8d2b");
    assert_eq!(t[0]["time"], "2 min ago");
    assert_eq!(t[2]["time"], "3 h ago");
    assert_eq!(t[0]["timestamp"], "2023-11-16T01:58:00Z");
    assert_eq!(t[0]["token"], "BTC");
    assert_eq!(t[0]["txHash"], Value::Null);
    assert_eq!(w["updatedAt"], "2023-11-16T01:58:00Z");
    let opens = get(&s, "/api/v1/whale/activities?type=open&side=LONG&limit=5").await;
    assert_eq!(opens["totalCount"], 1);
    let all = get(&s, "/api/v1/whale/activities?minValue=0&limit=1").await;
    assert_eq!(all["totalCount"], 4);
    assert_eq!(all["transactions"][0]["address"], "0xsmall");
    assert_eq!(all["transactions"].as_array().unwrap().len(), 1);
    for bad in [
        "side=up",
        "type=hold",
        "limit=0",
        "minValue=x",
        "minValue=-1",
    ] {
        let (status, body) = call(&s, &format!("/api/v1/whale/activities?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn wallets_are_summed_over_tokens_by_tier() {
    let s = state();
    let btc = get(&s, "/api/v1/wallet/distribution?token=BTC").await;
    assert_eq!(btc["totalWallets"], 4);
    let b = &btc["buckets"];
    // shrimp 100 long of 1300; whale 900 long, 300 short: 75 % long.
    assert_eq!(b[0]["positionSize"], "$0 - $250");
    assert_eq!(b[0]["openInterestPercent"], 7.69);
    assert_eq!(b[1]["positionSize"], "$250+");
    assert_eq!(b[1]["categoryEn"], "Whale");
    assert_eq!(b[1]["longPercent"], 75.0);
    assert_eq!(b[1]["sentiment"], "bullish");
    assert_eq!(
        (b[1]["longValue"].clone(), b[1]["shortValue"].clone()),
        (json!("$900"), json!("$300"))
    );
    assert_eq!(b[1]["lossUsers"], 1);
    // Both tokens: whale 900 long, 900 short: neutral; 7 wallets.
    let all = get(&s, "/api/v1/wallet/distribution").await;
    assert_eq!(all["totalWallets"], 7);
    assert_eq!(all["buckets"][1]["longPercent"], 50.0);
    assert_eq!(all["buckets"][1]["sentiment"], "neutral");
    assert_eq!(all["buckets"][0]["walletCount"], 5);
    assert_eq!(all["updatedAt"], "2023-11-16T02:00:00Z");
}
