//! Deliveries still owed, kept in the data directory so a restart sends
//! them; with them, how far each plugin's outputs were taken, so outputs a
//! restarted pipeline makes again are not notified twice.

use crate::core::State;
use crate::notification::Notification;
use prism_model::OutputId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const VERSION: u32 = 1;

/// The file's content.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Saved {
    pub(crate) version: u32,
    /// `plugin` → `position.index` of its last output taken.
    pub(crate) watermarks: BTreeMap<String, String>,
    pub(crate) pending: Vec<SavedNotification>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SavedNotification {
    pub(crate) notification: Notification,
    pub(crate) raised_at_ms: i64,
    /// Channel name → attempts made.
    pub(crate) channels: BTreeMap<String, u32>,
}

impl Saved {
    /// What `state` owes, oldest first.
    pub(crate) fn of(state: &State) -> Self {
        let mut owed: Vec<_> = state.owed.iter().collect();
        owed.sort_by_key(|(seq, _)| **seq);
        let pending = owed
            .into_iter()
            .map(|(seq, o)| SavedNotification {
                notification: (*o.notification).clone(),
                raised_at_ms: o.raised_at_ms,
                channels: o
                    .lanes
                    .iter()
                    .map(|&l| {
                        let lane = &state.lanes[l];
                        let attempts = state
                            .record_of(*seq)
                            .and_then(|r| {
                                r.deliveries.iter().find(|d| d.channel == lane.channel.name)
                            })
                            .map_or(0, |d| d.attempts);
                        (lane.channel.name.clone(), attempts)
                    })
                    .collect(),
            })
            .collect();
        Self {
            version: VERSION,
            watermarks: state
                .watermarks
                .iter()
                .map(|(p, id)| (p.clone(), id.to_string()))
                .collect(),
            pending,
        }
    }

    pub(crate) fn watermarks(&self) -> impl Iterator<Item = (&str, OutputId)> {
        self.watermarks
            .iter()
            .filter_map(|(p, id)| Some((p.as_str(), id.parse().ok()?)))
    }
}

/// The file in `dir`.
pub(crate) fn path_in(dir: &Path) -> PathBuf {
    dir.join("pending.json")
}

/// Reads the file; a missing file is an empty state.
///
/// # Errors
/// A message naming the file: unreadable, not this format, or a newer
/// version.
pub(crate) fn load(path: &Path) -> Result<Saved, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Saved::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let saved: Saved = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is damaged: {e}", path.display()))?;
    if saved.version > VERSION {
        return Err(format!(
            "{} was written by a newer Prism (version {}); this one reads {VERSION}",
            path.display(),
            saved.version
        ));
    }
    Ok(saved)
}

/// Writes the file whole, atomically (a crash leaves the old or the new).
///
/// # Errors
/// The I/O error.
pub(crate) fn store(path: &Path, saved: &Saved) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(saved).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    let f = std::fs::File::open(&tmp)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
