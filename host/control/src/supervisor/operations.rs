//! Changing a running plugin: the swap protocol (prepare off the hot path,
//! hand over between two batches, record the outcome), pause, resume,
//! rollback, and the admin API's operations.

use super::{Origin, PluginSlot, Supervisor, Unpoisoned, lock, read, view_of};
use crate::error::ControlError;
use crate::settings::{PluginSettings, instance_settings, prepare};
use crate::view::{Change, PluginControl, PluginView, VersionRecord};
use crossbeam_channel::{RecvTimeoutError, bounded};
use prism_model::{PluginId, wall_ms};
use prism_router::{Filter, RouterCommand};
use prism_runtime::{PluginInstance, PluginVersion, content_digest};
use prism_worker::{AccountAnswer, AccountCommand, Refusal, WorkerCommand};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Sends `slot`'s worker a command that answers, and waits for the answer
/// (at most `timeout`).
pub(super) fn ask<T>(
    slot: &PluginSlot,
    timeout: std::time::Duration,
    command: impl FnOnce(crossbeam_channel::Sender<Result<T, Refusal>>) -> WorkerCommand,
) -> Result<T, ControlError> {
    let (reply, answer) = bounded(1);
    let gone = || ControlError::Gone(slot.id.to_string());
    slot.worker.send(command(reply)).map_err(|_| gone())?;
    match answer.recv_timeout(timeout) {
        Ok(result) => result.map_err(ControlError::Refused),
        Err(RecvTimeoutError::Timeout) => Err(ControlError::Timeout(
            slot.id.to_string(),
            timeout.as_secs(),
        )),
        Err(RecvTimeoutError::Disconnected) => Err(gone()),
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

impl Supervisor {
    /// Sends the plugin's worker a command that answers, and waits for the
    /// answer (at most `answer_timeout`).
    pub(super) fn ask<T>(
        &self,
        slot: &PluginSlot,
        command: impl FnOnce(crossbeam_channel::Sender<Result<T, Refusal>>) -> WorkerCommand,
    ) -> Result<T, ControlError> {
        ask(slot, self.settings.answer_timeout, command)
    }

    /// One change of a plugin's version, under its operation lock: prepare
    /// the new version off the hot path, then swap to it; whatever refuses
    /// it is recorded in the history and the running version stays.
    fn change(
        &self,
        slot: &PluginSlot,
        change: Change,
        settings: PluginSettings,
        digest: String,
        prepare: impl FnOnce() -> Result<(PluginVersion, PluginInstance), ControlError>,
    ) -> Result<PluginView, ControlError> {
        let _op = lock(&slot.ops);
        let result = prepare().and_then(|(version, instance)| {
            let version = Arc::new(version);
            self.ask(slot, |reply| WorkerCommand::Swap {
                version: version.clone(),
                instance: Box::new(instance),
                same_version: false,
                reply,
            })
            .map(|()| version)
        });
        match result {
            Ok(version) => {
                self.activated(slot, &version, settings, change);
                Ok(view_of(slot))
            }
            Err(error) => {
                let message = format!("{change:?} refused: {error}").to_lowercase();
                tracing::warn!(plugin = %slot.id, "{message}");
                slot.metrics.swap_failures.fetch_add(1, Ordering::Relaxed);
                slot.metrics.record_error(message);
                slot.state.write_unpoisoned().history.refuse(
                    digest,
                    settings,
                    change,
                    error.to_string(),
                );
                self.publish_versions(slot);
                Err(error)
            }
        }
    }

    /// Records that `version` runs now (the worker has switched to it):
    /// history, view, registry, subscription. A candidate there was is
    /// gone with the version it was compared with.
    pub(super) fn activated(
        &self,
        slot: &PluginSlot,
        version: &Arc<PluginVersion>,
        settings: PluginSettings,
        change: Change,
    ) {
        {
            let mut state = slot.state.write_unpoisoned();
            state.history.activate(version, settings.clone(), change);
            state.current = version.clone();
            state.loaded_at_ms = wall_ms();
            state.candidate = None;
        }
        // Counted once the new version is what the view shows, so a
        // reader that sees the count sees the version too.
        slot.metrics.swaps.fetch_add(1, Ordering::Release);
        self.publish_plugin(slot);
        self.publish_versions(slot);
        self.set_subscription(slot, version, settings);
        tracing::info!(plugin = %slot.id, sha256 = version.digest(), ?change, "plugin swapped");
    }

    fn set_subscription(
        &self,
        slot: &PluginSlot,
        version: &PluginVersion,
        settings: PluginSettings,
    ) {
        // Checked before: a version's own subscription always fits.
        let subscription = crate::settings::subscription_of(version, &settings)
            .unwrap_or_else(|_| version.info.subscription.clone());
        let mut state = slot.state.write_unpoisoned();
        if state.subscription != subscription {
            let _ = self.router.send(RouterCommand::SetFilter(
                Arc::from(slot.id.as_str()),
                Filter::from(&subscription).partitioned(settings.partition),
            ));
        }
        state.subscription = subscription;
        state.settings = settings;
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
        let (settings, name) = {
            let s = slot.state.read_unpoisoned();
            (s.settings.clone(), s.current.info.name.clone())
        };
        // A swap need not wait for optimized code: quick code first, the
        // optimized code swapped in underneath once compiled.
        let quick = self.engine.quick_for(wasm);
        let view = self.change(
            &slot,
            change,
            settings.clone(),
            content_digest(wasm),
            || {
                let prepared =
                    quick.and_then(|engine| match prepare(engine, wasm, id, &settings) {
                        Ok(prepared) => Some(prepared),
                        Err(e) => {
                            tracing::debug!(
                                plugin = id,
                                "no quick code, waiting for optimized: {e}"
                            );
                            None
                        }
                    });
                let (version, instance) = match prepared {
                    Some(prepared) => prepared,
                    None => prepare(&self.engine, wasm, id, &settings)?,
                };
                if rename == Rename::Refuse && version.info.name != name {
                    return Err(ControlError::NameChanged {
                        id: id.to_owned(),
                        from: name,
                        to: version.info.name,
                    });
                }
                Ok((version, instance))
            },
        )?;
        let running = slot.state.read_unpoisoned().current.clone();
        if running.module.tier() == prism_runtime::Tier::Quick {
            super::tiers::optimize_later(
                self.engine.clone(),
                slot,
                running,
                Arc::from(wasm),
                self.settings.answer_timeout,
            );
        }
        Ok(view)
    }

    /// Re-initializes plugin `id` with new settings (same code). A change
    /// of the subscription alone needs no new instance.
    ///
    /// # Errors
    /// `init` refuses the config, or the worker refused the swap.
    pub fn replace_settings(
        &self,
        id: &str,
        settings: PluginSettings,
    ) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let (current, mut old) = {
            let s = slot.state.read_unpoisoned();
            (s.current.clone(), s.settings.clone())
        };
        if old.execution != settings.execution {
            // The account takes the new fees and limits between two
            // batches; the plugin itself needs no restart for that.
            let _op = lock(&slot.ops);
            let execution = settings.execution.clone();
            self.ask(&slot, |reply| WorkerCommand::Account {
                command: Box::new(AccountCommand::Configure(execution, self.exposure.clone())),
                reply,
            })?;
            slot.state.write_unpoisoned().settings.execution = settings.execution.clone();
            old.execution = settings.execution.clone();
            if old == settings {
                self.publish_plugin(&slot);
                return Ok(view_of(&slot));
            }
        }
        let only_subscription = PluginSettings {
            subscription: settings.subscription.clone(),
            ..old.clone()
        } == settings;
        if only_subscription {
            crate::settings::subscription_of(&current, &settings).map_err(ControlError::Load)?;
            let _op = lock(&slot.ops);
            if old.subscription != settings.subscription {
                self.set_subscription(&slot, &current, settings);
                self.publish_plugin(&slot);
            }
            return Ok(view_of(&slot));
        }
        self.restart_code(&slot, &current, settings, Change::Config)
    }

    /// A fresh instance of the running code under `settings`, swapped in.
    fn restart_code(
        &self,
        slot: &PluginSlot,
        current: &PluginVersion,
        settings: PluginSettings,
        change: Change,
    ) -> Result<PluginView, ControlError> {
        let id = slot.id.as_str();
        let digest = current.digest().to_owned();
        self.change(slot, change, settings.clone(), digest, || {
            Ok(PluginVersion::prepare(
                current.module.clone(),
                id,
                instance_settings(id, &settings),
            )?)
        })
    }

    /// Reloads a file plugin if its content changed (the watcher's entry point).
    ///
    /// # Errors
    /// As [`Self::replace_bytes`].
    pub fn file_changed(&self, id: &str, path: &Path) -> Result<Option<PluginView>, ControlError> {
        let slot = self.slot(id)?;
        let wasm = read(path)?;
        if slot.state.read_unpoisoned().current.digest() == content_digest(&wasm) {
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
        let unchanged = slot.state.read_unpoisoned().current.digest() == content_digest(&wasm);
        if !unchanged {
            self.replace_bytes(id, &wasm, Change::Wasm, Rename::Refuse)?;
        }
        if let Origin::File { path: p, .. } = &mut slot.state.write_unpoisoned().origin {
            *p = path.to_path_buf();
        }
        self.publish_plugin(&slot);
        Ok(view_of(&slot))
    }
}

fn upload_settings(
    config_json: Option<&str>,
    limits: prism_config::PluginLimitsConfig,
) -> Result<PluginSettings, ControlError> {
    let config_json = config_json.unwrap_or("{}");
    check_config(config_json)?;
    Ok(PluginSettings {
        config_json: config_json.to_owned(),
        limits,
        ..PluginSettings::default()
    })
}

pub(super) fn check_config(json: &str) -> Result<(), ControlError> {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(ControlError::Invalid(
            "a plugin's config must be a JSON object".into(),
        )),
        Err(e) => Err(ControlError::Invalid(format!(
            "the plugin config is not JSON: {e}"
        ))),
    }
}

impl PluginControl for Supervisor {
    fn views(&self) -> Vec<PluginView> {
        Supervisor::views(self)
    }

    fn view(&self, id: &str) -> Option<PluginView> {
        Supervisor::view(self, id)
    }

    fn versions(&self, id: &str) -> Result<Vec<VersionRecord>, ControlError> {
        let slot = self.slot(id)?;
        let state = slot.state.read_unpoisoned();
        Ok(state.history.records())
    }

    fn add(
        &self,
        id: &str,
        wasm: &[u8],
        config_json: Option<&str>,
    ) -> Result<PluginView, ControlError> {
        let id = PluginId::new(id).map_err(|e| ControlError::InvalidId(e.to_string()))?;
        let settings = upload_settings(config_json, self.plugin_defaults())?;
        let component = Arc::from(wasm);
        self.add_bytes(&id, wasm, settings, Origin::Upload { component })
    }

    fn replace_wasm(
        &self,
        id: &str,
        wasm: &[u8],
        rename: Rename,
    ) -> Result<PluginView, ControlError> {
        self.replace_bytes(id, wasm, Change::Wasm, rename)?;
        // From now on the upload is the plugin's source: its file, if it
        // had one, is no longer watched, and a reload re-initializes it.
        let slot = self.slot(id)?;
        slot.state.write_unpoisoned().origin = Origin::Upload {
            component: Arc::from(wasm),
        };
        self.publish_plugin(&slot);
        Ok(view_of(&slot))
    }

    fn replace_config(&self, id: &str, config_json: &str) -> Result<PluginView, ControlError> {
        check_config(config_json)?;
        let settings = self
            .settings_of(id)
            .ok_or_else(|| ControlError::NotFound(id.to_owned()))?;
        self.replace_settings(
            id,
            PluginSettings {
                config_json: config_json.to_owned(),
                ..settings
            },
        )
    }

    fn pause(&self, id: &str) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let _op = lock(&slot.ops);
        self.ask(&slot, |reply| WorkerCommand::Pause { reply })?;
        slot.state.write_unpoisoned().paused = true;
        self.publish_plugin(&slot);
        Ok(view_of(&slot))
    }

    fn resume(&self, id: &str) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let _op = lock(&slot.ops);
        self.ask(&slot, |reply| WorkerCommand::Resume { reply })?;
        let was_paused = std::mem::replace(&mut slot.state.write_unpoisoned().paused, false);
        if was_paused {
            self.publish_plugin(&slot);
        }
        Ok(view_of(&slot))
    }

    fn reload(&self, id: &str) -> Result<PluginView, ControlError> {
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
            Origin::Upload { .. } => self.restart_code(&slot, &current, settings, Change::Reload),
        }
    }

    fn rollback(&self, id: &str) -> Result<PluginView, ControlError> {
        let slot = self.slot(id)?;
        let target = slot.state.read_unpoisoned().history.previous();
        let Some((version, settings)) = target else {
            return Err(ControlError::NoPrevious(id.to_owned()));
        };
        let digest = version.digest().to_owned();
        self.change(&slot, Change::Rollback, settings, digest, || {
            let instance = version.start(id)?;
            Ok(((*version).clone(), instance))
        })
    }

    fn remove(&self, id: &str) -> Result<(), ControlError> {
        Supervisor::remove(self, id)
    }

    fn account(&self, id: &str, command: AccountCommand) -> Result<AccountAnswer, ControlError> {
        let slot = self.slot(id)?;
        if slot.state.read_unpoisoned().settings.execution.is_none() {
            return Err(ControlError::Refused(Refusal::NoAccount));
        }
        self.ask(&slot, |reply| WorkerCommand::Account {
            command: Box::new(command),
            reply,
        })
    }

    fn start_candidate(
        &self,
        id: &str,
        wasm: &[u8],
        config_json: Option<&str>,
    ) -> Result<PluginView, ControlError> {
        Supervisor::start_candidate(self, id, wasm, config_json)
    }

    fn promote_candidate(&self, id: &str) -> Result<PluginView, ControlError> {
        Supervisor::promote_candidate(self, id)
    }

    fn discard_candidate(&self, id: &str) -> Result<PluginView, ControlError> {
        Supervisor::discard_candidate(self, id)
    }

    fn capacity(&self) -> Option<crate::view::Capacity> {
        Some(Supervisor::capacity(self))
    }

    fn trading(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .plugins
            .read_unpoisoned()
            .iter()
            .filter(|(_, slot)| slot.state.read_unpoisoned().settings.execution.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }
}
