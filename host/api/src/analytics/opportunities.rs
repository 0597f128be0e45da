//! Funding-rate arbitrage opportunities (`funding-arb`'s document).

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, matches};
use crate::names::OPPORTUNITIES_DOC;
use crate::params::OpportunityParams;
use crate::reads::read;
use crate::state::Shared;
use crate::views::Opportunities;
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(opportunities))
}

/// Every venue pair, best net APR first.
#[utoipa::path(get, path = "/api/v1/opportunities", tag = "analytics",
    params(OpportunityParams),
    responses((status = 200, body = Opportunities), (status = "default", body = ErrorBody)))]
async fn opportunities(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<OpportunityParams>,
) -> Result<Json<Opportunities>, ApiError> {
    read(&state, move |state| {
        let plugin = state.backing(&state.analytics.opportunities, "opportunities")?;
        let Some(d) = state.store.document(plugin, OPPORTUNITIES_DOC) else {
            return Ok(Json(Opportunities {
                ts: None,
                items: Vec::new(),
            }));
        };
        let items = d.body["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|o| {
                let text = |k: &str| o[k].as_str().unwrap_or_default().to_owned();
                matches(q.base.as_ref(), &text("base"))
                    && (matches(q.exchange.as_ref(), &text("long_exchange"))
                        || matches(q.exchange.as_ref(), &text("short_exchange")))
                    && q.min_net_apr
                        .is_none_or(|m| o["net_apr"].as_f64().is_some_and(|n| n >= m))
            })
            .cloned()
            .collect();
        Ok(Json(Opportunities {
            ts: Some(d.ts),
            items,
        }))
    })
    .await
}
