//! The in-memory stores the API reads.

use crate::{Sink, SinkError};
use prism_model::OutputBatch;
use prism_outputs::{ExecutionStore, OutputStore};
use std::sync::Arc;

/// Keeps every batch in the bounded [`OutputStore`].
pub struct MemorySink(pub Arc<OutputStore>);

impl Sink for MemorySink {
    fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError> {
        self.0
            .insert_at(&batch.plugin, batch.position, batch.outputs.clone());
        Ok(())
    }
}

/// Keeps the paper accounts' reports in the bounded [`ExecutionStore`].
pub struct ExecutionSink(pub Arc<ExecutionStore>);

impl Sink for ExecutionSink {
    fn write(&mut self, _batch: &OutputBatch) -> Result<(), SinkError> {
        Ok(())
    }

    fn execution(&mut self, report: &prism_model::ExecutionReport) -> Result<(), SinkError> {
        self.0.insert(report);
        Ok(())
    }
}
