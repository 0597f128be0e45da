//! The host itself: health, metrics, live feeds.

use crate::error::ErrorBody;
use crate::state::Shared;
use crate::views::{
    FeedList, FeedStatus, Health, NatsHealthView, PostgresHealthView, SnapshotsHealth, SourceHealth,
};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prism_sources::SourceState;
use prism_worker::PluginState;
use std::sync::atomic::Ordering;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(feeds))
}

/// Liveness and a summary: `ok`, or `degraded` with what is wrong. Never
/// waits for anything else the server does.
#[utoipa::path(get, path = "/health", tag = "status",
    responses((status = 200, body = Health)))]
async fn health(State(state): State<Shared>) -> Json<Health> {
    let plugins = state.all_plugins();
    let failed_plugins: Vec<String> = plugins
        .iter()
        .filter(|p| {
            matches!(
                p.metrics.state(),
                PluginState::Failed | PluginState::Quarantined
            )
        })
        .map(|p| p.id.clone())
        .collect();
    let disconnected_feeds: Vec<String> = state
        .feeds
        .iter()
        .filter(|f| !f.metrics.connected.load(Ordering::Relaxed))
        .map(|f| f.venue.clone())
        .collect();
    let source = SourceHealth {
        state: state.source.state(),
        error: state.source.error(),
        events: state.source.events.load(Ordering::Relaxed),
        skipped: state.source.skipped.load(Ordering::Relaxed),
    };
    let snapshots = state.snapshots.as_ref().map(|s| SnapshotsHealth {
        written: s.written.load(Ordering::Relaxed),
        failed: s.failed.load(Ordering::Relaxed),
        error: s.last_error(),
    });
    let postgres = state
        .postgres
        .as_ref()
        .map(|p| PostgresHealthView::of(&p.health));
    let nats = state.nats.as_deref().map(NatsHealthView::of);
    let healthy = failed_plugins.is_empty()
        && disconnected_feeds.is_empty()
        && source.state != SourceState::Failed
        && snapshots.as_ref().is_none_or(|s| s.error.is_none())
        && postgres.as_ref().is_none_or(|p| p.reason.is_none())
        && nats.as_ref().is_none_or(|n| n.reason.is_none());
    Json(Health {
        status: if healthy { "ok" } else { "degraded" },
        events: source.events,
        source,
        snapshots,
        postgres,
        nats,
        disconnected_feeds,
        uptime_s: state.started.elapsed().as_secs(),
        plugins: plugins.len(),
        failed_plugins,
        alerts: state.notifier.is_some(),
        cluster: state.cluster.is_some(),
    })
}

/// Prometheus text format: the source, sinks, server, feeds and every
/// plugin's counters, gauges and call-latency histogram.
#[utoipa::path(get, path = "/metrics", tag = "status",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(&state),
    )
}

/// The live exchange feeds (empty with other sources).
#[utoipa::path(get, path = "/api/v1/feeds", tag = "status",
    responses((status = 200, body = FeedList), (status = "default", body = ErrorBody)))]
async fn feeds(State(state): State<Shared>) -> Json<FeedList> {
    Json(FeedList {
        items: state
            .feeds
            .iter()
            .map(|f| FeedStatus::of(&f.venue, &f.metrics))
            .collect(),
    })
}
