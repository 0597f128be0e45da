//! A plugin's worker thread: takes batches from its queue, calls the plugin,
//! hands the outputs on. Plugins never run on the async reactor.

use crate::error::Fault;
use crate::metrics::{PluginMetrics, PluginState};
use crate::plugin::PluginInstance;
use prism_model::{Event, Output};
use prism_router::BatchReceiver;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Instant;

/// The outputs of one batch of one plugin, in the order it returned them.
#[derive(Debug, Clone)]
pub struct PluginOutputs {
    pub plugin: Arc<str>,
    pub outputs: Vec<Output>,
}

/// Where workers send outputs: a bounded channel to the output stage.
pub type OutputSender = SyncSender<PluginOutputs>;

/// Reports a fault to whoever watches plugins (the host's log, the API).
pub type FaultReporter = Arc<dyn Fn(&str, &Fault) + Send + Sync>;

/// Starts the worker thread for one plugin.
///
/// The thread ends when the queue's senders are gone and it is drained. After
/// a fault the instance is dropped, the plugin is marked failed, and the
/// thread keeps draining its queue (counting `events_dropped`) so the router
/// is never blocked by a dead plugin.
///
/// # Errors
/// When the OS refuses a thread.
pub fn spawn_worker(
    id: Arc<str>,
    instance: PluginInstance,
    queue: BatchReceiver,
    outputs: OutputSender,
    metrics: Arc<PluginMetrics>,
    on_fault: FaultReporter,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("plugin-{id}"))
        .spawn(move || run(&id, instance, &queue, &outputs, &metrics, &on_fault))
}

fn run(
    id: &Arc<str>,
    instance: PluginInstance,
    queue: &BatchReceiver,
    outputs: &OutputSender,
    metrics: &PluginMetrics,
    on_fault: &FaultReporter,
) {
    let mut instance = Some(instance);
    metrics.set_state(PluginState::Running);
    while let Ok(batch) = queue.recv() {
        let delivered = batch.market_events() as u64;
        let Some(live) = instance.as_mut() else {
            metrics
                .events_dropped
                .fetch_add(delivered, Ordering::Relaxed);
            continue;
        };
        let started = Instant::now();
        let result = live.on_events(&batch.events);
        metrics.observe_call(started.elapsed());
        metrics.batches.fetch_add(1, Ordering::Relaxed);
        metrics
            .memory_bytes
            .store(live.memory_used() as u64, Ordering::Relaxed);
        match result {
            Ok(produced) => {
                metrics.events_in.fetch_add(delivered, Ordering::Relaxed);
                if let Some(ts) = batch.events.iter().rev().find_map(Event::ts) {
                    metrics.last_event_ts.fetch_max(ts, Ordering::Relaxed);
                }
                for o in &produced {
                    metrics.count_output(o.kind());
                }
                if !produced.is_empty()
                    && outputs
                        .send(PluginOutputs {
                            plugin: id.clone(),
                            outputs: produced,
                        })
                        .is_err()
                {
                    tracing::debug!(plugin = %id, "output stage closed");
                }
            }
            Err(fault) => {
                metrics
                    .events_dropped
                    .fetch_add(delivered, Ordering::Relaxed);
                metrics.record_error(fault.to_string());
                metrics.set_state(PluginState::Failed);
                on_fault(id, &fault);
                instance = None;
            }
        }
    }
    if instance.is_some() {
        metrics.set_state(PluginState::Stopped);
    }
}
