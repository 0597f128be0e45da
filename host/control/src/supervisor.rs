//! The supervisor: the registry of plugins and the operations on them.
//!
//! It never sits on the hot path. Workers and the router get its decisions
//! as typed commands on their own channels, and the registry's locks are
//! taken only by control operations and API reads.

use crate::error::ControlError;
use crate::load::{PluginSettings, effective_subscription, filter_of, prepare};
use crate::view::{Change, PluginView, VersionRecord, VersionStatus};
use crossbeam_channel::{Sender, bounded};
use prism_model::PluginId;
use prism_router::{Route, RouterCommand, plugin_queue};
use prism_runtime::worker::{
    FaultReporter, OutputSender, RecoverySettings, SnapshotSink, WorkerCommand, WorkerParts,
    spawn_worker,
};
use prism_runtime::{
    LoadError, PluginEngine, PluginInstance, PluginMetrics, PluginVersion, Subscription,
    metrics::wall_ms,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the supervisor runs workers.
#[derive(Debug, Clone, Copy)]
pub struct SupervisorSettings {
    /// Batches a plugin's queue holds before the source is held back.
    pub queue_batches: usize,
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
            recovery: RecoverySettings::default(),
            dead_letters: 1000,
            answer_timeout: Duration::from_secs(120),
            versions_kept: 10,
            plugin_defaults: prism_config::PluginLimitsConfig::default(),
        }
    }
}

/// Whether a swap may bring in code that calls itself another plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rename {
    /// The new code must give the running one's name (the default: a swap
    /// keeps a plugin's identity, and its state is only meant for it).
    Refuse,
    /// The operator asked for another plugin under this id.
    Allow,
}

/// Where a plugin's code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file, watched for changes; `from_config` when the config file
    /// lists it (a config reload may then remove it).
    File { path: PathBuf, from_config: bool },
    /// Uploaded through the admin API.
    Upload,
}

struct VersionEntry {
    record: VersionRecord,
    /// The runnable version, for rollback (none for failed entries).
    version: Option<Arc<PluginVersion>>,
    settings: PluginSettings,
}

/// The control-plane facts of one plugin.
struct SlotState {
    current: Arc<PluginVersion>,
    settings: PluginSettings,
    subscription: Subscription,
    origin: Origin,
    loaded_at_ms: i64,
    history: Vec<VersionEntry>,
    next_seq: u64,
}

struct PluginSlot {
    id: PluginId,
    metrics: Arc<PluginMetrics>,
    queue_depth: Arc<AtomicUsize>,
    control: Sender<WorkerCommand>,
    /// One control operation at a time per plugin.
    ops: Mutex<()>,
    state: RwLock<SlotState>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

/// The registry of running plugins and the operations on them.
pub struct Supervisor {
    pub(crate) engine: PluginEngine,
    settings: SupervisorSettings,
    router: Sender<RouterCommand>,
    outputs: Mutex<Option<OutputSender>>,
    plugins: RwLock<BTreeMap<String, Arc<PluginSlot>>>,
    /// Serializes adding and removing plugins.
    registry: Mutex<()>,
    on_fault: FaultReporter,
    on_snapshot: Option<SnapshotSink>,
}

fn config_value(json: &str) -> serde_json::Value {
    serde_json::from_str(json).unwrap_or(serde_json::Value::Null)
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
        on_snapshot: Option<SnapshotSink>,
    ) -> Self {
        Self {
            engine,
            settings,
            router,
            outputs: Mutex::new(Some(outputs)),
            plugins: RwLock::default(),
            registry: Mutex::new(()),
            on_fault: Arc::new(|plugin: &str, fault| {
                tracing::error!(plugin, kind = ?fault.kind, "plugin failed: {}", fault.message);
            }),
            on_snapshot,
        }
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

    /// Ids of the plugins that came from files, with their paths.
    #[must_use]
    pub fn watched_files(&self) -> Vec<(String, PathBuf, bool)> {
        self.slots()
            .iter()
            .filter_map(|s| match &s.state.read_unpoisoned().origin {
                Origin::File { path, from_config } => {
                    Some((s.id.to_string(), path.clone(), *from_config))
                }
                Origin::Upload => None,
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

    fn slots(&self) -> Vec<Arc<PluginSlot>> {
        self.plugins.read_unpoisoned().values().cloned().collect()
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

    /// Adds a plugin from a file with a state to start from (a snapshot
    /// persisted before a restart). If the plugin refuses the state it
    /// starts fresh, and its status says why.
    ///
    /// # Errors
    /// As [`Self::add_file`].
    pub fn add_file_restored(
        &self,
        id: &PluginId,
        path: &Path,
        settings: PluginSettings,
        from_config: bool,
        state: &[u8],
    ) -> Result<PluginView, ControlError> {
        let wasm = read(path)?;
        let (version, mut instance) = prepare(&self.engine, &wasm, id.as_str(), &settings)?;
        let refused = instance.restore(state).err();
        let (version, instance) = match refused {
            None => (version, instance),
            // A refused restore may have left the instance half-done.
            Some(_) => prepare(&self.engine, &wasm, id.as_str(), &settings)?,
        };
        let origin = Origin::File {
            path: path.to_path_buf(),
            from_config,
        };
        let view = self.add_prepared(id, version, instance, settings, origin)?;
        match refused {
            Some(e) => {
                tracing::warn!(plugin = %id, "the saved state was refused; starting fresh: {e}");
                view.metrics
                    .record_error(format!("the saved state was refused; started fresh: {e}"));
            }
            None => {
                tracing::info!(plugin = %id, bytes = state.len(), "state restored from the last run")
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
        self.add_prepared(id, version, instance, settings, origin)
    }

    /// Adds a plugin whose first instance was prepared already (by
    /// [`prepare`](crate::prepare) with the same `settings`).
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
    ) -> Result<PluginView, ControlError> {
        let _registry = lock(&self.registry);
        if self.slot(id.as_str()).is_ok() {
            return Err(ControlError::Exists(id.to_string()));
        }
        self.start_worker(id, version, instance, settings, origin)
    }

    fn start_worker(
        &self,
        id: &PluginId,
        version: PluginVersion,
        instance: PluginInstance,
        settings: PluginSettings,
        origin: Origin,
    ) -> Result<PluginView, ControlError> {
        let outputs = lock(&self.outputs)
            .clone()
            .ok_or_else(|| ControlError::Gone(id.to_string()))?;
        let version = Arc::new(version);
        let subscription =
            effective_subscription(&version.info.subscription, settings.subscription.as_ref());
        let (queue_tx, queue_rx) = plugin_queue(self.settings.queue_batches);
        let (control_tx, control_rx) = crossbeam_channel::unbounded();
        let metrics = Arc::new(PluginMetrics::new(self.settings.dead_letters));
        let name: Arc<str> = Arc::from(id.as_str());
        let now = wall_ms();
        let record = VersionRecord {
            seq: 1,
            sha256: version.digest().to_owned(),
            name: Some(version.info.name.clone()),
            version: Some(version.info.version.clone()),
            config: config_value(&version.settings.config_json),
            change: Change::Start,
            status: VersionStatus::Active,
            loaded_at_ms: now,
            error: None,
        };
        let slot = Arc::new(PluginSlot {
            id: id.clone(),
            metrics: metrics.clone(),
            queue_depth: queue_tx.depth_gauge(),
            control: control_tx,
            ops: Mutex::new(()),
            state: RwLock::new(SlotState {
                current: version.clone(),
                settings: settings.clone(),
                subscription: subscription.clone(),
                origin,
                loaded_at_ms: now,
                history: vec![VersionEntry {
                    record,
                    version: Some(version.clone()),
                    settings,
                }],
                next_seq: 2,
            }),
            worker: Mutex::new(None),
        });
        let worker = spawn_worker(WorkerParts {
            id: name.clone(),
            version,
            instance,
            queue: queue_rx,
            control: control_rx,
            outputs,
            metrics,
            recovery: self.settings.recovery,
            on_fault: self.on_fault.clone(),
            on_snapshot: self.on_snapshot.clone(),
        })
        .map_err(|e| {
            ControlError::Load(LoadError::Engine(format!("cannot start a thread: {e}")))
        })?;
        *lock(&slot.worker) = Some(worker);
        let route = Route::new(&name, filter_of(&subscription), queue_tx);
        if self.router.send(RouterCommand::Add(route)).is_err() {
            return Err(ControlError::Gone(id.to_string()));
        }
        self.plugins
            .write_unpoisoned()
            .insert(id.to_string(), slot.clone());
        tracing::info!(plugin = %id, "plugin started");
        Ok(view_of(&slot))
    }

    /// Swaps plugin `id` to new code from `wasm`, under its current settings.
    /// The new code must be the same plugin (the name its `init` gives),
    /// unless `rename` allows another.
    ///
    /// # Errors
    /// The component does not load or start, names another plugin, or the
    /// worker refused it; the running version stays.
    pub fn replace_bytes(
        &self,
        id: &str,
        wasm: &[u8],
        change: Change,
        rename: Rename,
    ) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let _op = lock(&slot.ops);
        let (settings, name) = {
            let s = slot.state.read_unpoisoned();
            (s.settings.clone(), s.current.info.name.clone())
        };
        let digest = prism_runtime::content_digest(wasm);
        let prepared = prepare(&self.engine, wasm, id, &settings)
            .map_err(ControlError::from)
            .and_then(|(version, instance)| {
                if rename == Rename::Refuse && version.info.name != name {
                    return Err(ControlError::NameChanged {
                        id: id.to_owned(),
                        from: name,
                        to: version.info.name,
                    });
                }
                Ok((version, instance))
            });
        match prepared {
            Ok((version, instance)) => self.swap(&slot, version, instance, settings, change),
            Err(e) => Err(self.refused(&slot, digest, &settings, change, e)),
        }
    }

    /// Swaps plugin `id` to uploaded code (as [`Self::replace_bytes`]); from
    /// then on the upload is the plugin's source: its file, if it had one,
    /// is no longer watched, and a reload re-initializes the uploaded code.
    ///
    /// # Errors
    /// As [`Self::replace_bytes`].
    pub fn upload_wasm(
        &self,
        id: &str,
        wasm: &[u8],
        rename: Rename,
    ) -> Result<PluginView, ControlError> {
        self.replace_bytes(id, wasm, Change::Wasm, rename)?;
        let slot = self.slot(id)?;
        slot.state.write_unpoisoned().origin = Origin::Upload;
        Ok(view_of(&slot))
    }

    /// Re-initializes plugin `id` with new settings (same code).
    ///
    /// # Errors
    /// `init` refuses the config, or the worker refused the swap.
    pub fn replace_settings(
        &self,
        id: &str,
        settings: PluginSettings,
    ) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let _op = lock(&slot.ops);
        let (current, old) = {
            let s = slot.state.read_unpoisoned();
            (s.current.clone(), s.settings.clone())
        };
        let only_subscription = PluginSettings {
            subscription: settings.subscription.clone(),
            ..old.clone()
        } == settings;
        if only_subscription {
            if old.subscription != settings.subscription {
                self.set_subscription(&slot, &current, settings);
            }
            return Ok(view_of(&slot));
        }
        let started = prism_runtime::PluginVersion::prepare(
            current.module.clone(),
            id,
            crate::load::instance_settings(id, &settings),
        );
        match started {
            Ok((version, instance)) => {
                self.swap(&slot, version, instance, settings, Change::Config)
            }
            Err(e) => Err(self.refused(
                &slot,
                current.digest().to_owned(),
                &settings,
                Change::Config,
                e.into(),
            )),
        }
    }

    fn set_subscription(
        &self,
        slot: &PluginSlot,
        version: &PluginVersion,
        settings: PluginSettings,
    ) {
        let subscription =
            effective_subscription(&version.info.subscription, settings.subscription.as_ref());
        let mut state = slot.state.write_unpoisoned();
        if state.subscription != subscription {
            let _ = self.router.send(RouterCommand::SetFilter(
                Arc::from(slot.id.as_str()),
                filter_of(&subscription),
            ));
        }
        state.subscription = subscription;
        state.settings = settings;
    }

    /// Hands a started version to the worker and waits for its answer.
    fn swap(
        &self,
        slot: &PluginSlot,
        version: PluginVersion,
        instance: PluginInstance,
        settings: PluginSettings,
        change: Change,
    ) -> Result<PluginView, ControlError> {
        let version = Arc::new(version);
        let (reply, answer) = bounded(1);
        let command = WorkerCommand::Swap {
            version: version.clone(),
            instance: Box::new(instance),
            reply,
        };
        if slot.control.send(command).is_err() {
            return Err(ControlError::Gone(slot.id.to_string()));
        }
        let result = match answer.recv_timeout(self.settings.answer_timeout) {
            Ok(r) => r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                return Err(ControlError::Timeout(
                    slot.id.to_string(),
                    self.settings.answer_timeout.as_secs(),
                ));
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(ControlError::Gone(slot.id.to_string()));
            }
        };
        if let Err(refusal) = result {
            return Err(self.refused(
                slot,
                version.digest().to_owned(),
                &settings,
                change,
                ControlError::Refused(refusal),
            ));
        }
        self.became_active(slot, &version, settings.clone(), change);
        self.set_subscription(slot, &version, settings);
        tracing::info!(plugin = %slot.id, sha256 = version.digest(), ?change, "plugin swapped");
        Ok(view_of(slot))
    }

    fn became_active(
        &self,
        slot: &PluginSlot,
        version: &Arc<PluginVersion>,
        settings: PluginSettings,
        change: Change,
    ) {
        let now = wall_ms();
        let mut state = slot.state.write_unpoisoned();
        for entry in &mut state.history {
            if entry.record.status == VersionStatus::Active {
                entry.record.status = VersionStatus::Previous;
            }
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.history.push(VersionEntry {
            record: VersionRecord {
                seq,
                sha256: version.digest().to_owned(),
                name: Some(version.info.name.clone()),
                version: Some(version.info.version.clone()),
                config: config_value(&version.settings.config_json),
                change,
                status: VersionStatus::Active,
                loaded_at_ms: now,
                error: None,
            },
            version: Some(version.clone()),
            settings,
        });
        state.current = version.clone();
        state.loaded_at_ms = now;
        self.trim_history(&mut state);
    }

    /// Records a refused change and returns its error.
    fn refused(
        &self,
        slot: &PluginSlot,
        digest: String,
        settings: &PluginSettings,
        change: Change,
        error: ControlError,
    ) -> ControlError {
        let message = format!("{change:?} refused: {error}").to_lowercase();
        tracing::warn!(plugin = %slot.id, "{message}");
        slot.metrics
            .swap_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        slot.metrics.record_error(message);
        let mut state = slot.state.write_unpoisoned();
        let seq = state.next_seq;
        state.next_seq += 1;
        state.history.push(VersionEntry {
            record: VersionRecord {
                seq,
                sha256: digest,
                name: None,
                version: None,
                config: config_value(&settings.config_json),
                change,
                status: VersionStatus::Failed,
                loaded_at_ms: wall_ms(),
                error: Some(error.to_string()),
            },
            version: None,
            settings: settings.clone(),
        });
        self.trim_history(&mut state);
        error
    }

    fn trim_history(&self, state: &mut SlotState) {
        let keep = self.settings.versions_kept.max(2);
        while state.history.len() > keep {
            // Drop the oldest entry that is not the running version.
            match state
                .history
                .iter()
                .position(|e| e.record.status != VersionStatus::Active)
            {
                Some(at) => {
                    state.history.remove(at);
                }
                None => break,
            }
        }
    }

    /// Re-reads a file plugin's code (even if unchanged), or re-initializes
    /// an uploaded one.
    ///
    /// # Errors
    /// As [`Self::replace_bytes`].
    pub fn reload_plugin(&self, id: &str) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let (origin, current, settings) = {
            let s = slot.state.read_unpoisoned();
            (s.origin.clone(), s.current.clone(), s.settings.clone())
        };
        match origin {
            Origin::File { path, .. } => {
                let wasm = read(&path)?;
                self.replace_bytes(id, &wasm, Change::Reload, Rename::Refuse)
            }
            Origin::Upload => {
                let _op = lock(&slot.ops);
                let (version, instance) = prism_runtime::PluginVersion::prepare(
                    current.module.clone(),
                    id,
                    crate::load::instance_settings(id, &settings),
                )
                .map_err(|e| {
                    self.refused(
                        &slot,
                        current.digest().to_owned(),
                        &settings,
                        Change::Reload,
                        e.into(),
                    )
                })?;
                self.swap(&slot, version, instance, settings, Change::Reload)
            }
        }
    }

    /// Reloads a file plugin if its content changed (the watcher's entry point).
    ///
    /// # Errors
    /// As [`Self::replace_bytes`].
    pub fn file_changed(&self, id: &str, path: &Path) -> Result<Option<PluginView>, ControlError> {
        let slot = self.slot(id)?;
        let wasm = read(path)?;
        let digest = prism_runtime::content_digest(&wasm);
        let unchanged = slot
            .state
            .read()
            .map(|s| s.current.digest() == digest)
            .unwrap_or(false);
        if unchanged {
            return Ok(None);
        }
        self.replace_bytes(id, &wasm, Change::Wasm, Rename::Refuse)
            .map(Some)
    }

    /// Points a file plugin at another file (a config change) and swaps to
    /// it, unless the new file holds the code already running (then only
    /// the path changes: no new version, no swap).
    ///
    /// # Errors
    /// As [`Self::replace_bytes`].
    pub fn move_file(&self, id: &str, path: &Path) -> Result<PluginView, ControlError> {
        let wasm = read(path)?;
        let slot = self.slot(id)?;
        let unchanged =
            slot.state.read_unpoisoned().current.digest() == prism_runtime::content_digest(&wasm);
        if !unchanged {
            self.replace_bytes(id, &wasm, Change::Wasm, Rename::Refuse)?;
        }
        if let Origin::File { path: p, .. } = &mut slot.state.write_unpoisoned().origin {
            *p = path.to_path_buf();
        }
        Ok(view_of(&slot))
    }

    /// Returns to the most recent earlier version (code and config).
    ///
    /// # Errors
    /// [`ControlError::NoPrevious`], or the swap refused.
    pub fn rollback_plugin(&self, id: &str) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let _op = lock(&slot.ops);
        let target = {
            let s = slot.state.read_unpoisoned();
            s.history
                .iter()
                .rev()
                .find(|e| e.record.status == VersionStatus::Previous)
                .and_then(|e| Some((e.version.clone()?, e.settings.clone())))
        };
        let Some((version, settings)) = target else {
            return Err(ControlError::NoPrevious(id.to_owned()));
        };
        let instance = version.start(id).map_err(|e| {
            self.refused(
                &slot,
                version.digest().to_owned(),
                &settings,
                Change::Rollback,
                e.into(),
            )
        })?;
        self.swap(
            &slot,
            (*version).clone(),
            instance,
            settings,
            Change::Rollback,
        )
    }

    /// Sends a command that answers, and waits for the answer.
    fn ask(
        &self,
        id: &str,
        command: impl FnOnce(prism_runtime::worker::Reply) -> WorkerCommand,
    ) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let _op = lock(&slot.ops);
        let (reply, answer) = bounded(1);
        slot.control
            .send(command(reply))
            .map_err(|_| ControlError::Gone(id.to_owned()))?;
        match answer.recv_timeout(self.settings.answer_timeout) {
            Ok(Ok(())) => Ok(view_of(&slot)),
            Ok(Err(refusal)) => Err(ControlError::Refused(refusal)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(ControlError::Timeout(
                id.to_owned(),
                self.settings.answer_timeout.as_secs(),
            )),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                Err(ControlError::Gone(id.to_owned()))
            }
        }
    }

    /// Pauses a plugin.
    ///
    /// # Errors
    /// Unknown id, or a plugin that is not running.
    pub fn pause_plugin(&self, id: &str) -> Result<PluginView, ControlError> {
        self.ask(id, |reply| WorkerCommand::Pause { reply })
    }

    /// Resumes a paused, quarantined or failed plugin.
    ///
    /// # Errors
    /// Unknown id, or a plugin that cannot restart from its last state.
    pub fn resume_plugin(&self, id: &str) -> Result<PluginView, ControlError> {
        self.ask(id, |reply| WorkerCommand::Resume { reply })
    }

    /// Removes a plugin: its route closes, its worker drains and ends.
    ///
    /// # Errors
    /// [`ControlError::NotFound`].
    pub fn remove_plugin(&self, id: &str) -> Result<(), ControlError> {
        let _registry = lock(&self.registry);
        let slot = self
            .plugins
            .write_unpoisoned()
            .remove(id)
            .ok_or_else(|| ControlError::NotFound(id.to_owned()))?;
        let _ = self.router.send(RouterCommand::Remove(Arc::from(id)));
        if let Some(worker) = lock(&slot.worker).take() {
            // The worker ends once its queue drains; nobody needs to wait.
            std::thread::spawn(move || {
                let _ = worker.join();
            });
        }
        tracing::info!(plugin = %id, "plugin removed");
        Ok(())
    }

    /// Every plugin's view, by id.
    #[must_use]
    pub fn all_views(&self) -> Vec<PluginView> {
        self.slots().iter().map(|s| view_of(s)).collect()
    }

    /// One plugin's view.
    #[must_use]
    pub fn view_of_id(&self, id: &str) -> Option<PluginView> {
        self.slot(id).ok().map(|s| view_of(&s))
    }

    /// A plugin's version history, oldest first.
    ///
    /// # Errors
    /// [`ControlError::NotFound`].
    pub fn history(&self, id: &str) -> Result<Vec<VersionRecord>, ControlError> {
        let slot = self.slot(id)?;
        let state = slot.state.read_unpoisoned();
        Ok(state.history.iter().map(|e| e.record.clone()).collect())
    }

    /// Lets the output stage end once every worker has: drops the
    /// supervisor's own handle on the output channel and waits for workers.
    pub(crate) fn shut_down(&self) {
        lock(&self.outputs).take();
        for slot in self.slots() {
            if let Some(worker) = lock(&slot.worker).take()
                && worker.join().is_err()
            {
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
        sha256: state.current.digest().to_owned(),
        source: match &state.origin {
            Origin::File { path, .. } => path.display().to_string(),
            Origin::Upload => "upload".to_owned(),
        },
        config: config_value(&state.current.settings.config_json),
        subscription: state.subscription.clone(),
        loaded_at_ms: state.loaded_at_ms,
        metrics: slot.metrics.clone(),
        queue_depth: slot.queue_depth.clone(),
    }
}
