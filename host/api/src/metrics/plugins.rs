//! Each plugin's state, counters and call latencies.

use super::Exposition;
use crate::state::AppState;
use crate::views::lag_ms;
use prism_control::PluginView;
use prism_model::OutputKind;
use std::sync::atomic::Ordering;

type Read = fn(&PluginView, i64) -> u64;
type ReadComparison = fn(&prism_worker::ComparisonFigures) -> u64;

pub(super) fn write(e: &mut Exposition, state: &AppState) {
    let plugins = state.all_plugins();
    let head = state.head_ts.load(Ordering::Relaxed);
    if let Some(held) = state.control.capacity() {
        e.single(
            "prism_plugin_instances",
            "gauge",
            "Plugin instances alive (a swap's candidate counts while it lasts).",
            held.instances,
        );
        e.single(
            "prism_plugin_instances_limit",
            "gauge",
            "runtime.max_instances: past it a plugin is refused.",
            held.max_instances,
        );
        e.single(
            "prism_worker_threads",
            "gauge",
            "Threads that run every plugin's batches.",
            held.worker_threads,
        );
    }
    e.single(
        "prism_plugin_logs_suppressed_total",
        "counter",
        "Plugin log lines suppressed by the log rate limits, all plugins.",
        plugins
            .iter()
            .map(|p| p.metrics.logs_suppressed.load(Ordering::Relaxed))
            .sum::<u64>(),
    );
    let families: [(&str, &str, &str, Read); 14] = [
        (
            "prism_plugin_up",
            "gauge",
            "1 while the plugin is running.",
            |p, _| u64::from(p.metrics.state() == prism_worker::PluginState::Running),
        ),
        (
            "prism_plugin_events_total",
            "counter",
            "Events delivered to the plugin.",
            |p, _| p.metrics.events_in.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_events_dropped_total",
            "counter",
            "Events not delivered (paused, quarantined or failed).",
            |p, _| p.metrics.events_dropped.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_errors_total",
            "counter",
            "Failed calls.",
            |p, _| p.metrics.errors.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_queue_depth",
            "gauge",
            "Batches waiting in the plugin's queue.",
            |p, _| p.queue_depth.load(Ordering::Relaxed) as u64,
        ),
        (
            "prism_plugin_restarts_total",
            "counter",
            "Instances rebuilt to recover.",
            |p, _| p.metrics.restarts.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_recycles_total",
            "counter",
            "Instances recycled past recycle_memory_mb (state kept).",
            |p, _| p.metrics.recycles.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_swaps_total",
            "counter",
            "Versions switched to.",
            |p, _| p.metrics.swaps.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_swap_failures_total",
            "counter",
            "Swaps refused.",
            |p, _| p.metrics.swap_failures.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_dead_letters_total",
            "counter",
            "Events set aside as dead letters.",
            |p, _| p.metrics.dead_letters_total.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_snapshots_total",
            "counter",
            "Checkpoints of the plugin's state made.",
            |p, _| p.metrics.snapshots.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_snapshot_bytes",
            "gauge",
            "Size of the plugin's last state snapshot.",
            |p, _| p.metrics.snapshot_bytes.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_memory_bytes",
            "gauge",
            "Linear memory used by the plugin instance.",
            |p, _| p.metrics.memory_bytes.load(Ordering::Relaxed),
        ),
        (
            "prism_plugin_batches_total",
            "counter",
            "Batches the plugin was called with.",
            |p, _| p.metrics.batches.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, help, read) in families {
        e.family(name, kind, help);
        for p in &plugins {
            e.sample(name, &[("plugin", &p.id)], read(p, head));
        }
    }
    let name = "prism_plugin_lag_seconds";
    e.family(
        name,
        "gauge",
        "Event time between the newest routed event and the plugin's last processed one, seconds.",
    );
    for p in &plugins {
        e.sample(
            name,
            &[("plugin", &p.id)],
            lag_ms(p, head).max(0) as f64 / 1e3,
        );
    }
    let name = "prism_plugin_state";
    e.family(name, "gauge", "1 for the state the plugin is in.");
    for p in &plugins {
        e.sample(
            name,
            &[("plugin", &p.id), ("state", p.metrics.state().as_str())],
            1,
        );
    }
    candidates(e, &plugins);
    let name = "prism_plugin_outputs_total";
    e.family(name, "counter", "Outputs produced, by kind.");
    for p in &plugins {
        for kind in OutputKind::ALL {
            e.sample(
                name,
                &[("plugin", &p.id), ("kind", kind.as_str())],
                p.metrics.outputs(kind),
            );
        }
    }
    call_durations(e, &plugins);
}

/// Candidate versions against their running ones: batches compared, those
/// that differed, and 1 while the candidate runs.
fn candidates(e: &mut Exposition, plugins: &[PluginView]) {
    let figures: Vec<_> = plugins
        .iter()
        .filter_map(|p| Some((p.id.as_str(), p.candidate.as_ref()?.comparison.figures())))
        .collect();
    let families: [(&str, &str, &str, ReadComparison); 3] = [
        (
            "prism_plugin_candidate_batches_total",
            "counter",
            "Batches a candidate version was compared on with the running one.",
            |f| f.batches,
        ),
        (
            "prism_plugin_candidate_differing_batches_total",
            "counter",
            "Compared batches whose outputs differed from the running version's.",
            |f| f.differing_batches,
        ),
        (
            "prism_plugin_candidate_up",
            "gauge",
            "1 while the candidate version runs, 0 once it stopped.",
            |f| u64::from(f.ended.is_none()),
        ),
    ];
    for (name, kind, help, read) in families {
        e.family(name, kind, help);
        for (plugin, f) in &figures {
            e.sample(name, &[("plugin", plugin)], read(f));
        }
    }
}

fn call_durations(e: &mut Exposition, plugins: &[PluginView]) {
    e.family(
        "prism_plugin_call_duration_seconds",
        "histogram",
        "Duration of on-events calls.",
    );
    for p in plugins {
        let (buckets, sum_us) = p.metrics.latency();
        let mut count = 0;
        for (bound, cumulative) in buckets {
            count = cumulative;
            let le = bound.map_or_else(|| "+Inf".to_owned(), |us| format!("{}", us as f64 / 1e6));
            e.sample(
                "prism_plugin_call_duration_seconds_bucket",
                &[("plugin", &p.id), ("le", &le)],
                cumulative,
            );
        }
        let plugin = [("plugin", p.id.as_str())];
        e.sample(
            "prism_plugin_call_duration_seconds_sum",
            &plugin,
            sum_us as f64 / 1e6,
        );
        e.sample("prism_plugin_call_duration_seconds_count", &plugin, count);
    }
}
