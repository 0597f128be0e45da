//! The plugins' code, shared by the hosts of a cluster: a swap on one host
//! (a changed file, an upload) is published here, and every other host
//! swaps its instances to it.
//!
//! A stream `PRISM_CODE_{name}` keeps per plugin the component (chunked,
//! `prism.cluster.{name}.code.blob.{plugin}`) and, written after it, a
//! small head saying which it is (`….code.head.{plugin}`: SHA-256, when,
//! by which host), so a host learns of a new version by reading the heads
//! alone.

use super::states::Blobs;
use crate::{NatsError, js_error};
use async_nats::jetstream;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// Reads and writes the plugins' code.
#[derive(Clone)]
pub struct CodeStore {
    blobs: Blobs,
    js: jetstream::Context,
}

impl CodeStore {
    pub(crate) async fn open(
        js: &jetstream::Context,
        cluster: &str,
        replicas: usize,
    ) -> Result<Self, NatsError> {
        Ok(Self {
            blobs: Blobs::open(
                js,
                &format!("PRISM_CODE_{cluster}"),
                &format!("prism.cluster.{cluster}.code"),
                replicas,
                "Prism: plugin code shared by the hosts of a cluster",
            )
            .await?,
            js: js.clone(),
        })
    }

    /// Every plugin's head.
    ///
    /// # Errors
    /// When the stream cannot be read.
    pub async fn heads(&self) -> Result<BTreeMap<String, CodeHead>, NatsError> {
        let messages = super::read_last_per_subject(
            &self.blobs.stream,
            &format!("{}.head.>", self.blobs.prefix),
        )
        .await?;
        Ok(messages
            .iter()
            .filter_map(|m| serde_json::from_slice::<CodeHead>(&m.payload).ok())
            .map(|h| (h.plugin.clone(), h))
            .collect())
    }

    /// Makes `wasm` the plugin's code in the cluster.
    ///
    /// # Errors
    /// When the server does not take it (the code before stays).
    pub async fn publish(&self, head: &CodeHead, wasm: &[u8]) -> Result<(), NatsError> {
        self.blobs.put(&head.plugin, wasm).await?;
        let payload = serde_json::to_vec(head).map_err(js_error)?;
        self.js
            .publish(
                format!("{}.head.{}", self.blobs.prefix, crate::token(&head.plugin)),
                payload.into(),
            )
            .await
            .map_err(js_error)?
            .await
            .map_err(js_error)?;
        Ok(())
    }

    /// The plugin's code, if the cluster has one.
    ///
    /// # Errors
    /// When the server does not answer or the code does not read whole.
    pub async fn fetch(&self, plugin: &str) -> Result<Option<Vec<u8>>, NatsError> {
        self.blobs.get(plugin).await
    }
}
