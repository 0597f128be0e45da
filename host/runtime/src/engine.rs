//! The process-wide wasmtime engine, narrowed to what Prism uses.

use crate::cache::ArtifactCache;
use crate::compiled::CompiledComponents;
use crate::error::LoadError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    ProfilingStrategy, Strategy,
};

/// How long one epoch tick lasts; call deadlines are counted in ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Engine-wide settings, fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Largest linear memory any plugin may be given, in bytes. Sizes the
    /// pooling allocator's slots; per-plugin limits are at most this.
    pub max_memory_bytes: usize,
    /// How many plugin instances may be alive at once (pool size).
    pub max_instances: u32,
    /// Where compiled artifacts are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Largest wasm stack, in bytes; deeper recursion traps.
    pub max_wasm_stack: usize,
    /// Instances the quick (baseline-compiled) engine may hold at once,
    /// for versions swapped in before their optimized code is ready; 0:
    /// no quick engine, every swap waits for optimized code.
    pub quick_instances: u32,
    /// Write Linux `perf`'s map of JIT code (`/tmp/perf-{pid}.map`), naming
    /// every plugin function compiled or loaded, so a profile of the host
    /// shows where inside a plugin the time goes.
    pub perf_map: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_memory_bytes: 256 << 20,
            max_instances: 64,
            cache_dir: None,
            max_wasm_stack: 1 << 20,
            quick_instances: 0,
            perf_map: false,
        }
    }
}

/// Which compiler an engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Cranelift, optimizing for speed: the code plugins run on.
    Optimized,
    /// Winch, wasmtime's baseline compiler: compiles in a fraction of the
    /// time, runs slower; for a swap that cannot wait for Cranelift.
    Quick,
}

impl Tier {
    /// The name the API uses.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Optimized => "optimized",
            Tier::Quick => "quick",
        }
    }
}

/// What the pooling allocator holds: live instances and memories, and the
/// resident bytes it keeps warm in slots no instance uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    /// Component instances alive (each plugin's, and a swap's candidate
    /// while it lasts).
    pub instances: u64,
    /// Linear memories alive.
    pub memories: u64,
    /// Bytes kept resident in memory slots that are free (reused warm).
    pub unused_resident_bytes: u64,
}

/// One wasmtime [`Engine`] for the process ("typically there's one Engine per
/// process"), with a background thread that advances its epoch so that every
/// call can carry a deadline.
#[derive(Clone)]
pub struct PluginEngine {
    pub(crate) engine: Engine,
    tier: Tier,
    /// The quick twin of an optimized engine, when configured.
    quick: Option<Arc<PluginEngine>>,
    settings: Arc<EngineSettings>,
    cache: Option<Arc<ArtifactCache>>,
    compiled: Arc<CompiledComponents>,
    _ticker: Arc<Ticker>,
}

struct Ticker(Arc<AtomicBool>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl PluginEngine {
    /// Builds the engine.
    ///
    /// Choices, and why: the component model (plugins are components);
    /// epoch interruption (a deadline per call costs one counter check on
    /// loop back-edges, far cheaper than fuel); the pooling allocator
    /// (instantiation in microseconds, so swaps and crash recovery are cheap);
    /// optimizing for speed (the plugin boundary is the hot path).
    ///
    /// # Errors
    /// When wasmtime rejects the configuration (e.g. the pool cannot be
    /// reserved).
    pub fn new(settings: EngineSettings) -> Result<Self, LoadError> {
        let quick = if settings.quick_instances > 0 {
            let quick = EngineSettings {
                max_instances: settings.quick_instances,
                // Quick code is never kept: it only bridges a swap until
                // the optimized code is compiled (and cached).
                cache_dir: None,
                quick_instances: 0,
                ..settings.clone()
            };
            Some(Arc::new(Self::with_tier(quick, Tier::Quick, None)?))
        } else {
            None
        };
        Self::with_tier(settings, Tier::Optimized, quick)
    }

    fn with_tier(
        settings: EngineSettings,
        tier: Tier,
        quick: Option<Arc<PluginEngine>>,
    ) -> Result<Self, LoadError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(settings.max_instances)
            .total_core_instances(settings.max_instances * 8)
            .total_memories(settings.max_instances * 2)
            .total_tables(settings.max_instances * 8)
            .max_memory_size(settings.max_memory_bytes);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(settings.max_wasm_stack)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if settings.perf_map {
            config.profiler(ProfilingStrategy::PerfMap);
        }
        match tier {
            Tier::Optimized => {
                config
                    .strategy(Strategy::Cranelift)
                    .cranelift_opt_level(OptLevel::Speed);
            }
            Tier::Quick => {
                config.strategy(Strategy::Winch);
            }
        }
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticking = engine.clone();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("prism-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        let cache = settings
            .cache_dir
            .as_deref()
            .and_then(|dir| match ArtifactCache::open(dir) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    tracing::warn!("the compiled-plugin cache is off: {e}");
                    None
                }
            });
        Ok(Self {
            engine,
            tier,
            quick,
            settings: Arc::new(settings),
            cache,
            compiled: Arc::default(),
            _ticker: Arc::new(Ticker(stop)),
        })
    }

    /// Which compiler this engine uses.
    #[must_use]
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The quick twin, for a swap of `wasm` that should not wait for its
    /// optimized code: `None` when there is no quick engine or the
    /// optimized code is at hand already (compiled in memory, or in the
    /// disk cache), so the quick detour would gain nothing.
    #[must_use]
    pub fn quick_for(&self, wasm: &[u8]) -> Option<&PluginEngine> {
        let quick = self.quick.as_deref()?;
        let digest = content_digest(wasm);
        if self.compiled.get(&digest).is_some() {
            return None;
        }
        if let Some(cache) = &self.cache
            && cache.contains(&self.artifact_name(&digest))
        {
            return None;
        }
        Some(quick)
    }

    /// What the instance pool holds now.
    #[must_use]
    pub fn pool_usage(&self) -> PoolUsage {
        self.engine
            .pooling_allocator_metrics()
            .map_or_else(PoolUsage::default, |m| PoolUsage {
                instances: m.component_instances(),
                memories: m.memories() as u64,
                unused_resident_bytes: m.unused_memory_bytes_resident() as u64,
            })
    }

    /// What the quick engine's pool holds now (zero without one).
    #[must_use]
    pub fn quick_usage(&self) -> PoolUsage {
        self.quick
            .as_deref()
            .map_or_else(PoolUsage::default, PluginEngine::pool_usage)
    }

    /// The settings the engine was built with.
    #[must_use]
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Whether compiled artifacts are cached (a cache directory was given
    /// and is private to this user).
    #[must_use]
    pub fn caches(&self) -> bool {
        self.cache.is_some()
    }

    /// Compiles a component, or loads its compiled artifact from the cache.
    ///
    /// The cache key is the SHA-256 of the bytes plus the engine's
    /// compatibility hash, so a new wasmtime or different settings never load
    /// a stale artifact. An artifact is loaded only after its keyed hash
    /// verifies (see [`crate::cache`]); an altered or damaged one is
    /// recompiled and replaced, with a warning.
    ///
    /// # Errors
    /// [`LoadError::NotWasm`], [`LoadError::NotComponent`] or
    /// [`LoadError::Compile`] for the bytes; cache I/O problems are logged
    /// and only cost a recompile.
    pub fn compile(&self, wasm: &[u8]) -> Result<(Component, String), LoadError> {
        check_header(wasm)?;
        let digest = content_digest(wasm);
        if let Some(component) = self.compiled.get(&digest) {
            return Ok((component, digest));
        }
        let component = self.compile_or_load(wasm, &digest)?;
        self.compiled.insert(&digest, &component);
        Ok((component, digest))
    }

    /// From the on-disk cache when it holds the bytes' artifact, else
    /// compiled (and stored there).
    fn compile_or_load(&self, wasm: &[u8], digest: &str) -> Result<Component, LoadError> {
        let Some(cache) = &self.cache else {
            return self.compile_fresh(wasm);
        };
        let name = self.artifact_name(digest);
        if let Some(bytes) = cache.read(&name) {
            // SAFETY: these bytes carry a keyed hash that only this Prism
            // (holder of the owner-only key) writes, over exactly these bytes
            // as `Component::serialize` of an engine with the same
            // compatibility hash produced them; they are deserialized from
            // the memory that was verified.
            match unsafe { Component::deserialize(&self.engine, &bytes) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(artifact = %name, error = %e, "recompiling an unusable cached artifact")
                }
            }
        }
        let component = self.compile_fresh(wasm)?;
        match component.serialize() {
            Ok(bytes) => {
                if let Err(e) = cache.write(&name, &bytes) {
                    tracing::warn!(artifact = %name, error = %e, "cannot cache the compiled plugin");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot serialize the compiled plugin"),
        }
        Ok(component)
    }

    fn compile_fresh(&self, wasm: &[u8]) -> Result<Component, LoadError> {
        Component::from_binary(&self.engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))
    }

    fn artifact_name(&self, digest: &str) -> String {
        format!("{digest}-{}.cwasm", self.compat_hash())
    }

    fn compat_hash(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// Tells a component from a core module and from something else entirely,
/// so the error says which.
fn check_header(wasm: &[u8]) -> Result<(), LoadError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    // Bytes 4..8: version 1 and layer 0 for a core module; layer 1 for a component.
    if wasm[6..8] == [0, 0] {
        return Err(LoadError::NotComponent);
    }
    Ok(())
}

/// The content digest Prism identifies a component by: SHA-256, hex.
#[must_use]
pub fn content_digest(wasm: &[u8]) -> String {
    prism_model::hex(&Sha256::digest(wasm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tells_what_the_bytes_are() {
        assert!(matches!(
            check_header(b"hello world"),
            Err(LoadError::NotWasm)
        ));
        assert!(matches!(
            check_header(&[0, b'a', b's', b'm', 1, 0, 0, 0]),
            Err(LoadError::NotComponent)
        ));
        assert!(check_header(&[0, b'a', b's', b'm', 0x0d, 0, 1, 0]).is_ok());
    }
}
