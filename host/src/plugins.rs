//! Loading a plugin: compile, instantiate under limits, `init`, and merge its
//! subscription with the operator's overrides.

use prism_config::{PluginLimitsConfig, SubscriptionOverride};
use prism_model::PluginId;
use prism_router::{Filter, SymbolPattern};
use prism_runtime::{
    LoadError, PluginEngine, PluginInfo, PluginInstance, PluginLimits, PluginModule, Subscription,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A plugin ready to run.
pub(crate) struct LoadedPlugin {
    pub(crate) id: PluginId,
    pub(crate) info: PluginInfo,
    pub(crate) instance: PluginInstance,
    /// The subscription in force.
    pub(crate) subscription: Subscription,
    pub(crate) digest: String,
    pub(crate) path: PathBuf,
}

/// A plugin that could not be loaded, with where it came from.
#[derive(Debug, thiserror::Error)]
#[error("plugin {}{}: {source}", .path.display(), .id.as_ref().map(|i| format!(" (id `{i}`)")).unwrap_or_default())]
pub(crate) struct PluginLoadError {
    pub(crate) id: Option<PluginId>,
    pub(crate) path: PathBuf,
    pub(crate) source: LoadError,
}

/// Where, how and with what a plugin is started.
pub(crate) struct PluginSpec<'a> {
    /// The id; `None` takes the plugin's own name (replay, check).
    pub(crate) id: Option<PluginId>,
    pub(crate) path: &'a Path,
    pub(crate) config_json: &'a str,
    pub(crate) limits: PluginLimitsConfig,
    pub(crate) seed: Option<u64>,
    pub(crate) subscription: Option<&'a SubscriptionOverride>,
}

/// FNV-1a: a stable seed from an id, the same on every machine and build.
fn seed_of(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Limits in the runtime's units.
pub(crate) fn runtime_limits(limits: PluginLimitsConfig) -> PluginLimits {
    PluginLimits {
        memory_bytes: (limits.memory_mb as usize) << 20,
        call_deadline: Duration::from_millis(limits.call_deadline_ms),
        max_outputs: limits.max_outputs,
    }
}

/// Loads, instantiates and initializes a plugin.
///
/// # Errors
/// [`PluginLoadError`] naming the file (and id) and what is wrong.
pub(crate) fn load_plugin(
    engine: &PluginEngine,
    spec: &PluginSpec<'_>,
) -> Result<LoadedPlugin, PluginLoadError> {
    let fail = |source| PluginLoadError {
        id: spec.id.clone(),
        path: spec.path.to_path_buf(),
        source,
    };
    let module = PluginModule::load(engine, spec.path).map_err(fail)?;
    let seed_id = spec
        .id
        .as_ref()
        .map_or_else(|| spec.path.display().to_string(), ToString::to_string);
    let mut instance = module
        .instantiate(
            &seed_id,
            runtime_limits(spec.limits),
            spec.seed.unwrap_or_else(|| seed_of(&seed_id)),
        )
        .map_err(fail)?;
    let info = instance.init(spec.config_json).map_err(fail)?;
    let id = match &spec.id {
        Some(id) => id.clone(),
        None => PluginId::new(&info.name).map_err(|e| {
            fail(LoadError::Init(format!(
                "the plugin's name cannot serve as its id: {e}"
            )))
        })?,
    };
    let mut subscription = info.subscription.clone();
    if let Some(o) = spec.subscription {
        if let Some(k) = &o.kinds {
            subscription.kinds.clone_from(k);
        }
        if let Some(e) = &o.exchanges {
            subscription.exchanges.clone_from(e);
        }
        if let Some(s) = &o.symbols {
            subscription.symbols.clone_from(s);
        }
        if o.timer_interval_ms.is_some() {
            subscription.timer_interval_ms = o.timer_interval_ms;
        }
    }
    Ok(LoadedPlugin {
        id,
        info,
        instance,
        subscription,
        digest: module.digest().to_owned(),
        path: spec.path.to_path_buf(),
    })
}

/// The router's filter for a subscription.
pub(crate) fn filter_of(s: &Subscription) -> Filter {
    Filter {
        kinds: s.kinds.clone(),
        exchanges: s.exchanges.clone(),
        symbols: s.symbols.iter().map(|p| SymbolPattern::new(p)).collect(),
        timer_interval_ms: s.timer_interval_ms.filter(|i| *i > 0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_are_stable() {
        assert_eq!(super::seed_of(""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(super::seed_of("a"), super::seed_of("b"));
    }
}
