//! The HTTP server and its WebSocket clients.

use super::Exposition;
use crate::state::AppState;
use std::sync::atomic::Ordering;

pub(super) fn write(e: &mut Exposition, state: &AppState) {
    requests(e, state);
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

/// Requests by method, route (the template matched) and status, and their
/// durations as a histogram by method and route.
fn requests(e: &mut Exposition, state: &AppState) {
    let all = state.requests.snapshot();
    e.family(
        "prism_http_requests_total",
        "counter",
        "HTTP requests answered, by method, route template and status code.",
    );
    for ((method, route), series) in &all {
        let mut statuses: Vec<_> = series.statuses.iter().collect();
        statuses.sort();
        for (status, n) in statuses {
            let status = status.to_string();
            e.sample(
                "prism_http_requests_total",
                &[("method", method), ("route", route), ("status", &status)],
                n,
            );
        }
    }
    let name = "prism_http_request_duration_seconds";
    e.family(
        name,
        "histogram",
        "Time from a request's arrival to its response, seconds, by method and route template.",
    );
    for ((method, route), series) in &all {
        let mut below = 0;
        for (bound, n) in crate::requests::BUCKETS.iter().zip(series.buckets) {
            below += n;
            let le = bound.to_string();
            e.sample(
                &format!("{name}_bucket"),
                &[("method", method), ("route", route), ("le", &le)],
                below,
            );
        }
        let labels = [("method", *method), ("route", route.as_str())];
        e.sample(
            &format!("{name}_bucket"),
            &[labels[0], labels[1], ("le", "+Inf")],
            series.count,
        );
        e.sample(&format!("{name}_sum"), &labels, series.sum_seconds);
        e.sample(&format!("{name}_count"), &labels, series.count);
    }
}
