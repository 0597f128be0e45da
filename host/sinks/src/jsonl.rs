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
    /// One line, written whole: serializing into the boxed writer made
    /// a dynamic call for every token of every line.
    line: Vec<u8>,
}

impl JsonLines {
    /// Writes the outputs of each plugin id into its writer.
    #[must_use]
    pub fn by_plugin(writers: HashMap<Arc<str>, Box<dyn Write + Send>>) -> Self {
        Self {
            writers,
            line: Vec::new(),
        }
    }
}

/// The line buffer's capacity kept between batches, in bytes.
const LINE_KEPT: usize = 1 << 20;

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
            self.line.clear();
            serde_json::to_writer(&mut self.line, &o.line(&batch.plugin))
                .map_err(|e| io(&batch.plugin, e.into()))?;
            self.line.push(b'\n');
            out.write_all(&self.line)
                .map_err(|e| io(&batch.plugin, e))?;
        }
        // A large document's line is not kept for the next batch.
        if self.line.capacity() > LINE_KEPT {
            self.line = Vec::new();
        }
        Ok(())
    }

    /// Paper execution as lines of kinds `paper_order` (an order's new
    /// state), `fill`, `funding_payment`, `position`, `pnl` and `risk`.
    fn execution(&mut self, report: &prism_model::ExecutionReport) -> Result<(), SinkError> {
        let Some(plugin) = report.plugin().cloned() else {
            return Ok(());
        };
        let Some(out) = self.writers.get_mut(&plugin) else {
            return Ok(());
        };
        let mut line = |kind: &str, value: serde_json::Value| -> Result<(), SinkError> {
            let mut value = value;
            if let Some(map) = value.as_object_mut() {
                map.insert("kind".into(), kind.into());
            }
            serde_json::to_writer(&mut *out, &value).map_err(|e| io(&plugin, e.into()))?;
            out.write_all(b"\n").map_err(|e| io(&plugin, e))
        };
        for o in &report.orders {
            line("paper_order", serde_json::to_value(o).unwrap_or_default())?;
        }
        for f in &report.fills {
            line("fill", serde_json::to_value(f).unwrap_or_default())?;
        }
        for f in &report.funding {
            line(
                "funding_payment",
                serde_json::to_value(f).unwrap_or_default(),
            )?;
        }
        for p in &report.positions {
            line("position", serde_json::to_value(p).unwrap_or_default())?;
        }
        if let Some(p) = &report.pnl {
            line("pnl", serde_json::to_value(p).unwrap_or_default())?;
        }
        if let Some(r) = &report.risk {
            line("risk", serde_json::to_value(r).unwrap_or_default())?;
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
