//! The sink: turns deliveries into records on the sink stage's thread and
//! appends them to the spool; the writer thread takes them from there.

use crate::rows::{self, Record};
use crate::spool::Spool;
use crate::writer::{self, WriterParts};
use prism_model::{Archived, Checkpoint, OutputBatch, RegistryChange, Rejected};
use prism_sinks::{Sink, SinkError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

const NAME: &str = "postgres";

/// The database sink of the sink stage. Never waits on the database; waits
/// only when the spool is full (and then says so).
pub struct PostgresSink {
    spool: Arc<Spool>,
    /// Tells the writer the last record is in.
    stop: Arc<AtomicBool>,
    /// Lets a full spool take more at shutdown, rather than hang.
    overflow: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
    /// The input event kinds kept (other sinks may tap more).
    archive: Vec<prism_model::EventKind>,
}

impl PostgresSink {
    pub(crate) fn start(
        spool: Arc<Spool>,
        parts: WriterParts,
        stop: Arc<AtomicBool>,
        overflow: Arc<AtomicBool>,
        archive: Vec<prism_model::EventKind>,
    ) -> std::io::Result<Self> {
        let writer = std::thread::Builder::new()
            .name("postgres-writer".into())
            .spawn(move || writer::run(parts))?;
        Ok(Self {
            spool,
            stop,
            overflow,
            writer: Some(writer),
            archive,
        })
    }

    fn put(&self, record: &Record) -> Result<(), SinkError> {
        self.spool
            .append(record, &self.overflow)
            .map_err(|e| SinkError::Other {
                sink: NAME.into(),
                message: e.to_string(),
            })
    }
}

impl Sink for PostgresSink {
    fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError> {
        if batch.outputs.is_empty() {
            return Ok(());
        }
        self.put(&Record::Outputs(rows::outputs(batch)))
    }

    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), SinkError> {
        self.put(&Record::Checkpoint(rows::checkpoint(checkpoint)))
    }

    fn execution(&mut self, report: &prism_model::ExecutionReport) -> Result<(), SinkError> {
        match rows::execution(report) {
            Some(rows) => self.put(&Record::Execution(rows)),
            None => Ok(()),
        }
    }

    fn rejected(&mut self, rejected: &Rejected) -> Result<(), SinkError> {
        self.put(&Record::DeadLetter(rows::dead_letter(rejected)))
    }

    fn registry(&mut self, change: &RegistryChange) -> Result<(), SinkError> {
        self.put(&rows::registry(change))
    }

    fn archive(&mut self, events: &Archived) -> Result<(), SinkError> {
        let kept = |e: &prism_model::Event| e.kind().is_some_and(|k| self.archive.contains(&k));
        let rows = if events.events.iter().all(|(_, _, e)| kept(e)) {
            rows::archive(events)
        } else {
            rows::archive(&Archived {
                events: events
                    .events
                    .iter()
                    .filter(|(_, _, e)| kept(e))
                    .cloned()
                    .collect(),
            })
        };
        if rows.len() == 0 {
            return Ok(());
        }
        self.put(&Record::Archive(rows))
    }

    fn idle(&mut self) -> Result<(), SinkError> {
        self.spool.flush().map_err(|e| SinkError::Other {
            sink: NAME.into(),
            message: e.to_string(),
        })
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let flushed = self.idle();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("the PostgreSQL writer panicked");
        }
        flushed
    }
}

impl Drop for PostgresSink {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = self.finish();
        }
    }
}
