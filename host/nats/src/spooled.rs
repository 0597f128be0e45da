//! Publishing through a disk spool: the sink's thread appends each message
//! to the spool and goes on; a thread of its own reads the spool in order,
//! publishes (in order, many in flight, retried), and releases what the
//! stream acknowledged. A NATS outage then fills the spool, not the sink
//! stage's queue: the pipeline goes on until the spool is full (bounded;
//! then it waits, it never drops). What a stop leaves in the spool is
//! published first at the next start, before anything new.

use crate::publisher::{Message, Publisher};
use prism_sinks::spool::{Cursor, Spool};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A message as the spool keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct Frame {
    subject: String,
    id: String,
    content_type: String,
    headers: Vec<(String, String)>,
    #[serde(with = "serde_bytes")]
    payload: Vec<u8>,
}

impl Frame {
    fn of(m: &Message) -> Self {
        Self {
            subject: m.subject.clone(),
            id: m.id.clone(),
            content_type: m.content_type.to_owned(),
            headers: m
                .headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            payload: m.payload.to_vec(),
        }
    }

    fn message(self) -> Message {
        // Only the names Prism writes come back; another is dropped.
        let known = |name: &str| {
            crate::outputs::HEADERS
                .iter()
                .copied()
                .find(|h| h.eq_ignore_ascii_case(name))
        };
        Message {
            subject: self.subject,
            id: self.id,
            content_type: if self.content_type == "application/msgpack" {
                "application/msgpack"
            } else {
                "application/json"
            },
            headers: self
                .headers
                .into_iter()
                .filter_map(|(k, v)| known(&k).map(|k| (k, v)))
                .collect(),
            payload: bytes::Bytes::from(self.payload),
        }
    }
}

/// Shared by the sink's thread and the draining thread.
#[derive(Default)]
struct Progress {
    /// Messages the stream has (or given up at shutdown), in order.
    settled: AtomicU64,
    /// The highest stream sequence acknowledged so far.
    stored_up_to: AtomicU64,
    /// The sink is finishing: drain, then end.
    finish: AtomicBool,
}

/// A publisher whose messages wait in a disk spool.
pub(crate) struct SpooledPublisher {
    spool: Arc<Spool<Frame>>,
    progress: Arc<Progress>,
    /// Messages appended (this run's, after what the last run left).
    appended: u64,
    /// Never appended past this: the host is stopping and the spool is full.
    stopping: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    health: Arc<crate::NatsHealth>,
}

impl SpooledPublisher {
    /// Opens the spool in `dir` (at most `max_bytes`) and starts publishing
    /// what it holds through `publisher`; returns once what the last run
    /// left is in the stream (so the stream is whole before this run reads
    /// what it has).
    pub(crate) fn open(
        dir: &std::path::Path,
        max_bytes: u64,
        publisher: Publisher,
        health: Arc<crate::NatsHealth>,
        stopping: Arc<AtomicBool>,
    ) -> Result<Self, prism_sinks::spool::SpoolError> {
        let spool = Arc::new(Spool::open(dir, max_bytes, "NATS")?);
        let left = count(&spool)?;
        let progress = Arc::new(Progress::default());
        progress
            .stored_up_to
            .store(publisher.stored_up_to(), Ordering::Relaxed);
        let thread = {
            let (spool, progress, health) = (spool.clone(), progress.clone(), health.clone());
            std::thread::Builder::new()
                .name("nats-outputs-spool".into())
                .spawn(move || drain(&spool, publisher, &progress, &health))
                .map_err(|e| prism_sinks::spool::SpoolError::Io {
                    path: dir.display().to_string(),
                    source: e,
                })?
        };
        let mut this = Self {
            spool,
            progress,
            appended: left,
            stopping,
            thread: Some(thread),
            health,
        };
        if left > 0 {
            tracing::info!(
                messages = left,
                "publishing the outputs the last run left in the spool first"
            );
            while this.progress.settled.load(Ordering::Relaxed) < left {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        this.gauge();
        Ok(this)
    }

    fn gauge(&mut self) {
        self.health
            .spooled_bytes
            .store(self.spool.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
        self.health
            .spool_full
            .store(self.spool.full.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Appends `message` after every earlier one; waits only while the
    /// spool is full.
    pub(crate) fn push(&mut self, message: &Message) -> Result<(), prism_sinks::SinkError> {
        self.spool
            .append(&Frame::of(message), &self.stopping)
            .map_err(|e| prism_sinks::SinkError::Other {
                sink: "nats outputs".into(),
                message: e.to_string(),
            })?;
        self.appended += 1;
        Ok(())
    }

    pub(crate) fn pushed(&self) -> u64 {
        self.appended
    }

    pub(crate) fn settled(&self) -> u64 {
        self.progress.settled.load(Ordering::Relaxed)
    }

    pub(crate) fn stored_up_to(&self) -> u64 {
        self.progress.stored_up_to.load(Ordering::Relaxed)
    }

    /// Hands what was appended to the draining thread.
    pub(crate) fn flush(&mut self) {
        if let Err(e) = self.spool.flush() {
            self.health.failed(format!("the outputs' spool: {e}"));
        }
        self.gauge();
    }

    /// At shutdown: waits up to [`crate::publisher::DRAIN`] for the stream
    /// to have everything; what it still lacks stays in the spool for the
    /// next start (nothing is lost, so the stop is clean).
    pub(crate) fn finish(&mut self) -> Result<(), prism_sinks::SinkError> {
        self.flush();
        let until = Instant::now() + crate::publisher::DRAIN;
        while self.settled() < self.appended && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.progress.finish.store(true, Ordering::Relaxed);
        // A thread still retrying a publish (NATS away, its window full) is
        // left to the process's end: what it has not settled stays spooled.
        if let Some(t) = self.thread.take() {
            let until = Instant::now() + Duration::from_secs(1);
            while !t.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
        self.gauge();
        let lacking = self.appended.saturating_sub(self.settled());
        if lacking > 0 {
            // Kept, not lost: a clean stop.
            tracing::warn!(
                outputs = lacking,
                "NATS did not take every output before the stop; they stay in the spool and are published first at the next start"
            );
        }
        Ok(())
    }
}

/// Messages the spool holds.
fn count(spool: &Spool<Frame>) -> Result<u64, prism_sinks::spool::SpoolError> {
    let mut cursor = spool.committed();
    let mut n = 0;
    loop {
        let read = spool.read(cursor, 4096, Duration::ZERO)?;
        let Some(last) = read.last() else {
            return Ok(n);
        };
        cursor = last.1;
        n += read.len() as u64;
    }
}

/// The draining thread: spool → stream, in order.
fn drain(
    spool: &Spool<Frame>,
    mut publisher: Publisher,
    progress: &Progress,
    health: &crate::NatsHealth,
) {
    let mut cursor = spool.committed();
    // Where each pushed message's frame ends, oldest first.
    let mut waiting: VecDeque<Cursor> = VecDeque::new();
    let mut settled = 0u64;
    loop {
        let finishing = progress.finish.load(Ordering::Relaxed);
        let read = match spool.read(cursor, 1024, Duration::from_millis(100)) {
            Ok(r) => r,
            Err(e) => {
                health.failed(format!("reading the outputs' spool: {e}"));
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        if read.is_empty() {
            // Nothing new: let the stream catch up with what is in flight.
            publisher.flush(Some(Instant::now() + Duration::from_millis(100)));
            if finishing && waiting.is_empty() {
                return;
            }
            if finishing {
                // The sink gave up waiting; what is unacknowledged stays.
                return;
            }
        }
        for (_, next, frame) in read {
            publisher.push(frame.message());
            waiting.push_back(next);
            cursor = next;
        }
        let now = publisher.settled();
        let mut released = None;
        while settled < now {
            released = waiting.pop_front();
            settled += 1;
        }
        if let Some(upto) = released
            && let Err(e) = spool.release(upto)
        {
            health.failed(format!("releasing the outputs' spool: {e}"));
        }
        progress
            .stored_up_to
            .store(publisher.stored_up_to(), Ordering::Relaxed);
        progress.settled.store(settled, Ordering::Relaxed);
    }
}
