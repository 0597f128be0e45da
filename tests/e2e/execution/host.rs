//! A running host: the API, the WebSocket, the operator, config edits.

use super::*;
use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "e2e-execution-token";

fn trader_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
[source]
kind = "simulator"
pace = 200.0
{trader}
{extra}
"#,
            data = dir.join("data").display(),
            trader = trader_section(r#"{ mode = "trader", every = 40, size = "0.01" }"#),
        ),
    )
    .unwrap();
    config
}

/// A trading plugin in a running host: its orders fill, it is told of each
/// fill, and the API shows orders, fills, positions, PnL and risk, with
/// fees as the formula says. The operator halts it (its orders are then
/// rejected by name), places a manual order, and closes everything.
#[test]
fn a_running_host_shows_and_lets_an_operator_steer_paper_trading() {
    let dir = temp_dir("execution-run");
    let hook = prism_loopback::Recorder::start();
    let notify = format!(
        "[[notify.channels]]\nname = \"risk\"\nkind = \"webhook\"\nurl = \"{}/hook\"\nmin_priority = \"P1\"\nkinds = [\"risk_halted\", \"risk_reducing\"]",
        hook.url
    );
    let server = Server::start_with(
        &trader_config(&dir, &notify),
        &[("PRISM_ADMIN_TOKEN", TOKEN)],
    );
    let fills = server.wait_for(
        "/api/v1/fills?plugin=trader",
        Duration::from_secs(60),
        |v| v["items"].as_array().is_some_and(|i| i.len() >= 4),
    );
    for f in fills["items"].as_array().unwrap() {
        // Taker fills (market orders): fee = price × size × 0.0005.
        assert_eq!(f["liquidity"], "taker");
        assert_eq!(
            d(&f["fee"]),
            (d(&f["price"]) * d(&f["size"]) * dec("0.0005")).normalize(),
            "{f}"
        );
        assert_eq!(d(&f["size"]), dec("0.01"));
    }
    // The plugin was handed each fill as a `fill` event, at the fill's time.
    let first = &fills["items"].as_array().unwrap().last().unwrap().clone();
    let logged = server.wait_for(
        "/api/v1/plugins/trader/logs?name=fill",
        Duration::from_secs(20),
        |v| {
            v["items"].as_array().is_some_and(|i| {
                i.iter()
                    .any(|l| l["body"]["client_id"] == first["client_id"])
            })
        },
    );
    let seen = logged["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["body"]["client_id"] == first["client_id"])
        .unwrap()
        .clone();
    assert_eq!(d(&seen["body"]["price"]), d(&first["price"]));
    assert_eq!(d(&seen["body"]["fee"]), d(&first["fee"]));
    assert_eq!(seen["ts"], first["ts"]);

    let order = server.json(&format!(
        "/api/v1/orders/{}",
        first["order_id"].as_str().unwrap()
    ));
    assert_eq!(order["status"], "filled");
    assert_eq!(order["origin"], "plugin");
    let filled = server.json("/api/v1/orders?plugin=trader&status=filled&limit=2");
    assert_eq!(filled["items"].as_array().unwrap().len(), 2);
    assert!(filled["next_cursor"].is_string());
    let (status, body) = server.get("/api/v1/orders?status=lost");
    assert_eq!(status, 400, "{body}");

    // Positions and PnL add up: total = realized + unrealized + funding − fees.
    let positions = server.json("/api/v1/positions?plugin=trader");
    for p in positions["items"].as_array().unwrap() {
        assert_eq!(
            d(&p["total"]),
            d(&p["realized"]) + d(&p["unrealized"]) + d(&p["funding"]) - d(&p["fees"]),
            "{p}"
        );
    }
    let pnl = server.json("/api/v1/pnl");
    let plugin = &pnl["plugins"][0];
    assert_eq!(plugin["plugin"], "trader");
    assert_eq!(d(&pnl["total"]["total"]), d(&plugin["total"]));
    let history = server.json("/api/v1/pnl/history?plugin=trader&limit=5");
    assert!(!history["items"].as_array().unwrap().is_empty());
    let risk = server.json("/api/v1/risk");
    assert_eq!(risk["items"][0]["plugin"], "trader");
    assert_eq!(risk["items"][0]["state"], "active");

    // The operator halts the plugin: its next orders are rejected by name.
    let (status, _) = server.request(
        "POST",
        "/api/v1/risk/trader",
        None,
        br#"{"state":"halted"}"#,
    );
    assert_eq!(status, 401);
    let (status, body) = server.request(
        "POST",
        "/api/v1/risk/trader",
        Some(TOKEN),
        br#"{"state":"halted","reason":"e2e"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let set: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (set["state"].as_str(), set["reason"].as_str()),
        (Some("halted"), Some("e2e"))
    );
    let rejected = server.wait_for(
        "/api/v1/orders?plugin=trader&status=rejected",
        Duration::from_secs(30),
        |v| v["items"].as_array().is_some_and(|i| !i.is_empty()),
    );
    assert_eq!(
        rejected["items"][0]["reason"],
        "halted: every order is rejected"
    );
    // The halt reached the operators' webhook as a P0 alarm.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let alarm = loop {
        let found = hook.requests().iter().find_map(|r| {
            let v: Value = serde_json::from_slice(&r.body).ok()?;
            (v["kind"] == "risk_halted").then_some(v)
        });
        if let Some(v) = found {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "no risk_halted alarm");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(alarm["priority"], "P0");
    assert_eq!(alarm["plugin"], "trader");
    assert_eq!(alarm["body"], "e2e");
    let manual = |body: Value| {
        server.request(
            "POST",
            "/api/v1/orders",
            Some(TOKEN),
            body.to_string().as_bytes(),
        )
    };
    let (exchange, symbol) = (first["exchange"].clone(), first["symbol"].clone());
    let (status, body) = manual(json!({"plugin": "trader", "exchange": exchange,
        "symbol": symbol, "side": "buy", "size": "0.02", "client_id": "by-hand"}));
    assert_eq!(status, 200, "{body}");
    let placed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (placed["status"].as_str(), placed["origin"].as_str()),
        (Some("rejected"), Some("manual"))
    );
    let (status, body) = manual(json!({"plugin": "trader", "exchange": "nowhere",
        "symbol": "X", "side": "buy", "size": "1"}));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("unknown_instrument"), "{body}");
    let (status, _) = manual(json!({"plugin": "trader", "exchange": exchange,
        "symbol": symbol, "side": "buy", "size": "-1"}));
    assert_eq!(status, 400);
    let (status, _) = manual(json!({"plugin": "ghost", "exchange": exchange,
        "symbol": symbol, "side": "buy", "size": "1"}));
    assert_eq!(status, 404);

    // Back to active: a manual order is accepted and fills.
    let (status, _) = server.request(
        "POST",
        "/api/v1/risk/trader",
        Some(TOKEN),
        br#"{"state":"active"}"#,
    );
    assert_eq!(status, 200);
    let (status, body) = manual(json!({"plugin": "trader", "exchange": exchange,
        "symbol": symbol, "side": "buy", "size": "0.02", "client_id": "by-hand-2"}));
    assert_eq!(status, 200, "{body}");
    let placed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(placed["status"], "open", "{placed}");
    let id = placed["id"].as_str().unwrap().to_owned();
    server.wait_for(
        &format!("/api/v1/orders/{id}"),
        Duration::from_secs(30),
        |o| o["status"] == "filled",
    );

    // Close everything: reduce-only market orders, then every position flat
    // (the plugin is halted first so it opens nothing new).
    server.request(
        "POST",
        "/api/v1/risk/trader",
        Some(TOKEN),
        br#"{"state":"halted"}"#,
    );
    let (status, body) = server.request("POST", "/api/v1/positions/close", Some(TOKEN), b"{}");
    assert_eq!(status, 200, "{body}");
    let closes: Value = serde_json::from_str(&body).unwrap();
    let closes = closes["orders"].as_array().unwrap();
    assert!(!closes.is_empty());
    assert!(
        closes
            .iter()
            .all(|o| o["reduce_only"] == true && o["origin"] == "close")
    );
    server.wait_for(
        "/api/v1/positions?plugin=trader",
        Duration::from_secs(60),
        |v| {
            v["items"]
                .as_array()
                .is_some_and(|i| i.iter().all(|p| d(&p["size"]).is_zero()))
        },
    );

    // Every endpoint is in the OpenAPI document.
    let doc = server.json("/api/v1/openapi.json");
    for path in [
        "/api/v1/orders",
        "/api/v1/orders/{id}",
        "/api/v1/fills",
        "/api/v1/positions",
        "/api/v1/positions/close",
        "/api/v1/pnl",
        "/api/v1/pnl/history",
        "/api/v1/risk",
        "/api/v1/risk/{plugin}",
        "/api/v1/funding-payments",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    server.terminate();
}

/// The `fills` and `positions` WebSocket channels carry the REST items.
#[test]
fn fills_and_positions_stream_over_the_websocket() {
    let dir = temp_dir("execution-ws");
    let server = Server::start(&trader_config(&dir, ""));
    let ws_url = format!("{}/api/v1/ws", server.base.replace("http://", "ws://"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seen = rt.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
        ws.send(Message::Text(
            json!({"type": "subscribe", "channels": ["fills", "positions", "orders", "pnl"]})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let mut seen = std::collections::BTreeMap::<String, Value>::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let wanted = ["fills", "positions", "orders", "pnl"];
        while !wanted.iter().all(|c| seen.contains_key(*c)) {
            let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await else {
                break;
            };
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if let Some(kind) = v["type"].as_str() {
                    seen.entry(kind.to_owned()).or_insert(v["payload"].clone());
                }
            }
        }
        seen
    });
    for channel in ["fills", "positions", "orders", "pnl"] {
        assert!(seen.contains_key(channel), "{channel}: {seen:?}");
    }
    let fill = &seen["fills"];
    assert_eq!(
        d(&fill["fee"]),
        (d(&fill["price"]) * d(&fill["size"]) * dec("0.0005")).normalize()
    );
    assert_eq!(seen["pnl"]["plugin"], "trader");
    server.terminate();
}

/// A config edit that changes only the limits reaches the running account
/// without restarting the plugin: its next orders meet the new limit.
#[test]
fn a_config_edit_changes_the_limits_of_a_running_account() {
    let dir = temp_dir("execution-reload");
    let limit = |limit: &str| {
        trader_config(
            &dir,
            &format!("[execution.risk]\nmax_order_notional = \"{limit}\""),
        )
    };
    let config = limit("1000000");

    let server = Server::start(&config);
    server.wait_for(
        "/api/v1/fills?plugin=trader",
        Duration::from_secs(60),
        |v| v["items"].as_array().is_some_and(|i| !i.is_empty()),
    );
    limit("1");
    let rejected = server.wait_for(
        "/api/v1/orders?plugin=trader&status=rejected",
        Duration::from_secs(30),
        |v| v["items"].as_array().is_some_and(|i| !i.is_empty()),
    );
    let reason = rejected["items"][0]["reason"].as_str().unwrap().to_owned();
    assert!(reason.starts_with("max_order_notional: "), "{reason}");
    assert!(reason.ends_with(" > 1"), "{reason}");
    let plugin = server.json("/api/v1/plugins/trader");
    assert_eq!(plugin["swaps"], 0, "the plugin was not restarted: {plugin}");
    server.terminate();
}
