//! Paper execution: orders, fills, funding payments, positions, PnL and
//! risk states of the plugins that trade; and the operator's hand on them
//! (a manual order, a risk state, "close everything").

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, ApiQuery};
use crate::reads::{blocking, read};
use crate::state::Shared;
use crate::views::{
    FillPage, FillView, FundingPaymentPage, FundingPaymentView, OrderPage, OrderView, PlacedOrders,
    PnlHistoryPage, PnlNow, PnlView, PositionList, PositionView, RiskList, RiskView, pairs,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use prism_model::{OrderStatus, RiskState, Side, decimal};
use prism_outputs::{PnlHistoryPoint, RecordQuery};
use prism_worker::{AccountCommand, ManualOrder};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const MAX: usize = 1000;
const DEFAULT: usize = 100;
/// An operator's request body, bytes at most.
const MAX_BODY: usize = 4096;

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(orders, place))
        .routes(routes!(order))
        .routes(routes!(fills))
        .routes(routes!(funding_payments))
        .routes(routes!(positions))
        .routes(routes!(close))
        .routes(routes!(pnl))
        .routes(routes!(pnl_history))
        .routes(routes!(risk))
        .routes(routes!(set_risk))
}

/// Filters and paging of the record reads.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RecordParams {
    /// Only this plugin's.
    pub(crate) plugin: Option<String>,
    /// Only this venue's (lower case, e.g. `binance`).
    pub(crate) exchange: Option<String>,
    /// Only this symbol's (the venue's, e.g. `BTCUSDT`).
    pub(crate) symbol: Option<String>,
    /// Orders only: `open`, `partially_filled`, `filled`, `canceled`, `rejected`.
    pub(crate) status: Option<String>,
    /// Event time from (inclusive), unix ms.
    pub(crate) from: Option<i64>,
    /// Event time to (inclusive), unix ms.
    pub(crate) to: Option<i64>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

impl RecordParams {
    fn query(self) -> Result<RecordQuery, ApiError> {
        let status = self
            .status
            .as_deref()
            .map(|s| {
                serde_json::from_value::<OrderStatus>(serde_json::Value::String(s.to_owned()))
                    .map_err(|_| {
                        ApiError::bad_request(format!(
                            "invalid query: status `{s}`: use open, partially_filled, filled, canceled or rejected"
                        ))
                    })
            })
            .transpose()?;
        Ok(RecordQuery {
            plugin: self.plugin,
            exchange: self.exchange,
            symbol: self.symbol,
            status,
            from: self.from,
            to: self.to,
            cursor: crate::params::cursor::<u64>(self.cursor.as_deref())?,
            limit: Some(crate::extract::page_limit(self.limit, DEFAULT, MAX)?),
        })
    }
}

/// Orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "execution",
    params(RecordParams),
    responses((status = 200, body = OrderPage), (status = "default", body = ErrorBody)))]
async fn orders(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<RecordParams>,
) -> Result<Json<OrderPage>, ApiError> {
    let q = q.query()?;
    read(&state, move |s| {
        let page = s.execution.orders(&q);
        Ok(Json(OrderPage {
            items: page.items.iter().map(OrderView::from).collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }))
    })
    .await
}

/// One order, by id.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "execution",
    params(("id" = String, Path, description = "order id, `{plugin}:{n}`")),
    responses((status = 200, body = OrderView), (status = "default", body = ErrorBody)))]
async fn order(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    read(&state, move |s| {
        s.execution
            .order(&id)
            .map(|o| Json(OrderView::from(&o)))
            .ok_or_else(|| ApiError::not_found(format!("no order `{id}`")))
    })
    .await
}

/// Fills, newest first.
#[utoipa::path(get, path = "/api/v1/fills", tag = "execution",
    params(RecordParams),
    responses((status = 200, body = FillPage), (status = "default", body = ErrorBody)))]
async fn fills(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<RecordParams>,
) -> Result<Json<FillPage>, ApiError> {
    let q = q.query()?;
    read(&state, move |s| {
        let page = s.execution.fills(&q);
        Ok(Json(FillPage {
            items: page.items.iter().map(FillView::from).collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }))
    })
    .await
}

/// Funding paid and received on held perpetuals, newest first.
#[utoipa::path(get, path = "/api/v1/funding-payments", tag = "execution",
    params(RecordParams),
    responses((status = 200, body = FundingPaymentPage), (status = "default", body = ErrorBody)))]
async fn funding_payments(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<RecordParams>,
) -> Result<Json<FundingPaymentPage>, ApiError> {
    let q = q.query()?;
    read(&state, move |s| {
        let page = s.execution.funding(&q);
        Ok(Json(FundingPaymentPage {
            items: page.items.iter().map(FundingPaymentView::from).collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }))
    })
    .await
}

/// Positions with their PnL (flat ones too, while they are kept).
#[utoipa::path(get, path = "/api/v1/positions", tag = "execution",
    params(RecordParams),
    responses((status = 200, body = PositionList), (status = "default", body = ErrorBody)))]
async fn positions(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<RecordParams>,
) -> Result<Json<PositionList>, ApiError> {
    let q = q.query()?;
    read(&state, move |s| {
        Ok(Json(PositionList {
            items: s
                .execution
                .positions(&q)
                .iter()
                .map(PositionView::from)
                .collect(),
        }))
    })
    .await
}

/// Current PnL per plugin, and the total over them.
#[utoipa::path(get, path = "/api/v1/pnl", tag = "execution",
    params(RecordParams),
    responses((status = 200, body = PnlNow), (status = "default", body = ErrorBody)))]
async fn pnl(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<RecordParams>,
) -> Result<Json<PnlNow>, ApiError> {
    read(&state, move |s| {
        let plugins: Vec<PnlView> = s
            .execution
            .pnl(q.plugin.as_deref())
            .iter()
            .map(PnlView::from)
            .collect();
        let mut total = PnlView::default();
        for p in &plugins {
            total.realized += p.realized;
            total.unrealized += p.unrealized;
            total.funding += p.funding;
            total.fees += p.fees;
            total.total += p.total;
            total.ts = total.ts.max(p.ts);
        }
        for d in [
            &mut total.realized,
            &mut total.unrealized,
            &mut total.funding,
            &mut total.fees,
            &mut total.total,
        ] {
            *d = d.normalize();
        }
        let positions = s.execution.positions(&RecordQuery {
            plugin: q.plugin.clone(),
            ..RecordQuery::default()
        });
        Ok(Json(PnlNow {
            plugins,
            pairs: pairs(&positions),
            total,
        }))
    })
    .await
}

/// PnL over time, newest first: a plugin's, or with `exchange`/`symbol`,
/// its positions'.
#[utoipa::path(get, path = "/api/v1/pnl/history", tag = "execution",
    params(RecordParams),
    responses((status = 200, body = PnlHistoryPage), (status = "default", body = ErrorBody)))]
async fn pnl_history(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<RecordParams>,
) -> Result<Json<PnlHistoryPage>, ApiError> {
    let q = q.query()?;
    read(&state, move |s| {
        let page = s.execution.pnl_history(&q);
        Ok(Json(PnlHistoryPage {
            items: page
                .items
                .iter()
                .map(|h| match h {
                    PnlHistoryPoint::Plugin(p) => PnlView::from(p),
                    PnlHistoryPoint::Position(p) => PnlView::from(p),
                })
                .collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }))
    })
    .await
}

/// Every trading plugin's risk state.
#[utoipa::path(get, path = "/api/v1/risk", tag = "execution",
    responses((status = 200, body = RiskList), (status = "default", body = ErrorBody)))]
async fn risk(State(state): State<Shared>) -> Result<Json<RiskList>, ApiError> {
    read(&state, move |s| {
        Ok(Json(RiskList {
            items: s.execution.risk().iter().map(RiskView::from).collect(),
        }))
    })
    .await
}

fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes, what: &str) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY {
        return Err(ApiError::bad_request(format!(
            "the request is over {MAX_BODY} bytes"
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not {what}: {e}")))
}

fn amount(field: &str, text: &str) -> Result<prism_model::Decimal, ApiError> {
    let value =
        decimal::parse(text).map_err(|e| ApiError::bad_request(format!("`{field}`: {e}")))?;
    if value <= prism_model::Decimal::ZERO {
        return Err(ApiError::bad_request(format!("`{field}` must be positive")));
    }
    Ok(value)
}

/// A manual order for a plugin's paper account.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderRequest {
    pub(crate) plugin: String,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    /// `buy` or `sell`.
    #[schema(value_type = String)]
    pub(crate) side: Side,
    /// Base units, a decimal string.
    pub(crate) size: String,
    /// A decimal string; absent for a market order.
    pub(crate) limit_price: Option<String>,
    #[serde(default)]
    pub(crate) reduce_only: bool,
    /// Shown to the plugin with its fills (default `manual-{n}`).
    pub(crate) client_id: Option<String>,
}

/// Places an order on a trading plugin's paper account at the event time
/// it has reached (the plugin sees its fills as `fill` events).
#[utoipa::path(post, path = "/api/v1/orders", tag = "admin",
    request_body = OrderRequest,
    security(("admin_token" = [])),
    responses((status = 200, description = "Accepted or rejected: the order says", body = OrderView),
              (status = "default", body = ErrorBody)))]
async fn place(
    _: Admin,
    State(state): State<Shared>,
    bytes: Bytes,
) -> Result<Json<OrderView>, ApiError> {
    let req: OrderRequest = body(&bytes, "an order")?;
    let size = amount("size", &req.size)?;
    let limit_price = req
        .limit_price
        .as_deref()
        .map(|p| amount("limit_price", p))
        .transpose()?;
    let client_id: Arc<str> = match req.client_id {
        Some(c) if c.is_empty() || c.len() > 64 => {
            return Err(ApiError::bad_request(
                "`client_id` must be 1 to 64 characters",
            ));
        }
        Some(c) => Arc::from(c),
        None => Arc::from(format!("manual-{}", prism_model::wall_ms())),
    };
    let command = AccountCommand::Place(ManualOrder {
        client_id,
        exchange: req.exchange,
        symbol: req.symbol,
        side: req.side,
        size,
        limit_price,
        reduce_only: req.reduce_only,
    });
    let plugin = req.plugin;
    let answer = blocking(&state, move |c| c.account(&plugin, command)).await?;
    answer
        .orders
        .first()
        .map(|o| Json(OrderView::from(o)))
        .ok_or_else(|| ApiError::internal(&"the account placed no order"))
}

/// A risk state for a plugin.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RiskRequest {
    /// `active`, `reducing` or `halted`.
    #[schema(value_type = String)]
    pub(crate) state: RiskState,
    /// Shown with the state (default: set by an operator).
    pub(crate) reason: Option<String>,
}

/// Sets a trading plugin's risk state: `active`, `reducing` (only
/// reduce-only orders pass) or `halted` (every order is rejected).
#[utoipa::path(post, path = "/api/v1/risk/{plugin}", tag = "admin",
    params(("plugin" = String, Path, description = "plugin id")),
    request_body = RiskRequest,
    security(("admin_token" = [])),
    responses((status = 200, description = "The state as set", body = RiskView),
              (status = "default", body = ErrorBody)))]
async fn set_risk(
    _: Admin,
    State(state): State<Shared>,
    Path(plugin): Path<String>,
    bytes: Bytes,
) -> Result<Json<RiskView>, ApiError> {
    let req: RiskRequest = body(&bytes, "a risk state")?;
    let reason = req
        .reason
        .unwrap_or_else(|| "set by an operator".to_owned())
        .chars()
        .take(256)
        .collect();
    let command = AccountCommand::SetRisk {
        state: req.state,
        reason,
    };
    let answer = blocking(&state, move |c| c.account(&plugin, command)).await?;
    answer
        .risk
        .map(|r| Json(RiskView::from(&r)))
        .ok_or_else(|| ApiError::internal(&"the account gave no risk state"))
}

/// Which positions to close.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloseRequest {
    /// One plugin's; absent: every trading plugin's.
    pub(crate) plugin: Option<String>,
}

/// "Close everything": reduce-only market orders for every open position
/// of one plugin or all; they pass whatever the risk state.
#[utoipa::path(post, path = "/api/v1/positions/close", tag = "admin",
    request_body = CloseRequest,
    security(("admin_token" = [])),
    responses((status = 200, description = "The closing orders", body = PlacedOrders),
              (status = "default", body = ErrorBody)))]
async fn close(
    _: Admin,
    State(state): State<Shared>,
    bytes: Bytes,
) -> Result<Json<PlacedOrders>, ApiError> {
    let req: CloseRequest = if bytes.is_empty() {
        CloseRequest::default()
    } else {
        body(&bytes, "a close request")?
    };
    let placed = blocking(&state, move |c| {
        let ids = match req.plugin {
            Some(id) => vec![id],
            None => c.trading(),
        };
        let mut all = Vec::new();
        for id in ids {
            all.extend(c.account(&id, AccountCommand::CloseAll)?.orders);
        }
        Ok(all)
    })
    .await?;
    Ok(Json(PlacedOrders {
        orders: placed.iter().map(OrderView::from).collect(),
    }))
}
