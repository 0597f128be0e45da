//! The in-memory stores the API reads.

use crate::{Sink, SinkError};
use prism_model::{Archived, ExecutionReport, OutputBatch};
use prism_outputs::{ExecutionStore, MarketStore, OutputStore};
use std::sync::Arc;

/// Keeps every batch in the bounded [`OutputStore`], and the paper
/// accounts' reports in the bounded [`ExecutionStore`] when given one: one
/// lane of the sink stage for both, so a host without trading plugins pays
/// nothing for them.
pub struct MemorySink {
    outputs: Arc<OutputStore>,
    execution: Option<Arc<ExecutionStore>>,
    market: Option<Arc<MarketStore>>,
}

impl MemorySink {
    /// A sink into `outputs`.
    #[must_use]
    pub fn new(outputs: Arc<OutputStore>) -> Self {
        Self {
            outputs,
            execution: None,
            market: None,
        }
    }

    /// Also keeps the candles and tickers the router taps in `store`.
    #[must_use]
    pub fn with_market(mut self, store: Arc<MarketStore>) -> Self {
        self.market = Some(store);
        self
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

    fn archive(&mut self, events: &Archived) -> Result<(), SinkError> {
        if let Some(store) = &self.market {
            store.insert(events.events.iter().map(|(_, i, e)| (i, e)));
        }
        Ok(())
    }

    fn execution(&mut self, report: &ExecutionReport) -> Result<(), SinkError> {
        if let Some(store) = &self.execution {
            store.insert(report);
        }
        Ok(())
    }
}
