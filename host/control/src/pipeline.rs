//! Starts the stages of the data flow — router, output dispatcher — and the
//! supervisor that adds plugin workers to them. `run` and `replay` both start
//! through here, and plugins added later (API, config reload) take the same
//! path as those present at start.

use crate::supervisor::{Supervisor, SupervisorSettings};
use crossbeam_channel::{Sender, bounded, unbounded};
use prism_model::Event;
use prism_outputs::{OutputSink, run_dispatcher};
use prism_router::{Router, RouterSettings, run_router};
use prism_runtime::PluginEngine;
use prism_runtime::worker::SnapshotSink;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::thread::JoinHandle;

/// Sizes of the pipeline's queues and batches.
#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings {
    pub router: RouterSettings,
    /// Output batches waiting for the sinks before workers are held back.
    pub output_queue: usize,
    /// Event chunks the source may have waiting for the router.
    pub source_queue: usize,
    pub supervisor: SupervisorSettings,
}

/// A running pipeline. Send event chunks into [`Pipeline::source`]; call
/// [`Pipeline::finish`] to drain and stop.
pub struct Pipeline {
    pub source: Sender<Vec<Event>>,
    pub supervisor: Arc<Supervisor>,
    /// Event time of the newest event routed (ms), for lag.
    pub head_ts: Arc<AtomicI64>,
    router: JoinHandle<()>,
    dispatcher: JoinHandle<std::io::Result<u64>>,
}

impl Pipeline {
    /// Starts the router and the dispatcher, with no plugins yet.
    ///
    /// # Errors
    /// When the OS refuses a thread.
    pub fn start(
        engine: PluginEngine,
        settings: PipelineSettings,
        sink: OutputSink,
        on_snapshot: Option<SnapshotSink>,
    ) -> std::io::Result<Self> {
        let (out_tx, out_rx) = bounded(settings.output_queue.max(1));
        let dispatcher = std::thread::Builder::new()
            .name("prism-outputs".into())
            .spawn(move || run_dispatcher(out_rx, sink))?;
        let router = Router::new(settings.router, Vec::new());
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
            on_snapshot,
        ));
        Ok(Self {
            source,
            supervisor,
            head_ts,
            router,
            dispatcher,
        })
    }

    /// Hands the source's sender to the caller: the pipeline then drains and
    /// its workers stop (state `stopped`) as soon as that sender and its
    /// clones are dropped, e.g. when a finite replay reaches its end.
    pub fn take_source(&mut self) -> Sender<Vec<Event>> {
        let (closed, _) = bounded(1);
        std::mem::replace(&mut self.source, closed)
    }

    /// Closes the source, lets every queue drain, and returns the number of
    /// outputs dispatched.
    ///
    /// # Errors
    /// A write error of the output sink, or a stage that panicked.
    pub fn finish(self) -> std::io::Result<u64> {
        drop(self.source);
        let joined = |name: &str| std::io::Error::other(format!("the {name} thread panicked"));
        self.router.join().map_err(|_| joined("router"))?;
        self.supervisor.shut_down();
        self.dispatcher.join().map_err(|_| joined("output"))?
    }
}
