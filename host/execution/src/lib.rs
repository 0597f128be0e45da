//! The paper executor: order intents filled against the same event stream,
//! in event time, deterministically.
//!
//! A plugin's worker owns its [`PaperAccount`] and drives it event by
//! event: [`Executor::observe`] before the plugin sees an event (funding
//! falls due, the market moves, working orders fill, stops fire; the fills
//! go to the plugin as `fill` events stamped with that event's time), then
//! [`Executor::place`] for each order intent the plugin returned (it works
//! from the next event on). Nothing here reads a clock or does I/O, so the
//! same input gives the same fills, positions and PnL, byte for byte.
//!
//! The model and what it cannot know are in `docs/execution.md`.
//!
//! ```
//! use prism_execution::{ExecutionSettings, Executor, OrderRequest, PaperAccount};
//! use prism_model::{decimal::parse, Event, Instrument, InstrumentId, MarketKind, OrderOrigin, Side, Trade};
//! use std::sync::Arc;
//!
//! let btc = Instrument {
//!     id: InstrumentId(0), exchange: "binance".into(), symbol: "BTCUSDT".into(),
//!     base: "BTC".into(), quote: "USDT".into(), kind: MarketKind::Perpetual,
//!     contract_size: parse("1").unwrap(),
//! };
//! let trade = |ts, price: &str, size: &str| Event::Trade(Trade {
//!     instrument: btc.id, ts, received_ts: ts, price: parse(price).unwrap(),
//!     size: parse(size).unwrap(), side: Side::Sell, buyer: None, seller: None,
//! });
//! let mut account = PaperAccount::new("demo".into(), ExecutionSettings::default());
//! let mut fills = Vec::new();
//! account.observe(&Event::Instrument(Arc::new(btc.clone())), &mut fills);
//! account.observe(&trade(1_000, "100", "5"), &mut fills);
//! account.place(&OrderRequest {
//!     client_id: "a".into(), instrument: btc.id, side: Side::Buy, size: parse("2").unwrap(),
//!     limit_price: None, reduce_only: false, origin: OrderOrigin::Plugin,
//! });
//! account.observe(&trade(2_000, "101", "0.5"), &mut fills); // fills 0.5 @ 101
//! account.observe(&trade(3_000, "102", "4"), &mut fills);   // fills the other 1.5 @ 102
//! assert_eq!(fills.len(), 2);
//! assert_eq!(fills[1].size, parse("1.5").unwrap());
//! ```

mod account;
mod exposure;
mod market;
mod matching;
mod position;
mod risk;
mod settings;

pub use account::{MAX_WORKING_ORDERS, PaperAccount, RestoreError};
pub use exposure::Exposure;
pub use risk::{MAX_CLIENT_ID, OrderRequest};
pub use settings::{ExecutionSettings, Fees, RiskLimits, Stops, Trigger};

use prism_model::{Event, ExecutionReport, Fill, OrderRecord, RiskState};

/// What executes a plugin's orders: the seam between the worker and a
/// venue. [`PaperAccount`] is the one implementation. A live venue's would
/// send orders to the venue and turn its execution reports into the same
/// fills and records; see `docs/execution.md` for what it must provide.
pub trait Executor: Send {
    /// Takes one event of the plugin's stream, in order, before the plugin
    /// does; appends the fills it caused (stamped with its time).
    fn observe(&mut self, event: &Event, fills: &mut Vec<Fill>);

    /// Places an order at the current event time; it is rejected (with the
    /// rule it broke) or works from the next event on.
    fn place(&mut self, request: &OrderRequest) -> OrderRecord;

    /// Takes new settings (fees, slippage, limits) from the next event on.
    fn configure(&mut self, settings: ExecutionSettings);

    /// Sets the plugin's risk state.
    fn set_risk(&mut self, state: RiskState, reason: String);

    /// Reduce-only market orders closing every open position.
    fn close_all(&mut self) -> Vec<OrderRecord>;

    /// The id of the instrument `exchange`/`symbol`, when the account met it.
    fn instrument_id(&self, exchange: &str, symbol: &str) -> Option<prism_model::InstrumentId>;

    /// The risk state as it stands.
    fn risk(&self) -> prism_model::RiskRecord;

    /// What changed since the last call.
    fn take_report(&mut self) -> Option<ExecutionReport>;

    /// The state to keep with the plugin's checkpoint.
    fn snapshot(&self) -> Vec<u8>;

    /// Restores a state from [`Executor::snapshot`].
    ///
    /// # Errors
    /// When the state is unreadable.
    fn restore(&mut self, state: &[u8]) -> Result<(), RestoreError>;
}

impl Executor for PaperAccount {
    fn observe(&mut self, event: &Event, fills: &mut Vec<Fill>) {
        PaperAccount::observe(self, event, fills);
    }
    fn place(&mut self, request: &OrderRequest) -> OrderRecord {
        PaperAccount::place(self, request)
    }
    fn configure(&mut self, settings: ExecutionSettings) {
        PaperAccount::set_settings(self, settings);
    }
    fn set_risk(&mut self, state: RiskState, reason: String) {
        PaperAccount::set_risk(self, state, reason);
    }
    fn close_all(&mut self) -> Vec<OrderRecord> {
        PaperAccount::close_all(self)
    }
    fn instrument_id(&self, exchange: &str, symbol: &str) -> Option<prism_model::InstrumentId> {
        PaperAccount::instrument_id(self, exchange, symbol)
    }
    fn take_report(&mut self) -> Option<ExecutionReport> {
        PaperAccount::take_report(self)
    }
    fn risk(&self) -> prism_model::RiskRecord {
        PaperAccount::risk_record(self)
    }
    fn snapshot(&self) -> Vec<u8> {
        PaperAccount::snapshot(self)
    }
    fn restore(&mut self, state: &[u8]) -> Result<(), RestoreError> {
        PaperAccount::restore(self, state)
    }
}

#[cfg(test)]
mod tests;
