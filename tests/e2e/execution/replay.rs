//! The funding-arb loop by hand; the same fills on every replay.

use super::*;
use crate::common::*;
use rust_decimal::Decimal;
use serde_json::Value;

/// `funding-arb` with `trade = true` on `tests/fixtures/funding-arb-paper.jsonl`
/// (t0 = 2023-11-15 00:00 UTC):
///
/// - entry at t0+60 s (binance 0.0001/8 h vs hyperliquid −0.00001/h: net APR
///   19.56 %): long 1 BTC on hyperliquid, short 1 BTCUSDT on binance
///   (30000 USD / mark 30000), market orders;
/// - they fill at the next trade of each venue: 1 @ 30010 (fee 30010 ×
///   0.00035 = 10.5035) and 1 @ 29990 (fee 29990 × 0.0004 = 11.996);
/// - hyperliquid funds hourly at its own rows: +1 × 30020 × 0.00001 =
///   0.3002 at 01:00, +1 × 30040 × 0.00002 = 0.6008 at 02:00 (a long earns
///   a negative rate); binance at 08:00 pays the rate announced for 08:00
///   (0.0001 at mark 30000) to the short: +3;
/// - binance turns to −0.0002: the spread changes sign, the pair exits with
///   reduce-only orders: sell 1 @ 30050 (fee 10.5175), buy 1 @ 30080 (fee
///   12.032).
///
/// Hyperliquid leg: 40 + 0.901 − 21.021 = 19.88; binance leg: −90 + 3 −
/// 24.028 = −111.028; the pair: −91.148.
#[test]
fn the_funding_arb_loop_pays_funding_and_closes_with_its_pnl_computed_by_hand() {
    let dir = temp_dir("execution-funding-arb");
    let lines = replay(&funding_arb_config(&dir, 256), &dir.join("a.jsonl"));
    let intents = of_kind(&lines, "order");
    assert_eq!(intents.len(), 4, "{intents:#?}");
    let fills: Vec<(String, String, Decimal, Decimal, Decimal, i64)> = of_kind(&lines, "fill")
        .iter()
        .map(|f| {
            (
                f["symbol"].as_str().unwrap().to_owned(),
                f["side"].as_str().unwrap().to_owned(),
                d(&f["price"]),
                d(&f["size"]),
                d(&f["fee"]),
                f["ts"].as_i64().unwrap(),
            )
        })
        .collect();
    let t0 = 1_700_006_400_000i64;
    let h = 3_600_000i64;
    assert_eq!(
        fills,
        vec![
            (
                "BTC".into(),
                "buy".into(),
                dec("30010"),
                dec("1"),
                dec("10.5035"),
                t0 + 61_000
            ),
            (
                "BTCUSDT".into(),
                "sell".into(),
                dec("29990"),
                dec("1"),
                dec("11.996"),
                t0 + 62_000
            ),
            (
                "BTC".into(),
                "sell".into(),
                dec("30050"),
                dec("1"),
                dec("10.5175"),
                t0 + 8 * h + 61_000
            ),
            (
                "BTCUSDT".into(),
                "buy".into(),
                dec("30080"),
                dec("1"),
                dec("12.032"),
                t0 + 8 * h + 62_000
            ),
        ]
    );
    let funding: Vec<(String, Decimal, i64)> = of_kind(&lines, "funding_payment")
        .iter()
        .map(|f| {
            (
                f["symbol"].as_str().unwrap().to_owned(),
                d(&f["amount"]),
                f["ts"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        funding,
        vec![
            ("BTC".into(), dec("0.3002"), t0 + h + 5),
            ("BTC".into(), dec("0.6008"), t0 + 2 * h + 5),
            ("BTCUSDT".into(), dec("3"), t0 + 8 * h),
        ]
    );
    let positions = of_kind(&lines, "position");
    let last = |symbol: &str| {
        *positions
            .iter()
            .rev()
            .find(|p| p["symbol"] == symbol)
            .unwrap()
    };
    let hl = last("BTC");
    assert_eq!(
        [
            &hl["size"],
            &hl["realized"],
            &hl["funding"],
            &hl["fees"],
            &hl["total"]
        ]
        .map(d),
        [
            dec("0"),
            dec("40"),
            dec("0.901"),
            dec("21.021"),
            dec("19.88")
        ]
    );
    let bn = last("BTCUSDT");
    assert_eq!(
        [
            &bn["size"],
            &bn["realized"],
            &bn["funding"],
            &bn["fees"],
            &bn["total"]
        ]
        .map(d),
        [
            dec("0"),
            dec("-90"),
            dec("3"),
            dec("24.028"),
            dec("-111.028")
        ]
    );
    let pnl = of_kind(&lines, "pnl");
    let end = pnl.last().unwrap();
    assert_eq!(
        [
            &end["realized"],
            &end["funding"],
            &end["fees"],
            &end["total"]
        ]
        .map(d),
        [dec("-50"), dec("3.901"), dec("45.049"), dec("-91.148")]
    );
    let orders = of_kind(&lines, "paper_order");
    let ended: Vec<&&Value> = orders.iter().filter(|o| o["status"] == "filled").collect();
    assert_eq!(ended.len(), 4);
    assert!(ended[2]["reduce_only"].as_bool().unwrap());
}

/// The same input gives the same bytes; and fills do not depend on how
/// the stream is cut into batches (the plugin runs one event at a time):
/// with batches of 1 the plugin's outputs, fills and funding are the same.
#[test]
fn replays_give_the_same_fills_byte_for_byte_whatever_the_batching() {
    let dir = temp_dir("execution-determinism");
    let config = funding_arb_config(&dir, 256);
    let first = replay(&config, &dir.join("a.jsonl"));
    replay(&config, &dir.join("b.jsonl"));
    assert_eq!(
        std::fs::read(dir.join("a.jsonl")).unwrap(),
        std::fs::read(dir.join("b.jsonl")).unwrap()
    );
    let small = replay(&funding_arb_config(&dir, 1), &dir.join("c.jsonl"));
    let plugin_outputs = |lines: &[Value]| -> Vec<Value> {
        lines
            .iter()
            .filter(|l| {
                ["series", "document", "log", "signal", "order", "alert"]
                    .contains(&l["kind"].as_str().unwrap())
            })
            .cloned()
            .collect()
    };
    assert_eq!(plugin_outputs(&first), plugin_outputs(&small));
    for kind in ["fill", "funding_payment"] {
        assert_eq!(of_kind(&first, kind), of_kind(&small, kind), "{kind}");
    }
    assert_eq!(of_kind(&first, "pnl").last(), of_kind(&small, "pnl").last());
}

/// A trading plugin that panics on one event mid-stream is recovered like
/// any other (the poison event set aside), keeps trading, every fill still
/// reaches it once, and the whole run — fills included — is the same on
/// every replay.
#[test]
fn a_trading_plugin_that_fails_mid_batch_recovers_deterministically() {
    let dir = temp_dir("execution-fault");
    let events = dir.join("sim.jsonl");
    let made = prism()
        .args(["sim", "--duration", "20m", "--out"])
        .arg(&events)
        .output()
        .unwrap();
    assert!(made.status.success());
    // The poison: one trade about 8 minutes in.
    let poison = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "trade")
        .map(|v| v["ts"].as_i64().unwrap())
        .find(|ts| *ts >= 1_700_000_000_000 + 8 * 60_000)
        .unwrap();
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
cache = false
{trader}"#,
            data = dir.join("data").display(),
            trader = trader_section(&format!(
                r#"{{ mode = "trader", every = 10, size = "0.01", at_ts = {poison}, fail = "panic" }}"#
            )),
        ),
    )
    .unwrap();
    let run = |out: &str| {
        let result = prism()
            .args(["replay", "--config"])
            .arg(&config)
            .arg("--events")
            .arg(&events)
            .arg("--out")
            .arg(dir.join(out))
            .env("PRISM_LOG", "error")
            .output()
            .unwrap();
        // The poison event is the one dead letter.
        let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
        assert_eq!(stdout.matches("dead letter:").count(), 1, "{stdout}");
        assert!(stdout.contains(&format!("\"ts\":{poison}")), "{stdout}");
        std::fs::read(dir.join(out)).unwrap()
    };
    let first = run("a.jsonl");
    assert_eq!(first, run("b.jsonl"), "the same bytes on every replay");
    let lines: Vec<Value> = String::from_utf8(first)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fills = of_kind(&lines, "fill");
    let ids: std::collections::BTreeSet<&str> =
        fills.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), fills.len(), "no fill twice");
    // It traded before and after the poison event (the 1,000th event).
    let intents = of_kind(&lines, "order");
    assert!(intents.len() > 30, "{}", intents.len());
    let last_fill_ts = fills
        .iter()
        .map(|f| f["ts"].as_i64().unwrap())
        .max()
        .unwrap();
    let first_fill_ts = fills
        .iter()
        .map(|f| f["ts"].as_i64().unwrap())
        .min()
        .unwrap();
    assert!(last_fill_ts > first_fill_ts + 5 * 60_000, "trading went on");
    // Every fill reached the plugin: each is in its `fill` log.
    let logged: std::collections::BTreeSet<(String, i64)> = of_kind(&lines, "log")
        .iter()
        .filter(|l| l["name"] == "fill")
        .map(|l| {
            (
                l["body"]["client_id"].as_str().unwrap().to_owned(),
                l["ts"].as_i64().unwrap(),
            )
        })
        .collect();
    for f in &fills {
        let key = (
            f["client_id"].as_str().unwrap().to_owned(),
            f["ts"].as_i64().unwrap(),
        );
        assert!(logged.contains(&key), "fill {f} was handed to the plugin");
    }
}
