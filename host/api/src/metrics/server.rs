//! The HTTP server and its WebSocket clients.

use super::Exposition;
use crate::state::AppState;
use std::sync::atomic::Ordering;

pub(super) fn write(e: &mut Exposition, state: &AppState) {
    e.single(
        "prism_http_connections",
        "gauge",
        "Open HTTP connections.",
        state.connections.open.load(Ordering::Relaxed),
    );
    e.single(
        "prism_http_connections_refused_total",
        "counter",
        "Connections answered 503 because api.max_connections were open.",
        state.connections.refused.load(Ordering::Relaxed),
    );
    e.single(
        "prism_ws_clients",
        "gauge",
        "Connected WebSocket clients.",
        state.ws.max_clients.max(1) - state.ws_clients.available_permits(),
    );
    e.single(
        "prism_ws_batches_dropped_total",
        "counter",
        "Output batches not shown to WebSocket clients because their formatter was behind.",
        state
            .sinks
            .iter()
            .filter(|s| s.name == crate::LIVE_SINK)
            .map(|s| s.dropped.load(Ordering::Relaxed))
            .sum::<u64>(),
    );
}
