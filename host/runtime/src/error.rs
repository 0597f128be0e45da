//! The runtime's errors: loading a plugin, and a plugin's faults while running.

use std::fmt;

/// Why a plugin could not be loaded or started. Each variant says what an
/// operator has to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The engine itself could not be built.
    #[error("cannot build the wasm engine: {0}")]
    Engine(String),
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly file (no `\\0asm` header)")]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "a core wasm module, not a component: build the plugin for `wasm32-wasip2` (or run `wasm-tools component new`)"
    )]
    NotComponent,
    /// The component does not compile or validate.
    #[error("invalid component: {0}")]
    Compile(String),
    /// The component imports something the host does not provide: another
    /// world, or an incompatible version of `prism:plugin`.
    #[error(
        "the component's imports do not fit the `prism:plugin/plugin` world (0.2.0 or 0.1.0): {0}"
    )]
    Imports(String),
    /// The component was built against another version of the contract.
    #[error(
        "the component was built against `{found}`; this host runs plugins of `prism:plugin@{}` and `@0.1.0`: rebuild it with the current SDK",
        crate::CONTRACT_VERSION
    )]
    Incompatible { found: String },
    /// A subscription names kinds of event the plugin's contract version
    /// does not have (an operator's override of a 0.1 plugin's kinds).
    #[error(
        "the plugin was built against {contract}, which has no {kinds} events: its subscription cannot name them (rebuild it with the current SDK)"
    )]
    KindsNotInContract {
        contract: crate::Contract,
        kinds: String,
    },
    /// The component lacks an export of the contract (or has it with another type).
    #[error(
        "the component's exports do not fit the `prism:plugin/plugin` world of its version: {0}"
    )]
    Exports(String),
    /// Instantiation failed (e.g. the memory limit is smaller than the plugin's initial memory).
    #[error("cannot instantiate the plugin: {0}")]
    Instantiate(String),
    /// Every instance the engine's pool holds is in use: admission refused.
    #[error(
        "the host already runs as many plugin instances as it may (runtime.max_instances = {limit}; a swap or a recovery needs one spare for a moment): remove a plugin or raise the limit"
    )]
    Capacity { limit: u32 },
    /// `init` returned an error.
    #[error("the plugin refused its config: {0}")]
    Init(String),
    /// `restore` returned an error.
    #[error("the plugin refused the state to restore: {0}")]
    Restore(String),
    /// The plugin trapped during `init` or `restore`.
    #[error("the plugin failed while starting: {0}")]
    Fault(Fault),
}

/// What went wrong inside a plugin call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The guest panicked (or hit `unreachable`).
    Panic,
    /// The call ran past its deadline.
    Deadline,
    /// The guest needed more memory than its limit.
    Memory,
    /// The call returned more outputs than the cap.
    OutputCap,
    /// The guest overflowed its stack.
    StackOverflow,
    /// The call returned `err(...)`.
    Error,
    /// An output was malformed (unknown instrument, bad body, …).
    BadOutput,
    /// The outputs went past a limit: a body too large, too many distinct
    /// series, document keys or log names, too many bytes in one batch.
    OutputLimit,
    /// Any other trap.
    Trap,
}

/// A plugin's failure on one call. It is the plugin's, never the host's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub message: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Fault {}
