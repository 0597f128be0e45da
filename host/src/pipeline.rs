//! Wires router, plugin workers and the output dispatcher together. `run`
//! and `replay` both start through here.

use crate::plugins::{LoadedPlugin, filter_of};
use prism_api::PluginView;
use prism_model::Event;
use prism_outputs::{OutputSink, run_dispatcher};
use prism_router::{Route, Router, RouterSettings, plugin_queue, run_router};
use prism_runtime::worker::{FaultReporter, spawn_worker};
use prism_runtime::{Fault, PluginMetrics};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Sizes of the pipeline's queues and batches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PipelineSettings {
    pub(crate) router: RouterSettings,
    pub(crate) queue_batches: usize,
    pub(crate) output_queue: usize,
    /// Event chunks the source may have waiting for the router.
    pub(crate) source_queue: usize,
}

/// A running pipeline. Send event chunks into [`Pipeline::source`]; drop it
/// (or call [`Pipeline::finish`]) to drain and stop.
pub(crate) struct Pipeline {
    pub(crate) source: SyncSender<Vec<Event>>,
    pub(crate) views: Vec<PluginView>,
    pub(crate) head_ts: Arc<AtomicI64>,
    router: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    dispatcher: JoinHandle<std::io::Result<u64>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Pipeline {
    /// Starts a worker per plugin, the router and the dispatcher.
    ///
    /// # Errors
    /// When the OS refuses a thread.
    pub(crate) fn start(
        settings: PipelineSettings,
        plugins: Vec<LoadedPlugin>,
        sink: OutputSink,
    ) -> std::io::Result<Self> {
        let (out_tx, out_rx) = sync_channel(settings.output_queue.max(1));
        let dispatcher = std::thread::Builder::new()
            .name("prism-outputs".into())
            .spawn(move || run_dispatcher(out_rx, sink))?;
        let on_fault: FaultReporter = Arc::new(|plugin: &str, fault: &Fault| {
            tracing::error!(plugin, kind = ?fault.kind, "plugin failed: {}", fault.message);
        });
        let mut routes = Vec::new();
        let mut views = Vec::new();
        let mut workers = Vec::new();
        for plugin in plugins {
            let (tx, rx) = plugin_queue(settings.queue_batches);
            let metrics = Arc::new(PluginMetrics::default());
            let id: Arc<str> = Arc::from(plugin.id.as_str());
            views.push(PluginView {
                id: plugin.id.to_string(),
                name: plugin.info.name.clone(),
                version: plugin.info.version.clone(),
                path: plugin.path.display().to_string(),
                sha256: plugin.digest.clone(),
                subscription: plugin.subscription.clone(),
                metrics: metrics.clone(),
                queue_depth: tx.depth_gauge(),
                loaded_at_ms: now_ms(),
            });
            routes.push(Route::new(&id, filter_of(&plugin.subscription), tx));
            workers.push(spawn_worker(
                id,
                plugin.instance,
                rx,
                out_tx.clone(),
                metrics,
                on_fault.clone(),
            )?);
        }
        drop(out_tx);
        let router = Router::new(settings.router, routes);
        let head_ts = router.head_ts();
        let (source, source_rx) = sync_channel(settings.source_queue.max(1));
        let router = std::thread::Builder::new()
            .name("prism-router".into())
            .spawn(move || run_router(router, source_rx))?;
        Ok(Self {
            source,
            views,
            head_ts,
            router,
            workers,
            dispatcher,
        })
    }

    /// Closes the source, lets every queue drain, and returns the number of
    /// outputs dispatched.
    ///
    /// # Errors
    /// A write error of the output sink, or a stage that panicked.
    pub(crate) fn finish(self) -> std::io::Result<u64> {
        drop(self.source);
        let joined = |name: &str| std::io::Error::other(format!("the {name} thread panicked"));
        self.router.join().map_err(|_| joined("router"))?;
        for w in self.workers {
            w.join().map_err(|_| joined("plugin worker"))?;
        }
        self.dispatcher.join().map_err(|_| joined("output"))?
    }
}
