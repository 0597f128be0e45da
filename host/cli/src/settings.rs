//! The config becomes each stage's settings here, and only here (a
//! plugin's own settings come from `prism_control::plugin_settings`, which
//! a config reload uses too). Stages never read the config themselves.

use prism_config::{Config, FeedChannel, Profiler, SimulatorConfig, VenueConfig, parse_duration};
use prism_control::{PipelineSettings, SupervisorSettings};
use prism_outputs::StoreLimits;
use prism_router::RouterSettings;
use prism_runtime::{EngineSettings, PluginEngine};
use prism_sources::SimulatorSettings;
use prism_venues::live::{Channels, FeedSettings};
use prism_venues::{Contract, Venue};
use prism_worker::RecoverySettings;
use std::time::Duration;

/// Event chunks the source may have waiting for the router.
const SOURCE_QUEUE: usize = 16;
/// Output batches the live WebSocket sink may have waiting; past it they
/// are dropped for live viewers (and counted).
const LIVE_QUEUE: usize = 256;

/// The engine for a config's runtime section.
pub(crate) fn engine(config: &Config) -> anyhow::Result<PluginEngine> {
    let cache_dir = config
        .runtime
        .cache
        .then(|| config.resolve(&config.runtime.data_dir).join("cache"));
    engine_caching_in(config, cache_dir)
}

/// The engine of a command that may run without a config (`replay`,
/// `test`, `check`): with one, its runtime section says; without, the
/// compiled plugins are cached in the user's cache directory (so the
/// second run of an author's loop starts in milliseconds), never in a
/// `data/` of the working directory.
pub(crate) fn engine_outside_config(
    config: &Config,
    config_given: bool,
) -> anyhow::Result<PluginEngine> {
    if config_given {
        return engine(config);
    }
    engine_caching_in(config, user_cache_dir())
}

/// The engine of `config`'s limits, caching compiled plugins in `cache_dir`.
fn engine_caching_in(
    config: &Config,
    cache_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<PluginEngine> {
    let runtime = &config.runtime;
    Ok(PluginEngine::new(EngineSettings {
        max_memory_bytes: (runtime.max_memory_mb as usize) << 20,
        max_instances: runtime.max_instances,
        cache_dir,
        quick_instances: runtime.quick_swaps,
        perf_map: runtime.profiler == Profiler::PerfMap,
        ..EngineSettings::default()
    })?)
}

/// `PRISM_CACHE_DIR` (empty: no cache), else `$XDG_CACHE_HOME/prism`, else
/// `~/.cache/prism`.
fn user_cache_dir() -> Option<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("PRISM_CACHE_DIR") {
        return (!dir.is_empty()).then(|| dir.into());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    Some(base.join("prism"))
}

/// The input event kinds the router taps: candles and tickers for the API,
/// those PostgreSQL keeps and those the NATS collector publishes (each sink
/// takes its own kinds).
fn archived(config: &Config) -> Vec<prism_model::EventKind> {
    // Candles and tickers always: the API keeps them (MarketStore).
    let mut kinds = vec![
        prism_model::EventKind::Candle,
        prism_model::EventKind::Ticker,
    ];
    if config.postgres.effective_url().is_some() {
        kinds.extend(&config.postgres.archive);
    }
    if config.nats.effective_url().is_some() {
        kinds.extend(&config.nats.collect);
    }
    kinds.sort_by_key(|k| *k as u8);
    kinds.dedup();
    kinds
}

/// The router's, the workers' and the supervisor's settings.
pub(crate) fn pipeline(config: &Config) -> PipelineSettings {
    let r = &config.recovery;
    PipelineSettings {
        router: RouterSettings {
            batch_size: config.pipeline.batch_size,
            batch_linger: Duration::from_millis(config.pipeline.batch_linger_ms),
            batch_idle: Duration::from_millis(
                config
                    .pipeline
                    .batch_idle_ms
                    .unwrap_or(config.pipeline.batch_linger_ms),
            ),
        },
        output_queue: config.pipeline.output_queue,
        source_queue: SOURCE_QUEUE,
        archive: archived(config),
        supervisor: SupervisorSettings {
            queue_batches: config.pipeline.queue_batches,
            worker_threads: config.pipeline.worker_threads,
            recovery: RecoverySettings {
                // The key counts full batches' worth of events: partial
                // batches (a quiet feed's) count by their share.
                snapshot_every_events: u64::from(r.snapshot_every_batches)
                    .saturating_mul(config.pipeline.batch_size as u64),
                snapshot_every: Duration::from_millis(r.snapshot_every_ms),
                max_failures: r.max_failures,
                failure_window: Duration::from_millis(r.failure_window_ms),
                backoff: Duration::from_millis(r.backoff_ms),
                max_quarantines: r.max_quarantines,
            },
            dead_letters: r.dead_letters,
            plugin_defaults: config.plugin_defaults,
            ..SupervisorSettings::default()
        },
    }
}

/// What the memory stores keep.
pub(crate) fn stores(config: &Config) -> StoreLimits {
    let s = &config.stores;
    StoreLimits {
        series_points: s.series_points,
        plugin_series_points: s.plugin_series_points,
        log_entries: s.log_entries,
        plugin_log_bytes: s.plugin_log_bytes,
        signals: s.signals,
        records: s.records,
    }
}

/// The live sink's queue (see [`LIVE_QUEUE`]).
pub(crate) fn live_queue() -> usize {
    LIVE_QUEUE
}

/// The plugins behind the analytics endpoints.
pub(crate) fn analytics(config: &Config) -> prism_api::AnalyticsPlugins {
    let a = &config.analytics;
    prism_api::AnalyticsPlugins {
        liquidations: a.liquidations.to_string(),
        liquidation_map: a.liquidation_map.to_string(),
        long_short_ratio: a.long_short_ratio.to_string(),
        whales: a.whales.to_string(),
        opportunities: a.opportunities.to_string(),
    }
}

/// The API's settings, applied to `state`.
pub(crate) fn api(config: &Config, state: prism_api::AppState) -> prism_api::AppState {
    let api = &config.api;
    let (token, warning) = config.admin.effective_token();
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    let mut state = state
        .with_ws(prism_api::WsSettings {
            heartbeat: Duration::from_secs(api.ws_heartbeat_s),
            idle_timeout: Duration::from_secs(api.ws_idle_timeout_s),
            send_timeout: Duration::from_secs(api.ws_send_timeout_s),
            send_buffer_bytes: api.ws_send_buffer_bytes,
            max_clients: api.ws_max_clients,
            max_message_bytes: api.ws_max_message_bytes,
            max_channels: api.ws_max_channels,
            max_symbols: api.ws_max_symbols,
        })
        .with_reads(api.max_concurrent_reads, api.max_queued_reads)
        .with_admin(prism_api::AdminSettings {
            token: token.value().map(std::sync::Arc::from),
            max_upload_bytes: (config.admin.max_upload_mb as usize) << 20,
            max_concurrent_uploads: config.admin.max_concurrent_uploads,
            upload_timeout: Duration::from_secs(config.admin.upload_timeout_s),
        });
    state.analytics = analytics(config);
    state
}

/// The HTTP server's limits.
pub(crate) fn server(config: &Config) -> prism_api::ServerSettings {
    prism_api::ServerSettings {
        max_connections: config.api.max_connections,
        header_read_timeout: Duration::from_secs(config.api.header_read_timeout_s),
        ..prism_api::ServerSettings::default()
    }
}

/// The simulator's settings.
///
/// # Errors
/// A `duration` that is not a duration.
pub(crate) fn simulator(config: &SimulatorConfig) -> anyhow::Result<SimulatorSettings> {
    let duration_ms = match &config.duration {
        Some(d) => Some(i64::try_from(parse_duration(d)?.as_millis())?),
        None => None,
    };
    Ok(SimulatorSettings {
        seed: config.seed,
        start_ms: config.start_ms,
        duration_ms,
        accounts: config.accounts,
        tickers: config.tickers,
        candles: config.candles.clone(),
    })
}

/// One configured venue's feed.
///
/// # Errors
/// An unknown venue or a contract value that is not a decimal.
pub(crate) fn feed(v: &VenueConfig) -> anyhow::Result<FeedSettings> {
    let venue: Venue = v.venue.parse()?;
    let mut s = FeedSettings::new(venue, v.symbols.clone());
    if let Some(channels) = &v.channels {
        let on = |c: FeedChannel| channels.contains(&c);
        s.channels = Channels {
            trades: on(FeedChannel::Trades),
            liquidations: on(FeedChannel::Liquidations),
            funding: on(FeedChannel::Funding),
            open_interest: on(FeedChannel::OpenInterest),
            book: on(FeedChannel::Book),
            tickers: on(FeedChannel::Tickers),
        };
    }
    for interval in &v.candles {
        if prism_venues::live::candle_channel(venue, *interval).is_none() {
            anyhow::bail!(
                "candles: {} does not stream {interval} candles; build them from trades instead ([candles] from_trades)",
                venue.name()
            );
        }
    }
    s.candles.clone_from(&v.candles);
    if let Some(url) = &v.url {
        s.url.clone_from(url);
    }
    if let Some(url) = &v.rest_url {
        s.rest_url = url.trim_end_matches('/').to_owned();
    }
    if let Some(h) = v.heartbeat_s {
        s.heartbeat = Duration::from_secs(h);
    }
    s.idle_timeout = Duration::from_secs(v.idle_timeout_s);
    s.backoff = Duration::from_millis(v.backoff_ms);
    s.max_backoff = Duration::from_millis(v.max_backoff_ms);
    s.open_interest_poll = Duration::from_secs(v.open_interest_poll_s);
    s.accounts.clone_from(&v.accounts);
    for (symbol, value) in &v.contracts {
        let (number, inverse) = match value.strip_suffix("/inverse") {
            Some(n) => (n, true),
            None => (value.as_str(), false),
        };
        let value = prism_model::decimal::parse(number)
            .map_err(|e| anyhow::anyhow!("contracts.{symbol}: {e}"))?;
        s.contracts
            .set(venue.name(), symbol, Contract { value, inverse });
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(toml: &str) -> RouterSettings {
        let config = Config::from_toml_str(toml, std::path::Path::new("/etc/prism")).unwrap();
        pipeline(&config).router
    }

    /// Unset, a partial batch waits the linger whether or not the source is
    /// idle (as before the idle time existed); set, it is the operator's.
    #[test]
    fn the_idle_time_defaults_to_the_linger() {
        let r = router("[pipeline]\nbatch_linger_ms = 7\n");
        assert_eq!(r.batch_linger, Duration::from_millis(7));
        assert_eq!(r.batch_idle, Duration::from_millis(7));
        let r = router("[pipeline]\nbatch_idle_ms = 1\n");
        assert_eq!(r.batch_linger, Duration::from_millis(20));
        assert_eq!(r.batch_idle, Duration::from_millis(1));
    }
}
