//! The control plane's commands to a worker, and its answers.

use crossbeam_channel::Sender;
use prism_runtime::{Fault, LoadError, PluginInstance, PluginVersion};
use std::sync::Arc;

/// Why a worker refused a command. The running version is untouched
/// whenever one of these is the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The running version failed in `snapshot`, so there is no state to
    /// carry over (the plugin recovers on its own).
    #[error("the running version failed to snapshot its state: {0}")]
    Snapshot(Fault),
    /// The new version's `restore` refused the state, or failed in it.
    #[error("the new version refused the state: {0}")]
    Restore(LoadError),
    /// The new version failed replaying the batches since the last snapshot.
    #[error("the new version failed while catching up on the state: {0}")]
    CatchUp(Fault),
    /// The command needs a plugin that is running or paused.
    #[error("the plugin is not running (quarantined or failed); resume it first")]
    NotRunning,
    /// The plugin could not be restarted from its last good state.
    #[error("{0}")]
    Restart(String),
}

/// Where a worker answers a command.
pub type Reply = Sender<Result<(), Refusal>>;

/// A command from the control plane, carried out between two batches.
pub enum WorkerCommand {
    /// Switch to `instance` (of `version`, already through `init`): the
    /// running version's state is snapshotted and restored into it. On any
    /// failure the running version stays, and the reply says why.
    Swap {
        version: Arc<PluginVersion>,
        instance: Box<PluginInstance>,
        reply: Reply,
    },
    /// Stop calling the plugin; events are skipped (and counted) until
    /// resumed. The instance and its state are kept.
    Pause { reply: Reply },
    /// Leave a pause, a quarantine or a failure. From a quarantine or a
    /// failure, a fresh instance is built from the last good state.
    Resume { reply: Reply },
}
