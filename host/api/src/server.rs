//! The HTTP server: accepts connections under a limit and serves `app` on
//! each, with a deadline on reading a request's head.
//!
//! axum's own `serve` has neither: a client that opens sockets and sends
//! nothing (or a header a byte a minute) would hold a file descriptor each
//! until the process runs out. Here every connection holds a permit of a
//! fixed pool; past it, a new connection is answered `503` at once and
//! closed. An idle keep-alive connection, or one that does not send a
//! complete request head within `header_read_timeout`, is closed.

use crate::state::AppState;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connection limits of the server.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// Open HTTP connections at most (WebSocket clients are counted apart).
    pub max_connections: usize,
    /// Longest wait for a complete request head (also how long an idle
    /// keep-alive connection is kept).
    pub header_read_timeout: Duration,
    /// Longest wait for open connections to finish at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Counts of the server's connections, for metrics.
#[derive(Debug, Default)]
pub struct Connections {
    /// Open now.
    pub open: AtomicUsize,
    /// Answered `503` because the limit was reached.
    pub refused: AtomicU64,
}

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 82\r\n\r\n{\"error\":{\"code\":\"busy\",\"message\":\"too many open connections; retry in a moment\"}}";

/// Connections being refused at once (each for at most 250 ms).
const REFUSING: usize = 64;

/// Answers `503` and closes. The request is read (and dropped) after the
/// answer, so closing does not reset the connection before the client has
/// read the answer.
async fn refuse(stream: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    if stream.write_all(BUSY).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Serves `app(state)` on `listener` until `shutdown` resolves.
///
/// # Errors
/// None today: accept errors (e.g. out of file descriptors) are logged and
/// retried after a pause, so a burst of connections cannot end the server.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let counts = state.connections.clone();
    tokio::spawn(crate::capacity::sample_cpu(state.clone()));
    if let Some(n) = &state.notifier {
        state.live.forward_alerts(n);
    }
    let app = crate::app(state);
    let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    // Refusals in progress; past these, a connection is closed unanswered.
    let refusing = Arc::new(Semaphore::new(REFUSING));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(64 << 10);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64)
        .keep_alive_interval(Some(settings.header_read_timeout))
        .keep_alive_timeout(settings.header_read_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (mut stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            counts.refused.fetch_add(1, Ordering::Relaxed);
            if let Ok(turn) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    let _ =
                        tokio::time::timeout(Duration::from_millis(250), refuse(&mut stream)).await;
                    drop(turn);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let connection = graceful.watch(
            builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned(),
        );
        counts.open.fetch_add(1, Ordering::Relaxed);
        let open = counts.clone();
        tokio::spawn(async move {
            let _ = connection.await;
            open.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(settings.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("connections still open at shutdown were closed");
    }
    Ok(())
}
