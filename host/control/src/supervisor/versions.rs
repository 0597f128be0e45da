//! A plugin's version history: what ran, what runs, what was refused.
//! Every record is made here, and the history stays bounded.

use crate::settings::PluginSettings;
use crate::view::{Change, VersionRecord, VersionStatus};
use prism_model::wall_ms;
use prism_runtime::PluginVersion;
use std::sync::Arc;

/// One entry: its record, and what a rollback to it needs.
pub(super) struct VersionEntry {
    pub(super) record: VersionRecord,
    /// The runnable version (none for a refused one).
    pub(super) version: Option<Arc<PluginVersion>>,
    pub(super) settings: PluginSettings,
}

/// Versions of one plugin, oldest first; the running one is `active`.
pub(super) struct History {
    entries: Vec<VersionEntry>,
    next_seq: u64,
    kept: usize,
    /// Records made since the registry last took them.
    unpublished: Vec<VersionRecord>,
}

fn config_value(json: &str) -> serde_json::Value {
    serde_json::from_str(json).unwrap_or(serde_json::Value::Null)
}

impl History {
    /// A history whose first, active entry is `version`; at most `kept`
    /// entries are kept (at least 2, so a rollback target survives).
    pub(super) fn new(version: &Arc<PluginVersion>, settings: PluginSettings, kept: usize) -> Self {
        let mut history = Self {
            entries: Vec::new(),
            next_seq: 1,
            kept: kept.max(2),
            unpublished: Vec::new(),
        };
        history.push(Change::Start, Ok(version.clone()), settings);
        history
    }

    /// Records `version` as the running one; the one before becomes `previous`.
    pub(super) fn activate(
        &mut self,
        version: &Arc<PluginVersion>,
        settings: PluginSettings,
        change: Change,
    ) {
        for entry in &mut self.entries {
            if entry.record.status == VersionStatus::Active {
                entry.record.status = VersionStatus::Previous;
            }
        }
        self.push(change, Ok(version.clone()), settings);
    }

    /// Records a change that was refused, with why.
    pub(super) fn refuse(
        &mut self,
        digest: String,
        settings: PluginSettings,
        change: Change,
        error: String,
    ) {
        self.push(change, Err((digest, error)), settings);
    }

    fn push(
        &mut self,
        change: Change,
        outcome: Result<Arc<PluginVersion>, (String, String)>,
        settings: PluginSettings,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let config = config_value(match &outcome {
            // What the version was started with (`{}` for an empty config).
            Ok(v) => &v.settings.config_json,
            Err(_) => &settings.config_json,
        });
        let (sha256, name, version, status, error, runnable) = match outcome {
            Ok(v) => (
                v.digest().to_owned(),
                Some(v.info.name.clone()),
                Some(v.info.version.clone()),
                VersionStatus::Active,
                None,
                Some(v),
            ),
            Err((digest, error)) => (digest, None, None, VersionStatus::Failed, Some(error), None),
        };
        let record = VersionRecord {
            seq,
            sha256,
            name,
            version,
            config,
            change,
            status,
            loaded_at_ms: wall_ms(),
            error,
        };
        self.unpublished.push(record.clone());
        self.entries.push(VersionEntry {
            record,
            version: runnable,
            settings,
        });
        while self.entries.len() > self.kept {
            // Drop the oldest entry that is not the running version.
            match self
                .entries
                .iter()
                .position(|e| e.record.status != VersionStatus::Active)
            {
                Some(at) => {
                    self.entries.remove(at);
                }
                None => break,
            }
        }
    }

    /// The most recent version that ran before the running one.
    /// The same version on other code (its optimized compile): entries
    /// that ran `from` run `to` from now on, so a rollback gets it too.
    pub(super) fn retier(&mut self, from: &Arc<PluginVersion>, to: &Arc<PluginVersion>) {
        for entry in &mut self.entries {
            if entry.version.as_ref().is_some_and(|v| Arc::ptr_eq(v, from)) {
                entry.version = Some(to.clone());
            }
        }
    }

    pub(super) fn previous(&self) -> Option<(Arc<PluginVersion>, PluginSettings)> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.record.status == VersionStatus::Previous)
            .and_then(|e| Some((e.version.clone()?, e.settings.clone())))
    }

    /// The records made since this was last called (for the registry).
    pub(super) fn take_unpublished(&mut self) -> Vec<VersionRecord> {
        std::mem::take(&mut self.unpublished)
    }

    /// Every record, oldest first.
    pub(super) fn records(&self) -> Vec<VersionRecord> {
        self.entries.iter().map(|e| e.record.clone()).collect()
    }
}
