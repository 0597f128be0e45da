//! Swaps on quick code, then optimized code underneath.
//!
//! Compiling a plugin with Cranelift takes tens of milliseconds for a small
//! one and seconds for a large one; wasmtime's baseline compiler (Winch)
//! takes a fraction of that, and its code runs slower. A swap whose
//! optimized code is not at hand (in memory or in the disk cache) goes
//! through on quick code, and this module compiles the optimized code in
//! the background and swaps to it: the same version (code, config, seed),
//! the state carried over between two batches like any swap, no entry in
//! the version history, nothing the plugin or the API can tell apart but
//! speed.

use super::operations::ask;
use super::{PluginSlot, Unpoisoned, lock};
use prism_runtime::{PluginEngine, PluginModule, PluginVersion};
use prism_worker::WorkerCommand;
use std::sync::Arc;
use std::time::Duration;

/// Compiles `wasm` with `engine` (optimized) on a thread of its own, then
/// swaps `slot` from `quick` to the same version on optimized code, unless
/// another version runs by then. A failure leaves the quick code running
/// (it is correct, only slower) and is logged.
pub(super) fn optimize_later(
    engine: PluginEngine,
    slot: Arc<PluginSlot>,
    quick: Arc<PluginVersion>,
    wasm: Arc<[u8]>,
    timeout: Duration,
) {
    let spawned = std::thread::Builder::new()
        .name("prism-optimize".into())
        .spawn(move || {
            if let Err(e) = optimize(&engine, &slot, &quick, &wasm, timeout) {
                tracing::warn!(plugin = %slot.id, "the plugin stays on quick code: {e}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("the plugin stays on quick code: no thread to compile it: {e}");
    }
}

fn optimize(
    engine: &PluginEngine,
    slot: &PluginSlot,
    quick: &Arc<PluginVersion>,
    wasm: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    let started = std::time::Instant::now();
    // Off every lock: compiling is the slow part.
    let module = PluginModule::from_bytes(engine, wasm).map_err(|e| e.to_string())?;
    let _op = lock(&slot.ops);
    if !Arc::ptr_eq(&slot.state.read_unpoisoned().current, quick) {
        // Another version took over meanwhile: nothing to do.
        return Ok(());
    }
    let (version, instance) =
        PluginVersion::prepare(module, slot.id.as_str(), quick.settings.clone())
            .map_err(|e| e.to_string())?;
    let version = Arc::new(version);
    ask(slot, timeout, |reply| WorkerCommand::Swap {
        version: version.clone(),
        instance: Box::new(instance),
        same_version: true,
        reply,
    })
    .map_err(|e| e.to_string())?;
    let mut state = slot.state.write_unpoisoned();
    state.history.retier(quick, &version);
    state.current = version;
    tracing::debug!(plugin = %slot.id, after = ?started.elapsed(), "the plugin runs on optimized code");
    Ok(())
}
