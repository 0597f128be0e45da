//! Recordings of venues' feeds as sources: a capture read back through the
//! venue's normalizer as the replay source reads a file, and the writer of
//! `prism record`'s captures.

use crate::capture::{CapturedFrame, Format, Line, parse_line};
use crate::{Contracts, FeedNormalizer, Outcome, Venue};
use prism_model::Event;
use prism_sources::{
    BoundedLines, ChunkReader, Normalizer, Record, SkipReporter, Skipped, SourceError,
};
use std::io::BufReader;
use std::path::Path;
use std::thread::JoinHandle;

/// A venue's recording, normalized as it is read: each line through the
/// capture reader, the venue's normalizer and the record normalizer. A line
/// that cannot be used is reported with its number and skipped.
pub struct CaptureReader {
    lines: BoundedLines<BufReader<std::fs::File>>,
    format: Format,
    venue: FeedNormalizer,
    records: Normalizer,
    scratch: Vec<Record>,
    on_skip: SkipReporter,
    path: String,
}

impl CaptureReader {
    /// Opens `path`, a recording of `venue` in `format`.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(
        path: &Path,
        venue: Venue,
        format: Format,
        on_skip: SkipReporter,
    ) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        Ok(Self {
            lines: BoundedLines::new(BufReader::new(file)),
            format,
            venue: FeedNormalizer::new(venue, Contracts::default()),
            records: Normalizer::default(),
            scratch: Vec::new(),
            on_skip,
            path: path.display().to_string(),
        })
    }

    fn skip(&mut self, line: u64, message: String) {
        (self.on_skip)(&Skipped { line, message });
    }
}

impl ChunkReader for CaptureReader {
    fn read_chunk(&mut self, max: usize, out: &mut Vec<Event>) -> Result<bool, SourceError> {
        let start = out.len();
        while out.len() - start < max {
            let at = self.lines.number() + 1;
            let Some(line) = self
                .lines
                .next_line()
                .map_err(|e| SourceError::Other(format!("{}:{at}: cannot read: {e}", self.path)))?
            else {
                return Ok(out.len() > start);
            };
            let number = line.number;
            let text = match line.text {
                Ok(text) => text,
                Err(why) => {
                    self.skip(number, why);
                    continue;
                }
            };
            let frame = match parse_line(self.format, text) {
                Line::Frame(f) => f,
                Line::Skip(_) => continue,
                Line::Bad(why) => {
                    self.skip(number, why);
                    continue;
                }
            };
            self.scratch.clear();
            if let Outcome::Rejected(why) =
                self.venue
                    .push(&frame.message, frame.received_ms, &mut self.scratch)
            {
                self.skip(number, why);
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

/// Writes raw frames, one `prism record` line each, on its own thread; it
/// ends when every sender of `frames` is gone.
///
/// # Errors
/// When the file cannot be created or the thread started.
pub fn spawn_capture_writer(
    path: &Path,
    frames: crossbeam_channel::Receiver<CapturedFrame>,
) -> std::io::Result<JoinHandle<()>> {
    let file = std::fs::File::create(path).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
    })?;
    let name = path.display().to_string();
    std::thread::Builder::new()
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
        })
}
