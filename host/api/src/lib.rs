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
mod routes;
mod state;
mod status;
#[cfg(test)]
mod testing;
mod ws;

pub use analytics::AnalyticsPlugins;
pub use error::ApiError;
pub use routes::app;
pub use state::{AdminSettings, AppState, FeedView, WsSettings};

/// Serves `app(state)` on `listener` until `shutdown` resolves.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
