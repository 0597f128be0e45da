//! Bodies of what is read back from the database only.

use prism_postgres::TradeRecord;
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /api/v1/transactions`: archived trades, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TransactionPage {
    pub(crate) items: Vec<TransactionView>,
    pub(crate) next_cursor: Option<String>,
}

/// One archived trade.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TransactionView {
    /// Its position in the stream.
    pub(crate) id: u64,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    /// Exchange time, unix ms.
    pub(crate) ts: i64,
    /// When Prism received it, unix ms.
    pub(crate) received_ts: i64,
    /// Exact decimal text.
    pub(crate) price: String,
    /// Base-asset units, exact decimal text.
    pub(crate) size: String,
    /// Price × size, exact decimal text (null past the decimal range).
    pub(crate) notional: Option<String>,
    /// The taker's side: `buy` or `sell`.
    pub(crate) side: String,
    pub(crate) buyer: Option<String>,
    pub(crate) seller: Option<String>,
}

impl From<&TradeRecord> for TransactionView {
    fn from(t: &TradeRecord) -> Self {
        Self {
            id: t.id,
            exchange: t.exchange.clone(),
            symbol: t.symbol.clone(),
            ts: t.ts,
            received_ts: t.received_ts,
            price: t.price.to_string(),
            size: t.size.to_string(),
            notional: t
                .price
                .checked_mul(t.size)
                .map(|n| n.normalize().to_string()),
            side: t.side.clone(),
            buyer: t.buyer.clone(),
            seller: t.seller.clone(),
        }
    }
}
