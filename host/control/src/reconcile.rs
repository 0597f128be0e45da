//! Applying a changed config file while running: only the `[[plugins]]`
//! list is applied live; every other section takes effect at the next start.

use crate::error::ControlError;
use crate::settings::plugin_settings;
use crate::supervisor::Supervisor;
use prism_config::Config;
use std::path::PathBuf;

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
                match self.remove(id) {
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
