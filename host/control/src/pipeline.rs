//! Starts the stages of the data flow — router, sink stage — and the
//! supervisor that adds plugin workers between them. `run` and `replay`
//! both start through here, and plugins added later (API, config reload)
//! take the same path as those present at start.

use crate::supervisor::{Supervisor, SupervisorSettings};
use crossbeam_channel::{Sender, bounded, unbounded};
use prism_model::Chunk;
use prism_router::{Router, RouterSettings, run_router};
use prism_runtime::PluginEngine;
use prism_sinks::{SinkError, SinkMetrics, SinkSpec, SinkStage};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::thread::JoinHandle;

/// Sizes of the pipeline's queues and batches.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub router: RouterSettings,
    /// Output batches waiting for the sink stage before workers are held back.
    pub output_queue: usize,
    /// Event chunks the source may have waiting for the router.
    pub source_queue: usize,
    /// Kinds of input event handed to the sinks to keep (with the outputs).
    pub archive: Vec<prism_model::EventKind>,
    pub supervisor: SupervisorSettings,
}

/// A running pipeline. Send event chunks into [`Pipeline::source`]; call
/// [`Pipeline::finish`] to drain and stop.
pub struct Pipeline {
    pub source: Sender<Chunk>,
    pub supervisor: Arc<Supervisor>,
    /// Event time of the newest event routed (ms), for lag.
    pub head_ts: Arc<AtomicI64>,
    /// Each sink's counters.
    pub sinks: Vec<Arc<SinkMetrics>>,
    router: JoinHandle<()>,
    stage: SinkStage,
}

impl Pipeline {
    /// Starts the router and the sink stage, with no plugins yet.
    ///
    /// # Errors
    /// When the OS refuses a thread.
    pub fn start(
        engine: PluginEngine,
        settings: PipelineSettings,
        sinks: Vec<SinkSpec>,
    ) -> std::io::Result<Self> {
        let (out_tx, out_rx) = bounded(settings.output_queue.max(1));
        let stage = SinkStage::start(out_rx, sinks)?;
        let router =
            Router::new(settings.router, Vec::new()).archiving(&settings.archive, out_tx.clone());
        let head_ts = router.head_ts();
        let (source, source_rx) = bounded(settings.source_queue.max(1));
        let (commands, commands_rx) = unbounded();
        let router = std::thread::Builder::new()
            .name("prism-router".into())
            .spawn(move || run_router(router, source_rx, commands_rx))?;
        let supervisor = Arc::new(Supervisor::new(
            engine,
            settings.supervisor,
            commands,
            out_tx,
        )?);
        Ok(Self {
            source,
            supervisor,
            head_ts,
            sinks: stage.metrics(),
            router,
            stage,
        })
    }

    /// Hands the source's sender to the caller: the pipeline then drains and
    /// its workers stop (state `stopped`) as soon as that sender and its
    /// clones are dropped, e.g. when a finite replay reaches its end.
    pub fn take_source(&mut self) -> Sender<Chunk> {
        let (closed, _) = bounded(1);
        std::mem::replace(&mut self.source, closed)
    }

    /// Closes the source, lets every queue drain, and returns the number of
    /// outputs that went to the sinks.
    ///
    /// # Errors
    /// A sink's error, or a stage that panicked.
    pub fn finish(self) -> Result<u64, SinkError> {
        drop(self.source);
        self.router.join().map_err(|_| SinkError::Other {
            sink: "router".into(),
            message: "the router thread panicked".into(),
        })?;
        self.supervisor.shut_down();
        self.stage.finish()
    }
}
