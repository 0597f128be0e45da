//! What the API reads: the output store and the control plane.

use prism_control::{PluginControl, PluginView};
use prism_outputs::OutputStore;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Instant;

/// The plugin ids behind the analytics endpoints (`[analytics]`).
#[derive(Debug, Clone)]
pub struct AnalyticsPlugins {
    pub liquidations: String,
    pub liquidation_map: String,
    pub long_short_ratio: String,
    pub whales: String,
    pub opportunities: String,
}

impl Default for AnalyticsPlugins {
    fn default() -> Self {
        Self {
            liquidations: "liquidation-map".into(),
            liquidation_map: "liquidation-map".into(),
            long_short_ratio: "long-short-ratio".into(),
            whales: "whale-detector".into(),
            opportunities: "funding-arb".into(),
        }
    }
}

/// The admin API's settings.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// The bearer token mutating endpoints require; `None` disables them.
    pub token: Option<Arc<str>>,
    /// Largest plugin upload, bytes.
    pub max_upload_bytes: usize,
    /// Uploads read and compiled at once.
    pub max_concurrent_uploads: usize,
    /// Longest an upload may take to arrive, and to wait for its turn.
    pub upload_timeout: std::time::Duration,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            token: None,
            max_upload_bytes: 64 << 20,
            max_concurrent_uploads: 2,
            upload_timeout: std::time::Duration::from_secs(60),
        }
    }
}

/// A live exchange feed as the API shows it.
#[derive(Debug, Clone)]
pub struct FeedView {
    pub venue: String,
    pub metrics: Arc<prism_venues::live::FeedMetrics>,
}

/// WebSocket settings: what a client may cost.
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    pub heartbeat: std::time::Duration,
    /// A client silent this long is dropped.
    pub idle_timeout: std::time::Duration,
    /// A client that takes longer than this to accept what is sent to it
    /// is dropped.
    pub send_timeout: std::time::Duration,
    /// Bytes waiting to be sent to a client at most; past it, it is dropped.
    pub send_buffer_bytes: usize,
    /// Clients at once.
    pub max_clients: usize,
    /// Largest message a client may send, bytes.
    pub max_message_bytes: usize,
    /// Channels one client may subscribe to.
    pub max_channels: usize,
    /// Distinct symbols one client may follow.
    pub max_symbols: usize,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            heartbeat: std::time::Duration::from_secs(30),
            idle_timeout: std::time::Duration::from_secs(90),
            send_timeout: std::time::Duration::from_secs(10),
            send_buffer_bytes: 1 << 20,
            max_clients: 256,
            max_message_bytes: 64 << 10,
            max_channels: 32,
            max_symbols: 1000,
        }
    }
}

/// PostgreSQL, when configured: how its sink is doing, and the history
/// beyond what memory holds.
#[derive(Clone)]
pub struct PostgresView {
    pub health: Arc<prism_postgres::PostgresHealth>,
    pub history: prism_postgres::History,
    /// Trades are archived (`/api/v1/transactions` serves them).
    pub archives_trades: bool,
}

/// The handlers' state: one allocation shared by every request (cloning it
/// per request is one reference count, not ~25).
pub(crate) type Shared = Arc<AppState>;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<OutputStore>,
    /// The paper accounts' records (fed by [`prism_sinks::MemorySink`]).
    pub execution: Arc<prism_outputs::ExecutionStore>,
    /// Candles and tickers (fed by [`prism_sinks::MemorySink`]).
    pub market: Arc<prism_outputs::MarketStore>,
    pub control: Arc<dyn PluginControl>,
    pub admin: AdminSettings,
    pub analytics: AnalyticsPlugins,
    /// Live outputs as WebSocket frames (fed by [`crate::LiveSink`]).
    pub live: crate::live::LiveFrames,
    /// The sink stage's counters, per sink.
    pub sinks: Vec<Arc<prism_sinks::SinkMetrics>>,
    pub ws: WsSettings,
    /// One permit per WebSocket client (`ws.max_clients` of them).
    pub ws_clients: Arc<tokio::sync::Semaphore>,
    /// One permit per upload being read and compiled.
    pub uploads: Arc<tokio::sync::Semaphore>,
    pub(crate) reads: Arc<crate::reads::Reads>,
    /// How persisting plugin snapshots goes, when it is on.
    pub snapshots: Option<Arc<prism_control::SnapshotHealth>>,
    /// PostgreSQL, when configured.
    pub postgres: Option<PostgresView>,
    /// NATS JetStream, when configured.
    pub nats: Option<Arc<prism_nats::NatsHealth>>,
    /// The cluster as this host sees it, when it is in one.
    pub cluster: Option<Arc<std::sync::RwLock<crate::ClusterStatus>>>,
    /// The notifier, when a channel is configured.
    pub notifier: Option<prism_notifier::Notifier>,
    /// The HTTP server's connection counts.
    pub connections: Arc<crate::server::Connections>,
    /// Requests served, by route and status, and their durations.
    pub(crate) requests: Arc<crate::requests::Requests>,
    /// Live exchange feeds (empty with other sources).
    pub feeds: Vec<FeedView>,
    /// Event time of the newest event routed, ms (`i64::MIN` before any).
    pub head_ts: Arc<AtomicI64>,
    /// The source's counters and state (running, finished, failed).
    pub source: Arc<prism_sources::SourceStats>,
    pub started: Instant,
    /// The plugins' busy time over the last minute, for the capacity view.
    pub(crate) cpu: Arc<crate::capacity::CpuSamples>,
}

impl AppState {
    /// State over `store` and `control`, with the admin API disabled.
    #[must_use]
    pub fn new(store: Arc<OutputStore>, control: Arc<dyn PluginControl>) -> Self {
        Self {
            store,
            execution: Arc::default(),
            market: Arc::default(),
            control,
            admin: AdminSettings::default(),
            analytics: AnalyticsPlugins::default(),
            live: crate::live::LiveFrames::new(256),
            sinks: Vec::new(),
            ws: WsSettings::default(),
            ws_clients: Arc::new(tokio::sync::Semaphore::new(
                WsSettings::default().max_clients,
            )),
            uploads: Arc::new(tokio::sync::Semaphore::new(
                AdminSettings::default().max_concurrent_uploads,
            )),
            reads: Arc::new(crate::reads::Reads::new(2, 256)),
            connections: Arc::default(),
            requests: Arc::default(),
            snapshots: None,
            postgres: None,
            nats: None,
            cluster: None,
            notifier: None,
            feeds: Vec::new(),
            head_ts: Arc::new(AtomicI64::new(i64::MIN)),
            source: Arc::default(),
            started: Instant::now(),
            cpu: Arc::default(),
        }
    }

    /// Applies WebSocket settings (and sizes the client pool to them).
    #[must_use]
    pub fn with_ws(mut self, ws: WsSettings) -> Self {
        self.ws = ws;
        self.ws_clients = Arc::new(tokio::sync::Semaphore::new(ws.max_clients.max(1)));
        self
    }

    /// Applies admin settings (and sizes the upload pool to them).
    #[must_use]
    pub fn with_admin(mut self, admin: AdminSettings) -> Self {
        self.uploads = Arc::new(tokio::sync::Semaphore::new(
            admin.max_concurrent_uploads.max(1),
        ));
        self.admin = admin;
        self
    }

    /// Bounds store reads: `concurrent` at once, `queued` more waiting.
    #[must_use]
    pub fn with_reads(mut self, concurrent: usize, queued: usize) -> Self {
        self.reads = Arc::new(crate::reads::Reads::new(concurrent, queued));
        self
    }

    /// One plugin's view.
    #[must_use]
    pub fn plugin(&self, id: &str) -> Option<PluginView> {
        self.control.view(id)
    }

    /// Every plugin's view, by id.
    #[must_use]
    pub fn all_plugins(&self) -> Vec<PluginView> {
        self.control.views()
    }
}

impl AppState {
    /// The id of the plugin backing an endpoint, or 404 naming the config
    /// key (`analytics.{key}`) that chooses it.
    pub(crate) fn backing<'a>(&self, id: &'a str, key: &str) -> Result<&'a str, crate::ApiError> {
        if self.control.view(id).is_some() {
            Ok(id)
        } else {
            Err(crate::ApiError::not_found(format!(
                "no plugin `{id}` is running to back this endpoint (config key `analytics.{key}`)"
            )))
        }
    }

    /// "Now" for windows and relative times: the newest event time routed,
    /// else the wall clock.
    pub(crate) fn stream_now(&self) -> prism_model::TimestampMs {
        let head = self.head_ts.load(std::sync::atomic::Ordering::Relaxed);
        if head == i64::MIN {
            prism_model::wall_ms()
        } else {
            head
        }
    }
}
