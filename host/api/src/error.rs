//! The one error shape of the API.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prism_control::ControlError;

/// An API error: a stable `code`, a message for humans, and the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
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

    /// 500; the detail is logged, not sent.
    #[must_use]
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let code = e.code();
        let status = match code {
            "not_found" => StatusCode::NOT_FOUND,
            "conflict" | "no_previous_version" => StatusCode::CONFLICT,
            "invalid_id" | "bad_request" => StatusCode::BAD_REQUEST,
            "gone" => StatusCode::GONE,
            "timeout" => StatusCode::GATEWAY_TIMEOUT,
            "read_failed" | "load_failed" => return ApiError::internal(&e),
            // Everything about the component itself: not wasm, wrong world,
            // init/restore refused, swap refused.
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::new(status, code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}
