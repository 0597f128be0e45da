//! The notifier as `prism run` wires it: started before the pipeline (its
//! sink is one of the pipeline's), then told what the host shows.

use prism_api::FeedView;
use prism_config::Config;
use prism_control::Supervisor;
use prism_notifier::{
    FeedObservation, Notifier, Observation, PluginObservation, RiskObservation, SinkObservation,
    Thresholds,
};
use prism_postgres::PostgresHealth;
use prism_sinks::SinkMetrics;
use prism_worker::PluginState;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the host is looked at for alarms.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// The notifier, when `[notify]` has a channel or a heartbeat; its owed
/// deliveries live in `{runtime.data_dir}/notify`.
pub(crate) fn open(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Option<Notifier>> {
    let n = &config.notify;
    if n.channels.is_empty() && n.heartbeat.is_none() {
        return Ok(None);
    }
    let dir = config.resolve(&config.runtime.data_dir).join("notify");
    let notifier = Notifier::start(n, &config.base_dir, Some(&dir), runtime.handle())?;
    tracing::info!(channels = n.channels.len(), "notifier started");
    Ok(Some(notifier))
}

/// What the host shows, read on each look.
pub(crate) struct Watched {
    pub(crate) supervisor: Arc<Supervisor>,
    pub(crate) feeds: Vec<FeedView>,
    pub(crate) sinks: Vec<Arc<SinkMetrics>>,
    /// A lossless sink whose queue holds this many batches is full.
    pub(crate) sink_queue: usize,
    pub(crate) postgres: Option<Arc<PostgresHealth>>,
    pub(crate) nats: Option<Arc<prism_nats::NatsHealth>>,
    /// The paper accounts' records (their risk states).
    pub(crate) execution: Arc<prism_outputs::ExecutionStore>,
}

/// Starts raising the host's alarms, unless `notify.alarms = false`.
pub(crate) fn watch(notifier: &Notifier, config: &Config, w: Watched) {
    if !config.notify.alarms {
        return;
    }
    let duration =
        |text: &str| prism_config::parse_duration(text).unwrap_or(Duration::from_secs(30));
    let thresholds = Thresholds {
        feed_down_after: duration(&config.notify.feed_down_after),
        sink_behind_after: duration(&config.notify.sink_backlog_after),
    };
    notifier.watch(Box::new(move || observe(&w)), thresholds, WATCH_EVERY);
}

fn observe(w: &Watched) -> Observation {
    let plugins = w
        .supervisor
        .views()
        .into_iter()
        .map(|v| {
            let m = &v.metrics;
            PluginObservation {
                failed: m.state() == PluginState::Failed,
                quarantined_until_ms: m.quarantined_until_ms.load(Ordering::Relaxed),
                dead_letters: m.dead_letters_total.load(Ordering::Relaxed),
                swap_failures: m.swap_failures.load(Ordering::Relaxed),
                last_error: m.last_error(),
                id: v.id,
            }
        })
        .collect();
    let feeds = w
        .feeds
        .iter()
        .map(|f| FeedObservation {
            venue: f.venue.clone(),
            connected: f.metrics.connected.load(Ordering::Relaxed),
        })
        .collect();
    let mut sinks: Vec<SinkObservation> = w
        .sinks
        .iter()
        .filter(|s| s.name != prism_api::LIVE_SINK)
        .map(|s| SinkObservation {
            name: s.name.clone(),
            behind: if let Some(e) = s.error() {
                Some(format!("failed: {e}"))
            } else if s.queued.load(Ordering::Relaxed) >= w.sink_queue {
                Some("its queue is full and holds the pipeline back".into())
            } else {
                None
            },
        })
        .collect();
    if let Some(pg) = &w.postgres {
        let behind = if pg.spool_full.load(Ordering::Relaxed) {
            Some("its spool is full and holds the pipeline back".to_owned())
        } else if !pg.connected.load(Ordering::Relaxed) {
            Some(format!(
                "the database is unreachable; {} bytes spooled",
                pg.spool_bytes.load(Ordering::Relaxed)
            ))
        } else {
            None
        };
        sinks.push(SinkObservation {
            name: "postgres-database".into(),
            behind,
        });
    }
    if let Some(nats) = &w.nats {
        sinks.push(SinkObservation {
            name: "nats-server".into(),
            behind: (!nats.connected.load(Ordering::Relaxed))
                .then(|| "the NATS server is unreachable".to_owned()),
        });
    }
    let risk = w
        .execution
        .risk()
        .into_iter()
        .map(|r| RiskObservation {
            plugin: r.plugin.to_string(),
            state: r.state.as_str().to_owned(),
            reason: r.reason,
        })
        .collect();
    Observation {
        plugins,
        feeds,
        sinks,
        risk,
    }
}
