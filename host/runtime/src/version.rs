//! One runnable version of a plugin: compiled code plus the operator's
//! settings for it.

use crate::conversions::PluginInfo;
use crate::error::LoadError;
use crate::plugin::{PluginInstance, PluginLimits, PluginModule};

/// What an instance is started with, besides its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSettings {
    /// The operator's config for the plugin, as the JSON text `init` gets.
    pub config_json: String,
    pub limits: PluginLimits,
    /// Seed of the instance's randomness: the same seed, the same outputs.
    pub seed: u64,
}

/// A compiled plugin with the settings it runs under. Immutable: a swap or a
/// config change makes a new one, so a worker can always start a fresh
/// instance of exactly the version it is running (crash recovery).
#[derive(Clone)]
pub struct PluginVersion {
    pub module: PluginModule,
    pub settings: InstanceSettings,
    /// What the plugin said about itself when this version was prepared.
    pub info: PluginInfo,
}

impl std::fmt::Debug for PluginVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginVersion")
            .field("digest", &self.module.digest())
            .field("settings", &self.settings)
            .field("info", &self.info)
            .finish()
    }
}

impl PluginVersion {
    /// Instantiates `module` for plugin `id` and calls `init`: the first
    /// instance of a new version, with what the plugin declared.
    ///
    /// # Errors
    /// [`LoadError::Instantiate`], [`LoadError::Init`] or
    /// [`LoadError::Fault`], with the plugin's own words where it gave any.
    pub fn prepare(
        module: PluginModule,
        id: &str,
        settings: InstanceSettings,
    ) -> Result<(Self, PluginInstance), LoadError> {
        let mut instance = module.instantiate(id, settings.limits, settings.seed)?;
        let info = instance.init(&settings.config_json)?;
        Ok((
            Self {
                module,
                settings,
                info,
            },
            instance,
        ))
    }

    /// A fresh instance of this version, through `init` (no state restored).
    ///
    /// # Errors
    /// As [`Self::prepare`].
    pub fn start(&self, id: &str) -> Result<PluginInstance, LoadError> {
        let mut instance = self
            .module
            .instantiate(id, self.settings.limits, self.settings.seed)?;
        instance.init(&self.settings.config_json)?;
        Ok(instance)
    }

    /// SHA-256 of the component, hex.
    #[must_use]
    pub fn digest(&self) -> &str {
        self.module.digest()
    }
}
