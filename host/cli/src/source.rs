//! Runs a configured source on its own thread, feeding the pipeline.

use crossbeam_channel::Sender;
use prism_config::{
    FeedChannel, LiveConfig, SimulatorConfig, SourceConfig, VenueConfig, parse_duration,
};
use prism_model::Event;
use prism_sources::{
    EventReader, Normalizer, Pacer, Record, Simulator, SimulatorSettings, Skipped, SourceStats,
};
use prism_venues::capture::{Format as CaptureFormat, Line as CaptureLine, Recorded, parse_line};
use prism_venues::live::{Channels, FeedMetrics, FeedOutputs, FeedSettings, spawn_feed};
use prism_venues::{Contract, Contracts, FeedNormalizer, Outcome, Venue};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

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

/// A running source: its thread, and the live feeds' counters if any.
pub(crate) struct Source {
    pub(crate) thread: JoinHandle<SourceResult>,
    pub(crate) feeds: Vec<(String, Arc<FeedMetrics>)>,
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
) -> anyhow::Result<Source> {
    // How the source ends is recorded at once, so `/health` shows a source
    // that stopped (and why) while the rest keeps serving.
    let ending = stats.clone();
    let thread = move |f: Box<dyn FnOnce() -> SourceResult + Send>| {
        std::thread::Builder::new()
            .name("prism-source".into())
            .spawn(move || {
                let result = f();
                match &result {
                    Ok(()) => {
                        tracing::info!("the source reached its end");
                        ending.ended(None);
                    }
                    Err(e) => {
                        tracing::error!("the source stopped: {e:#}");
                        ending.ended(Some(format!("{e:#}")));
                    }
                }
                result
            })
    };
    match config {
        SourceConfig::Simulator(sim) => {
            let sim = sim.clone();
            Ok(Source {
                thread: thread(Box::new(move || simulate(&sim, &tx, &stats, &stop)))?,
                feeds: Vec::new(),
            })
        }
        SourceConfig::Live(live) => {
            let feeds = start_feeds(
                live,
                base,
                &stop,
                FeedUse::Pipeline(tx.clone()),
                stats.clone(),
            )?;
            let metrics = feeds.metrics.clone();
            Ok(Source {
                thread: thread(Box::new(move || feeds.join()))?,
                feeds: metrics,
            })
        }
        SourceConfig::Replay(replay) => {
            // An absolute path replaces `base` in the join.
            let path: PathBuf = base.join(&replay.path);
            let reader = open_events(
                &path,
                replay.venue.as_deref(),
                replay.format.as_deref(),
                skip_reporter(path.display().to_string(), stats.clone()),
            )?;
            let pace = replay.pace;
            Ok(Source {
                thread: thread(Box::new(move || {
                    replay_file(reader, pace, &tx, &stats, &stop)
                }))?,
                feeds: Vec::new(),
            })
        }
    }
}

/// A file read in chunks of events.
pub(crate) trait ChunkReader: Send {
    /// Appends up to `max` events; false once the file is done.
    ///
    /// # Errors
    /// Unrecoverable read errors (bad records are skipped and reported).
    fn read_chunk(&mut self, max: usize, out: &mut Vec<Event>) -> anyhow::Result<bool>;
}

impl ChunkReader for EventReader {
    fn read_chunk(&mut self, max: usize, out: &mut Vec<Event>) -> anyhow::Result<bool> {
        Ok(EventReader::read_chunk(self, max, out)?)
    }
}

/// A venue's recording, normalized as it is read: each line through the
/// capture reader, the venue's normalizer and the record normalizer.
pub(crate) struct CaptureReader {
    lines: prism_sources::BoundedLines<std::io::BufReader<std::fs::File>>,
    format: CaptureFormat,
    venue: FeedNormalizer,
    records: Normalizer,
    scratch: Vec<Record>,
    on_skip: prism_sources::SkipReporter,
    path: String,
}

impl ChunkReader for CaptureReader {
    fn read_chunk(&mut self, max: usize, out: &mut Vec<Event>) -> anyhow::Result<bool> {
        let start = out.len();
        while out.len() - start < max {
            let at = self.lines.number() + 1;
            let next = self
                .lines
                .next_line()
                .map_err(|e| anyhow::anyhow!("{}:{at}: cannot read: {e}", self.path))?;
            let Some(line) = next else {
                return Ok(out.len() > start);
            };
            let number = line.number;
            let line = match line.text {
                Ok(text) => text,
                Err(why) => {
                    (self.on_skip)(&Skipped {
                        line: number,
                        message: why,
                    });
                    continue;
                }
            };
            let frame = match parse_line(self.format, line) {
                CaptureLine::Frame(f) => f,
                CaptureLine::Skip(_) => continue,
                CaptureLine::Bad(why) => {
                    (self.on_skip)(&Skipped {
                        line: number,
                        message: why,
                    });
                    continue;
                }
            };
            self.scratch.clear();
            if let Outcome::Rejected(why) =
                self.venue
                    .push(&frame.message, frame.received_ms, &mut self.scratch)
            {
                (self.on_skip)(&Skipped {
                    line: number,
                    message: why,
                });
            }
            for r in &self.scratch {
                if let Err(e) = self.records.push(r, out) {
                    (self.on_skip)(&Skipped {
                        line: number,
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(true)
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
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    Ok(Box::new(CaptureReader {
        lines: prism_sources::BoundedLines::new(std::io::BufReader::new(file)),
        format,
        venue: FeedNormalizer::new(venue, Contracts::default()),
        records: Normalizer::default(),
        scratch: Vec::new(),
        on_skip,
        path: path.display().to_string(),
    }))
}

/// Reads a replay file into the pipeline.
///
/// # Errors
/// Unrecoverable read errors; the pipeline has what came before.
pub(crate) fn replay_file(
    mut reader: Box<dyn ChunkReader>,
    pace: f64,
    tx: &Sender<Vec<Event>>,
    stats: &SourceStats,
    stop: &AtomicBool,
) -> SourceResult {
    let mut pacer = Pacer::new(pace);
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        let read = reader.read_chunk(CHUNK, &mut chunk);
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        // What was read before an error still goes into the pipeline.
        if !chunk.is_empty() {
            if let Some(ts) = last_ts(&chunk) {
                pacer.wait_for(ts);
            }
            stats.emitted(count(&chunk), last_ts(&chunk));
            if tx.send(chunk).is_err() {
                return Ok(());
            }
        }
        if !read? {
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

/// The live feeds of a config, and the threads that carry their output on.
pub(crate) struct Feeds {
    threads: Vec<JoinHandle<()>>,
    /// Each feed's counters, by venue.
    pub(crate) metrics: Vec<(String, Arc<FeedMetrics>)>,
}

impl Feeds {
    /// Waits for every feed (they end when `stop` is set).
    pub(crate) fn join(self) -> SourceResult {
        for t in self.threads {
            t.join()
                .map_err(|_| anyhow::anyhow!("a feed thread panicked"))?;
        }
        Ok(())
    }
}

/// Where feed output goes.
pub(crate) enum FeedUse {
    /// Normalized into the pipeline.
    Pipeline(Sender<Vec<Event>>),
    /// Raw frames only, into this file (`prism record`); records are counted.
    Record(PathBuf),
}

/// The runtime settings of one configured venue.
pub(crate) fn feed_settings(v: &VenueConfig) -> anyhow::Result<FeedSettings> {
    let venue: Venue = v.venue.parse()?;
    let mut s = FeedSettings::new(venue, v.symbols.clone());
    if let Some(channels) = &v.channels {
        let on = |c: FeedChannel| channels.contains(&c);
        s.channels = Channels {
            trades: on(FeedChannel::Trades),
            liquidations: on(FeedChannel::Liquidations),
            funding: on(FeedChannel::Funding),
            open_interest: on(FeedChannel::OpenInterest),
            book: on(FeedChannel::Book),
        };
    }
    if let Some(url) = &v.url {
        s.url.clone_from(url);
    }
    if let Some(url) = &v.rest_url {
        s.rest_url = url.trim_end_matches('/').to_owned();
    }
    if let Some(h) = v.heartbeat_s {
        s.heartbeat = Duration::from_secs(h);
    }
    s.idle_timeout = Duration::from_secs(v.idle_timeout_s);
    s.backoff = Duration::from_millis(v.backoff_ms);
    s.max_backoff = Duration::from_millis(v.max_backoff_ms);
    s.open_interest_poll = Duration::from_secs(v.open_interest_poll_s);
    s.accounts.clone_from(&v.accounts);
    for (symbol, value) in &v.contracts {
        let (number, inverse) = match value.strip_suffix("/inverse") {
            Some(n) => (n, true),
            None => (value.as_str(), false),
        };
        let value = prism_model::decimal::parse(number)
            .map_err(|e| anyhow::anyhow!("contracts.{symbol}: {e}"))?;
        s.contracts
            .set(venue.name(), symbol, Contract { value, inverse });
    }
    Ok(s)
}

/// Starts a feed per configured venue, and the threads that normalize
/// their records into events (one instrument registry for all venues) and
/// write raw frames when recording.
pub(crate) fn start_feeds(
    live: &LiveConfig,
    base: &Path,
    stop: &Arc<AtomicBool>,
    use_: FeedUse,
    stats: Arc<SourceStats>,
) -> anyhow::Result<Feeds> {
    let (records_tx, records_rx) = crossbeam_channel::bounded::<Vec<Record>>(1024);
    let record_path = match &use_ {
        FeedUse::Record(path) => Some(path.clone()),
        FeedUse::Pipeline(_) => live.record.as_ref().map(|p| base.join(p)),
    };
    let mut threads = Vec::new();
    let mut frames = None;
    if let Some(path) = record_path {
        let (tx, rx) = crossbeam_channel::bounded::<Recorded>(65_536);
        threads.push(spawn_recorder(&path, rx)?);
        frames = Some(tx);
    }
    let mut metrics = Vec::new();
    for v in &live.venues {
        let settings = feed_settings(v)?;
        let m = Arc::new(FeedMetrics::default());
        metrics.push((v.venue.clone(), m.clone()));
        let outputs = FeedOutputs {
            records: records_tx.clone(),
            frames: frames.clone(),
        };
        threads.push(spawn_feed(settings, outputs, m, stop.clone())?);
    }
    drop(records_tx);
    if let FeedUse::Record(_) = use_ {
        threads.push(
            std::thread::Builder::new()
                .name("prism-feeds".into())
                .spawn(move || {
                    while let Ok(batch) = records_rx.recv() {
                        stats.emitted(batch.len() as u64, None);
                    }
                })?,
        );
    } else if let FeedUse::Pipeline(tx) = use_ {
        threads.push(
            std::thread::Builder::new()
                .name("prism-feeds".into())
                .spawn(move || {
                    let mut normalizer = Normalizer::default();
                    let mut skipped = 0u64;
                    while let Ok(batch) = records_rx.recv() {
                        let mut chunk = Vec::with_capacity(batch.len() + 2);
                        for r in &batch {
                            if let Err(e) = normalizer.push(r, &mut chunk) {
                                skipped += 1;
                                if skipped <= LOGGED_SKIPS {
                                    tracing::warn!("feed record refused: {e}");
                                }
                                stats.skipped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        stats.emitted(count(&chunk), last_ts(&chunk));
                        if !chunk.is_empty() && tx.send(chunk).is_err() {
                            return;
                        }
                    }
                })?,
        );
    }
    Ok(Feeds { threads, metrics })
}

/// Writes raw frames, one `prism record` line each.
pub(crate) fn spawn_recorder(
    path: &Path,
    frames: crossbeam_channel::Receiver<Recorded>,
) -> anyhow::Result<JoinHandle<()>> {
    let file = std::fs::File::create(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    let name = path.display().to_string();
    Ok(std::thread::Builder::new()
        .name("prism-record".into())
        .spawn(move || {
            let mut out = std::io::BufWriter::new(file);
            while let Ok(frame) = frames.recv() {
                let written = serde_json::to_writer(&mut out, &frame)
                    .map_err(std::io::Error::from)
                    .and_then(|()| std::io::Write::write_all(&mut out, b"\n"));
                if let Err(e) = written {
                    tracing::error!("cannot write {name}: {e}; recording stops");
                    return;
                }
                if frames.is_empty() {
                    let _ = std::io::Write::flush(&mut out);
                }
            }
            let _ = std::io::Write::flush(&mut out);
        })?)
}
