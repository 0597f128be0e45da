//! Notifications: what was raised (plugin alerts, signals matched by rules,
//! host alarms) and where each stands on every channel; an admin's test
//! message to one channel.

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiQuery};
use crate::state::{AppState, Shared};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use prism_notifier::{AlertQuery, DeliveryStatus, Notifier, RecordView, priority_name};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const MAX: usize = 1000;
const DEFAULT: usize = 100;
/// A test message's title and body, bytes at most.
const MAX_TEST_BYTES: usize = 4096;

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(test))
}

fn notifier(state: &AppState) -> Result<&Notifier, ApiError> {
    state.notifier.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_enabled",
            "no notification channel is configured: add [[notify.channels]]",
        )
    })
}

/// Notifications: filters and paging.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertParams {
    /// Only this plugin's.
    pub(crate) plugin: Option<String>,
    /// Only this kind (`alert`, `signal`, `plugin_quarantined`, `feed_down`, …).
    pub(crate) kind: Option<String>,
    /// At least this urgent: `P0`, `P1` or `P2`.
    #[param(value_type = Option<String>)]
    pub(crate) priority: Option<prism_model::Priority>,
    /// Only those delivered (or to be) on this channel.
    pub(crate) channel: Option<String>,
    /// Only those whose delivery (on `channel`, else on any) is `pending`,
    /// `sent`, `failed` or `dropped`.
    pub(crate) status: Option<String>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// One channel's delivery of a notification.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct DeliveryItem {
    pub(crate) channel: String,
    /// `pending`, `sent`, `failed` or `dropped`.
    pub(crate) status: &'static str,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
    /// Wall ms.
    pub(crate) delivered_at_ms: Option<i64>,
}

/// One notification.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct AlertItem {
    /// Its number on this host (newer is larger).
    pub(crate) seq: u64,
    /// `{plugin}:{position}.{index}` for a plugin output; `host:{kind}:…`
    /// for a host alarm.
    pub(crate) id: String,
    pub(crate) kind: String,
    /// `P0` (most urgent), `P1`, `P2`.
    pub(crate) priority: &'static str,
    pub(crate) title: String,
    pub(crate) body: String,
    pub(crate) plugin: Option<String>,
    /// `exchange:symbol`.
    pub(crate) instrument: Option<String>,
    /// Event time (plugin outputs) or wall time (alarms), unix ms.
    pub(crate) ts: i64,
    /// Wall ms it was raised.
    pub(crate) raised_at_ms: i64,
    /// The notification this one repeated within the de-duplication
    /// window: not sent; a summary follows when the window closes.
    pub(crate) repeat_of: Option<u64>,
    pub(crate) deliveries: Vec<DeliveryItem>,
}

impl From<&RecordView> for AlertItem {
    fn from(r: &RecordView) -> Self {
        let n = &r.notification;
        Self {
            seq: r.seq,
            id: n.id.clone(),
            kind: n.kind.clone(),
            priority: priority_name(n.priority),
            title: n.title.clone(),
            body: n.body.clone(),
            plugin: n.plugin.clone(),
            instrument: n.instrument.clone(),
            ts: n.ts,
            raised_at_ms: r.raised_at_ms,
            repeat_of: r.repeat_of,
            deliveries: r
                .deliveries
                .iter()
                .map(|d| DeliveryItem {
                    channel: d.channel.clone(),
                    status: d.status.as_str(),
                    attempts: d.attempts,
                    last_error: d.last_error.clone(),
                    delivered_at_ms: d.delivered_at_ms,
                })
                .collect(),
        }
    }
}

/// A channel and its counters.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ChannelItem {
    pub(crate) name: String,
    /// `webhook`, `telegram`, `slack`, `discord` or `email`.
    pub(crate) kind: &'static str,
    pub(crate) min_priority: String,
    pub(crate) sent: u64,
    pub(crate) failed: u64,
    pub(crate) retried: u64,
    pub(crate) dropped: u64,
    pub(crate) queued: usize,
    pub(crate) latency_ms_mean: f64,
    pub(crate) latency_ms_max: u64,
    pub(crate) last_error: Option<String>,
}

/// A page of notifications, newest first, with the channels' state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct AlertPage {
    pub(crate) items: Vec<AlertItem>,
    pub(crate) next_cursor: Option<String>,
    pub(crate) channels: Vec<ChannelItem>,
}

fn status_of(text: &str) -> Result<DeliveryStatus, ApiError> {
    Ok(match text {
        "pending" => DeliveryStatus::Pending,
        "sent" => DeliveryStatus::Sent,
        "failed" => DeliveryStatus::Failed,
        "dropped" => DeliveryStatus::Dropped,
        other => {
            return Err(ApiError::bad_request(format!(
                "status `{other}`: use pending, sent, failed or dropped"
            )));
        }
    })
}

/// Notifications, newest first, with their delivery status per channel.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts",
    params(AlertParams),
    responses((status = 200, body = AlertPage), (status = "default", body = ErrorBody)))]
async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<AlertParams>,
) -> Result<Json<AlertPage>, ApiError> {
    let notifier = notifier(&state)?;
    let limit = crate::extract::page_limit(q.limit, DEFAULT, MAX)?;
    let before = crate::params::cursor::<u64>(q.cursor.as_deref())?;
    let mut items = notifier.list(&AlertQuery {
        plugin: q.plugin,
        kind: q.kind,
        min_priority: q.priority,
        channel: q.channel,
        status: q.status.as_deref().map(status_of).transpose()?,
        before,
        limit: limit + 1,
    });
    let more = items.len() > limit;
    items.truncate(limit);
    Ok(Json(AlertPage {
        next_cursor: more
            .then(|| items.last().map(|r| r.seq.to_string()))
            .flatten(),
        items: items.iter().map(AlertItem::from).collect(),
        channels: channels(notifier),
    }))
}

fn channels(n: &Notifier) -> Vec<ChannelItem> {
    n.channels()
        .into_iter()
        .map(|c| ChannelItem {
            name: c.name,
            kind: c.kind,
            min_priority: c.min_priority,
            sent: c.sent,
            failed: c.failed,
            retried: c.retried,
            dropped: c.dropped,
            queued: c.queued,
            latency_ms_mean: c.latency_ms_mean,
            latency_ms_max: c.latency_ms_max,
            last_error: c.last_error,
        })
        .collect()
}

/// A test message.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequest {
    /// The channel's name.
    pub(crate) channel: String,
    pub(crate) title: Option<String>,
    pub(crate) body: Option<String>,
}

/// Sends a test message to one channel (P0, never de-duplicated) and
/// answers with its first attempt's outcome.
#[utoipa::path(post, path = "/api/v1/alerts/test", tag = "admin",
    request_body = TestRequest,
    security(("admin_token" = [])),
    responses((status = 200, description = "Attempted; the delivery says how it went", body = AlertItem),
              (status = "default", body = ErrorBody)))]
async fn test(
    _: Admin,
    State(state): State<Shared>,
    body: Bytes,
) -> Result<Json<AlertItem>, ApiError> {
    let notifier = notifier(&state)?.clone();
    if body.len() > MAX_TEST_BYTES + 256 {
        return Err(ApiError::bad_request(format!(
            "the request is over {MAX_TEST_BYTES} bytes"
        )));
    }
    let req: TestRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not a test request: {e}")))?;
    let title = req.title.unwrap_or_else(|| "Prism test message".to_owned());
    let body = req
        .body
        .unwrap_or_else(|| "If you can read this, the channel works.".to_owned());
    let record = notifier
        .test(&req.channel, &title, &body)
        .await
        .map_err(|e| ApiError::not_found(e.to_string()))?;
    Ok(Json(AlertItem::from(&record)))
}
