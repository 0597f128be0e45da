//! The configured source, started on its own thread into the pipeline.

use crossbeam_channel::Sender;
use prism_config::SourceConfig;
use prism_model::Chunk;
use prism_sources::{
    ChunkReader, EventReader, Positions, Skipped, SourceError, SourceStats, spawn_source,
};
use prism_venues::Venue;
use prism_venues::capture::Format as CaptureFormat;
use prism_venues::live::{FeedMetrics, FeedUse, Feeds};
use prism_venues::recording::CaptureReader;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Skipped records logged one by one; past this only counted.
const LOGGED_SKIPS: u64 = 100;

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

/// The stream positions the plugins restored at start cover.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Resumed {
    /// The furthest: a live source numbers its events after it.
    pub(crate) furthest: Option<u64>,
    /// The earliest: a NATS consumer starts where it needs.
    pub(crate) earliest: Option<u64>,
    /// Plugins were started from checkpoints where they had one
    /// (`recovery.restore_on_start`, or PostgreSQL).
    pub(crate) from_checkpoints: bool,
    /// Some plugin started without a checkpoint.
    pub(crate) fresh: bool,
    /// Some plugin's checkpoint does not carry the instruments its state
    /// names (a file of an older format): it must meet them again in the
    /// stream.
    pub(crate) untabled: bool,
}

impl Resumed {
    /// Counts a plugin started from a checkpoint (covering no position:
    /// before any event, as if fresh).
    pub(crate) fn add(&mut self, saved: &prism_control::SavedState) {
        if saved.instruments.is_empty() {
            self.untabled = true;
        }
        match saved.position {
            Some(p) => {
                self.furthest = self.furthest.max(Some(p));
                self.earliest = Some(self.earliest.map_or(p, |e| e.min(p)));
            }
            None => self.fresh = true,
        }
    }

    /// Counts a plugin started without a checkpoint.
    pub(crate) fn add_fresh(&mut self) {
        self.fresh = true;
    }
}

/// Where a source starts, from what the restored plugins and the database
/// say.
pub(crate) struct Start {
    /// A live source's first position.
    pub(crate) live_first: u64,
    /// The instrument ids of an earlier run (live feeds).
    pub(crate) instruments: prism_model::InstrumentRegistry,
    /// The consumer of a `nats` source, placed already.
    pub(crate) nats: Option<prism_nats::NatsSource>,
}

/// A running source: its thread, and the live feeds' counters if any.
pub(crate) struct Source {
    pub(crate) thread: JoinHandle<Result<(), SourceError>>,
    pub(crate) feeds: Vec<(String, Arc<FeedMetrics>)>,
}

/// Starts the source described by `config`. A replay file and the
/// simulator number their events from 0 in every run (a restored plugin
/// skips what its checkpoint covers); live feeds, which cannot replay,
/// after the furthest restored position, with the ids of an earlier run;
/// a NATS consumer (placed already) by stream sequence: see [`Start`].
///
/// # Errors
/// When a replay file cannot be opened, a setting is invalid, or a thread
/// cannot be started.
pub(crate) fn spawn(
    config: &SourceConfig,
    candles: &[prism_model::CandleInterval],
    base: &Path,
    tx: Sender<Chunk>,
    start: Start,
    stats: Arc<SourceStats>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Source> {
    let ending = stats.clone();
    match config {
        SourceConfig::Simulator(sim) => {
            let settings = crate::settings::simulator(sim)?;
            let pace = sim.pace;
            let positions = Positions::default().with_candles(candles);
            let thread = spawn_source(ending, move || {
                prism_sources::simulate(&settings, pace, positions, &tx, &stats, &stop)
            })?;
            Ok(Source {
                thread,
                feeds: Vec::new(),
            })
        }
        SourceConfig::Live(live) => {
            let venues = live
                .venues
                .iter()
                .map(crate::settings::feed)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let use_ = FeedUse::Pipeline {
                events: tx,
                first: start.live_first,
                instruments: start.instruments,
                record: live.record.as_ref().map(|p| base.join(p)),
                candles: candles.to_vec(),
            };
            let feeds = Feeds::start(venues, use_, stats, &stop)?;
            let metrics = feeds.metrics.clone();
            Ok(Source {
                thread: spawn_source(ending, move || feeds.join())?,
                feeds: metrics,
            })
        }
        SourceConfig::Nats(_) => {
            let consumer = start
                .nats
                .ok_or_else(|| anyhow::anyhow!("a `nats` source needs [nats] url"))?;
            let thread = spawn_source(ending, move || consumer.run(&tx, &stats, &stop))?;
            Ok(Source {
                thread,
                feeds: Vec::new(),
            })
        }
        SourceConfig::Replay(replay) => {
            // An absolute path replaces `base` in the join.
            let path = base.join(&replay.path);
            let mut reader = open_events(
                &path,
                replay.venue.as_deref(),
                replay.format.as_deref(),
                skip_reporter(path.display().to_string(), stats.clone()),
            )?;
            let pace = replay.pace;
            let positions = Positions::default().with_candles(candles);
            let thread = spawn_source(ending, move || {
                prism_sources::replay(&mut *reader, pace, positions, &tx, &stats, &stop)
            })?;
            Ok(Source {
                thread,
                feeds: Vec::new(),
            })
        }
    }
}

/// Opens an event file, or a venue's recording when `venue` is given.
///
/// # Errors
/// An unknown venue or format, or a file that cannot be opened.
pub(crate) fn open_events(
    path: &Path,
    venue: Option<&str>,
    format: Option<&str>,
    on_skip: prism_sources::SkipReporter,
) -> anyhow::Result<Box<dyn ChunkReader>> {
    let Some(venue) = venue else {
        anyhow::ensure!(
            format.is_none(),
            "a recording's format needs its venue (--venue)"
        );
        return Ok(Box::new(EventReader::open(path, on_skip)?));
    };
    let venue: Venue = venue.parse()?;
    let format: CaptureFormat = format
        .unwrap_or("prism")
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let reader = CaptureReader::open(path, venue, format, on_skip)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    Ok(Box::new(reader))
}
