//! The reference plugins as wasm in the host, on a small file whose outputs
//! were computed by hand from the definitions in `docs/plugins/`; and the
//! simulator through all of them, read back through every analytics
//! endpoint and a WebSocket subscription.

use crate::common::*;
use serde_json::{Value, json};

const B1: i64 = 1_699_999_980_000 + 60_000;

fn replay_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
cache = false
[[plugins]]
id = "liquidation-map"
path = "{map}"
[[plugins]]
id = "funding-arb"
path = "{arb}"
config = {{ fees = {{ binance = "0.0004", hyperliquid = "0.0002" }}, holding_hours = 168, entry_apr = 0.10, exit_apr = 0.02, trade = true, notional_usd = 10000 }}
[[plugins]]
id = "whale-detector"
path = "{whale}"
config = {{ min_trade_usd = 100000, min_trade_usd_by_symbol = {{ ETH = 50000 }}, min_position_change_usd = 200000, watched = ["0xWHALE"], flow_threshold_usd = 150000, window_ms = 120000 }}
"#,
            map = wasm("liquidation_map").display(),
            arb = wasm("funding_arb").display(),
            whale = wasm("whale_detector").display(),
        ),
    )
    .unwrap();
    config
}

fn of<'a>(lines: &'a [Value], plugin: &str, kind: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["plugin"] == plugin && l["kind"] == kind)
        .collect()
}

#[test]
fn the_reference_plugins_as_wasm_give_the_hand_computed_outputs() {
    let dir = temp_dir("analytics-replay");
    let out = dir.join("out.jsonl");
    let config = replay_config(&dir);
    let mut cmd = prism();
    cmd.args(["replay", "--events"])
        .arg(fixture("analytics.jsonl"))
        .arg("--config")
        .arg(&config);
    for p in ["liquidation_map", "funding_arb", "whale_detector"] {
        cmd.arg("--plugin").arg(wasm(p));
    }
    let result = cmd.arg("--out").arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    // Liquidation map: 59995.5 × 2 = 119991 and 59999 × 0.5 = 29999.5 long in
    // bucket 59990; 60120 short; the position of 0xbbb (5 at a last price of
    // 60100 = 300500) at its liquidation price's bucket, 54320.
    let (docs, wallets): (Vec<&Value>, Vec<&Value>) = of(&lines, "liquidation-map", "document")
        .into_iter()
        .partition(|d| d["key"].as_str().unwrap().starts_with("liquidation-map:"));
    assert_eq!(docs.len(), 2, "{docs:#?}");
    // Wallets: 0xbbb alone, long 5 at 60100 = 300500 (a shark: 250000 to
    // 1000000), entered at 59000, so in profit.
    assert_eq!(wallets.len(), 1, "{wallets:#?}");
    assert_eq!(wallets[0]["key"], "wallet-distribution:hyperliquid:BTC");
    let tiers = wallets[0]["body"]["tiers"].as_array().unwrap();
    let held: Vec<(&str, u64, &str, u64)> = tiers
        .iter()
        .filter(|t| t["wallets"].as_u64().unwrap() > 0)
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["long_wallets"].as_u64().unwrap(),
                t["long_notional"].as_str().unwrap(),
                t["profit_wallets"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(held, [("shark", 1, "300500", 1)]);
    let split: Vec<(&str, f64)> = of(&lines, "liquidation-map", "series")
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        split,
        [
            ("long_position_notional", 300500.0),
            ("short_position_notional", 0.0)
        ]
    );
    let binance = docs
        .iter()
        .find(|d| d["key"] == "liquidation-map:binance:BTCUSDT")
        .unwrap();
    assert_eq!(binance["ts"], B1);
    assert_eq!(binance["body"]["bucket_size"], "10");
    assert_eq!(binance["body"]["base"], "BTC");
    assert_eq!(binance["body"]["last_price"], "60012.5");
    assert_eq!(
        binance["body"]["realized"],
        json!([
            {"price": "59990", "long_notional": "149990.5", "short_notional": "0", "long_count": 2, "short_count": 0},
            {"price": "60120", "long_notional": "0", "short_notional": "60120", "long_count": 0, "short_count": 1},
        ])
    );
    let hl = docs
        .iter()
        .find(|d| d["key"] == "liquidation-map:hyperliquid:BTC")
        .unwrap();
    assert_eq!(
        hl["body"]["estimated"],
        json!([{"price": "54320", "long_notional": "300500", "short_notional": "0", "source": "positions"}])
    );
    let logs = of(&lines, "liquidation-map", "log");
    let names: Vec<&str> = logs.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "liquidation",
            "large_liquidation",
            "liquidation",
            "liquidation"
        ]
    );
    assert_eq!(logs[1]["body"]["notional"], "119991");

    // Funding: binance 0.0001 / 8 = 0.0000125/h, hyperliquid 0.00005/h;
    // spread 0.0000375/h, gross 0.3285, net 0.3285 − 2 × 0.0006 × 8760 / 168.
    let arb = of(&lines, "funding-arb", "document");
    assert_eq!(arb.len(), 1);
    let o = &arb[0]["body"]["items"][0];
    assert_eq!(
        (o["long_exchange"].as_str(), o["short_exchange"].as_str()),
        (Some("binance"), Some("hyperliquid"))
    );
    assert_eq!(o["spread_hourly"], "0.0000375");
    assert!(close(
        o["net_apr"].as_f64().unwrap(),
        0.3285 - 0.0012 * 8760.0 / 168.0
    ));
    let signals: Vec<(String, String, String)> = of(&lines, "funding-arb", "signal")
        .iter()
        .map(|s| {
            (
                s["exchange"].as_str().unwrap().into(),
                s["direction"].as_str().unwrap().into(),
                s["strength"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        signals,
        [
            ("binance".into(), "long".into(), "medium".into()),
            ("hyperliquid".into(), "short".into(), "medium".into())
        ]
    );
    let orders: Vec<(String, String)> = of(&lines, "funding-arb", "order")
        .iter()
        .map(|o| {
            (
                o["side"].as_str().unwrap().into(),
                o["size"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        orders,
        [
            ("buy".into(), "0.16666666".into()),
            ("sell".into(), "0.16658337".into())
        ]
    );

    // Whales: 120000 and 180300 notional trades; 0xbbb's 0 → 5 at 60100;
    // the watched 0xwhale sold; flow +300300 over the last 2 min: 2.002 ×
    // the 150000 threshold: a medium long on hyperliquid BTC.
    let whale_logs = of(&lines, "whale-detector", "log");
    let names: Vec<(&str, &str)> = whale_logs
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap(),
                l["body"]["notional"]
                    .as_str()
                    .or(l["body"]["change_notional"].as_str())
                    .unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("whale_trade", "120000"),
            ("whale_activity", "120000"),
            ("whale_trade", "180300"),
            ("whale_position", "300500")
        ]
    );
    let flow = of(&lines, "whale-detector", "signal");
    assert_eq!(flow.len(), 1);
    assert_eq!(
        (
            flow[0]["symbol"].as_str(),
            flow[0]["direction"].as_str(),
            flow[0]["strength"].as_str()
        ),
        (Some("BTC"), Some("long"), Some("medium"))
    );
    assert_eq!(flow[0]["ts"], B1);
}

pub(crate) fn live_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("prism.toml");
    let repo_config = std::fs::read_to_string(repo().join("config/prism.toml")).unwrap();
    // The shipped config, with the simulator fast and finite (3 h of data in
    // about 6 s, long enough for the tests' live steps on a loaded machine)
    // and the plugin paths absolute.
    let text = repo_config
        .replace("pace = 60.0 ", "pace = 1800.0\nduration = \"3h\" ")
        .replace(
            "../target/",
            &format!("{}/", repo().join("target").display()),
        )
        .replace(
            "data_dir = \"../data\"",
            &format!("data_dir = \"{}\"", dir.join("data").display()),
        )
        .replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:0\"\nws_heartbeat_s = 1",
        );
    assert!(
        text.contains("duration = \"3h\""),
        "the test's edit of the shipped config took: {text}"
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// Reads every page of a list endpoint (`cursor` = `next_cursor`).
pub(crate) fn all_pages(server: &Server, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=500&cursor={c}"),
            None => format!("{path}{sep}limit=500"),
        };
        let page = server.json(&url);
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match &page["next_cursor"] {
            Value::Null => return items,
            c => cursor = Some(c.to_string().trim_matches('"').to_owned()),
        }
    }
}

fn decimal_sum<'a>(values: impl Iterator<Item = &'a Value>) -> String {
    let mut sum = prism_model::Decimal::ZERO;
    for v in values {
        sum += prism_model::decimal::parse(v.as_str().unwrap()).unwrap();
    }
    sum.normalize().to_string()
}

#[test]
fn the_simulator_through_all_plugins_serves_every_analytics_endpoint_and_websocket() {
    let dir = temp_dir("analytics-live");
    let server = Server::start_with(&live_config(&dir), &[("PRISM_ADMIN_TOKEN", "tok")]);
    let ws_url = format!("{}/api/v1/ws", server.base.replace("http://", "ws://"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Watch an account seen in a whale trade on hyperliquid, first thing:
    // the stream is finite, and a config change to a plugin that has
    // stopped is refused (410), as it should be.
    let trades = server.wait_for(
        "/api/v1/plugins/whale-detector/logs?name=whale_trade&exchange=hyperliquid&limit=1",
        std::time::Duration::from_secs(30),
        |v| v["items"].as_array().is_some_and(|i| !i.is_empty()),
    );
    let account = trades["items"][0]["body"]["buyer"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = server.request(
        "POST",
        "/api/v1/whales",
        Some("tok"),
        format!(r#"{{"account":"{account}"}}"#).as_bytes(),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        server.json("/api/v1/whales")["items"],
        json!([{"account": account}])
    );
    // Watching it again changes nothing and answers with the same list.
    let (status, body) = server.request(
        "POST",
        "/api/v1/whales",
        Some("tok"),
        format!(r#"{{"account":"{}"}}"#, account.to_uppercase()).as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["items"],
        json!([{"account": account}])
    );

    let ws_messages = runtime.block_on(websocket_session(&ws_url));

    // Every channel delivered, each message in the one shape.
    for m in &ws_messages {
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["type", "payload", "timestamp"], "{m}");
    }
    let types: std::collections::BTreeSet<&str> = ws_messages
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    for t in [
        "subscribed",
        "pong",
        "liquidations",
        "long_short_ratio",
        "liquidation_map",
        "whale_activities",
        "signals",
        "plugin:hello",
        "heartbeat",
    ] {
        assert!(types.contains(t), "no `{t}` message among {types:?}");
    }
    let filtered: Vec<&Value> = ws_messages
        .iter()
        .skip_while(|m| m["type"] != "unsubscribed")
        .filter(|m| m["type"] == "liquidations")
        .collect();
    assert!(!filtered.is_empty(), "liquidations after the symbol filter");
    assert!(
        filtered.iter().all(|m| m["payload"]["symbol"] == "BTCUSDT"),
        "{filtered:?}"
    );

    // Wait for the stream (3 h of simulated time) to end and drain.
    let last = std::cell::Cell::new(-1i64);
    server.wait_for("/health", std::time::Duration::from_secs(60), |h| {
        let events = h["events"].as_i64().unwrap_or(0);
        let settled = events == last.get() && events > 0;
        last.set(events);
        std::thread::sleep(std::time::Duration::from_millis(400));
        settled
    });
    server.wait_for("/api/v1/plugins", std::time::Duration::from_secs(30), |v| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["queue_depth"] == 0 && p["state"] == "stopped")
    });
    std::thread::sleep(std::time::Duration::from_millis(500));

    // Liquidations: the stats agree with the list, exactly.
    let stats = server.json("/api/v1/liquidations/stats");
    let now = stats["now"].as_i64().unwrap();
    let listed = all_pages(&server, "/api/v1/liquidations");
    assert!(listed.len() > 50, "{} liquidations", listed.len());
    let in_window = |hours: i64, side: Option<&str>| -> Vec<&Value> {
        listed
            .iter()
            .filter(|l| {
                let ts = l["ts"].as_i64().unwrap();
                ts > now - hours * 3_600_000 && ts <= now && side.is_none_or(|s| l["side"] == s)
            })
            .collect()
    };
    for (i, hours) in [(0, 1), (1, 4), (2, 24)] {
        let w = &stats["windows"][i];
        for side in ["long", "short"] {
            let mine = in_window(hours, Some(side));
            assert_eq!(w[side]["count"], mine.len(), "{hours}h {side}");
            assert_eq!(
                w[side]["notional"],
                decimal_sum(mine.iter().map(|l| &l["notional"])).as_str(),
                "{hours}h {side}"
            );
        }
        assert_eq!(w["total"]["count"], in_window(hours, None).len());
    }
    let shorts = all_pages(&server, "/api/v1/liquidations?side=short&exchange=okx");
    assert!(
        shorts
            .iter()
            .all(|l| l["side"] == "short" && l["exchange"] == "okx")
    );
    assert_eq!(
        shorts.len(),
        listed
            .iter()
            .filter(|l| l["side"] == "short" && l["exchange"] == "okx")
            .count()
    );
    let recent = server.json("/api/v1/liquidations/recent?limit=5");
    assert_eq!(recent["items"].as_array().unwrap()[..], listed[..5]);

    // Ratios: current is the newest point of each series.
    let current = server.json("/api/v1/long-short-ratios/current?exchange=binance&symbol=BTCUSDT");
    let series = server.json("/api/v1/plugins/long-short-ratio/series/taker_long_short_ratio?exchange=binance&symbol=BTCUSDT");
    let newest = series["points"].as_array().unwrap().last().unwrap();
    assert_eq!(
        current["items"][0]["taker"],
        json!({"ts": newest["ts"], "value": newest["value"]})
    );
    let history = all_pages(
        &server,
        "/api/v1/long-short-ratios/history?exchange=binance&symbol=BTCUSDT&kind=taker",
    );
    assert_eq!(history.len(), series["points"].as_array().unwrap().len());
    assert_eq!(history[0]["ts"], newest["ts"]);

    // The map, the opportunities: the plugins' documents, as served.
    let map = server.json("/api/v1/liquidation-map?exchange=binance&symbol=BTCUSDT");
    let doc =
        server.json("/api/v1/plugins/liquidation-map/documents/liquidation-map:binance:BTCUSDT");
    assert_eq!(map["map"], doc["body"]);
    assert!(!map["map"]["realized"].as_array().unwrap().is_empty());
    let opportunities = server.json("/api/v1/opportunities");
    let doc = server.json("/api/v1/plugins/funding-arb/documents/opportunities");
    assert_eq!(opportunities["items"], doc["body"]["items"]);
    assert_eq!(
        opportunities["items"].as_array().unwrap().len(),
        9,
        "3 assets × 3 venue pairs"
    );
    let btc = server.json("/api/v1/opportunities?base=BTC");
    assert_eq!(btc["items"].as_array().unwrap().len(), 3);

    // The watched account's activity since it was added.
    let activities = all_pages(&server, &format!("/api/v1/whales/{account}/activities"));
    assert!(!activities.is_empty());
    assert!(activities.iter().all(|a| a["account"] == account.as_str()));

    // Signals: the stats agree with the list.
    let signals = all_pages(&server, "/api/v1/signals");
    let stats = server.json("/api/v1/signals/stats");
    let all = &stats["windows"][3];
    assert_eq!(all["window"], "all");
    assert_eq!(all["total"], signals.len());
    for plugin in ["whale-detector", "funding-arb"] {
        let n = signals.iter().filter(|s| s["plugin"] == plugin).count();
        assert_eq!(
            all["by_plugin"][plugin].as_u64().unwrap_or(0),
            n as u64,
            "{plugin}"
        );
    }
    assert!(signals.iter().any(|s| s["plugin"] == "whale-detector"));

    let openapi = server.json("/api/v1/openapi.json");
    for path in [
        "/api/v1/liquidations/stats",
        "/api/v1/ws",
        "/api/v1/whales/{account}/activities",
        "/api/v1/signals/stats",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path}");
    }
    let (status, body) = server.get("/api/v1/liquidations?limit=0");
    assert_eq!(status, 400, "{body}");
    let (status, _) = server.get("/api/v1/liquidation-map?exchange=binance");
    assert_eq!(status, 400);
}

/// Subscribes to every channel, pings, then narrows liquidations to one
/// symbol; returns every message received.
async fn websocket_session(url: &str) -> Vec<Value> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({"type": "subscribe", "channels": ["liquidations", "long_short_ratio", "liquidation_map", "whale_activities", "opportunities", "signals", "plugin:hello"]}))).await.unwrap();
    ws.send(send(json!({"type": "ping"}))).await.unwrap();
    let mut messages: Vec<Value> = Vec::new();
    let mut narrowed = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next()).await;
        let Ok(Some(Ok(message))) = next else { break };
        let Message::Text(text) = message else {
            continue;
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        messages.push(v);
        let seen = |t: &str| messages.iter().any(|m| m["type"] == t);
        let all = [
            "liquidations",
            "long_short_ratio",
            "liquidation_map",
            "whale_activities",
            "signals",
            "plugin:hello",
            "heartbeat",
        ]
        .iter()
        .all(|t| seen(t));
        if all && !narrowed {
            narrowed = true;
            ws.send(send(json!({"type": "unsubscribe", "channels": ["liquidations", "long_short_ratio", "liquidation_map", "whale_activities", "opportunities", "signals", "plugin:hello"]}))).await.unwrap();
            ws.send(send(
                json!({"type": "subscribe", "channels": ["liquidations"], "symbols": ["btcusdt"]}),
            ))
            .await
            .unwrap();
        }
        let btc_after = messages
            .iter()
            .skip_while(|m| m["type"] != "unsubscribed")
            .filter(|m| m["type"] == "liquidations")
            .count();
        if narrowed && btc_after >= 3 {
            break;
        }
    }
    let _ = ws.close(None).await;
    messages
}
