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
pub mod conversions;
pub mod engine;
pub mod error;
mod lowering;
pub mod plugin;
mod sandbox;
pub mod version;

/// The version of the `prism:plugin` contract this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

pub use conversions::PluginInfo;
pub use engine::{EngineSettings, PluginEngine, content_digest};
pub use error::{Fault, FaultKind, LoadError};
pub use plugin::{LogLimits, OutputLimits, PluginInstance, PluginLimits, PluginModule};
pub use version::{InstanceSettings, PluginVersion};
