//! Prism's HTTP API. The only crate that names axum.
//!
//! [`app`] builds the router from an [`AppState`], so tests call it without
//! a server. Each area (`system`, `plugins`, `admin`, `analytics`, `ws`)
//! brings its own router; they share only what sits below them (`extract`,
//! `params`, `reads`, `views`, `names`, `live`, `error`, `state`) and never
//! import each other. Every error is `{"error": {"code": …, "message": …}}` with
//! the matching status; internal details are logged, never sent. The
//! OpenAPI document is derived from the handlers and their typed bodies.

mod admin;
mod alerts;
mod analytics;
mod capacity;
mod cluster;
mod dashboard;
mod error;
mod execution;
mod extract;
mod frontend;
mod history;
mod live;
mod market;
mod metrics;
mod names;
mod openapi;
mod params;
mod plugins;
mod reads;
mod requests;
mod server;
mod state;
mod system;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod transactions;
mod views;
mod ws;

pub use cluster::{ClusterHostStatus, ClusterStatus, HeldPartition, PartitionOwner};
pub use error::ApiError;
pub use live::{LiveFrames, LiveSink};
pub use server::{ServerSettings, serve};
pub use state::{AdminSettings, AnalyticsPlugins, AppState, FeedView, PostgresView, WsSettings};

use axum::Router;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// The name the binary gives the live WebSocket sink in the sink stage (its
/// drops are reported as `prism_ws_batches_dropped_total`).
pub const LIVE_SINK: &str = "live";

/// The API's router over `state`.
pub fn app(state: AppState) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(openapi::Base::openapi())
        .merge(system::router())
        .merge(capacity::router())
        .merge(cluster::router())
        .merge(plugins::router())
        .merge(admin::router())
        .merge(analytics::router())
        .merge(transactions::router())
        .merge(alerts::router())
        .merge(execution::router())
        .merge(market::router())
        .merge(frontend::router())
        .merge(ws::router())
        .split_for_parts();
    let doc = Arc::new(doc);
    let requests = state.requests.clone();
    router
        .merge(dashboard::router())
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        // After routing, so each request is counted under the route it
        // matched (a 404 of no route is not counted).
        .route_layer(axum::middleware::from_fn_with_state(
            requests,
            requests::count,
        ))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::map_response(error::errors))
        .with_state(Arc::new(state))
}
