//! Plugins and their outputs: status, versions, dead letters, series,
//! documents, logs, and everyone's signals.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, page_limit};
use crate::params::{LogParams, SeriesParams, SignalParams};
use crate::reads::{INLINE_ITEMS, read, read_small};
use crate::state::{AppState, Shared};
use crate::views::{
    CallLatency, DeadLetterList, DeadLetterView, DocumentView, LogPage, LogView, PluginDetail,
    PluginList, PluginStatus, PointView, SeriesPage, SignalPage, SignalView, VersionList,
};
use axum::Json;
use axum::extract::{Path, State};
use prism_control::PluginView;
use prism_outputs::MAX_LIMIT;
use std::sync::atomic::Ordering;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(detail))
        .routes(routes!(versions))
        .routes(routes!(dead_letters))
        .routes(routes!(series))
        .routes(routes!(document))
        .routes(routes!(logs))
        .routes(routes!(signals))
}

fn known(state: &AppState, id: &str) -> Result<PluginView, ApiError> {
    state
        .plugin(id)
        .ok_or_else(|| ApiError::not_found(format!("no plugin `{id}`")))
}

fn head(state: &AppState) -> i64 {
    state.head_ts.load(Ordering::Relaxed)
}

/// Every plugin's status, sorted by id.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins",
    responses((status = 200, body = PluginList), (status = "default", body = ErrorBody)))]
async fn list(State(state): State<Shared>) -> Json<PluginList> {
    let head = head(&state);
    Json(PluginList {
        items: state
            .all_plugins()
            .iter()
            .map(|p| PluginStatus::of(p, head))
            .collect(),
    })
}

/// One plugin: its status, call latencies, series names and document keys.
#[utoipa::path(get, path = "/api/v1/plugins/{id}", tag = "plugins",
    params(("id" = String, Path, description = "plugin id")),
    responses((status = 200, body = PluginDetail), (status = "default", body = ErrorBody)))]
async fn detail(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<PluginDetail>, ApiError> {
    read(&state, move |state| {
        let p = known(state, &id)?;
        Ok(Json(PluginDetail {
            status: PluginStatus::of(&p, head(state)),
            call_latency: CallLatency::of(&p),
            series: state.store.series_names(&id),
            documents: state.store.document_keys(&id),
        }))
    })
    .await
}

/// A plugin's version history, oldest first.
#[utoipa::path(get, path = "/api/v1/plugins/{id}/versions", tag = "plugins",
    params(("id" = String, Path, description = "plugin id")),
    responses((status = 200, body = VersionList), (status = "default", body = ErrorBody)))]
async fn versions(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<VersionList>, ApiError> {
    let items = state.control.versions(&id)?;
    Ok(Json(VersionList {
        plugin: id,
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// The events a plugin could not process, oldest first.
#[utoipa::path(get, path = "/api/v1/plugins/{id}/dead-letters", tag = "plugins",
    params(("id" = String, Path, description = "plugin id")),
    responses((status = 200, body = DeadLetterList), (status = "default", body = ErrorBody)))]
async fn dead_letters(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<DeadLetterList>, ApiError> {
    read(&state, move |state| {
        let p = known(state, &id)?;
        Ok(Json(DeadLetterList {
            total: p.metrics.dead_letters_total.load(Ordering::Relaxed),
            items: p
                .metrics
                .dead_letters()
                .iter()
                .map(DeadLetterView::from)
                .collect(),
            plugin: id,
        }))
    })
    .await
}

/// The newest points of a series, oldest first.
#[utoipa::path(get, path = "/api/v1/plugins/{id}/series/{name}", tag = "outputs",
    params(("id" = String, Path, description = "plugin id"),
           ("name" = String, Path, description = "series name"), SeriesParams),
    responses((status = 200, body = SeriesPage), (status = "default", body = ErrorBody)))]
async fn series(
    State(state): State<Shared>,
    Path((id, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<SeriesParams>,
) -> Result<Json<SeriesPage>, ApiError> {
    // One instrument's series holds at most `stores.series_points` points.
    let small =
        q.exchange.is_some() && q.symbol.is_some() && q.limit.is_some_and(|l| l <= INLINE_ITEMS);
    read_small(&state, small, move |state| {
        known(state, &id)?;
        page_limit(q.limit, MAX_LIMIT, MAX_LIMIT)?;
        let points = crate::history::series(state, &id, &name, &(&q).into())?
            .iter()
            .map(PointView::from)
            .collect();
        Ok(Json(SeriesPage {
            plugin: id,
            name,
            points,
        }))
    })
    .await
}

/// The latest value of a document.
#[utoipa::path(get, path = "/api/v1/plugins/{id}/documents/{key}", tag = "outputs",
    params(("id" = String, Path, description = "plugin id"),
           ("key" = String, Path, description = "document key")),
    responses((status = 200, body = DocumentView), (status = "default", body = ErrorBody)))]
async fn document(
    State(state): State<Shared>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<DocumentView>, ApiError> {
    read(&state, move |state| {
        known(state, &id)?;
        let d = state
            .store
            .document(&id, &key)
            .ok_or_else(|| ApiError::not_found(format!("plugin `{id}` has no document `{key}`")))?;
        Ok(Json(DocumentView::of(&id, &d)))
    })
    .await
}

/// A plugin's log entries, newest first.
#[utoipa::path(get, path = "/api/v1/plugins/{id}/logs", tag = "outputs",
    params(("id" = String, Path, description = "plugin id"), LogParams),
    responses((status = 200, body = LogPage), (status = "default", body = ErrorBody)))]
async fn logs(
    State(state): State<Shared>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LogParams>,
) -> Result<Json<LogPage>, ApiError> {
    read(&state, move |state| {
        known(state, &id)?;
        page_limit(q.limit, MAX_LIMIT, MAX_LIMIT)?;
        let page = crate::history::logs(state, &id, &q.query()?)?;
        Ok(Json(LogPage {
            plugin: id,
            items: page.items.iter().map(|(_, l)| LogView::from(l)).collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }))
    })
    .await
}

/// Every plugin's signals, newest first.
#[utoipa::path(get, path = "/api/v1/signals", tag = "outputs",
    params(SignalParams),
    responses((status = 200, body = SignalPage), (status = "default", body = ErrorBody)))]
async fn signals(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<SignalParams>,
) -> Result<Json<SignalPage>, ApiError> {
    read(&state, move |state| {
        page_limit(q.limit, MAX_LIMIT, MAX_LIMIT)?;
        let page = crate::history::signals(state, &q.query()?)?;
        Ok(Json(SignalPage {
            items: page
                .items
                .iter()
                .map(|(_, plugin, s)| SignalView::of(plugin, s))
                .collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }))
    })
    .await
}
