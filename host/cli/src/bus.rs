//! NATS JetStream, when `[nats]` is configured: connected (streams checked)
//! before anything starts, its sinks, and the consumer of a `nats` source.

use crate::source::Resumed;
use prism_config::{BusFormat, Config, DeliverFrom, NatsSourceConfig, SourceConfig};
use prism_nats::{Encoding, Nats, NatsSettings, NatsSource, SourceSettings, first_sequence};
use prism_sinks::{Overflow, SinkSpec};
use std::time::Duration;

fn duration(key: &str, text: &str) -> anyhow::Result<Duration> {
    prism_config::parse_duration(text).map_err(|e| anyhow::anyhow!("{key}: {e}"))
}

/// Connects when something uses NATS: a `nats` source, the collector
/// (`collect`), or the output publisher (`outputs`).
///
/// # Errors
/// When the server does not answer or a stream does not fit.
pub(crate) fn open(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Option<Nats>> {
    let n = &config.nats;
    let Some(url) = n.effective_url() else {
        return Ok(None);
    };
    let source = matches!(config.source, SourceConfig::Nats(_));
    let collect = !n.collect.is_empty();
    if !(source || collect || n.outputs) {
        tracing::warn!(
            "[nats] url is set but nothing uses it: set nats.collect, nats.outputs, or a `nats` source"
        );
        return Ok(None);
    }
    let settings = NatsSettings {
        url,
        connect_timeout: Duration::from_millis(n.connect_timeout_ms),
        stream: n.stream.clone(),
        subject_prefix: n.subject_prefix.clone(),
        max_age: duration("nats.max_age", &n.max_age)?,
        replicas: n.replicas,
        duplicate_window: duration("nats.duplicate_window", &n.duplicate_window)?,
        output_stream: n.output_stream.clone(),
        output_prefix: n.output_prefix.clone(),
        collector: n.collector.clone(),
        collect: n.collect.clone(),
        encoding: match n.format {
            BusFormat::Json => Encoding::Json,
            BusFormat::Msgpack => Encoding::Msgpack,
        },
        in_flight: n.in_flight,
        // A cluster host hands partitions over once the stream has their
        // outputs; a spool left by a dead host would publish them late.
        spool: (n.spool_mb > 0 && config.cluster.name.is_none()).then(|| {
            (
                config
                    .resolve(&config.runtime.data_dir)
                    .join("nats")
                    .join("outputs"),
                n.spool_mb << 20,
            )
        }),
    };
    let nats = runtime.block_on(Nats::connect(settings, source || collect, n.outputs))?;
    tracing::info!(stream = %n.stream, "NATS JetStream connected");
    Ok(Some(nats))
}

/// The collector and the output publisher, as configured. Both keep what
/// they are given (the pipeline waits when their queue is full).
/// `checkpoints`: where the output publisher hands each checkpoint once the
/// stream has every output before it. Also returns where a cluster host
/// tells the output publisher how far instances it takes over got.
pub(crate) fn sinks(
    config: &Config,
    nats: &Nats,
    checkpoints: Option<prism_nats::CheckpointHook>,
) -> anyhow::Result<(Vec<SinkSpec>, Option<prism_nats::Handovers>)> {
    let mut sinks = Vec::new();
    if !config.nats.collect.is_empty() {
        sinks.push(SinkSpec::new(
            "nats-collector",
            nats.collector(),
            config.pipeline.output_queue,
            Overflow::Wait,
        ));
    }
    let mut handovers = None;
    if config.nats.outputs {
        let publisher = nats.outputs(checkpoints)?;
        handovers = Some(publisher.handovers());
        sinks.push(SinkSpec::new(
            "nats-outputs",
            publisher,
            config.pipeline.output_queue,
            Overflow::Wait,
        ));
    }
    Ok((sinks, handovers))
}

/// The first stream sequence the plugins need: the one after the earliest
/// checkpoint. Restored plugins are declared the instruments their
/// checkpoint names, so they need nothing before it. With `deliver =
/// "all"`, a plugin without a checkpoint (new, or killed before its first)
/// needs the stream from its start, as a replay does — and so does one
/// whose checkpoint lacks its instrument table (an older file: it must
/// meet its instruments again); the restored ones skip what their
/// checkpoints cover.
fn start(resumed: &Resumed, deliver: DeliverFrom) -> Option<u64> {
    if resumed.from_checkpoints
        && deliver == DeliverFrom::All
        && (resumed.fresh || resumed.untabled)
    {
        return Some(1);
    }
    resumed.earliest.map(first_sequence)
}

/// The consumer of a `nats` source, placed where the restored plugins'
/// checkpoints need it.
///
/// # Errors
/// When the stream or the consumer cannot be used.
pub(crate) fn source(
    runtime: &tokio::runtime::Runtime,
    nats: &Nats,
    app: &Config,
    config: &NatsSourceConfig,
    resumed: &Resumed,
) -> anyhow::Result<NatsSource> {
    let settings = SourceSettings {
        filter: config.subjects(&app.nats),
        durable: config.durable.clone(),
        from_oldest: config.deliver == DeliverFrom::All,
        fetch: config.fetch,
        ack_wait: duration("source.ack_wait", &config.ack_wait)?,
        start: start(resumed, config.deliver),
    };
    Ok(runtime.block_on(NatsSource::open(nats, &settings))?)
}

/// Tells the supervisor, for each plugin about to start, up to which batch
/// position the output stream has its outputs, so a resumed plugin's
/// batches end there again (no output is published twice).
///
/// # Errors
/// When the output stream cannot be read.
pub(crate) fn fences<'a>(
    runtime: &tokio::runtime::Runtime,
    nats: &Nats,
    config: &Config,
    supervisor: &prism_control::Supervisor,
    handovers: Option<&prism_nats::Handovers>,
    ids: impl Iterator<Item = &'a str>,
) -> anyhow::Result<()> {
    if !config.nats.outputs {
        return Ok(());
    }
    for id in ids {
        let delivered = runtime.block_on(nats.delivered_until(id))?;
        fence(supervisor, handovers, id, delivered);
    }
    Ok(())
}

/// Tells the output publisher (which then need not read the stream itself,
/// perhaps during an outage) and the router how far plugin `id`'s outputs
/// got in the stream.
pub(crate) fn fence(
    supervisor: &prism_control::Supervisor,
    handovers: Option<&prism_nats::Handovers>,
    id: &str,
    delivered: Option<prism_nats::Delivered>,
) {
    if let Some(h) = handovers {
        h.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(std::sync::Arc::from(id), delivered);
    }
    if let Some(d) = delivered {
        supervisor.fence(id, d.position);
        // The stream has that batch in part: the batch is made again the
        // same (it starts after the same one), and what it lacks is
        // published.
        if let Some((Some(previous), _)) = d.partial {
            supervisor.fence(id, previous);
        }
    }
}
