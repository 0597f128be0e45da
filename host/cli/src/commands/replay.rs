//! `prism replay`: a file through plugins, as fast as possible.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use prism_config::Config;
use prism_control::{
    Origin, Pipeline, PluginSettings, PluginView, instance_settings, plugin_settings,
};
use prism_model::{OutputKind, PluginId};
use prism_runtime::{PluginInstance, PluginModule, PluginVersion};
use prism_sinks::{JsonLines, Overflow, SinkSpec};
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

pub(super) struct Prepared {
    id: PluginId,
    path: PathBuf,
    version: PluginVersion,
    instance: PluginInstance,
    settings: PluginSettings,
}

/// One plugin to replay: its id, its file and the settings it runs under.
pub(super) struct Entry {
    id: PluginId,
    path: PathBuf,
    settings: PluginSettings,
}

/// Whether two paths name one file (compared canonically).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Components compiled once per file, however many entries run them.
pub(super) struct Modules<'a> {
    engine: &'a prism_runtime::PluginEngine,
    compiled: HashMap<PathBuf, PluginModule>,
}

impl<'a> Modules<'a> {
    pub(super) fn new(engine: &'a prism_runtime::PluginEngine) -> Self {
        Self {
            engine,
            compiled: HashMap::new(),
        }
    }

    fn get(&mut self, path: &Path) -> anyhow::Result<PluginModule> {
        if let Some(m) = self.compiled.get(path) {
            return Ok(m.clone());
        }
        let wasm = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let module = PluginModule::from_bytes(self.engine, &wasm)
            .map_err(|e| anyhow::anyhow!("plugin {}: {e}", path.display()))?;
        self.compiled.insert(path.to_path_buf(), module.clone());
        Ok(module)
    }
}

/// What to replay: with no `--plugin`, every plugin of the config; else each
/// `--plugin` under every config entry with that file (compared
/// canonically), or, when no entry has it, under its own name with the
/// default settings (said on stderr: never another entry's settings).
fn entries(
    modules: &mut Modules<'_>,
    config: &Config,
    config_given: bool,
    plugin_paths: &[PathBuf],
) -> anyhow::Result<Vec<Entry>> {
    let from_config = |p: &prism_config::PluginConfig| Entry {
        id: p.id.clone(),
        path: config.resolve(&p.path),
        settings: plugin_settings(config, p),
    };
    if plugin_paths.is_empty() {
        anyhow::ensure!(
            config_given,
            "nothing to replay: give --plugin X.wasm, or --config FILE to run the plugins it lists"
        );
        anyhow::ensure!(
            !config.plugins.is_empty(),
            "the config lists no plugins; give --plugin X.wasm"
        );
        return Ok(config.plugins.iter().map(from_config).collect());
    }
    let mut out = Vec::new();
    for path in plugin_paths {
        let listed: Vec<Entry> = config
            .plugins
            .iter()
            .filter(|p| same_file(&config.resolve(&p.path), path))
            .map(from_config)
            .collect();
        if !listed.is_empty() {
            out.extend(listed);
            continue;
        }
        let settings = PluginSettings {
            config_json: "{}".into(),
            limits: config.plugin_defaults,
            ..PluginSettings::default()
        };
        let entry = own_entry(modules, path, settings)?;
        if config_given {
            eprintln!(
                "note: {} is not in the config; it runs as `{}` with the default settings",
                path.display(),
                entry.id
            );
        }
        out.push(entry);
    }
    Ok(out)
}

/// A plugin under its own name (started once to learn it), with `settings`.
pub(super) fn own_entry(
    modules: &mut Modules<'_>,
    path: &Path,
    settings: PluginSettings,
) -> anyhow::Result<Entry> {
    let (version, _) = PluginVersion::prepare(
        modules.get(path)?,
        "replay",
        instance_settings("replay", &settings),
    )
    .map_err(|e| anyhow::anyhow!("plugin {}: {e}", path.display()))?;
    let id = PluginId::new(&version.info.name).map_err(|e| {
        anyhow::anyhow!(
            "plugin {}: its name cannot serve as its id ({e}); list it in --config with an id",
            path.display()
        )
    })?;
    Ok(Entry {
        id,
        path: path.to_path_buf(),
        settings,
    })
}

/// Compiles (or takes from the cache) and starts one plugin under its id,
/// so its seed is the one `prism run` would give it.
pub(super) fn prepare_plugin(modules: &mut Modules<'_>, entry: Entry) -> anyhow::Result<Prepared> {
    let (version, instance) = PluginVersion::prepare(
        modules.get(&entry.path)?,
        entry.id.as_str(),
        instance_settings(entry.id.as_str(), &entry.settings),
    )
    .map_err(|e| anyhow::anyhow!("plugin `{}` ({}): {e}", entry.id, entry.path.display()))?;
    Ok(Prepared {
        id: entry.id,
        path: entry.path,
        version,
        instance,
        settings: entry.settings,
    })
}

/// Replays `events` through `plugin_paths`; writes outputs to `out`. With
/// `perf_map`, the engine writes `perf`'s map of the plugins' code whatever
/// the config says.
pub(crate) fn replay(
    events: &Path,
    recording: (Option<&str>, Option<&str>),
    plugin_paths: &[PathBuf],
    (config, perf_map): (Option<&Path>, bool),
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let config_given = config.is_some();
    let mut config = match config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if perf_map {
        config.runtime.profiler = prism_config::Profiler::PerfMap;
    }
    let engine = crate::settings::engine_outside_config(&config, config_given)?;
    let mut plugins: Vec<Prepared> = Vec::new();
    let mut modules = Modules::new(&engine);
    for entry in entries(&mut modules, &config, config_given, plugin_paths)? {
        anyhow::ensure!(
            plugins.iter().all(|q| q.id != entry.id),
            "two plugins have the id `{}`: list them in --config, each with its own id, and run `prism replay --config FILE` (with no --plugin, every plugin of the file runs)",
            entry.id
        );
        plugins.push(prepare_plugin(&mut modules, entry)?);
    }
    drop(modules);
    let ran = run_events(&config, engine, plugins, events, recording, out)?;
    let rate = ran.events as f64 / ran.elapsed.as_secs_f64().max(1e-9);
    crate::out!(
        "replayed {} events from {} in {:.3} s ({rate:.0} events/s); {} malformed records skipped; {} outputs",
        ran.events,
        events.display(),
        ran.elapsed.as_secs_f64(),
        ran.skipped,
        ran.dispatched
    );
    let mut failed = false;
    for v in &ran.views {
        failed |= report(v);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What a run of an event file through plugins came to.
pub(super) struct Ran {
    pub(super) views: Vec<PluginView>,
    /// Events read, and malformed records skipped.
    pub(super) events: u64,
    pub(super) skipped: u64,
    /// Outputs the plugins made.
    pub(super) dispatched: u64,
    pub(super) elapsed: Duration,
}

/// Runs `events` through `plugins` to the end; every output as a JSON line
/// into `out` (each plugin's in its order, plugin after plugin).
/// Deterministic: batches are cut by size alone.
pub(super) fn run_events(
    config: &Config,
    engine: prism_runtime::PluginEngine,
    plugins: Vec<Prepared>,
    events: &Path,
    recording: (Option<&str>, Option<&str>),
    out: Option<&Path>,
) -> anyhow::Result<Ran> {
    // One temporary file per plugin: each plugin's outputs keep their order
    // whatever the threads do, and the result is the same on every run.
    let mut parts = Vec::new();
    let mut sinks = Vec::new();
    if let Some(out) = out {
        let mut writers: HashMap<Arc<str>, Box<dyn Write + Send>> = HashMap::new();
        for p in &plugins {
            let part = out.with_extension(format!("part-{}", p.id));
            let file = std::fs::File::create(&part)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", part.display()))?;
            writers.insert(Arc::from(p.id.as_str()), Box::new(BufWriter::new(file)));
            parts.push(part);
        }
        let queue = config.pipeline.output_queue;
        sinks.push(SinkSpec::new(
            "out",
            JsonLines::by_plugin(writers),
            queue,
            Overflow::Wait,
        ));
    }
    let mut settings = crate::settings::pipeline(config);
    settings.router = settings.router.by_size_only();
    let pipeline = Pipeline::start(engine, settings, sinks)?;
    let mut views: Vec<PluginView> = Vec::new();
    for p in plugins {
        let origin = Origin::File {
            path: p.path,
            from_config: false,
        };
        views.push(pipeline.supervisor.add_prepared(
            &p.id,
            p.version,
            p.instance,
            p.settings,
            origin,
            prism_control::Resume::default(),
        )?);
    }

    let stats = Arc::new(SourceStats::default());
    let mut reader = crate::source::open_events(
        events,
        recording.0,
        recording.1,
        crate::source::skip_reporter(events.display().to_string(), stats.clone()),
    )?;
    // Drawn only on a terminal; with the input's size known, a bar with the
    // percentage read and the time left, else a spinner with the count.
    let progress = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let sized = ProgressStyle::with_template(
        "{spinner} {elapsed} [{bar:30}] {percent}% · ETA {eta} · {msg}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let started = Instant::now();
    let ticker = {
        let progress = progress.clone();
        let stats = stats.clone();
        // Dropping `done` ends the ticker at once (a sleep would hold the
        // end of a short replay for up to a tick).
        let (done, ended) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let mut sized = Some(sized);
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                ended.recv_timeout(Duration::from_millis(100))
            {
                let events = stats.events.load(Ordering::Relaxed);
                let rate = events as f64 / started.elapsed().as_secs_f64().max(1e-3);
                progress.set_message(format!("{events} events ({rate:.0}/s)"));
                let total = stats.bytes_total.load(Ordering::Relaxed);
                if total > 0 {
                    if let Some(style) = sized.take() {
                        progress.set_length(total);
                        progress.set_style(style);
                    }
                    progress.set_position(stats.bytes_read.load(Ordering::Relaxed));
                } else {
                    progress.tick();
                }
            }
        });
        (handle, done)
    };
    let stop = AtomicBool::new(false);
    let positions =
        prism_sources::Positions::default().with_candles(&config.market.candles_from_trades);
    let source_result = prism_sources::replay(
        &mut *reader,
        0.0,
        positions,
        &pipeline.source,
        &stats,
        &stop,
    );
    let dispatched = pipeline.finish()?;
    drop(ticker.1);
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

    Ok(Ran {
        views,
        events: stats.events.load(Ordering::Relaxed),
        skipped: stats.skipped.load(Ordering::Relaxed),
        dispatched,
        elapsed,
    })
}

/// Prints one plugin's counts; true when it failed at all.
pub(super) fn report(v: &PluginView) -> bool {
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
    crate::out!(
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
    crate::out!(
        "  {}: FAILED ({errors} failed calls, {dead} dead letters, {dropped} events not delivered, ended {}): {err}",
        v.id,
        m.state().as_str()
    );
    for d in m.dead_letters().iter().take(SHOWN_DEAD_LETTERS) {
        crate::out!(
            "    dead letter: {} ({:?}: {})",
            prism_sources::event_json(&d.event, d.instrument.as_deref()),
            d.fault.kind,
            d.fault.message.lines().last().unwrap_or("")
        );
    }
    true
}
