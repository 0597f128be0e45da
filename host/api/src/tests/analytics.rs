//! The analytics endpoints over hand-made outputs.

use crate::state::AppState;
use crate::testing::{Fixed, view};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use prism_model::{InstrumentRegistry, LogEntry, Output, SeriesPoint};
use prism_outputs::{OutputStore, StoreLimits};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

const NOW: i64 = 1_700_100_000_000;
const HOUR: i64 = 3_600_000;

fn state() -> AppState {
    let store = Arc::new(OutputStore::new(StoreLimits::default()));
    let mut reg = InstrumentRegistry::default();
    let (btc, _) = reg.intern("binance", "BTCUSDT");
    let (eth, _) = reg.intern("okx", "ETH-USDT-SWAP");
    let (hl, _) = reg.intern("hyperliquid", "BTC");
    let i = |id| Some(reg.get(id).unwrap().clone());
    let liq = |id, ts, side: &str, notional: &str| {
        Output::Log(LogEntry {
            name: Arc::from("liquidation"),
            instrument: i(id),
            ts,
            body: json!({"side": side, "price": "1", "size": notional, "notional": notional, "account": null}).into(),
        })
    };
    store.insert(
        &Arc::from("liquidation-map"),
        vec![
            liq(eth, NOW - 5 * HOUR, "long", "50.25"),
            liq(btc, NOW - 2 * HOUR, "short", "200"),
            liq(btc, NOW - HOUR / 2, "long", "100.5"),
            // In the future of the newest event: outside every window.
            liq(btc, NOW + 1, "long", "7"),
        ],
    );
    let ratio = |id, name: &str, ts, value| {
        Output::Series(SeriesPoint {
            name: Arc::from(name),
            instrument: i(id),
            ts,
            value,
        })
    };
    let mut points = Vec::new();
    for (ts, v) in [(60_000, 1.0), (120_000, 2.0)] {
        points.push(ratio(btc, "taker_long_short_ratio", ts, v));
        points.push(ratio(eth, "taker_long_short_ratio", ts, v + 0.5));
        points.push(ratio(hl, "account_long_short_ratio", ts, v * 3.0));
    }
    store.insert(&Arc::from("long-short-ratio"), points);
    store.insert(
        &Arc::from("whale-detector"),
        vec![Output::Log(LogEntry {
            name: Arc::from("whale_activity"),
            instrument: i(hl),
            ts: NOW - 10,
            body: json!({"account": "0xAbC", "kind": "trade"}).into(),
        })],
    );
    let control = Fixed::new(vec![
        view("liquidation-map", json!({})),
        view("long-short-ratio", json!({})),
        view(
            "whale-detector",
            json!({"min_trade_usd": 1000, "watched": ["0xabc"]}),
        ),
    ]);
    let mut state = AppState::new(store, Arc::new(control));
    state.head_ts.store(NOW, Ordering::Relaxed);
    state.admin.token = Some(Arc::from("t"));
    state
}

async fn call(state: &AppState, request: Request<Body>) -> (StatusCode, Value) {
    crate::testing::call(state, request).await
}

async fn get(state: &AppState, path: &str) -> Value {
    let (status, body) = call(state, Request::get(path).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

#[tokio::test]
async fn liquidation_stats_sum_exactly_per_window_and_side() {
    let s = state();
    let stats = get(&s, "/api/v1/liquidations/stats").await;
    assert_eq!(stats["now"], NOW);
    let w = |i: usize, side: &str| {
        (
            stats["windows"][i][side]["count"].as_u64().unwrap(),
            stats["windows"][i][side]["notional"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    // 1 h: the long 100.5 (30 min ago). 4 h: + the short 200 (2 h ago).
    // 24 h: + the long 50.25 (5 h ago). The future one is in none.
    assert_eq!(w(0, "long"), (1, "100.5".into()));
    assert_eq!(w(0, "short"), (0, "0".into()));
    assert_eq!(w(1, "short"), (1, "200".into()));
    assert_eq!(w(2, "long"), (2, "150.75".into()));
    assert_eq!(w(2, "total"), (3, "350.75".into()));
    let btc = get(&s, "/api/v1/liquidations/stats?symbol=btcusdt").await;
    assert_eq!(btc["windows"][2]["total"]["count"], 2);
}

#[tokio::test]
async fn liquidations_page_newest_first_with_filters() {
    let s = state();
    let first = get(&s, "/api/v1/liquidations?limit=2").await;
    let notionals = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["notional"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(notionals(&first), ["7", "100.5"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = get(&s, &format!("/api/v1/liquidations?limit=2&cursor={cursor}")).await;
    assert_eq!(notionals(&second), ["200", "50.25"]);
    assert_eq!(second["next_cursor"], Value::Null);
    let short = get(&s, "/api/v1/liquidations?side=short").await;
    assert_eq!(notionals(&short), ["200"]);
    assert_eq!(short["items"][0]["exchange"], "binance");
    let okx = get(&s, "/api/v1/liquidations?exchange=OKX").await;
    assert_eq!(notionals(&okx), ["50.25"]);
    let recent = get(&s, "/api/v1/liquidations/recent?limit=1").await;
    assert_eq!(notionals(&recent), ["7"]);
    let (status, body) = call(
        &s,
        Request::get("/api/v1/liquidations?side=sideways")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("side"),
        "{body}"
    );
}

#[tokio::test]
async fn ratio_history_pages_through_points_of_one_time_without_loss() {
    let s = state();
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/long-short-ratios/history?limit=2&cursor={c}"),
            None => "/api/v1/long-short-ratios/history?limit=2".to_owned(),
        };
        let page = get(&s, &path).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for i in items {
            seen.push(format!(
                "{} {} {} {}",
                i["ts"], i["kind"], i["symbol"], i["value"]
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "120000 \"account\" \"BTC\" 6.0",
            "120000 \"taker\" \"BTCUSDT\" 2.0",
            "120000 \"taker\" \"ETH-USDT-SWAP\" 2.5",
            "60000 \"account\" \"BTC\" 3.0",
            "60000 \"taker\" \"BTCUSDT\" 1.0",
            "60000 \"taker\" \"ETH-USDT-SWAP\" 1.5",
        ]
    );
    let current = get(&s, "/api/v1/long-short-ratios/current").await;
    assert_eq!(
        current["items"],
        json!([
            {"exchange": "binance", "symbol": "BTCUSDT", "taker": {"ts": 120000, "value": 2.0}, "account": null},
            {"exchange": "hyperliquid", "symbol": "BTC", "taker": null, "account": {"ts": 120000, "value": 6.0}},
            {"exchange": "okx", "symbol": "ETH-USDT-SWAP", "taker": {"ts": 120000, "value": 2.5}, "account": null},
        ])
    );
}

#[tokio::test]
async fn whales_are_listed_added_and_their_activities_read() {
    let s = state();
    assert_eq!(
        get(&s, "/api/v1/whales").await["items"],
        json!([{"account": "0xabc"}])
    );
    let activities = get(&s, "/api/v1/whales/0xABC/activities").await;
    assert_eq!(activities["items"][0]["kind"], "trade");
    assert_eq!(activities["items"][0]["ts"], NOW - 10);
    let send = |method: &str, path: &str, token: Option<&str>, body: String| {
        let mut r = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(Body::from(body)).unwrap()
    };
    let post = |token: Option<&str>, account: &str| {
        send(
            "POST",
            "/api/v1/whales",
            token,
            format!(r#"{{"account":"{account}"}}"#),
        )
    };
    let def = "0x00000000000000000000000000000000000000DE";
    let (status, _) = call(&s, post(None, def)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Only accounts a venue can have: an address or a numeric index.
    for bad in [
        "0xdef",
        "whale",
        "0x00000000000000000000000000000000000000zz",
        "",
        "-1",
    ] {
        let (status, answer) = call(&s, post(Some("t"), bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
    }
    let (status, body) = call(&s, post(Some("t"), def)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = call(&s, post(Some("t"), " 281474976710655 ")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The whale plugin got the longer list (addresses in lower case),
    // its other settings kept.
    let config = s.control.view("whale-detector").unwrap().config;
    let lower = def.to_ascii_lowercase();
    assert_eq!(
        config,
        json!({"min_trade_usd": 1000, "watched": ["0xabc", lower, "281474976710655"]})
    );
    let (status, _) = call(&s, post(Some("t"), &lower)).await;
    assert_eq!(status, StatusCode::OK, "already watched");
    let (status, _) = call(
        &s,
        send(
            "POST",
            "/api/v1/whales",
            Some("t"),
            r#"{"acount":"x"}"#.into(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Stop watching: admin only, then gone from the list; twice is 404.
    let path = format!("/api/v1/whales/{def}");
    let (status, _) = call(&s, send("DELETE", &path, None, String::new())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&s, send("DELETE", &path, Some("t"), String::new())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["items"],
        json!([{"account": "0xabc"}, {"account": "281474976710655"}])
    );
    let (status, _) = call(&s, send("DELETE", &path, Some("t"), String::new())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(
        &s,
        Request::get("/api/v1/opportunities")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no funding-arb plugin runs: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("analytics.opportunities")
    );
}
