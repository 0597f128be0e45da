//! Liquidations: the list, the newest, statistics by window and side, and
//! the liquidation map (`liquidation-map`'s outputs).

use super::{HOUR_MS, limit};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, matches};
use crate::names::{LIQUIDATION_LOG, LIQUIDATION_MAP_PREFIX};
use crate::params::{InstrumentParams, LiquidationParams, PlaceParams, RecentParams};
use crate::reads::{cached_view, read};
use crate::state::{AppState, Shared};
use crate::views::{
    LiquidationMapList, LiquidationMapRef, LiquidationMapView, LiquidationPage, LiquidationStats,
    LiquidationView, LiquidationWindow, SideTotals,
};
use axum::Json;
use axum::extract::State;
use prism_model::{Decimal, decimal};
use prism_outputs::LogQuery;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(recent))
        .routes(routes!(stats))
        .routes(routes!(map))
        .routes(routes!(maps))
}

fn page(state: &AppState, q: LiquidationParams) -> Result<LiquidationPage, ApiError> {
    let plugin = state.backing(&state.analytics.liquidations, "liquidations")?;
    let query = LogQuery {
        name: Some(LIQUIDATION_LOG.into()),
        exchange: q.exchange,
        symbol: q.symbol,
        from: q.from,
        to: q.to,
        body: q
            .side
            .map(|s| ("side".to_owned(), s.as_str().to_owned()))
            .into_iter()
            .collect(),
        limit: Some(limit(q.limit)?),
        cursor: crate::params::cursor(q.cursor.as_deref())?,
    };
    let page = crate::history::logs(state, plugin, &query)?;
    Ok(LiquidationPage {
        items: page
            .items
            .iter()
            .map(|(_, l)| LiquidationView::from(l))
            .collect(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    })
}

/// Liquidations, newest first (`side` is the liquidated position's).
#[utoipa::path(get, path = "/api/v1/liquidations", tag = "analytics",
    params(LiquidationParams),
    responses((status = 200, body = LiquidationPage), (status = "default", body = ErrorBody)))]
async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<LiquidationParams>,
) -> Result<Json<LiquidationPage>, ApiError> {
    read(&state, move |state| page(state, q).map(Json)).await
}

/// The newest liquidations (default 50).
#[utoipa::path(get, path = "/api/v1/liquidations/recent", tag = "analytics",
    params(RecentParams),
    responses((status = 200, body = LiquidationPage), (status = "default", body = ErrorBody)))]
async fn recent(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<RecentParams>,
) -> Result<Json<LiquidationPage>, ApiError> {
    read(&state, move |state| {
        let q = LiquidationParams {
            exchange: q.exchange,
            symbol: q.symbol,
            limit: Some(q.limit.unwrap_or(50)),
            ..LiquidationParams::default()
        };
        let mut page = page(state, q)?;
        page.next_cursor = None;
        Ok(Json(page))
    })
    .await
}

#[derive(Default, Clone, Copy)]
struct Totals {
    count: u64,
    notional: Decimal,
}

impl Totals {
    fn view(self) -> SideTotals {
        SideTotals {
            count: self.count,
            notional: self.notional.normalize().to_string(),
        }
    }
}

/// Counts and notional by side over the last 1 h, 4 h and 24 h of event
/// time (up to the newest event routed).
#[utoipa::path(get, path = "/api/v1/liquidations/stats", tag = "analytics",
    params(PlaceParams),
    responses((status = 200, body = LiquidationStats), (status = "default", body = ErrorBody)))]
async fn stats(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<PlaceParams>,
) -> Result<Json<Arc<serde_json::Value>>, ApiError> {
    let key = format!("liquidation_stats:{q:?}");
    cached_view(&state, key, move |state| {
        serde_json::to_value(stats_view(state, &q)?).map_err(|e| ApiError::internal(&e))
    })
    .await
    .map(Json)
}

fn stats_view(state: &AppState, q: &PlaceParams) -> Result<LiquidationStats, ApiError> {
    let plugin = state.backing(&state.analytics.liquidations, "liquidations")?;
    let now = state.stream_now();
    let windows = [("1h", 1), ("4h", 4), ("24h", 24)];
    let mut totals = [[Totals::default(); 2]; 3];
    state.store.for_each_log(plugin, LIQUIDATION_LOG, |l| {
        let (exchange, symbol) = l
            .instrument
            .as_ref()
            .map_or(("", ""), |i| (&*i.exchange, &*i.symbol));
        if !matches(q.exchange.as_ref(), exchange) || !matches(q.symbol.as_ref(), symbol) {
            return;
        }
        let side = usize::from(l.body["side"].as_str() == Some("short"));
        let notional = l.body["notional"]
            .as_str()
            .and_then(|n| decimal::parse(n).ok())
            .unwrap_or_default();
        for (i, (_, hours)) in windows.iter().enumerate() {
            if l.ts > now - hours * HOUR_MS && l.ts <= now {
                let t = &mut totals[i][side];
                t.count += 1;
                t.notional += notional;
            }
        }
    });
    let windows = windows
        .iter()
        .zip(totals)
        .map(|((name, hours), [long, short])| {
            let total = Totals {
                count: long.count + short.count,
                notional: long.notional + short.notional,
            };
            LiquidationWindow {
                window: name,
                from: now - hours * HOUR_MS,
                to: now,
                long: long.view(),
                short: short.view(),
                total: total.view(),
            }
        })
        .collect();
    Ok(LiquidationStats { now, windows })
}

/// The liquidation map of one instrument.
#[utoipa::path(get, path = "/api/v1/liquidation-map", tag = "analytics",
    params(InstrumentParams),
    responses((status = 200, body = LiquidationMapView), (status = "default", body = ErrorBody)))]
async fn map(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<InstrumentParams>,
) -> Result<Json<LiquidationMapView>, ApiError> {
    read(&state, move |state| {
        let plugin = state.backing(&state.analytics.liquidation_map, "liquidation_map")?;
        let wanted = format!("{LIQUIDATION_MAP_PREFIX}{}:{}", q.exchange, q.symbol);
        let key = state
            .store
            .document_keys(plugin)
            .into_iter()
            .find(|k| k.eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no liquidation map for {} {} yet",
                    q.exchange, q.symbol
                ))
            })?;
        let d = state
            .store
            .document(plugin, &key)
            .ok_or_else(|| ApiError::not_found("the map was just replaced; try again"))?;
        Ok(Json(LiquidationMapView {
            key,
            ts: d.ts,
            map: d.body.value().clone(),
        }))
    })
    .await
}

/// The instruments that have a liquidation map, by exchange and symbol,
/// each with the time of its newest map.
#[utoipa::path(get, path = "/api/v1/liquidation-maps", tag = "analytics",
    responses((status = 200, body = LiquidationMapList), (status = "default", body = ErrorBody)))]
async fn maps(State(state): State<Shared>) -> Result<Json<LiquidationMapList>, ApiError> {
    read(&state, move |state| {
        let plugin = state.backing(&state.analytics.liquidation_map, "liquidation_map")?;
        let mut items: Vec<LiquidationMapRef> = state
            .store
            .document_keys(plugin)
            .into_iter()
            .filter_map(|key| {
                let (exchange, symbol) =
                    key.strip_prefix(LIQUIDATION_MAP_PREFIX)?.split_once(':')?;
                let ts = state.store.document(plugin, &key)?.ts;
                Some(LiquidationMapRef {
                    exchange: exchange.to_owned(),
                    symbol: symbol.to_owned(),
                    ts,
                })
            })
            .collect();
        items.sort_by(|a, b| (&a.exchange, &a.symbol).cmp(&(&b.exchange, &b.symbol)));
        Ok(Json(LiquidationMapList { items }))
    })
    .await
}
