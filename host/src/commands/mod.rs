//! One module per subcommand.

pub(crate) mod check;
pub(crate) mod replay;
pub(crate) mod run;
pub(crate) mod sim;

use prism_config::{Config, RuntimeConfig};
use prism_runtime::{EngineSettings, PluginEngine};

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
