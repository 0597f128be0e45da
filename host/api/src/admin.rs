//! The admin API: mutating plugin endpoints behind a bearer token.
//!
//! Control operations compile and start components, so they run on the
//! blocking pool, never on the reactor.

use crate::error::ApiError;
use crate::state::AppState;
use crate::status::summary;
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prism_control::{ControlError, PluginControl, PluginView};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use subtle::ConstantTimeEq;

/// Proof that the request carried the admin token.
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = &state.admin.token else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "the admin API is disabled: set `admin.token` in the config or PRISM_ADMIN_TOKEN",
            ));
        };
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match given {
            Some(given) if bool::from(given.as_bytes().ct_eq(token.as_bytes())) => Ok(Admin),
            Some(_) => Err(unauthorized("the bearer token is not the admin token")),
            None => Err(unauthorized(
                "this endpoint needs `Authorization: Bearer <admin token>`",
            )),
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// An upload's bytes, and its turn: at most `admin.max_concurrent_uploads`
/// are read and compiled at once, so concurrent large uploads cannot take
/// the host's memory.
pub(crate) struct Upload {
    pub(crate) bytes: axum::body::Bytes,
    _turn: tokio::sync::OwnedSemaphorePermit,
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
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the body is larger than the upload limit of {limit} bytes (admin.max_upload_mb)"
            ),
        )
    };
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
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
                too_large()
            } else {
                ApiError::bad_request(format!("cannot read the request body: {inner}"))
            }
        })?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    Ok(Upload { bytes, _turn: turn })
}

/// Runs a control operation on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    op: impl FnOnce(&dyn PluginControl) -> Result<T, ControlError> + Send + 'static,
) -> Result<T, ApiError> {
    let control: Arc<dyn PluginControl> = state.control.clone();
    tokio::task::spawn_blocking(move || op(control.as_ref()))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(ApiError::from)
}

fn status(state: &AppState, view: &PluginView) -> Json<serde_json::Value> {
    Json(summary(view, state.head_ts.load(Ordering::Relaxed)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddQuery {
    /// The plugin's config, as JSON text.
    config: Option<String>,
}

/// `POST /api/v1/plugins/{id}`: the body is the component.
pub(crate) async fn add(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    crate::routes::ApiQuery(q): crate::routes::ApiQuery<AddQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let upload = read_body(&state, body).await?;
    let view = blocking(&state, move |c| {
        c.add(&id, &upload.bytes, q.config.as_deref())
    })
    .await?;
    Ok((StatusCode::CREATED, status(&state, &view)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplaceQuery {
    /// Accept code that gives another plugin name than the running one.
    #[serde(default)]
    rename: bool,
}

/// `PUT /api/v1/plugins/{id}/wasm`: swaps in new code, keeping the state.
pub(crate) async fn replace_wasm(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    crate::routes::ApiQuery(q): crate::routes::ApiQuery<ReplaceQuery>,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let upload = read_body(&state, body).await?;
    let rename = if q.rename {
        prism_control::Rename::Allow
    } else {
        prism_control::Rename::Refuse
    };
    let view = blocking(&state, move |c| c.replace_wasm(&id, &upload.bytes, rename)).await?;
    Ok(status(&state, &view))
}

/// `PUT /api/v1/plugins/{id}/config`: the body is the new config (a JSON object).
pub(crate) async fn replace_config(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let upload = read_body(&state, body).await?;
    let json = String::from_utf8(upload.bytes.to_vec())
        .map_err(|_| ApiError::bad_request("the config must be UTF-8 JSON"))?;
    let view = blocking(&state, move |c| c.replace_config(&id, &json)).await?;
    Ok(status(&state, &view))
}

/// `POST /api/v1/plugins/{id}/{action}` for pause, resume, reload, rollback.
pub(crate) async fn action(
    _: Admin,
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let view = match action.as_str() {
        "pause" => blocking(&state, move |c| c.pause(&id)).await?,
        "resume" => blocking(&state, move |c| c.resume(&id)).await?,
        "reload" => blocking(&state, move |c| c.reload(&id)).await?,
        "rollback" => blocking(&state, move |c| c.rollback(&id)).await?,
        other => {
            return Err(ApiError::not_found(format!(
                "no action `{other}`; use pause, resume, reload or rollback"
            )));
        }
    };
    Ok(status(&state, &view))
}

/// `DELETE /api/v1/plugins/{id}`.
pub(crate) async fn remove(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    blocking(&state, move |c| c.remove(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
