//! PostgreSQL at `prism run`: opened before the pipeline starts (the
//! schema migrated, what the last run left read back), its sink added to
//! the sink stage, and the plugins the last run had started again.

use prism_config::{Config, SourceConfig};
use prism_control::{
    Origin, PluginControl, PluginSettings, SavedState, Supervisor, plugin_settings,
};
use prism_model::{InstrumentRegistry, PluginId};
use prism_postgres::{
    Postgres, PostgresSettings, Restored, RetainedTable, SavedOrigin, SavedPlugin, ViewPlugins,
};
use std::collections::HashSet;

use std::time::Duration;

/// The database and what the last run left in it.
pub(crate) struct Database {
    pub(crate) postgres: Postgres,
    pub(crate) restored: Restored,
}

/// What the stream is, so a schema never mixes two streams' positions: a
/// replay file (by canonical path), the simulator (by its settings), live
/// feeds, or a NATS stream and filter.
pub(crate) fn stream_name(config: &Config) -> String {
    match &config.source {
        SourceConfig::Replay(r) => {
            let path = config.resolve(&r.path);
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            format!("replay:{}", path.display())
        }
        SourceConfig::Simulator(s) => format!(
            "simulator:seed={},start_ms={},accounts={}",
            s.seed, s.start_ms, s.accounts
        ),
        SourceConfig::Live(_) => "live".into(),
        // Positions are the stream's sequences: one JetStream stream.
        SourceConfig::Nats(n) => {
            format!("nats:{}:{}", config.nats.stream, n.subjects(&config.nats))
        }
    }
}

/// Opens the database when one is configured.
///
/// # Errors
/// The database is unreachable, of a newer schema, or holds another
/// stream; the spool cannot be used.
pub(crate) fn open(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Option<Database>> {
    let Some(url) = config.postgres.effective_url() else {
        return Ok(None);
    };
    let pg = &config.postgres;
    let a = &config.analytics;
    let settings = PostgresSettings {
        url,
        schema: pg.schema.clone(),
        spool_dir: config
            .resolve(&config.runtime.data_dir)
            .join("postgres-spool")
            .join(&pg.schema),
        spool_max_bytes: pg.spool_mb.saturating_mul(1 << 20),
        pool_size: pg.pool_size,
        connect_timeout: Duration::from_millis(pg.connect_timeout_ms),
        drain: Duration::from_millis(pg.drain_ms),
        archive: pg.archive.clone(),
        views: ViewPlugins {
            liquidations: a.liquidations.to_string(),
            liquidation_map: a.liquidation_map.to_string(),
            long_short_ratio: a.long_short_ratio.to_string(),
            whales: a.whales.to_string(),
        },
        stream: stream_name(config),
    };
    let mut postgres = runtime
        .block_on(Postgres::open(settings))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let restored = postgres.take_restored();
    Ok(Some(Database { postgres, restored }))
}

/// The retention rules of the config.
pub(crate) fn retention(config: &Config) -> Vec<(RetainedTable, Duration)> {
    config
        .postgres
        .retention
        .iter()
        .filter_map(|(kind, keep)| {
            Some((
                RetainedTable::named(kind)?,
                prism_config::parse_duration(keep).ok()?,
            ))
        })
        .collect()
}

/// The instruments of the restored checkpoints, under the same ids, for a
/// live source (a replay or the simulator makes the same ids again).
pub(crate) fn instruments(restored: &Restored) -> InstrumentRegistry {
    match InstrumentRegistry::preload(restored.instruments.clone()) {
        Ok(r) => r,
        Err(id) => {
            tracing::warn!(
                id = id.0,
                "the stored checkpoints do not list every instrument id up to {}; instruments get new ids",
                id.0
            );
            InstrumentRegistry::default()
        }
    }
}

fn saved(restored: &Restored, id: &str) -> Option<SavedState> {
    restored.checkpoints.get(id).map(|c| SavedState {
        position: c.position,
        state: c.state.clone(),
        instruments: c.instruments.clone(),
        account: c.account.clone(),
    })
}

fn settings_of(p: &SavedPlugin) -> Option<PluginSettings> {
    match PluginSettings::from_durable(&p.config_json, &p.settings_json) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(plugin = %p.id, "the registry's settings cannot be read ({e}); the plugin is not restored");
            None
        }
    }
}

/// Starts the configured plugins and those the registry adds, each from
/// its checkpoint. Returns the furthest position a restored plugin covers.
///
/// The config file decides, for each plugin it lists, the file and its
/// config — unless the admin API uploaded new code for it, which then runs
/// with the config it was given. The registry adds the plugins the admin
/// API added, keeps removed the ones it removed, and pauses the paused.
///
/// # Errors
/// A configured plugin that cannot start (as without a database).
pub(crate) fn start_plugins(
    config: &Config,
    supervisor: &Supervisor,
    restored: &Restored,
) -> anyhow::Result<crate::source::Resumed> {
    // The database's checkpoints are the plugins' only start points.
    let mut resumed_to = crate::source::Resumed {
        from_checkpoints: true,
        ..crate::source::Resumed::default()
    };
    let mut started: HashSet<String> = HashSet::new();
    let registry = |id: &str| restored.plugins.iter().find(|p| p.id == id);
    let mut start = |id: &PluginId,
                     wasm: Vec<u8>,
                     settings: PluginSettings,
                     origin: Origin|
     -> Result<(), prism_control::ControlError> {
        let view = match saved(restored, id.as_str()) {
            Some(state) => {
                resumed_to.add(&state);
                supervisor.add_restored(id, &wasm, settings, origin, &state)?
            }
            None => {
                resumed_to.add_fresh();
                supervisor.add_bytes(id, &wasm, settings, origin)?
            }
        };
        tracing::info!(plugin = %view.id, name = %view.name, version = %view.version, "plugin loaded");
        Ok(())
    };
    for p in &config.plugins {
        let entry = registry(p.id.as_str());
        if entry.is_some_and(|e| e.removed) {
            tracing::warn!(
                plugin = %p.id,
                "removed through the admin API: not started (add it again through the API to bring it back)"
            );
            continue;
        }
        let path = config.resolve(&p.path);
        let (wasm, settings, origin) = match entry.map(|e| &e.origin) {
            Some(SavedOrigin::Upload { component }) => {
                let Some(mut settings) = entry.and_then(settings_of) else {
                    continue;
                };
                // Whether it trades, and under which limits, is the config's.
                settings.execution = plugin_settings(config, p).execution;
                let component: std::sync::Arc<[u8]> = component.as_slice().into();
                (component.to_vec(), settings, Origin::Upload { component })
            }
            _ => {
                let wasm = std::fs::read(&path)
                    .map_err(|e| anyhow::anyhow!("plugin `{}` ({}): {e}", p.id, path.display()))?;
                let origin = Origin::File {
                    path: path.clone(),
                    from_config: true,
                };
                (wasm, plugin_settings(config, p), origin)
            }
        };
        start(&p.id, wasm, settings, origin)
            .map_err(|e| anyhow::anyhow!("plugin `{}` ({}): {e}", p.id, path.display()))?;
        started.insert(p.id.to_string());
    }
    for p in &restored.plugins {
        if p.removed || started.contains(&p.id) {
            continue;
        }
        let Ok(id) = PluginId::new(&p.id) else {
            tracing::warn!(plugin = %p.id, "the registry holds an invalid plugin id; skipped");
            continue;
        };
        let (wasm, origin) = match &p.origin {
            // Listed in the config file then, not now: the file removed it.
            SavedOrigin::File {
                from_config: true, ..
            } => continue,
            SavedOrigin::File { path, .. } => match std::fs::read(path) {
                Ok(wasm) => (
                    wasm,
                    Origin::File {
                        path: path.clone(),
                        from_config: false,
                    },
                ),
                Err(e) => {
                    tracing::error!(plugin = %p.id, path = %path.display(), "the registry's plugin file cannot be read; not restored: {e}");
                    continue;
                }
            },
            SavedOrigin::Upload { component } => {
                let component: std::sync::Arc<[u8]> = component.as_slice().into();
                (component.to_vec(), Origin::Upload { component })
            }
        };
        let Some(settings) = settings_of(p) else {
            continue;
        };
        if let Err(e) = start(&id, wasm, settings, origin) {
            tracing::error!(plugin = %p.id, "a plugin of the registry cannot start; not restored: {e}");
            continue;
        }
        started.insert(p.id.clone());
    }
    for p in &restored.plugins {
        if p.paused && started.contains(&p.id) {
            match supervisor.pause(&p.id) {
                Ok(_) => tracing::info!(plugin = %p.id, "paused, as the last run left it"),
                Err(e) => {
                    tracing::warn!(plugin = %p.id, "cannot pause as the last run left it: {e}")
                }
            }
        }
    }
    Ok(resumed_to)
}

/// Fills the paper records' memory with the newest the database holds, so
/// the API shows the orders, fills and PnL of earlier runs. A database
/// that cannot answer only leaves memory empty (and says so).
pub(crate) fn preload_paper(
    db: &Database,
    store: &prism_outputs::ExecutionStore,
    runtime: &tokio::runtime::Runtime,
) {
    let limit = i64::try_from(prism_outputs::ExecutionLimits::default().fills).unwrap_or(i64::MAX);
    let history = match runtime.block_on(db.postgres.history().paper(limit)) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!("the paper records of earlier runs cannot be read: {e}");
            return;
        }
    };
    store.insert(&prism_model::ExecutionReport {
        orders: history.orders,
        fills: history.fills,
        funding: history.funding,
        positions: history.positions,
        ..prism_model::ExecutionReport::default()
    });
    for pnl in history.pnl {
        store.insert(&prism_model::ExecutionReport {
            pnl: Some(pnl),
            ..prism_model::ExecutionReport::default()
        });
    }
    for risk in history.risk {
        store.insert(&prism_model::ExecutionReport {
            risk: Some(risk),
            ..prism_model::ExecutionReport::default()
        });
    }
}
