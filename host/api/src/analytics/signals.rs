//! Statistics of the kept signals.

use super::HOUR_MS;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, matches};
use crate::params::SignalStatsParams;
use crate::reads::cached_view;
use crate::state::{AppState, Shared};
use crate::views::{SignalStats, SignalWindow};
use axum::Json;
use axum::extract::State;
use serde_json::Value;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(stats))
}

/// Counts of the kept signals by plugin, strength and direction, over the
/// last 1 h, 4 h and 24 h of event time and in all.
#[utoipa::path(get, path = "/api/v1/signals/stats", tag = "analytics",
    params(SignalStatsParams),
    responses((status = 200, body = SignalStats), (status = "default", body = ErrorBody)))]
async fn stats(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<SignalStatsParams>,
) -> Result<Json<Arc<Value>>, ApiError> {
    let key = format!("signal_stats:{q:?}");
    cached_view(&state, key, move |state| {
        serde_json::to_value(view(state, &q)).map_err(|e| ApiError::internal(&e))
    })
    .await
    .map(Json)
}

fn name(v: impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn view(state: &AppState, q: &SignalStatsParams) -> SignalStats {
    let now = state.stream_now();
    let spans = [
        ("1h", Some(HOUR_MS)),
        ("4h", Some(4 * HOUR_MS)),
        ("24h", Some(24 * HOUR_MS)),
        ("all", None),
    ];
    let mut windows: Vec<SignalWindow> = spans
        .iter()
        .map(|(window, span)| SignalWindow {
            window,
            from: span.map(|w| now - w),
            to: now,
            ..SignalWindow::default()
        })
        .collect();
    state.store.for_each_signal(|plugin, s| {
        if !matches(q.plugin.as_ref(), plugin)
            || !matches(q.exchange.as_ref(), &s.instrument.exchange)
            || !matches(q.symbol.as_ref(), &s.instrument.symbol)
        {
            return;
        }
        for ((_, span), w) in spans.iter().zip(&mut windows) {
            if span.is_none_or(|span| s.ts > now - span && s.ts <= now) {
                w.total += 1;
                *w.by_plugin.entry(plugin.to_owned()).or_default() += 1;
                *w.by_strength.entry(name(s.strength)).or_default() += 1;
                *w.by_direction.entry(name(s.direction)).or_default() += 1;
            }
        }
    });
    SignalStats { now, windows }
}
