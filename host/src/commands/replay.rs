//! `prism replay`: a file through plugins, as fast as possible.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use prism_config::Config;
use prism_control::{
    Origin, Pipeline, PluginSettings, PluginView, instance_settings, plugin_settings,
};
use prism_model::{OutputKind, PluginId};
use prism_outputs::OutputSink;
use prism_runtime::{PluginInstance, PluginModule, PluginVersion};
use prism_sources::SourceStats;
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Dead letters printed per plugin at the end of a replay.
const SHOWN_DEAD_LETTERS: usize = 5;

struct Prepared {
    id: PluginId,
    path: PathBuf,
    version: PluginVersion,
    instance: PluginInstance,
    settings: PluginSettings,
}

/// Prepares one `--plugin`: its settings come from a config entry with the
/// same path or, after `init`, with the same id as the plugin's name.
fn prepare_plugin(
    engine: &prism_runtime::PluginEngine,
    config: &Config,
    path: &Path,
) -> anyhow::Result<Prepared> {
    let wasm =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let failed = |e: &dyn std::fmt::Display| anyhow::anyhow!("plugin {}: {e}", path.display());
    // Compiled once; started once or twice (to learn its name, then with
    // the config entry of that name).
    let module = PluginModule::from_bytes(engine, &wasm).map_err(|e| failed(&e))?;
    let start = |id: &str, settings: &PluginSettings| {
        PluginVersion::prepare(module.clone(), id, instance_settings(id, settings))
            .map_err(|e| failed(&e))
    };
    let by_path = config
        .plugins
        .iter()
        .find(|p| config.resolve(&p.path) == *path);
    let (id, settings) = match by_path {
        Some(entry) => (entry.id.clone(), plugin_settings(config, entry)),
        None => {
            let defaults = PluginSettings {
                config_json: "{}".into(),
                limits: config.plugin_defaults,
                ..PluginSettings::default()
            };
            let (version, _) = start(&path.display().to_string(), &defaults)?;
            let id = PluginId::new(&version.info.name).map_err(|e| {
                failed(&format!(
                    "the plugin's name cannot serve as its id ({e}); give it one in --config"
                ))
            })?;
            match config.plugins.iter().find(|p| p.id == id) {
                Some(entry) => (id, plugin_settings(config, entry)),
                None => (id, defaults),
            }
        }
    };
    // Started under its id, so its seed is the one `prism run` would give it.
    let (version, instance) = start(id.as_str(), &settings)?;
    Ok(Prepared {
        id,
        path: path.to_path_buf(),
        version,
        instance,
        settings,
    })
}

/// Replays `events` through `plugin_paths`; writes outputs to `out`.
pub(crate) fn replay(
    events: &Path,
    recording: (Option<&str>, Option<&str>),
    plugin_paths: &[PathBuf],
    config: Option<&Path>,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let config = match config {
        Some(path) => Config::load(path)?,
        None => {
            let mut c = Config::default();
            c.runtime.cache = false;
            c
        }
    };
    let engine = super::engine(&config)?;
    let mut plugins: Vec<Prepared> = Vec::new();
    for path in plugin_paths {
        let p = prepare_plugin(&engine, &config, path)?;
        anyhow::ensure!(
            plugins.iter().all(|q| q.id != p.id),
            "two plugins have the id `{}`; give them distinct ids in --config",
            p.id
        );
        plugins.push(p);
    }

    // One temporary file per plugin: each plugin's outputs keep their order
    // whatever the threads do, and the result is the same on every run.
    let mut parts = Vec::new();
    let sink = match out {
        Some(out) => {
            let mut sinks = HashMap::new();
            for p in &plugins {
                let part = out.with_extension(format!("part-{}", p.id));
                let file = std::fs::File::create(&part)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", part.display()))?;
                sinks.insert(
                    Arc::from(p.id.as_str()),
                    OutputSink::Jsonl(Box::new(BufWriter::new(file))),
                );
                parts.push(part);
            }
            OutputSink::ByPlugin(sinks)
        }
        None => OutputSink::All(Vec::new()),
    };
    let mut settings = super::pipeline_settings(&config);
    // Batches by size only: boundaries then depend on the data, not on timing.
    settings.router.batch_linger = Duration::from_secs(3600);
    let pipeline = Pipeline::start(engine, settings, sink, None)?;
    let mut views: Vec<PluginView> = Vec::new();
    for p in plugins {
        let origin = Origin::File {
            path: p.path,
            from_config: false,
        };
        views.push(
            pipeline
                .supervisor
                .add_prepared(&p.id, p.version, p.instance, p.settings, origin)?,
        );
    }

    let stats = Arc::new(SourceStats::default());
    let reader = crate::source::open_events(
        events,
        recording.0,
        recording.1,
        crate::source::skip_reporter(events.display().to_string(), stats.clone()),
    )?;
    let progress = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {human_pos} events ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let started = Instant::now();
    let ticker = {
        let progress = progress.clone();
        let stats = stats.clone();
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                progress.set_position(stats.events.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        (handle, done)
    };
    let stop = AtomicBool::new(false);
    let source_result = crate::source::replay_file(reader, 0.0, &pipeline.source, &stats, &stop);
    let dispatched = pipeline.finish()?;
    ticker.1.store(true, Ordering::Relaxed);
    let _ = ticker.0.join();
    progress.finish_and_clear();
    let elapsed = started.elapsed();
    source_result?;

    if let Some(out) = out {
        let file = std::fs::File::create(out)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
        let mut writer = BufWriter::new(file);
        for part in &parts {
            let mut f = std::fs::File::open(part)?;
            std::io::copy(&mut f, &mut writer)?;
            std::fs::remove_file(part)?;
        }
        writer.flush()?;
    }

    let n = stats.events.load(Ordering::Relaxed);
    let rate = n as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "replayed {n} events from {} in {:.3} s ({rate:.0} events/s); {} malformed records skipped; {dispatched} outputs",
        events.display(),
        elapsed.as_secs_f64(),
        stats.skipped.load(Ordering::Relaxed)
    );
    let mut failed = false;
    for v in &views {
        failed |= report(v);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints one plugin's counts; true when it failed at all.
fn report(v: &PluginView) -> bool {
    let m = &v.metrics;
    let counts: Vec<String> = OutputKind::ALL
        .iter()
        .filter(|k| m.outputs(**k) > 0)
        .map(|k| format!("{} {}", m.outputs(*k), k.as_str()))
        .collect();
    let counts = if counts.is_empty() {
        "no outputs".to_owned()
    } else {
        counts.join(", ")
    };
    println!(
        "  {}: {} events in, {counts}",
        v.id,
        m.events_in.load(Ordering::Relaxed)
    );
    let errors = m.errors.load(Ordering::Relaxed);
    let Some(err) = m.last_error() else {
        return false;
    };
    let dead = m.dead_letters_total.load(Ordering::Relaxed);
    let dropped = m.events_dropped.load(Ordering::Relaxed);
    println!(
        "  {}: FAILED ({errors} failed calls, {dead} dead letters, {dropped} events not delivered, ended {}): {err}",
        v.id,
        m.state().as_str()
    );
    for d in m.dead_letters().iter().take(SHOWN_DEAD_LETTERS) {
        println!(
            "    dead letter: {} ({:?}: {})",
            prism_sources::event_json(&d.event, d.instrument.as_deref()),
            d.fault.kind,
            d.fault.message.lines().last().unwrap_or("")
        );
    }
    true
}
