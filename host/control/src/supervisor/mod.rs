//! The supervisor: the registry of plugins and the operations on them.
//!
//! It never sits on the hot path. Workers and the router get its decisions
//! as typed commands on their own channels, and the registry's locks are
//! taken only by control operations and API reads.
//!
//! - this file: the registry (add, remove, look up, views);
//! - [`operations`]: changing a running plugin (swap, pause, resume,
//!   rollback) and the admin API's [`PluginControl`](crate::PluginControl);
//! - [`candidate`]: a candidate version beside the running one, compared,
//!   promoted or discarded;
//! - [`tiers`]: a swap on quick code, optimized code swapped in after;
//! - [`versions`]: each plugin's version history.

mod candidate;
mod operations;
mod tiers;
mod versions;

use crate::error::ControlError;
use crate::settings::{PluginSettings, prepare};
use crate::view::PluginView;
use crossbeam_channel::Sender;
use prism_model::{
    Delivery, PluginId, PluginOrigin, PluginRecord, RegistryChange, Subscription, VersionEntry,
    wall_ms,
};
use prism_router::{Filter, Route, RouterCommand, plugin_queue};
use prism_runtime::{PluginEngine, PluginInstance, PluginVersion};
use prism_worker::{
    Ended, FaultReporter, OutputSender, PluginMetrics, RecoverySettings, WorkerHandle, WorkerParts,
    WorkerPool,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use versions::History;

pub use operations::Rename;

/// How the supervisor runs workers.
#[derive(Debug, Clone, Copy)]
pub struct SupervisorSettings {
    /// Batches a plugin's queue holds before the source is held back.
    pub queue_batches: usize,
    /// Threads that run every plugin's batches (0: one per core).
    pub worker_threads: usize,
    pub recovery: RecoverySettings,
    /// Dead letters kept per plugin.
    pub dead_letters: usize,
    /// Longest a control operation waits for a worker's answer.
    pub answer_timeout: Duration,
    /// Versions kept per plugin for rollback (the running one included).
    pub versions_kept: usize,
    /// Limits of plugins added through the admin API (the config's
    /// `[plugin_defaults]`).
    pub plugin_defaults: prism_config::PluginLimitsConfig,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        Self {
            queue_batches: 64,
            worker_threads: 0,
            recovery: RecoverySettings::default(),
            dead_letters: 1000,
            answer_timeout: Duration::from_secs(120),
            versions_kept: 10,
            plugin_defaults: prism_config::PluginLimitsConfig::default(),
        }
    }
}

/// Where a plugin's code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file, watched for changes; `from_config` when the config file
    /// lists it (a config reload may then remove it).
    File { path: PathBuf, from_config: bool },
    /// Uploaded through the admin API (kept, so a registry can start it
    /// again after a restart).
    Upload { component: Arc<[u8]> },
}

/// The control-plane facts of one plugin.
struct SlotState {
    current: Arc<PluginVersion>,
    settings: PluginSettings,
    subscription: Subscription,
    origin: Origin,
    loaded_at_ms: i64,
    history: History,
    /// Paused by an operator (kept by the registry across restarts).
    paused: bool,
    /// A candidate version running beside this one.
    candidate: Option<candidate::CandidateSlot>,
}

struct PluginSlot {
    id: PluginId,
    metrics: Arc<PluginMetrics>,
    queue_depth: Arc<AtomicUsize>,
    /// Commands to the plugin's worker, and its end.
    worker: WorkerHandle,
    /// One control operation at a time per plugin.
    ops: Mutex<()>,
    state: RwLock<SlotState>,
}

/// Where a plugin's state stands when it is added.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// The stream position the state covers (restored from a checkpoint),
    /// after which its events start; `None`: a fresh state.
    pub position: Option<u64>,
    /// The instruments the state names by id, declared to the instance
    /// before its first batch.
    pub instruments: Vec<Arc<prism_model::Instrument>>,
    /// The plugin's paper account at that position, when it trades.
    pub account: Option<Vec<u8>>,
}

impl From<&crate::SavedState> for Resume {
    fn from(saved: &crate::SavedState) -> Self {
        Self {
            position: saved.position,
            instruments: saved.instruments.clone(),
            account: saved.account.clone(),
        }
    }
}

/// The paper account of a plugin that trades, restored from `saved` when
/// there is one (a state that does not read is reported; the account
/// starts flat).
fn paper_account(
    id: &Arc<str>,
    settings: &PluginSettings,
    saved: Option<&[u8]>,
    exposure: &Arc<prism_execution::Exposure>,
) -> Option<Box<dyn prism_execution::Executor>> {
    let execution = settings.execution.clone()?;
    let mut account =
        prism_execution::PaperAccount::new(id.clone(), execution).with_exposure(exposure.clone());
    if let Some(saved) = saved
        && let Err(e) = account.restore(saved)
    {
        tracing::warn!(plugin = %id, "{e}; the account starts flat");
    }
    Some(Box::new(account))
}

/// The registry of running plugins and the operations on them.
pub struct Supervisor {
    pub(crate) engine: PluginEngine,
    settings: SupervisorSettings,
    router: Sender<RouterCommand>,
    /// The threads every plugin's worker runs on.
    pool: WorkerPool,
    outputs: Mutex<Option<OutputSender>>,
    plugins: RwLock<BTreeMap<String, Arc<PluginSlot>>>,
    /// Serializes adding and removing plugins.
    registry: Mutex<()>,
    on_fault: FaultReporter,
    /// Per plugin id: the batch position up to which its outputs were
    /// delivered by a sink that cannot take them back, for its next start.
    fences: Mutex<BTreeMap<String, Vec<u64>>>,
    /// The trading plugins' gross notionals, for the limit across them.
    pub(crate) exposure: Arc<prism_execution::Exposure>,
    /// Plugins added from now on start when the source reads the stream
    /// again from where their state needs it (a cluster host taking
    /// partitions over while its stream runs).
    rewinding: std::sync::atomic::AtomicBool,
}

// A panic while holding one of these locks leaves plain data behind; keep
// serving rather than cascade the panic.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `RwLock` access that recovers from poisoning, for the same reason as [`lock`].
trait Unpoisoned<T> {
    fn read_unpoisoned(&self) -> std::sync::RwLockReadGuard<'_, T>;
    fn write_unpoisoned(&self) -> std::sync::RwLockWriteGuard<'_, T>;
}

impl<T> Unpoisoned<T> for std::sync::RwLock<T> {
    fn read_unpoisoned(&self) -> std::sync::RwLockReadGuard<'_, T> {
        self.read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_unpoisoned(&self) -> std::sync::RwLockWriteGuard<'_, T> {
        self.write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Supervisor {
    pub(crate) fn new(
        engine: PluginEngine,
        settings: SupervisorSettings,
        router: Sender<RouterCommand>,
        outputs: OutputSender,
    ) -> std::io::Result<Self> {
        Ok(Self {
            pool: WorkerPool::start(WorkerPool::threads_for(settings.worker_threads))?,
            engine,
            settings,
            router,
            outputs: Mutex::new(Some(outputs)),
            plugins: RwLock::default(),
            fences: Mutex::default(),
            exposure: Arc::default(),
            rewinding: std::sync::atomic::AtomicBool::new(false),
            registry: Mutex::new(()),
            on_fault: Arc::new(|plugin: &str, fault| {
                tracing::error!(plugin, kind = ?fault.kind, "plugin failed: {}", fault.message);
            }),
        })
    }

    /// From now on, a plugin added waits for the source to read the stream
    /// again from the position its state covers ([`Route::after_rewind`]);
    /// the caller asks the source for that.
    pub fn start_plugins_on_rewind(&self) {
        self.rewinding
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The limits plugins added through the admin API run under.
    #[must_use]
    pub fn plugin_defaults(&self) -> prism_config::PluginLimitsConfig {
        self.settings.plugin_defaults
    }

    /// The engine plugins are compiled with.
    #[must_use]
    pub fn engine(&self) -> &PluginEngine {
        &self.engine
    }

    fn slot(&self, id: &str) -> Result<Arc<PluginSlot>, ControlError> {
        self.plugins
            .read_unpoisoned()
            .get(id)
            .cloned()
            .ok_or_else(|| ControlError::NotFound(id.to_owned()))
    }

    fn slots(&self) -> Vec<Arc<PluginSlot>> {
        self.plugins.read_unpoisoned().values().cloned().collect()
    }

    /// Ids of the plugins that came from files, with their paths and
    /// whether the config file lists them.
    #[must_use]
    pub fn watched_files(&self) -> Vec<(String, PathBuf, bool)> {
        self.slots()
            .iter()
            .filter_map(|s| match &s.state.read_unpoisoned().origin {
                Origin::File { path, from_config } => {
                    Some((s.id.to_string(), path.clone(), *from_config))
                }
                Origin::Upload { .. } => None,
            })
            .collect()
    }

    /// The settings a plugin runs under, if it exists.
    #[must_use]
    pub fn settings_of(&self, id: &str) -> Option<PluginSettings> {
        let slot = self.slot(id).ok()?;
        let state = slot.state.read_unpoisoned();
        Some(state.settings.clone())
    }

    /// Adds a plugin from a file.
    ///
    /// # Errors
    /// The file cannot be read, or as [`Self::add_bytes`].
    pub fn add_file(
        &self,
        id: &PluginId,
        path: &Path,
        settings: PluginSettings,
        from_config: bool,
    ) -> Result<PluginView, ControlError> {
        let wasm = read(path)?;
        let origin = Origin::File {
            path: path.to_path_buf(),
            from_config,
        };
        self.add_bytes(id, &wasm, settings, origin)
    }

    /// Adds a plugin from a file with a checkpoint to resume from: as
    /// [`Self::add_restored`].
    ///
    /// # Errors
    /// As [`Self::add_file`].
    pub fn add_file_restored(
        &self,
        id: &PluginId,
        path: &Path,
        settings: PluginSettings,
        from_config: bool,
        saved: &crate::SavedState,
    ) -> Result<PluginView, ControlError> {
        let wasm = read(path)?;
        let origin = Origin::File {
            path: path.to_path_buf(),
            from_config,
        };
        self.add_restored(id, &wasm, settings, origin, saved)
    }

    /// Adds a plugin with a checkpoint to resume from (one a previous run
    /// persisted): the state is restored and the stream is delivered from
    /// after the position it covers. If the plugin refuses the state it
    /// starts fresh, and its status says why.
    ///
    /// # Errors
    /// As [`Self::add_bytes`].
    pub fn add_restored(
        &self,
        id: &PluginId,
        wasm: &[u8],
        settings: PluginSettings,
        origin: Origin,
        saved: &crate::SavedState,
    ) -> Result<PluginView, ControlError> {
        let (version, mut instance) = prepare(&self.engine, wasm, id.as_str(), &settings)?;
        let refused = instance.restore(&saved.state).err();
        let (version, instance, resume) = match refused {
            None => (version, instance, Resume::from(saved)),
            // A refused restore may have left the instance half-done.
            Some(_) => {
                let (v, i) = prepare(&self.engine, wasm, id.as_str(), &settings)?;
                (v, i, Resume::default())
            }
        };
        let view = self.add_prepared(id, version, instance, settings, origin, resume)?;
        match refused {
            Some(e) => {
                tracing::warn!(plugin = %id, "the saved state was refused; starting fresh: {e}");
                view.metrics
                    .record_error(format!("the saved state was refused; started fresh: {e}"));
            }
            None => {
                tracing::info!(plugin = %id, bytes = saved.state.len(), position = ?saved.position, "state restored from the last run");
            }
        }
        Ok(view)
    }

    /// Adds a plugin: compiles, starts and initializes it, then starts its
    /// worker and its route.
    ///
    /// # Errors
    /// [`ControlError::Exists`], or a [`LoadError`] saying what is wrong.
    pub fn add_bytes(
        &self,
        id: &PluginId,
        wasm: &[u8],
        settings: PluginSettings,
        origin: Origin,
    ) -> Result<PluginView, ControlError> {
        // Refused before compiling; checked again, under the lock, when added.
        if self.slot(id.as_str()).is_ok() {
            return Err(ControlError::Exists(id.to_string()));
        }
        let (version, instance) = prepare(&self.engine, wasm, id.as_str(), &settings)?;
        self.add_prepared(id, version, instance, settings, origin, Resume::default())
    }

    /// Says that `id`'s outputs were delivered up to its batch at
    /// `position` (called again with the batch before, when that batch was
    /// delivered in part) by a sink that identifies them by batch position and
    /// cannot take them back (a message stream): when the plugin is next
    /// added resuming before it, its batches end at that position again
    /// ([`prism_router::Route::fenced_at`]), so what it makes anew is
    /// dropped by that sink whole or is new whole.
    pub fn fence(&self, id: &str, position: u64) {
        lock(&self.fences)
            .entry(id.to_owned())
            .or_default()
            .push(position);
    }

    /// Adds a plugin whose first instance was prepared already (by
    /// [`prepare`](crate::prepare) with the same `settings`): starts its
    /// worker, then its route. `resume`: where the instance's state stands
    /// (restored from a checkpoint; the default for a fresh one).
    ///
    /// # Errors
    /// [`ControlError::Exists`], or the worker could not start.
    pub fn add_prepared(
        &self,
        id: &PluginId,
        version: PluginVersion,
        instance: PluginInstance,
        settings: PluginSettings,
        origin: Origin,
        resume: Resume,
    ) -> Result<PluginView, ControlError> {
        let _registry = lock(&self.registry);
        if self.slot(id.as_str()).is_ok() {
            return Err(ControlError::Exists(id.to_string()));
        }
        let outputs = lock(&self.outputs)
            .clone()
            .ok_or_else(|| ControlError::Gone(id.to_string()))?;
        let version = Arc::new(version);
        let subscription =
            crate::settings::subscription_of(&version, &settings).map_err(ControlError::Load)?;
        let (queue_tx, queue_rx) = plugin_queue(self.settings.queue_batches);
        let metrics = Arc::new(PluginMetrics::new(self.settings.dead_letters));
        let name: Arc<str> = Arc::from(id.as_str());
        let executor = paper_account(&name, &settings, resume.account.as_deref(), &self.exposure);
        let partition = settings.partition;
        let worker = self.pool.spawn(WorkerParts {
            id: name.clone(),
            version: version.clone(),
            instance,
            queue: queue_rx,
            outputs,
            metrics: metrics.clone(),
            recovery: self.settings.recovery,
            on_fault: self.on_fault.clone(),
            position: resume.position,
            instruments: resume.instruments,
            executor,
        });
        let slot = Arc::new(PluginSlot {
            id: id.clone(),
            metrics,
            queue_depth: queue_tx.depth_gauge(),
            worker,
            ops: Mutex::new(()),
            state: RwLock::new(SlotState {
                current: version.clone(),
                settings: settings.clone(),
                subscription: subscription.clone(),
                origin,
                loaded_at_ms: wall_ms(),
                history: History::new(&version, settings, self.settings.versions_kept),
                paused: false,
                candidate: None,
            }),
        });
        let fences = lock(&self.fences).remove(id.as_str()).unwrap_or_default();
        let mut route = Route::new(
            &name,
            Filter::from(&subscription).partitioned(partition),
            queue_tx,
        )
        .resuming_after(resume.position)
        .fenced_at(&fences);
        if self.rewinding.load(std::sync::atomic::Ordering::Relaxed) {
            route = route.after_rewind();
        }
        if self
            .router
            .send(RouterCommand::Add(Box::new(route)))
            .is_err()
        {
            return Err(ControlError::Gone(id.to_string()));
        }
        self.plugins
            .write_unpoisoned()
            .insert(id.to_string(), slot.clone());
        tracing::info!(plugin = %id, "plugin started");
        self.publish_plugin(&slot);
        self.publish_versions(&slot);
        Ok(view_of(&slot))
    }

    /// Removes a plugin: its route closes, its worker drains and ends.
    ///
    /// # Errors
    /// [`ControlError::NotFound`].
    pub fn remove(&self, id: &str) -> Result<(), ControlError> {
        let _registry = lock(&self.registry);
        let slot = self
            .plugins
            .write_unpoisoned()
            .remove(id)
            .ok_or_else(|| ControlError::NotFound(id.to_owned()))?;
        let _ = self.router.send(RouterCommand::Remove(Arc::from(id)));
        self.publish(RegistryChange::Removed { id: Arc::from(id) });
        // The worker ends once its queue drains; nobody needs to wait.
        drop(slot);
        tracing::info!(plugin = %id, "plugin removed");
        Ok(())
    }

    /// The component plugin `id` runs: its upload, or its file while the
    /// file still holds what runs (`None` once the file has changed, or
    /// for no such plugin).
    #[must_use]
    pub fn code_of(&self, id: &str) -> Option<Arc<[u8]>> {
        let slot = self.slot(id).ok()?;
        let state = slot.state.read_unpoisoned();
        match &state.origin {
            Origin::Upload { component } => Some(component.clone()),
            Origin::File { path, .. } => {
                let bytes = std::fs::read(path).ok()?;
                (prism_runtime::content_digest(&bytes) == state.current.digest())
                    .then(|| Arc::from(bytes))
            }
        }
    }

    /// Every plugin's view, by id.
    #[must_use]
    pub fn views(&self) -> Vec<PluginView> {
        self.slots().iter().map(|s| view_of(s)).collect()
    }

    /// One plugin's view.
    #[must_use]
    pub fn view(&self, id: &str) -> Option<PluginView> {
        self.slot(id).ok().map(|s| view_of(&s))
    }

    /// Hands a registry change to the sink stage (durable sinks keep the
    /// registry, to start the same plugins after a restart).
    fn publish(&self, change: RegistryChange) {
        let sender = lock(&self.outputs).clone();
        if let Some(tx) = sender {
            let _ = tx.send(Delivery::Registry(change));
        }
    }

    /// Publishes what a plugin is now: its code, config, settings, pause.
    fn publish_plugin(&self, slot: &PluginSlot) {
        let record = {
            let s = slot.state.read_unpoisoned();
            PluginRecord {
                id: Arc::from(slot.id.as_str()),
                origin: match &s.origin {
                    Origin::File { path, from_config } => PluginOrigin::File {
                        path: path.display().to_string(),
                        from_config: *from_config,
                    },
                    Origin::Upload { component } => PluginOrigin::Upload {
                        component: component.clone(),
                    },
                },
                sha256: Arc::from(s.current.digest()),
                config_json: s.current.settings.config_json.clone(),
                settings_json: s.settings.durable_json(),
                paused: s.paused,
            }
        };
        self.publish(RegistryChange::Upsert(record));
    }

    /// Publishes the version records not published yet.
    fn publish_versions(&self, slot: &PluginSlot) {
        let fresh = slot.state.write_unpoisoned().history.take_unpublished();
        for r in fresh {
            self.publish(RegistryChange::Version(VersionEntry {
                plugin: Arc::from(slot.id.as_str()),
                loaded_at_ms: r.loaded_at_ms,
                sha256: r.sha256,
                name: r.name,
                version: r.version,
                config_json: r.config.to_string(),
                change: r.change.as_str(),
                status: r.status.as_str(),
                error: r.error,
            }));
        }
    }

    /// What the host holds against its limits.
    #[must_use]
    pub fn capacity(&self) -> crate::view::Capacity {
        let pool = self.engine.pool_usage();
        let engine = self.engine.settings();
        crate::view::Capacity {
            instances: pool.instances,
            max_instances: engine.max_instances,
            quick_instances: self.engine.quick_usage().instances,
            max_quick_instances: engine.quick_instances,
            worker_threads: self.pool.threads(),
            queue_batches: self.settings.queue_batches.max(1),
            max_memory_bytes: engine.max_memory_bytes as u64,
            pool_unused_resident_bytes: pool.unused_resident_bytes,
        }
    }

    /// Lets the sink stage end once every worker has: drops the
    /// supervisor's own handle on the output channel and waits for workers.
    pub(crate) fn shut_down(&self) {
        lock(&self.outputs).take();
        for slot in self.slots() {
            if slot.worker.wait() == Ended::Panicked {
                tracing::error!(plugin = %slot.id, "the plugin's worker panicked");
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ControlError> {
    std::fs::read(path).map_err(|e| ControlError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn view_of(slot: &PluginSlot) -> PluginView {
    let state = slot.state.read_unpoisoned();
    PluginView {
        id: slot.id.to_string(),
        name: state.current.info.name.clone(),
        version: state.current.info.version.clone(),
        contract: state.current.info.contract.version(),
        sha256: state.current.digest().to_owned(),
        code: state.current.module.tier().as_str(),
        source: match &state.origin {
            Origin::File { path, .. } => path.display().to_string(),
            Origin::Upload { .. } => "upload".to_owned(),
        },
        config: serde_json::from_str(&state.current.settings.config_json)
            .unwrap_or(serde_json::Value::Null),
        subscription: state.subscription.clone(),
        loaded_at_ms: state.loaded_at_ms,
        candidate: state.candidate.as_ref().map(candidate::CandidateSlot::view),
        metrics: slot.metrics.clone(),
        queue_depth: slot.queue_depth.clone(),
    }
}
