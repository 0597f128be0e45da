//! What the control plane shows and offers the API.

use crate::error::ControlError;
use prism_model::Subscription;
use prism_worker::PluginMetrics;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

/// One plugin as the API shows it: a copy of its control-plane facts plus
/// handles to its live counters.
#[derive(Debug, Clone)]
pub struct PluginView {
    pub id: String,
    /// The plugin's own name and version (from `init`).
    pub name: String,
    pub version: String,
    /// The contract version it was built against (`0.1.0`, `0.2.0`).
    pub contract: &'static str,
    pub sha256: String,
    /// The code it runs on: `optimized`, or `quick` for a moment after a
    /// swap that did not wait for the optimized code.
    pub code: &'static str,
    /// Where the code came from: a file path, or `upload`.
    pub source: String,
    /// The config the running version was started with.
    pub config: serde_json::Value,
    /// The subscription in force (the plugin's, with config overrides).
    pub subscription: Subscription,
    /// Unix ms when the running version was switched to.
    pub loaded_at_ms: i64,
    /// A candidate version running beside this one, if any.
    pub candidate: Option<CandidateView>,
    pub metrics: Arc<PluginMetrics>,
    /// Batches waiting in the plugin's queue.
    pub queue_depth: Arc<AtomicUsize>,
}

/// A candidate version beside a plugin's running one.
#[derive(Debug, Clone)]
pub struct CandidateView {
    /// Its own name and version (from `init`).
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// The config it was started with.
    pub config: serde_json::Value,
    /// Its outputs against the running version's, so far.
    pub comparison: Arc<prism_worker::Comparison>,
}

/// What changed to make a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Loaded at start or added.
    Start,
    /// New code.
    Wasm,
    /// New config for the same code.
    Config,
    /// Re-read or re-initialized on request.
    Reload,
    /// Back to an earlier version.
    Rollback,
    /// A candidate that ran beside the running version took its place.
    Promote,
}

impl Change {
    /// The name the API and the stores use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Start => "start",
            Change::Wasm => "wasm",
            Change::Config => "config",
            Change::Reload => "reload",
            Change::Rollback => "rollback",
            Change::Promote => "promote",
        }
    }
}

/// Where a version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Running now.
    Active,
    /// Ran before; a rollback can return to it.
    Previous,
    /// Never ran: it failed to load, start or take over the state.
    Failed,
}

impl VersionStatus {
    /// The name the API and the stores use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Active => "active",
            VersionStatus::Previous => "previous",
            VersionStatus::Failed => "failed",
        }
    }
}

/// One entry of a plugin's version history.
#[derive(Debug, Clone, Serialize)]
pub struct VersionRecord {
    /// Position in the history, from 1.
    pub seq: u64,
    pub sha256: String,
    /// The plugin's own name and version, when it got as far as `init`.
    pub name: Option<String>,
    pub version: Option<String>,
    pub config: serde_json::Value,
    pub change: Change,
    pub status: VersionStatus,
    /// Unix ms.
    pub loaded_at_ms: i64,
    /// Why it failed, for `failed` entries.
    pub error: Option<String>,
}

/// What the host holds against its limits, for `GET /api/v1/system/capacity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Plugin instances alive (a swap's candidate counts while it lasts).
    pub instances: u64,
    /// `runtime.max_instances`: past it a plugin is refused.
    pub max_instances: u32,
    /// Instances on quick code (swapped in before their optimized code
    /// was compiled), against `runtime.quick_swaps`.
    pub quick_instances: u64,
    pub max_quick_instances: u32,
    /// Threads running every plugin's batches.
    pub worker_threads: usize,
    /// Batches one plugin's queue holds (`pipeline.queue_batches`).
    pub queue_batches: usize,
    /// Largest linear memory a plugin may be given (`runtime.max_memory_mb`).
    pub max_memory_bytes: u64,
    /// Bytes the instance pool keeps resident in free slots.
    pub pool_unused_resident_bytes: u64,
}

/// The operations of the control plane, as the API uses them. Every
/// mutating operation leaves the running version untouched when it fails.
pub trait PluginControl: Send + Sync {
    /// Every plugin, by id.
    fn views(&self) -> Vec<PluginView>;
    /// One plugin.
    fn view(&self, id: &str) -> Option<PluginView>;
    /// A plugin's version history, oldest first.
    ///
    /// # Errors
    /// [`ControlError::NotFound`].
    fn versions(&self, id: &str) -> Result<Vec<VersionRecord>, ControlError>;
    /// Adds and starts a plugin from component bytes.
    ///
    /// # Errors
    /// Bad id, existing id, or a component that does not load or start.
    fn add(
        &self,
        id: &str,
        wasm: &[u8],
        config_json: Option<&str>,
    ) -> Result<PluginView, ControlError>;
    /// Swaps in new code, keeping the state.
    ///
    /// # Errors
    /// As [`Self::add`], or the swap refused.
    /// The new code must give the running one's name unless `rename`
    /// allows another; afterwards the upload is the plugin's source.
    fn replace_wasm(
        &self,
        id: &str,
        wasm: &[u8],
        rename: crate::supervisor::Rename,
    ) -> Result<PluginView, ControlError>;
    /// Re-initializes with a new config, keeping the state.
    ///
    /// # Errors
    /// Config not a JSON object, `init` refusing it, or the swap refused.
    fn replace_config(&self, id: &str, config_json: &str) -> Result<PluginView, ControlError>;
    /// Stops delivering events (they are skipped and counted).
    ///
    /// # Errors
    /// [`ControlError::NotFound`], or a plugin that is not running.
    fn pause(&self, id: &str) -> Result<PluginView, ControlError>;
    /// Leaves a pause, a quarantine or a failure.
    ///
    /// # Errors
    /// [`ControlError::NotFound`], or a plugin that cannot restart.
    fn resume(&self, id: &str) -> Result<PluginView, ControlError>;
    /// Re-reads the plugin's file (or re-initializes an uploaded plugin).
    ///
    /// # Errors
    /// As [`Self::replace_wasm`].
    fn reload(&self, id: &str) -> Result<PluginView, ControlError>;
    /// Returns to the previous version (code and config).
    ///
    /// # Errors
    /// [`ControlError::NoPrevious`], or the swap refused.
    fn rollback(&self, id: &str) -> Result<PluginView, ControlError>;
    /// Stops routing to the plugin and removes it.
    ///
    /// # Errors
    /// [`ControlError::NotFound`].
    fn remove(&self, id: &str) -> Result<(), ControlError>;
    /// Carries out an operator's command on a trading plugin's paper
    /// account; returns the orders it placed.
    ///
    /// # Errors
    /// [`ControlError::NotFound`], or the plugin has no account
    /// ([`prism_worker::Refusal::NoAccount`]) or does not know the order's
    /// instrument.
    fn account(
        &self,
        id: &str,
        command: prism_worker::AccountCommand,
    ) -> Result<prism_worker::AccountAnswer, ControlError>;
    /// Starts new code as a candidate beside the running version: same
    /// events, outputs compared, never served (`config_json` instead of
    /// the running config, when given).
    ///
    /// # Errors
    /// As [`Self::replace_wasm`]; a candidate already running; a plugin
    /// that trades on paper.
    fn start_candidate(
        &self,
        id: &str,
        wasm: &[u8],
        config_json: Option<&str>,
    ) -> Result<PluginView, ControlError>;
    /// Makes the candidate the running version, with its own state.
    ///
    /// # Errors
    /// No plugin, no candidate, or a candidate that stopped.
    fn promote_candidate(&self, id: &str) -> Result<PluginView, ControlError>;
    /// Stops and drops the candidate.
    ///
    /// # Errors
    /// No plugin, or no candidate.
    fn discard_candidate(&self, id: &str) -> Result<PluginView, ControlError>;
    /// The ids of the plugins that trade on paper.
    fn trading(&self) -> Vec<String>;
    /// What the host holds against its limits; `None` where there is no
    /// engine behind (test doubles).
    fn capacity(&self) -> Option<Capacity> {
        None
    }
}
