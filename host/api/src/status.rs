//! A plugin's status as JSON: identity, state, counters, health of its
//! state snapshots, and (in detail) its call-latency histogram.

use prism_control::PluginView;
use prism_model::OutputKind;
use prism_model::wall_ms;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// Event-time lag of a plugin behind the newest routed event, ms.
pub(crate) fn lag_ms(p: &PluginView, head: i64) -> i64 {
    let last = p.metrics.last_event_ts.load(Ordering::Relaxed);
    if last == i64::MIN || head == i64::MIN {
        0
    } else {
        (head - last).max(0)
    }
}

/// The status shown in lists and as the head of the detail.
pub(crate) fn summary(p: &PluginView, head: i64) -> Value {
    let m = &p.metrics;
    let last = m.last_event_ts.load(Ordering::Relaxed);
    let outputs: serde_json::Map<String, Value> = OutputKind::ALL
        .iter()
        .map(|k| (k.as_str().to_owned(), json!(m.outputs(*k))))
        .collect();
    let snapshot_at = m.snapshot_at_ms.load(Ordering::Relaxed);
    let quarantined_until = m.quarantined_until_ms.load(Ordering::Relaxed);
    json!({
        "id": p.id,
        "name": p.name,
        "version": p.version,
        "state": m.state().as_str(),
        "sha256": p.sha256,
        "source": p.source,
        "loaded_at": p.loaded_at_ms,
        "config": p.config,
        "subscription": p.subscription,
        "events_in": m.events_in.load(Ordering::Relaxed),
        "events_dropped": m.events_dropped.load(Ordering::Relaxed),
        "batches": m.batches.load(Ordering::Relaxed),
        "outputs": outputs,
        "errors": m.errors.load(Ordering::Relaxed),
        "restarts": m.restarts.load(Ordering::Relaxed),
        "swaps": m.swaps.load(Ordering::Relaxed),
        "swap_failures": m.swap_failures.load(Ordering::Relaxed),
        "dead_letters": m.dead_letters_total.load(Ordering::Relaxed),
        "last_error": m.last_error_record(),
        "quarantined_until": (quarantined_until > 0).then_some(quarantined_until),
        "snapshot": {
            "bytes": m.snapshot_bytes.load(Ordering::Relaxed),
            "taken_at": (snapshot_at > 0).then_some(snapshot_at),
            "age_ms": (snapshot_at > 0).then(|| (wall_ms() - snapshot_at).max(0)),
        },
        "queue_depth": p.queue_depth.load(Ordering::Relaxed),
        "last_event_ts": (last != i64::MIN).then_some(last),
        "lag_ms": lag_ms(p, head),
        "memory_bytes": m.memory_bytes.load(Ordering::Relaxed),
        "logs_suppressed": m.logs_suppressed.load(Ordering::Relaxed),
    })
}

/// The call-latency histogram: cumulative counts per upper bound (µs).
pub(crate) fn latency(p: &PluginView) -> Value {
    let (buckets, sum_us) = p.metrics.latency();
    let count = buckets.last().map_or(0, |b| b.1);
    let buckets: Vec<Value> = buckets
        .into_iter()
        .map(|(le, n)| json!({"le_us": le, "count": n}))
        .collect();
    json!({"count": count, "sum_us": sum_us, "buckets": buckets})
}
