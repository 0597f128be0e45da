//! Applying a changed config file while running: only the `[[plugins]]`
//! list is applied live; every other section takes effect at the next start.

use crate::error::ControlError;
use crate::load::PluginSettings;
use crate::supervisor::Supervisor;
use crate::view::{PluginControl, PluginView, VersionRecord};
use prism_config::{Config, PluginConfig};
use prism_model::PluginId;
use std::path::PathBuf;

/// The settings a config entry gives its plugin.
#[must_use]
pub fn plugin_settings(config: &Config, entry: &PluginConfig) -> PluginSettings {
    PluginSettings {
        config_json: entry.config_json(),
        limits: entry.limits(&config.plugin_defaults),
        seed: entry.seed,
        subscription: entry.subscription.clone(),
    }
}

/// What one config reload did.
#[derive(Debug, Default)]
pub struct Reconciled {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// `(plugin id, error)` for each change that was refused; those plugins
    /// keep running as they were.
    pub refused: Vec<(String, ControlError)>,
}

impl Supervisor {
    /// Brings the plugins listed in a config file in line with `config`:
    /// adds new ones, removes those no longer listed (plugins added through
    /// the API are left alone), swaps those whose file moved, re-initializes
    /// those whose settings changed.
    pub fn apply_config(&self, config: &Config) -> Reconciled {
        let mut done = Reconciled::default();
        let listed: Vec<(String, PathBuf, bool)> = self.watched_files();
        for (id, _, from_config) in &listed {
            if *from_config && !config.plugins.iter().any(|p| p.id.as_str() == id) {
                match self.remove_plugin(id) {
                    Ok(()) => done.removed.push(id.clone()),
                    Err(e) => done.refused.push((id.clone(), e)),
                }
            }
        }
        for entry in &config.plugins {
            let id = entry.id.as_str().to_owned();
            let path = config.resolve(&entry.path);
            let settings = plugin_settings(config, entry);
            let Some(current) = self.settings_of(&id) else {
                match self.add_file(&entry.id, &path, settings, true) {
                    Ok(_) => done.added.push(id),
                    Err(e) => done.refused.push((id, e)),
                }
                continue;
            };
            let old_path = listed
                .iter()
                .find(|(i, _, _)| *i == id)
                .map(|(_, p, _)| p.clone());
            let mut changed = false;
            if old_path.as_ref().is_some_and(|p| !same_file(p, &path)) {
                match self.move_file(&id, &path) {
                    Ok(_) => changed = true,
                    Err(e) => {
                        done.refused.push((id, e));
                        continue;
                    }
                }
            }
            if current != settings {
                match self.replace_settings(&id, settings) {
                    Ok(_) => changed = true,
                    Err(e) => {
                        done.refused.push((id, e));
                        continue;
                    }
                }
            }
            if changed {
                done.changed.push(id);
            }
        }
        done
    }
}

/// Whether two paths name one file: compared canonically (`..`, symbolic
/// links, relative against absolute), or as given when one does not exist.
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
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

fn check_config(json: &str) -> Result<(), ControlError> {
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
        self.all_views()
    }

    fn view(&self, id: &str) -> Option<PluginView> {
        self.view_of_id(id)
    }

    fn versions(&self, id: &str) -> Result<Vec<VersionRecord>, ControlError> {
        self.history(id)
    }

    fn add(
        &self,
        id: &str,
        wasm: &[u8],
        config_json: Option<&str>,
    ) -> Result<PluginView, ControlError> {
        let id = PluginId::new(id).map_err(|e| ControlError::InvalidId(e.to_string()))?;
        let settings = upload_settings(config_json, self.plugin_defaults())?;
        self.add_bytes(&id, wasm, settings, crate::supervisor::Origin::Upload)
    }

    fn replace_wasm(
        &self,
        id: &str,
        wasm: &[u8],
        rename: crate::supervisor::Rename,
    ) -> Result<PluginView, ControlError> {
        self.upload_wasm(id, wasm, rename)
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
        self.pause_plugin(id)
    }

    fn resume(&self, id: &str) -> Result<PluginView, ControlError> {
        self.resume_plugin(id)
    }

    fn reload(&self, id: &str) -> Result<PluginView, ControlError> {
        self.reload_plugin(id)
    }

    fn rollback(&self, id: &str) -> Result<PluginView, ControlError> {
        self.rollback_plugin(id)
    }

    fn remove(&self, id: &str) -> Result<(), ControlError> {
        self.remove_plugin(id)
    }
}
