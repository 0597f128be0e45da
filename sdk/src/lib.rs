//! Write Prism plugins in Rust.
//!
//! Implement [`Plugin`], call [`export_plugin!`], build for `wasm32-wasip2`,
//! and test the same logic natively with [`testing::Harness`].
//!
//! ```
//! use prism_sdk::{Context, Event, Plugin, PluginInfo, Subscription};
//!
//! #[derive(Default)]
//! struct CountTrades(u64);
//!
//! impl Plugin for CountTrades {
//!     fn init(_config: &str) -> Result<(Self, PluginInfo), String> {
//!         Ok((Self::default(), PluginInfo::new("count-trades", "0.1.0", Subscription::all())))
//!     }
//!     fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String> {
//!         if let Event::Trade(t) = event {
//!             self.0 += 1;
//!             ctx.series("trades", Some(t.instrument), t.ts, self.0 as f64);
//!         }
//!         Ok(())
//!     }
//! }
//! prism_sdk::export_plugin!(CountTrades);
//!
//! let mut h = prism_sdk::testing::Harness::<CountTrades>::new("{}").unwrap();
//! let btc = h.instrument("binance", "BTCUSDT");
//! let out = h.push(vec![h.trade(btc, 1_000, "37000.1", "0.25", prism_sdk::Side::Buy)]).unwrap();
//! assert_eq!(out.len(), 1);
//! ```

#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod bindings {
    //! Generated from `wit/` (the contract). Prefer the re-exports at the crate root.
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "prism_sdk::bindings",
        generate_all,
        additional_derives: [PartialEq],
    });
}

mod context;
mod decimal;
pub mod log;
#[doc(hidden)]
pub mod runtime;
mod schedule;
pub mod serde_with;
pub mod state;
pub mod testing;

pub use bindings::prism::plugin::events::{
    Book, Candle, CandleInterval, CandleValue, Event, EventKind, Fill, Funding, IntervalUnit,
    Level, Liquidation, OpenInterest, Position, Ticker, TickerValue, Timer, Trade,
};
pub use bindings::prism::plugin::outputs::{
    Alert, Direction, Document, LogEntry, OrderIntent, Output, Priority, SeriesPoint, Signal,
    Strength,
};
pub use bindings::prism::plugin::types::{
    Decimal, Instrument, InstrumentId, MarketKind, PositionSide, Side, TimestampMs,
};
pub use bindings::{PluginInfo, Subscription};
pub use context::{Context, Instruments};
pub use decimal::DecimalError;
pub use rust_decimal;
pub use schedule::{Boundaries, grade};

/// A plugin's logic. One value lives in the plugin instance between calls.
pub trait Plugin: Sized + 'static {
    /// Builds the plugin from the operator's config (a JSON text, `{}` when
    /// none) and says who it is and what it subscribes to.
    ///
    /// # Errors
    /// A message for the operator when the config is not acceptable.
    fn init(config: &str) -> Result<(Self, PluginInfo), String>;

    /// Handles one event. `Event::Instrument` declarations are recorded in
    /// [`Context::instruments`] before this is called with them.
    ///
    /// # Errors
    /// A message recorded as this plugin's failure on the batch.
    fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String>;

    /// Called after the last event of each batch, e.g. to publish once per
    /// batch rather than once per event. Default: nothing.
    ///
    /// # Errors
    /// A message recorded as this plugin's failure on the batch.
    fn on_batch_end(&mut self, _ctx: &mut Context) -> Result<(), String> {
        Ok(())
    }

    /// State to carry across swaps and restarts. Default: nothing.
    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Restores what [`Plugin::snapshot`] wrote. Default: accept and ignore.
    ///
    /// # Errors
    /// A message when the state cannot be read.
    fn restore(&mut self, _state: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

impl PluginInfo {
    /// A plugin's identity and subscription.
    #[must_use]
    pub fn new(name: &str, version: &str, subscription: Subscription) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            subscription,
        }
    }
}

impl Subscription {
    /// Every event of every instrument, no timer.
    #[must_use]
    pub fn all() -> Self {
        Self {
            kinds: Vec::new(),
            exchanges: Vec::new(),
            symbols: Vec::new(),
            timer_interval_ms: None,
        }
    }

    /// Only these kinds of events.
    #[must_use]
    pub fn kinds(kinds: &[EventKind]) -> Self {
        Self {
            kinds: kinds.to_vec(),
            ..Self::all()
        }
    }
}

impl Candle {
    /// Traded value in quote units, where the venue gives it.
    #[must_use]
    pub fn quote_volume(&self) -> Option<Decimal> {
        self.values.iter().find_map(|v| match v {
            CandleValue::QuoteVolume(d) => Some(*d),
            CandleValue::Trades(_) => None,
        })
    }

    /// Number of trades, where the venue gives it.
    #[must_use]
    pub fn trades(&self) -> Option<u64> {
        self.values.iter().find_map(|v| match v {
            CandleValue::Trades(n) => Some(*n),
            CandleValue::QuoteVolume(_) => None,
        })
    }
}

/// A ticker value of one kind, if the ticker has it.
macro_rules! ticker_value {
    ($($(#[$doc:meta])* $name:ident => $case:ident),* $(,)?) => {
        impl Ticker {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(&self) -> Option<Decimal> {
                    self.values.iter().find_map(|v| match v {
                        TickerValue::$case(d) => Some(*d),
                        _ => None,
                    })
                }
            )*
        }
    };
}

ticker_value! {
    /// The last trade's price.
    last_price => LastPrice,
    /// Traded size over the last 24 hours, base units.
    volume_24h => Volume24h,
    /// Traded value over the last 24 hours, quote units.
    quote_volume_24h => QuoteVolume24h,
    /// Last price minus the price 24 hours ago.
    change_24h => Change24h,
    /// The same change, in percent of the price 24 hours ago.
    change_24h_percent => Change24hPercent,
    mark_price => MarkPrice,
    index_price => IndexPrice,
}

impl Event {
    /// Event time (none for declarations).
    #[must_use]
    pub fn ts(&self) -> Option<TimestampMs> {
        match self {
            Event::Instrument(_) => None,
            Event::Trade(e) => Some(e.ts),
            Event::Liquidation(e) => Some(e.ts),
            Event::Funding(e) => Some(e.ts),
            Event::OpenInterest(e) => Some(e.ts),
            Event::Book(e) => Some(e.ts),
            Event::Position(e) => Some(e.ts),
            Event::Timer(e) => Some(e.ts),
            Event::Fill(e) => Some(e.ts),
            Event::Candle(e) => Some(e.ts),
            Event::Ticker(e) => Some(e.ts),
        }
    }

    /// The instrument the event is about (none for timers).
    #[must_use]
    pub fn instrument(&self) -> Option<InstrumentId> {
        match self {
            Event::Instrument(i) => Some(i.id),
            Event::Trade(e) => Some(e.instrument),
            Event::Liquidation(e) => Some(e.instrument),
            Event::Funding(e) => Some(e.instrument),
            Event::OpenInterest(e) => Some(e.instrument),
            Event::Book(e) => Some(e.instrument),
            Event::Position(e) => Some(e.instrument),
            Event::Fill(e) => Some(e.instrument),
            Event::Candle(e) => Some(e.instrument),
            Event::Ticker(e) => Some(e.instrument),
            Event::Timer(_) => None,
        }
    }
}

/// Exports a [`Plugin`] type as the component's implementation of the
/// contract. Use once per plugin crate, at the crate root.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct PrismGuest;
            impl $crate::bindings::Guest for PrismGuest {
                fn init(config: String) -> Result<$crate::PluginInfo, String> {
                    $crate::runtime::init::<$plugin>(&config)
                }
                fn on_events(events: Vec<$crate::Event>) -> Result<Vec<$crate::Output>, String> {
                    $crate::runtime::on_events::<$plugin>(&events)
                }
                fn snapshot() -> Vec<u8> {
                    $crate::runtime::snapshot::<$plugin>()
                }
                fn restore(state: Vec<u8>) -> Result<(), String> {
                    $crate::runtime::restore::<$plugin>(&state)
                }
            }
    $crate::bindings::export!(PrismGuest with_types_in $crate::bindings);
        };
    };
}

#[cfg(test)]
mod value_tests {
    use super::*;

    fn d(mantissa: i64, scale: u8) -> Decimal {
        Decimal { mantissa, scale }
    }

    #[test]
    fn ticker_and_candle_values_are_found_by_kind() {
        let t = Ticker {
            instrument: 0,
            ts: 1,
            received_ts: 1,
            best_bid: None,
            best_ask: None,
            values: vec![
                TickerValue::MarkPrice(d(370_015, 1)),
                TickerValue::LastPrice(d(37, 0)),
            ],
        };
        assert_eq!(t.last_price(), Some(d(37, 0)));
        assert_eq!(t.mark_price(), Some(d(370_015, 1)));
        assert_eq!(t.volume_24h(), None);
        let c = Candle {
            instrument: 0,
            interval: CandleInterval {
                count: 1,
                unit: IntervalUnit::Minute,
            },
            closed: true,
            ts: 60_000,
            open_ts: 0,
            open: d(1, 0),
            high: d(1, 0),
            low: d(1, 0),
            close: d(1, 0),
            volume: d(2, 0),
            values: vec![CandleValue::Trades(3)],
        };
        assert_eq!((c.trades(), c.quote_volume()), (Some(3), None));
    }
}
