//! The control plane's commands to a worker, and its answers.

use crate::canary::Comparison;
use crossbeam_channel::Sender;
use prism_execution::{ExecutionSettings, Exposure};
use prism_model::{Decimal, OrderRecord, RiskRecord, RiskState, Side};
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
    /// An account command to a plugin without a paper account.
    #[error("the plugin does not trade: it has no paper account (set `paper = true` on it)")]
    NoAccount,
    /// A candidate for a plugin that trades on paper: its fills follow its
    /// own orders, so the two versions would not see the same events.
    #[error(
        "a plugin that trades on paper cannot run a candidate: its fills follow its own orders, so the candidate would not see the same events; swap the new version in instead"
    )]
    CandidateTrades,
    /// Promote or discard with no candidate running.
    #[error("the plugin has no candidate version; start one first")]
    NoCandidate,
    /// The candidate stopped (it failed, or it was replaced): it cannot be
    /// promoted; discard it.
    #[error("the candidate cannot be promoted: {0}; discard it")]
    CandidateEnded(String),
    /// A manual order names an instrument the plugin's account has not met.
    #[error("the plugin's account knows no instrument {0}")]
    UnknownInstrument(String),
}

/// Where a worker answers a command.
pub type Reply = Sender<Result<(), Refusal>>;

/// Where a worker answers an account command.
pub type AccountReply = Sender<Result<AccountAnswer, Refusal>>;

/// What an account command did: the orders it placed, and the risk state
/// after it (`None`: the plugin no longer has an account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAnswer {
    pub orders: Vec<OrderRecord>,
    pub risk: Option<RiskRecord>,
}

/// An operator's command to a plugin's paper account.
#[derive(Debug, Clone)]
pub enum AccountCommand {
    /// Set the risk state (`reason` is shown with it).
    SetRisk { state: RiskState, reason: String },
    /// Reduce-only market orders closing every open position.
    CloseAll,
    /// An order for the plugin's account, placed at its event time.
    Place(ManualOrder),
    /// New settings (a config reload): fees, slippage and limits apply from
    /// the next event, positions stay. `Some` for a plugin without an
    /// account opens a flat one; `None` closes the account (its positions
    /// are forgotten).
    Configure(Option<ExecutionSettings>, Arc<Exposure>),
}

/// An operator's order, naming its instrument as the venue does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualOrder {
    pub client_id: Arc<str>,
    pub exchange: String,
    pub symbol: String,
    pub side: Side,
    pub size: Decimal,
    pub limit_price: Option<Decimal>,
    pub reduce_only: bool,
}

/// A command from the control plane, carried out between two batches.
pub enum WorkerCommand {
    /// Switch to `instance` (of `version`, already through `init`): the
    /// running version's state is snapshotted and restored into it. On any
    /// failure the running version stays, and the reply says why.
    Swap {
        version: Arc<PluginVersion>,
        instance: Box<PluginInstance>,
        /// The same plugin version on other compiled code (the optimized
        /// compile of a version swapped in on quick code): a candidate
        /// running beside it stays, and a plugin not running (quarantined,
        /// failed) stays so; its next start takes the new code.
        same_version: bool,
        reply: Reply,
    },
    /// Stop calling the plugin; events are skipped (and counted) until
    /// resumed. The instance and its state are kept.
    Pause { reply: Reply },
    /// Leave a pause, a quarantine or a failure. From a quarantine or a
    /// failure, a fresh instance is built from the last good state.
    Resume { reply: Reply },
    /// Start `instance` (of `version`, already through `init`) as a
    /// candidate beside the running version: the running version's state
    /// is restored into it, and it is given every batch the running
    /// version processes; its outputs are compared into `report`, never
    /// sent on.
    StartCandidate {
        version: Arc<PluginVersion>,
        instance: Box<PluginInstance>,
        report: Arc<Comparison>,
        reply: Reply,
    },
    /// Make the candidate the running version, keeping the candidate's
    /// own state.
    Promote { reply: Reply },
    /// Stop and drop the candidate.
    Discard { reply: Reply },
    /// A command to the plugin's paper account, carried out at the event
    /// time the account has reached.
    Account {
        command: Box<AccountCommand>,
        reply: AccountReply,
    },
}
