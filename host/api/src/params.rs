//! The query parameters each endpoint takes: typed, so the OpenAPI document
//! is derived from them, and refused with their name when they do not fit.

use crate::error::ApiError;
use prism_model::{Direction, Strength, TimestampMs};
use prism_outputs::{LogQuery, SeriesQuery, SignalQuery};
use serde::Deserialize;
use utoipa::IntoParams;

/// Series filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SeriesParams {
    /// Exchange, any case.
    pub(crate) exchange: Option<String>,
    /// The venue's symbol, any case.
    pub(crate) symbol: Option<String>,
    /// Event time from, unix ms, inclusive.
    pub(crate) from: Option<TimestampMs>,
    /// Event time to, unix ms, inclusive.
    pub(crate) to: Option<TimestampMs>,
    /// The newest `limit` points (default 1000, at most 10000).
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
}

impl From<&SeriesParams> for SeriesQuery {
    fn from(p: &SeriesParams) -> Self {
        SeriesQuery {
            exchange: p.exchange.clone(),
            symbol: p.symbol.clone(),
            from: p.from,
            to: p.to,
            limit: p.limit,
        }
    }
}

/// Log filters and paging.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogParams {
    /// The log's name.
    pub(crate) name: Option<String>,
    /// Exchange, any case.
    pub(crate) exchange: Option<String>,
    /// The venue's symbol, any case.
    pub(crate) symbol: Option<String>,
    /// Event time from, unix ms, inclusive.
    pub(crate) from: Option<TimestampMs>,
    /// Event time to, unix ms, inclusive.
    pub(crate) to: Option<TimestampMs>,
    /// Items per page (default 1000, at most 10000).
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
    /// The `next_cursor` of the previous page (opaque).
    pub(crate) cursor: Option<String>,
}

/// A cursor this API gave, read back.
///
/// # Errors
/// `400` naming the cursor when it is not one.
pub(crate) fn cursor<T: std::str::FromStr>(text: Option<&str>) -> Result<Option<T>, ApiError> {
    text.map(|t| {
        t.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid query: cursor `{t}` is not a cursor this endpoint gave"
            ))
        })
    })
    .transpose()
}

impl LogParams {
    /// The store query.
    ///
    /// # Errors
    /// A cursor this API did not give.
    pub(crate) fn query(&self) -> Result<LogQuery, ApiError> {
        Ok(LogQuery {
            name: self.name.clone(),
            exchange: self.exchange.clone(),
            symbol: self.symbol.clone(),
            from: self.from,
            to: self.to,
            body: Vec::new(),
            limit: self.limit,
            cursor: cursor(self.cursor.as_deref())?,
        })
    }
}

/// Signal filters and paging.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SignalParams {
    /// Plugin id.
    pub(crate) plugin: Option<String>,
    /// Exchange, any case.
    pub(crate) exchange: Option<String>,
    /// The venue's symbol, any case.
    pub(crate) symbol: Option<String>,
    /// `long`, `short` or `flat`.
    #[param(value_type = Option<String>)]
    pub(crate) direction: Option<Direction>,
    /// `strong`, `medium`, `weak` or `ignore`.
    #[param(value_type = Option<String>)]
    pub(crate) strength: Option<Strength>,
    /// Event time from, unix ms, inclusive.
    pub(crate) from: Option<TimestampMs>,
    /// Event time to, unix ms, inclusive.
    pub(crate) to: Option<TimestampMs>,
    /// Items per page (default 1000, at most 10000).
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
    /// The `next_cursor` of the previous page (opaque).
    pub(crate) cursor: Option<String>,
}

impl SignalParams {
    /// The store query.
    ///
    /// # Errors
    /// A cursor this API did not give.
    pub(crate) fn query(&self) -> Result<SignalQuery, ApiError> {
        Ok(SignalQuery {
            plugin: self.plugin.clone(),
            exchange: self.exchange.clone(),
            symbol: self.symbol.clone(),
            direction: self.direction,
            strength: self.strength,
            from: self.from,
            to: self.to,
            limit: self.limit,
            cursor: cursor(self.cursor.as_deref())?,
        })
    }
}

/// Which side of positions was liquidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SideFilter {
    Long,
    Short,
}

impl SideFilter {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SideFilter::Long => "long",
            SideFilter::Short => "short",
        }
    }
}

/// Liquidation filters and paging.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LiquidationParams {
    /// Exchange, any case.
    pub(crate) exchange: Option<String>,
    /// The venue's symbol, any case.
    pub(crate) symbol: Option<String>,
    /// The liquidated side: `long` or `short`.
    #[param(value_type = Option<String>)]
    pub(crate) side: Option<SideFilter>,
    /// Event time from, unix ms, inclusive.
    pub(crate) from: Option<TimestampMs>,
    /// Event time to, unix ms, inclusive.
    pub(crate) to: Option<TimestampMs>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
    /// The `next_cursor` of the previous page (opaque).
    pub(crate) cursor: Option<String>,
}

/// The newest liquidations.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RecentParams {
    /// Exchange, any case.
    pub(crate) exchange: Option<String>,
    /// The venue's symbol, any case.
    pub(crate) symbol: Option<String>,
    /// How many (default 50, at most 1000).
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
}

/// An optional exchange and symbol.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PlaceParams {
    /// Exchange, any case.
    pub(crate) exchange: Option<String>,
    /// The venue's symbol, any case.
    pub(crate) symbol: Option<String>,
}

/// Which ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RatioKind {
    Taker,
    Account,
}

/// Ratio history filters and paging.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryParams {
    /// Exchange, any case.
    pub(crate) exchange: Option<String>,
    /// The venue's symbol, any case.
    pub(crate) symbol: Option<String>,
    /// `taker` or `account`.
    #[param(value_type = Option<String>)]
    pub(crate) kind: Option<RatioKind>,
    /// Event time from, unix ms, inclusive.
    pub(crate) from: Option<TimestampMs>,
    /// Event time to, unix ms, inclusive.
    pub(crate) to: Option<TimestampMs>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
    /// The `next_cursor` of the previous page (opaque).
    pub(crate) cursor: Option<String>,
}

/// One instrument.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct InstrumentParams {
    /// Exchange, any case.
    pub(crate) exchange: String,
    /// The venue's symbol, any case.
    pub(crate) symbol: String,
}

/// A watched account's activities.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActivityParams {
    /// Exchange, any case.
    pub(crate) exchange: Option<String>,
    /// The venue's symbol, any case.
    pub(crate) symbol: Option<String>,
    /// Event time from, unix ms, inclusive.
    pub(crate) from: Option<TimestampMs>,
    /// Event time to, unix ms, inclusive.
    pub(crate) to: Option<TimestampMs>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
    /// The `next_cursor` of the previous page (opaque).
    pub(crate) cursor: Option<String>,
}

/// Archived trades: filters and paging.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TransactionParams {
    /// Exchange, any case.
    pub(crate) exchange: Option<String>,
    /// The venue's symbol, any case.
    pub(crate) symbol: Option<String>,
    /// The buyer or the seller, any case.
    pub(crate) account: Option<String>,
    /// The taker's side: `buy` or `sell`.
    #[param(value_type = Option<String>)]
    pub(crate) side: Option<TradeSide>,
    /// Event time from, unix ms, inclusive.
    pub(crate) from: Option<TimestampMs>,
    /// Event time to, unix ms, inclusive.
    pub(crate) to: Option<TimestampMs>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
    /// The `next_cursor` of the previous page (opaque).
    pub(crate) cursor: Option<String>,
}

/// The taker's side of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TradeSide {
    Buy,
    Sell,
}

impl TradeSide {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TradeSide::Buy => "buy",
            TradeSide::Sell => "sell",
        }
    }
}

/// Opportunity filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct OpportunityParams {
    /// Base asset, any case.
    pub(crate) base: Option<String>,
    /// An exchange of either leg, any case.
    pub(crate) exchange: Option<String>,
    /// Only pairs with at least this net APR.
    pub(crate) min_net_apr: Option<f64>,
}

/// Signal statistics filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SignalStatsParams {
    /// Plugin id.
    pub(crate) plugin: Option<String>,
    /// Exchange, any case.
    pub(crate) exchange: Option<String>,
    /// The venue's symbol, any case.
    pub(crate) symbol: Option<String>,
}

/// A plugin upload's config.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AddParams {
    /// The plugin's config, a JSON object (URL-encoded).
    pub(crate) config: Option<String>,
}

/// A swap's permission to bring in another plugin.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReplaceParams {
    /// Accept code that gives another plugin name than the running one.
    #[serde(default)]
    pub(crate) rename: bool,
}
