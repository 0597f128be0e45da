//! `GET /api/v1/system/capacity`.

use serde::Serialize;
use utoipa::ToSchema;

/// What the host holds against its limits.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CapacityView {
    /// Plugins added (any state).
    pub(crate) plugins: usize,
    pub(crate) instances: InstancesView,
    /// Threads that run every plugin's batches (`pipeline.worker_threads`).
    pub(crate) worker_threads: Option<usize>,
    pub(crate) cpu: CpuView,
    pub(crate) memory: MemoryView,
    pub(crate) queues: QueuesView,
    /// The busiest plugins of the window, busiest first (`limit` of them).
    pub(crate) items: Vec<PluginLoad>,
}

/// Plugin instances against `runtime.max_instances`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InstancesView {
    /// Alive now (a swap's candidate counts while it lasts).
    pub(crate) in_use: Option<u64>,
    /// `runtime.max_instances`: past it, adding a plugin is refused
    /// (`503 at_capacity`).
    pub(crate) limit: Option<u32>,
    /// Instances that can still start.
    pub(crate) headroom: Option<u64>,
    /// Instances on quick code, swapped in before their optimized code
    /// was compiled (it follows), against `runtime.quick_swaps`; these
    /// are not counted above.
    pub(crate) quick_in_use: Option<u64>,
    pub(crate) quick_limit: Option<u32>,
}

/// The plugins' calls against the worker threads.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CpuView {
    /// The window the shares cover, seconds (a minute, once the host has
    /// run that long).
    pub(crate) window_s: f64,
    /// Time in plugin calls over the window and the worker threads: 1.0
    /// is every thread busy all the time.
    pub(crate) busy_share: f64,
}

/// Memory, bytes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemoryView {
    /// The plugins' linear memories (each as of its last call).
    pub(crate) plugins_bytes: u64,
    /// The largest linear memory a plugin may be given (`runtime.max_memory_mb`).
    pub(crate) per_plugin_limit_bytes: Option<u64>,
    /// This process's resident memory (Linux).
    pub(crate) process_resident_bytes: Option<u64>,
    /// Resident memory the instance pool keeps warm in free slots.
    pub(crate) pool_unused_resident_bytes: Option<u64>,
}

/// The plugins' batch queues.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueuesView {
    /// Batches one plugin's queue holds (`pipeline.queue_batches`); a full
    /// queue holds the source back.
    pub(crate) capacity_batches: usize,
    /// Batches waiting over every plugin.
    pub(crate) waiting_batches: u64,
    /// The deepest queue's batches.
    pub(crate) deepest: u64,
    /// The plugin with the deepest queue, when any waits.
    pub(crate) fullest: Option<String>,
}

/// One plugin's load.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PluginLoad {
    pub(crate) id: String,
    #[schema(example = "running")]
    pub(crate) state: &'static str,
    /// Its linear memory as of its last call.
    pub(crate) memory_bytes: u64,
    /// Batches waiting in its queue.
    pub(crate) queue_depth: u64,
    /// Time in its calls over the window, ms.
    pub(crate) busy_ms: u64,
    /// Time in its calls over the window: 1.0 is one thread all the time.
    pub(crate) cpu_share: f64,
}
