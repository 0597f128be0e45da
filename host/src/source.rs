//! Runs a configured source on its own thread, feeding the pipeline.

use crossbeam_channel::Sender;
use prism_config::{SimulatorConfig, SourceConfig, parse_duration};
use prism_model::Event;
use prism_sources::{
    EventReader, Normalizer, Pacer, Simulator, SimulatorSettings, Skipped, SourceStats,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Events per chunk handed to the router.
const CHUNK: usize = 1024;
/// Skipped records logged one by one; past this only counted.
const LOGGED_SKIPS: u64 = 100;

/// What the source thread ends with.
pub(crate) type SourceResult = anyhow::Result<()>;

fn count(out: &[Event]) -> u64 {
    out.iter()
        .filter(|e| !matches!(e, Event::Instrument(_)))
        .count() as u64
}

fn last_ts(out: &[Event]) -> Option<i64> {
    out.iter().rev().find_map(Event::ts)
}

/// A reporter of skipped records: logs each (up to a limit) and counts.
pub(crate) fn skip_reporter(name: String, stats: Arc<SourceStats>) -> prism_sources::SkipReporter {
    Box::new(move |s: &Skipped| {
        let n = stats.skipped.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= LOGGED_SKIPS {
            tracing::warn!("{name}:{}: skipped malformed record: {}", s.line, s.message);
        } else if n == LOGGED_SKIPS + 1 {
            tracing::warn!("{name}: more malformed records; only counting them from now on");
        }
    })
}

/// Starts the source described by `config`.
///
/// # Errors
/// When a replay file cannot be opened or a thread cannot be started.
pub(crate) fn spawn(
    config: &SourceConfig,
    base: &Path,
    tx: Sender<Vec<Event>>,
    stats: Arc<SourceStats>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<SourceResult>> {
    match config {
        SourceConfig::Simulator(sim) => {
            let sim = sim.clone();
            Ok(std::thread::Builder::new()
                .name("prism-source".into())
                .spawn(move || simulate(&sim, &tx, &stats, &stop))?)
        }
        SourceConfig::Replay(replay) => {
            let path: PathBuf = if replay.path.is_absolute() {
                replay.path.clone()
            } else {
                base.join(&replay.path)
            };
            let reader = EventReader::open(
                &path,
                skip_reporter(path.display().to_string(), stats.clone()),
            )?;
            let pace = replay.pace;
            Ok(std::thread::Builder::new()
                .name("prism-source".into())
                .spawn(move || replay_file(reader, pace, &tx, &stats, &stop))?)
        }
    }
}

/// Reads a replay file into the pipeline.
///
/// # Errors
/// Unrecoverable read errors; the pipeline has what came before.
pub(crate) fn replay_file(
    mut reader: EventReader,
    pace: f64,
    tx: &Sender<Vec<Event>>,
    stats: &SourceStats,
    stop: &AtomicBool,
) -> SourceResult {
    let mut pacer = Pacer::new(pace);
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        if !reader.read_chunk(CHUNK, &mut chunk)? || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if let Some(ts) = last_ts(&chunk) {
            pacer.wait_for(ts);
        }
        stats.emitted(count(&chunk), last_ts(&chunk));
        if tx.send(chunk).is_err() {
            return Ok(());
        }
    }
}

fn simulate(
    config: &SimulatorConfig,
    tx: &Sender<Vec<Event>>,
    stats: &SourceStats,
    stop: &AtomicBool,
) -> SourceResult {
    let duration_ms = match &config.duration {
        Some(d) => Some(i64::try_from(parse_duration(d)?.as_millis())?),
        None => None,
    };
    let mut sim = Simulator::new(&SimulatorSettings {
        seed: config.seed,
        start_ms: config.start_ms,
        duration_ms,
        accounts: config.accounts,
    });
    let mut normalizer = Normalizer::default();
    let mut pacer = Pacer::new(config.pace);
    let mut records = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        pacer.wait_for(sim.now());
        records.clear();
        // A few steps per chunk keep chunks near CHUNK events.
        let mut more = true;
        for _ in 0..4 {
            more = sim.step(&mut records);
            if !more {
                break;
            }
        }
        let mut chunk = Vec::with_capacity(records.len() + 16);
        for r in &records {
            normalizer.push(r, &mut chunk)?;
        }
        stats.emitted(count(&chunk), last_ts(&chunk));
        if !chunk.is_empty() && tx.send(chunk).is_err() {
            return Ok(());
        }
        if !more {
            break;
        }
    }
    Ok(())
}
