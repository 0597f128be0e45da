//! Loading a plugin component and calling it under limits.

use crate::Contract;
use crate::bindings::{Plugin, PluginPre, v0_1};
use crate::conversions::{self, PluginInfo};
use crate::engine::{EPOCH_TICK, PluginEngine};
use crate::error::{Fault, FaultKind, LoadError};
use crate::lowering::WireEvent;
use crate::sandbox::HostState;
use prism_model::{Event, InstrumentTable, Output};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Func, HasSelf, Linker, TypedFunc};
use wasmtime::{Store, Trap};

/// Per-plugin limits; exceeding one is that plugin's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Linear memory the plugin may use, in bytes.
    pub memory_bytes: usize,
    /// Wall time one call may take.
    pub call_deadline: Duration,
    /// Outputs one `on-events` call may return.
    pub max_outputs: usize,
    /// What the plugin's outputs may hold.
    pub outputs: OutputLimits,
    /// How much the plugin may write to the host's log.
    pub log: LogLimits,
    /// Past this linear memory, bytes, the worker recycles the instance
    /// (snapshot into a fresh one between two batches); 0: never.
    pub recycle_memory_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_deadline: Duration::from_secs(1),
            max_outputs: 10_000,
            outputs: OutputLimits::default(),
            log: LogLimits::default(),
            recycle_memory_bytes: 0,
        }
    }
}

/// Bounds on what a plugin's outputs hold. Bytes are counted as the host
/// holds the output in memory (see [`prism_model::output::body_bytes`]).
/// Going past one fails the batch like any other fault: the poison event is
/// set aside, and a plugin that keeps going past its limits is quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Distinct series (name and instrument) a plugin may write.
    pub max_series: usize,
    /// Distinct document keys.
    pub max_document_keys: usize,
    /// Distinct log names.
    pub max_log_names: usize,
    /// One document's body.
    pub max_document_bytes: usize,
    /// The latest bodies of all of a plugin's documents together.
    pub max_documents_bytes: usize,
    /// One log entry's body (and one alert's body).
    pub max_log_bytes: usize,
    /// Everything one call returns.
    pub max_batch_bytes: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self {
            max_series: 1_000,
            max_document_keys: 1_000,
            max_log_names: 100,
            max_document_bytes: 1 << 20,
            max_documents_bytes: 64 << 20,
            max_log_bytes: 64 << 10,
            max_batch_bytes: 16 << 20,
        }
    }
}

/// The rate at which a plugin may write to the host's log (`host.log`).
/// Lines past it are suppressed and counted, and a summary is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Lines per second, sustained (a burst of twice as many is allowed).
    pub lines_per_s: u32,
    /// Bytes per second, sustained (a burst of twice as many is allowed).
    pub bytes_per_s: u32,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            lines_per_s: 100,
            bytes_per_s: 64 << 10,
        }
    }
}

/// The prepared code of a component, for the contract version it was
/// built against.
#[derive(Clone)]
enum Pre {
    V0_2(PluginPre<HostState>),
    V0_1(v0_1::PluginPre<HostState>),
}

/// A compiled plugin version, ready to instantiate many times
/// (an `InstancePre`: imports type-checked and resolved once).
#[derive(Clone)]
pub struct PluginModule {
    engine: PluginEngine,
    pre: Pre,
    digest: String,
}

impl PluginModule {
    /// Reads and prepares a component file.
    ///
    /// # Errors
    /// [`LoadError::Read`] if the file cannot be read, then as
    /// [`Self::from_bytes`].
    pub fn load(engine: &PluginEngine, path: &Path) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|e| LoadError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_bytes(engine, &bytes)
    }

    /// Compiles (or loads from cache) and links a component.
    ///
    /// # Errors
    /// Says whether the bytes are not wasm, a core module, an invalid
    /// component, a component of another world (imports), or one missing an
    /// export of the contract.
    pub fn from_bytes(engine: &PluginEngine, wasm: &[u8]) -> Result<Self, LoadError> {
        let (component, digest) = engine.compile(wasm)?;
        let contract = contract_of(engine, &component)?;
        let mut linker: Linker<HostState> = Linker::new(&engine.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let linked = match contract {
            Contract::V0_2 => Plugin::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s),
            Contract::V0_1 => {
                v0_1::Plugin::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)
            }
        };
        linked.map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports(format!("{e:#}")))?;
        let exports = |e: wasmtime::Error| LoadError::Exports(format!("{e:#}"));
        let pre = match contract {
            Contract::V0_2 => Pre::V0_2(PluginPre::new(instance_pre).map_err(exports)?),
            Contract::V0_1 => Pre::V0_1(v0_1::PluginPre::new(instance_pre).map_err(exports)?),
        };
        Ok(Self {
            engine: engine.clone(),
            pre,
            digest,
        })
    }

    /// Which compiler made this code: optimized, or quick (a swap that
    /// did not wait; the optimized code follows).
    #[must_use]
    pub fn tier(&self) -> crate::engine::Tier {
        self.engine.tier()
    }

    /// SHA-256 of the component's bytes, hex.
    #[must_use]
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The contract version the component was built against.
    #[must_use]
    pub fn contract(&self) -> Contract {
        match self.pre {
            Pre::V0_2(_) => Contract::V0_2,
            Pre::V0_1(_) => Contract::V0_1,
        }
    }

    /// Creates a fresh, isolated instance. `seed` seeds its randomness.
    ///
    /// # Errors
    /// [`LoadError::Capacity`] when the pool is exhausted;
    /// [`LoadError::Instantiate`] when the plugin's initial memory exceeds
    /// its limit (or instantiation fails otherwise).
    pub fn instantiate(
        &self,
        plugin_id: &str,
        limits: PluginLimits,
        seed: u64,
    ) -> Result<PluginInstance, LoadError> {
        let memory = limits
            .memory_bytes
            .min(self.engine.settings().max_memory_bytes);
        let mut store = Store::new(
            &self.engine.engine,
            HostState::new(Arc::from(plugin_id), memory, seed, limits.log),
        );
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(deadline_ticks(limits.call_deadline));
        store.epoch_deadline_trap();
        let instance_pre = match &self.pre {
            Pre::V0_2(pre) => pre.instance_pre(),
            Pre::V0_1(pre) => pre.instance_pre(),
        };
        let instance = instance_pre.instantiate(&mut store).map_err(|e| {
            if e.is::<wasmtime::PoolConcurrencyLimitError>() {
                return LoadError::Capacity {
                    limit: self.engine.settings().max_instances,
                };
            }
            let fault = classify(&e, store.data().captured());
            LoadError::Instantiate(fault.message)
        })?;
        let exports = |e: wasmtime::Error| LoadError::Exports(format!("{e:#}"));
        let bindings = match &self.pre {
            Pre::V0_2(_) => Bindings::V0_2(Plugin::new(&mut store, &instance).map_err(exports)?),
            Pre::V0_1(_) => {
                Bindings::V0_1(v0_1::Plugin::new(&mut store, &instance).map_err(exports)?)
            }
        };
        let on_events = match bindings {
            Bindings::V0_2(_) => {
                let f = instance
                    .get_func(&mut store, "on-events")
                    .ok_or_else(|| LoadError::Exports("no export `on-events`".into()))?;
                // Type-checked once here, so each call can skip the check.
                f.typed::<(&[WireEvent<'_>],), (OnEventsResult,)>(&store)
                    .map_err(exports)?;
                Some(f)
            }
            // 0.1's events take wasmtime's generic lowering.
            Bindings::V0_1(_) => None,
        };
        Ok(PluginInstance {
            store,
            bindings,
            on_events,
            fast_lowering: true,
            limits,
            declared: InstrumentTable::default(),
            scratch: Vec::new(),
            scratch_0_1: Vec::new(),
        })
    }
}

/// The contract version a component was built against, from the versions
/// of the `prism:plugin` interfaces it imports and exports (types and
/// functions are matched by shape, so only the names tell). A component
/// naming none is taken as built against the current version.
fn contract_of(
    engine: &PluginEngine,
    component: &wasmtime::component::Component,
) -> Result<Contract, LoadError> {
    let ty = component.component_type();
    let imports = ty.imports(&engine.engine).map(|(name, _)| name);
    let exports = ty.exports(&engine.engine).map(|(name, _)| name);
    let mut found = None;
    for name in imports.chain(exports) {
        if !name.starts_with("prism:plugin/") {
            continue;
        }
        let contract = if name.ends_with("@0.2.0") {
            Contract::V0_2
        } else if name.ends_with("@0.1.0") {
            Contract::V0_1
        } else {
            return Err(LoadError::Incompatible {
                found: name.to_owned(),
            });
        };
        match found {
            Some(other) if other != contract => {
                return Err(LoadError::Incompatible {
                    found: format!("both {other} and {contract}"),
                });
            }
            _ => found = Some(contract),
        }
    }
    Ok(found.unwrap_or(Contract::V0_2))
}

fn deadline_ticks(deadline: Duration) -> u64 {
    let ticks = deadline.as_micros() / EPOCH_TICK.as_micros().max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

/// One live plugin instance. Not shared: a worker thread owns it.
///
/// After any [`Fault`] other than [`FaultKind::Error`], [`FaultKind::OutputCap`]
/// or [`FaultKind::BadOutput`] the instance is poisoned and must be dropped.
pub struct PluginInstance {
    store: Store<HostState>,
    bindings: Bindings,
    /// `on-events`, type-checked against [`WireEvent`] (current contract).
    on_events: Option<Func>,
    fast_lowering: bool,
    limits: PluginLimits,
    declared: InstrumentTable,
    /// The contract's events of a batch, for the generic lowering.
    scratch: Vec<crate::bindings::prism::plugin::events::Event>,
    scratch_0_1: Vec<v0_1::prism::plugin::events::Event>,
}

/// An instance's exports, for the contract version it was built against.
enum Bindings {
    V0_2(Plugin),
    V0_1(v0_1::Plugin),
}

type OnEventsResult = Result<Vec<crate::bindings::prism::plugin::outputs::Output>, String>;

/// Sets a call's deadline.
fn arm(store: &mut Store<HostState>, limits: PluginLimits) {
    store.set_epoch_deadline(deadline_ticks(limits.call_deadline));
    // Drop what an earlier call printed so a fault shows its own output.
    let _ = store.data().captured();
}

impl PluginInstance {
    fn arm(&mut self) {
        arm(&mut self.store, self.limits);
    }

    /// The contract version the plugin was built against.
    #[must_use]
    pub fn contract(&self) -> Contract {
        match self.bindings {
            Bindings::V0_2(_) => Contract::V0_2,
            Bindings::V0_1(_) => Contract::V0_1,
        }
    }

    /// Calls `init` with the operator's config (JSON text).
    ///
    /// # Errors
    /// [`LoadError::Init`] when the plugin refuses, [`LoadError::Fault`] when it traps.
    pub fn init(&mut self, config_json: &str) -> Result<PluginInfo, LoadError> {
        self.arm();
        let answer = match &self.bindings {
            Bindings::V0_2(b) => b
                .call_init(&mut self.store, config_json)
                .map(|r| r.map(conversions::info_from_wit)),
            Bindings::V0_1(b) => b
                .call_init(&mut self.store, config_json)
                .map(|r| r.map(conversions::info_from_wit_0_1)),
        };
        match answer {
            Ok(Ok(info)) => Ok(info),
            Ok(Err(reason)) => Err(LoadError::Init(reason)),
            Err(e) => Err(LoadError::Fault(classify(&e, self.store.data().captured()))),
        }
    }

    /// Calls `restore` with state from a `snapshot`.
    ///
    /// # Errors
    /// [`LoadError::Restore`] when the plugin refuses, [`LoadError::Fault`] when it traps.
    pub fn restore(&mut self, state: &[u8]) -> Result<(), LoadError> {
        self.arm();
        let answer = match &self.bindings {
            Bindings::V0_2(b) => b.call_restore(&mut self.store, state),
            Bindings::V0_1(b) => b.call_restore(&mut self.store, state),
        };
        match answer {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(LoadError::Restore(reason)),
            Err(e) => Err(LoadError::Fault(classify(&e, self.store.data().captured()))),
        }
    }

    /// Calls `snapshot`.
    ///
    /// # Errors
    /// A [`Fault`] when the plugin traps.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, Fault> {
        self.arm();
        match &self.bindings {
            Bindings::V0_2(b) => b.call_snapshot(&mut self.store),
            Bindings::V0_1(b) => b.call_snapshot(&mut self.store),
        }
        .map_err(|e| classify(&e, self.store.data().captured()))
    }

    /// Delivers one batch and returns its outputs.
    ///
    /// `Event::Instrument` declarations in the batch are remembered, so the
    /// plugin's outputs can name instruments by id.
    ///
    /// # Errors
    /// A [`Fault`]: a trap, the deadline, the memory limit, more than
    /// `max_outputs` outputs, an `err` result, or a malformed output.
    pub fn on_events(&mut self, events: &[Event]) -> Result<Vec<Output>, Fault> {
        let result = match &self.bindings {
            Bindings::V0_2(bindings) => {
                for event in events {
                    if let Event::Instrument(i) = event {
                        self.declared.insert(i.clone());
                    }
                }
                arm(&mut self.store, self.limits);
                match self.on_events {
                    Some(on_events) if self.fast_lowering => {
                        let wire = WireEvent::list(events, &mut self.scratch);
                        // SAFETY: the function was type-checked against exactly
                        // these parameter and result types when the instance
                        // was made.
                        let typed = unsafe {
                            TypedFunc::<(&[WireEvent<'_>],), (OnEventsResult,)>::new_unchecked(
                                on_events,
                            )
                        };
                        typed.call(&mut self.store, (&wire,)).map(|(r,)| r)
                    }
                    _ => {
                        self.scratch.clear();
                        self.scratch
                            .extend(events.iter().map(conversions::event_to_wit));
                        bindings.call_on_events(&mut self.store, &self.scratch)
                    }
                }
            }
            Bindings::V0_1(bindings) => {
                for event in events {
                    if let Event::Instrument(i) = event {
                        self.declared.insert(i.clone());
                    }
                }
                // Kinds 0.1 lacks are left out: such a plugin never sees them.
                self.scratch_0_1.clear();
                self.scratch_0_1
                    .extend(events.iter().filter_map(conversions::event_to_wit_0_1));
                arm(&mut self.store, self.limits);
                bindings.call_on_events(&mut self.store, &self.scratch_0_1)
            }
        };
        let outputs = match result {
            Ok(Ok(outputs)) => outputs,
            Ok(Err(reason)) => {
                return Err(Fault {
                    kind: FaultKind::Error,
                    message: reason,
                });
            }
            Err(e) => return Err(classify(&e, self.store.data().captured())),
        };
        if outputs.len() > self.limits.max_outputs {
            return Err(Fault {
                kind: FaultKind::OutputCap,
                message: format!(
                    "returned {} outputs for one batch; the cap is {} (max_outputs)",
                    outputs.len(),
                    self.limits.max_outputs
                ),
            });
        }
        if let Some(summary) = self
            .store
            .data_mut()
            .log
            .take_summary(std::time::Instant::now())
        {
            tracing::warn!(target: "prism::plugin", plugin = %self.store.data().plugin_id, "{summary}");
        }
        let limits = &self.limits.outputs;
        let mut batch_bytes = 0usize;
        let mut lifted = Vec::with_capacity(outputs.len());
        for o in outputs {
            let (output, bytes) =
                conversions::output_from_wit(o, &self.declared, limits).map_err(|e| Fault {
                    kind: e.fault_kind(),
                    message: e.to_string(),
                })?;
            batch_bytes += bytes;
            if batch_bytes > limits.max_batch_bytes {
                return Err(Fault {
                    kind: FaultKind::OutputLimit,
                    message: format!(
                        "the outputs of one batch hold more than {} bytes (max_batch_bytes)",
                        limits.max_batch_bytes
                    ),
                });
            }
            lifted.push(output);
        }
        Ok(lifted)
    }

    /// Chooses how batches are lowered: the fast path (default) or
    /// wasmtime's generic lowering. Both deliver the same events; this exists
    /// to compare them in tests and benchmarks.
    pub fn set_fast_lowering(&mut self, on: bool) {
        self.fast_lowering = on;
    }

    /// Log lines suppressed by the rate limit since the last call of this.
    pub fn take_suppressed_logs(&mut self) -> u64 {
        std::mem::take(&mut self.store.data_mut().log.suppressed_total)
    }

    /// Bytes of linear memory the instance uses now (all its memories).
    #[must_use]
    pub fn memory_used(&self) -> usize {
        self.store.data().limits_used()
    }
}

/// Names a trap for an operator, using what the guest printed (a Rust panic
/// prints its message to stderr before it aborts).
fn classify(error: &wasmtime::Error, captured: String) -> Fault {
    let printed = captured.trim();
    let detail = |fallback: String| {
        if printed.is_empty() {
            fallback
        } else {
            last_lines(printed, 6)
        }
    };
    let text = format!("{error:#}");
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::Interrupt => Fault {
                kind: FaultKind::Deadline,
                message: "the call ran past its deadline".into(),
            },
            Trap::StackOverflow => Fault {
                kind: FaultKind::StackOverflow,
                message: "wasm stack overflow".into(),
            },
            Trap::MemoryOutOfBounds => Fault {
                kind: FaultKind::Trap,
                message: "out of bounds memory access (in Rust guests usually the shadow stack overflowing: deep recursion)".into(),
            },
            _ if printed.contains("memory allocation of") => Fault {
                kind: FaultKind::Memory,
                message: detail(text),
            },
            _ if printed.contains("panicked") => Fault {
                kind: FaultKind::Panic,
                message: detail(text),
            },
            _ => Fault {
                kind: FaultKind::Trap,
                message: format!("{trap}"),
            },
        };
    }
    if text.contains(crate::sandbox::MEMORY_LIMIT_TRAP) {
        return Fault {
            kind: FaultKind::Memory,
            message: text,
        };
    }
    Fault {
        kind: FaultKind::Trap,
        message: detail(text),
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
