//! Archived trades (`postgres.archive` with `trade`), from the database:
//! paged newest first; each identified by its stream position.

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::params::TransactionParams;
use crate::reads::read;
use crate::state::{AppState, Shared};
use crate::views::{TransactionPage, TransactionView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use prism_postgres::{Filter, History};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Items a page holds at most, and unless asked otherwise.
const MAX: usize = 1000;
const DEFAULT: usize = 100;

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
}

fn history(state: &AppState) -> Result<History, ApiError> {
    match &state.postgres {
        Some(pg) if pg.archives_trades => Ok(pg.history.clone()),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_enabled",
            "transactions are the archived trades: configure [postgres] with archive = [\"trade\"]",
        )),
    }
}

fn wait<T>(
    f: impl std::future::Future<Output = Result<T, prism_postgres::PostgresError>>,
) -> Result<T, ApiError> {
    tokio::runtime::Handle::current().block_on(f).map_err(|e| {
        tracing::warn!("a transactions read failed: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "history_unavailable",
            format!("the database could not answer: {e}"),
        )
    })
}

/// Archived trades, newest first.
#[utoipa::path(get, path = "/api/v1/transactions", tag = "history",
    params(TransactionParams),
    responses((status = 200, body = TransactionPage), (status = "default", body = ErrorBody)))]
async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<TransactionParams>,
) -> Result<Json<TransactionPage>, ApiError> {
    let history = history(&state)?;
    let limit = crate::extract::page_limit(q.limit, DEFAULT, MAX)?;
    let before = crate::params::cursor::<u64>(q.cursor.as_deref())?;
    read(&state, move |_| {
        let filter = Filter {
            exchange: q.exchange,
            symbol: q.symbol,
            from: q.from,
            to: q.to,
        };
        let mut rows = wait(history.trades(
            &filter,
            q.account.as_deref(),
            q.side.map(crate::params::TradeSide::as_str),
            before,
            limit + 1,
        ))?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok(Json(TransactionPage {
            next_cursor: more
                .then(|| rows.last().map(|t| t.id.to_string()))
                .flatten(),
            items: rows.iter().map(TransactionView::from).collect(),
        }))
    })
    .await
}

/// One archived trade, by id (its stream position).
#[utoipa::path(get, path = "/api/v1/transactions/{id}", tag = "history",
    params(("id" = String, Path, description = "the trade's id")),
    responses((status = 200, body = TransactionView), (status = "default", body = ErrorBody)))]
async fn one(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<TransactionView>, ApiError> {
    let history = history(&state)?;
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a transaction id")))?;
    read(&state, move |_| {
        wait(history.trade(id))?
            .map(|t| Json(TransactionView::from(&t)))
            .ok_or_else(|| ApiError::not_found(format!("no transaction {id}")))
    })
    .await
}
