//! Prism's plugin runtime: loads plugin components, sandboxes them and calls
//! them under limits. The only crate of the host that names wasmtime.
//!
//! - [`PluginEngine`]: one per process; pooling allocator, epoch deadlines,
//!   an on-disk cache of compiled artifacts keyed by content hash.
//! - [`PluginModule`]: one compiled plugin version (an `InstancePre`).
//! - [`PluginInstance`]: one live instance, owned by one worker thread.
//! - [`PluginVersion`]: a module with the settings it runs under.
//!
//! What runs instances (their order, recovery, swaps) is the worker stage,
//! `prism-worker`.

pub mod bindings;
pub mod cache;
mod compiled;
pub mod conversions;
pub mod engine;
pub mod error;
mod lowering;
pub mod plugin;
mod sandbox;
pub mod version;

/// The version of the `prism:plugin` contract this host implements (and
/// plugins are built against today).
pub const CONTRACT_VERSION: &str = "0.2.0";

/// The contract versions this host runs plugins of, newest first.
pub const HOSTED_CONTRACTS: [&str; 2] = ["0.2.0", "0.1.0"];

/// The contract version a plugin was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Contract {
    /// `prism:plugin@0.1.0`: no candles or tickers.
    #[serde(rename = "0.1.0")]
    V0_1,
    /// `prism:plugin@0.2.0`, the current one.
    #[serde(rename = "0.2.0")]
    V0_2,
}

impl Contract {
    /// `0.1.0` or `0.2.0`.
    #[must_use]
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => CONTRACT_VERSION,
        }
    }
}

impl Contract {
    /// Whether plugins of this version can receive events of `kind`.
    #[must_use]
    pub fn has(self, kind: prism_model::EventKind) -> bool {
        use prism_model::EventKind::{Candle, Ticker};
        self == Contract::V0_2 || !matches!(kind, Candle | Ticker)
    }

    /// `subscription` as a plugin of this version can have it: "every
    /// kind" (an empty list) means every kind this version has.
    ///
    /// # Errors
    /// [`LoadError::KindsNotInContract`] when it names kinds the version
    /// lacks (an operator's override): such a plugin could never see them.
    pub fn fit(
        self,
        mut subscription: prism_model::Subscription,
    ) -> Result<prism_model::Subscription, LoadError> {
        let lacking: Vec<&str> = subscription
            .kinds
            .iter()
            .filter(|k| !self.has(**k))
            .map(|k| k.as_str())
            .collect();
        if !lacking.is_empty() {
            return Err(LoadError::KindsNotInContract {
                contract: self,
                kinds: lacking.join(", "),
            });
        }
        if subscription.kinds.is_empty() && self != Contract::V0_2 {
            subscription.kinds = self.kinds();
        }
        Ok(subscription)
    }

    /// Every kind of event plugins of this version can receive.
    #[must_use]
    pub fn kinds(self) -> Vec<prism_model::EventKind> {
        prism_model::EventKind::ALL
            .into_iter()
            .filter(|k| self.has(*k))
            .collect()
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "prism:plugin@{}", self.version())
    }
}

pub use conversions::PluginInfo;
pub use engine::{EngineSettings, PluginEngine, PoolUsage, Tier, content_digest};
pub use error::{Fault, FaultKind, LoadError};
pub use plugin::{LogLimits, OutputLimits, PluginInstance, PluginLimits, PluginModule};
pub use version::{InstanceSettings, PluginVersion};
