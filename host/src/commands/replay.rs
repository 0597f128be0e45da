//! `prism replay`: a file through plugins, as fast as possible.

use crate::pipeline::Pipeline;
use crate::plugins::{PluginSpec, load_plugin};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use prism_config::Config;
use prism_model::OutputKind;
use prism_outputs::OutputSink;
use prism_sources::{EventReader, SourceStats};
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Replays `events` through `plugin_paths`; writes outputs to `out`.
pub(crate) fn replay(
    events: &Path,
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
    let mut plugins = Vec::new();
    for path in plugin_paths {
        // Settings come from a config entry with the same path, or, after
        // `init`, the same id as the plugin's name.
        let by_path = config
            .plugins
            .iter()
            .find(|p| config.resolve(&p.path) == *path);
        let probe_json =
            by_path.map_or_else(|| "{}".to_owned(), prism_config::PluginConfig::config_json);
        let spec = PluginSpec {
            id: by_path.map(|p| p.id.clone()),
            path,
            config_json: &probe_json,
            limits: by_path.map_or(config.plugin_defaults, |p| {
                p.limits(&config.plugin_defaults)
            }),
            seed: by_path.and_then(|p| p.seed),
            subscription: by_path.and_then(|p| p.subscription.as_ref()),
        };
        let mut loaded = load_plugin(&engine, &spec)?;
        if by_path.is_none()
            && let Some(entry) = config.plugins.iter().find(|p| p.id == loaded.id)
        {
            let json = entry.config_json();
            let spec = PluginSpec {
                id: Some(entry.id.clone()),
                config_json: &json,
                limits: entry.limits(&config.plugin_defaults),
                seed: entry.seed,
                subscription: entry.subscription.as_ref(),
                ..spec
            };
            loaded = load_plugin(&engine, &spec)?;
        }
        anyhow::ensure!(
            plugins
                .iter()
                .all(|p: &crate::plugins::LoadedPlugin| p.id != loaded.id),
            "two plugins have the id `{}`; give them distinct ids in --config",
            loaded.id
        );
        plugins.push(loaded);
    }
    let ids: Vec<String> = plugins.iter().map(|p| p.id.to_string()).collect();

    // One temporary file per plugin: each plugin's outputs keep their order
    // whatever the threads do, and the result is the same on every run.
    let mut parts = Vec::new();
    let sink = match out {
        Some(out) => {
            let mut sinks = HashMap::new();
            for id in &ids {
                let part = out.with_extension(format!("part-{id}"));
                let file = std::fs::File::create(&part)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", part.display()))?;
                sinks.insert(
                    Arc::from(id.as_str()),
                    OutputSink::Jsonl(Box::new(BufWriter::new(file))),
                );
                parts.push(part);
            }
            OutputSink::ByPlugin(sinks)
        }
        None => OutputSink::All(Vec::new()),
    };
    let mut settings = super::run::pipeline_settings(&config);
    // Batches by size only: boundaries then depend on the data, not on timing.
    settings.router.batch_linger = Duration::from_secs(3600);
    let pipeline = Pipeline::start(settings, plugins, sink)?;
    let views = pipeline.views.clone();

    let stats = Arc::new(SourceStats::default());
    let reader = EventReader::open(
        events,
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
        let counts: Vec<String> = OutputKind::ALL
            .iter()
            .filter(|k| v.metrics.outputs(**k) > 0)
            .map(|k| format!("{} {}", v.metrics.outputs(*k), k.as_str()))
            .collect();
        let counts = if counts.is_empty() {
            "no outputs".to_owned()
        } else {
            counts.join(", ")
        };
        println!(
            "  {}: {} events in, {counts}",
            v.id,
            v.metrics.events_in.load(Ordering::Relaxed)
        );
        if let Some(err) = v.metrics.last_error() {
            failed = true;
            println!("  {}: FAILED: {err}", v.id);
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
