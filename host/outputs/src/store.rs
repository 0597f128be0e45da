//! Bounded in-memory stores of plugin outputs.

use crate::query::series_order;
use prism_model::{Alert, Document, LogEntry, OrderIntent, Output, OutputId, SeriesPoint, Signal};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};

/// How much each store keeps; the oldest entries go first.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Points kept per series (name and instrument).
    pub series_points: usize,
    /// Points kept per plugin over all its series: past it, the longest
    /// series lose their oldest points.
    pub plugin_series_points: usize,
    /// Log entries kept per plugin.
    pub log_entries: usize,
    /// Bytes of log bodies kept per plugin (as held in memory).
    pub plugin_log_bytes: usize,
    pub signals: usize,
    pub records: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            series_points: 10_000,
            plugin_series_points: 1_000_000,
            log_entries: 10_000,
            plugin_log_bytes: 64 << 20,
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
    pub(crate) series: HashMap<SeriesKey, VecDeque<(OutputId, SeriesPoint)>>,
    /// The series whose points were not all inserted in page order (time,
    /// then identity): every other series is a sorted list, which a read
    /// slices instead of sorting (see `OutputStore::series`). A series stays
    /// here until it is forgotten.
    pub(crate) unordered: HashSet<SeriesKey>,
    /// Points in all of `series`.
    series_points: usize,
    pub(crate) documents: BTreeMap<Arc<str>, Document>,
    pub(crate) logs: VecDeque<(OutputId, LogEntry)>,
    /// Bytes of the bodies in `logs`.
    log_bytes: usize,
    pub(crate) orders: VecDeque<OrderIntent>,
    pub(crate) alerts: VecDeque<Alert>,
    pub(crate) dropped: u64,
}

impl PluginOutputs {
    /// Drops the oldest points of the longest series until about 95% of
    /// `cap` points are left (a margin, so trimming is rare). Series left
    /// empty are forgotten.
    fn trim_series(&mut self, cap: usize) {
        let target = cap - cap / 20;
        let mut longest: BinaryHeap<(usize, SeriesKey)> = self
            .series
            .iter()
            .map(|(k, v)| (v.len(), k.clone()))
            .collect();
        while self.series_points > target {
            let Some((len, key)) = longest.pop() else {
                break;
            };
            let next = longest.peek().map_or(0, |p| p.0);
            let take = (len - next)
                .max(1)
                .min(self.series_points - target)
                .min(len);
            if let Some(points) = self.series.get_mut(&key) {
                points.drain(..take);
                if points.is_empty() {
                    self.series.remove(&key);
                    self.unordered.remove(&key);
                }
            }
            self.series_points -= take;
            self.dropped += take as u64;
            if len > take {
                longest.push((len - take, key));
            }
        }
    }
}

/// All plugins' outputs, plus the signals of all plugins in one list.
#[derive(Debug, Default)]
pub struct OutputStore {
    limits: StoreLimits,
    pub(crate) plugins: RwLock<HashMap<Arc<str>, PluginOutputs>>,
    /// (identity, plugin, signal), as they arrived.
    pub(crate) signals: RwLock<VecDeque<(OutputId, Arc<str>, Signal)>>,
    /// Positions [`OutputStore::insert`] gives batches that have none.
    sequence: std::sync::atomic::AtomicU64,
    generation: std::sync::atomic::AtomicU64,
}

/// The series a point belongs to.
fn series_key(p: &SeriesPoint) -> SeriesKey {
    match &p.instrument {
        Some(i) => (p.name.clone(), i.exchange.clone(), i.symbol.clone()),
        None => (p.name.clone(), Arc::from(""), Arc::from("")),
    }
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

    /// Changes with every insert: a view computed at one generation is
    /// still true while the generation is the same.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Stores the outputs of one batch without a stream position (tests,
    /// tools): each call is the next position.
    pub fn insert(&self, plugin: &Arc<str>, outputs: Vec<Output>) {
        let position = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.insert_at(plugin, position, outputs);
    }

    /// Stores the outputs of one plugin's batch at stream `position`, in
    /// order; output `i` is identified by `(position, i)`.
    pub fn insert_at(&self, plugin: &Arc<str>, position: u64, outputs: Vec<Output>) {
        let limits = self.limits;
        let mut signals = Vec::new();
        {
            let Ok(mut plugins) = self.plugins.write() else {
                return;
            };
            let store = plugins.entry(plugin.clone()).or_default();
            for (index, output) in outputs.into_iter().enumerate() {
                let id = OutputId::new(position, index);
                let evicted = match output {
                    Output::Series(p) => {
                        let entry = store.series.entry(series_key(&p));
                        let point = (id, p);
                        if let Entry::Occupied(points) = &entry
                            && points
                                .get()
                                .back()
                                .is_some_and(|last| series_order(last, &point).is_gt())
                        {
                            store.unordered.insert(entry.key().clone());
                        }
                        let points = entry.or_default();
                        let evicted = push_bounded(points, point, limits.series_points);
                        if !evicted {
                            store.series_points += 1;
                        }
                        evicted
                    }
                    Output::Document(d) => {
                        store.documents.insert(d.key.clone(), d);
                        false
                    }
                    Output::Log(l) => {
                        store.log_bytes += l.body.held();
                        store.logs.push_back((id, l));
                        // The oldest go first, by count and by bytes; the
                        // newest entry is always kept.
                        while store.logs.len() > limits.log_entries
                            || (store.log_bytes > limits.plugin_log_bytes && store.logs.len() > 1)
                        {
                            if let Some((_, old)) = store.logs.pop_front() {
                                store.log_bytes -= old.body.held();
                                store.dropped += 1;
                            }
                        }
                        false
                    }
                    Output::Signal(s) => {
                        signals.push((id, s));
                        false
                    }
                    Output::Order(o) => push_bounded(&mut store.orders, o, limits.records),
                    Output::Alert(a) => push_bounded(&mut store.alerts, a, limits.records),
                };
                if evicted {
                    store.dropped += 1;
                }
            }
            if store.series_points > limits.plugin_series_points {
                store.trim_series(limits.plugin_series_points);
            }
        }
        if !signals.is_empty()
            && let Ok(mut all) = self.signals.write()
        {
            for (id, s) in signals {
                push_bounded(&mut all, (id, plugin.clone(), s), limits.signals);
            }
        }
        // After the change: a view computed before it never looks current.
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Forgets a plugin's outputs.
    pub fn remove_plugin(&self, plugin: &str) {
        if let Ok(mut plugins) = self.plugins.write() {
            plugins.remove(plugin);
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, ts: i64) -> Output {
        Output::Series(SeriesPoint {
            name: Arc::from(name),
            instrument: None,
            ts,
            value: 1.0,
        })
    }

    #[test]
    fn a_plugins_points_and_log_bytes_stay_within_their_totals() {
        let store = OutputStore::new(StoreLimits {
            series_points: 100,
            plugin_series_points: 200,
            plugin_log_bytes: 1000,
            ..StoreLimits::default()
        });
        let plugin: Arc<str> = Arc::from("p");
        // One long series, then many short ones.
        store.insert(&plugin, (0..100).map(|t| point("long", t)).collect());
        for n in 0..50 {
            store.insert(
                &plugin,
                (0..5).map(|t| point(&format!("s{n}"), t)).collect(),
            );
        }
        let plugins = store.plugins.read().unwrap();
        let p = &plugins["p"];
        let total: usize = p.series.values().map(VecDeque::len).sum();
        assert!((190..=200).contains(&total), "{total}");
        assert_eq!(p.series_points, total);
        // The long series paid first, oldest points first.
        let long = &p.series[&(Arc::from("long"), Arc::from(""), Arc::from(""))];
        assert!(long.len() <= 5, "{}", long.len());
        assert_eq!(long.back().unwrap().1.ts, 99);
        drop(plugins);

        // 32 + 100 bytes per body: 7 fit in 1000.
        let log = |ts| {
            Output::Log(LogEntry {
                name: Arc::from("l"),
                instrument: None,
                ts,
                body: serde_json::json!("x".repeat(100)).into(),
            })
        };
        store.insert(&plugin, (0..20).map(log).collect());
        let plugins = store.plugins.read().unwrap();
        let p = &plugins["p"];
        assert_eq!(p.logs.len(), 7);
        assert_eq!(p.log_bytes, 7 * 132);
        assert_eq!(p.logs.front().unwrap().1.ts, 13);
    }
}
