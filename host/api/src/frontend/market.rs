//! The liquidation heatmap and the long/short split of open positions.

use super::{token_documents, token_matches};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::names::{LIQUIDATION_MAP_PREFIX, POSITION_NOTIONAL};
use crate::reads::read;
use crate::state::Shared;
use crate::views::{DEFAULT_RANGE_PERCENT, LiquidationHeatmap, MarketLongShortRatio};
use axum::Json;
use axum::extract::State;
use prism_model::{Decimal, Document, TimestampMs};
use prism_outputs::SeriesQuery;
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(heatmap))
        .routes(routes!(long_short))
}

const DAY_MS: TimestampMs = 86_400_000;

/// A series point: its time and value.
type Point = (TimestampMs, f64);

/// The heatmap's query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HeatmapParams {
    /// The base asset (default `BTC`).
    token: Option<String>,
    /// Percent above and below the price to cover (default 4.5, above 0,
    /// at most 100).
    range: Option<f64>,
    /// Only this venue's map (default: every venue's, merged).
    exchange: Option<String>,
}

/// The liquidation maps of a token, merged across venues: liquidated and
/// at-risk notional by price bucket around the current price.
#[utoipa::path(get, path = "/api/v1/market/liquidation", tag = "frontend",
    params(HeatmapParams),
    responses((status = 200, body = LiquidationHeatmap), (status = "default", body = ErrorBody)))]
async fn heatmap(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<HeatmapParams>,
) -> Result<Json<LiquidationHeatmap>, ApiError> {
    let range = match q.range {
        None => DEFAULT_RANGE_PERCENT,
        Some(r) if r > 0.0 && r <= 100.0 => Decimal::try_from(r)
            .map_err(|_| ApiError::bad_request("invalid query: range must be a number"))?,
        Some(r) => {
            return Err(ApiError::bad_request(format!(
                "invalid query: range must be above 0 and at most 100, got {r}"
            )));
        }
    };
    read(&state, move |state| {
        let plugin = state.backing(&state.analytics.liquidation_map, "liquidation_map")?;
        let token = q
            .token
            .unwrap_or_else(|| "BTC".to_owned())
            .to_ascii_uppercase();
        let docs: Vec<Document> =
            token_documents(state, plugin, LIQUIDATION_MAP_PREFIX, Some(&token))
                .into_iter()
                .filter(|d| {
                    q.exchange.as_ref().is_none_or(|e| {
                        d.body["exchange"]
                            .as_str()
                            .is_some_and(|x| x.eq_ignore_ascii_case(e))
                    })
                })
                .collect();
        let maps: Vec<(TimestampMs, &serde_json::Value)> =
            docs.iter().map(|d| (d.ts, d.body.value())).collect();
        Ok(Json(LiquidationHeatmap::merge(&token, &maps, range)))
    })
    .await
}

/// The long/short query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RatioParams {
    /// The base asset (default: every one).
    token: Option<String>,
}

/// Long against short notional of open positions (venues that publish
/// positions), summed over a token's instruments, with the change over
/// 24 h of event time.
#[utoipa::path(get, path = "/api/v1/market/long-short-ratio", tag = "frontend",
    params(RatioParams),
    responses((status = 200, body = MarketLongShortRatio), (status = "default", body = ErrorBody)))]
async fn long_short(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<RatioParams>,
) -> Result<Json<MarketLongShortRatio>, ApiError> {
    read(&state, move |state| {
        let plugin = state.backing(&state.analytics.liquidation_map, "liquidation_map")?;
        // Per instrument: the newest long and short points.
        let mut newest: BTreeMap<(String, String), [Option<Point>; 2]> = BTreeMap::new();
        for (side, name) in POSITION_NOTIONAL.iter().enumerate() {
            let all = SeriesQuery {
                limit: Some(prism_outputs::MAX_LIMIT),
                ..SeriesQuery::default()
            };
            for (_, p) in state.store.series(plugin, name, &all) {
                let Some(i) = &p.instrument else { continue };
                if !token_matches(q.token.as_ref(), &i.base) {
                    continue;
                }
                let key = (i.exchange.to_string(), i.symbol.to_string());
                // Oldest first: the last one wins.
                newest.entry(key).or_default()[side] = Some((p.ts, p.value));
            }
        }
        let mut now = (Decimal::ZERO, Decimal::ZERO);
        let mut before = Some((Decimal::ZERO, Decimal::ZERO));
        let mut updated = None;
        let mut instruments = Vec::new();
        for ((exchange, symbol), [long, short]) in &newest {
            let (Some((ts, long)), Some((_, short))) = (long, short) else {
                continue;
            };
            instruments.push(format!("{exchange}:{symbol}"));
            updated = updated.max(Some(*ts));
            now.0 += decimal(*long);
            now.1 += decimal(*short);
            // The newest points at least a day older than this instrument's.
            let then = |name: &str| {
                let q = SeriesQuery {
                    exchange: Some(exchange.clone()),
                    symbol: Some(symbol.clone()),
                    to: Some(ts - DAY_MS),
                    limit: Some(1),
                    ..SeriesQuery::default()
                };
                state
                    .store
                    .series(plugin, name, &q)
                    .pop()
                    .map(|(_, p)| decimal(p.value))
            };
            before = match (
                before,
                then(POSITION_NOTIONAL[0]),
                then(POSITION_NOTIONAL[1]),
            ) {
                (Some((l, s)), Some(long), Some(short)) => Some((l + long, s + short)),
                _ => None,
            };
        }
        if instruments.is_empty() {
            before = None;
        }
        Ok(Json(MarketLongShortRatio::of(
            now,
            before,
            instruments,
            updated,
        )))
    })
    .await
}

/// A series value back as a decimal (the plugin wrote an exact notional as
/// its nearest float; sums are taken in decimals so they do not drift).
fn decimal(value: f64) -> Decimal {
    Decimal::try_from(value).unwrap_or_default()
}
