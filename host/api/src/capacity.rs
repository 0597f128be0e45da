//! `GET /api/v1/system/capacity`: what the host holds against its limits —
//! plugins, instances, memory, queues, worker threads — and each plugin's
//! share of the threads over the last minute.

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::{AppState, Shared};
use crate::views::{CapacityView, CpuView, InstancesView, MemoryView, PluginLoad, QueuesView};
use axum::Json;
use axum::extract::State;
use prism_control::PluginView;
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How far back the CPU shares look.
pub(crate) const CPU_WINDOW: Duration = Duration::from_secs(60);
/// How often the plugins' busy time is sampled.
pub(crate) const CPU_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(capacity))
}

/// Each plugin's busy time (µs in calls) at a few moments of the last
/// minute: a CPU share is the busy time since the oldest sample over the
/// time since.
#[derive(Default)]
pub(crate) struct CpuSamples {
    samples: Mutex<VecDeque<(Instant, BTreeMap<String, u64>)>>,
}

impl CpuSamples {
    /// Takes a sample of `plugins` now, and forgets those older than the
    /// window needs.
    pub(crate) fn sample(&self, plugins: &[PluginView]) {
        let now = Instant::now();
        let busy = plugins
            .iter()
            .map(|p| (p.id.clone(), p.metrics.busy_us()))
            .collect();
        let mut samples = self.lock();
        samples.push_back((now, busy));
        // Keep the newest sample at least a window old: it is the base.
        while samples.len() > 1
            && samples
                .get(1)
                .is_some_and(|(t, _)| now.duration_since(*t) >= CPU_WINDOW)
        {
            samples.pop_front();
        }
    }

    /// The base to measure from: the oldest sample (at most a window and
    /// a sampling period old once the host has run that long).
    fn base(&self) -> Option<(Instant, BTreeMap<String, u64>)> {
        self.lock().front().cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Instant, BTreeMap<String, u64>)>> {
        self.samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Takes a CPU sample every [`CPU_SAMPLE_EVERY`] for as long as the
/// runtime runs.
pub(crate) async fn sample_cpu(state: AppState) {
    let mut every = tokio::time::interval(CPU_SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        state.cpu.sample(&state.all_plugins());
    }
}

/// Which plugins to list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CapacityParams {
    /// The plugins listed, busiest first (default 100, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub(crate) limit: Option<usize>,
}

/// The host's plugins, instances, memory, queues and worker threads
/// against their limits, and the busiest plugins of the last minute.
#[utoipa::path(get, path = "/api/v1/system/capacity", tag = "status",
    params(CapacityParams),
    responses((status = 200, body = CapacityView), (status = 400, body = ErrorBody)))]
async fn capacity(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<CapacityParams>,
) -> Result<Json<CapacityView>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: {limit} is not between 1 and 10000"
        )));
    }
    let plugins = state.all_plugins();
    let held = state.control.capacity();
    let threads = held.map_or(1, |c| c.worker_threads.max(1));
    let (since, base) = state
        .cpu
        .base()
        .unwrap_or_else(|| (state.started, BTreeMap::new()));
    let window = since.elapsed().max(Duration::from_millis(1));
    let window_us = window.as_micros() as f64;
    let queue_batches = held.map_or(0, |c| c.queue_batches);
    let mut items: Vec<PluginLoad> = plugins
        .iter()
        .map(|p| {
            let busy = p
                .metrics
                .busy_us()
                .saturating_sub(base.get(&p.id).copied().unwrap_or(0));
            PluginLoad {
                id: p.id.clone(),
                state: p.metrics.state().as_str(),
                memory_bytes: p.metrics.memory_bytes.load(Ordering::Relaxed),
                queue_depth: p.queue_depth.load(Ordering::Relaxed) as u64,
                busy_ms: busy / 1000,
                cpu_share: busy as f64 / window_us,
            }
        })
        .collect();
    let busy_total: f64 = items.iter().map(|i| i.cpu_share).sum();
    let waiting: u64 = items.iter().map(|i| i.queue_depth).sum();
    let fullest = items
        .iter()
        .max_by_key(|i| i.queue_depth)
        .filter(|i| i.queue_depth > 0)
        .map(|i| i.id.clone());
    let deepest = items.iter().map(|i| i.queue_depth).max().unwrap_or(0);
    let plugins_bytes = items.iter().map(|i| i.memory_bytes).sum();
    items.sort_by(|a, b| {
        b.cpu_share
            .total_cmp(&a.cpu_share)
            .then_with(|| a.id.cmp(&b.id))
    });
    items.truncate(limit);
    Ok(Json(CapacityView {
        plugins: plugins.len(),
        instances: InstancesView {
            in_use: held.map(|c| c.instances),
            limit: held.map(|c| c.max_instances),
            headroom: held.map(|c| u64::from(c.max_instances).saturating_sub(c.instances)),
            quick_in_use: held.map(|c| c.quick_instances),
            quick_limit: held.map(|c| c.max_quick_instances),
        },
        worker_threads: held.map(|c| c.worker_threads),
        cpu: CpuView {
            window_s: window.as_secs_f64(),
            busy_share: busy_total / threads as f64,
        },
        memory: MemoryView {
            plugins_bytes,
            per_plugin_limit_bytes: held.map(|c| c.max_memory_bytes),
            process_resident_bytes: resident_bytes(),
            pool_unused_resident_bytes: held.map(|c| c.pool_unused_resident_bytes),
        },
        queues: QueuesView {
            capacity_batches: queue_batches,
            waiting_batches: waiting,
            deepest,
            fullest,
        },
        items,
    }))
}

/// This process's resident memory, bytes (Linux; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
