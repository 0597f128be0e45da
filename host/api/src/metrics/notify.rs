//! The notifier's channels and heartbeat, when configured.

use super::Exposition;
use crate::state::AppState;
use prism_notifier::ChannelView;
use std::sync::atomic::Ordering;

pub(super) fn write(e: &mut Exposition, state: &AppState) {
    let Some(n) = &state.notifier else {
        return;
    };
    let channels = n.channels();
    type Read = fn(&ChannelView) -> f64;
    let families: [(&str, &str, &str, Read); 7] = [
        (
            "prism_notify_sent_total",
            "counter",
            "Notifications the channel delivered.",
            |c| c.sent as f64,
        ),
        (
            "prism_notify_failed_total",
            "counter",
            "Notifications given up on (refused for good, or past notify.give_up_after).",
            |c| c.failed as f64,
        ),
        (
            "prism_notify_retried_total",
            "counter",
            "Failed attempts that were retried.",
            |c| c.retried as f64,
        ),
        (
            "prism_notify_dropped_total",
            "counter",
            "Notifications pushed out of the full queue by more urgent ones.",
            |c| c.dropped as f64,
        ),
        (
            "prism_notify_queue_depth",
            "gauge",
            "Notifications waiting for the channel.",
            |c| c.queued as f64,
        ),
        (
            "prism_notify_latency_mean_seconds",
            "gauge",
            "Mean time from raised to delivered, seconds.",
            |c| c.latency_ms_mean / 1e3,
        ),
        (
            "prism_notify_latency_max_seconds",
            "gauge",
            "Longest time from raised to delivered, seconds.",
            |c| c.latency_ms_max as f64 / 1e3,
        ),
    ];
    for (name, kind, help, read) in families {
        e.family(name, kind, help);
        for c in &channels {
            e.sample(name, &[("channel", &c.name), ("kind", c.kind)], read(c));
        }
    }
    let h = n.heartbeat();
    e.single(
        "prism_notify_heartbeats_total",
        "counter",
        "Beats of the dead man's switch its URL accepted.",
        h.beats.load(Ordering::Relaxed),
    );
    e.single(
        "prism_notify_heartbeat_failures_total",
        "counter",
        "Beats its URL refused or did not answer.",
        h.failures.load(Ordering::Relaxed),
    );
}
