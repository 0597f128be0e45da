//! Reading and writing replay files: JSON Lines and MessagePack.

use crate::lines::BoundedLines;
use crate::msgpack::value_len;
use crate::record::{Normalizer, Record};
use prism_model::Event;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

/// The two encodings of replay files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON record a line.
    Jsonl,
    /// MessagePack maps, one after the other.
    MessagePack,
}

impl Format {
    /// `.msgpack`, `.mpk` and `.mp` mean MessagePack; anything else JSON Lines.
    #[must_use]
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("msgpack" | "mpk" | "mp") => Format::MessagePack,
            _ => Format::Jsonl,
        }
    }
}

/// Called for every skipped record.
pub type SkipReporter = Box<dyn FnMut(&Skipped) + Send>;

/// A record that was skipped, and why. `line` is the 1-based line (JSON
/// Lines) or record number (MessagePack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: u64,
    pub message: String,
}

/// Errors that stop reading a file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read {path} at line {line}: {source}")]
    Read {
        path: String,
        line: u64,
        source: std::io::Error,
    },
    #[error(
        "{path}: record {record} is truncated or not MessagePack; {remaining} bytes after it cannot be read"
    )]
    Framing {
        path: String,
        record: u64,
        remaining: usize,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

enum Input {
    Lines(BoundedLines<Box<dyn BufRead + Send>>),
    Packed(Packed),
}

/// Bytes read from a MessagePack file at a time.
const PACKED_READ: usize = 1 << 20;
/// The largest MessagePack record read: past it, the file is refused as
/// not MessagePack (a record of the replay format is a few hundred bytes;
/// a book of thousands of levels a few hundred KiB).
const LONGEST_RECORD: usize = 16 << 20;

/// MessagePack records read from a stream through a window that holds the
/// record being read and what follows it up to [`PACKED_READ`]: memory is
/// bounded whatever the file's size.
struct Packed {
    reader: Box<dyn Read + Send>,
    window: Vec<u8>,
    /// Where the next record starts in `window`.
    start: usize,
    /// Bytes taken out of `window` before `start`, over the whole stream.
    consumed: u64,
    ended: bool,
}

impl Packed {
    fn new(reader: Box<dyn Read + Send>) -> Self {
        Self {
            reader,
            window: Vec::new(),
            start: 0,
            consumed: 0,
            ended: false,
        }
    }

    /// What the window holds from the next record on: a reader that finds
    /// a whole record there moves `start` past it.
    fn front(&self) -> &[u8] {
        &self.window[self.start..]
    }

    /// Bytes of the stream handed out as records.
    fn position(&self) -> u64 {
        self.consumed + self.start as u64
    }

    /// The next record's bytes; `Ok(None)` at the end. `Err(remaining)`
    /// when what is left is not one whole MessagePack value (truncated, an
    /// invalid marker, or longer than [`LONGEST_RECORD`]).
    fn next(&mut self) -> std::io::Result<Result<Option<&[u8]>, usize>> {
        loop {
            let rest = &self.window[self.start..];
            if let Some(len) = value_len(rest) {
                let at = self.start;
                self.start += len;
                return Ok(Ok(Some(&self.window[at..at + len])));
            }
            if self.ended || rest.len() > LONGEST_RECORD {
                return Ok(if rest.is_empty() && self.ended {
                    Ok(None)
                } else {
                    Err(rest.len())
                });
            }
            // Keep what is left of the window, and read more after it.
            self.consumed += self.start as u64;
            self.window.drain(..self.start);
            self.start = 0;
            // Up to PACKED_READ more (read_to_end retries interrupted reads
            // and appends without zeroing the spare capacity first).
            let n = (&mut self.reader)
                .take(PACKED_READ as u64)
                .read_to_end(&mut self.window)?;
            self.ended = n == 0;
        }
    }
}

/// Reads events from a replay file, a chunk at a time. Malformed records
/// are skipped and reported through `skipped`; they never stop the run.
pub struct EventReader {
    path: String,
    input: Input,
    record: u64,
    normalizer: Normalizer,
    /// Called for every skipped record.
    on_skip: SkipReporter,
    skipped: u64,
    done: bool,
    /// The file's size, when known: progress is bytes read of it.
    size: Option<u64>,
}

impl EventReader {
    /// Opens a file in the format its extension implies.
    ///
    /// # Errors
    /// [`FileError::Open`].
    pub fn open(path: &Path, on_skip: SkipReporter) -> Result<Self, FileError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| FileError::Open {
            path: name.clone(),
            source,
        })?;
        let size = file.metadata().ok().map(|m| m.len());
        let input = match Format::from_path(path) {
            Format::Jsonl => Input::Lines(BoundedLines::new(Box::new(BufReader::with_capacity(
                1 << 16,
                file,
            )))),
            Format::MessagePack => Input::Packed(Packed::new(Box::new(file))),
        };
        let mut reader = Self::new(name, input, on_skip);
        reader.size = size;
        Ok(reader)
    }

    /// Reads JSON Lines from any reader (`name` is used in messages).
    pub fn from_lines(
        name: &str,
        reader: impl BufRead + Send + 'static,
        on_skip: SkipReporter,
    ) -> Self {
        Self::new(
            name.to_owned(),
            Input::Lines(BoundedLines::new(Box::new(reader))),
            on_skip,
        )
    }

    /// Reads MessagePack records from bytes.
    pub fn from_msgpack(name: &str, bytes: Vec<u8>, on_skip: SkipReporter) -> Self {
        let size = bytes.len() as u64;
        let mut reader = Self::new(
            name.to_owned(),
            Input::Packed(Packed::new(Box::new(std::io::Cursor::new(bytes)))),
            on_skip,
        );
        reader.size = Some(size);
        reader
    }

    fn new(path: String, input: Input, on_skip: SkipReporter) -> Self {
        Self {
            path,
            input,
            record: 0,
            normalizer: Normalizer::default(),
            on_skip,
            skipped: 0,
            done: false,
            size: None,
        }
    }

    /// Bytes read of the file's size, when the size is known.
    #[must_use]
    pub fn progress(&self) -> Option<(u64, u64)> {
        match &self.input {
            Input::Packed(packed) => self.size.map(|size| (packed.position().min(size), size)),
            Input::Lines(lines) => self.size.map(|size| (lines.bytes_read().min(size), size)),
        }
    }

    /// Records skipped so far.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Records read so far (lines for JSON Lines, blank lines included).
    #[must_use]
    pub fn records(&self) -> u64 {
        self.record
    }

    fn skip(&mut self, message: String) {
        self.skipped += 1;
        let s = Skipped {
            line: self.record,
            message,
        };
        (self.on_skip)(&s);
    }

    /// Appends up to about `max` events to `out` (pass an empty vector);
    /// returns false once the file is exhausted and nothing was appended.
    ///
    /// # Errors
    /// I/O errors and unrecoverable MessagePack framing; malformed records
    /// are skipped, not errors.
    pub fn read_chunk(&mut self, max: usize, out: &mut Vec<Event>) -> Result<bool, FileError> {
        while !self.done && out.len() < max {
            match self.next_into(out)? {
                None => self.done = true,
                Some(Ok(())) => {}
                Some(Err(message)) => self.skip(message),
            }
        }
        Ok(!self.done || !out.is_empty())
    }

    /// Reads the next record and appends its events: `None` at the end,
    /// `Some(Err(why))` for a record skipped.
    fn next_into(&mut self, out: &mut Vec<Event>) -> Result<Option<Result<(), String>>, FileError> {
        let normalizer = &mut self.normalizer;
        match &mut self.input {
            Input::Lines(lines) => loop {
                let at = lines.number() + 1;
                let next = lines.next_line().map_err(|source| FileError::Read {
                    path: self.path.clone(),
                    line: at,
                    source,
                })?;
                let Some(line) = next else {
                    return Ok(None);
                };
                self.record = line.number;
                let text = match line.text {
                    Ok(text) => text.trim(),
                    Err(why) => return Ok(Some(Err(why))),
                };
                if text.is_empty() {
                    continue;
                }
                return Ok(Some(
                    normalizer.push_json(text, out).map_err(|e| e.to_string()),
                ));
            },
            Input::Packed(packed) => {
                if let Some((len, result)) = normalizer.push_msgpack_front(packed.front(), out) {
                    packed.start += len;
                    self.record += 1;
                    return Ok(Some(result.map_err(|e| e.to_string())));
                }
                let next = packed.next().map_err(|source| FileError::Read {
                    path: self.path.clone(),
                    line: self.record + 1,
                    source,
                })?;
                match next {
                    Ok(None) => Ok(None),
                    Ok(Some(slice)) => {
                        self.record += 1;
                        Ok(Some(
                            normalizer
                                .push_msgpack(slice, out)
                                .map_err(|e| e.to_string()),
                        ))
                    }
                    Err(window) => {
                        // What is left of the file, when its size is known.
                        let left = self
                            .size
                            .map_or(window as u64, |size| size.saturating_sub(packed.position()));
                        Err(FileError::Framing {
                            path: self.path.clone(),
                            record: self.record + 1,
                            remaining: usize::try_from(left).unwrap_or(usize::MAX),
                        })
                    }
                }
            }
        }
    }
}

/// Writes records as JSON Lines or MessagePack.
pub struct RecordWriter<W: Write> {
    out: W,
    format: Format,
}

impl<W: Write> RecordWriter<W> {
    /// A writer of `format` over `out`.
    pub fn new(out: W, format: Format) -> Self {
        Self { out, format }
    }

    /// Writes one record.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&mut self, record: &Record) -> std::io::Result<()> {
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.out, record)?;
                self.out.write_all(b"\n")
            }
            Format::MessagePack => {
                rmp_serde::encode::write_named(&mut self.out, record).map_err(std::io::Error::other)
            }
        }
    }

    /// Flushes and returns the inner writer.
    ///
    /// # Errors
    /// I/O errors.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::Event;
    use std::sync::{Arc, Mutex};

    const GOOD: &str = r#"{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":1700000000000,"price":"37000.1","size":"0.25","side":"buy"}
{"type":"liquidation","exchange":"binance","symbol":"BTCUSDT","ts":1700000000500,"price":"36950","size":"1.2","position":"long"}
{"type":"funding","exchange":"hyperliquid","symbol":"BTC","ts":1700000001000,"rate":"0.0000125","interval_h":1,"mark_price":"37010"}
{"type":"open_interest","exchange":"okx","symbol":"BTC-USDT-SWAP","ts":1700000002000,"open_interest":"1234.5"}
{"type":"book","exchange":"binance","symbol":"BTCUSDT","ts":1700000003000,"snapshot":true,"bids":[["36999.9","2.1"]],"asks":[["37000.0","0.4"]]}
{"type":"position","exchange":"hyperliquid","symbol":"BTC","ts":1700000004000,"account":"0xabc","size":"-12.5","entry_price":"37100","liquidation_price":"39800","leverage":"10"}
"#;

    fn read_all(reader: &mut EventReader) -> Vec<Event> {
        let mut all = Vec::new();
        let mut chunk = Vec::new();
        while reader.read_chunk(3, &mut chunk).unwrap() {
            all.append(&mut chunk);
        }
        all
    }

    fn collecting() -> (Arc<Mutex<Vec<Skipped>>>, SkipReporter) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        (
            seen,
            Box::new(move |s: &Skipped| sink.lock().unwrap().push(s.clone())),
        )
    }

    #[test]
    fn reads_every_design_example_exactly() {
        let (skips, on_skip) = collecting();
        let mut r = EventReader::from_lines("t", std::io::Cursor::new(GOOD), on_skip);
        let events = read_all(&mut r);
        assert!(skips.lock().unwrap().is_empty());
        // 6 events plus 4 instrument declarations (BTCUSDT, BTC, BTC-USDT-SWAP on 3 venues).
        let declarations = events
            .iter()
            .filter(|e| matches!(e, Event::Instrument(_)))
            .count();
        assert_eq!(declarations, 3);
        assert_eq!(events.len(), 9);
        let Event::Trade(t) = &events[1] else {
            panic!()
        };
        assert_eq!(t.price.to_string(), "37000.1");
        assert_eq!(t.size.to_string(), "0.25");
        let Event::Position(p) = events.last().unwrap() else {
            panic!()
        };
        assert_eq!(p.size.to_string(), "-12.5");
        assert_eq!(p.liquidation_price.unwrap().to_string(), "39800");
        let Event::Book(b) = &events[7] else {
            panic!("{:?}", events[7])
        };
        assert_eq!(b.asks[0].price.to_string(), "37000.0");
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number_and_skipped() {
        let text = format!(
            "{}\nnot json\n\n{}\n{}\n{}\n",
            GOOD.lines().next().unwrap(),
            r#"{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":1,"price":"abc","size":"1","side":"buy"}"#,
            r#"{"type":"trades","exchange":"binance"}"#,
            r#"{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":2,"price":"1","size":"-1","side":"buy"}"#,
        );
        let (skips, on_skip) = collecting();
        let mut r = EventReader::from_lines("t", std::io::Cursor::new(text), on_skip);
        let events = read_all(&mut r);
        assert_eq!(events.len(), 2, "the one good trade and its declaration");
        let skips = skips.lock().unwrap();
        let lines: Vec<u64> = skips.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 4, 5, 6]);
        assert!(skips[1].message.contains("price"), "{}", skips[1].message);
        assert!(skips[2].message.contains("trades"), "{}", skips[2].message);
        assert!(skips[3].message.contains("size"), "{}", skips[3].message);
    }

    #[test]
    fn a_line_of_invalid_utf8_is_skipped_and_the_lines_around_it_are_read() {
        let trade = GOOD.lines().next().unwrap();
        let mut bytes = Vec::new();
        for _ in 0..1000 {
            bytes.extend_from_slice(trade.as_bytes());
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(b"{\"type\":\"trade\",\"symbol\":\"\xff\xfe\"}\n");
        bytes.extend_from_slice(trade.as_bytes());
        bytes.push(b'\n');
        let (skips, on_skip) = collecting();
        let mut r = EventReader::from_lines("t", std::io::Cursor::new(bytes), on_skip);
        let events = read_all(&mut r);
        let trades = events
            .iter()
            .filter(|e| matches!(e, Event::Trade(_)))
            .count();
        assert_eq!(trades, 1001);
        let skips = skips.lock().unwrap();
        assert_eq!(skips.len(), 1);
        assert_eq!(skips[0].line, 1001);
        assert!(skips[0].message.contains("UTF-8"), "{}", skips[0].message);
    }

    #[test]
    fn absurd_times_are_refused_with_their_field() {
        let text = format!(
            "{}\n{}\n{}\n",
            r#"{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":-9223372036854775808,"price":"1","size":"1","side":"buy"}"#,
            r#"{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":9223372036854775807,"price":"1","size":"1","side":"buy"}"#,
            r#"{"type":"funding","exchange":"okx","symbol":"BTC-USDT-SWAP","ts":1700000000000,"rate":"0.0001","interval_h":8,"next_funding_ts":4102444800000}"#,
        );
        let (skips, on_skip) = collecting();
        let mut r = EventReader::from_lines("t", std::io::Cursor::new(text), on_skip);
        assert!(read_all(&mut r).is_empty());
        let skips = skips.lock().unwrap();
        assert_eq!(skips.len(), 3);
        assert!(skips[0].message.contains("`ts`"), "{}", skips[0].message);
        assert!(
            skips[2].message.contains("next_funding_ts"),
            "{}",
            skips[2].message
        );
    }

    #[test]
    fn numbers_and_extra_fields_are_accepted() {
        let text = r#"{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":1,"price":37000.1,"size":2,"side":"sell","trade_id":991}
{"type":"instrument","exchange":"okx","symbol":"BTC-USDT-SWAP","kind":"perpetual","contract_size":"0.01"}
"#;
        let (skips, on_skip) = collecting();
        let mut r = EventReader::from_lines("t", std::io::Cursor::new(text), on_skip);
        let events = read_all(&mut r);
        assert!(
            skips.lock().unwrap().is_empty(),
            "{:?}",
            skips.lock().unwrap()
        );
        let Event::Trade(t) = &events[1] else {
            panic!()
        };
        assert_eq!(t.price.to_string(), "37000.1");
        assert_eq!(t.size.to_string(), "2");
        let Event::Instrument(i) = &events[2] else {
            panic!()
        };
        assert_eq!(i.contract_size.to_string(), "0.01");
        assert_eq!(i.kind, prism_model::MarketKind::Perpetual);
    }

    #[test]
    fn messagepack_round_trips_and_skips_bad_records() {
        let records: Vec<Record> = GOOD
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut w = RecordWriter::new(Vec::new(), Format::MessagePack);
        w.write(&records[0]).unwrap();
        let mut bytes = w.finish().unwrap();
        // A well-framed record that is not a valid event.
        bytes.extend(
            rmp_serde::to_vec_named(&serde_json::json!({"type": "trade", "price": "x"})).unwrap(),
        );
        let mut w = RecordWriter::new(bytes, Format::MessagePack);
        for r in &records[1..] {
            w.write(r).unwrap();
        }
        let bytes = w.finish().unwrap();
        let (skips, on_skip) = collecting();
        let mut r = EventReader::from_msgpack("t", bytes, on_skip);
        let events = read_all(&mut r);
        assert_eq!(events.len(), 9);
        assert_eq!(skips.lock().unwrap()[0].line, 2);
    }

    /// Hands out at most 7 bytes a read: records cross every read.
    struct Trickle(std::io::Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7);
            self.0.read(&mut buf[..n])
        }
    }

    fn packed(bytes: Vec<u8>) -> EventReader {
        let size = bytes.len() as u64;
        let mut r = EventReader::new(
            "t".into(),
            Input::Packed(Packed::new(Box::new(Trickle(std::io::Cursor::new(bytes))))),
            Box::new(|_: &Skipped| {}),
        );
        r.size = Some(size);
        r
    }

    #[test]
    fn messagepack_is_read_through_a_window_whatever_the_file_size() {
        let trade: Record = serde_json::from_str(GOOD.lines().next().unwrap()).unwrap();
        let mut w = RecordWriter::new(Vec::new(), Format::MessagePack);
        // Past two windows of PACKED_READ bytes.
        let one = rmp_serde::to_vec_named(&trade).unwrap().len();
        let n = 2 * PACKED_READ / one + 1000;
        for _ in 0..n {
            w.write(&trade).unwrap();
        }
        let bytes = w.finish().unwrap();
        let total = bytes.len() as u64;
        let mut r = packed(bytes);
        let mut events = 0;
        let mut chunk = Vec::new();
        let mut largest_window = 0;
        while r.read_chunk(64, &mut chunk).unwrap() {
            events += chunk.iter().filter(|e| e.is_market()).count();
            chunk.clear();
            if let Input::Packed(p) = &r.input {
                largest_window = largest_window.max(p.window.capacity());
            }
        }
        assert_eq!(events, n);
        assert_eq!(r.progress(), Some((total, total)));
        // Bounded by the window, not by the file.
        assert!(largest_window <= 2 * PACKED_READ + one, "{largest_window}");
    }

    #[test]
    fn a_truncated_or_endless_messagepack_record_is_refused_with_its_number() {
        let trade: Record = serde_json::from_str(GOOD.lines().next().unwrap()).unwrap();
        let mut w = RecordWriter::new(Vec::new(), Format::MessagePack);
        w.write(&trade).unwrap();
        w.write(&trade).unwrap();
        let mut bytes = w.finish().unwrap();
        bytes.truncate(bytes.len() - 3);
        let mut r = packed(bytes);
        let mut chunk = Vec::new();
        let e = loop {
            match r.read_chunk(64, &mut chunk) {
                Ok(true) => continue,
                Ok(false) => panic!("the truncated record was not noticed"),
                Err(e) => break e,
            }
        };
        assert!(matches!(e, FileError::Framing { record: 2, .. }), "{e}");
        // A string that claims 4 GiB: refused once past the longest record,
        // without reading the rest.
        let mut endless = vec![0xdb, 0xff, 0xff, 0xff, 0xff];
        endless.resize(LONGEST_RECORD + 2 * PACKED_READ, b'x');
        let mut r = packed(endless);
        let e = r.read_chunk(64, &mut Vec::new()).unwrap_err();
        assert!(matches!(e, FileError::Framing { record: 1, .. }), "{e}");
    }
}
