//! Every configured venue's feed as one source: their records normalized
//! into events (one instrument registry for all venues), or only their raw
//! frames written (`prism record`).

use super::{FeedMetrics, FeedOutputs, FeedSettings, spawn_feed};
use crate::recording::spawn_capture_writer;
use crossbeam_channel::Sender;
use prism_model::{Chunk, InstrumentRegistry};
use prism_sources::{Normalizer, Positions, Record, SourceError, SourceStats};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Refused records logged one by one; past this only counted.
const LOGGED_REFUSALS: u64 = 100;

/// Where the feeds' output goes.
pub enum FeedUse {
    /// Normalized into the pipeline (and, with `record`, every raw frame
    /// written there too).
    Pipeline {
        events: Sender<Chunk>,
        /// The position of the first event: live events cannot be replayed,
        /// so a restart continues after the last position a checkpoint covers.
        first: u64,
        /// The instruments' ids: preloaded with an earlier run's, so a
        /// restored plugin state names the same instruments.
        instruments: InstrumentRegistry,
        record: Option<PathBuf>,
        /// Candle intervals to build from trades.
        candles: Vec<prism_model::CandleInterval>,
    },
    /// Raw frames only, into this file (`prism record`); records are counted.
    Record(PathBuf),
}

/// The running feeds, and the threads that carry their output on.
pub struct Feeds {
    threads: Vec<JoinHandle<()>>,
    /// Each feed's counters, by venue.
    pub metrics: Vec<(String, Arc<FeedMetrics>)>,
}

impl Feeds {
    /// Starts a feed per venue, the thread that normalizes their records,
    /// and the recorder when frames are written. They run until `stop`.
    ///
    /// # Errors
    /// When the recording cannot be created or a thread started.
    pub fn start(
        venues: Vec<FeedSettings>,
        use_: FeedUse,
        stats: Arc<SourceStats>,
        stop: &Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let (records_tx, records_rx) = crossbeam_channel::bounded::<Vec<Record>>(1024);
        let (events, record) = match use_ {
            FeedUse::Pipeline {
                events,
                first,
                instruments,
                record,
                candles,
            } => (Some((events, first, instruments, candles)), record),
            FeedUse::Record(path) => (None, Some(path)),
        };
        let mut threads = Vec::new();
        let mut frames = None;
        if let Some(path) = record {
            let (tx, rx) = crossbeam_channel::bounded(65_536);
            threads.push(spawn_capture_writer(&path, rx)?);
            frames = Some(tx);
        }
        let mut metrics = Vec::new();
        for settings in venues {
            let m = Arc::new(FeedMetrics::default());
            metrics.push((settings.venue.name().to_owned(), m.clone()));
            let outputs = FeedOutputs {
                records: records_tx.clone(),
                frames: frames.clone(),
            };
            threads.push(spawn_feed(settings, outputs, m, stop.clone())?);
        }
        drop(records_tx);
        let carry = std::thread::Builder::new().name("prism-feeds".into());
        threads.push(match events {
            None => carry.spawn(move || {
                while let Ok(batch) = records_rx.recv() {
                    stats.emitted(batch.len() as u64, None);
                }
            })?,
            Some((tx, first, instruments, candles)) => carry.spawn(move || {
                let normalizer = Normalizer::with_registry(instruments);
                let positions = Positions::from(first).with_candles(&candles);
                normalize(&records_rx, &tx, normalizer, positions, &stats);
            })?,
        });
        Ok(Self { threads, metrics })
    }

    /// Waits for every feed (they end when `stop` is set).
    ///
    /// # Errors
    /// A feed thread that panicked.
    pub fn join(self) -> Result<(), SourceError> {
        for t in self.threads {
            t.join()
                .map_err(|_| SourceError::Other("a feed thread panicked".into()))?;
        }
        Ok(())
    }
}

fn normalize(
    records: &crossbeam_channel::Receiver<Vec<Record>>,
    tx: &Sender<Chunk>,
    mut normalizer: Normalizer,
    mut positions: Positions,
    stats: &SourceStats,
) {
    let mut refused = 0u64;
    let mut push = |batch: &[Record], chunk: &mut Vec<prism_model::Event>| {
        for r in batch {
            if let Err(e) = normalizer.push(r, chunk) {
                refused += 1;
                if refused <= LOGGED_REFUSALS {
                    tracing::warn!("feed record refused: {e}");
                }
                stats.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    while let Ok(batch) = records.recv() {
        let mut chunk = Vec::with_capacity(batch.len() + 2);
        push(&batch, &mut chunk);
        // What is already queued goes in the same chunk: nothing waits for
        // it, and the router is woken once, not once per frame (at 100,000
        // frames a second the wake-ups took most of the machine).
        while chunk.len() < prism_sources::CHUNK
            && let Ok(more) = records.try_recv()
        {
            push(&more, &mut chunk);
        }
        if !prism_sources::emit(chunk, &mut positions, tx, stats) {
            return;
        }
    }
}
