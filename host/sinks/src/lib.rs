//! The sink stage: where plugin outputs go after the workers.
//!
//! Each sink implements the small [`Sink`] trait and runs on its own thread
//! behind its own bounded queue ([`SinkStage`]). The stage hands every
//! output batch to every sink's queue, in order; a sink that falls behind
//! fills only its own queue, and then either holds the pipeline back
//! ([`Overflow::Wait`], lossless: the sinks that keep data) or drops and
//! counts what it cannot take ([`Overflow::Drop`]: live viewers). A sink
//! that must survive an outage without holding the pipeline (a database, a
//! message bus) spools to disk ([`spool`]) inside its own thread. Adding a sink is one module that
//! implements [`Sink`].
//!
//! ```
//! use prism_model::{Output, OutputBatch, SeriesPoint};
//! use prism_sinks::{Overflow, Sink, SinkError, SinkSpec, SinkStage};
//! use std::sync::{Arc, Mutex};
//!
//! struct Count(Arc<Mutex<usize>>);
//! impl Sink for Count {
//!     fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError> {
//!         *self.0.lock().unwrap() += batch.outputs.len();
//!         Ok(())
//!     }
//! }
//!
//! let seen = Arc::new(Mutex::new(0));
//! let (tx, rx) = crossbeam_channel::bounded(8);
//! let stage = SinkStage::start(rx, vec![SinkSpec::new("count", Count(seen.clone()), 4, Overflow::Wait)]).unwrap();
//! let point = Output::Series(SeriesPoint { name: "x".into(), instrument: None, ts: 1, value: 2.0 });
//! let batch = OutputBatch { plugin: "p".into(), position: 7, previous: None, outputs: vec![point] };
//! tx.send(prism_model::Delivery::Outputs(batch)).unwrap();
//! drop(tx);
//! assert_eq!(stage.finish().unwrap(), 1);
//! assert_eq!(*seen.lock().unwrap(), 1);
//! ```

mod jsonl;
mod memory;
pub mod spool;
mod stage;

pub use jsonl::JsonLines;
pub use memory::MemorySink;
pub use stage::{Overflow, SinkMetrics, SinkSpec, SinkStage};

use prism_model::{Archived, Checkpoint, OutputBatch, RegistryChange, Rejected};

/// Why a sink could not take a batch.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing a file failed.
    #[error("sink `{sink}`: {source}")]
    Io {
        sink: String,
        source: std::io::Error,
    },
    /// Anything else, said by the sink.
    #[error("sink `{sink}`: {message}")]
    Other { sink: String, message: String },
}

/// A destination of plugin outputs. Called on the sink's own thread, one
/// batch at a time, in the order the workers produced them.
pub trait Sink: Send {
    /// Takes one batch.
    ///
    /// # Errors
    /// A [`SinkError`]: the sink is then failed; later batches are not
    /// given to it, and [`SinkStage::finish`] returns the error.
    fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError>;

    /// Takes a plugin's checkpoint: its state after every batch up to the
    /// checkpoint's position, all of whose outputs came before it. A sink
    /// that keeps data durably can commit them with it, so a restart that
    /// restores the checkpoint never makes an output it already has.
    /// Default: nothing.
    ///
    /// # Errors
    /// As [`Self::write`].
    fn checkpoint(&mut self, _checkpoint: &Checkpoint) -> Result<(), SinkError> {
        Ok(())
    }

    /// Takes a dead letter. Default: nothing.
    ///
    /// # Errors
    /// As [`Self::write`].
    fn rejected(&mut self, _rejected: &Rejected) -> Result<(), SinkError> {
        Ok(())
    }

    /// Takes a change of the plugin registry. Default: nothing.
    ///
    /// # Errors
    /// As [`Self::write`].
    fn registry(&mut self, _change: &RegistryChange) -> Result<(), SinkError> {
        Ok(())
    }

    /// Takes archived input events. Default: nothing.
    ///
    /// # Errors
    /// As [`Self::write`].
    /// Takes what a plugin's paper account did over one batch (orders,
    /// fills, funding, positions, PnL, risk). The default keeps nothing.
    ///
    /// # Errors
    /// As [`Sink::write`].
    fn execution(&mut self, _report: &prism_model::ExecutionReport) -> Result<(), SinkError> {
        Ok(())
    }

    fn archive(&mut self, _events: &Archived) -> Result<(), SinkError> {
        Ok(())
    }

    /// Called after a write when no more batches are waiting: the moment to
    /// send what was gathered from several batches (one message, one
    /// transaction) without delaying any of them.
    ///
    /// # Errors
    /// As [`Self::write`].
    fn idle(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Called once after the last batch (e.g. to flush a file).
    ///
    /// # Errors
    /// As [`Self::write`].
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A sink made of a function that never blocks (e.g. hands the batch to
/// live viewers); for callers that need no state of their own.
pub struct FnSink<F>(pub F);

impl<F: FnMut(&OutputBatch) + Send> Sink for FnSink<F> {
    fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError> {
        (self.0)(batch);
        Ok(())
    }
}
