//! One module per subcommand.

pub(crate) mod check;
pub(crate) mod normalize;
pub(crate) mod record;
pub(crate) mod replay;
pub(crate) mod run;
pub(crate) mod sim;

use prism_config::{Config, RuntimeConfig};
use prism_control::{PipelineSettings, SupervisorSettings};
use prism_router::RouterSettings;
use prism_runtime::{EngineSettings, PluginEngine};
use prism_worker::RecoverySettings;
use std::time::Duration;

/// The engine for a config's runtime section.
pub(crate) fn engine(config: &Config) -> anyhow::Result<PluginEngine> {
    let runtime: &RuntimeConfig = &config.runtime;
    Ok(PluginEngine::new(EngineSettings {
        max_memory_bytes: (runtime.max_memory_mb as usize) << 20,
        max_instances: runtime.max_instances,
        cache_dir: runtime
            .cache
            .then(|| config.resolve(&runtime.data_dir).join("cache")),
        ..EngineSettings::default()
    })?)
}

/// Pipeline settings from a config.
pub(crate) fn pipeline_settings(config: &Config) -> PipelineSettings {
    let r = &config.recovery;
    PipelineSettings {
        router: RouterSettings {
            batch_size: config.pipeline.batch_size,
            batch_linger: Duration::from_millis(config.pipeline.batch_linger_ms),
        },
        output_queue: config.pipeline.output_queue,
        source_queue: 16,
        supervisor: SupervisorSettings {
            queue_batches: config.pipeline.queue_batches,
            recovery: RecoverySettings {
                snapshot_every_batches: r.snapshot_every_batches,
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

/// The plugins behind the analytics endpoints.
pub(crate) fn analytics_plugins(config: &Config) -> prism_api::AnalyticsPlugins {
    let a = &config.analytics;
    prism_api::AnalyticsPlugins {
        liquidations: a.liquidations.to_string(),
        liquidation_map: a.liquidation_map.to_string(),
        long_short_ratio: a.long_short_ratio.to_string(),
        whales: a.whales.to_string(),
        opportunities: a.opportunities.to_string(),
    }
}

/// The API's settings from a config, applied to `state`.
pub(crate) fn api_state(config: &Config, state: prism_api::AppState) -> prism_api::AppState {
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
    state.analytics = analytics_plugins(config);
    state
}

/// The HTTP server's limits from a config.
pub(crate) fn server_settings(config: &Config) -> prism_api::ServerSettings {
    prism_api::ServerSettings {
        max_connections: config.api.max_connections,
        header_read_timeout: Duration::from_secs(config.api.header_read_timeout_s),
        ..prism_api::ServerSettings::default()
    }
}
