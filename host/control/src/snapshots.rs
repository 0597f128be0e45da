//! Plugins' state snapshots on disk, so state survives a restart: each
//! worker's checkpoints are handed to a writer thread through a bounded
//! queue (the worker never waits on the disk; when the queue is full the
//! snapshot is skipped, a later one supersedes it), written atomically as
//! `<dir>/<plugin id>.state`.
//!
//! A file is `PRSMSNP1`, the SHA-256 of the state, then the state: a file
//! changed or cut short is refused when read (the plugin starts fresh and
//! says why), never restored. A write that fails leaves no partial file and
//! is reported in [`SnapshotHealth`], which `/health` shows.

use crossbeam_channel::{Sender, bounded};
use prism_worker::SnapshotSink;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

const MAGIC: &[u8; 8] = b"PRSMSNP1";
const HEADER: usize = MAGIC.len() + 32;

/// Why a persisted snapshot was not restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a Prism snapshot or was cut short")]
    NotSnapshot { path: String },
    #[error("{path} does not match its checksum: it was changed or damaged")]
    Checksum { path: String },
}

/// How persisting snapshots goes, for `/health`.
#[derive(Debug, Default)]
pub struct SnapshotHealth {
    /// Snapshots written.
    pub written: AtomicU64,
    /// Writes that failed.
    pub failed: AtomicU64,
    /// The last write's error, cleared by the next write that succeeds.
    last_error: Mutex<Option<String>>,
}

impl SnapshotHealth {
    /// The error of the last write, if it failed.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn record(&self, result: Result<(), String>) {
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(()) => {
                self.written.fetch_add(1, Ordering::Relaxed);
                *last = None;
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                *last = Some(e);
            }
        }
    }
}

/// A state as written to disk: header, checksum, state.
fn encode(state: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + state.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&Sha256::digest(state));
    out.extend_from_slice(state);
    out
}

/// The state in a file's bytes, when they are intact.
fn decode(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, SnapshotError> {
    let name = || path.display().to_string();
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        return Err(SnapshotError::NotSnapshot { path: name() });
    }
    let (sum, state) = bytes[MAGIC.len()..].split_at(32);
    if Sha256::digest(state).as_slice() != sum {
        return Err(SnapshotError::Checksum { path: name() });
    }
    Ok(state.to_vec())
}

/// Snapshots waiting for the writer.
const QUEUE: usize = 256;

/// A plugin's id and one snapshot of its state.
type Snapshot = (Arc<str>, Arc<[u8]>);

/// A directory of plugin snapshots and its writer thread.
pub struct SnapshotStore {
    dir: PathBuf,
    tx: Option<Sender<Snapshot>>,
    writer: Option<JoinHandle<()>>,
    health: Arc<SnapshotHealth>,
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
        let health = Arc::new(SnapshotHealth::default());
        let report = health.clone();
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
                        let result = write(&target, &id, &state).map_err(|e| {
                            tracing::warn!(plugin = %id, "cannot persist the snapshot: {e}");
                            format!(
                                "cannot write the snapshot of `{id}` in {}: {e}",
                                target.display()
                            )
                        });
                        report.record(result);
                    }
                }
            })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            tx: Some(tx),
            writer: Some(writer),
            health,
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

    /// How writing goes.
    #[must_use]
    pub fn health(&self) -> Arc<SnapshotHealth> {
        self.health.clone()
    }

    /// The last persisted snapshot of a plugin, if there is one.
    ///
    /// # Errors
    /// A file that cannot be read, is not a snapshot, or fails its checksum.
    pub fn load(&self, id: &str) -> Result<Option<Vec<u8>>, SnapshotError> {
        let path = self.path(id);
        match std::fs::read(&path) {
            Ok(bytes) => decode(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SnapshotError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
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
    let result = std::fs::write(&tmp, encode(state)).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
        assert_eq!(store.load("p").unwrap(), Some(vec![4; 3]));
        assert_eq!(store.load("other").unwrap(), None);
        // One changed byte, a cut file, a file of another kind: refused.
        let path = dir.join("p.state");
        let good = std::fs::read(&path).unwrap();
        let mut changed = good.clone();
        *changed.last_mut().unwrap() ^= 1;
        std::fs::write(&path, changed).unwrap();
        assert!(matches!(
            store.load("p"),
            Err(SnapshotError::Checksum { .. })
        ));
        std::fs::write(&path, &good[..10]).unwrap();
        assert!(matches!(
            store.load("p"),
            Err(SnapshotError::NotSnapshot { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_leaves_no_partial_file_and_is_reported() {
        let dir = std::env::temp_dir().join(format!("prism-snapshots-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SnapshotStore::open(&dir).unwrap();
        // A directory where the file must go: the rename fails.
        std::fs::create_dir_all(dir.join("p.state/x")).unwrap();
        let health = store.health();
        store.sink()("p", &Arc::from(vec![1u8; 3]));
        drop(store);
        assert_eq!(health.failed.load(Ordering::Relaxed), 1);
        assert!(health.last_error().unwrap().contains("`p`"));
        assert!(!dir.join("p.state.tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
