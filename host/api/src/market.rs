//! Market data the host keeps itself: candles (streamed by venues or built
//! from trades) and the latest ticker of each instrument.

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::reads::read;
use crate::state::Shared;
use crate::views::{CandlePage, CandleView, TickerPage, TickerView};
use axum::Json;
use axum::extract::State;
use prism_model::CandleInterval;
use prism_outputs::CandleQuery;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const MAX: usize = 1000;
const DEFAULT: usize = 100;

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(candles))
        .routes(routes!(tickers))
}

/// Which candles.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CandleParams {
    /// The venue (lower case, e.g. `binance`).
    exchange: String,
    /// The venue's symbol (e.g. `BTCUSDT`).
    symbol: String,
    /// `1m`, `5m`, `1h`, `1d`, `1w`, `1M`, … (`60m` is `1h`).
    interval: String,
    /// Candles opening at or after (unix ms).
    from: Option<i64>,
    /// Candles opening at or before (unix ms).
    to: Option<i64>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Also the candle still open (first), when in range (default true).
    include_open: Option<bool>,
}

/// Candles of one instrument and interval, newest first.
#[utoipa::path(get, path = "/api/v1/candles", tag = "market",
    params(CandleParams),
    responses((status = 200, body = CandlePage), (status = "default", body = ErrorBody)))]
async fn candles(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<CandleParams>,
) -> Result<Json<CandlePage>, ApiError> {
    let interval: CandleInterval =
        q.interval
            .parse()
            .map_err(|e: prism_model::IntervalError| {
                ApiError::bad_request(format!("invalid query: interval: {e}"))
            })?;
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from > to
    {
        return Err(ApiError::bad_request("invalid query: from is after to"));
    }
    let query = CandleQuery {
        exchange: q.exchange.to_ascii_lowercase(),
        symbol: q.symbol,
        interval,
        from: q.from,
        to: q.to,
        cursor: crate::params::cursor::<i64>(q.cursor.as_deref())?,
        limit: Some(crate::extract::page_limit(q.limit, DEFAULT, MAX)?),
        include_open: q.include_open.unwrap_or(true),
    };
    read(&state, move |s| {
        let page = s.market.candles(&query);
        Ok(Json(CandlePage {
            items: page
                .items
                .iter()
                .map(|c| CandleView::new(&query.exchange, &query.symbol, c))
                .collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }))
    })
    .await
}

/// Which tickers.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TickerParams {
    /// Only this venue's.
    exchange: Option<String>,
    /// Only this symbol's (any case).
    symbol: Option<String>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The latest ticker of each instrument, by exchange then symbol.
#[utoipa::path(get, path = "/api/v1/tickers", tag = "market",
    params(TickerParams),
    responses((status = 200, body = TickerPage), (status = "default", body = ErrorBody)))]
async fn tickers(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<TickerParams>,
) -> Result<Json<TickerPage>, ApiError> {
    let limit = crate::extract::page_limit(q.limit, DEFAULT, MAX)?;
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| {
            c.split_once('/')
                .map(|(e, s)| (Arc::<str>::from(e), Arc::<str>::from(s)))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "invalid query: cursor `{c}` is not a cursor this endpoint gave"
                    ))
                })
        })
        .transpose()?;
    let exchange = q.exchange.map(|e| e.to_ascii_lowercase());
    read(&state, move |s| {
        let page = s.market.tickers(
            exchange.as_deref(),
            q.symbol.as_deref(),
            cursor.as_ref(),
            Some(limit),
        );
        Ok(Json(TickerPage {
            items: page
                .items
                .iter()
                .map(|((e, sym), t)| TickerView::new(e, sym, t))
                .collect(),
            next_cursor: page.next_cursor.map(|(e, sym)| format!("{e}/{sym}")),
        }))
    })
    .await
}
