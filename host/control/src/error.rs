//! The control plane's errors. Each has a stable code for the API.

use prism_runtime::LoadError;
use prism_worker::Refusal;

/// Why a control operation was refused or failed. The running version of
/// the plugin is untouched whenever one of these is returned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ControlError {
    /// No plugin has this id.
    #[error("no plugin `{0}`")]
    NotFound(String),
    /// A plugin with this id exists already.
    #[error("a plugin `{0}` exists already; replace its wasm or config instead")]
    Exists(String),
    /// The id breaks the id rules.
    #[error("{0}")]
    InvalidId(String),
    /// The request itself is unusable (e.g. config that is not a JSON object).
    #[error("{0}")]
    Invalid(String),
    /// The component could not be loaded or started; says why.
    #[error("{0}")]
    Load(LoadError),
    /// The plugin's worker refused the operation (e.g. the new version's
    /// `restore` failed, or a quarantined plugin was asked to pause).
    #[error("{0}")]
    Refused(Refusal),
    /// New code for a plugin gives another plugin's name.
    #[error(
        "plugin `{id}` is `{from}`, the new code is `{to}`: a swap keeps the plugin and its state; add `{to}` under its own id, or ask for the rename (`?rename=true`)"
    )]
    NameChanged {
        id: String,
        from: String,
        to: String,
    },
    /// The plugin runs a candidate already: promote or discard it first.
    #[error("plugin `{0}` runs a candidate version already; promote or discard it first")]
    CandidateExists(String),
    /// There is no earlier version to roll back to.
    #[error("plugin `{0}` has no earlier version to roll back to")]
    NoPrevious(String),
    /// The plugin's worker has stopped (its stream ended).
    #[error("plugin `{0}` is no longer running")]
    Gone(String),
    /// The worker did not answer in time.
    #[error("plugin `{0}` did not answer within {1} s")]
    Timeout(String, u64),
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
}

impl ControlError {
    /// Whether the host itself failed (a file it could not read, its
    /// engine), rather than the request or the component.
    #[must_use]
    pub fn is_host_fault(&self) -> bool {
        matches!(
            self,
            ControlError::Read { .. }
                | ControlError::Load(LoadError::Engine(_) | LoadError::Read { .. })
        )
    }

    /// The host runs as many plugin instances as it may: the component is
    /// fine, the host is full (admission refused).
    #[must_use]
    pub fn is_at_capacity(&self) -> bool {
        matches!(self, ControlError::Load(LoadError::Capacity { .. }))
    }

    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::NotFound(_) => "not_found",
            ControlError::Exists(_) => "conflict",
            ControlError::InvalidId(_) => "invalid_id",
            ControlError::Invalid(_) => "bad_request",
            ControlError::Load(e) => load_code(e),
            ControlError::Refused(r) => match r {
                Refusal::Restore(_) => "restore_failed",
                Refusal::Snapshot(_) | Refusal::CatchUp(_) => "swap_failed",
                Refusal::NotRunning => "conflict",
                Refusal::Restart(_) => "resume_failed",
                Refusal::NoAccount => "no_account",
                Refusal::UnknownInstrument(_) => "unknown_instrument",
                Refusal::CandidateTrades => "candidate_trades",
                Refusal::NoCandidate => "no_candidate",
                Refusal::CandidateEnded(_) => "candidate_ended",
            },
            ControlError::NameChanged { .. } => "name_changed",
            ControlError::NoPrevious(_) => "no_previous_version",
            ControlError::CandidateExists(_) => "candidate_exists",
            ControlError::Gone(_) => "gone",
            ControlError::Timeout(..) => "timeout",
            ControlError::Read { .. } => "read_failed",
        }
    }
}

fn load_code(e: &LoadError) -> &'static str {
    match e {
        LoadError::NotWasm => "not_wasm",
        LoadError::NotComponent => "not_a_component",
        LoadError::Compile(_) => "invalid_component",
        LoadError::Imports(_) | LoadError::Exports(_) => "wrong_world",
        LoadError::Incompatible { .. } => "incompatible_contract",
        LoadError::Init(_) => "init_failed",
        LoadError::KindsNotInContract { .. } => "invalid_subscription",
        LoadError::Restore(_) => "restore_failed",
        LoadError::Instantiate(_) | LoadError::Fault(_) => "start_failed",
        LoadError::Capacity { .. } => "at_capacity",
        LoadError::Engine(_) | LoadError::Read { .. } => "load_failed",
    }
}

impl From<LoadError> for ControlError {
    fn from(e: LoadError) -> Self {
        ControlError::Load(e)
    }
}
