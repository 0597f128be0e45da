//! The routes web front-ends of the analytics backends Prism replaces
//! already call, in the shapes they expect: `/api/v1/market/liquidation`
//! (a heatmap), `/api/v1/market/long-short-ratio`,
//! `/api/v1/whale/activities` and `/api/v1/wallet/distribution`. They are
//! views over the same plugins as Prism's own endpoints
//! (`analytics.liquidation_map`, `analytics.whales`), with values shown as
//! those front-ends show them (relative times, shortened addresses, amounts
//! with their asset, compact dollars); the exact values stay in Prism's own
//! endpoints. A `token` is a base asset (`BTC`), any case.

mod accounts;
mod market;

use crate::state::{AppState, Shared};
use prism_model::Document;
use utoipa_axum::router::OpenApiRouter;

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .merge(market::router())
        .merge(accounts::router())
}

/// Whether a document or entry of base asset `base` is asked for.
fn token_matches(token: Option<&String>, base: &str) -> bool {
    token.is_none_or(|t| !base.is_empty() && t.eq_ignore_ascii_case(base))
}

/// `plugin`'s documents whose key starts with `prefix` and whose body's
/// `base` is `token` (every one without a token).
fn token_documents(
    state: &AppState,
    plugin: &str,
    prefix: &str,
    token: Option<&String>,
) -> Vec<Document> {
    state
        .store
        .document_keys(plugin)
        .into_iter()
        .filter(|k| k.starts_with(prefix))
        .filter_map(|k| state.store.document(plugin, &k))
        .filter(|d| token_matches(token, d.body["base"].as_str().unwrap_or_default()))
        .collect()
}
