//! `GET /metrics` in the Prometheus text format.

use crate::state::AppState;
use prism_control::PluginView;
use prism_model::OutputKind;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// A feed metric: name, type, help text, and how to read it.
type FeedCounter = (
    &'static str,
    &'static str,
    &'static str,
    fn(&prism_venues::live::FeedMetrics) -> u64,
);

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
}

/// Label values are plugin ids (validated: no quotes or backslashes), so
/// they need no escaping.
pub(crate) fn render(state: &AppState) -> String {
    let plugins = state.all_plugins();
    let head = state.head_ts.load(Ordering::Relaxed);
    let mut out = String::with_capacity(4096);
    help(
        &mut out,
        "prism_source_events_total",
        "counter",
        "Events emitted by the source.",
    );
    let _ = writeln!(
        out,
        "prism_source_events_total {}",
        state.source.events.load(Ordering::Relaxed)
    );
    help(
        &mut out,
        "prism_source_skipped_total",
        "counter",
        "Malformed source records skipped.",
    );
    let _ = writeln!(
        out,
        "prism_source_skipped_total {}",
        state.source.skipped.load(Ordering::Relaxed)
    );

    let server: [(&str, &str, &str, u64); 5] = [
        (
            "prism_http_connections",
            "gauge",
            "Open HTTP connections.",
            state.connections.open.load(Ordering::Relaxed) as u64,
        ),
        (
            "prism_http_connections_refused_total",
            "counter",
            "Connections answered 503 because api.max_connections were open.",
            state.connections.refused.load(Ordering::Relaxed),
        ),
        (
            "prism_ws_clients",
            "gauge",
            "Connected WebSocket clients.",
            (state.ws.max_clients.max(1) - state.ws_clients.available_permits()) as u64,
        ),
        (
            "prism_ws_batches_dropped_total",
            "counter",
            "Output batches not shown to WebSocket clients because their formatter was behind.",
            state
                .sinks
                .iter()
                .filter(|s| s.name == "live")
                .map(|s| s.dropped.load(Ordering::Relaxed))
                .sum(),
        ),
        (
            "prism_plugin_logs_suppressed_total",
            "counter",
            "Plugin log lines suppressed by the log rate limits, all plugins.",
            plugins
                .iter()
                .map(|p| p.metrics.logs_suppressed.load(Ordering::Relaxed))
                .sum(),
        ),
    ];
    for (name, kind, text, value) in server {
        help(&mut out, name, kind, text);
        let _ = writeln!(out, "{name} {value}");
    }

    let feed_counters: [FeedCounter; 8] = [
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
    for (name, kind, text, value) in feed_counters {
        help(&mut out, name, kind, text);
        for f in &state.feeds {
            let _ = writeln!(out, "{name}{{venue=\"{}\"}} {}", f.venue, value(&f.metrics));
        }
    }
    help(
        &mut out,
        "prism_feed_latency_ms",
        "gauge",
        "Exchange-to-receive latency: mean and max over the feed's records.",
    );
    for f in &state.feeds {
        let _ = writeln!(
            out,
            "prism_feed_latency_ms{{venue=\"{}\",stat=\"mean\"}} {}",
            f.venue,
            f.metrics.latency_mean_ms()
        );
        let _ = writeln!(
            out,
            "prism_feed_latency_ms{{venue=\"{}\",stat=\"max\"}} {}",
            f.venue,
            f.metrics.latency_max_ms.load(Ordering::Relaxed)
        );
    }

    let mut gauge = |name: &str, kind: &str, text: &str, value: &dyn Fn(&PluginView) -> u64| {
        help(&mut out, name, kind, text);
        for p in &plugins {
            let _ = writeln!(out, "{name}{{plugin=\"{}\"}} {}", p.id, value(p));
        }
    };
    gauge(
        "prism_plugin_up",
        "gauge",
        "1 while the plugin processes events, 0 otherwise.",
        &|p| u64::from(p.metrics.state() == prism_worker::PluginState::Running),
    );
    gauge(
        "prism_plugin_events_total",
        "counter",
        "Events delivered to the plugin.",
        &|p| p.metrics.events_in.load(Ordering::Relaxed),
    );
    gauge(
        "prism_plugin_events_dropped_total",
        "counter",
        "Events not delivered because the plugin was paused, quarantined or failed.",
        &|p| p.metrics.events_dropped.load(Ordering::Relaxed),
    );
    gauge(
        "prism_plugin_errors_total",
        "counter",
        "Failed calls (traps, deadlines, limits, errors).",
        &|p| p.metrics.errors.load(Ordering::Relaxed),
    );
    gauge(
        "prism_plugin_queue_depth",
        "gauge",
        "Batches waiting in the plugin's queue.",
        &|p| p.queue_depth.load(Ordering::Relaxed) as u64,
    );
    gauge(
        "prism_plugin_lag_ms",
        "gauge",
        "Event time between the newest routed event and the plugin's last processed event.",
        &|p| u64::try_from(crate::status::lag_ms(p, head)).unwrap_or(0),
    );
    gauge(
        "prism_plugin_restarts_total",
        "counter",
        "Fresh instances started to recover from failures.",
        &|p| p.metrics.restarts.load(Ordering::Relaxed),
    );
    gauge(
        "prism_plugin_swaps_total",
        "counter",
        "Versions or configs switched to while running.",
        &|p| p.metrics.swaps.load(Ordering::Relaxed),
    );
    gauge(
        "prism_plugin_swap_failures_total",
        "counter",
        "Swaps refused: the new version failed to load, start or take over the state.",
        &|p| p.metrics.swap_failures.load(Ordering::Relaxed),
    );
    gauge(
        "prism_plugin_dead_letters_total",
        "counter",
        "Events set aside because the plugin failed on them alone.",
        &|p| p.metrics.dead_letters_total.load(Ordering::Relaxed),
    );
    gauge(
        "prism_plugin_snapshot_bytes",
        "gauge",
        "Size of the plugin's last state snapshot.",
        &|p| p.metrics.snapshot_bytes.load(Ordering::Relaxed),
    );
    gauge(
        "prism_plugin_memory_bytes",
        "gauge",
        "Linear memory used by the plugin instance.",
        &|p| p.metrics.memory_bytes.load(Ordering::Relaxed),
    );
    help(
        &mut out,
        "prism_plugin_state",
        "gauge",
        "1 for the state the plugin is in.",
    );
    for p in &plugins {
        let _ = writeln!(
            out,
            "prism_plugin_state{{plugin=\"{}\",state=\"{}\"}} 1",
            p.id,
            p.metrics.state().as_str()
        );
    }
    help(
        &mut out,
        "prism_plugin_outputs_total",
        "counter",
        "Outputs produced, by kind.",
    );
    for p in &plugins {
        for kind in OutputKind::ALL {
            let _ = writeln!(
                out,
                "prism_plugin_outputs_total{{plugin=\"{}\",kind=\"{}\"}} {}",
                p.id,
                kind.as_str(),
                p.metrics.outputs(kind)
            );
        }
    }
    help(
        &mut out,
        "prism_plugin_call_duration_seconds",
        "histogram",
        "Duration of on-events calls.",
    );
    for p in &plugins {
        let (buckets, sum_us) = p.metrics.latency();
        let mut count = 0;
        for (bound, cumulative) in buckets {
            count = cumulative;
            let le = bound.map_or_else(|| "+Inf".to_owned(), |us| format!("{}", us as f64 / 1e6));
            let _ = writeln!(
                out,
                "prism_plugin_call_duration_seconds_bucket{{plugin=\"{}\",le=\"{le}\"}} {cumulative}",
                p.id
            );
        }
        let _ = writeln!(
            out,
            "prism_plugin_call_duration_seconds_sum{{plugin=\"{}\"}} {}",
            p.id,
            sum_us as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "prism_plugin_call_duration_seconds_count{{plugin=\"{}\"}} {count}",
            p.id
        );
    }
    out
}
