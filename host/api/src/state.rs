//! What the API reads: the output store and the control plane.

use crate::analytics::AnalyticsPlugins;
use prism_control::{PluginControl, PluginView};
use prism_outputs::OutputStore;
use prism_runtime::worker::PluginOutputs;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Instant;

/// The admin API's settings.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// The bearer token mutating endpoints require; `None` disables them.
    pub token: Option<Arc<str>>,
    /// Largest plugin upload, bytes.
    pub max_upload_bytes: usize,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            token: None,
            max_upload_bytes: 64 << 20,
        }
    }
}

/// A live exchange feed as the API shows it.
#[derive(Debug, Clone)]
pub struct FeedView {
    pub venue: String,
    pub metrics: Arc<prism_venues::live::FeedMetrics>,
}

/// WebSocket settings.
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    pub heartbeat: std::time::Duration,
    /// A client silent this long is dropped.
    pub idle_timeout: std::time::Duration,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            heartbeat: std::time::Duration::from_secs(30),
            idle_timeout: std::time::Duration::from_secs(90),
        }
    }
}

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<OutputStore>,
    pub control: Arc<dyn PluginControl>,
    pub admin: AdminSettings,
    pub analytics: AnalyticsPlugins,
    /// Live outputs, for WebSocket clients (the dispatcher sends here).
    pub live: tokio::sync::broadcast::Sender<Arc<PluginOutputs>>,
    pub ws: WsSettings,
    /// Live exchange feeds (empty with other sources).
    pub feeds: Vec<FeedView>,
    /// Event time of the newest event routed, ms (`i64::MIN` before any).
    pub head_ts: Arc<AtomicI64>,
    /// The source's counters and state (running, finished, failed).
    pub source: Arc<prism_sources::SourceStats>,
    pub started: Instant,
}

impl AppState {
    /// State over `store` and `control`, with the admin API disabled.
    #[must_use]
    pub fn new(store: Arc<OutputStore>, control: Arc<dyn PluginControl>) -> Self {
        Self {
            store,
            control,
            admin: AdminSettings::default(),
            analytics: AnalyticsPlugins::default(),
            live: tokio::sync::broadcast::channel(1024).0,
            ws: WsSettings::default(),
            feeds: Vec::new(),
            head_ts: Arc::new(AtomicI64::new(i64::MIN)),
            source: Arc::default(),
            started: Instant::now(),
        }
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
