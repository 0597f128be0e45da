//! Instrument ids shared by every consumer of a stream, in every run: a
//! JetStream stream `{stream}_IDS` holds one message per id on subject
//! `prism_ids.{stream}.{n}`, `[exchange, symbol]`, ids dense from 0.
//!
//! A new instrument takes the first free `n` by a publish that the server
//! accepts only while the subject is empty (`Nats-Expected-Last-Subject-
//! Sequence: 0`); a host that loses the race reads the winner's entry and
//! tries the next `n`. Since each host tries every `n` in order and learns
//! what it finds, no instrument ever gets two ids, and a restored plugin's
//! state (which names instruments by id) means the same instruments on any
//! host.

use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use prism_model::{InstrumentId, InstrumentRegistry};

pub(crate) struct SharedIds {
    js: jetstream::Context,
    ids: stream::Stream,
    prefix: String,
    handle: tokio::runtime::Handle,
}

impl SharedIds {
    /// Opens (creating) the id stream of `stream`.
    pub(crate) async fn open(
        js: &jetstream::Context,
        stream: &str,
        replicas: usize,
    ) -> Result<Self, String> {
        let name = format!("{stream}_IDS");
        let prefix = format!("prism_ids.{stream}");
        let ids = crate::keyed_stream(
            js,
            &name,
            "Prism: instrument ids shared by the consumers of a stream",
            vec![format!("{prefix}.>")],
            replicas,
            None,
        )
        .await
        .map_err(|e| format!("instrument id stream {name}: {e}"))?;
        Ok(Self {
            js: js.clone(),
            ids,
            prefix,
            handle: tokio::runtime::Handle::current(),
        })
    }

    fn subject(&self, n: usize) -> String {
        format!("{}.{n}", self.prefix)
    }

    /// The entry `id.{n}`, if there is one.
    fn entry(&self, n: usize) -> Result<Option<(String, String)>, String> {
        let found = self
            .handle
            .block_on(self.ids.get_last_raw_message_by_subject(&self.subject(n)));
        let value = match found {
            Ok(m) => Some(m.payload),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => None,
            Err(e) => return Err(format!("instrument id {n}: {e}")),
        };
        value
            .map(|v| {
                serde_json::from_slice::<(String, String)>(&v)
                    .map_err(|e| format!("instrument id {n}: not [exchange, symbol]: {e}"))
            })
            .transpose()
    }

    /// Learns every id the bucket holds past what `registry` knows.
    pub(crate) fn sync(&self, registry: &mut InstrumentRegistry) -> Result<(), String> {
        while let Some((exchange, symbol)) = self.entry(registry.len())? {
            self.learn(registry, &exchange, &symbol)?;
        }
        Ok(())
    }

    fn learn(
        &self,
        registry: &mut InstrumentRegistry,
        exchange: &str,
        symbol: &str,
    ) -> Result<(), String> {
        let n = registry.len();
        let id = registry.reserve(exchange, symbol);
        if id.0 as usize != n {
            return Err(format!(
                "the instrument bucket gives {exchange} {symbol} id {n}, but it already has id {}; the bucket was edited",
                id.0
            ));
        }
        Ok(())
    }

    /// The id of `(exchange, symbol)`: the one `registry` knows, else the
    /// bucket's, else a new one made there.
    pub(crate) fn resolve(
        &self,
        registry: &mut InstrumentRegistry,
        exchange: &str,
        symbol: &str,
    ) -> Result<InstrumentId, String> {
        loop {
            if let Some(id) = registry.lookup(exchange, symbol) {
                return Ok(id);
            }
            let n = registry.len();
            if let Some((e, s)) = self.entry(n)? {
                self.learn(registry, &e, &s)?;
                continue;
            }
            let value = serde_json::to_vec(&(exchange, symbol)).map_err(|e| e.to_string())?;
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Expected-Last-Subject-Sequence", "0");
            let created = self.handle.block_on(async {
                self.js
                    .publish_with_headers(self.subject(n), headers, value.into())
                    .await?
                    .await
            });
            match created {
                Ok(_) => self.learn(registry, exchange, symbol)?,
                // Another host took `n`: the next round reads it.
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {}
                Err(e) => return Err(format!("instrument id {n}: {e}")),
            }
        }
    }
}
