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
use prism_runtime::worker::RecoverySettings;
use prism_runtime::{EngineSettings, PluginEngine};
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
