//! Loading a plugin component and calling it under limits.

use crate::bindings::{Plugin, PluginPre};
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
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_deadline: Duration::from_secs(1),
            max_outputs: 10_000,
            outputs: OutputLimits::default(),
            log: LogLimits::default(),
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

/// A compiled plugin version, ready to instantiate many times
/// (an `InstancePre`: imports type-checked and resolved once).
#[derive(Clone)]
pub struct PluginModule {
    engine: PluginEngine,
    pre: PluginPre<HostState>,
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
        // Types and functions are matched by shape, so a component built
        // against another contract version may still link: its names say
        // which version it was built for.
        if let Some(mismatch) = contract_mismatch(engine, &component) {
            return Err(mismatch);
        }
        let mut linker: Linker<HostState> = Linker::new(&engine.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        Plugin::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports(format!("{e:#}")))?;
        let pre = PluginPre::new(instance_pre).map_err(|e| LoadError::Exports(format!("{e:#}")))?;
        Ok(Self {
            engine: engine.clone(),
            pre,
            digest,
        })
    }

    /// SHA-256 of the component's bytes, hex.
    #[must_use]
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Creates a fresh, isolated instance. `seed` seeds its randomness.
    ///
    /// # Errors
    /// [`LoadError::Instantiate`] when the pool is exhausted or the plugin's
    /// initial memory exceeds its limit.
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
        let instance = self
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .map_err(|e| {
                let fault = classify(&e, store.data().captured());
                LoadError::Instantiate(fault.message)
            })?;
        let bindings =
            Plugin::new(&mut store, &instance).map_err(|e| LoadError::Exports(format!("{e:#}")))?;
        let on_events = instance
            .get_func(&mut store, "on-events")
            .ok_or_else(|| LoadError::Exports("no export `on-events`".into()))?;
        // Type-checked once here, so each call can skip the check.
        on_events
            .typed::<(&[WireEvent],), (OnEventsResult,)>(&store)
            .map_err(|e| LoadError::Exports(format!("{e:#}")))?;
        Ok(PluginInstance {
            store,
            bindings,
            on_events,
            fast_lowering: true,
            limits,
            declared: InstrumentTable::default(),
            scratch: Vec::new(),
        })
    }
}

/// Names the contract version a component was built against, when it
/// imports or exports `prism:plugin` interfaces of a version other than
/// this host's (the contract's types are imported as interfaces even by a
/// plugin that calls nothing of the host).
fn contract_mismatch(
    engine: &PluginEngine,
    component: &wasmtime::component::Component,
) -> Option<LoadError> {
    let wanted = format!("@{}", crate::CONTRACT_VERSION);
    let ty = component.component_type();
    let imports = ty.imports(&engine.engine).map(|(name, _)| name);
    let exports = ty.exports(&engine.engine).map(|(name, _)| name);
    imports
        .chain(exports)
        .find(|name| name.starts_with("prism:plugin/") && !name.ends_with(&wanted))
        .map(|name| LoadError::Incompatible {
            found: name.to_owned(),
        })
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
    bindings: Plugin,
    on_events: Func,
    fast_lowering: bool,
    limits: PluginLimits,
    declared: InstrumentTable,
    scratch: Vec<WireEvent>,
}

type OnEventsResult = Result<Vec<crate::bindings::prism::plugin::outputs::Output>, String>;

impl PluginInstance {
    fn arm(&mut self) {
        self.store
            .set_epoch_deadline(deadline_ticks(self.limits.call_deadline));
        // Drop what an earlier call printed so a fault shows its own output.
        let _ = self.store.data().captured();
    }

    /// Calls `init` with the operator's config (JSON text).
    ///
    /// # Errors
    /// [`LoadError::Init`] when the plugin refuses, [`LoadError::Fault`] when it traps.
    pub fn init(&mut self, config_json: &str) -> Result<PluginInfo, LoadError> {
        self.arm();
        match self.bindings.call_init(&mut self.store, config_json) {
            Ok(Ok(info)) => Ok(conversions::info_from_wit(info)),
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
        match self.bindings.call_restore(&mut self.store, state) {
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
        self.bindings
            .call_snapshot(&mut self.store)
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
        self.scratch.clear();
        for event in events {
            if let Event::Instrument(i) = event {
                self.declared.insert(i.clone());
            }
            self.scratch
                .push(WireEvent(conversions::event_to_wit(event)));
        }
        self.arm();
        let result = if self.fast_lowering {
            // SAFETY: the function was type-checked against exactly these
            // parameter and result types when the instance was made.
            let typed = unsafe {
                TypedFunc::<(&[WireEvent],), (OnEventsResult,)>::new_unchecked(self.on_events)
            };
            typed.call(&mut self.store, (&self.scratch,)).map(|(r,)| r)
        } else {
            // SAFETY: `WireEvent` is `repr(transparent)` over the generated event.
            let events = unsafe {
                std::slice::from_raw_parts(
                    self.scratch
                        .as_ptr()
                        .cast::<crate::bindings::prism::plugin::events::Event>(),
                    self.scratch.len(),
                )
            };
            self.bindings.call_on_events(&mut self.store, events)
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
