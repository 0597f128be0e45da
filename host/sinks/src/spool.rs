//! The spool: a bounded, durable queue of records on local disk between a
//! sink and the service it writes to (a database, a message bus).
//! Everything the sink takes is appended here first; the sink's writer
//! reads it in order and releases what the service has. So a slow or absent
//! service never holds the pipeline back until the spool is full — and then
//! the pipeline waits, it never drops.
//!
//! Files: `NNNNNNNNNNNNNNNNNNNN.seg` segments of frames `[length u32 LE]
//! [crc32 u32 LE][MessagePack record]`, and `committed`, the cursor up to
//! which the database has everything. A frame cut short or damaged (a
//! crash while writing) ends its segment: it is dropped, with a warning.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Bytes per segment before the next one starts.
const SEGMENT_BYTES: u64 = 16 << 20;
/// Largest frame (a record of one batch, or an uploaded component).
const MAX_FRAME: u32 = 256 << 20;

/// Where a frame starts: segment number and byte offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub segment: u64,
    pub offset: u64,
}

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("spool: a record cannot be encoded: {0}")]
    Encode(String),
}

fn io(path: &Path, source: std::io::Error) -> SpoolError {
    SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

struct Segment {
    number: u64,
    /// Bytes of whole frames in it.
    len: u64,
}

struct Inner {
    segments: VecDeque<Segment>,
    /// The last segment, open for appending.
    writer: BufWriter<File>,
    /// Bytes appended but not yet flushed to the file.
    unflushed: u64,
    committed: Cursor,
}

/// The spool of one sink, of records `R` (MessagePack in frames).
pub struct Spool<R> {
    dir: PathBuf,
    max_bytes: u64,
    /// Names the service in messages (`PostgreSQL`, `NATS`).
    service: &'static str,
    inner: Mutex<Inner>,
    /// Signalled when frames are appended or space is released.
    changed: Condvar,
    /// Bytes held (appended, not yet released).
    pub bytes: AtomicU64,
    /// The spool is full and the sink waits.
    pub full: AtomicBool,
    record: PhantomData<fn() -> R>,
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.seg"))
}

/// Reads whole frames of one segment from `offset`; returns each frame's
/// start and bytes, and where valid data ends.
/// Frames read: each one's offset and bytes.
type Frames = Vec<(u64, Vec<u8>)>;

fn frames(path: &Path, offset: u64, max: usize) -> Result<(Frames, u64), SpoolError> {
    let mut file = File::open(path).map_err(|e| io(path, e))?;
    let len = file.metadata().map_err(|e| io(path, e))?.len();
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| io(path, e))?;
    let mut reader = std::io::BufReader::new(file);
    let mut out = Vec::new();
    let mut at = offset;
    while out.len() < max && at + 8 <= len {
        let mut head = [0u8; 8];
        reader.read_exact(&mut head).map_err(|e| io(path, e))?;
        let size = u32::from_le_bytes(head[..4].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(head[4..].try_into().unwrap_or_default());
        if size > MAX_FRAME || at + 8 + u64::from(size) > len {
            break;
        }
        let mut body = vec![0u8; size as usize];
        reader.read_exact(&mut body).map_err(|e| io(path, e))?;
        if crc32fast::hash(&body) != crc {
            break;
        }
        out.push((at, body));
        at += 8 + u64::from(size);
    }
    Ok((out, at))
}

impl<R: Serialize + DeserializeOwned> Spool<R> {
    /// Opens the spool in `dir` (creating it), keeping at most `max_bytes`,
    /// for the sink of `service`. A damaged tail (a crash while writing) is
    /// cut off.
    ///
    /// # Errors
    /// When the directory or a segment cannot be used.
    pub fn open(dir: &Path, max_bytes: u64, service: &'static str) -> Result<Self, SpoolError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let mut numbers: Vec<u64> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        let committed = std::fs::read_to_string(dir.join("committed"))
            .ok()
            .and_then(|t| {
                let (s, o) = t.trim().split_once(':')?;
                Some(Cursor {
                    segment: s.parse().ok()?,
                    offset: o.parse().ok()?,
                })
            })
            .unwrap_or_default();
        let mut segments = VecDeque::new();
        let mut total = 0;
        for n in numbers {
            if n < committed.segment {
                let _ = std::fs::remove_file(segment_path(dir, n));
                continue;
            }
            let path = segment_path(dir, n);
            let len = std::fs::metadata(&path).map_err(|e| io(&path, e))?.len();
            // Check every frame: a torn tail is cut off.
            let mut at = 0;
            loop {
                let (read, end) = frames(&path, at, 4096)?;
                if read.is_empty() {
                    break;
                }
                at = end;
            }
            if at < len {
                tracing::warn!(
                    spool = %path.display(),
                    "the spool's last {} bytes are cut short or damaged (a crash while writing); dropped",
                    len - at
                );
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(at))
                    .map_err(|e| io(&path, e))?;
            }
            total += at;
            segments.push_back(Segment { number: n, len: at });
        }
        if segments.is_empty() {
            segments.push_back(Segment {
                number: committed.segment,
                len: 0,
            });
        }
        let last = segments.back().map_or(0, |s| s.number);
        let path = segment_path(dir, last);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        let held = total.saturating_sub(if committed.segment == segments[0].number {
            committed.offset
        } else {
            0
        });
        Ok(Self {
            dir: dir.to_path_buf(),
            max_bytes,
            service,
            inner: Mutex::new(Inner {
                segments,
                writer: BufWriter::with_capacity(1 << 20, file),
                unflushed: 0,
                committed,
            }),
            changed: Condvar::new(),
            bytes: AtomicU64::new(held),
            full: AtomicBool::new(false),
            record: PhantomData,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where the service's copy ends (everything before it was released).
    pub fn committed(&self) -> Cursor {
        self.lock().committed
    }

    /// Appends a record, waiting while the spool is full (backpressure)
    /// unless `stop` is set.
    ///
    /// # Errors
    /// A record that cannot be encoded, or the disk refusing the write.
    pub fn append(&self, record: &R, stop: &AtomicBool) -> Result<(), SpoolError> {
        let body = rmp_serde::to_vec(record).map_err(|e| SpoolError::Encode(e.to_string()))?;
        let size = u32::try_from(body.len())
            .ok()
            .filter(|s| *s <= MAX_FRAME)
            .ok_or_else(|| SpoolError::Encode(format!("a record of {} bytes", body.len())))?;
        let frame_len = 8 + u64::from(size);
        let mut inner = self.lock();
        // Wait for room; a frame larger than the whole spool waits for an
        // empty one.
        while self.bytes.load(Ordering::Relaxed) > 0
            && self.bytes.load(Ordering::Relaxed) + frame_len > self.max_bytes
            && !stop.load(Ordering::Relaxed)
        {
            if !self.full.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    spool = %self.dir.display(),
                    max_bytes = self.max_bytes,
                    "the {} spool is full: the pipeline is held back until {} takes what is spooled",
                    self.service,
                    self.service
                );
            }
            inner.writer.flush().map_err(|e| io(&self.dir, e))?;
            inner.unflushed = 0;
            self.changed.notify_all();
            inner = self
                .changed
                .wait_timeout(inner, Duration::from_millis(200))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        self.full.store(false, Ordering::Relaxed);
        let rotate = inner
            .segments
            .back()
            .is_some_and(|s| s.len >= SEGMENT_BYTES);
        if rotate {
            inner.writer.flush().map_err(|e| io(&self.dir, e))?;
            let _ = inner.writer.get_ref().sync_data();
            let number = inner.segments.back().map_or(0, |s| s.number) + 1;
            let path = segment_path(&self.dir, number);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io(&path, e))?;
            inner.writer = BufWriter::with_capacity(1 << 20, file);
            inner.segments.push_back(Segment { number, len: 0 });
        }
        let crc = crc32fast::hash(&body);
        let w = &mut inner.writer;
        w.write_all(&size.to_le_bytes())
            .and_then(|()| w.write_all(&crc.to_le_bytes()))
            .and_then(|()| w.write_all(&body))
            .map_err(|e| io(&self.dir, e))?;
        inner.unflushed += frame_len;
        if let Some(s) = inner.segments.back_mut() {
            s.len += frame_len;
        }
        self.bytes.fetch_add(frame_len, Ordering::Relaxed);
        Ok(())
    }

    /// Makes what was appended visible to the reader (and hands it to the
    /// OS), and wakes the reader.
    ///
    /// # Errors
    /// The disk refusing the write.
    pub fn flush(&self) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        if inner.unflushed > 0 {
            inner.writer.flush().map_err(|e| io(&self.dir, e))?;
            inner.unflushed = 0;
        }
        drop(inner);
        self.changed.notify_all();
        Ok(())
    }

    /// Up to `max` records from `from` on (waiting up to `wait` when there
    /// are none), each with where it starts and where the next one does.
    ///
    /// # Errors
    /// A segment that cannot be read, or a record that cannot be decoded.
    pub fn read(
        &self,
        from: Cursor,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<(Cursor, Cursor, R)>, SpoolError> {
        let mut inner = self.lock();
        let mut out = Vec::new();
        for attempt in 0..2 {
            let targets: Vec<(u64, u64)> = inner
                .segments
                .iter()
                .filter(|s| s.number >= from.segment)
                .map(|s| (s.number, s.len))
                .collect();
            let unflushed_in_last = inner.unflushed;
            let last = inner.segments.back().map_or(0, |s| s.number);
            for (number, len) in targets {
                let offset = if number == from.segment {
                    from.offset
                } else {
                    0
                };
                // What is still in the writer's buffer is not in the file yet.
                let readable = if number == last {
                    len.saturating_sub(unflushed_in_last)
                } else {
                    len
                };
                if offset >= readable {
                    continue;
                }
                let path = segment_path(&self.dir, number);
                let (read, _) = frames(&path, offset, max - out.len())?;
                for (at, body) in read {
                    let end = at + 8 + body.len() as u64;
                    if end > readable {
                        break;
                    }
                    let record: R = rmp_serde::from_slice(&body)
                        .map_err(|e| SpoolError::Encode(format!("{}@{at}: {e}", path.display())))?;
                    let start = Cursor {
                        segment: number,
                        offset: at,
                    };
                    let next = Cursor {
                        segment: number,
                        offset: end,
                    };
                    out.push((start, next, record));
                }
                if out.len() >= max {
                    break;
                }
            }
            if !out.is_empty() || attempt == 1 || wait.is_zero() {
                break;
            }
            inner = self
                .changed
                .wait_timeout(inner, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        // A record that ends a segment is followed by the next segment's start.
        if let Some(last) = out.last_mut()
            && let Some(seg) = inner.segments.iter().find(|s| s.number == last.1.segment)
            && last.1.offset >= seg.len
            && inner.segments.back().is_some_and(|b| b.number > seg.number)
        {
            last.1 = Cursor {
                segment: seg.number + 1,
                offset: 0,
            };
        }
        Ok(out)
    }

    /// Everything before `upto` is in the service: its space is given back
    /// and the cursor kept for a restart.
    ///
    /// # Errors
    /// When the cursor cannot be written.
    pub fn release(&self, upto: Cursor) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        if upto <= inner.committed {
            return Ok(());
        }
        let mut freed = 0u64;
        while inner.segments.len() > 1
            && inner
                .segments
                .front()
                .is_some_and(|s| s.number < upto.segment)
        {
            if let Some(s) = inner.segments.pop_front() {
                let start = if s.number == inner.committed.segment {
                    inner.committed.offset
                } else {
                    0
                };
                freed += s.len.saturating_sub(start);
                let _ = std::fs::remove_file(segment_path(&self.dir, s.number));
            }
        }
        let start = if upto.segment == inner.committed.segment {
            inner.committed.offset
        } else {
            0
        };
        freed += upto.offset.saturating_sub(start);
        inner.committed = upto;
        let tmp = self.dir.join("committed.tmp");
        std::fs::write(&tmp, format!("{}:{}", upto.segment, upto.offset))
            .and_then(|()| std::fs::rename(&tmp, self.dir.join("committed")))
            .map_err(|e| io(&self.dir, e))?;
        let held = self.bytes.load(Ordering::Relaxed);
        self.bytes
            .store(held.saturating_sub(freed), Ordering::Relaxed);
        drop(inner);
        self.changed.notify_all();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(n: usize) -> String {
        format!("removed plugin-{n}")
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("prism-spool-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_restarts() {
        let d = dir("order");
        let stop = AtomicBool::new(false);
        {
            let spool = Spool::<String>::open(&d, 1 << 30, "test").unwrap();
            for n in 0..1000 {
                spool.append(&removed(n), &stop).unwrap();
            }
            spool.flush().unwrap();
            let got = spool.read(Cursor::default(), 400, Duration::ZERO).unwrap();
            assert_eq!(got.len(), 400);
            assert_eq!(got[399].2, removed(399));
            // The database took the first 400.
            spool.release(got[399].1).unwrap();
        }
        let spool = Spool::<String>::open(&d, 1 << 30, "test").unwrap();
        let from = spool.committed();
        let rest = spool.read(from, 10_000, Duration::ZERO).unwrap();
        assert_eq!(rest.len(), 600);
        assert_eq!(rest[0].2, removed(400));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_tail_is_cut_off() {
        let d = dir("torn");
        let stop = AtomicBool::new(false);
        {
            let spool = Spool::<String>::open(&d, 1 << 30, "test").unwrap();
            for n in 0..3 {
                spool.append(&removed(n), &stop).unwrap();
            }
            spool.flush().unwrap();
        }
        let seg = segment_path(&d, 0);
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 9]);
        std::fs::write(&seg, bytes).unwrap();
        let spool = Spool::<String>::open(&d, 1 << 30, "test").unwrap();
        let got = spool.read(Cursor::default(), 100, Duration::ZERO).unwrap();
        assert_eq!(got.len(), 3);
        spool.append(&removed(3), &stop).unwrap();
        spool.flush().unwrap();
        let got = spool.read(Cursor::default(), 100, Duration::ZERO).unwrap();
        assert_eq!(got.len(), 4);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_full_spool_holds_the_writer_back_until_space_is_released() {
        let d = dir("full");
        let spool = std::sync::Arc::new(Spool::<String>::open(&d, 200, "test").unwrap());
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        for n in 0..4 {
            spool.append(&removed(n), &stop).unwrap();
        }
        let appender = {
            let (spool, stop) = (spool.clone(), stop.clone());
            std::thread::spawn(move || {
                for n in 4..20 {
                    spool.append(&removed(n), &stop).unwrap();
                }
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(spool.full.load(Ordering::Relaxed), "the appender waits");
        let mut cursor = Cursor::default();
        let mut seen = 0;
        while seen < 20 {
            spool.flush().unwrap();
            let got = spool.read(cursor, 3, Duration::from_millis(50)).unwrap();
            for (_, next, r) in &got {
                assert_eq!(*r, removed(seen));
                seen += 1;
                cursor = *next;
            }
            spool.release(cursor).unwrap();
        }
        appender.join().unwrap();
        assert_eq!(spool.bytes.load(Ordering::Relaxed), 0);
        let _ = std::fs::remove_dir_all(&d);
    }
}
