//! Values computed by hand from the definition in the crate docs.

use super::*;
use prism_sdk::Strength;
use prism_sdk::testing::{Harness, body_json};
use serde_json::{Value, json};

const CONFIG: &str = r#"{"min_trade_usd": 100000, "min_trade_usd_by_symbol": {"ETH": "50000"},
    "min_position_change_usd": 200000, "watched": ["0xWHALE"], "flow_threshold_usd": 150000,
    "window_ms": 120000}"#;

fn logs(out: &[Output], name: &str) -> Vec<Value> {
    out.iter()
        .filter_map(|o| match o {
            Output::Log(l) if l.name == name => Some(body_json(&l.body)),
            _ => None,
        })
        .collect()
}

fn signals(out: &[Output]) -> Vec<(u32, i64, Direction, Strength)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Signal(s) => Some((s.instrument, s.ts, s.direction, s.strength)),
            _ => None,
        })
        .collect()
}

#[test]
fn whale_trades_positions_watched_accounts_and_flow_signals() {
    let mut h = Harness::<WhaleDetector>::new(CONFIG).unwrap();
    let btc = h.instrument_of("hyperliquid", "BTC", "BTC", "USD");
    let eth = h.instrument_of("hyperliquid", "ETH", "ETH", "USD");
    let out = h
        .push(vec![
            h.trade_between(btc, 1_000, "60000", "2", Side::Buy, "0xaaa", "0xwhale"),
            h.trade(btc, 2_000, "60000", "1", Side::Sell),
            h.trade(eth, 3_000, "3000", "20", Side::Sell),
            h.trade(btc, 4_000, "60100", "3", Side::Buy),
            h.position(btc, 5_000, "0xbbb", "5", "59000", None),
            h.position(btc, 6_000, "0xbbb", "4", "59000", None),
            h.position(eth, 7_000, "0xwhale", "-10", "3000", Some("3300")),
            h.liquidation_of(eth, 8_000, "3300", "10", PositionSide::Short, "0xwhale"),
            h.trade(btc, 60_000, "60100", "0.01", Side::Buy),
        ])
        .unwrap();
    // 60000 × 2 = 120000 ≥ 100000; 60000 < 100000; ETH's own threshold:
    // 3000 × 20 = 60000 ≥ 50000; 60100 × 3 = 180300.
    let trades = logs(&out, "whale_trade");
    assert_eq!(trades.len(), 3);
    assert_eq!(
        trades[0],
        json!({"exchange": "hyperliquid", "symbol": "BTC", "side": "buy", "price": "60000",
               "size": "2", "notional": "120000", "buyer": "0xaaa", "seller": "0xwhale"})
    );
    assert_eq!(trades[1]["notional"], "60000");
    assert_eq!(trades[1]["side"], "sell");
    assert_eq!(trades[2]["notional"], "180300");
    // 0xbbb opens 5 at a last price of 60100: 300500 ≥ 200000; then −1: 60100.
    let positions = logs(&out, "whale_position");
    assert_eq!(
        positions,
        [
            json!({"account": "0xbbb", "exchange": "hyperliquid", "symbol": "BTC",
                "old_size": "0", "new_size": "5", "change_notional": "300500", "price": "60100"})
        ]
    );
    let activity = logs(&out, "whale_activity");
    let kinds: Vec<(&str, &str)> = activity
        .iter()
        .map(|a| (a["kind"].as_str().unwrap(), a["account"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("trade", "0xwhale"),
            ("position", "0xwhale"),
            ("liquidation", "0xwhale")
        ]
    );
    assert_eq!(activity[0]["role"], "seller");
    assert_eq!(activity[1]["new_size"], "-10");
    assert_eq!(activity[1]["liquidation_price"], "3300");
    assert_eq!(activity[2]["notional"], "33000");
    // Flow at 60000 over [−60000, 60000): BTC +120000 + 180300 = 300300,
    // 2.002× the threshold: medium long. ETH −60000: below it.
    assert_eq!(
        signals(&out),
        [(btc, 60_000, Direction::Long, Strength::Medium)]
    );
    // 120000: [0, 120000) still holds them; 180000: [60000, 180000) does not.
    let out = h
        .push(vec![h.trade(btc, 185_000, "60100", "0.01", Side::Buy)])
        .unwrap();
    assert_eq!(
        signals(&out),
        [(btc, 120_000, Direction::Long, Strength::Medium)]
    );
}

#[test]
fn selling_flow_gives_short_signals_graded_by_multiples() {
    let config = r#"{"min_trade_usd": 1000, "flow_threshold_usd": 10000, "window_ms": 60000}"#;
    let mut h = Harness::<WhaleDetector>::new(config).unwrap();
    let sol = h.instrument("binance", "SOLUSDT");
    let out = h
        .push(vec![
            h.trade(sol, 1_000, "100", "400", Side::Sell),
            h.trade(sol, 2_000, "100", "50", Side::Buy),
            h.trade(sol, 60_000, "100", "1", Side::Buy),
        ])
        .unwrap();
    // −40000 + 5000 = −35000: 3.5× the threshold: strong short.
    assert_eq!(
        signals(&out),
        [(sol, 60_000, Direction::Short, Strength::Strong)]
    );
}

#[test]
fn a_longer_watch_list_after_restore_takes_effect_and_state_carries() {
    let mut h = Harness::<WhaleDetector>::new(r#"{"min_position_change_usd": 1}"#).unwrap();
    let btc = h.instrument("binance", "BTCUSDT");
    h.push(vec![h.position(btc, 1_000, "0xnew", "1", "60000", None)])
        .unwrap();
    let state = h.snapshot();
    let mut again =
        Harness::<WhaleDetector>::new(r#"{"min_position_change_usd": 1, "watched": ["0xnew"]}"#)
            .unwrap();
    again.restore(&state).unwrap();
    let btc = again.instrument("binance", "BTCUSDT");
    let out = again
        .push(vec![
            again.position(btc, 2_000, "0xnew", "3", "60000", None),
        ])
        .unwrap();
    // The previous size (1) survived the restore: the change is 2 × 60000.
    assert_eq!(logs(&out, "whale_position")[0]["change_notional"], "120000");
    assert_eq!(logs(&out, "whale_activity")[0]["old_size"], "1");
}

#[test]
fn bad_config_is_refused_with_the_field() {
    for (config, field) in [
        (r#"{"window_ms": 0}"#, "window_ms"),
        (r#"{"min_trade_usd": 0}"#, "min_trade_usd"),
        (r#"{"watched": [" "]}"#, "watched[0]"),
        (
            r#"{"min_trade_usd_by_symbol": {"BTC": "-1"}}"#,
            "min_trade_usd_by_symbol.BTC",
        ),
        (r#"{"whales": []}"#, "whales"),
    ] {
        let err = Harness::<WhaleDetector>::new(config).err().unwrap();
        assert!(err.contains(field), "{config}: {err}");
    }
}
