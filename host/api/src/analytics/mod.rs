//! The analytics endpoints: views over the outputs of the reference plugins
//! that `[analytics]` names (the names of their outputs are in
//! [`crate::names`]). Lists are newest first and paged the same way
//! everywhere: `limit`, and `cursor` = the `next_cursor` of the page before.

mod liquidations;
mod opportunities;
mod ratios;
mod signals;
mod whales;

use crate::error::ApiError;
use crate::state::Shared;
use utoipa_axum::router::OpenApiRouter;

const HOUR_MS: i64 = 3_600_000;
/// Items per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;
/// Items per page at most.
const MAX_LIMIT: usize = 1000;

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .merge(liquidations::router())
        .merge(ratios::router())
        .merge(whales::router())
        .merge(opportunities::router())
        .merge(signals::router())
}

/// A page's size for these endpoints.
fn limit(limit: Option<usize>) -> Result<usize, ApiError> {
    crate::extract::page_limit(limit, DEFAULT_LIMIT, MAX_LIMIT)
}
