//! The routes front-ends already call, through the binary on the simulator:
//! each answer recomputed here from the plugins' own outputs, and the
//! `price_updates` channel.

use crate::common::*;
use prism_model::Decimal;
use serde_json::{Value, json};
use std::time::Duration;

fn dec(v: &Value) -> Decimal {
    prism_model::decimal::parse(
        v.as_str()
            .unwrap_or_else(|| panic!("not decimal text: {v}")),
    )
    .unwrap()
}

fn float(d: Decimal) -> f64 {
    d.normalize().to_string().parse().unwrap()
}

/// The first `price_updates` messages for BTC.
async fn price_updates(url: &str) -> Vec<Value> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    let subscribe = json!({"type": "subscribe", "channels": ["price_updates"], "symbols": ["btc"]});
    ws.send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let mut updates = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while updates.len() < 3 {
        let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout_at(deadline, ws.next()).await
        else {
            break;
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["type"] == "price_updates" {
            updates.push(v);
        }
    }
    updates
}

#[test]
fn front_end_routes_agree_with_the_plugins_outputs() {
    let dir = temp_dir("frontend");
    let server = Server::start(&crate::analytics::live_config(&dir));
    let ws_url = format!("{}/api/v1/ws", server.base.replace("http://", "ws://"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let updates = runtime.block_on(price_updates(&ws_url));
    assert_eq!(updates.len(), 3, "price_updates for BTC");
    for u in &updates {
        let p = &u["payload"];
        assert_eq!(p["token"], "BTC", "{u}");
        let current: Vec<&Value> = p["points"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["current"] == true)
            .collect();
        assert_eq!(current.len(), 1, "{u}");
        let (price, size) = (
            p["currentPrice"].as_f64().unwrap(),
            p["bucketSize"].as_str().unwrap().parse::<f64>().unwrap(),
        );
        let at = current[0]["price"].as_f64().unwrap();
        assert!(at <= price && price < at + size, "{u}");
    }

    // The three simulated hours end; every plugin drains and stops, so the
    // outputs hold still for the comparisons.
    server.wait_for("/health", Duration::from_secs(60), |h| {
        h["source"]["state"] == "finished"
    });
    server.wait_for("/api/v1/plugins", Duration::from_secs(60), |v| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["state"] == "stopped")
    });

    // A plugin stops before the memory sink has stored its last outputs:
    // wait until the map and the heatmap come from the same document.
    server.wait_for(
        "/api/v1/market/liquidation?token=btc&range=2&exchange=binance",
        Duration::from_secs(30),
        |heatmap| {
            let map = server.json("/api/v1/liquidation-map?exchange=binance&symbol=BTCUSDT");
            map["map"]["last_price"]
                .as_str()
                .and_then(|p| p.parse::<f64>().ok())
                .is_some_and(|p| heatmap["currentPrice"].as_f64() == Some(p))
        },
    );

    // The heatmap of one venue's map: every bucket (realized, estimated,
    // the price's) overlapping ±2 % of the last price.
    let map = server.json("/api/v1/liquidation-map?exchange=binance&symbol=BTCUSDT")["map"].clone();
    let (last, size) = (dec(&map["last_price"]), dec(&map["bucket_size"]));
    let mut buckets: std::collections::BTreeMap<Decimal, (Decimal, Decimal)> = Default::default();
    for part in ["realized", "estimated"] {
        for b in map[part].as_array().unwrap() {
            let e = buckets.entry(dec(&b["price"])).or_default();
            e.0 += dec(&b["long_notional"]);
            e.1 += dec(&b["short_notional"]);
        }
    }
    let current = (last / size).floor() * size;
    buckets.entry(current).or_default();
    let reach = last * Decimal::from(2) / Decimal::from(100);
    let expected: Vec<Value> = buckets
        .iter()
        .filter(|(p, _)| **p + size > last - reach && **p <= last + reach)
        .map(|(p, (l, s))| json!([float(*p), float(*l), float(*s), *p == current]))
        .collect();
    let heatmap = server.json("/api/v1/market/liquidation?token=btc&range=2&exchange=binance");
    let shown: Vec<Value> = heatmap["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!([p["price"], p["longVol"], p["shortVol"], p["current"]]))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(shown, expected);
    assert_eq!(heatmap["currentPrice"], float(last));

    // Long against short: the newest points of the plugin's two series.
    let newest = |name: &str| {
        let s = server.json(&format!(
            "/api/v1/plugins/liquidation-map/series/{name}?exchange=hyperliquid&symbol=BTC&limit=1"
        ));
        s["points"][0]["value"].as_f64().unwrap()
    };
    let (long, short) = (
        newest("long_position_notional"),
        newest("short_position_notional"),
    );
    let ratio = server.json("/api/v1/market/long-short-ratio?token=BTC");
    assert_eq!(ratio["instruments"], json!(["hyperliquid:BTC"]));
    assert_eq!(ratio["longVolume"], long);
    let long_percent = ratio["longPercent"].as_f64().unwrap();
    assert!(
        (long_percent - long * 100.0 / (long + short)).abs() <= 0.005,
        "{ratio}"
    );
    // Three hours of history: no value a day old.
    assert_eq!(ratio["longChange24h"], Value::Null);

    // Wallets: the plugin's documents for BTC, summed here; its long
    // notional is the series' newest long value.
    let doc =
        server
            .json("/api/v1/plugins/liquidation-map/documents/wallet-distribution:hyperliquid:BTC")
            ["body"]
            .clone();
    let tiers = doc["tiers"].as_array().unwrap();
    let wallets: u64 = tiers.iter().map(|t| t["wallets"].as_u64().unwrap()).sum();
    let long_sum: Decimal = tiers.iter().map(|t| dec(&t["long_notional"])).sum();
    assert!(
        wallets > 0 && wallets <= 50,
        "50 simulated accounts per market: {wallets}"
    );
    assert_eq!(float(long_sum), long);
    let distribution = server.json("/api/v1/wallet/distribution?token=BTC");
    assert_eq!(distribution["totalWallets"], wallets);
    let buckets = distribution["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), tiers.len());
    for (b, t) in buckets.iter().zip(tiers) {
        assert_eq!(b["category"], t["name"]);
        assert_eq!(b["walletCount"], t["wallets"]);
        assert_eq!(b["longNotional"], t["long_notional"]);
        assert_eq!(b["profitUsers"], t["profit_wallets"]);
    }

    // Whales: every whale_position entry, as opens and closes.
    let logs = crate::analytics::all_pages(
        &server,
        "/api/v1/plugins/whale-detector/logs?name=whale_position",
    );
    let mut expected = 0;
    let mut newest: Option<Value> = None;
    for l in &logs {
        let (old, new) = (dec(&l["body"]["old_size"]), dec(&l["body"]["new_size"]));
        let flip =
            !old.is_zero() && !new.is_zero() && old.is_sign_negative() != new.is_sign_negative();
        let count = if flip {
            2
        } else if old == new {
            0
        } else {
            1
        };
        expected += count;
        if newest.is_none() && count > 0 {
            newest = Some(l.clone());
        }
    }
    let activities = server.json("/api/v1/whale/activities?minValue=0&limit=1");
    assert_eq!(activities["totalCount"], expected);
    let first = &activities["transactions"][0];
    let newest = newest.expect("the simulator moves whales");
    let account = newest["body"]["account"].as_str().unwrap();
    assert_eq!(first["account"], account);
    assert_eq!(
        first["address"],
        format!("{}…{}", &account[..6], &account[account.len() - 4..])
    );
    assert_eq!(first["exchange"], newest["exchange"]);
    let asset = first["token"].as_str().unwrap();
    assert!(
        first["amount"]
            .as_str()
            .unwrap()
            .ends_with(&format!(" {asset}")),
        "{first}"
    );

    let openapi = server.json("/api/v1/openapi.json");
    for path in [
        "/api/v1/market/liquidation",
        "/api/v1/market/long-short-ratio",
        "/api/v1/whale/activities",
        "/api/v1/wallet/distribution",
    ] {
        assert!(openapi["paths"][path]["get"].is_object(), "{path}");
    }
}
