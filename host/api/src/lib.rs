//! Prism's HTTP API. The only crate that names axum.
//!
//! [`app`] builds the router from an [`AppState`], so tests call it without
//! a server. Every error is `{"error": {"code": …, "message": …}}` with the
//! matching status; internal details are logged, never sent.

mod admin;
mod analytics;
mod error;
mod metrics;
mod openapi;
mod reads;
mod routes;
mod server;
mod state;
mod status;
#[cfg(test)]
mod testing;
mod ws;

pub use analytics::AnalyticsPlugins;
pub use error::ApiError;
pub use routes::app;
pub use server::{ServerSettings, serve};
pub use state::{AdminSettings, AppState, FeedView, WsSettings};
pub use ws::{LiveFrames, LiveSink};
