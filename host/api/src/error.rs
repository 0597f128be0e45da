//! The one error shape of the API, and the layer that gives it to every
//! error response and logs the server's own failures.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prism_control::ControlError;
use prism_worker::Refusal;
use serde::Serialize;
use utoipa::ToSchema;

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorDetail,
}

/// A stable, machine-readable code and a message for humans.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    pub(crate) code: String,
    pub(crate) message: String,
}

/// An API error: a stable `code`, a message for humans, and the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// What went wrong inside the server: logged by [`errors`], never sent.
    detail: Option<String>,
}

/// The server-side detail of a 5xx answer, handed to the logging layer.
#[derive(Debug, Clone)]
struct Detail(String);

impl ApiError {
    /// An error with this status, code and message.
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// 404 with code `not_found`.
    #[must_use]
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 400 with code `bad_request`.
    #[must_use]
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 503 with code `busy`: a bounded resource is in use; retry later.
    #[must_use]
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
    }

    /// 500 with code `internal`; `detail` goes to the server's log only.
    #[must_use]
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        Self {
            detail: Some(detail.to_string()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log",
            )
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        if e.is_host_fault() {
            return ApiError::internal(&e);
        }
        let status = match &e {
            ControlError::NotFound(_) | ControlError::Refused(Refusal::NoCandidate) => {
                StatusCode::NOT_FOUND
            }
            ControlError::Exists(_)
            | ControlError::NameChanged { .. }
            | ControlError::NoPrevious(_)
            | ControlError::CandidateExists(_)
            | ControlError::Refused(
                Refusal::NotRunning
                | Refusal::NoAccount
                | Refusal::CandidateTrades
                | Refusal::CandidateEnded(_),
            ) => StatusCode::CONFLICT,
            ControlError::InvalidId(_) | ControlError::Invalid(_) => StatusCode::BAD_REQUEST,
            ControlError::Gone(_) => StatusCode::GONE,
            ControlError::Timeout(..) => StatusCode::GATEWAY_TIMEOUT,
            // The host is full, not the component wrong: a retry after a
            // plugin is removed succeeds.
            e if e.is_at_capacity() => StatusCode::SERVICE_UNAVAILABLE,
            // Everything about the component itself: not wasm, wrong world,
            // init or restore refused, swap refused.
            ControlError::Read { .. } | ControlError::Load(_) | ControlError::Refused(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(Detail(detail));
        }
        response
    }
}

/// The error layer: logs what a 5xx answer hides from the client, and
/// gives every error the API's JSON shape, whoever made it (axum's own
/// rejections — a path segment that is not UTF-8, a method not allowed —
/// answer in plain text or with an empty body otherwise).
pub(crate) async fn errors(mut response: Response) -> Response {
    if let Some(Detail(detail)) = response.extensions_mut().remove::<Detail>() {
        tracing::error!(status = %response.status(), "internal error: {detail}");
    }
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned()
    } else {
        text
    };
    let mut out = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}
