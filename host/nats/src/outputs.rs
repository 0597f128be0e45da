//! Every plugin output published to `{prefix}.{plugin}.{kind}`.

use crate::Nats;
use crate::publisher::{Message, Publisher};
use crate::subject::{output_id, output_subject};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use bytes::Bytes;
use prism_model::{OutputBatch, OutputKind};
use prism_sinks::{Sink, SinkError};
use std::collections::HashMap;
use std::sync::Arc;

/// A sink that publishes each output as JSON (the `--out` line, plus its
/// `id`) with its identity `{plugin}:{position}:{index}` as message id: a
/// recovery replay or a restart that makes an output again is dropped by
/// the stream.
///
/// A batch at or before the position up to which a plugin's outputs are
/// in the stream already (read from the stream at the plugin's first batch)
/// is not published again: a restarted plugin re-makes them, and the
/// pipeline ends its batches at that position (the supervisor's fence,
/// from [`crate::Nats::delivered_until`]), so they are whole batches.
pub struct OutputPublisher {
    publisher: Publisher,
    prefix: String,
    js: async_nats::jetstream::Context,
    handle: tokio::runtime::Handle,
    settings: crate::NatsSettings,
    health: std::sync::Arc<crate::NatsHealth>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    delivered: HashMap<Arc<str>, Option<u64>>,
}

/// The batch position in a message id `{plugin}:{position}:{index}`.
fn position_in(id: &str) -> Option<u64> {
    let mut parts = id.rsplitn(3, ':');
    let _index = parts.next()?;
    parts.next()?.parse().ok()
}

pub(crate) async fn delivered_until(
    js: &async_nats::jetstream::Context,
    settings: &crate::NatsSettings,
    plugin: &str,
) -> Result<Option<u64>, crate::NatsError> {
    let stream = js
        .get_stream(settings.output_stream.as_str())
        .await
        .map_err(crate::js_error)?;
    let mut until = None;
    for kind in OutputKind::ALL {
        let subject = output_subject(&settings.output_prefix, plugin, kind);
        match stream.get_last_raw_message_by_subject(&subject).await {
            Ok(m) => {
                let id = m
                    .headers
                    .get("Nats-Msg-Id")
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default();
                until = until.max(position_in(&id));
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => {}
            Err(e) => return Err(crate::js_error(e)),
        }
    }
    Ok(until)
}

impl OutputPublisher {
    pub(crate) fn new(nats: &Nats) -> Self {
        Self {
            publisher: Publisher::new(
                nats.js.clone(),
                nats.handle.clone(),
                nats.health(),
                nats.settings.in_flight,
                nats.stopping.clone(),
            ),
            prefix: nats.settings.output_prefix.clone(),
            js: nats.js.clone(),
            handle: nats.handle.clone(),
            settings: nats.settings.clone(),
            health: nats.health(),
            stopping: nats.stopping.clone(),
            delivered: HashMap::new(),
        }
    }

    /// Whether `batch` is in the stream already.
    fn delivered(&mut self, batch: &OutputBatch) -> bool {
        if !self.delivered.contains_key(&batch.plugin) {
            let mut backoff = std::time::Duration::from_millis(100);
            let until = loop {
                match self
                    .handle
                    .block_on(delivered_until(&self.js, &self.settings, &batch.plugin))
                {
                    Ok(until) => break until,
                    // Stopping with the server away: what follows is lost
                    // anyway (and counted so).
                    Err(_) if self.stopping.load(std::sync::atomic::Ordering::Relaxed) => {
                        break None;
                    }
                    // Publishing without knowing could publish twice.
                    Err(e) => {
                        self.health.failed(format!(
                            "reading what `{}` published before: {e}",
                            batch.plugin
                        ));
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                    }
                }
            };
            self.delivered.insert(batch.plugin.clone(), until);
        }
        self.delivered
            .get(&batch.plugin)
            .copied()
            .flatten()
            .is_some_and(|until| batch.position <= until)
    }
}

impl Sink for OutputPublisher {
    fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError> {
        if batch.outputs.is_empty() {
            return Ok(());
        }
        if self.delivered(batch) {
            self.health.suppressed.fetch_add(
                batch.outputs.len() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            return Ok(());
        }
        for (index, output) in batch.outputs.iter().enumerate() {
            let id = output_id(&batch.plugin, batch.position, index);
            let mut line = output.to_line(&batch.plugin);
            if let Some(fields) = line.as_object_mut() {
                fields.insert("id".into(), id.clone().into());
            }
            let payload = serde_json::to_vec(&line).map_err(|e| SinkError::Other {
                sink: "nats outputs".into(),
                message: e.to_string(),
            })?;
            self.publisher.push(Message {
                subject: output_subject(&self.prefix, &batch.plugin, output.kind()),
                id,
                content_type: "application/json",
                payload: Bytes::from(payload),
            });
        }
        Ok(())
    }

    fn idle(&mut self) -> Result<(), SinkError> {
        self.publisher.flush(None);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.publisher.finish("nats outputs", "outputs")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_position_is_read_from_an_output_id() {
        assert_eq!(super::position_in("whale-detector:1234:2"), Some(1234));
        assert_eq!(super::position_in("x"), None);
        assert_eq!(super::position_in("p:a:1"), None);
    }
}
