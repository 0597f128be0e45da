//! Routes and handlers.

use crate::error::ApiError;
use crate::reads::read;
use crate::state::AppState;
use crate::status::{latency, summary};
use crate::{admin, analytics, ws};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use prism_control::PluginView;
use prism_model::Instrument;
use prism_outputs::{LogQuery, SeriesQuery, SignalQuery};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The API's router over `state`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/v1/plugins", get(list_plugins))
        .route("/api/v1/feeds", get(feeds))
        .route(
            "/api/v1/plugins/{id}",
            get(plugin_detail).post(admin::add).delete(admin::remove),
        )
        .route("/api/v1/plugins/{id}/wasm", put(admin::replace_wasm))
        .route("/api/v1/plugins/{id}/config", put(admin::replace_config))
        .route("/api/v1/plugins/{id}/versions", get(versions))
        .route("/api/v1/plugins/{id}/dead-letters", get(dead_letters))
        .route("/api/v1/plugins/{id}/{action}", post(admin::action))
        .route("/api/v1/plugins/{id}/series/{name}", get(series))
        .route("/api/v1/plugins/{id}/documents/{key}", get(document))
        .route("/api/v1/plugins/{id}/logs", get(logs))
        .route("/api/v1/signals", get(signals))
        .route("/api/v1/signals/stats", get(analytics::signal_stats))
        .route("/api/v1/liquidations", get(analytics::liquidations))
        .route(
            "/api/v1/liquidations/recent",
            get(analytics::recent_liquidations),
        )
        .route(
            "/api/v1/liquidations/stats",
            get(analytics::liquidation_stats),
        )
        .route(
            "/api/v1/long-short-ratios/current",
            get(analytics::ratios_current),
        )
        .route(
            "/api/v1/long-short-ratios/history",
            get(analytics::ratios_history),
        )
        .route("/api/v1/liquidation-map", get(analytics::liquidation_map))
        .route(
            "/api/v1/whales",
            get(analytics::whales).post(analytics::add_whale),
        )
        .route(
            "/api/v1/whales/{account}",
            axum::routing::delete(analytics::remove_whale),
        )
        .route(
            "/api/v1/whales/{account}/activities",
            get(analytics::whale_activities),
        )
        .route("/api/v1/opportunities", get(analytics::opportunities))
        .route("/api/v1/ws", get(ws::upgrade))
        .route("/api/v1/openapi.json", get(crate::openapi::document))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::map_response(crate::error::json_errors))
        .with_state(state)
}

/// Query parameters, with rejections in the API's error shape.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // `?side=` means no filter on side, as an absent parameter does.
        let query: Vec<&str> = parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.ends_with('='))
            .collect();
        serde_urlencoded_from_str(&query.join("&")).map(ApiQuery)
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::bad_request("malformed query string"))?,
    )
    .map(|q| q.0)
    .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
}

fn place(instrument: &Option<Arc<Instrument>>) -> (Value, Value) {
    match instrument {
        Some(i) => (json!(i.exchange.as_ref()), json!(i.symbol.as_ref())),
        None => (Value::Null, Value::Null),
    }
}

/// Refuses `limit=0`, as the OpenAPI document's `minimum: 1` says.
fn at_least_one(limit: Option<usize>) -> Result<(), ApiError> {
    if limit == Some(0) {
        return Err(ApiError::bad_request(
            "invalid query: limit must be at least 1",
        ));
    }
    Ok(())
}

fn known(state: &AppState, id: &str) -> Result<PluginView, ApiError> {
    state
        .plugin(id)
        .ok_or_else(|| ApiError::not_found(format!("no plugin `{id}`")))
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let plugins = state.all_plugins();
    let failed: Vec<&str> = plugins
        .iter()
        .filter(|p| {
            matches!(
                p.metrics.state(),
                prism_worker::PluginState::Failed | prism_worker::PluginState::Quarantined
            )
        })
        .map(|p| p.id.as_str())
        .collect();
    let disconnected: Vec<&str> = state
        .feeds
        .iter()
        .filter(|f| !f.metrics.connected.load(Ordering::Relaxed))
        .map(|f| f.venue.as_str())
        .collect();
    let source_state = state.source.state();
    let snapshot_error = state.snapshots.as_ref().and_then(|s| s.last_error());
    let healthy = failed.is_empty()
        && disconnected.is_empty()
        && source_state != prism_sources::SourceState::Failed
        && snapshot_error.is_none();
    let snapshots = state.snapshots.as_ref().map(|s| {
        json!({
            "written": s.written.load(Ordering::Relaxed),
            "failed": s.failed.load(Ordering::Relaxed),
            "error": snapshot_error,
        })
    });
    Json(json!({
        "status": if healthy { "ok" } else { "degraded" },
        "source": {
            "state": source_state,
            "error": state.source.error(),
            "events": state.source.events.load(Ordering::Relaxed),
            "skipped": state.source.skipped.load(Ordering::Relaxed),
        },
        "snapshots": snapshots,
        "disconnected_feeds": disconnected,
        "uptime_s": state.started.elapsed().as_secs(),
        "plugins": plugins.len(),
        "failed_plugins": failed,
        "events": state.source.events.load(Ordering::Relaxed),
    }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&state),
    )
}

fn feed_json(f: &crate::state::FeedView) -> Value {
    let m = &f.metrics;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let last = m.last_message_ms.load(Ordering::Relaxed);
    json!({
        "venue": f.venue,
        "connected": m.connected.load(Ordering::Relaxed),
        "connects": n(&m.connects),
        "reconnects": n(&m.reconnects),
        "messages": n(&m.messages),
        "records": n(&m.records),
        "rejected": n(&m.rejected),
        "unknown": n(&m.unknown),
        "book_gaps": n(&m.book_gaps),
        "checksum_mismatches": n(&m.checksum_mismatches),
        "resyncs": n(&m.resyncs),
        "latency_ms": {"mean": m.latency_mean_ms(), "max": m.latency_max_ms.load(Ordering::Relaxed)},
        "last_message_at": (last > 0).then_some(last),
    })
}

async fn feeds(State(state): State<AppState>) -> impl IntoResponse {
    let items: Vec<Value> = state.feeds.iter().map(feed_json).collect();
    Json(json!({ "items": items }))
}

async fn list_plugins(State(state): State<AppState>) -> impl IntoResponse {
    let head = state.head_ts.load(Ordering::Relaxed);
    let items: Vec<Value> = state
        .all_plugins()
        .iter()
        .map(|p| summary(p, head))
        .collect();
    Json(json!({ "items": items }))
}

async fn plugin_detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| {
        let p = known(state, &id)?;
        let mut body = summary(&p, state.head_ts.load(Ordering::Relaxed));
        body["call_latency"] = latency(&p);
        body["series"] = json!(state.store.series_names(&id));
        body["documents"] = json!(state.store.document_keys(&id));
        Ok(Json(body))
    })
    .await
}

async fn versions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let items = state.control.versions(&id)?;
    Ok(Json(json!({"plugin": id, "items": items})))
}

async fn dead_letters(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| dead_letter_page(state, &id)).await
}

fn dead_letter_page(state: &AppState, id: &str) -> Result<Json<Value>, ApiError> {
    let p = known(state, id)?;
    let items: Vec<Value> = p
        .metrics
        .dead_letters()
        .iter()
        .map(|d| {
            json!({
                "event": prism_sources::event_json(&d.event, d.instrument.as_deref()),
                "error": {"kind": d.fault.kind, "message": d.fault.message},
                "at": d.at_ms,
                "sha256": d.version,
            })
        })
        .collect();
    Ok(Json(json!({
        "plugin": id,
        "total": p.metrics.dead_letters_total.load(Ordering::Relaxed),
        "items": items,
    })))
}

async fn series(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| series_page(state, &id, &name, &q)).await
}

fn series_page(
    state: &AppState,
    id: &str,
    name: &str,
    q: &SeriesQuery,
) -> Result<Json<Value>, ApiError> {
    known(state, id)?;
    at_least_one(q.limit)?;
    let points: Vec<Value> = state
        .store
        .series(id, name, q)
        .into_iter()
        .map(|p| {
            let (exchange, symbol) = place(&p.instrument);
            json!({"exchange": exchange, "symbol": symbol, "ts": p.ts, "value": p.value})
        })
        .collect();
    Ok(Json(json!({"plugin": id, "name": name, "points": points})))
}

async fn document(
    State(state): State<AppState>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| {
        known(state, &id)?;
        let d = state
            .store
            .document(&id, &key)
            .ok_or_else(|| ApiError::not_found(format!("plugin `{id}` has no document `{key}`")))?;
        Ok(Json(
            json!({"plugin": id, "key": d.key.as_ref(), "ts": d.ts, "body": d.body}),
        ))
    })
    .await
}

async fn logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| log_page(state, &id, &q)).await
}

fn log_page(state: &AppState, id: &str, q: &LogQuery) -> Result<Json<Value>, ApiError> {
    known(state, id)?;
    at_least_one(q.limit)?;
    let page = state.store.logs(id, q);
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|l| {
            let (exchange, symbol) = place(&l.instrument);
            json!({"name": l.name.as_ref(), "exchange": exchange, "symbol": symbol, "ts": l.ts, "body": l.body})
        })
        .collect();
    Ok(Json(
        json!({"plugin": id, "items": items, "next_cursor": page.next_cursor}),
    ))
}

async fn signals(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SignalQuery>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| signal_page(state, &q)).await
}

fn signal_page(state: &AppState, q: &SignalQuery) -> Result<Json<Value>, ApiError> {
    at_least_one(q.limit)?;
    let page = state.store.signals(q);
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|(plugin, s)| {
            json!({
                "plugin": plugin.as_ref(),
                "exchange": s.instrument.exchange.as_ref(),
                "symbol": s.instrument.symbol.as_ref(),
                "ts": s.ts,
                "direction": s.direction,
                "strength": s.strength,
                "reason": s.reason.as_ref(),
            })
        })
        .collect();
    Ok(Json(
        json!({"items": items, "next_cursor": page.next_cursor}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Fixed, view};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use prism_model::{InstrumentRegistry, Output, SeriesPoint};
    use prism_outputs::{OutputStore, StoreLimits};
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
        let response = app(state()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(path: &str) -> (StatusCode, Value) {
        send(Request::get(path).body(Body::empty()).unwrap()).await
    }

    #[tokio::test]
    async fn series_are_served_with_filters() {
        let (status, body) =
            get("/api/v1/plugins/ratios/series/r?symbol=BTCUSDT&from=100000").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["points"],
            json!([{"exchange": "binance", "symbol": "BTCUSDT", "ts": 120000, "value": 0.75}])
        );
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
        let (status, body) =
            send(post("/api/v1/plugins/ratios/rollback", Some("s3cret"), b"")).await;
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
        let doc = serde_json::to_value(crate::openapi::build()).unwrap();
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
        assert!(text.contains(
            "prism_plugin_call_duration_seconds_bucket{plugin=\"ratios\",le=\"+Inf\"} 0"
        ));
    }

    #[tokio::test]
    async fn every_endpoint_of_the_openapi_document_is_routed() {
        let doc = crate::openapi::build();
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        for e in crate::openapi::ENDPOINTS {
            let path = e
                .path
                .replace("{id}", "ratios")
                .replace("{name}", "r")
                .replace("{key}", "k")
                .replace("{account}", "0xabc");
            let request = Request::builder()
                .method(e.method.to_uppercase().as_str())
                .uri(&path)
                .body(Body::empty())
                .unwrap();
            let (status, body) = send(request).await;
            let fell_through = status == StatusCode::NOT_FOUND
                && body["error"]["message"] == "no such endpoint"
                || status == StatusCode::METHOD_NOT_ALLOWED;
            assert!(!fell_through, "{} {path}: {status} {body}", e.method);
            assert!(
                json["paths"][e.path][e.method].is_object(),
                "{} {} is in the document",
                e.method,
                e.path
            );
        }
    }
}
