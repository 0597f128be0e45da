//! What handlers take from a request, with rejections in the API's error
//! shape: query parameters, the admin token, page limits.

use crate::error::ApiError;
use crate::state::Shared;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

/// Query parameters. An empty value (`?side=`) is no filter, as an absent
/// parameter; unknown parameters are refused, naming them.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query: Vec<&str> = parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.ends_with('='))
            .collect();
        let uri = format!("/?{}", query.join("&"))
            .parse()
            .map_err(|_| ApiError::bad_request("malformed query string"))?;
        axum::extract::Query::<T>::try_from_uri(&uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
    }
}

/// Proof that the request carried the admin token.
pub(crate) struct Admin;

impl FromRequestParts<Shared> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
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
        let unauthorized =
            |message| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        match given {
            Some(given) if bool::from(given.as_bytes().ct_eq(token.as_bytes())) => Ok(Admin),
            Some(_) => Err(unauthorized("the bearer token is not the admin token")),
            None => Err(unauthorized(
                "this endpoint needs `Authorization: Bearer <admin token>`",
            )),
        }
    }
}

/// A page's size: `limit` (at least 1, as the OpenAPI document says), or
/// `default`, at most `max`.
///
/// # Errors
/// `limit=0`.
pub(crate) fn page_limit(
    limit: Option<usize>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default),
        Some(0) => Err(ApiError::bad_request(
            "invalid query: limit must be at least 1",
        )),
        Some(n) => Ok(n.min(max)),
    }
}

/// Whether a filter (compared without case) lets `value` through.
pub(crate) fn matches(filter: Option<&String>, value: &str) -> bool {
    filter.is_none_or(|f| f.eq_ignore_ascii_case(value))
}
