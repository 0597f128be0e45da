//! Routes and handlers.

use crate::error::ApiError;
use crate::state::{AppState, PluginView};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prism_model::{Instrument, OutputKind};
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
        .route("/api/v1/plugins/{id}", get(plugin_detail))
        .route("/api/v1/plugins/{id}/series/{name}", get(series))
        .route("/api/v1/plugins/{id}/documents/{key}", get(document))
        .route("/api/v1/plugins/{id}/logs", get(logs))
        .route("/api/v1/signals", get(signals))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(state)
}

/// Query parameters, with rejections in the API's error shape.
struct ApiQuery<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded_from_str(query).map(ApiQuery)
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

fn known(state: &AppState, id: &str) -> Result<PluginView, ApiError> {
    state
        .plugin(id)
        .ok_or_else(|| ApiError::not_found(format!("no plugin `{id}`")))
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let plugins = state.all_plugins();
    let failed: Vec<&str> = plugins
        .iter()
        .filter(|p| p.metrics.state() == prism_runtime::PluginState::Failed)
        .map(|p| p.id.as_str())
        .collect();
    Json(json!({
        "status": if failed.is_empty() { "ok" } else { "degraded" },
        "uptime_s": state.started.elapsed().as_secs(),
        "plugins": plugins.len(),
        "failed_plugins": failed,
        "events": state.source_events.load(Ordering::Relaxed),
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

fn summary(p: &PluginView, head: i64) -> Value {
    let m = &p.metrics;
    let last = m.last_event_ts.load(Ordering::Relaxed);
    let outputs: serde_json::Map<String, Value> = OutputKind::ALL
        .iter()
        .map(|k| (k.as_str().to_owned(), json!(m.outputs(*k))))
        .collect();
    json!({
        "id": p.id,
        "name": p.name,
        "version": p.version,
        "state": m.state().as_str(),
        "sha256": p.sha256,
        "path": p.path,
        "loaded_at": p.loaded_at_ms,
        "subscription": p.subscription,
        "events_in": m.events_in.load(Ordering::Relaxed),
        "events_dropped": m.events_dropped.load(Ordering::Relaxed),
        "batches": m.batches.load(Ordering::Relaxed),
        "outputs": outputs,
        "errors": m.errors.load(Ordering::Relaxed),
        "last_error": m.last_error(),
        "queue_depth": p.queue_depth.load(Ordering::Relaxed),
        "last_event_ts": (last != i64::MIN).then_some(last),
        "lag_ms": if last == i64::MIN || head == i64::MIN { 0 } else { (head - last).max(0) },
        "memory_bytes": m.memory_bytes.load(Ordering::Relaxed),
    })
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
    let p = known(&state, &id)?;
    let mut body = summary(&p, state.head_ts.load(Ordering::Relaxed));
    body["series"] = json!(state.store.series_names(&id));
    body["documents"] = json!(state.store.document_keys(&id));
    Ok(Json(body))
}

async fn series(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> Result<Json<Value>, ApiError> {
    known(&state, &id)?;
    let points: Vec<Value> = state
        .store
        .series(&id, &name, &q)
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
    known(&state, &id)?;
    let d = state
        .store
        .document(&id, &key)
        .ok_or_else(|| ApiError::not_found(format!("plugin `{id}` has no document `{key}`")))?;
    Ok(Json(
        json!({"plugin": id, "key": d.key.as_ref(), "ts": d.ts, "body": d.body}),
    ))
}

async fn logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    known(&state, &id)?;
    let page = state.store.logs(&id, &q);
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
    let page = state.store.signals(&q);
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
    use crate::state::PluginView;
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
        let state = AppState::new(store);
        state.plugins.write().unwrap().insert(
            "ratios".into(),
            PluginView {
                id: "ratios".into(),
                name: "ratios".into(),
                version: "1.0.0".into(),
                path: "ratios.wasm".into(),
                sha256: "00".repeat(32),
                subscription: prism_runtime::Subscription::default(),
                metrics: Arc::default(),
                queue_depth: Arc::default(),
                loaded_at_ms: 0,
            },
        );
        state
    }

    async fn get(path: &str) -> (StatusCode, Value) {
        let response = app(state())
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
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
}
