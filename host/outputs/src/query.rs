//! Read access to the stores, with filters and paging shared by every endpoint.

use crate::store::{OutputStore, SeriesKey};
use prism_model::{
    Direction, Document, LogEntry, OutputId, SeriesPoint, Signal, Strength, TimestampMs,
};
use std::collections::VecDeque;
use std::sync::Arc;

/// A page of results, newest first: `items`, and `next_cursor` to pass as
/// `cursor` for the next (older) page, if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C = OutputId> {
    pub items: Vec<T>,
    pub next_cursor: Option<C>,
}

/// Where a page of signals (of every plugin) ends: signals are ordered by
/// identity, then plugin. Text form `position.index.plugin`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SignalCursor {
    pub id: OutputId,
    pub plugin: Arc<str>,
}

impl std::fmt::Display for SignalCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.id, self.plugin)
    }
}

impl std::str::FromStr for SignalCursor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let mut parts = s.splitn(3, '.');
        let (p, i, plugin) = (parts.next(), parts.next(), parts.next());
        let id: OutputId = format!("{}.{}", p.ok_or(())?, i.ok_or(())?).parse()?;
        let plugin = plugin.filter(|p| !p.is_empty()).ok_or(())?;
        Ok(Self {
            id,
            plugin: Arc::from(plugin),
        })
    }
}

/// A page of signals: each with its identity and plugin.
pub type SignalList = Page<(OutputId, Arc<str>, Signal), SignalCursor>;

/// Filters of a series read. Times are inclusive event times (ms).
#[derive(Debug, Clone, Default)]
pub struct SeriesQuery {
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub from: Option<TimestampMs>,
    pub to: Option<TimestampMs>,
    /// Newest `limit` points (default 1000).
    pub limit: Option<usize>,
}

/// Filters of a log read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub name: Option<String>,
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub from: Option<TimestampMs>,
    pub to: Option<TimestampMs>,
    /// Fields of the body that must hold this text (any case).
    pub body: Vec<(String, String)>,
    pub limit: Option<usize>,
    /// Only entries older than this one (the previous page's last).
    pub cursor: Option<OutputId>,
}

/// Filters of a signals read.
#[derive(Debug, Clone, Default)]
pub struct SignalQuery {
    pub plugin: Option<String>,
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub direction: Option<Direction>,
    pub strength: Option<Strength>,
    pub from: Option<TimestampMs>,
    pub to: Option<TimestampMs>,
    pub limit: Option<usize>,
    pub cursor: Option<SignalCursor>,
}

/// Largest page any read returns.
pub const MAX_LIMIT: usize = 10_000;
/// Items a page holds unless asked otherwise.
pub const DEFAULT_LIMIT: usize = 1_000;

fn in_range(ts: TimestampMs, from: Option<TimestampMs>, to: Option<TimestampMs>) -> bool {
    from.is_none_or(|f| ts >= f) && to.is_none_or(|t| ts <= t)
}

/// A log entry's exchange and symbol ("" when it names no instrument).
fn place(l: &LogEntry) -> (Arc<str>, Arc<str>) {
    l.instrument
        .as_ref()
        .map_or((Arc::from(""), Arc::from("")), |i| {
            (i.exchange.clone(), i.symbol.clone())
        })
}

fn eq(filter: &Option<String>, value: &str) -> bool {
    filter
        .as_deref()
        .is_none_or(|f| f.eq_ignore_ascii_case(value))
}

/// The order of a series page: by time, then instrument, then identity (a
/// total order: identities are unique).
pub(crate) fn series_order(
    a: &(OutputId, SeriesPoint),
    b: &(OutputId, SeriesPoint),
) -> std::cmp::Ordering {
    // Names borrowed, not cloned: this runs n log n times a query.
    fn key(p: &SeriesPoint) -> Option<(&str, &str)> {
        p.instrument
            .as_deref()
            .map(|i| (i.exchange.as_ref(), i.symbol.as_ref()))
    }
    let ((a_id, a), (b_id, b)) = (a, b);
    a.ts.cmp(&b.ts)
        .then_with(|| key(a).cmp(&key(b)).then(a_id.cmp(b_id)))
}

/// The newest `limit` points of `points` in `from..=to`, oldest first, for
/// points in page order (by time, then identity; one instrument).
fn newest_in_order(
    points: &VecDeque<(OutputId, SeriesPoint)>,
    from: Option<TimestampMs>,
    to: Option<TimestampMs>,
    limit: usize,
) -> Vec<(OutputId, SeriesPoint)> {
    let start = from.map_or(0, |f| points.partition_point(|(_, p)| p.ts < f));
    let end = to.map_or(points.len(), |t| points.partition_point(|(_, p)| p.ts <= t));
    let begin = end.saturating_sub(limit).max(start);
    points.range(begin..end.max(begin)).cloned().collect()
}

impl OutputStore {
    /// Whether the plugin has produced anything.
    #[must_use]
    pub fn knows(&self, plugin: &str) -> bool {
        self.plugins
            .read()
            .map(|p| p.contains_key(plugin))
            .unwrap_or(false)
    }

    /// Points of series `name`, oldest first (the newest `limit` of them),
    /// with their identities.
    #[must_use]
    pub fn series(
        &self,
        plugin: &str,
        name: &str,
        q: &SeriesQuery,
    ) -> Vec<(OutputId, SeriesPoint)> {
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        let Ok(plugins) = self.plugins.read() else {
            return Vec::new();
        };
        let Some(store) = plugins.get(plugin) else {
            return Vec::new();
        };
        let matching: Vec<(&SeriesKey, &VecDeque<(OutputId, SeriesPoint)>)> = store
            .series
            .iter()
            .filter(|((n, exchange, symbol), _)| {
                &**n == name && eq(&q.exchange, exchange) && eq(&q.symbol, symbol)
            })
            .collect();
        // One series whose points arrived in page order (the usual case: a
        // plugin's points of one instrument go forward in time) is already
        // the sorted list: the range is found by bisection and the page is
        // its end, however many points the series holds.
        if let [(key, only)] = matching[..]
            && !store.unordered.contains(key)
        {
            return newest_in_order(only, q.from, q.to, limit);
        }
        // Only the newest `limit` are cloned: a series may hold thousands
        // of points for a page of a hundred, so they are chosen among
        // borrowed points first.
        let mut points: Vec<&(OutputId, SeriesPoint)> = matching
            .into_iter()
            .flat_map(|(_, points)| points.iter().filter(|(_, p)| in_range(p.ts, q.from, q.to)))
            .collect();
        let skip = points.len().saturating_sub(limit);
        if skip > 0 {
            // Everything after `skip` is then newer than everything before.
            points.select_nth_unstable_by(skip, |a, b| series_order(a, b));
        }
        let mut newest: Vec<(OutputId, SeriesPoint)> =
            points[skip..].iter().map(|&p| p.clone()).collect();
        newest.sort_by(series_order);
        newest
    }

    /// Where memory's copy of series `name` starts, per instrument
    /// (exchange and symbol, "" for none): the identity of its oldest point
    /// kept. Everything the plugin made from there on is here.
    #[must_use]
    pub fn series_starts(&self, plugin: &str, name: &str) -> Vec<(Arc<str>, Arc<str>, OutputId)> {
        let Ok(plugins) = self.plugins.read() else {
            return Vec::new();
        };
        plugins.get(plugin).map_or_else(Vec::new, |store| {
            store
                .series
                .iter()
                .filter(|((n, _, _), _)| &**n == name)
                .filter_map(|((_, e, s), points)| {
                    points.front().map(|(id, _)| (e.clone(), s.clone(), *id))
                })
                .collect()
        })
    }

    /// Where memory's copy of a plugin's log starts: the identity of the
    /// oldest entry kept (`None`: it holds none).
    #[must_use]
    pub fn log_start(&self, plugin: &str) -> Option<OutputId> {
        self.plugins
            .read()
            .ok()?
            .get(plugin)?
            .logs
            .front()
            .map(|(id, _)| *id)
    }

    /// Where memory's copy of each plugin's signals starts.
    #[must_use]
    pub fn signal_starts(&self) -> Vec<(Arc<str>, OutputId)> {
        let Ok(all) = self.signals.read() else {
            return Vec::new();
        };
        let mut starts: std::collections::HashMap<Arc<str>, OutputId> =
            std::collections::HashMap::new();
        for (id, plugin, _) in all.iter() {
            starts.entry(plugin.clone()).or_insert(*id);
        }
        starts.into_iter().collect()
    }

    /// Names of a plugin's series.
    #[must_use]
    pub fn series_names(&self, plugin: &str) -> Vec<String> {
        let Ok(plugins) = self.plugins.read() else {
            return Vec::new();
        };
        let mut names: Vec<String> = plugins
            .get(plugin)
            .map(|s| s.series.keys().map(|(n, _, _)| n.to_string()).collect())
            .unwrap_or_default();
        names.sort();
        names.dedup();
        names
    }

    /// A document by key.
    #[must_use]
    pub fn document(&self, plugin: &str, key: &str) -> Option<Document> {
        self.plugins
            .read()
            .ok()?
            .get(plugin)?
            .documents
            .get(key)
            .cloned()
    }

    /// Keys of a plugin's documents.
    #[must_use]
    pub fn document_keys(&self, plugin: &str) -> Vec<String> {
        let Ok(plugins) = self.plugins.read() else {
            return Vec::new();
        };
        plugins
            .get(plugin)
            .map(|s| s.documents.keys().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// Log entries with their identities, newest first.
    #[must_use]
    pub fn logs(&self, plugin: &str, q: &LogQuery) -> Page<(OutputId, LogEntry)> {
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let Ok(plugins) = self.plugins.read() else {
            return Page {
                items: vec![],
                next_cursor: None,
            };
        };
        let Some(store) = plugins.get(plugin) else {
            return Page {
                items: vec![],
                next_cursor: None,
            };
        };
        let matching = store.logs.iter().rev().filter(|(id, l)| {
            let (exchange, symbol) = place(l);
            q.cursor.is_none_or(|c| *id < c)
                && eq(&q.name, &l.name)
                && eq(&q.exchange, &exchange)
                && eq(&q.symbol, &symbol)
                && in_range(l.ts, q.from, q.to)
                && q.body.iter().all(|(field, value)| {
                    l.body[field.as_str()]
                        .as_str()
                        .is_some_and(|v| v.eq_ignore_ascii_case(value))
                })
        });
        page(matching, limit, |(id, l)| (*id, (*id, l.clone())))
    }

    /// Calls `f` on every kept log entry of `plugin` named `name`, oldest
    /// first (for statistics over what the store holds).
    pub fn for_each_log(&self, plugin: &str, name: &str, mut f: impl FnMut(&LogEntry)) {
        let Ok(plugins) = self.plugins.read() else {
            return;
        };
        if let Some(store) = plugins.get(plugin) {
            for (_, l) in store.logs.iter().filter(|(_, l)| &*l.name == name) {
                f(l);
            }
        }
    }

    /// Calls `f` on every kept signal with the plugin that sent it, oldest first.
    pub fn for_each_signal(&self, mut f: impl FnMut(&str, &Signal)) {
        if let Ok(all) = self.signals.read() {
            for (_, plugin, s) in all.iter() {
                f(plugin, s);
            }
        }
    }

    /// Signals of every plugin with their identities, newest first (by
    /// identity, then plugin).
    #[must_use]
    pub fn signals(&self, q: &SignalQuery) -> SignalList {
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let Ok(all) = self.signals.read() else {
            return Page {
                items: vec![],
                next_cursor: None,
            };
        };
        // Plugins' signals arrive interleaved: put them in identity order.
        let mut matching: Vec<&(OutputId, Arc<str>, Signal)> = all
            .iter()
            .filter(|(id, plugin, s)| {
                q.cursor
                    .as_ref()
                    .is_none_or(|c| (*id, plugin) < (c.id, &c.plugin))
                    && eq(&q.plugin, plugin)
                    && eq(&q.exchange, &s.instrument.exchange)
                    && eq(&q.symbol, &s.instrument.symbol)
                    && q.direction.is_none_or(|d| d == s.direction)
                    && q.strength.is_none_or(|d| d == s.strength)
                    && in_range(s.ts, q.from, q.to)
            })
            .collect();
        matching.sort_unstable_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
        page(matching.into_iter(), limit, |(id, plugin, s)| {
            (
                SignalCursor {
                    id: *id,
                    plugin: plugin.clone(),
                },
                (*id, plugin.clone(), s.clone()),
            )
        })
    }
}

fn page<'a, I, T, C, R: 'a>(
    mut matching: I,
    limit: usize,
    take: impl Fn(&R) -> (C, T),
) -> Page<T, C>
where
    I: Iterator<Item = &'a R>,
{
    let mut items = Vec::new();
    let mut last = None;
    for item in matching.by_ref().take(limit) {
        let (cursor, value) = take(item);
        last = Some(cursor);
        items.push(value);
    }
    let next_cursor = if matching.next().is_some() {
        last
    } else {
        None
    };
    Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreLimits;
    use prism_model::{InstrumentRegistry, Output};

    #[test]
    fn series_are_bounded_filtered_and_ordered() {
        let store = OutputStore::new(StoreLimits {
            series_points: 3,
            ..StoreLimits::default()
        });
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let (eth, _) = reg.intern("binance", "ETHUSDT");
        let point = |id, ts, v| {
            Output::Series(SeriesPoint {
                name: Arc::from("r"),
                instrument: Some(reg.get(id).unwrap().clone()),
                ts,
                value: v,
            })
        };
        let plugin: Arc<str> = Arc::from("p");
        store.insert(
            &plugin,
            (1..=5).map(|t| point(btc, t * 10, t as f64)).collect(),
        );
        store.insert(&plugin, vec![point(eth, 35, 9.0)]);
        let all = store.series("p", "r", &SeriesQuery::default());
        let ts: Vec<i64> = all.iter().map(|(_, p)| p.ts).collect();
        assert_eq!(ts, [30, 35, 40, 50], "btc keeps its newest 3");
        let q = SeriesQuery {
            symbol: Some("btcusdt".into()),
            from: Some(40),
            ..SeriesQuery::default()
        };
        assert_eq!(store.series("p", "r", &q).len(), 2);
        let q = SeriesQuery {
            limit: Some(1),
            ..SeriesQuery::default()
        };
        assert_eq!(store.series("p", "r", &q)[0].1.ts, 50);
    }

    #[test]
    fn a_series_page_is_the_newest_of_the_whole_order() {
        let store = OutputStore::new(StoreLimits::default());
        let mut reg = InstrumentRegistry::default();
        let ids = [
            reg.intern("okx", "BTC-USDT-SWAP").0,
            reg.intern("binance", "ETHUSDT").0,
            reg.intern("binance", "BTCUSDT").0,
        ];
        let plugin: Arc<str> = Arc::from("p");
        // Times out of order and repeated across instruments; the value
        // numbers the point (its place in the stream).
        let mut expected = Vec::new();
        for n in 0..60_u32 {
            let instrument = reg.get(ids[(n % 3) as usize]).unwrap().clone();
            let ts = i64::from((n * 37) % 23);
            expected.push((
                ts,
                instrument.exchange.to_string(),
                instrument.symbol.to_string(),
                f64::from(n),
            ));
            let point = Output::Series(SeriesPoint {
                name: Arc::from("r"),
                instrument: Some(instrument),
                ts,
                value: f64::from(n),
            });
            store.insert(&plugin, vec![point]);
        }
        // By time, then exchange and symbol, then place in the stream.
        expected.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let values: Vec<f64> = expected.iter().map(|e| e.3).collect();
        for limit in [1, 2, 7, 59, 60, 61] {
            let q = SeriesQuery {
                limit: Some(limit),
                ..SeriesQuery::default()
            };
            let page: Vec<f64> = store
                .series("p", "r", &q)
                .iter()
                .map(|(_, p)| p.value)
                .collect();
            assert_eq!(page, values[60 - limit.min(60)..], "limit {limit}");
        }
    }

    #[test]
    fn one_instruments_page_is_the_same_whether_its_points_came_in_order_or_not() {
        let mut reg = InstrumentRegistry::default();
        let btc = reg.intern("binance", "BTCUSDT").0;
        let instrument = reg.get(btc).unwrap().clone();
        let plugin: Arc<str> = Arc::from("p");
        // Times that go forward with repeats (in order), then the same
        // after one point from the past (out of order from there on).
        let times: Vec<i64> = (0..40).map(|n| n / 3 * 5).collect();
        for late in [None, Some(7)] {
            let store = OutputStore::new(StoreLimits {
                series_points: 30,
                ..StoreLimits::default()
            });
            let mut stream: Vec<i64> = times.clone();
            if let Some(ts) = late {
                stream.insert(20, ts);
            }
            for (n, ts) in stream.iter().enumerate() {
                let point = Output::Series(SeriesPoint {
                    name: Arc::from("r"),
                    instrument: Some(instrument.clone()),
                    ts: *ts,
                    value: n as f64,
                });
                store.insert(&plugin, vec![point]);
            }
            let marked = store.plugins.read().unwrap()["p"].unordered.len();
            assert_eq!(marked, usize::from(late.is_some()));
            // The oracle: the newest 30 by arrival are kept; a page is the
            // newest by (time, arrival) in the range.
            let kept: Vec<(i64, f64)> = stream
                .iter()
                .enumerate()
                .skip(stream.len() - 30)
                .map(|(n, ts)| (*ts, n as f64))
                .collect();
            for from in [None, Some(0), Some(7), Some(31), Some(65), Some(99)] {
                for to in [None, Some(6), Some(30), Some(64), Some(-1)] {
                    for limit in [1, 4, 29, 30, 31] {
                        let mut want: Vec<(i64, f64)> = kept
                            .iter()
                            .copied()
                            .filter(|(ts, _)| in_range(*ts, from, to))
                            .collect();
                        want.sort_by(|a, b| a.partial_cmp(b).unwrap());
                        let want = want[want.len().saturating_sub(limit)..].to_vec();
                        let q = SeriesQuery {
                            symbol: Some("BTCUSDT".into()),
                            from,
                            to,
                            limit: Some(limit),
                            ..SeriesQuery::default()
                        };
                        let got: Vec<(i64, f64)> = store
                            .series("p", "r", &q)
                            .iter()
                            .map(|(_, p)| (p.ts, p.value))
                            .collect();
                        assert_eq!(
                            got, want,
                            "late {late:?} from {from:?} to {to:?} limit {limit}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn logs_page_newest_first_with_a_cursor() {
        let store = OutputStore::new(StoreLimits::default());
        let plugin: Arc<str> = Arc::from("p");
        let entries = (0..5)
            .map(|i| {
                Output::Log(LogEntry {
                    name: Arc::from("w"),
                    instrument: None,
                    ts: i,
                    body: serde_json::json!(i).into(),
                })
            })
            .collect();
        store.insert(&plugin, entries);
        let first = store.logs(
            "p",
            &LogQuery {
                limit: Some(2),
                ..LogQuery::default()
            },
        );
        assert_eq!(
            first.items.iter().map(|(_, l)| l.ts).collect::<Vec<_>>(),
            [4, 3]
        );
        let second = store.logs(
            "p",
            &LogQuery {
                limit: Some(2),
                cursor: first.next_cursor,
                ..LogQuery::default()
            },
        );
        assert_eq!(
            second.items.iter().map(|(_, l)| l.ts).collect::<Vec<_>>(),
            [2, 1]
        );
        let third = store.logs(
            "p",
            &LogQuery {
                limit: Some(2),
                cursor: second.next_cursor,
                ..LogQuery::default()
            },
        );
        assert_eq!(
            third.items.iter().map(|(_, l)| l.ts).collect::<Vec<_>>(),
            [0]
        );
        assert_eq!(third.next_cursor, None);
    }
}
