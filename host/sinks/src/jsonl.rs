//! Outputs as JSON Lines (the `--out` format of `prism replay`).

use crate::{Sink, SinkError};
use prism_model::OutputBatch;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

/// One output line a line, each plugin into its own writer, so each
/// plugin's lines keep their order whatever the threads do. Outputs of a
/// plugin without a writer are not written.
pub struct JsonLines {
    writers: HashMap<Arc<str>, Box<dyn Write + Send>>,
}

impl JsonLines {
    /// Writes the outputs of each plugin id into its writer.
    #[must_use]
    pub fn by_plugin(writers: HashMap<Arc<str>, Box<dyn Write + Send>>) -> Self {
        Self { writers }
    }
}

fn io(plugin: &str, source: std::io::Error) -> SinkError {
    SinkError::Io {
        sink: format!("jsonl ({plugin})"),
        source,
    }
}

impl Sink for JsonLines {
    fn write(&mut self, batch: &OutputBatch) -> Result<(), SinkError> {
        let Some(out) = self.writers.get_mut(&batch.plugin) else {
            return Ok(());
        };
        for o in &batch.outputs {
            serde_json::to_writer(&mut *out, &o.to_line(&batch.plugin))
                .map_err(|e| io(&batch.plugin, e.into()))?;
            out.write_all(b"\n").map_err(|e| io(&batch.plugin, e))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        for (plugin, out) in &mut self.writers {
            out.flush().map_err(|e| io(plugin, e))?;
        }
        Ok(())
    }
}
