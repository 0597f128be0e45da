//! The router as a whole: errors, admin, metrics, the OpenAPI document.

use crate::app;
use crate::state::AppState;
use crate::testing::{Fixed, view};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use prism_model::{InstrumentRegistry, Output, SeriesPoint};
use prism_outputs::{OutputStore, StoreLimits};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

fn state() -> AppState {
    let store = Arc::new(OutputStore::new(StoreLimits::default()));
    let mut reg = InstrumentRegistry::default();
    let (btc, _) = reg.intern("binance", "BTCUSDT");
    let btc = reg.get(btc).unwrap().clone();
    let plugin: Arc<str> = Arc::from("ratios");
    let points = [(60_000, 1.5), (120_000, 0.75)]
        .into_iter()
        .map(|(ts, value)| {
            Output::Series(SeriesPoint {
                name: Arc::from("r"),
                instrument: Some(btc.clone()),
                ts,
                value,
            })
        })
        .collect();
    store.insert(&plugin, points);
    let mut state = AppState::new(store, Arc::new(Fixed::new(vec![view("ratios", json!({}))])));
    state.admin.token = Some(Arc::from("s3cret"));
    state.admin.max_upload_bytes = 16;
    state
}

async fn send(request: Request<Body>) -> (StatusCode, Value) {
    crate::testing::call(&state(), request).await
}

async fn get(path: &str) -> (StatusCode, Value) {
    send(Request::get(path).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn series_are_served_with_filters() {
    let (status, body) = get("/api/v1/plugins/ratios/series/r?symbol=BTCUSDT&from=100000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["points"],
        json!([{"exchange": "binance", "symbol": "BTCUSDT", "ts": 120000, "value": 0.75}])
    );
}

/// A small page of one instrument's series is read on the reactor; any
/// other read waits for the read pool (here refusing everything as busy).
#[tokio::test]
async fn small_series_pages_do_not_wait_for_the_read_pool() {
    let mut state = state();
    state.reads = Arc::new(crate::reads::Reads::new(1, 0));
    let get =
        |path: &str| crate::testing::call(&state, Request::get(path).body(Body::empty()).unwrap());
    let (status, body) =
        get("/api/v1/plugins/ratios/series/r?exchange=binance&symbol=BTCUSDT&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["points"],
        json!([
            {"exchange": "binance", "symbol": "BTCUSDT", "ts": 60000, "value": 1.5},
            {"exchange": "binance", "symbol": "BTCUSDT", "ts": 120000, "value": 0.75}
        ])
    );
    for pooled in [
        "/api/v1/plugins/ratios/series/r?exchange=binance&symbol=BTCUSDT&limit=257",
        "/api/v1/plugins/ratios/series/r?exchange=binance&symbol=BTCUSDT",
        "/api/v1/plugins/ratios/series/r?symbol=BTCUSDT&limit=2",
    ] {
        let (status, body) = get(pooled).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{pooled}: {body}");
        assert_eq!(body["error"]["code"], "busy", "{pooled}");
    }
}

#[tokio::test]
async fn errors_have_one_shape() {
    let (status, body) = get("/api/v1/plugins/nope/series/r").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = get("/api/v1/plugins/ratios/series/r?from=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("from"),
        "{body}"
    );
    let (status, body) = get("/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = get("/api/v1/signals?strength=huge").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

fn post(path: &str, token: Option<&str>, body: &'static [u8]) -> Request<Body> {
    let mut r = Request::post(path);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    r.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn mutations_need_the_token_and_respect_the_upload_limit() {
    let (status, body) = send(post("/api/v1/plugins/ratios/pause", None, b"")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = send(post("/api/v1/plugins/ratios/pause", Some("guess"), b"")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send(post("/api/v1/plugins/ratios/pause", Some("s3cret"), b"")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], "ratios");
    let (status, body) = send(post(
        "/api/v1/plugins/new",
        Some("s3cret"),
        b"0123456789abcdefXYZ",
    ))
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    let (status, body) = send(post("/api/v1/plugins/ratios", Some("s3cret"), b"\0asm")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = send(post("/api/v1/plugins/ratios/rollback", Some("s3cret"), b"")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "no_previous_version");
    let (status, _) = send(post("/api/v1/plugins/ratios/explode", Some("s3cret"), b"")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut off = state();
    off.admin.token = None;
    let response = app(off)
        .oneshot(post("/api/v1/plugins/ratios/pause", Some("s3cret"), b""))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn schema_valid_requests_are_served_and_every_error_is_json() {
    // An empty value is no filter; the OpenAPI document says limit >= 1.
    let (status, body) = get("/api/v1/signals?strength=&direction=&limit=5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = get("/api/v1/plugins/ratios/series/r?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, doc) = get("/api/v1/openapi.json").await;
    let params = &doc["paths"]["/api/v1/signals"]["get"]["parameters"];
    let limit = params
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    // A path that is not UTF-8, a method not allowed: the JSON shape.
    let (status, body) = get("/api/v1/plugins/%FF%FE/series/r").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    let (status, body) = send(
        Request::delete("/api/v1/signals")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let response = app(state())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains("# TYPE prism_plugin_events_total counter"));
    assert!(text.contains("prism_plugin_events_total{plugin=\"ratios\"} 0"));
    assert!(
        text.contains("prism_plugin_call_duration_seconds_bucket{plugin=\"ratios\",le=\"+Inf\"} 0")
    );
}

#[tokio::test]
async fn every_endpoint_of_the_openapi_document_is_routed_and_typed() {
    let (status, json) = get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["openapi"], "3.1.0");
    let paths = json["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 54, "{:?}", paths.keys().collect::<Vec<_>>());
    for (template, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let path = template
                .replace("{id}", "ratios")
                .replace("{name}", "r")
                .replace("{key}", "k")
                .replace("{account}", "0xabc");
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&path)
                .body(Body::empty())
                .unwrap();
            let (status, body) = send(request).await;
            let fell_through = status == StatusCode::NOT_FOUND
                && body["error"]["message"] == "no such endpoint"
                || status == StatusCode::METHOD_NOT_ALLOWED;
            assert!(!fell_through, "{method} {path}: {status} {body}");
            // Every JSON success answer has a typed schema: a reference to a
            // named body, never a bare object.
            for (code, response) in op["responses"].as_object().unwrap() {
                let Some(schema) = response["content"]["application/json"]["schema"].as_object()
                else {
                    continue;
                };
                if code.starts_with('2') {
                    assert!(
                        schema.contains_key("$ref"),
                        "{method} {template} {code}: {schema:?}"
                    );
                }
            }
        }
    }
    // Every named body has its properties.
    for (name, schema) in json["components"]["schemas"].as_object().unwrap() {
        assert!(
            schema["properties"].is_object() || schema["allOf"].is_array(),
            "{name}: {schema}"
        );
    }
}
