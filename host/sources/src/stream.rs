//! A source's events into the pipeline: the replay and simulator loops, run
//! on a source thread, in chunks, at a chosen pace, counted, and stopped by
//! a flag. How the thread ends (finished or failed, and why) is recorded in
//! its [`SourceStats`] at once, so `/health` shows it while the rest serves.

use crate::candles::CandleBuilder;
use crate::file::{EventReader, FileError};
use crate::pump::{Pacer, SourceStats};
use crate::record::{Normalizer, RecordError};
use crate::simulator::{Simulator, SimulatorSettings};
use crossbeam_channel::Sender;
use prism_model::{CandleInterval, Chunk, Event};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Events per chunk handed to the router.
pub const CHUNK: usize = 1024;

/// Why a source stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A replay file could not be read on.
    #[error(transparent)]
    File(#[from] FileError),
    /// A record the source made itself is invalid (a simulator bug).
    #[error("an invalid record: {0}")]
    Record(#[from] RecordError),
    /// Anything else, said by the source.
    #[error("{0}")]
    Other(String),
}

/// A file read in chunks of events: a replay file, or a venue's recording
/// normalized as it is read.
pub trait ChunkReader: Send {
    /// Appends up to `max` events; false once the file is done.
    ///
    /// # Errors
    /// Unrecoverable read errors (bad records are skipped and reported).
    fn read_chunk(&mut self, max: usize, out: &mut Vec<Event>) -> Result<bool, SourceError>;

    /// How far through its input it is, `(done, total)` in bytes, when it
    /// knows.
    fn progress(&self) -> Option<(u64, u64)> {
        None
    }
}

impl ChunkReader for EventReader {
    fn read_chunk(&mut self, max: usize, out: &mut Vec<Event>) -> Result<bool, SourceError> {
        Ok(EventReader::read_chunk(self, max, out)?)
    }

    fn progress(&self) -> Option<(u64, u64)> {
        EventReader::progress(self)
    }
}

fn last_ts(chunk: &[Event]) -> Option<i64> {
    chunk.iter().rev().find_map(Event::ts)
}

fn count(chunk: &[Event]) -> u64 {
    chunk.iter().filter(|e| e.is_market()).count() as u64
}

/// Numbers the events a source emits: consecutive positions in the stream,
/// with the candles built from its trades (if asked) in their places.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    next: u64,
    candles: Option<Box<CandleBuilder>>,
}

impl Positions {
    /// Positions from `first` on.
    #[must_use]
    pub fn from(first: u64) -> Self {
        Self {
            next: first,
            candles: None,
        }
    }

    /// Also builds candles of `intervals` from the trades ([`CandleBuilder`]).
    #[must_use]
    pub fn with_candles(mut self, intervals: &[CandleInterval]) -> Self {
        let builder = CandleBuilder::new(intervals);
        self.candles = (!builder.is_empty()).then(|| Box::new(builder));
        self
    }

    /// `events` (and the candles they close) at the next positions.
    pub fn chunk(&mut self, events: Vec<Event>) -> Chunk {
        let events = match &mut self.candles {
            Some(builder) => builder.apply(events),
            None => events,
        };
        let chunk = Chunk {
            first: self.next,
            events,
        };
        self.next = chunk.end();
        chunk
    }
}

/// Counts a chunk and sends it on at its positions; false when the
/// pipeline is gone.
pub fn emit(
    events: Vec<Event>,
    positions: &mut Positions,
    tx: &Sender<Chunk>,
    stats: &SourceStats,
) -> bool {
    if events.is_empty() {
        return true;
    }
    let chunk = positions.chunk(events);
    stats.emitted(count(&chunk.events), last_ts(&chunk.events));
    tx.send(chunk).is_ok()
}

/// Reads a file into the pipeline at `pace` (event-time seconds per wall
/// second; 0 = as fast as possible) until its end, `stop`, or the
/// pipeline's end. Its events are at `positions` (from 0, the same in every
/// run: a plugin resuming from a checkpoint skips what it covers).
///
/// # Errors
/// Unrecoverable read errors; the pipeline has what came before.
pub fn replay(
    reader: &mut dyn ChunkReader,
    pace: f64,
    mut positions: Positions,
    tx: &Sender<Chunk>,
    stats: &SourceStats,
    stop: &AtomicBool,
) -> Result<(), SourceError> {
    let mut pacer = Pacer::new(pace);
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        let read = reader.read_chunk(CHUNK, &mut chunk);
        if let Some((done, total)) = reader.progress() {
            stats.read_bytes(done, total);
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        // What was read before an error still goes into the pipeline.
        if let Some(ts) = last_ts(&chunk) {
            pacer.wait_for(ts, stop);
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
        }
        if !emit(chunk, &mut positions, tx, stats) || !read? {
            return Ok(());
        }
    }
}

/// Runs the simulator into the pipeline at `pace` until its duration ends,
/// `stop`, or the pipeline's end; its events are at positions from 0 (the
/// same seed makes the same stream).
///
/// # Errors
/// A record the simulator made that is not a valid event.
pub fn simulate(
    settings: &SimulatorSettings,
    pace: f64,
    mut positions: Positions,
    tx: &Sender<Chunk>,
    stats: &SourceStats,
    stop: &AtomicBool,
) -> Result<(), SourceError> {
    let mut sim = Simulator::new(settings);
    let mut normalizer = Normalizer::default();
    let mut pacer = Pacer::new(pace);
    let mut records = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        pacer.wait_for(sim.now(), stop);
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
        if !emit(chunk, &mut positions, tx, stats) || !more {
            break;
        }
    }
    Ok(())
}

/// Runs `body` on the source thread; how it ends is logged and recorded in
/// `stats` as soon as it does.
///
/// # Errors
/// When the OS refuses a thread.
pub fn spawn_source(
    stats: Arc<SourceStats>,
    body: impl FnOnce() -> Result<(), SourceError> + Send + 'static,
) -> std::io::Result<JoinHandle<Result<(), SourceError>>> {
    std::thread::Builder::new()
        .name("prism-source".into())
        .spawn(move || {
            let result = body();
            match &result {
                Ok(()) => {
                    tracing::info!("the source reached its end");
                    stats.ended(None);
                }
                Err(e) => {
                    tracing::error!("the source stopped: {e}");
                    stats.ended(Some(e.to_string()));
                }
            }
            result
        })
}
