//! Values computed by hand from the definition in the crate docs.

use super::*;
use prism_sdk::testing::{Harness, body_json};
use serde_json::{Value, json};

const CONFIG: &str = r#"{"fees": {"binance": "0.0004", "hyperliquid": "0.0002"},
    "holding_hours": 168, "entry_apr": 0.10, "exit_apr": 0.02,
    "trade": true, "notional_usd": 10000}"#;

fn doc(out: &[Output]) -> Value {
    out.iter()
        .rev()
        .find_map(|o| match o {
            Output::Document(d) if d.key == "opportunities" => Some(body_json(&d.body)),
            _ => None,
        })
        .expect("an opportunities document")
}

fn signals(out: &[Output]) -> Vec<(u32, Direction, Strength)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Signal(s) => Some((s.instrument, s.direction, s.strength)),
            _ => None,
        })
        .collect()
}

fn orders(out: &[Output]) -> Vec<(u32, Side, String, bool)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Order(o) => Some((o.instrument, o.side, o.size.to_string(), o.reduce_only)),
            _ => None,
        })
        .collect()
}

#[test]
fn pairs_are_priced_entered_and_exited_with_orders() {
    let mut h = Harness::<FundingArb>::new(CONFIG).unwrap();
    let bn = h.instrument_of("binance", "BTCUSDT", "BTC", "USDT");
    let hl = h.instrument_of("hyperliquid", "BTC", "BTC", "USD");
    let eth = h.instrument_of("okx", "ETH-USDT-SWAP", "ETH", "USDT");
    let out = h
        .push(vec![
            h.funding(bn, 1_000, "0.0001", 8, Some("60000")),
            h.funding(hl, 2_000, "0.00005", 1, Some("60030")),
            h.funding(eth, 3_000, "0.0003", 8, Some("3000")),
            h.trade(bn, 60_000, "60000", "1", Side::Buy),
        ])
        .unwrap();
    // binance 0.0001 / 8 h = 0.0000125/h (long); hyperliquid 0.00005/h (short).
    // spread 0.0000375/h; gross 0.0000375 × 8760 = 0.3285;
    // fees 2 × (0.0004 + 0.0002) × 8760 / 168 = 0.0625714…; net 0.2659285714…
    let d = doc(&out);
    assert_eq!(d["ts"], 60_000);
    let items = d["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "ETH has no second venue: {d}");
    let o = &items[0];
    assert_eq!(o["base"], "BTC");
    assert_eq!(
        (o["long_exchange"].as_str(), o["short_exchange"].as_str()),
        (Some("binance"), Some("hyperliquid"))
    );
    assert_eq!(o["long_rate_hourly"], "0.0000125");
    assert_eq!(o["short_rate_hourly"], "0.00005");
    assert_eq!(o["spread_hourly"], "0.0000375");
    assert!((o["gross_apr"].as_f64().unwrap() - 0.3285).abs() < 1e-12);
    assert!((o["net_apr"].as_f64().unwrap() - 0.265_928_571_428_571_4).abs() < 1e-12);
    assert!((o["basis"].as_f64().unwrap() - 0.0005).abs() < 1e-15);
    // 0.2659 / 0.10 = 2.66× the entry APR: medium.
    assert_eq!(
        signals(&out),
        [
            (bn, Direction::Long, Strength::Medium),
            (hl, Direction::Short, Strength::Medium)
        ]
    );
    // 10000 / 60000 and 10000 / 60030, rounded down to 8 decimals.
    assert_eq!(
        orders(&out),
        [
            (bn, Side::Buy, "0.16666666".into(), false),
            (hl, Side::Sell, "0.16658337".into(), false)
        ]
    );
    // Still entered at the next boundary: no new signal.
    let out = h
        .push(vec![h.trade(bn, 120_000, "60000", "1", Side::Buy)])
        .unwrap();
    assert!(signals(&out).is_empty());
    // Hyperliquid's funding drops below binance's: the spread changes sign.
    let out = h
        .push(vec![
            h.funding(hl, 121_000, "0.00001", 1, None),
            h.trade(bn, 180_000, "60000", "1", Side::Buy),
        ])
        .unwrap();
    assert_eq!(
        signals(&out),
        [
            (bn, Direction::Flat, Strength::Strong),
            (hl, Direction::Flat, Strength::Strong)
        ]
    );
    assert_eq!(
        orders(&out),
        [
            (bn, Side::Sell, "0.16666666".into(), true),
            (hl, Side::Buy, "0.16658337".into(), true)
        ]
    );
    // The reversed pair: spread 0.0000025/h, gross 0.0219, net −0.0406714…
    let o = &doc(&out)["items"][0];
    assert_eq!(o["long_exchange"], "hyperliquid");
    assert!((o["net_apr"].as_f64().unwrap() + 0.040_671_428_571_428_57).abs() < 1e-12);
}

#[test]
fn a_narrowing_spread_exits_at_the_exit_apr_and_stale_funding_is_left_out() {
    let config =
        r#"{"entry_apr": 0.10, "exit_apr": 0.05, "default_fee": "0", "max_age_ms": 100000}"#;
    let mut h = Harness::<FundingArb>::new(config).unwrap();
    let a = h.instrument_of("binance", "SOLUSDT", "SOL", "USDT");
    let b = h.instrument_of("okx", "SOL-USDT-SWAP", "SOL", "USDT");
    // Spread 0.00003/h: 0.2628 APR, no fees: 2.628× entry: medium.
    let out = h
        .push(vec![
            h.funding(a, 1_000, "0", 8, None),
            h.funding(b, 1_000, "0.00024", 8, None),
            h.trade(a, 60_000, "100", "1", Side::Buy),
        ])
        .unwrap();
    assert_eq!(
        signals(&out),
        [
            (a, Direction::Long, Strength::Medium),
            (b, Direction::Short, Strength::Medium)
        ]
    );
    assert!(orders(&out).is_empty(), "trade is off by default");
    // 0.00004 / 8 = 0.000005/h: 0.0438 APR ≤ 0.05: exit.
    let out = h
        .push(vec![
            h.funding(b, 61_000, "0.00004", 8, None),
            h.trade(a, 120_000, "100", "1", Side::Buy),
        ])
        .unwrap();
    assert_eq!(
        signals(&out),
        [
            (a, Direction::Flat, Strength::Strong),
            (b, Direction::Flat, Strength::Strong)
        ]
    );
    // At 180000 binance's funding (ts 1000) is older than 100 s: no pair.
    let out = h
        .push(vec![h.trade(a, 180_000, "100", "1", Side::Buy)])
        .unwrap();
    assert_eq!(doc(&out)["items"], json!([]));
}

#[test]
fn state_survives_snapshot_and_restore() {
    let mut h = Harness::<FundingArb>::new(CONFIG).unwrap();
    let bn = h.instrument_of("binance", "BTCUSDT", "BTC", "USDT");
    let hl = h.instrument_of("hyperliquid", "BTC", "BTC", "USD");
    h.push(vec![
        h.funding(bn, 1_000, "0.0001", 8, Some("60000")),
        h.funding(hl, 2_000, "0.00005", 1, Some("60030")),
        h.trade(bn, 60_000, "60000", "1", Side::Buy),
    ])
    .unwrap();
    let state = h.snapshot();
    let mut again = Harness::<FundingArb>::new(CONFIG).unwrap();
    again.restore(&state).unwrap();
    let bn2 = again.instrument_of("binance", "BTCUSDT", "BTC", "USDT");
    let hl2 = again.instrument_of("hyperliquid", "BTC", "BTC", "USD");
    let out = again
        .push(vec![
            again.funding(hl2, 61_000, "0.00001", 1, None),
            again.trade(bn2, 120_000, "60000", "1", Side::Buy),
        ])
        .unwrap();
    assert_eq!(
        signals(&out).len(),
        2,
        "the restored plugin remembers the entered pair"
    );
    assert_eq!(orders(&out)[0].2, "0.16666666");
}

#[test]
fn bad_config_is_refused_with_the_field() {
    for (config, field) in [
        (r#"{"step_ms": -1}"#, "step_ms"),
        (r#"{"entry_apr": 0.1, "exit_apr": 0.2}"#, "exit_apr"),
        (r#"{"holding_hours": 0}"#, "holding_hours"),
        (r#"{"fees": {"okx": "-0.1"}}"#, "fees.okx"),
        (r#"{"entry": 1}"#, "entry"),
    ] {
        let err = Harness::<FundingArb>::new(config).err().unwrap();
        assert!(err.contains(field), "{config}: {err}");
    }
}
