//! What a plugin has written so far, against its limits on distinct
//! series, document keys and log names, and on the bytes its documents hold.
//!
//! Kept by the worker, not the instance: it must survive a swap and a
//! crash, as the outputs it counts survive them in the stores. A batch's
//! outputs are admitted whole or not at all, so a batch that fails (and is
//! retried or bisected) leaves nothing behind.

use prism_model::Output;
use prism_runtime::{Fault, FaultKind, OutputLimits};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Distinct outputs seen, and the size of each document's latest body.
#[derive(Debug, Default, Clone)]
pub(crate) struct OutputBudget {
    series: HashSet<(Arc<str>, Option<u32>)>,
    documents: HashMap<Arc<str>, usize>,
    documents_bytes: usize,
    logs: HashSet<Arc<str>>,
}

fn over(what: &str, limit: usize, key: &str) -> Fault {
    Fault {
        kind: FaultKind::OutputLimit,
        message: format!("more than {limit} distinct {what} ({key})"),
    }
}

impl OutputBudget {
    /// Admits a batch's outputs, or refuses them all with the limit they break.
    pub(crate) fn admit(&mut self, outputs: &[Output], limits: &OutputLimits) -> Result<(), Fault> {
        let mut series = Vec::new();
        let mut logs = Vec::new();
        let mut documents: HashMap<Arc<str>, usize> = HashMap::new();
        for o in outputs {
            match o {
                Output::Series(p) => {
                    let key = (p.name.clone(), p.instrument.as_ref().map(|i| i.id.0));
                    if !self.series.contains(&key) && !series.contains(&key) {
                        series.push(key);
                    }
                }
                Output::Log(l) => {
                    if !self.logs.contains(&l.name) && !logs.contains(&l.name) {
                        logs.push(l.name.clone());
                    }
                }
                Output::Document(d) => {
                    documents.insert(d.key.clone(), d.body.held());
                }
                Output::Signal(_) | Output::Order(_) | Output::Alert(_) => {}
            }
        }
        if self.series.len() + series.len() > limits.max_series {
            return Err(over("series", limits.max_series, "max_series"));
        }
        if self.logs.len() + logs.len() > limits.max_log_names {
            return Err(over("log names", limits.max_log_names, "max_log_names"));
        }
        let new_keys = documents
            .keys()
            .filter(|k| !self.documents.contains_key(*k))
            .count();
        if self.documents.len() + new_keys > limits.max_document_keys {
            return Err(over(
                "document keys",
                limits.max_document_keys,
                "max_document_keys",
            ));
        }
        let mut total = self.documents_bytes;
        for (key, bytes) in &documents {
            total = total - self.documents.get(key).copied().unwrap_or(0) + bytes;
        }
        if total > limits.max_documents_bytes {
            return Err(Fault {
                kind: FaultKind::OutputLimit,
                message: format!(
                    "the plugin's documents would hold {total} bytes; the limit is {} (max_documents_bytes)",
                    limits.max_documents_bytes
                ),
            });
        }
        self.series.extend(series);
        self.logs.extend(logs);
        self.documents.extend(documents);
        self.documents_bytes = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::{Document, LogEntry, SeriesPoint};

    fn series(name: &str) -> Output {
        Output::Series(SeriesPoint {
            name: Arc::from(name),
            instrument: None,
            ts: 0,
            value: 1.0,
        })
    }

    fn doc(key: &str, text: &str) -> Output {
        Output::Document(Document {
            key: Arc::from(key),
            ts: 0,
            body: serde_json::json!(text).into(),
        })
    }

    #[test]
    fn a_refused_batch_leaves_nothing_behind() {
        let limits = OutputLimits {
            max_series: 2,
            max_log_names: 1,
            max_document_keys: 2,
            max_documents_bytes: 100,
            ..OutputLimits::default()
        };
        let mut b = OutputBudget::default();
        b.admit(&[series("a"), series("a")], &limits).unwrap();
        let fault = b.admit(&[series("b"), series("c")], &limits).unwrap_err();
        assert_eq!(fault.kind, FaultKind::OutputLimit);
        assert!(fault.message.contains("max_series"), "{}", fault.message);
        // "b" was not kept: one more new series still fits.
        b.admit(&[series("b")], &limits).unwrap();
        assert!(b.admit(&[series("c")], &limits).is_err());

        let log = |name: &str| {
            Output::Log(LogEntry {
                name: Arc::from(name),
                instrument: None,
                ts: 0,
                body: serde_json::Value::Null.into(),
            })
        };
        b.admit(&[log("x"), log("x")], &limits).unwrap();
        assert!(b.admit(&[log("y")], &limits).is_err());

        // 32 + 10 bytes each; replacing a key's body does not add to the total.
        b.admit(&[doc("k1", "0123456789")], &limits).unwrap();
        b.admit(&[doc("k1", "0123456789")], &limits).unwrap();
        b.admit(&[doc("k2", "0123456789")], &limits).unwrap();
        let fault = b.admit(&[doc("k3", "x")], &limits).unwrap_err();
        assert!(fault.message.contains("max_document_keys"));
        let fault = b.admit(&[doc("k2", &"y".repeat(60))], &limits).unwrap_err();
        assert!(
            fault.message.contains("max_documents_bytes"),
            "{}",
            fault.message
        );
    }
}
