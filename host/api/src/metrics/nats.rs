//! NATS JetStream, when configured.

use super::Exposition;
use crate::state::AppState;
use std::sync::atomic::Ordering;

pub(super) fn write(e: &mut Exposition, state: &AppState) {
    let Some(h) = &state.nats else {
        return;
    };
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    e.single(
        "prism_nats_connected",
        "gauge",
        "1 while the last publish or fetch reached the server.",
        u8::from(h.connected.load(Ordering::Relaxed)),
    );
    for (name, help, value) in [
        (
            "prism_nats_published_total",
            "Messages the streams acknowledged (collector and outputs).",
            load(&h.published),
        ),
        (
            "prism_nats_duplicates_total",
            "Of those, dropped by the stream as already stored (same message id).",
            load(&h.duplicates),
        ),
        (
            "prism_nats_suppressed_total",
            "Outputs not published again: the stream had them from an earlier run.",
            load(&h.suppressed),
        ),
        (
            "prism_nats_lost_total",
            "Messages given up on: the host stopped while the server was away.",
            load(&h.lost),
        ),
        (
            "prism_nats_republished_total",
            "Messages sent again after a failure.",
            load(&h.republished),
        ),
        (
            "prism_nats_errors_total",
            "Failed publishes, fetches or acknowledgements (each is retried).",
            load(&h.errors),
        ),
        (
            "prism_nats_consumed_total",
            "Messages the source took from its consumer.",
            load(&h.consumed),
        ),
        (
            "prism_nats_redelivered_total",
            "Messages delivered again to the source (skipped by sequence).",
            load(&h.redelivered),
        ),
        (
            "prism_nats_acked_total",
            "Messages acknowledged once the pipeline took them.",
            load(&h.acked),
        ),
        (
            "prism_nats_consumer_stalls_total",
            "Times the consumer delivered nothing while it held messages, and was made again.",
            load(&h.stalls),
        ),
        (
            "prism_nats_refused_total",
            "Messages that were not replay records (skipped, logged).",
            load(&h.refused),
        ),
    ] {
        e.single(name, "counter", help, value);
    }
    e.single(
        "prism_nats_ack_seconds_total",
        "counter",
        "Sum over acknowledged messages of the time from arrival to acknowledgement.",
        load(&h.ack_us_total) as f64 / 1e6,
    );
    e.single(
        "prism_nats_in_flight",
        "gauge",
        "Publishes awaiting the server's acknowledgement.",
        load(&h.in_flight),
    );
    e.single(
        "prism_nats_spooled_bytes",
        "gauge",
        "Bytes of outputs waiting in the disk spool for the stream.",
        load(&h.spooled_bytes),
    );
    e.single(
        "prism_nats_consumer_pending",
        "gauge",
        "Messages the consumer still holds for the source (its lag).",
        load(&h.pending),
    );
}
