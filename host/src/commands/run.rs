//! `prism run`: the pipeline plus the API, until Ctrl-C.

use crate::pipeline::{Pipeline, PipelineSettings};
use crate::plugins::{PluginSpec, load_plugin};
use prism_api::AppState;
use prism_config::{Config, DEFAULT_TOML};
use prism_outputs::{OutputSink, OutputStore, StoreLimits};
use prism_router::RouterSettings;
use prism_sources::SourceStats;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const DEFAULT_CONFIG: &str = "config/prism.toml";

/// Reads the config: the given file, else `config/prism.toml`, else the
/// embedded default (as if it lived in `config/`).
pub(crate) fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    if let Some(path) = path {
        return Ok(Config::load(&path)?);
    }
    let default = Path::new(DEFAULT_CONFIG);
    if default.exists() {
        return Ok(Config::load(default)?);
    }
    tracing::info!("{DEFAULT_CONFIG} not found; using the embedded default config");
    Ok(Config::from_toml_str(DEFAULT_TOML, Path::new("config"))?)
}

/// Pipeline settings from a config.
pub(crate) fn pipeline_settings(config: &Config) -> PipelineSettings {
    PipelineSettings {
        router: RouterSettings {
            batch_size: config.pipeline.batch_size,
            batch_linger: Duration::from_millis(config.pipeline.batch_linger_ms),
        },
        queue_batches: config.pipeline.queue_batches,
        output_queue: config.pipeline.output_queue,
        source_queue: 16,
    }
}

/// Runs until Ctrl-C (or SIGTERM).
pub(crate) fn run(
    config_path: Option<PathBuf>,
    listen: Option<SocketAddr>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let engine = super::engine(&config)?;
    let mut plugins = Vec::new();
    for p in &config.plugins {
        let path = config.resolve(&p.path);
        let json = p.config_json();
        let spec = PluginSpec {
            id: Some(p.id.clone()),
            path: &path,
            config_json: &json,
            limits: p.limits(&config.plugin_defaults),
            seed: p.seed,
            subscription: p.subscription.as_ref(),
        };
        let loaded = load_plugin(&engine, &spec)?;
        tracing::info!(plugin = %loaded.id, name = %loaded.info.name, version = %loaded.info.version, "plugin loaded");
        plugins.push(loaded);
    }
    let s = config.stores;
    let store = Arc::new(OutputStore::new(StoreLimits {
        series_points: s.series_points,
        log_entries: s.log_entries,
        signals: s.signals,
        records: s.records,
    }));
    let pipeline = Pipeline::start(
        pipeline_settings(&config),
        plugins,
        OutputSink::Store(store.clone()),
    )?;
    let mut state = AppState::new(store);
    state.head_ts = pipeline.head_ts.clone();
    if let Ok(mut views) = state.plugins.write() {
        for v in &pipeline.views {
            views.insert(v.id.clone(), v.clone());
        }
    }
    let stats = Arc::new(SourceStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let source = crate::source::spawn(
        &config.source,
        &config.base_dir,
        pipeline.source.clone(),
        stats.clone(),
        stop.clone(),
    )?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let served = runtime.block_on(async {
        let address = listen.unwrap_or(config.api.listen);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        let bound = listener.local_addr()?;
        println!("prism: API listening on http://{bound}");
        let counters = state.clone();
        let mirror = stats.clone();
        tokio::spawn(async move {
            // Mirror the source's counters into the API state.
            loop {
                counters
                    .source_events
                    .store(mirror.events.load(Ordering::Relaxed), Ordering::Relaxed);
                counters
                    .source_skipped
                    .store(mirror.skipped.load(Ordering::Relaxed), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        prism_api::serve(listener, state, shutdown_signal()).await?;
        anyhow::Ok(())
    });
    tracing::info!("shutting down");
    stop.store(true, Ordering::Relaxed);
    drop(runtime);
    let source_result = source
        .join()
        .map_err(|_| anyhow::anyhow!("the source thread panicked"))?;
    let outputs = pipeline.finish()?;
    tracing::info!(
        events = stats.events.load(Ordering::Relaxed),
        outputs,
        "stopped"
    );
    served?;
    source_result?;
    Ok(ExitCode::SUCCESS)
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
