//! The in-memory stores the API reads.

use crate::{Sink, SinkError};
use prism_model::{ExecutionReport, OutputBatch};
use prism_outputs::{ExecutionStore, OutputStore};
use std::sync::Arc;

/// Keeps every batch in the bounded [`OutputStore`], and the paper
/// accounts' reports in the bounded [`ExecutionStore`] when given one: one
/// lane of the sink stage for both, so a host without trading plugins pays
/// nothing for them.
pub struct MemorySink {
    outputs: Arc<OutputStore>,
    execution: Option<Arc<ExecutionStore>>,
}

impl MemorySink {
    /// A sink into `outputs`.
    #[must_use]
    pub fn new(outputs: Arc<OutputStore>) -> Self {
        Self {
            outputs,
            execution: None,
        }
    }

    /// Also keeps the paper accounts' reports in `store`.
    #[must_use]
    pub fn with_execution(mut self, store: Arc<ExecutionStore>) -> Self {
        self.execution = Some(store);
        self
    }
}

impl Sink for MemorySink {
    fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError> {
        self.outputs
            .insert_at(&batch.plugin, batch.position, batch.outputs.clone());
        Ok(())
    }

    fn execution(&mut self, report: &ExecutionReport) -> Result<(), SinkError> {
        if let Some(store) = &self.execution {
            store.insert(report);
        }
        Ok(())
    }
}
