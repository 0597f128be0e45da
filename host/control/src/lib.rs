//! Prism's control plane: starts the pipeline, adds and removes plugins,
//! swaps their versions while the stream runs, watches plugin files and the
//! config file, and answers the admin API.
//!
//! Nothing here is on the hot path: decisions reach the router and the
//! workers as typed commands on their own channels, between two batches.

mod error;
mod pipeline;
mod reconcile;
mod settings;
mod snapshots;
mod supervisor;
mod view;
mod watch;

pub use error::ControlError;
pub use pipeline::{Pipeline, PipelineSettings};
pub use reconcile::Reconciled;
pub use settings::{
    PluginSettings, execution_settings, instance_settings, plugin_settings, prepare,
    runtime_limits, seed_of,
};
pub use snapshots::{SavedState, SnapshotError, SnapshotHealth, SnapshotStore, SnapshotWriter};
pub use supervisor::{Origin, Rename, Resume, Supervisor, SupervisorSettings};
pub use view::{
    CandidateView, Capacity, Change, PluginControl, PluginView, VersionRecord, VersionStatus,
};
pub use watch::{Watcher, watch};
