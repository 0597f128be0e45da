//! Plugin checkpoints kept in a data directory, so a restart can resume
//! each plugin where it was: `<dir>/<plugin id>.state`, written atomically
//! by a sink of the sink stage (it never holds the workers back; the
//! newest checkpoint of each plugin supersedes the ones still waiting).
//!
//! A file is `PRSMSNP4`, the SHA-256 of the rest, then the stream position
//! the state covers (a flag byte and 8 bytes), the instrument table the
//! state names ids of (4 bytes of length, then JSON), the plugin's paper
//! account (a flag byte, 4 bytes of length, its bytes), and the state. A
//! file changed or cut short is refused when read (the plugin starts fresh
//! and says why), never restored; `PRSMSNP3` (no account), `PRSMSNP2` (no
//! table) and `PRSMSNP1` (state only, no position) files are still read. A write that fails leaves no partial file and is reported
//! in [`SnapshotHealth`], which `/health` shows.

use prism_model::{Checkpoint, Instrument, OutputBatch};
use prism_sinks::{Sink, SinkError};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const MAGIC: &[u8; 8] = b"PRSMSNP4";
const MAGIC_V3: &[u8; 8] = b"PRSMSNP3";
const MAGIC_V2: &[u8; 8] = b"PRSMSNP2";
const MAGIC_V1: &[u8; 8] = b"PRSMSNP1";
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

/// A plugin's saved state and the stream position it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedState {
    /// `None`: before any batch, or written by a version that did not say.
    pub position: Option<u64>,
    pub state: Vec<u8>,
    /// The instruments declared to the plugin when it was taken (the state
    /// names them by id): declared again to the restored instance before
    /// its first event, so a restart need not read the stream from its
    /// start to meet them. Empty from a file of an older format.
    pub instruments: Vec<Arc<Instrument>>,
    /// The plugin's paper account at the same position, when it trades.
    pub account: Option<Vec<u8>>,
}

/// A checkpoint as written to disk: header, checksum, position, table,
/// account, state.
fn encode(c: &Checkpoint) -> Vec<u8> {
    let table = serde_json::to_vec(&c.instruments).unwrap_or_else(|_| b"[]".to_vec());
    let account: &[u8] = c.account.as_deref().unwrap_or_default();
    let mut payload = Vec::with_capacity(18 + table.len() + account.len() + c.state.len());
    payload.push(u8::from(c.position.is_some()));
    payload.extend_from_slice(&c.position.unwrap_or(0).to_le_bytes());
    payload.extend_from_slice(&u32::try_from(table.len()).unwrap_or(0).to_le_bytes());
    payload.extend_from_slice(&table);
    payload.push(u8::from(c.account.is_some()));
    payload.extend_from_slice(&u32::try_from(account.len()).unwrap_or(0).to_le_bytes());
    payload.extend_from_slice(account);
    payload.extend_from_slice(&c.state);
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&Sha256::digest(&payload));
    out.extend_from_slice(&payload);
    out
}

/// The checkpoint in a file's bytes, when they are intact.
fn decode(path: &Path, bytes: &[u8]) -> Result<SavedState, SnapshotError> {
    let name = || path.display().to_string();
    let magic = bytes.get(..MAGIC.len());
    let v1 = magic == Some(MAGIC_V1);
    let v2 = magic == Some(MAGIC_V2);
    let v3 = magic == Some(MAGIC_V3);
    if bytes.len() < HEADER || !(v1 || v2 || v3 || magic == Some(MAGIC)) {
        return Err(SnapshotError::NotSnapshot { path: name() });
    }
    let (sum, payload) = bytes[MAGIC.len()..].split_at(32);
    if Sha256::digest(payload).as_slice() != sum {
        return Err(SnapshotError::Checksum { path: name() });
    }
    if v1 {
        return Ok(SavedState {
            position: None,
            state: payload.to_vec(),
            instruments: Vec::new(),
            account: None,
        });
    }
    let Some((head, rest)) = payload.split_at_checked(9) else {
        return Err(SnapshotError::NotSnapshot { path: name() });
    };
    let position =
        (head[0] == 1).then(|| u64::from_le_bytes(head[1..9].try_into().unwrap_or_default()));
    if v2 {
        return Ok(SavedState {
            position,
            state: rest.to_vec(),
            instruments: Vec::new(),
            account: None,
        });
    }
    let cut = || SnapshotError::NotSnapshot { path: name() };
    let (len, rest) = rest.split_at_checked(4).ok_or_else(cut)?;
    let len = usize::try_from(u32::from_le_bytes(len.try_into().unwrap_or_default()))
        .map_err(|_| cut())?;
    let (table, rest) = rest.split_at_checked(len).ok_or_else(cut)?;
    let instruments: Vec<Instrument> = serde_json::from_slice(table).map_err(|_| cut())?;
    let (account, state) = if v3 {
        (None, rest)
    } else {
        let (head, rest) = rest.split_at_checked(5).ok_or_else(cut)?;
        let len = usize::try_from(u32::from_le_bytes(
            head[1..5].try_into().unwrap_or_default(),
        ))
        .map_err(|_| cut())?;
        let (account, state) = rest.split_at_checked(len).ok_or_else(cut)?;
        ((head[0] == 1).then(|| account.to_vec()), state)
    };
    Ok(SavedState {
        position,
        state: state.to_vec(),
        instruments: instruments.into_iter().map(Arc::new).collect(),
        account,
    })
}

/// A directory of plugin checkpoints.
pub struct SnapshotStore {
    dir: PathBuf,
    health: Arc<SnapshotHealth>,
}

impl SnapshotStore {
    /// Opens (creating) the directory.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            health: Arc::new(SnapshotHealth::default()),
        })
    }

    /// The sink that writes the checkpoints workers make.
    #[must_use]
    pub fn sink(&self) -> SnapshotWriter {
        SnapshotWriter {
            dir: self.dir.clone(),
            health: self.health.clone(),
            latest: HashMap::new(),
        }
    }

    /// How writing goes.
    #[must_use]
    pub fn health(&self) -> Arc<SnapshotHealth> {
        self.health.clone()
    }

    /// The last persisted checkpoint of a plugin, if there is one.
    ///
    /// # Errors
    /// A file that cannot be read, is not a snapshot, or fails its checksum.
    pub fn load(&self, id: &str) -> Result<Option<SavedState>, SnapshotError> {
        let path = self.dir.join(format!("{id}.state"));
        match std::fs::read(&path) {
            Ok(bytes) => decode(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SnapshotError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }
}

/// Writes checkpoints: the newest of each plugin, whenever its queue runs
/// dry (and at the end).
pub struct SnapshotWriter {
    dir: PathBuf,
    health: Arc<SnapshotHealth>,
    latest: HashMap<Arc<str>, Checkpoint>,
}

impl SnapshotWriter {
    fn write_latest(&mut self) {
        for (id, c) in self.latest.drain() {
            let result = write(&self.dir, &id, &c).map_err(|e| {
                tracing::warn!(plugin = %id, "cannot persist the snapshot: {e}");
                format!(
                    "cannot write the snapshot of `{id}` in {}: {e}",
                    self.dir.display()
                )
            });
            self.health.record(result);
        }
    }
}

impl Sink for SnapshotWriter {
    fn write(&mut self, _batch: &OutputBatch) -> Result<(), SinkError> {
        Ok(())
    }

    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), SinkError> {
        self.latest
            .insert(checkpoint.plugin.clone(), checkpoint.clone());
        Ok(())
    }

    fn idle(&mut self) -> Result<(), SinkError> {
        self.write_latest();
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.write_latest();
        Ok(())
    }
}

fn write(dir: &Path, id: &str, checkpoint: &Checkpoint) -> std::io::Result<()> {
    let path = dir.join(format!("{id}.state"));
    let tmp = dir.join(format!("{id}.state.tmp"));
    let result =
        std::fs::write(&tmp, encode(checkpoint)).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instruments() -> Vec<Arc<Instrument>> {
        let mut reg = prism_model::InstrumentRegistry::default();
        let (a, _) = reg.intern("binance", "BTCUSDT");
        let (b, _) = reg.intern("hyperliquid", "ETH");
        vec![reg.get(a).unwrap().clone(), reg.get(b).unwrap().clone()]
    }

    fn checkpoint(plugin: &str, position: u64, state: Vec<u8>) -> Checkpoint {
        Checkpoint {
            plugin: Arc::from(plugin),
            position: Some(position),
            version: Arc::from("00"),
            state: Arc::from(state),
            instruments: instruments(),
            account: position.is_multiple_of(20).then(|| Arc::from(vec![9u8; 4])),
            last: false,
        }
    }

    #[test]
    fn the_newest_checkpoint_is_written_and_read_back() {
        let dir = std::env::temp_dir().join(format!("prism-snapshots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let store = SnapshotStore::open(&dir).unwrap();
            let mut sink = store.sink();
            for n in 0u8..5 {
                sink.checkpoint(&checkpoint("p", u64::from(n) * 10, vec![n; 3]))
                    .unwrap();
            }
            sink.finish().unwrap();
        }
        let store = SnapshotStore::open(&dir).unwrap();
        assert_eq!(
            store.load("p").unwrap(),
            Some(SavedState {
                position: Some(40),
                state: vec![4; 3],
                instruments: instruments(),
                account: Some(vec![9; 4]),
            })
        );
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
        // A file of the first format: the state, no position.
        let mut v1 = MAGIC_V1.to_vec();
        v1.extend_from_slice(&Sha256::digest([7u8, 7]));
        v1.extend_from_slice(&[7, 7]);
        std::fs::write(&path, v1).unwrap();
        assert_eq!(
            store.load("p").unwrap(),
            Some(SavedState {
                position: None,
                state: vec![7, 7],
                instruments: Vec::new(),
                account: None,
            })
        );
        // A file of the second format: position and state, no table.
        let mut payload = vec![1u8];
        payload.extend_from_slice(&12u64.to_le_bytes());
        payload.extend_from_slice(&[5, 5]);
        let mut v2 = MAGIC_V2.to_vec();
        v2.extend_from_slice(&Sha256::digest(&payload));
        v2.extend_from_slice(&payload);
        std::fs::write(&path, v2).unwrap();
        assert_eq!(
            store.load("p").unwrap(),
            Some(SavedState {
                position: Some(12),
                state: vec![5, 5],
                instruments: Vec::new(),
                account: None,
            })
        );
        // A file of the third format: a table, no account.
        let table = serde_json::to_vec(&instruments()).unwrap();
        let mut payload = vec![1u8];
        payload.extend_from_slice(&30u64.to_le_bytes());
        payload.extend_from_slice(&u32::try_from(table.len()).unwrap().to_le_bytes());
        payload.extend_from_slice(&table);
        payload.extend_from_slice(&[6, 6]);
        let mut v3 = MAGIC_V3.to_vec();
        v3.extend_from_slice(&Sha256::digest(&payload));
        v3.extend_from_slice(&payload);
        std::fs::write(&path, v3).unwrap();
        assert_eq!(
            store.load("p").unwrap(),
            Some(SavedState {
                position: Some(30),
                state: vec![6, 6],
                instruments: instruments(),
                account: None,
            })
        );
        // A checkpoint without an account reads back without one.
        let mut sink = store.sink();
        sink.checkpoint(&checkpoint("p", 50, vec![1])).unwrap();
        sink.finish().unwrap();
        assert_eq!(store.load("p").unwrap().unwrap().account, None);
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
        let mut sink = store.sink();
        sink.checkpoint(&checkpoint("p", 1, vec![1u8; 3])).unwrap();
        sink.finish().unwrap();
        assert_eq!(health.failed.load(Ordering::Relaxed), 1);
        assert!(health.last_error().unwrap().contains("`p`"));
        assert!(!dir.join("p.state.tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
