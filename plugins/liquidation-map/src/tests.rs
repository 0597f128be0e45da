//! Values computed by hand from the definition in the crate docs.

use super::*;
use prism_sdk::testing::{Harness, body_json};
use prism_sdk::{Output, Side};
use serde_json::{Value, json};

/// The documents whose key starts with `prefix`.
fn docs_of(out: &[Output], prefix: &str) -> Vec<(String, i64, Value)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Document(d) if d.key.starts_with(prefix) => {
                Some((d.key.clone(), d.ts, body_json(&d.body)))
            }
            _ => None,
        })
        .collect()
}

/// The liquidation maps.
fn docs(out: &[Output]) -> Vec<(String, i64, Value)> {
    docs_of(out, "liquidation-map:")
}

fn logs(out: &[Output], name: &str) -> Vec<Value> {
    out.iter()
        .filter_map(|o| match o {
            Output::Log(l) if l.name == name => Some(body_json(&l.body)),
            _ => None,
        })
        .collect()
}

#[test]
fn automatic_buckets_keep_four_significant_digits() {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(map::auto_bucket(d("60000")), Some(d("10")));
    assert_eq!(map::auto_bucket(d("37000.1")), Some(d("10")));
    assert_eq!(map::auto_bucket(d("2500")), Some(d("1")));
    assert_eq!(map::auto_bucket(d("999.99")), Some(d("0.1")));
    assert_eq!(map::auto_bucket(d("1")), Some(d("0.001")));
    assert_eq!(map::auto_bucket(d("0.5")), Some(d("0.0001")));
    assert_eq!(map::auto_bucket(d("0")), None);
    assert_eq!(map::bucket_of(d("59995.5"), d("10")), d("59990"));
    assert_eq!(map::bucket_of(d("0.123456"), d("0.0001")), d("0.1234"));
}

#[test]
fn realized_liquidations_are_bucketed_by_side_and_large_ones_logged() {
    let mut h = Harness::<LiquidationMapPlugin>::new("{}").unwrap();
    let btc = h.instrument("binance", "BTCUSDT");
    let out = h
        .push(vec![
            h.trade(btc, 1_000, "60012.5", "1", Side::Buy),
            h.liquidation(btc, 2_000, "59995.5", "2", PositionSide::Long),
            h.liquidation(btc, 3_000, "59999", "0.5", PositionSide::Long),
            h.liquidation(btc, 4_000, "60120", "1", PositionSide::Short),
            h.trade(btc, 60_000, "60100", "1", Side::Sell),
        ])
        .unwrap();
    // 59995.5 × 2 = 119991 (large), 59999 × 0.5 = 29999.5, 60120 × 1 = 60120.
    let all = logs(&out, "liquidation");
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[0],
        json!({"exchange": "binance", "symbol": "BTCUSDT", "side": "long", "price": "59995.5",
               "size": "2", "notional": "119991", "account": null})
    );
    let large = logs(&out, "large_liquidation");
    assert_eq!(large.len(), 1);
    assert_eq!(large[0]["notional"], "119991");
    let docs = docs(&out);
    assert_eq!(docs.len(), 1);
    let (key, ts, body) = &docs[0];
    assert_eq!(key, "liquidation-map:binance:BTCUSDT");
    assert_eq!(*ts, 60_000);
    assert_eq!(body["bucket_size"], "10");
    assert_eq!(body["from"], 60_000 - 86_400_000);
    assert_eq!(body["to"], 60_000);
    assert_eq!(
        body["last_price"], "60012.5",
        "the boundary comes before the trade at 60000"
    );
    assert_eq!(
        body["realized"],
        json!([
            {"price": "59990", "long_notional": "149990.5", "short_notional": "0", "long_count": 2, "short_count": 0},
            {"price": "60120", "long_notional": "0", "short_notional": "60120", "long_count": 0, "short_count": 1},
        ])
    );
    assert_eq!(body["estimated"], json!([]));
}

/// BTC on hyperliquid at 60000: 0xa long 3 (liquidation 54000, entry
/// 59500), 0xb short 1 (66666, entry 61000), 0xc long 1 (no liquidation
/// price), 0xd opened and closed; then, past the first boundary, a trade at
/// `after`.
fn four_accounts(config: &str, after: &str) -> Vec<Output> {
    let mut h = Harness::<LiquidationMapPlugin>::new(config).unwrap();
    let btc = h.instrument("hyperliquid", "BTC");
    h.push(vec![
        h.trade(btc, 1_000, "60000", "1", Side::Buy),
        h.position(btc, 1_100, "0xa", "2", "59000", Some("54321")),
        h.position(btc, 1_200, "0xb", "-1", "61000", Some("66666")),
        h.position(btc, 1_300, "0xc", "1", "60000", None),
        h.position(btc, 1_400, "0xd", "1", "60000", Some("50000")),
        h.position(btc, 1_500, "0xd", "0", "60000", None),
        h.position(btc, 1_600, "0xa", "3", "59500", Some("54000")),
        h.trade(btc, 60_000, after, "1", Side::Buy),
    ])
    .unwrap()
}

#[test]
fn known_liquidation_prices_give_the_estimate() {
    let out = four_accounts("{}", "60000");
    let docs = docs(&out);
    assert_eq!(docs.len(), 1);
    // 0xa: 3 × 60000 long at 54000; 0xb: 1 × 60000 short at bucket 66660;
    // 0xc has no liquidation price, 0xd closed.
    assert_eq!(
        docs[0].2["estimated"],
        json!([
            {"price": "54000", "long_notional": "180000", "short_notional": "0", "source": "positions"},
            {"price": "66660", "long_notional": "0", "short_notional": "60000", "source": "positions"},
        ])
    );
    assert_eq!(docs[0].2["realized"], json!([]));
    assert_eq!(docs[0].2["base"], "BTC");
}

#[test]
fn wallets_are_counted_by_the_tier_of_their_position() {
    let config = r#"{"wallet_tiers": [{"name": "small", "min_usd": 0}, {"name": "big", "min_usd": "100000"}]}"#;
    let out = four_accounts(config, "61000");
    let wallets = docs_of(&out, "wallet-distribution:");
    assert_eq!(wallets.len(), 1);
    let (key, ts, body) = &wallets[0];
    assert_eq!(key, "wallet-distribution:hyperliquid:BTC");
    assert_eq!(*ts, 60_000);
    // At the last price 60000 (the trade at 61000 comes after the
    // boundary): 0xa 3 long = 180000, gain (60000 − 59500) × 3 > 0;
    // 0xb 1 short = 60000, gain (60000 − 61000) × −1 > 0; 0xc 1 long =
    // 60000, no gain or loss; 0xd closed.
    assert_eq!(
        body,
        &json!({
            "exchange": "hyperliquid", "symbol": "BTC", "base": "BTC", "price": "60000",
            "tiers": [
                {"name": "small", "min_usd": "0", "max_usd": "100000", "wallets": 2,
                 "long_wallets": 1, "short_wallets": 1, "long_notional": "60000",
                 "short_notional": "60000", "profit_wallets": 1, "loss_wallets": 0},
                {"name": "big", "min_usd": "100000", "max_usd": null, "wallets": 1,
                 "long_wallets": 1, "short_wallets": 0, "long_notional": "180000",
                 "short_notional": "0", "profit_wallets": 1, "loss_wallets": 0},
            ]
        })
    );
    // The split as series: long 60000 + 180000, short 60000.
    let series: Vec<(&str, i64, f64)> = out
        .iter()
        .filter_map(|o| match o {
            Output::Series(p) => Some((p.name.as_str(), p.ts, p.value)),
            _ => None,
        })
        .collect();
    assert_eq!(
        series,
        [
            ("long_position_notional", 60_000, 240_000.0),
            ("short_position_notional", 60_000, 60_000.0)
        ]
    );
}

#[test]
fn wallet_tiers_are_checked() {
    for (tiers, error) in [
        (r#"[]"#, "1 to 16"),
        (
            r#"[{"name": "a", "min_usd": 5}]"#,
            "wallet_tiers[0].min_usd must be 0",
        ),
        (
            r#"[{"name": "a", "min_usd": 0}, {"name": "b", "min_usd": 0}]"#,
            "wallet_tiers[1].min_usd",
        ),
        (
            r#"[{"name": "a", "min_usd": 0}, {"name": "a", "min_usd": 9}]"#,
            "used twice",
        ),
        (r#"[{"name": "", "min_usd": 0}]"#, "wallet_tiers[0].name"),
    ] {
        let e = Config::parse(&format!(r#"{{"wallet_tiers": {tiers}}}"#)).unwrap_err();
        assert!(e.contains(error), "{tiers}: {e}");
    }
}

#[test]
fn without_positions_open_interest_increases_are_modelled_over_leverage_tiers() {
    let mut h = Harness::<LiquidationMapPlugin>::new("{}").unwrap();
    let eth = h.instrument("binance", "ETHUSDT");
    let out = h
        .push(vec![
            h.trade(eth, 1_000, "2000", "1", Side::Buy),
            h.open_interest(eth, 1_100, "1000"),
            h.open_interest(eth, 1_200, "1100"),
            // Crosses the 100× long level at 2000 × 0.995 = 1990.
            h.trade(eth, 1_300, "1985", "1", Side::Sell),
            h.trade(eth, 60_000, "1985", "1", Side::Sell),
        ])
        .unwrap();
    // +100 of open interest, 25 per tier (weights 0.25), mmr 0.005:
    // long at 2000 × (1 − 1/L + 0.005), short at 2000 × (1 + 1/L − 0.005),
    // notional 25 × 1985 = 49625 at the last price.
    let level = |price: &str, long: bool| {
        json!({"price": price,
               "long_notional": if long { "49625" } else { "0" },
               "short_notional": if long { "0" } else { "49625" },
               "source": "open_interest"})
    };
    assert_eq!(
        docs(&out)[0].2["estimated"],
        json!([
            level("1810", true),
            level("1930", true),
            level("1970", true),
            level("2010", false),
            level("2030", false),
            level("2070", false),
            level("2190", false),
        ])
    );
}

#[test]
fn windows_slide_and_boundaries_skipped_by_a_gap_are_each_emitted() {
    let config = r#"{"step_ms": 60000, "window_ms": 60000, "bucket_sizes": {"BTCUSDT": "100"}}"#;
    let mut h = Harness::<LiquidationMapPlugin>::new(config).unwrap();
    let btc = h.instrument("binance", "BTCUSDT");
    let out = h
        .push(vec![
            h.liquidation(btc, 10_000, "60050", "1", PositionSide::Short),
            h.liquidation(btc, 70_000, "60150", "1", PositionSide::Long),
            h.trade(btc, 200_000, "60000", "1", Side::Buy),
        ])
        .unwrap();
    let docs = docs(&out);
    // B = 60000: the first; B = 120000: the second; B = 180000: nothing left.
    let summary: Vec<(i64, Value)> = docs
        .iter()
        .map(|(_, ts, b)| (*ts, b["realized"][0]["price"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![(60_000, json!("60000")), (120_000, json!("60100"))]
    );
    assert_eq!(docs[0].2["bucket_size"], "100");
}

#[test]
fn snapshot_and_restore_continue_exactly() {
    let events = |h: &mut Harness<LiquidationMapPlugin>| {
        let btc = h.instrument("binance", "BTCUSDT");
        (0..300)
            .map(|i| {
                let ts = i * 1_000;
                if i % 7 == 0 {
                    h.liquidation(btc, ts, "60005", "0.3", PositionSide::Long)
                } else {
                    h.trade(btc, ts, "60001", "0.1", Side::Buy)
                }
            })
            .collect::<Vec<_>>()
    };
    let mut whole = Harness::<LiquidationMapPlugin>::new("{}").unwrap();
    let all = events(&mut whole);
    let expected = whole.push(all.clone()).unwrap();
    let mut first = Harness::<LiquidationMapPlugin>::new("{}").unwrap();
    let all2 = events(&mut first);
    let mut got = first.push(all2[..150].to_vec()).unwrap();
    let state = first.snapshot();
    let mut second = Harness::<LiquidationMapPlugin>::new("{}").unwrap();
    second.restore(&state).unwrap();
    let _ = events(&mut second);
    // The restored instance needs the instrument table again, as the host gives it.
    got.extend(second.push(all2[150..].to_vec()).unwrap());
    assert_eq!(got, expected);
}

#[test]
fn bad_config_is_refused_with_the_field() {
    for (config, field) in [
        (r#"{"step_ms": 0}"#, "step_ms"),
        (
            r#"{"bucket_sizes": {"BTCUSDT": "-1"}}"#,
            "bucket_sizes.BTCUSDT",
        ),
        (
            r#"{"leverage_tiers": [{"leverage": "0.5", "weight": "1"}]}"#,
            "leverage_tiers[0]",
        ),
        (
            r#"{"maintenance_margin_rate": "1.5"}"#,
            "maintenance_margin_rate",
        ),
        (r#"{"windw_ms": 1}"#, "windw_ms"),
    ] {
        let err = Harness::<LiquidationMapPlugin>::new(config).err().unwrap();
        assert!(err.contains(field), "{config}: {err}");
    }
}

#[test]
fn numbers_in_config_may_be_json_numbers_or_text() {
    let c = Config::parse(
        r#"{"large_liquidation_usd": 50000, "bucket_sizes": {"binance:ETHUSDT": 0.5}}"#,
    )
    .unwrap();
    assert_eq!(c.large_liquidation_usd, Decimal::from(50_000));
    assert_eq!(c.bucket_for("binance", "ETHUSDT"), Some(Decimal::new(5, 1)));
    assert_eq!(c.bucket_for("okx", "ETHUSDT"), None);
}

#[test]
fn a_map_keeps_the_buckets_nearest_the_price() {
    let d = |n: i64| Decimal::from(n);
    let prices: Vec<Decimal> = [10, 20, 30, 40, 50, 60, 70].map(d).to_vec();
    let near = |price: Option<i64>, max| map::nearest(prices.clone(), price.map(d), max, |p| *p);
    // At 44: 40 (4 away), 50 (6), 30 (14), 60 (16).
    assert_eq!(near(Some(44), 4), [30, 40, 50, 60].map(d));
    assert_eq!(near(Some(44), 1), [40].map(d));
    // At an end, the window runs inward; without a price, the middle.
    assert_eq!(near(Some(5), 3), [10, 20, 30].map(d));
    assert_eq!(near(Some(99), 2), [60, 70].map(d));
    assert_eq!(near(None, 3), [30, 40, 50].map(d));
    assert_eq!(near(Some(44), 7), prices);
    assert_eq!(near(Some(44), 9), prices);
}

#[test]
fn a_long_open_interest_history_makes_a_bounded_map() {
    // Each increase at a new price opens 8 new levels; 300 increases give
    // 2400 levels, far more than the 50 buckets a map may hold.
    let mut h = Harness::<LiquidationMapPlugin>::new(r#"{"max_map_buckets": 50}"#).unwrap();
    let sol = h.instrument("okx", "SOL-USDT-SWAP");
    let mut events = vec![h.trade(sol, 0, "60", "1", Side::Buy)];
    for i in 0..300_i64 {
        let price = format!("{}", 60 + i);
        events.push(h.trade(sol, 10 + i * 10, &price, "1", Side::Buy));
        events.push(h.open_interest(sol, 11 + i * 10, &format!("{}", 1000 + i)));
    }
    events.push(h.trade(sol, 60_000, "359", "1", Side::Buy));
    let out = h.push(events).unwrap();
    let map = &docs(&out)[0].2;
    let estimated = map["estimated"].as_array().unwrap();
    assert_eq!(estimated.len(), 50);
    // The 50 nearest the last price 359, in price order.
    let prices: Vec<f64> = estimated
        .iter()
        .map(|b| b["price"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] < w[1]));
    assert!(prices[0] <= 359.0 && 359.0 <= prices[49], "{prices:?}");
    assert!(
        Config::parse(r#"{"max_map_buckets": 0}"#)
            .unwrap_err()
            .contains("max_map_buckets")
    );
    assert!(
        Config::parse(r#"{"max_map_buckets": 1001}"#)
            .unwrap_err()
            .contains("max_map_buckets")
    );
}
