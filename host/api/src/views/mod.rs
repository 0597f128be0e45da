//! The bodies the API answers with: typed, so the OpenAPI document is
//! derived from them, and built here from the stores' and the control
//! plane's values, once for REST and WebSocket.

mod analytics;
mod candidate;
mod capacity;
pub(crate) mod display;
mod execution;
mod frontend;
mod history;
mod market;
mod outputs;
mod status;

pub(crate) use analytics::*;
pub(crate) use candidate::*;
pub(crate) use capacity::*;
pub(crate) use execution::*;
pub(crate) use frontend::*;
pub(crate) use history::*;
pub(crate) use market::*;
pub(crate) use outputs::*;
pub(crate) use status::*;

use prism_model::Instrument;
use std::sync::Arc;

/// An output's exchange and symbol, when it is about an instrument.
pub(crate) fn place(instrument: Option<&Arc<Instrument>>) -> (Option<String>, Option<String>) {
    match instrument {
        Some(i) => (Some(i.exchange.to_string()), Some(i.symbol.to_string())),
        None => (None, None),
    }
}
