//! Bounded in-memory stores of plugin outputs.

use prism_model::{Alert, Document, LogEntry, OrderIntent, Output, SeriesPoint, Signal};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};

/// How much each store keeps; the oldest entries go first.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub series_points: usize,
    pub log_entries: usize,
    pub signals: usize,
    pub records: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            series_points: 10_000,
            log_entries: 10_000,
            signals: 10_000,
            records: 1_000,
        }
    }
}

/// A series key: name, then exchange and symbol ("" when none).
pub(crate) type SeriesKey = (Arc<str>, Arc<str>, Arc<str>);

/// Everything one plugin has produced (bounded).
#[derive(Debug, Default)]
pub(crate) struct PluginOutputs {
    pub(crate) series: HashMap<SeriesKey, VecDeque<SeriesPoint>>,
    pub(crate) documents: BTreeMap<Arc<str>, Document>,
    pub(crate) logs: VecDeque<(u64, LogEntry)>,
    pub(crate) orders: VecDeque<OrderIntent>,
    pub(crate) alerts: VecDeque<Alert>,
    pub(crate) dropped: u64,
}

/// All plugins' outputs, plus the signals of all plugins in one list.
#[derive(Debug, Default)]
pub struct OutputStore {
    limits: StoreLimits,
    pub(crate) plugins: RwLock<HashMap<Arc<str>, PluginOutputs>>,
    /// (sequence, plugin, signal).
    pub(crate) signals: RwLock<VecDeque<(u64, Arc<str>, Signal)>>,
    sequence: std::sync::atomic::AtomicU64,
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, cap: usize) -> bool {
    queue.push_back(item);
    if queue.len() > cap {
        queue.pop_front();
        return true;
    }
    false
}

impl OutputStore {
    /// An empty store with these limits.
    #[must_use]
    pub fn new(limits: StoreLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Stores the outputs of one batch of one plugin, in order.
    pub fn insert(&self, plugin: &Arc<str>, outputs: Vec<Output>) {
        let limits = self.limits;
        let mut signals = Vec::new();
        {
            let Ok(mut plugins) = self.plugins.write() else {
                return;
            };
            let store = plugins.entry(plugin.clone()).or_default();
            for output in outputs {
                let evicted = match output {
                    Output::Series(p) => {
                        let key = match &p.instrument {
                            Some(i) => (p.name.clone(), i.exchange.clone(), i.symbol.clone()),
                            None => (p.name.clone(), Arc::from(""), Arc::from("")),
                        };
                        let points = store.series.entry(key).or_default();
                        push_bounded(points, p, limits.series_points)
                    }
                    Output::Document(d) => {
                        store.documents.insert(d.key.clone(), d);
                        false
                    }
                    Output::Log(l) => {
                        let seq = self.next_seq();
                        push_bounded(&mut store.logs, (seq, l), limits.log_entries)
                    }
                    Output::Signal(s) => {
                        signals.push(s);
                        false
                    }
                    Output::Order(o) => push_bounded(&mut store.orders, o, limits.records),
                    Output::Alert(a) => push_bounded(&mut store.alerts, a, limits.records),
                };
                if evicted {
                    store.dropped += 1;
                }
            }
        }
        if !signals.is_empty()
            && let Ok(mut all) = self.signals.write()
        {
            for s in signals {
                let seq = self.next_seq();
                push_bounded(&mut all, (seq, plugin.clone(), s), limits.signals);
            }
        }
    }

    fn next_seq(&self) -> u64 {
        self.sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets a plugin's outputs.
    pub fn remove_plugin(&self, plugin: &str) {
        if let Ok(mut plugins) = self.plugins.write() {
            plugins.remove(plugin);
        }
    }
}
