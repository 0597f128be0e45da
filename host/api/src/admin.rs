//! The admin API: adding, swapping, pausing, rolling back and removing
//! plugins, behind the bearer token. Control operations compile and start
//! components, so they run on the blocking pool, never on the reactor.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiQuery};
use crate::params::{AddParams, ReplaceParams};
use crate::reads::blocking;
use crate::state::{AppState, Shared};
use crate::views::{CandidateStatus, PluginStatus};
use axum::Json;
use axum::body::{Body, HttpBody as _};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use http_body_util::BodyExt as _;
use prism_control::{PluginControl, PluginView, Rename};
use std::sync::atomic::Ordering;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(add, remove))
        .routes(routes!(replace_wasm))
        .routes(routes!(replace_config))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(reload))
        .routes(routes!(rollback))
        .routes(routes!(candidate, start_candidate, discard_candidate))
        .routes(routes!(promote_candidate))
}

/// An upload's bytes, and its turn: at most `admin.max_concurrent_uploads`
/// are read and compiled at once, so concurrent large uploads cannot take
/// the host's memory.
struct Upload {
    bytes: axum::body::Bytes,
    _turn: tokio::sync::OwnedSemaphorePermit,
}

/// Reads a body of at most `limit` bytes into one buffer, sized from its
/// declared length when it has one: a 40 MB upload holds 40 MB, not a list
/// of chunks and then a copy of them (twice the memory at the peak).
async fn whole(body: Body, limit: usize) -> Result<axum::body::Bytes, axum::Error> {
    let mut body = http_body_util::Limited::new(body, limit);
    let declared = body.size_hint().exact().unwrap_or(0);
    let mut bytes = Vec::with_capacity(usize::try_from(declared).unwrap_or(limit).min(limit));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(axum::Error::new)?.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes.into())
}

/// Waits for an upload turn, then reads the body up to the upload limit,
/// each within the upload timeout.
async fn read_body(state: &AppState, body: Body) -> Result<Upload, ApiError> {
    let limit = state.admin.max_upload_bytes;
    let timeout = state.admin.upload_timeout;
    let turn = tokio::time::timeout(timeout, state.uploads.clone().acquire_owned())
        .await
        .map_err(|_| {
            ApiError::busy(format!(
                "{} uploads are in progress (admin.max_concurrent_uploads); retry later",
                state.admin.max_concurrent_uploads
            ))
        })?
        .map_err(|e| ApiError::internal(&e))?;
    let bytes = tokio::time::timeout(timeout, whole(body, limit))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!(
                    "the body did not arrive within {} s (admin.upload_timeout_s)",
                    timeout.as_secs()
                ),
            )
        })?
        .map_err(|e| {
            let inner = e.into_inner();
            if inner.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!(
                        "the body is larger than the upload limit of {limit} bytes (admin.max_upload_mb)"
                    ),
                )
            } else {
                ApiError::bad_request(format!("cannot read the request body: {inner}"))
            }
        })?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    Ok(Upload { bytes, _turn: turn })
}

fn status(state: &AppState, view: &PluginView) -> Json<PluginStatus> {
    Json(PluginStatus::of(
        view,
        state.head_ts.load(Ordering::Relaxed),
    ))
}

/// Adds a plugin; the body is the component.
#[utoipa::path(post, path = "/api/v1/plugins/{id}", tag = "admin",
    params(("id" = String, Path, description = "plugin id"), AddParams),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "the component"),
    security(("admin_token" = [])),
    responses((status = 201, description = "Added; its status", body = PluginStatus),
              (status = "default", body = ErrorBody)))]
async fn add(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AddParams>,
    body: Body,
) -> Result<(StatusCode, Json<PluginStatus>), ApiError> {
    let upload = read_body(&state, body).await?;
    let view = blocking(&state, move |c| {
        c.add(&id, &upload.bytes, q.config.as_deref())
    })
    .await?;
    Ok((StatusCode::CREATED, status(&state, &view)))
}

/// Removes a plugin.
#[utoipa::path(delete, path = "/api/v1/plugins/{id}", tag = "admin",
    params(("id" = String, Path, description = "plugin id")),
    security(("admin_token" = [])),
    responses((status = 204, description = "Removed"), (status = "default", body = ErrorBody)))]
async fn remove(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(&state, move |c| c.remove(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Swaps in new code, keeping the state. The code must be the same plugin
/// (its name) unless `rename=true`; the upload becomes the plugin's source.
#[utoipa::path(put, path = "/api/v1/plugins/{id}/wasm", tag = "admin",
    params(("id" = String, Path, description = "plugin id"), ReplaceParams),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "the component"),
    security(("admin_token" = [])),
    responses((status = 200, description = "Swapped; the status", body = PluginStatus),
              (status = "default", body = ErrorBody)))]
async fn replace_wasm(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReplaceParams>,
    body: Body,
) -> Result<Json<PluginStatus>, ApiError> {
    let upload = read_body(&state, body).await?;
    let rename = if q.rename {
        Rename::Allow
    } else {
        Rename::Refuse
    };
    let view = blocking(&state, move |c| c.replace_wasm(&id, &upload.bytes, rename)).await?;
    Ok(status(&state, &view))
}

/// Re-initializes with a new config (the body, a JSON object), keeping the state.
#[utoipa::path(put, path = "/api/v1/plugins/{id}/config", tag = "admin",
    params(("id" = String, Path, description = "plugin id")),
    request_body(content = Object, content_type = "application/json", description = "the config, a JSON object"),
    security(("admin_token" = [])),
    responses((status = 200, description = "Re-initialized; the status", body = PluginStatus),
              (status = "default", body = ErrorBody)))]
async fn replace_config(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<PluginStatus>, ApiError> {
    let upload = read_body(&state, body).await?;
    let json = String::from_utf8(upload.bytes.to_vec())
        .map_err(|_| ApiError::bad_request("the config must be UTF-8 JSON"))?;
    let view = blocking(&state, move |c| c.replace_config(&id, &json)).await?;
    Ok(status(&state, &view))
}

/// Runs a control operation and answers the plugin's status.
async fn act(
    state: &AppState,
    op: impl FnOnce(&dyn PluginControl) -> Result<PluginView, prism_control::ControlError>
    + Send
    + 'static,
) -> Result<Json<PluginStatus>, ApiError> {
    let view = blocking(state, op).await?;
    Ok(status(state, &view))
}

/// Stops delivering events (they are skipped and counted).
#[utoipa::path(post, path = "/api/v1/plugins/{id}/pause", tag = "admin",
    params(("id" = String, Path, description = "plugin id")),
    security(("admin_token" = [])),
    responses((status = 200, description = "Paused; the status", body = PluginStatus),
              (status = "default", body = ErrorBody)))]
async fn pause(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<PluginStatus>, ApiError> {
    act(&state, move |c| c.pause(&id)).await
}

/// Resumes a paused, quarantined or failed plugin.
#[utoipa::path(post, path = "/api/v1/plugins/{id}/resume", tag = "admin",
    params(("id" = String, Path, description = "plugin id")),
    security(("admin_token" = [])),
    responses((status = 200, description = "Running; the status", body = PluginStatus),
              (status = "default", body = ErrorBody)))]
async fn resume(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<PluginStatus>, ApiError> {
    act(&state, move |c| c.resume(&id)).await
}

/// Re-reads the plugin's file, or re-initializes an uploaded plugin.
#[utoipa::path(post, path = "/api/v1/plugins/{id}/reload", tag = "admin",
    params(("id" = String, Path, description = "plugin id")),
    security(("admin_token" = [])),
    responses((status = 200, description = "Reloaded; the status", body = PluginStatus),
              (status = "default", body = ErrorBody)))]
async fn reload(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<PluginStatus>, ApiError> {
    act(&state, move |c| c.reload(&id)).await
}

/// Returns to the previous version (code and config).
#[utoipa::path(post, path = "/api/v1/plugins/{id}/rollback", tag = "admin",
    params(("id" = String, Path, description = "plugin id")),
    security(("admin_token" = [])),
    responses((status = 200, description = "Rolled back; the status", body = PluginStatus),
              (status = "default", body = ErrorBody)))]
async fn rollback(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<PluginStatus>, ApiError> {
    act(&state, move |c| c.rollback(&id)).await
}

/// The candidate version beside a plugin's running one, and how its
/// outputs compare with the running version's.
#[utoipa::path(get, path = "/api/v1/plugins/{id}/candidate", tag = "plugins",
    params(("id" = String, Path, description = "plugin id")),
    responses((status = 200, body = CandidateStatus),
              (status = 404, description = "No such plugin, or it has no candidate", body = ErrorBody),
              (status = "default", body = ErrorBody)))]
async fn candidate(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<CandidateStatus>, ApiError> {
    let view = state
        .plugin(&id)
        .ok_or_else(|| ApiError::not_found(format!("no plugin `{id}`")))?;
    let candidate = view.candidate.as_ref().ok_or_else(|| {
        ApiError::from(prism_control::ControlError::Refused(
            prism_worker::Refusal::NoCandidate,
        ))
    })?;
    Ok(Json(CandidateStatus::of(&id, candidate)))
}

/// Starts new code (the body) as a candidate beside the running version:
/// it starts from the running version's state, is given the same events
/// from then on, and its outputs are compared with the running version's
/// and never served. It must be the same plugin (its name); `config`
/// replaces the running config for it. Not for plugins that trade on paper.
#[utoipa::path(post, path = "/api/v1/plugins/{id}/candidate", tag = "admin",
    params(("id" = String, Path, description = "plugin id"), AddParams),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "the component"),
    security(("admin_token" = [])),
    responses((status = 201, description = "Started; the plugin's status, with the candidate", body = PluginStatus),
              (status = 409, description = "A candidate runs already, or the plugin trades or is not running", body = ErrorBody),
              (status = "default", body = ErrorBody)))]
async fn start_candidate(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AddParams>,
    body: Body,
) -> Result<(StatusCode, Json<PluginStatus>), ApiError> {
    let upload = read_body(&state, body).await?;
    let view = blocking(&state, move |c| {
        c.start_candidate(&id, &upload.bytes, q.config.as_deref())
    })
    .await?;
    Ok((StatusCode::CREATED, status(&state, &view)))
}

/// Stops and drops the candidate; the running version never noticed it.
#[utoipa::path(delete, path = "/api/v1/plugins/{id}/candidate", tag = "admin",
    params(("id" = String, Path, description = "plugin id")),
    security(("admin_token" = [])),
    responses((status = 200, description = "Discarded; the plugin's status", body = PluginStatus),
              (status = "default", body = ErrorBody)))]
async fn discard_candidate(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<PluginStatus>, ApiError> {
    act(&state, move |c| c.discard_candidate(&id)).await
}

/// Makes the candidate the running version, keeping the state it built;
/// recorded as `promote` in the version history (a rollback returns to the
/// version it replaced).
#[utoipa::path(post, path = "/api/v1/plugins/{id}/candidate/promote", tag = "admin",
    params(("id" = String, Path, description = "plugin id")),
    security(("admin_token" = [])),
    responses((status = 200, description = "Promoted; the plugin's status", body = PluginStatus),
              (status = "default", body = ErrorBody)))]
async fn promote_candidate(
    _: Admin,
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<PluginStatus>, ApiError> {
    act(&state, move |c| c.promote_candidate(&id)).await
}
