//! The source and the sink stage.

use super::Exposition;
use crate::state::AppState;
use std::sync::atomic::Ordering;

pub(super) fn write(e: &mut Exposition, state: &AppState) {
    e.single(
        "prism_source_events_total",
        "counter",
        "Events emitted by the source.",
        state.source.events.load(Ordering::Relaxed),
    );
    e.single(
        "prism_source_skipped_total",
        "counter",
        "Malformed source records skipped.",
        state.source.skipped.load(Ordering::Relaxed),
    );
    type Read = fn(&prism_sinks::SinkMetrics) -> u64;
    let families: [(&str, &str, &str, Read); 3] = [
        (
            "prism_sink_queued_batches",
            "gauge",
            "Output batches waiting in the sink's queue.",
            |m| m.queued.load(Ordering::Relaxed) as u64,
        ),
        (
            "prism_sink_outputs_total",
            "counter",
            "Outputs the sink took.",
            |m| m.written.load(Ordering::Relaxed),
        ),
        (
            "prism_sink_dropped_batches_total",
            "counter",
            "Output batches the sink did not take (queue full, for sinks that drop; or the sink failed).",
            |m| m.dropped.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, help, read) in families {
        e.family(name, kind, help);
        for s in &state.sinks {
            e.sample(name, &[("sink", &s.name)], read(s));
        }
    }
}
