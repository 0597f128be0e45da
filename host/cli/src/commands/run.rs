//! `prism run`: the pipeline plus the API, until Ctrl-C.

use prism_api::AppState;
use prism_config::{Config, DEFAULT_TOML};
use prism_control::{Pipeline, PluginControl, SnapshotStore, plugin_settings};
use prism_outputs::OutputStore;
use prism_sinks::{MemorySink, Overflow, SinkSpec};
use prism_sources::SourceStats;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const DEFAULT_CONFIG: &str = "config/prism.toml";

/// How long a clean stop waits for owed notifications to go out.
const NOTIFY_GRACE: Duration = Duration::from_secs(5);

/// Reads the config: the given file, else `config/prism.toml`, else the
/// embedded default (as if it lived in `config/`). Also returns the file
/// it came from, if any (to watch it).
pub(crate) fn load_config(path: Option<PathBuf>) -> anyhow::Result<(Config, Option<PathBuf>)> {
    if let Some(path) = path {
        return Ok((Config::load(&path)?, Some(path)));
    }
    let default = Path::new(DEFAULT_CONFIG);
    if default.exists() {
        return Ok((Config::load(default)?, Some(default.to_path_buf())));
    }
    let (base, data_dir) = embedded_places();
    tracing::info!(
        plugins = %base.join("../target/wasm32-wasip2/release").display(),
        data = %data_dir.display(),
        "{DEFAULT_CONFIG} not found; using the embedded default config"
    );
    let mut config = Config::from_toml_str(DEFAULT_TOML, &base)?;
    config.runtime.data_dir = data_dir;
    let missing: Vec<String> = config
        .plugins
        .iter()
        .map(|p| config.resolve(&p.path))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the embedded default config runs the reference plugins, which are not built: {}; build them in the Prism checkout (`cargo build --release --target wasm32-wasip2 -p long-short-ratio -p liquidation-map -p funding-arb -p whale-detector -p hello`), or give --config FILE",
        missing.join(", ")
    );
    Ok((config, None))
}

/// Where the embedded default config lives and keeps its data: its plugin
/// paths are those of the checkout this binary was built from (so an
/// installed `prism` finds the reference plugins from any directory), and
/// its data goes to the user's data directory (`PRISM_DATA_DIR`, else
/// `$XDG_DATA_HOME/prism`, else `~/.local/share/prism`), never into the
/// current directory. Without a checkout, both are relative to the
/// current directory, as the file's paths say.
fn embedded_places() -> (PathBuf, PathBuf) {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let base = std::fs::canonicalize(&checkout).unwrap_or_else(|_| PathBuf::from("config"));
    let data = std::env::var_os("PRISM_DATA_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_DATA_HOME")
                .filter(|d| !d.is_empty())
                .map(|d| PathBuf::from(d).join("prism"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/prism")))
        .unwrap_or_else(|| PathBuf::from("data"));
    (base, data)
}

/// Runs until Ctrl-C (or SIGTERM).
pub(crate) fn run(
    config_path: Option<PathBuf>,
    listen: Option<String>,
) -> anyhow::Result<ExitCode> {
    let (config, config_file) = load_config(config_path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Before anything starts: a database that cannot be used stops here.
    let mut database = crate::database::open(&config, &runtime)?;
    let bus = crate::bus::open(&config, &runtime)?.map(Arc::new);
    // In a cluster, plugins run as the partitions this host holds, each
    // resumed from the state the cluster keeps (not from local files).
    let cluster = match (crate::cluster::settings(&config)?, &bus) {
        (Some(settings), Some(nats)) => {
            let cluster =
                Arc::new(runtime.block_on(prism_nats::cluster::Cluster::open(nats, settings))?);
            let writer =
                prism_nats::cluster::StateWriter::spawn(cluster.states().clone(), runtime.handle());
            Some((cluster, writer))
        }
        _ => None,
    };
    let notifier = crate::notify::open(&config, &runtime)?;
    let engine = crate::settings::engine(&config)?;
    let store = Arc::new(OutputStore::new(crate::settings::stores(&config)));
    let execution = Arc::new(prism_outputs::ExecutionStore::default());
    let market = Arc::new(prism_outputs::MarketStore::new(
        prism_outputs::MarketLimits {
            candles_kept: config.market.candles_kept,
            tickers: config.market.tickers_kept,
            ..prism_outputs::MarketLimits::default()
        },
    ));
    if let Some(db) = &database {
        crate::database::preload_paper(db, &execution, &runtime);
    }
    let analytics = crate::settings::analytics(&config);
    let live = prism_api::LiveFrames::new(config.api.ws_buffer);
    let snapshots = if config.recovery.persist_snapshots || config.recovery.restore_on_start {
        let dir = config.resolve(&config.runtime.data_dir).join("snapshots");
        Some(
            SnapshotStore::open(&dir)
                .map_err(|e| anyhow::anyhow!("cannot use {}: {e}", dir.display()))?,
        )
    } else {
        None
    };
    let mut sinks = vec![
        SinkSpec::new(
            "memory",
            MemorySink::new(store.clone())
                .with_execution(execution.clone())
                .with_market(market.clone()),
            config.pipeline.output_queue,
            Overflow::Wait,
        ),
        // Live viewers never hold the pipeline back: what they cannot
        // take in time is dropped and counted.
        SinkSpec::new(
            prism_api::LIVE_SINK,
            live.sink(analytics.clone()),
            crate::settings::live_queue(),
            Overflow::Drop,
        ),
    ];
    // With outputs on the bus, a checkpoint is persisted only once the
    // stream has every output made before it (a restart from it would skip
    // the outputs the stream lacks); the output publisher hands it on.
    let nats_outputs = bus.is_some() && config.nats.outputs;
    let mut checkpoints_after_outputs = None;
    if let Some((cluster, writer)) = &cluster {
        let writer = writer.clone();
        let host = cluster.settings().host.clone();
        checkpoints_after_outputs = Some(Box::new(move |c: &prism_model::Checkpoint, from| {
            writer.offer(
                &c.plugin,
                prism_nats::cluster::StoredState::of(c, from, &host, prism_model::wall_ms()),
            );
        }) as prism_nats::CheckpointHook);
    } else if let Some(s) = snapshots
        .as_ref()
        .filter(|_| config.recovery.persist_snapshots)
    {
        if nats_outputs {
            let mut writer = s.sink();
            checkpoints_after_outputs = Some(Box::new(move |c: &prism_model::Checkpoint, _| {
                use prism_sinks::Sink;
                let _ = writer.checkpoint(c);
                let _ = writer.idle();
            }) as prism_nats::CheckpointHook);
        } else {
            // A checkpoint that waits is superseded by the next: never held back.
            sinks.push(SinkSpec::new(
                "snapshots",
                s.sink(),
                config.pipeline.output_queue,
                Overflow::Wait,
            ));
        }
    }
    if let Some(db) = database.as_mut() {
        // Lossless: when its spool is full, the pipeline waits.
        sinks.push(SinkSpec::new(
            "postgres",
            db.postgres.sink()?,
            config.pipeline.output_queue,
            Overflow::Wait,
        ));
    }
    let mut handovers = None;
    if let Some(nats) = &bus {
        let (bus_sinks, told) = crate::bus::sinks(&config, nats, checkpoints_after_outputs)?;
        sinks.extend(bus_sinks);
        handovers = told;
    }
    if let Some(n) = &notifier {
        // Lossless, and never slow: the notifier only queues what it takes.
        sinks.push(SinkSpec::new(
            "notify",
            n.sink(),
            config.pipeline.output_queue,
            Overflow::Wait,
        ));
    }
    let mut pipeline = Pipeline::start(engine, crate::settings::pipeline(&config), sinks)?;
    let supervisor = pipeline.supervisor.clone();
    // What the restored plugins cover: a live source, which cannot replay,
    // numbers its events after the furthest; a NATS consumer starts where
    // the earliest needs it.
    if let Some(nats) = bus.as_ref().filter(|_| cluster.is_none()) {
        let restored = database.iter().flat_map(|db| &db.restored.plugins);
        let ids = config
            .plugins
            .iter()
            .map(|p| p.id.as_str())
            .chain(restored.map(|p| p.id.as_str()));
        crate::bus::fences(
            &runtime,
            nats,
            &config,
            &supervisor,
            handovers.as_ref(),
            ids,
        )?;
    }
    let resumed = match &database {
        // The database's checkpoints are the ones committed with their
        // outputs: with it, plugins resume from them.
        Some(db) => {
            let mut resumed = crate::database::start_plugins(&config, &supervisor, &db.restored)?;
            resumed.furthest = resumed.furthest.max(db.restored.high_water);
            resumed
        }
        // The cluster starts the partitions it takes.
        None if cluster.is_some() => {
            supervisor.start_plugins_on_rewind();
            crate::source::Resumed::default()
        }
        None => start_plugins(&config, &supervisor, snapshots.as_ref())?,
    };
    let nats_source = match (&config.source, &bus) {
        (prism_config::SourceConfig::Nats(s), Some(nats)) => {
            Some(crate::bus::source(&runtime, nats, &config, s, &resumed)?)
        }
        _ => None,
    };
    let rewind = nats_source.as_ref().map(prism_nats::NatsSource::rewinder);
    let watcher = if config.runtime.watch {
        let debounce = Duration::from_millis(config.runtime.watch_debounce_ms);
        // In a cluster the plugin list is the cluster's: a config edit
        // applies at the next start (plugin files are still watched).
        let config_file = config_file.as_deref().filter(|_| cluster.is_none());
        match prism_control::watch(supervisor.clone(), config_file, debounce) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("plugin files will not be watched: {e}");
                None
            }
        }
    } else {
        None
    };
    let supervisor_for_alarms = supervisor.clone();
    let control: Arc<dyn PluginControl> = supervisor;
    let mut state = AppState::new(store, control);
    state.execution = execution;
    state.market = market;
    state.head_ts = pipeline.head_ts.clone();
    state.sinks = pipeline.sinks.clone();
    let mut state = crate::settings::api(&config, state);
    state.analytics = analytics;
    state.live = live;
    if state.admin.token.is_none() {
        tracing::info!("admin API off: set admin.token or PRISM_ADMIN_TOKEN to enable it");
    }
    let stats = Arc::new(SourceStats::default());
    state.source = stats.clone();
    state.snapshots = snapshots.as_ref().map(SnapshotStore::health);
    let stop = Arc::new(AtomicBool::new(false));
    let crate::source::Source {
        thread: source,
        feeds,
    } = crate::source::spawn(
        &config.source,
        &config.market.candles_from_trades,
        &config.base_dir,
        // The source thread holds the only sender: when a finite source
        // ends, the pipeline drains and its plugins stop.
        pipeline.take_source(),
        crate::source::Start {
            live_first: resumed.furthest.map_or(0, |p| p + 1),
            instruments: database
                .as_ref()
                .map(|db| crate::database::instruments(&db.restored))
                .unwrap_or_default(),
            nats: nats_source,
        },
        stats.clone(),
        stop.clone(),
    )?;

    state.nats = bus.as_deref().map(prism_nats::Nats::health);
    let cluster_host = match (cluster, &bus, rewind, handovers) {
        (Some((cluster, writer)), Some(nats), Some(rewind), Some(handovers)) => {
            let consumed = stats.clone();
            let host = crate::cluster::ClusterHost::start(
                crate::cluster::Parts {
                    config: config.clone(),
                    nats: nats.clone(),
                    cluster,
                    supervisor: supervisor_for_alarms.clone(),
                    rewind,
                    handovers,
                    writer,
                    consumed: Arc::new(move || consumed.events.load(Ordering::Relaxed)),
                },
                runtime.handle().clone(),
            )?;
            state.cluster = Some(host.status.clone());
            Some(host)
        }
        _ => None,
    };
    state.feeds = feeds
        .into_iter()
        .map(|(venue, metrics)| prism_api::FeedView { venue, metrics })
        .collect();
    if let Some(n) = &notifier {
        crate::notify::watch(
            n,
            &config,
            crate::notify::Watched {
                supervisor: supervisor_for_alarms.clone(),
                feeds: state.feeds.clone(),
                sinks: pipeline.sinks.clone(),
                sink_queue: config.pipeline.output_queue,
                postgres: database.as_ref().map(|db| db.postgres.health()),
                nats: bus.as_deref().map(prism_nats::Nats::health),
                execution: state.execution.clone(),
            },
        );
        n.raise(&prism_notifier::Alarm {
            kind: prism_notifier::AlarmKind::HostStarted,
            subject: "host".into(),
            plugin: None,
            title: format!(
                "prism started with {} plugins",
                supervisor_for_alarms.views().len()
            ),
            body: String::new(),
        });
        state.notifier = Some(n.clone());
    }
    if let Some(db) = &database {
        state.postgres = Some(prism_api::PostgresView {
            health: db.postgres.health(),
            history: db.postgres.history(),
            archives_trades: config
                .postgres
                .archive
                .contains(&prism_model::EventKind::Trade),
        });
        let retention = db.postgres.retention(crate::database::retention(&config));
        let every = prism_config::parse_duration(&config.postgres.retention_every)
            .unwrap_or(Duration::from_secs(60));
        runtime.spawn(retention.run(every, pipeline.head_ts.clone()));
    }
    let served = runtime.block_on(async {
        if !config.api.enabled && listen.is_none() {
            crate::out!("prism: running without the API (api.enabled = false); Ctrl-C stops");
            shutdown_signal().await;
            return anyhow::Ok(());
        }
        let address = listen.unwrap_or_else(|| config.api.listen.clone());
        if let Err(e) = prism_config::listen_address(&address) {
            anyhow::bail!("--listen: {e}");
        }
        let listener = tokio::net::TcpListener::bind(address.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        let bound = listener.local_addr()?;
        crate::out!("prism: API listening on http://{bound}");
        prism_api::serve(
            listener,
            state,
            crate::settings::server(&config),
            shutdown_signal(),
        )
        .await?;
        anyhow::Ok(())
    });
    tracing::info!("shutting down");
    // No partition is taken or handed over from here; the leases are
    // given up once the last states are stored (below).
    let leaving = cluster_host.and_then(crate::cluster::ClusterHost::stop);
    stop.store(true, Ordering::Relaxed);
    let source_result = source
        .join()
        .map_err(|_| anyhow::anyhow!("the source thread panicked"))?;
    drop(watcher);
    if let Some(db) = &database {
        db.postgres.shutting_down();
    }
    if let Some(nats) = &bus {
        nats.shutting_down();
    }
    let outputs = pipeline.finish()?;
    if let Some(manager) = leaving {
        manager.leave();
    }
    if let Some(n) = &notifier {
        n.raise(&prism_notifier::Alarm {
            kind: prism_notifier::AlarmKind::HostStopped,
            subject: "host".into(),
            plugin: None,
            title: "prism stopped cleanly".into(),
            body: format!("{outputs} outputs in this run"),
        });
        // What cannot be sent in time is saved and sent after a restart.
        n.finish(NOTIFY_GRACE);
    }
    // After the sinks: NATS publishes on this runtime until the last one.
    drop(runtime);
    // The workers are done: their last snapshots are queued; write them.
    drop(snapshots);
    tracing::info!(
        events = stats.events.load(Ordering::Relaxed),
        outputs,
        "stopped"
    );
    served?;
    source_result?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the configured plugins, each from its file snapshot when
/// `recovery.restore_on_start` (no database). Returns the positions the
/// restored plugins cover.
fn start_plugins(
    config: &Config,
    supervisor: &prism_control::Supervisor,
    snapshots: Option<&SnapshotStore>,
) -> anyhow::Result<crate::source::Resumed> {
    let mut refused_states: Vec<(String, String)> = Vec::new();
    let mut resumed_to = crate::source::Resumed {
        from_checkpoints: snapshots.is_some() && config.recovery.restore_on_start,
        ..crate::source::Resumed::default()
    };
    for p in &config.plugins {
        let path = config.resolve(&p.path);
        let saved = match snapshots
            .as_ref()
            .filter(|_| config.recovery.restore_on_start)
            .map(|s| s.load(p.id.as_str()))
        {
            Some(Ok(state)) => state,
            Some(Err(e)) => {
                tracing::warn!(plugin = %p.id, "the saved state is not restored, the plugin starts fresh: {e}");
                refused_states.push((p.id.to_string(), e.to_string()));
                None
            }
            None => None,
        };
        let settings = plugin_settings(config, p);
        match &saved {
            Some(s) => resumed_to.add(s),
            None => resumed_to.add_fresh(),
        }
        let view = match saved {
            Some(state) => supervisor.add_file_restored(&p.id, &path, settings, true, &state),
            None => supervisor.add_file(&p.id, &path, settings, true),
        }
        .map_err(|e| anyhow::anyhow!("plugin `{}` ({}): {e}", p.id, path.display()))?;
        if let Some((_, why)) = refused_states.iter().find(|(id, _)| *id == p.id.as_str()) {
            view.metrics.record_error(format!(
                "the saved state was not restored; started fresh: {why}"
            ));
        }
        tracing::info!(plugin = %view.id, name = %view.name, version = %view.version, "plugin loaded");
    }
    Ok(resumed_to)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
