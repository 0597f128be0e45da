//! What accounts do and hold: large position changes, and wallets by the
//! size of their positions.

use super::{token_documents, token_matches};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::names::{WALLET_DISTRIBUTION_PREFIX, WHALE_POSITION_LOG};
use crate::reads::read;
use crate::state::Shared;
use crate::views::display::{amount, number, relative_time, short_address};
use crate::views::{WalletDistributionView, WhaleTransaction, WhaleTransactions, position_changes};
use axum::Json;
use axum::extract::State;
use prism_model::{Decimal, LogEntry, TimestampMs, utc_text};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(whale_activities))
        .routes(routes!(wallet_distribution))
}

/// Transactions per answer at most.
const MAX_TRANSACTIONS: usize = 100;

/// The whale activity query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ActivityQuery {
    /// How many, newest first (default 10, at most 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// The base asset.
    token: Option<String>,
    /// `Long` or `Short`, any case.
    side: Option<String>,
    /// `Open` or `Close`, any case.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// The smallest notional shown (default 1000000).
    #[serde(rename = "minValue")]
    #[param(rename = "minValue")]
    min_value: Option<f64>,
}

/// The one of `allowed` that `given` names (any case), or 400.
fn one_of(
    given: Option<&String>,
    key: &str,
    allowed: [&'static str; 2],
) -> Result<Option<&'static str>, ApiError> {
    given
        .map(|g| {
            allowed
                .into_iter()
                .find(|a| a.eq_ignore_ascii_case(g))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "invalid query: {key} must be {} or {}, got `{g}`",
                        allowed[0], allowed[1]
                    ))
                })
        })
        .transpose()
}

/// Large position changes (`whale-detector`'s `whale_position` log), as
/// opens and closes, newest first.
#[utoipa::path(get, path = "/api/v1/whale/activities", tag = "frontend",
    params(ActivityQuery),
    responses((status = 200, body = WhaleTransactions), (status = "default", body = ErrorBody)))]
async fn whale_activities(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ActivityQuery>,
) -> Result<Json<WhaleTransactions>, ApiError> {
    let limit = crate::extract::page_limit(q.limit, 10, MAX_TRANSACTIONS)?;
    let side = one_of(q.side.as_ref(), "side", ["Long", "Short"])?;
    let kind = one_of(q.kind.as_ref(), "type", ["Open", "Close"])?;
    let min_value = match q.min_value {
        None => Decimal::from(1_000_000),
        Some(v) if v >= 0.0 => Decimal::try_from(v)
            .map_err(|_| ApiError::bad_request("invalid query: minValue must be a number"))?,
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "invalid query: minValue must be 0 or more, got {v}"
            )));
        }
    };
    read(&state, move |state| {
        let plugin = state.backing(&state.analytics.whales, "whales")?;
        let now = state.stream_now();
        let mut all: Vec<WhaleTransaction> = Vec::new();
        state.store.for_each_log(plugin, WHALE_POSITION_LOG, |l| {
            for t in transactions(l, now) {
                let wanted = token_matches(q.token.as_ref(), &t.token)
                    && side.is_none_or(|s| s == t.side)
                    && kind.is_none_or(|k| k == t.kind)
                    && t.notional >= min_value;
                if wanted {
                    all.push(t);
                }
            }
        });
        // Oldest first as kept: the newest are the last.
        let total_count = all.len();
        let updated_at = all.last().map(|t| utc_text(t.ts));
        let transactions = all.into_iter().rev().take(limit).collect();
        Ok(Json(WhaleTransactions {
            transactions,
            total_count,
            updated_at,
        }))
    })
    .await
}

/// The opens and closes one `whale_position` entry stands for.
fn transactions(l: &LogEntry, now: TimestampMs) -> Vec<WhaleTransaction> {
    let field = |k: &str| -> Option<Decimal> { l.body[k].as_str()?.parse().ok() };
    let (Some(old), Some(new), Some(price)) =
        (field("old_size"), field("new_size"), field("price"))
    else {
        return Vec::new();
    };
    let account = l.body["account"].as_str().unwrap_or_default();
    let (exchange, symbol, token) = l.instrument.as_ref().map_or_else(Default::default, |i| {
        (
            i.exchange.to_string(),
            i.symbol.to_string(),
            i.base.to_string(),
        )
    });
    position_changes(old, new)
        .into_iter()
        .map(|(side, kind, size)| {
            let notional = size * price;
            WhaleTransaction {
                time: relative_time(l.ts, now),
                address: short_address(account),
                account: account.to_owned(),
                token: token.clone(),
                value: number(notional),
                side,
                kind,
                amount: amount(size, &token),
                timestamp: utc_text(l.ts),
                tx_hash: None,
                exchange: exchange.clone(),
                symbol: symbol.clone(),
                ts: l.ts,
                notional,
            }
        })
        .collect()
}

/// The wallet distribution query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DistributionQuery {
    /// The base asset (default: every one, summed).
    token: Option<String>,
}

/// Accounts by the size of their open positions (`liquidation-map`'s
/// `wallet-distribution` documents; venues that publish positions).
#[utoipa::path(get, path = "/api/v1/wallet/distribution", tag = "frontend",
    params(DistributionQuery),
    responses((status = 200, body = WalletDistributionView), (status = "default", body = ErrorBody)))]
async fn wallet_distribution(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<DistributionQuery>,
) -> Result<Json<WalletDistributionView>, ApiError> {
    read(&state, move |state| {
        let plugin = state.backing(&state.analytics.liquidation_map, "liquidation_map")?;
        let docs = token_documents(state, plugin, WALLET_DISTRIBUTION_PREFIX, q.token.as_ref());
        let bodies: Vec<&serde_json::Value> = docs.iter().map(|d| d.body.value()).collect();
        let updated = docs.iter().map(|d| d.ts).max();
        Ok(Json(WalletDistributionView::of(&bodies, updated)))
    })
    .await
}
