//! The plugins' code, shared by the hosts of a cluster through a JetStream
//! object store (`PRISM_CODE_{name}`, one object per plugin): a swap on
//! one host (a changed file, an upload) puts the new component there, and
//! every other host swaps its instances to it. Each object says in its
//! metadata which code it is (SHA-256), since when and from which host, so
//! a host learns of a new version from the store's listing alone.

use crate::{NatsError, js_error};
use async_nats::jetstream::{self, object_store};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tokio::io::AsyncReadExt;

/// Which code a plugin runs in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeHead {
    pub plugin: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// When it became the plugin's code (unix ms), and on which host.
    pub at_ms: i64,
    pub host: String,
    pub bytes: u64,
}

impl CodeHead {
    fn metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            ("sha256".to_owned(), self.sha256.clone()),
            ("at_ms".to_owned(), self.at_ms.to_string()),
            ("host".to_owned(), self.host.clone()),
        ])
    }

    fn of(info: &object_store::ObjectInfo) -> Option<Self> {
        let m = &info.metadata;
        Some(Self {
            plugin: info.name.clone(),
            sha256: m.get("sha256")?.clone(),
            at_ms: m.get("at_ms")?.parse().ok()?,
            host: m.get("host")?.clone(),
            bytes: info.size as u64,
        })
    }
}

/// Reads and writes the plugins' code.
#[derive(Clone)]
pub struct CodeStore {
    store: object_store::ObjectStore,
}

impl CodeStore {
    pub(crate) async fn open(
        js: &jetstream::Context,
        cluster: &str,
        replicas: usize,
    ) -> Result<Self, NatsError> {
        let bucket = format!("PRISM_CODE_{cluster}");
        let store = match js.get_object_store(&bucket).await {
            Ok(s) => s,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: bucket.clone(),
                    description: Some("Prism: plugin code shared by the hosts of a cluster".into()),
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| NatsError::Stream {
                    stream: bucket,
                    message: e.to_string(),
                })?,
        };
        Ok(Self { store })
    }

    /// Every plugin's head.
    ///
    /// # Errors
    /// When the store cannot be listed.
    pub async fn heads(&self) -> Result<BTreeMap<String, CodeHead>, NatsError> {
        let mut list = self.store.list().await.map_err(js_error)?;
        let mut heads = BTreeMap::new();
        while let Some(info) = list.next().await {
            let info = info.map_err(js_error)?;
            if info.deleted {
                continue;
            }
            if let Some(head) = CodeHead::of(&info) {
                heads.insert(head.plugin.clone(), head);
            }
        }
        Ok(heads)
    }

    /// Makes `wasm` the plugin's code in the cluster.
    ///
    /// # Errors
    /// When the server does not take it (the code before stays).
    pub async fn publish(&self, head: &CodeHead, wasm: &[u8]) -> Result<(), NatsError> {
        let meta = object_store::ObjectMetadata {
            name: head.plugin.clone(),
            description: Some(format!("{} from {}", head.sha256, head.host)),
            metadata: head.metadata(),
            ..Default::default()
        };
        let mut reader = wasm;
        self.store.put(meta, &mut reader).await.map_err(js_error)?;
        Ok(())
    }

    /// The plugin's code, if the cluster has one.
    ///
    /// # Errors
    /// When the server does not answer or the code does not read whole.
    pub async fn fetch(&self, plugin: &str) -> Result<Option<Vec<u8>>, NatsError> {
        let mut object = match self.store.get(plugin).await {
            Ok(o) => o,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(js_error(e)),
        };
        let mut wasm = Vec::with_capacity(object.info.size);
        object.read_to_end(&mut wasm).await.map_err(js_error)?;
        Ok(Some(wasm))
    }
}
