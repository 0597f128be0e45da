//! The in-memory stores the API reads.

use crate::{Sink, SinkError};
use prism_model::OutputBatch;
use prism_outputs::OutputStore;
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
