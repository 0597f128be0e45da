//! Every plugin output published to `{prefix}.{plugin}.{kind}`.

use crate::Nats;
use crate::publisher::{Message, Publisher};
use crate::spooled::SpooledPublisher;
use crate::subject::{output_id, output_subject};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use bytes::Bytes;
use prism_model::{Checkpoint, OutputBatch, OutputKind};
use prism_sinks::{Sink, SinkError};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Header naming the batch's output count, so a restart can tell a batch
/// the stream has whole from one cut by a crash.
pub(crate) const BATCH_OUTPUTS: &str = "Prism-Batch-Outputs";
/// Header naming the position of the plugin's batch before this one.
pub(crate) const BATCH_PREVIOUS: &str = "Prism-Batch-Previous";
/// Header naming the partition of the instance that made the output (in a
/// cluster).
pub(crate) const PARTITION: &str = "Prism-Partition";
/// Every header an output message carries besides the id and type.
pub(crate) const HEADERS: [&str; 3] = [BATCH_OUTPUTS, BATCH_PREVIOUS, PARTITION];

/// Where outputs go: straight to the stream, or through the disk spool.
enum Outbox {
    Direct(Box<Publisher>),
    Spooled(SpooledPublisher),
}

impl Outbox {
    fn push(&mut self, message: Message) -> Result<(), SinkError> {
        match self {
            Self::Direct(p) => {
                p.push(message);
                Ok(())
            }
            Self::Spooled(s) => s.push(&message),
        }
    }

    fn pushed(&self) -> u64 {
        match self {
            Self::Direct(p) => p.pushed(),
            Self::Spooled(s) => s.pushed(),
        }
    }

    fn settled(&self) -> u64 {
        match self {
            Self::Direct(p) => p.settled(),
            Self::Spooled(s) => s.settled(),
        }
    }

    fn stored_up_to(&self) -> u64 {
        match self {
            Self::Direct(p) => p.stored_up_to(),
            Self::Spooled(s) => s.stored_up_to(),
        }
    }

    /// Between batches: the direct publisher waits for the stream; the
    /// spooled one hands the batch to its thread and waits a moment at
    /// most (the checkpoints after it are handed on as the stream takes
    /// it, at the next call).
    fn idle(&mut self) {
        match self {
            Self::Direct(p) => {
                p.flush(None);
            }
            Self::Spooled(s) => {
                s.flush();
                let until = std::time::Instant::now() + std::time::Duration::from_millis(200);
                while s.settled() < s.pushed() && std::time::Instant::now() < until {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        match self {
            Self::Direct(p) => p.finish("nats outputs", "outputs"),
            Self::Spooled(s) => s.finish(),
        }
    }
}

/// A plugin's checkpoint whose outputs the stream has: persist it. The
/// number is the first output-stream sequence that can hold an output the
/// plugin made after it (a host taking the plugin over reads from there).
pub type CheckpointHook = Box<dyn FnMut(&Checkpoint, u64) + Send>;

/// How far each partition instance taken over from another host got in the
/// output stream, told by the host taking it before it starts (the output
/// stream's subjects are per plugin, not per instance).
pub type Handovers = Arc<std::sync::Mutex<HashMap<Arc<str>, Option<Delivered>>>>;

/// A sink that publishes each output as JSON (the `--out` line, plus its
/// `id`) with its identity `{plugin}:{position}:{index}` as message id: a
/// recovery replay or a restart that makes an output again is dropped by
/// the stream.
///
/// A batch at or before the position up to which a plugin's outputs are
/// in the stream already (read from the stream at the plugin's first batch)
/// is not published again: a restarted plugin re-makes them, and the
/// pipeline ends its batches at that position (the supervisor's fence,
/// from [`crate::Nats::delivered_until`]), so they are whole batches. A
/// batch the stream holds only the first outputs of (a crash while it was
/// published) is made again whole — the pipeline ends a batch at the one
/// before it too — and only its missing outputs are published.
///
/// With a [`CheckpointHook`], each checkpoint is handed on only once the
/// stream has every output made before it: a restart from a persisted
/// checkpoint never skips an output the stream lacks.
pub struct OutputPublisher {
    publisher: Outbox,
    prefix: String,
    js: async_nats::jetstream::Context,
    handle: tokio::runtime::Handle,
    settings: crate::NatsSettings,
    health: std::sync::Arc<crate::NatsHealth>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    delivered: HashMap<Arc<str>, Option<Delivered>>,
    handovers: Handovers,
    /// Checkpoints waiting for the outputs before them: the number of
    /// messages pushed when each came, and the stream sequence after the
    /// highest acknowledged then.
    checkpoints: VecDeque<(u64, u64, Checkpoint)>,
    on_checkpoint: Option<CheckpointHook>,
}

/// How far a plugin's outputs are in the output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The position of the last batch with outputs in the stream.
    pub position: u64,
    /// That batch's predecessor, when the stream lacks the batch's last
    /// outputs: (the position of the batch before it, the highest output
    /// index it has).
    pub partial: Option<(Option<u64>, u32)>,
}

impl Delivered {
    /// From the stream's last output of a plugin: its batch position and
    /// index, and the headers saying its batch's output count and the
    /// batch before.
    pub(crate) fn of_last(
        position: u64,
        index: u32,
        count: Option<u32>,
        previous: Option<u64>,
    ) -> Self {
        Self {
            position,
            // Without the count (an older Prism wrote it), taken as whole.
            partial: count.filter(|n| index + 1 < *n).map(|_| (previous, index)),
        }
    }

    /// Whether output `index` of the batch at `position` is in the stream.
    fn has(&self, position: u64, index: usize) -> bool {
        position < self.position
            || position == self.position
                && self
                    .partial
                    .is_none_or(|(_, up_to)| index <= up_to as usize)
    }
}

/// The batch position and index in a message id `{plugin}:{position}:{index}`.
pub(crate) fn position_in(id: &str) -> Option<(u64, u32)> {
    let mut parts = id.rsplitn(3, ':');
    let index = parts.next()?.parse().ok()?;
    Some((parts.next()?.parse().ok()?, index))
}

pub(crate) async fn delivered_until(
    js: &async_nats::jetstream::Context,
    settings: &crate::NatsSettings,
    plugin: &str,
) -> Result<Option<Delivered>, crate::NatsError> {
    let stream = js
        .get_stream(settings.output_stream.as_str())
        .await
        .map_err(crate::js_error)?;
    // The last message of each kind's subject: the stream stores a plugin's
    // outputs in order, so the newest batch among them is the last one,
    // and it is whole when its last output is there.
    let mut last: Option<(u64, u32, Option<u32>, Option<u64>)> = None;
    for kind in OutputKind::ALL {
        let subject = output_subject(&settings.output_prefix, plugin, kind);
        match stream.get_last_raw_message_by_subject(&subject).await {
            Ok(m) => {
                let header = |name: &str| m.headers.get(name).map(|v| v.as_str().to_owned());
                let Some((position, index)) =
                    header("Nats-Msg-Id").as_deref().and_then(position_in)
                else {
                    continue;
                };
                let count = header(BATCH_OUTPUTS).and_then(|v| v.parse().ok());
                let previous = header(BATCH_PREVIOUS).and_then(|v| v.parse().ok());
                if last.is_none_or(|(p, i, _, _)| (position, index) > (p, i)) {
                    last = Some((position, index, count, previous));
                }
            }
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => {}
            Err(e) => return Err(crate::js_error(e)),
        }
    }
    Ok(last.map(|(position, index, count, previous)| {
        Delivered::of_last(position, index, count, previous)
    }))
}

impl OutputPublisher {
    pub(crate) fn new(
        nats: &Nats,
        on_checkpoint: Option<CheckpointHook>,
    ) -> Result<Self, crate::NatsError> {
        // Whatever this run publishes is stored after the stream's last
        // message now (0 when it cannot be read: from the start, which is
        // only slower to look through).
        let last = nats
            .handle
            .block_on(async {
                let mut stream = nats
                    .js
                    .get_stream(nats.settings.output_stream.as_str())
                    .await
                    .ok()?;
                stream.info().await.ok().map(|i| i.state.last_sequence)
            })
            .unwrap_or(0);
        let publisher = match &nats.settings.spool {
            None => Outbox::Direct(Box::new(
                Publisher::new(
                    nats.js.clone(),
                    nats.handle.clone(),
                    nats.health(),
                    nats.settings.in_flight,
                    nats.stopping.clone(),
                )
                .stored_after(last),
            )),
            // The spool's publisher never gives a message up: what the
            // stream lacks at shutdown stays in the spool.
            Some((dir, max_bytes)) => Outbox::Spooled(
                SpooledPublisher::open(
                    dir,
                    *max_bytes,
                    Publisher::new(
                        nats.js.clone(),
                        nats.handle.clone(),
                        nats.health(),
                        nats.settings.in_flight,
                        Arc::default(),
                    )
                    .stored_after(last),
                    nats.health(),
                    nats.stopping.clone(),
                )
                .map_err(|e| crate::NatsError::JetStream(format!("the outputs' spool: {e}")))?,
            ),
        };
        Ok(Self {
            publisher,
            prefix: nats.settings.output_prefix.clone(),
            js: nats.js.clone(),
            handle: nats.handle.clone(),
            settings: nats.settings.clone(),
            health: nats.health(),
            stopping: nats.stopping.clone(),
            delivered: HashMap::new(),
            handovers: Handovers::default(),
            checkpoints: VecDeque::new(),
            on_checkpoint,
        })
    }

    /// Where a host taking partition instances over tells how far each got.
    #[must_use]
    pub fn handovers(&self) -> Handovers {
        self.handovers.clone()
    }

    /// What the stream had of `plugin`'s outputs when this run began (or,
    /// for an instance taken over, when it was).
    fn delivered(&mut self, plugin: &Arc<str>) -> Option<Delivered> {
        if let Some(told) = self
            .handovers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(plugin)
        {
            self.delivered.insert(plugin.clone(), told);
        }
        if !self.delivered.contains_key(plugin)
            && prism_model::partition::split_instance(plugin).1.is_some()
        {
            tracing::warn!(instance = %plugin, "no handover said how far this instance's outputs got");
            self.delivered.insert(plugin.clone(), None);
        }
        if !self.delivered.contains_key(plugin) {
            let mut backoff = std::time::Duration::from_millis(100);
            let until = loop {
                match self
                    .handle
                    .block_on(delivered_until(&self.js, &self.settings, plugin))
                {
                    Ok(until) => break until,
                    // Stopping with the server away: what follows is lost
                    // anyway (and counted so).
                    Err(_) if self.stopping.load(std::sync::atomic::Ordering::Relaxed) => {
                        break None;
                    }
                    // Publishing without knowing could publish twice.
                    Err(e) => {
                        self.health
                            .failed(format!("reading what `{plugin}` published before: {e}"));
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                    }
                }
            };
            self.delivered.insert(plugin.clone(), until);
        }
        self.delivered.get(plugin).copied().flatten()
    }

    /// Hands on the checkpoints whose outputs the stream has.
    fn release_checkpoints(&mut self) {
        let settled = self.publisher.settled();
        while self
            .checkpoints
            .front()
            .is_some_and(|(needs, _, _)| *needs <= settled)
        {
            if let Some((_, from, c)) = self.checkpoints.pop_front()
                && let Some(hook) = self.on_checkpoint.as_mut()
            {
                hook(&c, from);
            }
        }
    }
}

impl Sink for OutputPublisher {
    fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError> {
        if batch.outputs.is_empty() {
            return Ok(());
        }
        let delivered = self.delivered(&batch.plugin);
        let count = batch.outputs.len().to_string();
        let previous = batch.previous.map(|p| p.to_string());
        // A partition's instance publishes as its plugin, its partition in
        // a header (the outputs of a cluster are its plugins' outputs).
        let (plugin, partition) = prism_model::partition::split_instance(&batch.plugin);
        for (index, output) in batch.outputs.iter().enumerate() {
            if delivered.is_some_and(|d| d.has(batch.position, index)) {
                self.health
                    .suppressed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            let id = output_id(plugin, batch.position, index);
            let mut line = output.to_line(plugin);
            if let Some(fields) = line.as_object_mut() {
                fields.insert("id".into(), id.clone().into());
                if let Some(p) = partition {
                    fields.insert("partition".into(), p.into());
                }
            }
            let payload = serde_json::to_vec(&line).map_err(|e| SinkError::Other {
                sink: "nats outputs".into(),
                message: e.to_string(),
            })?;
            let mut headers = vec![(BATCH_OUTPUTS, count.clone())];
            if let Some(p) = &previous {
                headers.push((BATCH_PREVIOUS, p.clone()));
            }
            if let Some(p) = partition {
                headers.push((PARTITION, p.to_string()));
            }
            self.publisher.push(Message {
                subject: output_subject(&self.prefix, plugin, output.kind()),
                id,
                content_type: "application/json",
                headers,
                payload: Bytes::from(payload),
            })?;
        }
        if let Outbox::Spooled(s) = &mut self.publisher {
            s.flush();
        }
        self.release_checkpoints();
        Ok(())
    }

    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), SinkError> {
        if self.on_checkpoint.is_some() {
            // A newer checkpoint of a plugin supersedes one still waiting
            // (so the wait stays bounded through an outage), unless that
            // one is the last of its run.
            self.checkpoints
                .retain(|(_, _, c)| c.plugin != checkpoint.plugin || c.last);
            self.checkpoints.push_back((
                self.publisher.pushed(),
                self.publisher.stored_up_to() + 1,
                checkpoint.clone(),
            ));
            self.release_checkpoints();
        }
        Ok(())
    }

    fn idle(&mut self) -> Result<(), SinkError> {
        self.publisher.idle();
        self.release_checkpoints();
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let result = self.publisher.finish();
        // Only those the stream has every output before: the rest would
        // skip outputs it lacks.
        if result.is_ok() {
            self.release_checkpoints();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_position_is_read_from_an_output_id() {
        assert_eq!(super::position_in("whale-detector:1234:2"), Some((1234, 2)));
        assert_eq!(super::position_in("x"), None);
        assert_eq!(super::position_in("p:a:1"), None);
    }
}
