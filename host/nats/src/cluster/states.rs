//! The plugin instances' states, where every host of a cluster finds them:
//! a stream `PRISM_STATE_{name}` keeping the last message of each subject
//! `prism.cluster.{name}.state.blob.{instance}`.
//!
//! A value larger than one message is cut in chunks written first, each on
//! a subject of its own generation (`….blob.{key}.{generation}.{k}`); the
//! key's subject is written last, with the first chunk and the count, so a
//! reader sees the old value or the new one whole, never a mix. The
//! previous generation's chunks are purged after.

use crate::{NatsError, js_error};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::jetstream::{self, stream};
use prism_model::{Checkpoint, Instrument};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes per message of a stored state (the server's default limit is
/// 1 MiB per message).
const CHUNK: usize = 256 * 1024;
const GENERATION: &str = "Prism-State-Generation";
const CHUNKS: &str = "Prism-State-Chunks";
const SIZE: &str = "Prism-State-Size";

/// An instance's checkpoint as the cluster keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredState {
    /// The stream position the state covers (`None`: before any batch).
    pub position: Option<u64>,
    /// SHA-256 of the code that wrote it.
    pub version: String,
    #[serde(skip)]
    pub state: Vec<u8>,
    /// The instruments the state names by id.
    pub instruments: Vec<Instrument>,
    /// The paper account at the same position, when the plugin trades.
    pub account: Option<Vec<u8>>,
    /// The output stream's sequences from this one on hold every output
    /// the instance made after this state (where a host taking it over
    /// looks for what was published).
    pub output_from: u64,
    /// The host that wrote it, and when (unix ms).
    pub host: String,
    pub at_ms: i64,
    /// The instance's last state on that host (it stopped there).
    #[serde(default)]
    pub last: bool,
}

impl StoredState {
    /// A checkpoint as stored by `host`.
    #[must_use]
    pub fn of(checkpoint: &Checkpoint, output_from: u64, host: &str, at_ms: i64) -> Self {
        Self {
            position: checkpoint.position,
            version: checkpoint.version.to_string(),
            state: checkpoint.state.to_vec(),
            instruments: checkpoint
                .instruments
                .iter()
                .map(|i| (**i).clone())
                .collect(),
            account: checkpoint.account.as_ref().map(|a| a.to_vec()),
            output_from,
            host: host.to_owned(),
            at_ms,
            last: checkpoint.last,
        }
    }

    fn encode(&self) -> Result<Vec<u8>, NatsError> {
        let meta = serde_json::to_vec(self).map_err(js_error)?;
        let len = u32::try_from(meta.len()).map_err(js_error)?;
        let mut blob = Vec::with_capacity(4 + meta.len() + self.state.len());
        blob.extend_from_slice(&len.to_le_bytes());
        blob.extend_from_slice(&meta);
        blob.extend_from_slice(&self.state);
        Ok(blob)
    }

    fn decode(blob: &[u8]) -> Result<Self, String> {
        let len = blob
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or("shorter than its header")? as usize;
        let meta = blob.get(4..4 + len).ok_or("cut in its header")?;
        let mut stored: Self = serde_json::from_slice(meta).map_err(|e| e.to_string())?;
        stored.state = blob[4 + len..].to_vec();
        Ok(stored)
    }
}

/// Reads and writes the instances' states.
#[derive(Clone)]
pub struct StateStore {
    blobs: Blobs,
}

impl StateStore {
    pub(crate) async fn open(
        js: &jetstream::Context,
        cluster: &str,
        replicas: usize,
    ) -> Result<Self, NatsError> {
        Ok(Self {
            blobs: Blobs::open(
                js,
                &format!("PRISM_STATE_{cluster}"),
                &format!("prism.cluster.{cluster}.state"),
                replicas,
                "Prism: plugin instances' states of a cluster",
            )
            .await?,
        })
    }

    /// Stores `state` as `instance`'s, replacing the one before.
    ///
    /// # Errors
    /// When the server does not take it (the state before stays whole).
    pub async fn put(&self, instance: &str, state: &StoredState) -> Result<(), NatsError> {
        self.blobs.put(instance, &state.encode()?).await
    }

    /// `instance`'s stored state, if any.
    ///
    /// # Errors
    /// When the server does not answer, or the state does not read.
    pub async fn get(&self, instance: &str) -> Result<Option<StoredState>, NatsError> {
        let Some(blob) = self.blobs.get(instance).await? else {
            return Ok(None);
        };
        StoredState::decode(&blob)
            .map(Some)
            .map_err(|why| NatsError::JetStream(format!("the state of `{instance}`: {why}")))
    }
}

/// Values too large for one message, by key: a stream keeping the last
/// message of each subject `{prefix}.blob.{key}` (the first chunk, the
/// count and the size) and of `{prefix}.blob.{key}.{generation}.{k}` (the
/// other chunks, written first).
#[derive(Clone)]
pub(crate) struct Blobs {
    js: jetstream::Context,
    pub(crate) stream: stream::Stream,
    pub(crate) prefix: String,
    /// Per key, the generation and chunk count last written here.
    written: Arc<Mutex<HashMap<String, (u64, u32)>>>,
}

impl Blobs {
    pub(crate) async fn open(
        js: &jetstream::Context,
        name: &str,
        prefix: &str,
        replicas: usize,
        description: &str,
    ) -> Result<Self, NatsError> {
        let stream = crate::keyed_stream(
            js,
            name,
            description,
            vec![format!("{prefix}.>")],
            replicas,
            None,
        )
        .await?;
        Ok(Self {
            js: js.clone(),
            stream,
            prefix: prefix.to_owned(),
            written: Arc::default(),
        })
    }

    fn subject(&self, key: &str) -> String {
        format!("{}.blob.{}", self.prefix, crate::token(key))
    }

    fn chunk_subject(&self, key: &str, generation: u64, k: usize) -> String {
        format!("{}.{generation}.{k}", self.subject(key))
    }

    /// The generation and chunk count of `key`'s value.
    async fn current(&self, key: &str) -> Result<Option<(u64, u32)>, NatsError> {
        match self
            .stream
            .get_last_raw_message_by_subject(&self.subject(key))
            .await
        {
            Ok(m) => {
                let header = |n: &str| {
                    m.headers
                        .get(n)
                        .and_then(|v| v.as_str().parse::<u64>().ok())
                };
                Ok(header(GENERATION).zip(header(CHUNKS).map(|c| c as u32)))
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(js_error(e)),
        }
    }

    /// Stores `blob` as `key`'s value, replacing the one before.
    pub(crate) async fn put(&self, key: &str, blob: &[u8]) -> Result<(), NatsError> {
        let known = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .copied();
        let before = match known {
            Some(k) => Some(k),
            None => self.current(key).await?,
        };
        let generation = u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        )
        .unwrap_or(u64::MAX)
        .max(before.map_or(0, |(g, _)| g + 1));
        let chunks: Vec<&[u8]> = if blob.is_empty() {
            vec![&[]]
        } else {
            blob.chunks(CHUNK).collect()
        };
        for (k, chunk) in chunks.iter().enumerate().skip(1) {
            self.js
                .publish(
                    self.chunk_subject(key, generation, k),
                    bytes::Bytes::copy_from_slice(chunk),
                )
                .await
                .map_err(js_error)?
                .await
                .map_err(js_error)?;
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(GENERATION, generation.to_string().as_str());
        headers.insert(CHUNKS, chunks.len().to_string().as_str());
        headers.insert(SIZE, blob.len().to_string().as_str());
        self.js
            .publish_with_headers(
                self.subject(key),
                headers,
                bytes::Bytes::copy_from_slice(chunks[0]),
            )
            .await
            .map_err(js_error)?
            .await
            .map_err(js_error)?;
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.to_owned(), (generation, chunks.len() as u32));
        if let Some((old, n)) = before
            && n > 1
            && old != generation
        {
            // Left behind if this fails: never read (the value names its
            // own generation).
            let _ = self
                .stream
                .purge()
                .filter(format!("{}.{old}.>", self.subject(key)))
                .await;
        }
        Ok(())
    }

    /// `key`'s value, if any.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, NatsError> {
        let first = match self
            .stream
            .get_last_raw_message_by_subject(&self.subject(key))
            .await
        {
            Ok(m) => m,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(None),
            Err(e) => return Err(js_error(e)),
        };
        let header = |n: &str| {
            first
                .headers
                .get(n)
                .and_then(|v| v.as_str().parse::<u64>().ok())
        };
        let bad = |why: String| NatsError::JetStream(format!("`{key}` in {}: {why}", self.prefix));
        let (Some(generation), Some(chunks), Some(size)) =
            (header(GENERATION), header(CHUNKS), header(SIZE))
        else {
            return Err(bad("its headers are missing".into()));
        };
        let mut blob = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 30));
        blob.extend_from_slice(&first.payload);
        for k in 1..chunks {
            let part = self
                .stream
                .get_last_raw_message_by_subject(&self.chunk_subject(key, generation, k as usize))
                .await
                .map_err(|e| bad(format!("chunk {k} of {chunks}: {e}")))?;
            blob.extend_from_slice(&part.payload);
        }
        if blob.len() as u64 != size {
            return Err(bad(format!("{} bytes, {size} written", blob.len())));
        }
        Ok(Some(blob))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_state_reads_back() {
        let mut reg = prism_model::InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let stored = StoredState {
            position: Some(42),
            version: "abc".into(),
            state: vec![0, 1, 2, 255],
            instruments: vec![(**reg.get(btc).unwrap()).clone()],
            account: Some(vec![9]),
            output_from: 17,
            host: "h".into(),
            at_ms: 5,
            last: true,
        };
        let blob = stored.encode().unwrap();
        assert_eq!(StoredState::decode(&blob).unwrap(), stored);
        assert!(StoredState::decode(&blob[..3]).is_err());
        assert!(StoredState::decode(&blob[..10]).is_err());
    }
}
