//! The live exchange feeds, per venue.

use super::Exposition;
use crate::state::AppState;
use prism_venues::live::FeedMetrics;
use std::sync::atomic::Ordering;

pub(super) fn write(e: &mut Exposition, state: &AppState) {
    type Read = fn(&FeedMetrics) -> u64;
    let families: [(&str, &str, &str, Read); 8] = [
        (
            "prism_feed_connected",
            "gauge",
            "1 while the venue's feed is connected.",
            |m| u64::from(m.connected.load(Ordering::Relaxed)),
        ),
        (
            "prism_feed_messages_total",
            "counter",
            "Messages received from the venue.",
            |m| m.messages.load(Ordering::Relaxed),
        ),
        (
            "prism_feed_records_total",
            "counter",
            "Normalized records from the venue.",
            |m| m.records.load(Ordering::Relaxed),
        ),
        (
            "prism_feed_reconnects_total",
            "counter",
            "Connections lost and retried.",
            |m| m.reconnects.load(Ordering::Relaxed),
        ),
        (
            "prism_feed_book_gaps_total",
            "counter",
            "Book sequence gaps detected.",
            |m| m.book_gaps.load(Ordering::Relaxed),
        ),
        (
            "prism_feed_resyncs_total",
            "counter",
            "Book snapshots fetched or resubscriptions to resync.",
            |m| m.resyncs.load(Ordering::Relaxed),
        ),
        (
            "prism_feed_rejected_total",
            "counter",
            "Messages refused (values not exact, malformed).",
            |m| m.rejected.load(Ordering::Relaxed),
        ),
        (
            "prism_feed_unknown_total",
            "counter",
            "Messages of unknown types.",
            |m| m.unknown.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, help, read) in families {
        e.family(name, kind, help);
        for f in &state.feeds {
            e.sample(name, &[("venue", &f.venue)], read(&f.metrics));
        }
    }
    let name = "prism_feed_latency_seconds";
    e.family(
        name,
        "gauge",
        "Exchange-to-receive latency, seconds: mean and max over the feed's records.",
    );
    for f in &state.feeds {
        let venue = ("venue", f.venue.as_str());
        e.sample(
            name,
            &[venue, ("stat", "mean")],
            f.metrics.latency_mean_ms() / 1e3,
        );
        e.sample(
            name,
            &[venue, ("stat", "max")],
            f.metrics.latency_max_ms.load(Ordering::Relaxed) as f64 / 1e3,
        );
    }
}
