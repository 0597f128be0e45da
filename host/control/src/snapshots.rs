//! Plugins' state snapshots on disk, so state survives a restart: each
//! worker's checkpoints are handed to a writer thread through a bounded
//! queue (the worker never waits on the disk; when the queue is full the
//! snapshot is skipped, a later one supersedes it), written atomically as
//! `<dir>/<plugin id>.state`.

use crossbeam_channel::{Sender, bounded};
use prism_runtime::worker::SnapshotSink;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Snapshots waiting for the writer.
const QUEUE: usize = 256;

/// A plugin's id and one snapshot of its state.
type Snapshot = (Arc<str>, Arc<[u8]>);

/// A directory of plugin snapshots and its writer thread.
pub struct SnapshotStore {
    dir: PathBuf,
    tx: Option<Sender<Snapshot>>,
    writer: Option<JoinHandle<()>>,
}

impl SnapshotStore {
    /// Opens (creating) the directory and starts the writer.
    ///
    /// # Errors
    /// When the directory cannot be created or the thread started.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (tx, rx) = bounded::<Snapshot>(QUEUE);
        let target = dir.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("prism-snapshots".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Only the newest snapshot of each plugin is worth writing.
                    let mut latest: HashMap<Arc<str>, Arc<[u8]>> = HashMap::new();
                    latest.insert(first.0, first.1);
                    while let Ok((id, state)) = rx.try_recv() {
                        latest.insert(id, state);
                    }
                    for (id, state) in latest {
                        if let Err(e) = write(&target, &id, &state) {
                            tracing::warn!(plugin = %id, "cannot persist the snapshot: {e}");
                        }
                    }
                }
            })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            tx: Some(tx),
            writer: Some(writer),
        })
    }

    /// The sink workers hand their checkpoints to.
    #[must_use]
    pub fn sink(&self) -> SnapshotSink {
        let tx = self.tx.clone();
        Arc::new(move |id: &str, state: &Arc<[u8]>| {
            if let Some(tx) = &tx {
                let _ = tx.try_send((Arc::from(id), state.clone()));
            }
        })
    }

    /// The last persisted snapshot of a plugin, if any.
    #[must_use]
    pub fn load(&self, id: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(id)).ok()
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.state"))
    }
}

impl Drop for SnapshotStore {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn write(dir: &Path, id: &str, state: &[u8]) -> std::io::Result<()> {
    let path = dir.join(format!("{id}.state"));
    let tmp = dir.join(format!("{id}.state.tmp"));
    std::fs::write(&tmp, state)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_snapshot_is_written_and_read_back() {
        let dir = std::env::temp_dir().join(format!("prism-snapshots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let store = SnapshotStore::open(&dir).unwrap();
            let sink = store.sink();
            for n in 0u8..5 {
                sink("p", &Arc::from(vec![n; 3]));
            }
        }
        let store = SnapshotStore::open(&dir).unwrap();
        assert_eq!(store.load("p"), Some(vec![4; 3]));
        assert_eq!(store.load("other"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
