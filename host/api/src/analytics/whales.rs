//! Whales: the accounts `whale-detector` watches, changing that list, and
//! what a watched account did.

use super::limit;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiQuery};
use crate::names::{WATCHED, WHALE_ACTIVITY_LOG};
use crate::params::ActivityParams;
use crate::reads::{blocking, read};
use crate::state::{AppState, Shared};
use crate::views::{WhaleActivities, WhaleList};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use prism_outputs::LogQuery;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(remove))
        .routes(routes!(activities))
}

fn watched(state: &AppState, plugin: &str) -> Vec<String> {
    state
        .control
        .view(plugin)
        .and_then(|v| v.config.get(WATCHED).cloned())
        .and_then(|w| serde_json::from_value(w).ok())
        .unwrap_or_default()
}

/// The watched accounts.
#[utoipa::path(get, path = "/api/v1/whales", tag = "analytics",
    responses((status = 200, body = WhaleList), (status = "default", body = ErrorBody)))]
async fn list(State(state): State<Shared>) -> Result<Json<WhaleList>, ApiError> {
    let plugin = state.backing(&state.analytics.whales, "whales")?;
    Ok(Json(WhaleList::of(plugin, &watched(&state, plugin))))
}

/// An account to watch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWhale {
    /// An address (`0x` and 40 hex digits, as on Hyperliquid) or a numeric
    /// account index (as on Lighter).
    account: String,
}

/// An account the whale plugin can follow, in its canonical form: an EVM
/// address (`0x` and 40 hex digits, Hyperliquid; lower case) or a numeric
/// account index (Lighter). Anything else could never match an event.
fn whale_account(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if let Some(hex) = hex {
        return Ok(format!("0x{}", hex.to_ascii_lowercase()));
    }
    if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(text.to_owned());
    }
    Err(ApiError::bad_request(
        "account must be an address (0x and 40 hex digits, as on Hyperliquid) or a numeric account index (as on Lighter)",
    ))
}

/// Gives the whale plugin a new watch list; it is re-initialized with it,
/// its state and other settings carried over.
async fn set_watched(state: &AppState, plugin: &str, list: &[String]) -> Result<(), ApiError> {
    let mut config = state
        .control
        .view(plugin)
        .map(|v| v.config)
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    config[WATCHED] = json!(list);
    let text = config.to_string();
    let id = plugin.to_owned();
    blocking(state, move |control| control.replace_config(&id, &text)).await?;
    Ok(())
}

/// Watches one more account (200 if it was already watched).
#[utoipa::path(post, path = "/api/v1/whales", tag = "admin",
    request_body = NewWhale,
    security(("admin_token" = [])),
    responses((status = 201, description = "Added; the list", body = WhaleList),
              (status = 200, description = "Already watched; the list", body = WhaleList),
              (status = "default", body = ErrorBody)))]
async fn add(
    _: Admin,
    State(state): State<Shared>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<WhaleList>), ApiError> {
    let plugin = state.backing(&state.analytics.whales, "whales")?.to_owned();
    let new: NewWhale = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("expected {{\"account\": \"…\"}}: {e}")))?;
    let account = whale_account(&new.account)?;
    let mut list = watched(&state, &plugin);
    if list.iter().any(|a| a.eq_ignore_ascii_case(&account)) {
        return Ok((StatusCode::OK, Json(WhaleList::of(&plugin, &list))));
    }
    list.push(account);
    set_watched(&state, &plugin, &list).await?;
    Ok((StatusCode::CREATED, Json(WhaleList::of(&plugin, &list))))
}

/// Stops watching an account.
#[utoipa::path(delete, path = "/api/v1/whales/{account}", tag = "admin",
    params(("account" = String, Path, description = "the watched account")),
    security(("admin_token" = [])),
    responses((status = 200, description = "Removed; the list", body = WhaleList),
              (status = "default", body = ErrorBody)))]
async fn remove(
    _: Admin,
    State(state): State<Shared>,
    Path(account): Path<String>,
) -> Result<Json<WhaleList>, ApiError> {
    let plugin = state.backing(&state.analytics.whales, "whales")?.to_owned();
    let account = whale_account(&account)?;
    let mut list = watched(&state, &plugin);
    let before = list.len();
    list.retain(|a| !a.eq_ignore_ascii_case(&account));
    if list.len() == before {
        return Err(ApiError::not_found(format!("{account} is not watched")));
    }
    set_watched(&state, &plugin, &list).await?;
    Ok(Json(WhaleList::of(&plugin, &list)))
}

/// A watched account's trades, position changes and liquidations, newest first.
#[utoipa::path(get, path = "/api/v1/whales/{account}/activities", tag = "analytics",
    params(("account" = String, Path, description = "account address"), ActivityParams),
    responses((status = 200, body = WhaleActivities), (status = "default", body = ErrorBody)))]
async fn activities(
    State(state): State<Shared>,
    Path(account): Path<String>,
    ApiQuery(q): ApiQuery<ActivityParams>,
) -> Result<Json<WhaleActivities>, ApiError> {
    read(&state, move |state| {
        let plugin = state.backing(&state.analytics.whales, "whales")?;
        let query = LogQuery {
            name: Some(WHALE_ACTIVITY_LOG.into()),
            exchange: q.exchange,
            symbol: q.symbol,
            from: q.from,
            to: q.to,
            body: vec![("account".to_owned(), account.clone())],
            limit: Some(limit(q.limit)?),
            cursor: crate::params::cursor(q.cursor.as_deref())?,
        };
        let page = crate::history::logs(state, plugin, &query)?;
        let items = page
            .items
            .iter()
            .map(|(_, l)| {
                let mut body = l.body.value().clone();
                body["ts"] = json!(l.ts);
                body
            })
            .collect();
        Ok(Json(WhaleActivities {
            account,
            items,
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }))
    })
    .await
}
