//! The dispatcher: drains the workers' output queue into sinks.

use crate::store::OutputStore;
use crossbeam_channel::Receiver;
use prism_runtime::worker::PluginOutputs;
use std::io::Write;
use std::sync::Arc;

/// Where dispatched outputs go.
pub enum OutputSink {
    /// The in-memory stores the API reads.
    Store(Arc<OutputStore>),
    /// One JSON record a line (the `--out` format).
    Jsonl(Box<dyn Write + Send>),
    /// Every one of these.
    All(Vec<OutputSink>),
    /// Live subscribers (WebSocket clients), handed each batch by a function
    /// that must never block (it queues or drops, and counts what it drops).
    Live(Box<dyn Fn(&PluginOutputs) + Send>),
    /// A sink per plugin id (outputs of other plugins are discarded), so a
    /// file per plugin keeps each plugin's order independent of thread timing.
    ByPlugin(std::collections::HashMap<Arc<str>, OutputSink>),
}

impl OutputSink {
    fn accept(&mut self, batch: &PluginOutputs) -> std::io::Result<()> {
        match self {
            OutputSink::Store(store) => {
                store.insert(&batch.plugin, batch.outputs.clone());
                Ok(())
            }
            OutputSink::Jsonl(out) => {
                for o in &batch.outputs {
                    serde_json::to_writer(&mut *out, &o.to_record(&batch.plugin))?;
                    out.write_all(b"\n")?;
                }
                Ok(())
            }
            OutputSink::All(sinks) => sinks.iter_mut().try_for_each(|s| s.accept(batch)),
            OutputSink::Live(send) => {
                send(batch);
                Ok(())
            }
            OutputSink::ByPlugin(sinks) => match sinks.get_mut(&batch.plugin) {
                Some(sink) => sink.accept(batch),
                None => Ok(()),
            },
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            OutputSink::Store(_) | OutputSink::Live(_) => Ok(()),
            OutputSink::Jsonl(out) => out.flush(),
            OutputSink::All(sinks) => sinks.iter_mut().try_for_each(OutputSink::flush),
            OutputSink::ByPlugin(sinks) => sinks.values_mut().try_for_each(OutputSink::flush),
        }
    }
}

/// Drains `outputs` into `sink` until every worker is gone; returns the
/// number of outputs dispatched.
///
/// # Errors
/// The first write error of a file sink (the stores cannot fail).
pub fn run_dispatcher(
    outputs: Receiver<PluginOutputs>,
    mut sink: OutputSink,
) -> std::io::Result<u64> {
    let mut count = 0u64;
    while let Ok(batch) = outputs.recv() {
        count += batch.outputs.len() as u64;
        sink.accept(&batch)?;
    }
    sink.flush()?;
    Ok(count)
}
