//! Candles and tickers as the API shows them: prices, sizes and volumes as
//! decimal strings, exact.

use prism_model::{Candle, Decimal, Level, Ticker};
use serde::Serialize;
use utoipa::ToSchema;

/// An OHLCV candle; volumes in base units.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CandleView {
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    /// `1m`, `15m`, `1h`, `1d`, `1w`, `1M`, …
    pub(crate) interval: String,
    /// Start of the interval, unix ms.
    pub(crate) open_ts: i64,
    /// Event time of this value (a built candle's: its interval's end).
    pub(crate) ts: i64,
    #[schema(value_type = String)]
    pub(crate) open: Decimal,
    #[schema(value_type = String)]
    pub(crate) high: Decimal,
    #[schema(value_type = String)]
    pub(crate) low: Decimal,
    #[schema(value_type = String)]
    pub(crate) close: Decimal,
    #[schema(value_type = String)]
    pub(crate) volume: Decimal,
    /// Where the venue gives it (built candles always do).
    #[schema(value_type = Option<String>)]
    pub(crate) quote_volume: Option<Decimal>,
    pub(crate) trades: Option<u64>,
    /// False for the candle still open.
    pub(crate) closed: bool,
}

impl CandleView {
    pub(crate) fn new(exchange: &str, symbol: &str, c: &Candle) -> Self {
        Self {
            exchange: exchange.to_owned(),
            symbol: symbol.to_owned(),
            interval: c.interval.to_string(),
            open_ts: c.open_ts,
            ts: c.ts,
            open: c.open.normalize(),
            high: c.high.normalize(),
            low: c.low.normalize(),
            close: c.close.normalize(),
            volume: c.volume.normalize(),
            quote_volume: c.quote_volume.map(|d| d.normalize()),
            trades: c.trades,
            closed: c.closed,
        }
    }
}

/// A page of candles, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CandlePage {
    pub(crate) items: Vec<CandleView>,
    pub(crate) next_cursor: Option<String>,
}

/// A best bid or ask.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct QuoteView {
    #[schema(value_type = String)]
    pub(crate) price: Decimal,
    /// Base units.
    #[schema(value_type = String)]
    pub(crate) size: Decimal,
}

impl From<Level> for QuoteView {
    fn from(l: Level) -> Self {
        Self {
            price: l.price.normalize(),
            size: l.size.normalize(),
        }
    }
}

/// An instrument's latest ticker; each field only where the venue gives it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TickerView {
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    /// Event time, unix ms.
    pub(crate) ts: i64,
    pub(crate) best_bid: Option<QuoteView>,
    pub(crate) best_ask: Option<QuoteView>,
    #[schema(value_type = Option<String>)]
    pub(crate) last_price: Option<Decimal>,
    /// Base units over 24 hours.
    #[schema(value_type = Option<String>)]
    pub(crate) volume_24h: Option<Decimal>,
    /// Quote units over 24 hours.
    #[schema(value_type = Option<String>)]
    pub(crate) quote_volume_24h: Option<Decimal>,
    /// Last price minus the price 24 hours ago.
    #[schema(value_type = Option<String>)]
    pub(crate) change_24h: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub(crate) change_24h_percent: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub(crate) mark_price: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub(crate) index_price: Option<Decimal>,
}

impl TickerView {
    pub(crate) fn new(exchange: &str, symbol: &str, t: &Ticker) -> Self {
        let n = |d: Option<Decimal>| d.map(|d| d.normalize());
        Self {
            exchange: exchange.to_owned(),
            symbol: symbol.to_owned(),
            ts: t.ts,
            best_bid: t.best_bid.map(QuoteView::from),
            best_ask: t.best_ask.map(QuoteView::from),
            last_price: n(t.last_price),
            volume_24h: n(t.volume_24h),
            quote_volume_24h: n(t.quote_volume_24h),
            change_24h: n(t.change_24h),
            change_24h_percent: n(t.change_24h_percent),
            mark_price: n(t.mark_price),
            index_price: n(t.index_price),
        }
    }
}

/// A page of tickers, by exchange then symbol.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TickerPage {
    pub(crate) items: Vec<TickerView>,
    pub(crate) next_cursor: Option<String>,
}
