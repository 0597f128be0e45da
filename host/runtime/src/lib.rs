//! Prism's plugin runtime: loads plugin components, sandboxes them and calls
//! them under limits. The only crate of the host that names wasmtime.
//!
//! - [`PluginEngine`]: one per process; pooling allocator, epoch deadlines,
//!   an on-disk cache of compiled artifacts keyed by content hash.
//! - [`PluginModule`]: one compiled plugin version (an `InstancePre`).
//! - [`PluginInstance`]: one live instance, owned by one worker thread.
//! - [`worker`]: the thread that feeds an instance batches and dispatches
//!   its outputs.

pub mod bindings;
pub mod conversions;
pub mod engine;
pub mod error;
mod lowering;
pub mod metrics;
pub mod plugin;
mod sandbox;
pub mod worker;

pub use conversions::{PluginInfo, Subscription};
pub use engine::{EngineSettings, PluginEngine};
pub use error::{Fault, FaultKind, LoadError};
pub use metrics::{PluginMetrics, PluginState};
pub use plugin::{PluginInstance, PluginLimits, PluginModule};
