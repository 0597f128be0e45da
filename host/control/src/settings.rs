//! A plugin's settings: what a config entry gives it, what its instances
//! run under, and preparing a version (compile, instantiate under its
//! limits, `init`). Every other stage's settings come from the config in
//! the binary's `settings` module; the plugins' are here because a config
//! reload turns entries into settings while the pipeline runs.

use prism_config::{
    Config, ExecutionConfig, PluginConfig, PluginLimitsConfig, RiskConfig, StopLevel,
};
use prism_execution::{ExecutionSettings, Fees, RiskLimits, Stops, Trigger};
use prism_model::SubscriptionOverride;
use prism_runtime::{
    InstanceSettings, LoadError, LogLimits, OutputLimits, PluginEngine, PluginInstance,
    PluginLimits, PluginModule, PluginVersion,
};
use std::time::Duration;

/// How to start a plugin, apart from its code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginSettings {
    /// The config `init` gets, as JSON text.
    pub config_json: String,
    pub limits: PluginLimitsConfig,
    /// Seed of the plugin's randomness; derived from the id when absent.
    pub seed: Option<u64>,
    /// The operator's overrides of the plugin's declared subscription.
    pub subscription: Option<SubscriptionOverride>,
    /// Its paper account's settings, when it trades (`paper = true`).
    pub execution: Option<ExecutionSettings>,
    /// The share of the stream it sees, when it is one partition's instance
    /// of a plugin in a cluster.
    pub partition: Option<prism_model::PartitionSlice>,
}

/// The settings a config entry gives its plugin.
#[must_use]
pub fn plugin_settings(config: &Config, entry: &PluginConfig) -> PluginSettings {
    PluginSettings {
        config_json: entry.config_json(),
        limits: entry.limits(&config.plugin_defaults),
        seed: entry.seed,
        subscription: entry.subscription.clone(),
        execution: entry
            .paper
            .then(|| execution_settings(&config.execution, entry.risk.as_ref())),
        partition: None,
    }
}

/// A trading plugin's executor settings: `[execution]` with the plugin's
/// own limits over `[execution.risk]` (the tighter of each). The config was
/// validated, so every value reads.
#[must_use]
pub fn execution_settings(config: &ExecutionConfig, own: Option<&RiskConfig>) -> ExecutionSettings {
    let dec = |v: &str| prism_config::amount(v, true).unwrap_or_default();
    let fees = |f: &prism_config::FeesConfig| Fees {
        maker: dec(&f.maker),
        taker: dec(&f.taker),
    };
    let global = risk_limits(&config.risk);
    let risk = match own {
        Some(own) => risk_limits(own).tightest(&global),
        None => global,
    };
    ExecutionSettings {
        fees: config
            .fees
            .iter()
            .map(|(venue, f)| (venue.to_ascii_lowercase(), fees(f)))
            .collect(),
        default_fees: fees(&config.default_fees),
        slippage_bps: dec(&config.slippage_bps),
        stale_after_ms: prism_config::parse_duration(&config.stale_after)
            .map_or(60_000, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        risk,
    }
}

fn risk_limits(c: &RiskConfig) -> RiskLimits {
    let dec = |v: &Option<String>| {
        v.as_deref()
            .and_then(|v| prism_config::amount(v, false).ok())
    };
    let trigger = |v: &Option<String>| {
        v.as_deref()
            .and_then(|v| prism_config::stop_level(v).ok())
            .map(|l| match l {
                StopLevel::Percent(p) => Trigger::Percent(p),
                StopLevel::Price(p) => Trigger::Price(p),
            })
    };
    RiskLimits {
        max_order_notional: dec(&c.max_order_notional),
        max_position_notional: dec(&c.max_position_notional),
        max_gross_notional: dec(&c.max_gross_notional),
        max_orders_per_minute: c.max_orders_per_minute,
        max_daily_loss: dec(&c.max_daily_loss),
        max_total_gross_notional: dec(&c.max_total_gross_notional),
        stops: Stops {
            stop_loss: trigger(&c.stop_loss),
            take_profit: trigger(&c.take_profit),
        },
        instrument_stops: c
            .instruments
            .iter()
            .map(|(name, s)| {
                (
                    name.clone(),
                    Stops {
                        stop_loss: trigger(&s.stop_loss),
                        take_profit: trigger(&s.take_profit),
                    },
                )
            })
            .collect(),
    }
}

impl PluginSettings {
    /// What a registry keeps beside the config: limits, seed and
    /// subscription override, JSON (read back by [`Self::from_durable`]).
    #[must_use]
    pub fn durable_json(&self) -> String {
        serde_json::json!({
            "limits": self.limits,
            "seed": self.seed,
            "subscription": self.subscription,
        })
        .to_string()
    }

    /// Settings from a registry's `config` and [`Self::durable_json`] text.
    ///
    /// # Errors
    /// Text that is not what `durable_json` writes.
    pub fn from_durable(config_json: &str, durable: &str) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Durable {
            limits: PluginLimitsConfig,
            seed: Option<u64>,
            subscription: Option<SubscriptionOverride>,
        }
        let d: Durable = serde_json::from_str(durable).map_err(|e| e.to_string())?;
        Ok(Self {
            config_json: config_json.to_owned(),
            limits: d.limits,
            seed: d.seed,
            subscription: d.subscription,
            execution: None,
            partition: None,
        })
    }
}

/// FNV-1a: a stable seed from an id, the same on every machine and build.
#[must_use]
pub fn seed_of(id: &str) -> u64 {
    prism_model::partition::stable_hash(id.as_bytes())
}

/// Limits in the runtime's units.
#[must_use]
pub fn runtime_limits(limits: PluginLimitsConfig) -> PluginLimits {
    PluginLimits {
        memory_bytes: (limits.memory_mb as usize) << 20,
        call_deadline: Duration::from_millis(limits.call_deadline_ms),
        max_outputs: limits.max_outputs,
        outputs: OutputLimits {
            max_series: limits.max_series,
            max_document_keys: limits.max_document_keys,
            max_log_names: limits.max_log_names,
            max_document_bytes: limits.max_document_bytes,
            max_documents_bytes: limits.max_documents_bytes,
            max_log_bytes: limits.max_log_bytes,
            max_batch_bytes: limits.max_batch_bytes,
        },
        log: LogLimits {
            lines_per_s: limits.log_lines_per_s,
            bytes_per_s: limits.log_bytes_per_s,
        },
        recycle_memory_bytes: (limits.recycle_memory_mb as usize) << 20,
    }
}

/// The settings an instance of plugin `id` runs under.
#[must_use]
pub fn instance_settings(id: &str, settings: &PluginSettings) -> InstanceSettings {
    InstanceSettings {
        config_json: if settings.config_json.trim().is_empty() {
            "{}".to_owned()
        } else {
            settings.config_json.clone()
        },
        limits: runtime_limits(settings.limits),
        seed: settings.seed.unwrap_or_else(|| seed_of(id)),
    }
}

/// Compiles (or takes from the cache) and starts a first instance.
///
/// # Errors
/// A [`LoadError`] that says what is wrong with the component or its config.
pub fn prepare(
    engine: &PluginEngine,
    wasm: &[u8],
    id: &str,
    settings: &PluginSettings,
) -> Result<(PluginVersion, PluginInstance), LoadError> {
    let module = PluginModule::from_bytes(engine, wasm)?;
    let (version, instance) = PluginVersion::prepare(module, id, instance_settings(id, settings))?;
    subscription_of(&version, settings)?;
    Ok((version, instance))
}

/// The subscription in force for `version` under `settings`: the plugin's
/// own with the operator's overrides, as the plugin's contract version
/// can have it.
///
/// # Errors
/// When the overrides name kinds the plugin's contract version lacks.
pub(crate) fn subscription_of(
    version: &PluginVersion,
    settings: &PluginSettings,
) -> Result<prism_model::Subscription, LoadError> {
    version.info.contract.fit(
        version
            .info
            .subscription
            .with_override(settings.subscription.as_ref()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stable() {
        assert_eq!(seed_of(""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(seed_of("a"), seed_of("b"));
    }
}
