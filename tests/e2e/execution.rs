//! Paper execution through the binary: the funding-arb loop on a fixture
//! with its PnL worked out by hand, replays that give the same fills
//! whatever the batching, and a running host's orders, fills, positions,
//! PnL and risk over the API and WebSocket, with the operator's hand on
//! them.

use crate::common::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "e2e-execution-token";

fn d(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a decimal string"))
        .parse()
        .unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn funding_arb_config(dir: &std::path::Path, batch_size: usize) -> std::path::PathBuf {
    let config = dir.join(format!("prism-{batch_size}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
cache = false
[pipeline]
batch_size = {batch_size}
[execution.fees.binance]
maker = "0.0002"
taker = "0.0004"
[execution.fees.hyperliquid]
maker = "0.0001"
taker = "0.00035"
[[plugins]]
id = "funding-arb"
path = "{wasm}"
paper = true
[plugins.config]
trade = true
notional_usd = "30000"
holding_hours = "8760"
fees = {{ binance = "0.0004", hyperliquid = "0.00035" }}
"#,
            data = dir.join("data").display(),
            wasm = wasm("funding_arb").display(),
        ),
    )
    .unwrap();
    config
}

fn replay(config: &std::path::Path, out: &std::path::Path) -> Vec<Value> {
    let result = prism()
        .args(["replay", "--config"])
        .arg(config)
        .arg("--events")
        .arg(fixture("funding-arb-paper.jsonl"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["kind"] == kind).collect()
}

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
[execution]
stale_after = "10m"
[execution.default_fees]
maker = "0.0001"
taker = "0.0005"
[[plugins]]
id = "trader"
path = "{probe}"
paper = true
config = {{ mode = "trader", every = 40, size = "0.01" }}
{extra}
"#,
            data = dir.join("data").display(),
            probe = wasm("prism_probe").display(),
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

fn run_config(dir: &std::path::Path, events: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
watch = false
[recovery]
persist_snapshots = true
restore_on_start = true
{extra}
[source]
kind = "replay"
path = "{events}"
pace = 0.0
[execution.fees.binance]
maker = "0.0002"
taker = "0.0004"
[execution.fees.hyperliquid]
maker = "0.0001"
taker = "0.00035"
[[plugins]]
id = "funding-arb"
path = "{wasm}"
paper = true
[plugins.config]
trade = true
notional_usd = "30000"
holding_hours = "8760"
fees = {{ binance = "0.0004", hyperliquid = "0.00035" }}
"#,
            data = dir.join("data").display(),
            events = events.display(),
            wasm = wasm("funding_arb").display(),
        ),
    )
    .unwrap();
    config
}

fn wait_total(server: &Server, total: &str) -> Value {
    server.wait_for("/api/v1/pnl", Duration::from_secs(60), |v| {
        v["total"]["total"]
            .as_str()
            .is_some_and(|t| t.parse::<Decimal>().ok() == Some(dec(total)))
    })
}

/// A host stopped with both legs open and started again on the whole file
/// resumes the account from its checkpoint: the funding and the exit that
/// follow give the PnL of one uninterrupted run (−91.148, by hand above).
#[test]
fn a_restart_keeps_the_positions_and_ends_where_one_run_ends() {
    let dir = temp_dir("execution-restart");
    let full = fixture("funding-arb-paper.jsonl");
    let first_part = dir.join("first.jsonl");
    let text = std::fs::read_to_string(&full).unwrap();
    // Instruments, funding of both venues, and the three trades that open
    // (and fill) both legs.
    let head: Vec<&str> = text.lines().take(7).collect();
    std::fs::write(&first_part, head.join("\n") + "\n").unwrap();

    let server = Server::start(&run_config(&dir, &first_part, ""));
    let open = server.wait_for("/api/v1/positions", Duration::from_secs(60), |v| {
        v["items"]
            .as_array()
            .is_some_and(|i| i.len() == 2 && i.iter().all(|p| !d(&p["size"]).is_zero()))
    });
    let sizes: Vec<Decimal> = open["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| d(&p["size"]))
        .collect();
    assert_eq!(sizes.iter().copied().sum::<Decimal>(), dec("0"), "{open}");
    assert!(server.terminate().success());

    let server = Server::start(&run_config(&dir, &full, ""));
    let pnl = wait_total(&server, "-91.148");
    assert_eq!(d(&pnl["pairs"][0]["total"]), dec("-91.148"));
    assert_eq!(pnl["pairs"][0]["base"], "BTC");
    let funding = server.json("/api/v1/funding-payments");
    let amounts: Vec<Decimal> = funding["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| d(&f["amount"]))
        .collect();
    // Newest first.
    assert_eq!(amounts, vec![dec("3"), dec("0.6008"), dec("0.3002")]);
    // Only the closing fills are new in this run.
    let fills = server.json("/api/v1/fills");
    assert_eq!(fills["items"].as_array().unwrap().len(), 2, "{fills}");
    server.terminate();
}

/// With PostgreSQL, the records land in their tables once each, with the
/// values worked out by hand; a restart that makes nothing new adds no row,
/// and its API shows the earlier run's records, read back.
#[test]
fn paper_records_land_in_postgresql_once() {
    let Some(pg) = crate::services::Postgres::connect("paper") else {
        return;
    };
    let dir = temp_dir("execution-postgres");
    let section = format!(
        "[postgres]\nurl = \"{}\"\nschema = \"{}\"\nconnect_timeout_ms = 2000",
        pg.url, pg.schema
    );
    let config = run_config(&dir, &fixture("funding-arb-paper.jsonl"), &section);
    let count =
        |table: &str| -> i64 { pg.rows(&format!("SELECT count(*) FROM {table}"))[0].get(0) };
    for round in 0..2 {
        let server = Server::start(&config);
        // The restart shows the earlier run's records, read back.
        wait_total(&server, "-91.148");
        let fills = server.json("/api/v1/fills");
        assert_eq!(
            fills["items"].as_array().unwrap().len(),
            4,
            "round {round}: {fills}"
        );
        if round == 1 {
            let order = server.json("/api/v1/orders/funding-arb:4");
            assert_eq!(
                (order["status"].as_str(), order["fees"].as_str()),
                (Some("filled"), Some("12.032"))
            );
            std::thread::sleep(Duration::from_secs(1));
        }
        assert!(server.terminate().success());
        assert_eq!(count("paper_fills"), 4, "round {round}");
        assert_eq!(count("paper_orders"), 4);
        assert_eq!(count("paper_funding"), 3);
        assert_eq!(count("paper_positions"), 2);
        assert_eq!(count("paper_risk"), 1);
    }
    let fees: Vec<String> = pg
        .rows("SELECT fee::text FROM paper_fills ORDER BY ts")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let fees: Vec<Decimal> = fees.iter().map(|f| dec(f)).collect();
    assert_eq!(
        fees,
        [dec("10.5035"), dec("11.996"), dec("10.5175"), dec("12.032")]
    );
    let amounts: Vec<String> = pg
        .rows("SELECT amount::text FROM paper_funding ORDER BY ts")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let amounts: Vec<Decimal> = amounts.iter().map(|f| dec(f)).collect();
    assert_eq!(amounts, [dec("0.3002"), dec("0.6008"), dec("3")]);
    let states: Vec<String> = pg
        .rows("SELECT status FROM paper_orders")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(states.iter().all(|s| s == "filled"), "{states:?}");
    let total: String = pg.rows("SELECT sum(total)::text FROM paper_positions")[0].get(0);
    assert_eq!(dec(&total), dec("-91.148"));
    let last: String =
        pg.rows("SELECT total::text FROM paper_pnl ORDER BY ts DESC LIMIT 1")[0].get(0);
    assert_eq!(dec(&last), dec("-91.148"));
    let account: Option<Vec<u8>> =
        pg.rows("SELECT account FROM checkpoints WHERE plugin = 'funding-arb'")[0].get(0);
    assert!(account.is_some_and(|a| !a.is_empty()));
}

/// A config edit that changes only the limits reaches the running account
/// without restarting the plugin: its next orders meet the new limit.
#[test]
fn a_config_edit_changes_the_limits_of_a_running_account() {
    let dir = temp_dir("execution-reload");
    let config = dir.join("prism.toml");
    let text = |limit: &str| {
        format!(
            r#"
[runtime]
data_dir = "{data}"
watch_debounce_ms = 20
[source]
kind = "simulator"
pace = 200.0
[execution]
stale_after = "10m"
[execution.risk]
max_order_notional = "{limit}"
[[plugins]]
id = "trader"
path = "{probe}"
paper = true
config = {{ mode = "trader", every = 40, size = "0.01" }}
"#,
            data = dir.join("data").display(),
            probe = wasm("prism_probe").display(),
        )
    };
    std::fs::write(&config, text("1000000")).unwrap();
    let server = Server::start(&config);
    server.wait_for(
        "/api/v1/fills?plugin=trader",
        Duration::from_secs(60),
        |v| v["items"].as_array().is_some_and(|i| !i.is_empty()),
    );
    std::fs::write(&config, text("1")).unwrap();
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
