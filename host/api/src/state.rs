//! What the API reads: the output store and a view of each plugin.

use prism_outputs::OutputStore;
use prism_runtime::{PluginMetrics, Subscription};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// One plugin as the API shows it.
#[derive(Debug, Clone)]
pub struct PluginView {
    pub id: String,
    pub name: String,
    pub version: String,
    pub path: String,
    pub sha256: String,
    /// The subscription in force (the plugin's, with config overrides).
    pub subscription: Subscription,
    pub metrics: Arc<PluginMetrics>,
    /// Batches waiting in the plugin's queue.
    pub queue_depth: Arc<AtomicUsize>,
    /// Unix ms when this version was loaded.
    pub loaded_at_ms: i64,
}

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<OutputStore>,
    pub plugins: Arc<RwLock<BTreeMap<String, PluginView>>>,
    /// Event time of the newest event routed, ms (`i64::MIN` before any).
    pub head_ts: Arc<AtomicI64>,
    /// Events emitted by the source.
    pub source_events: Arc<AtomicU64>,
    /// Malformed records the source skipped.
    pub source_skipped: Arc<AtomicU64>,
    pub started: Instant,
}

impl AppState {
    /// State over `store` with no plugins yet.
    #[must_use]
    pub fn new(store: Arc<OutputStore>) -> Self {
        Self {
            store,
            plugins: Arc::default(),
            head_ts: Arc::new(AtomicI64::new(i64::MIN)),
            source_events: Arc::default(),
            source_skipped: Arc::default(),
            started: Instant::now(),
        }
    }

    /// A copy of one plugin's view.
    #[must_use]
    pub fn plugin(&self, id: &str) -> Option<PluginView> {
        self.plugins.read().ok()?.get(id).cloned()
    }

    /// Copies of every plugin's view, by id.
    #[must_use]
    pub fn all_plugins(&self) -> Vec<PluginView> {
        self.plugins
            .read()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default()
    }
}
