//! Long/short ratios: the newest per instrument, and their history
//! (`long-short-ratio`'s series).

use super::limit;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::names::{ACCOUNT_RATIO, TAKER_RATIO};
use crate::params::{HistoryParams, PlaceParams, RatioKind};
use crate::reads::read;
use crate::state::{AppState, Shared};
use crate::views::{RatioHistory, RatioHistoryItem, RatioNow, RatioPoint, RatiosNow, place};
use axum::Json;
use axum::extract::State;
use prism_model::{SeriesPoint, TimestampMs};
use prism_outputs::SeriesQuery;
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(current))
        .routes(routes!(history))
}

fn point(p: &SeriesPoint) -> RatioPoint {
    RatioPoint {
        ts: p.ts,
        value: p.value,
    }
}

/// Per instrument, the newest taker and account ratios.
#[utoipa::path(get, path = "/api/v1/long-short-ratios/current", tag = "analytics",
    params(PlaceParams),
    responses((status = 200, body = RatiosNow), (status = "default", body = ErrorBody)))]
async fn current(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<PlaceParams>,
) -> Result<Json<RatiosNow>, ApiError> {
    read(&state, move |state| {
        let plugin = state.backing(&state.analytics.long_short_ratio, "long_short_ratio")?;
        let mut by_instrument: BTreeMap<
            (String, String),
            (Option<RatioPoint>, Option<RatioPoint>),
        > = BTreeMap::new();
        for (name, taker) in [(TAKER_RATIO, true), (ACCOUNT_RATIO, false)] {
            let query = SeriesQuery {
                exchange: q.exchange.clone(),
                symbol: q.symbol.clone(),
                limit: Some(prism_outputs::MAX_LIMIT),
                ..SeriesQuery::default()
            };
            for (_, p) in state.store.series(plugin, name, &query) {
                let Some(i) = &p.instrument else { continue };
                let entry = by_instrument
                    .entry((i.exchange.to_string(), i.symbol.to_string()))
                    .or_default();
                // Oldest first: the last one wins.
                if taker {
                    entry.0 = Some(point(&p));
                } else {
                    entry.1 = Some(point(&p));
                }
            }
        }
        let items = by_instrument
            .into_iter()
            .map(|((exchange, symbol), (taker, account))| RatioNow {
                exchange,
                symbol,
                taker,
                account,
            })
            .collect();
        Ok(Json(RatiosNow { items }))
    })
    .await
}

/// Where a page of ratio points starts: at `ts` (inclusive), after the
/// first `skip` points of that time.
fn parse_cursor(cursor: &str) -> Result<(TimestampMs, usize), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "invalid query: cursor `{cursor}` is not a cursor this endpoint gave"
        ))
    };
    let (ts, skip) = cursor.split_once(':').ok_or_else(bad)?;
    Ok((
        ts.parse().map_err(|_| bad())?,
        skip.parse().map_err(|_| bad())?,
    ))
}

/// Ratio points, newest first (within one time by kind, exchange, symbol).
#[utoipa::path(get, path = "/api/v1/long-short-ratios/history", tag = "analytics",
    params(HistoryParams),
    responses((status = 200, body = RatioHistory), (status = "default", body = ErrorBody)))]
async fn history(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<HistoryParams>,
) -> Result<Json<RatioHistory>, ApiError> {
    read(&state, move |state| history_view(state, q).map(Json)).await
}

fn history_view(state: &AppState, q: HistoryParams) -> Result<RatioHistory, ApiError> {
    let plugin = state.backing(&state.analytics.long_short_ratio, "long_short_ratio")?;
    let limit = limit(q.limit)?;
    let start = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let to = match (q.to, start) {
        (Some(t), Some((c, _))) => Some(t.min(c)),
        (t, c) => t.or(c.map(|c| c.0)),
    };
    let kinds: &[(&str, &'static str)] = match q.kind {
        Some(RatioKind::Taker) => &[(TAKER_RATIO, "taker")],
        Some(RatioKind::Account) => &[(ACCOUNT_RATIO, "account")],
        None => &[(TAKER_RATIO, "taker"), (ACCOUNT_RATIO, "account")],
    };
    let mut points: Vec<(SeriesPoint, &'static str)> = Vec::new();
    for (name, kind) in kinds {
        let query = SeriesQuery {
            exchange: q.exchange.clone(),
            symbol: q.symbol.clone(),
            from: q.from,
            to,
            limit: Some(prism_outputs::MAX_LIMIT),
        };
        points.extend(
            crate::history::series(state, plugin, name, &query)?
                .into_iter()
                .map(|p| (p, *kind)),
        );
    }
    let place_of = |p: &SeriesPoint| {
        p.instrument
            .as_ref()
            .map(|i| (i.exchange.to_string(), i.symbol.to_string()))
    };
    // Newest first; a stable order within one time, so a cursor can skip into it.
    points.sort_by(|a, b| {
        b.0.ts
            .cmp(&a.0.ts)
            .then_with(|| a.1.cmp(b.1))
            .then_with(|| place_of(&a.0).cmp(&place_of(&b.0)))
    });
    if let Some((ts, skip)) = start {
        let at_ts = points.iter().take_while(|p| p.0.ts == ts).count();
        points.drain(..skip.min(at_ts));
    }
    let mut next_cursor = None;
    if points.len() > limit {
        let last = points[limit - 1].0.ts;
        let before = points[..limit].iter().filter(|p| p.0.ts == last).count();
        let skipped = match start {
            Some((ts, skip)) if ts == last => skip,
            _ => 0,
        };
        next_cursor = Some(format!("{last}:{}", before + skipped));
        points.truncate(limit);
    }
    let items = points
        .iter()
        .map(|(p, kind)| {
            let (exchange, symbol) = place(p.instrument.as_ref());
            RatioHistoryItem {
                exchange,
                symbol,
                kind,
                ts: p.ts,
                value: p.value,
            }
        })
        .collect();
    Ok(RatioHistory { items, next_cursor })
}
