//! The paper accounts' records, kept for the API: orders in their latest
//! state, fills, funding payments, positions, PnL (current and over time)
//! and risk states. Bounded: past each cap the oldest go first (an order
//! still working is never dropped).

use crate::query::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use prism_model::{
    ExecutionReport, FillRecord, FundingPayment, OrderRecord, OrderStatus, PnlPoint,
    PositionRecord, RiskRecord, TimestampMs,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};

/// How many records of each kind are kept.
#[derive(Debug, Clone, Copy)]
pub struct ExecutionLimits {
    pub orders: usize,
    pub fills: usize,
    pub funding: usize,
    /// Points of PnL history (per plugin and per position, together).
    pub pnl_points: usize,
}

impl Default for ExecutionLimits {
    fn default() -> Self {
        Self {
            orders: 100_000,
            fills: 100_000,
            funding: 100_000,
            pnl_points: 200_000,
        }
    }
}

/// Filters shared by the record reads. Times are inclusive event times.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    pub plugin: Option<String>,
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub status: Option<OrderStatus>,
    pub from: Option<TimestampMs>,
    pub to: Option<TimestampMs>,
    /// Items older than this cursor (from a previous page).
    pub cursor: Option<u64>,
    pub limit: Option<usize>,
}

impl RecordQuery {
    fn time(&self, ts: TimestampMs) -> bool {
        self.from.is_none_or(|f| ts >= f) && self.to.is_none_or(|t| ts <= t)
    }

    fn names(&self, plugin: &str, exchange: &str, symbol: &str) -> bool {
        self.plugin.as_deref().is_none_or(|p| p == plugin)
            && self.exchange.as_deref().is_none_or(|e| e == exchange)
            && self.symbol.as_deref().is_none_or(|s| s == symbol)
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }
}

/// A PnL point of a plugin (no instrument) or of one of its positions.
#[derive(Debug, Clone, PartialEq)]
pub enum PnlHistoryPoint {
    Plugin(PnlPoint),
    Position(PositionRecord),
}

#[derive(Debug, Default)]
struct Records {
    /// Orders by arrival, and where each id is.
    orders: BTreeMap<u64, OrderRecord>,
    order_at: HashMap<Arc<str>, u64>,
    fills: VecDeque<(u64, FillRecord)>,
    funding: VecDeque<(u64, FundingPayment)>,
    positions: BTreeMap<(Arc<str>, u32), PositionRecord>,
    pnl: BTreeMap<Arc<str>, PnlPoint>,
    history: VecDeque<(u64, PnlHistoryPoint)>,
    risk: BTreeMap<Arc<str>, RiskRecord>,
    next: u64,
}

/// The paper accounts' records.
#[derive(Debug, Default)]
pub struct ExecutionStore {
    limits: ExecutionLimits,
    records: RwLock<Records>,
}

fn page<T: Clone>(
    items: impl DoubleEndedIterator<Item = (u64, T)>,
    q: &RecordQuery,
    keep: impl Fn(&T) -> bool,
) -> Page<T, u64> {
    let limit = q.limit();
    let mut out = Vec::new();
    let mut next_cursor = None;
    for (at, item) in items
        .rev()
        .filter(|(at, _)| q.cursor.is_none_or(|c| *at < c))
    {
        if !keep(&item) {
            continue;
        }
        if out.len() == limit {
            next_cursor = Some(at + 1);
            break;
        }
        out.push(item);
    }
    Page {
        items: out,
        next_cursor,
    }
}

impl ExecutionStore {
    #[must_use]
    pub fn new(limits: ExecutionLimits) -> Self {
        Self {
            limits,
            records: RwLock::new(Records::default()),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Records> {
        self.records
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Records> {
        self.records
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes one report: orders replace their earlier state, the rest
    /// append (or, for positions, PnL and risk, become the current value).
    pub fn insert(&self, report: &ExecutionReport) {
        let mut r = self.write();
        for order in &report.orders {
            match r.order_at.get(&order.id).copied() {
                Some(at) => {
                    r.orders.insert(at, order.clone());
                }
                None => {
                    let at = r.next;
                    r.next += 1;
                    r.order_at.insert(order.id.clone(), at);
                    r.orders.insert(at, order.clone());
                }
            }
        }
        while r.orders.len() > self.limits.orders {
            // The oldest order that has ended; working ones stay.
            let Some(at) = r
                .orders
                .iter()
                .find(|(_, o)| !o.status.is_working())
                .map(|(at, _)| *at)
            else {
                break;
            };
            if let Some(o) = r.orders.remove(&at) {
                r.order_at.remove(&o.id);
            }
        }
        for fill in &report.fills {
            let at = r.next;
            r.next += 1;
            r.fills.push_back((at, fill.clone()));
        }
        while r.fills.len() > self.limits.fills {
            r.fills.pop_front();
        }
        for payment in &report.funding {
            let at = r.next;
            r.next += 1;
            r.funding.push_back((at, payment.clone()));
        }
        while r.funding.len() > self.limits.funding {
            r.funding.pop_front();
        }
        for p in &report.positions {
            r.positions
                .insert((p.plugin.clone(), p.instrument.0), p.clone());
            let at = r.next;
            r.next += 1;
            r.history
                .push_back((at, PnlHistoryPoint::Position(p.clone())));
        }
        if let Some(point) = &report.pnl {
            r.pnl.insert(point.plugin.clone(), point.clone());
            let at = r.next;
            r.next += 1;
            r.history
                .push_back((at, PnlHistoryPoint::Plugin(point.clone())));
        }
        while r.history.len() > self.limits.pnl_points {
            r.history.pop_front();
        }
        if let Some(risk) = &report.risk {
            r.risk.insert(risk.plugin.clone(), risk.clone());
        }
    }

    /// Orders, newest first.
    #[must_use]
    pub fn orders(&self, q: &RecordQuery) -> Page<OrderRecord, u64> {
        let r = self.read();
        page(r.orders.iter().map(|(at, o)| (*at, o.clone())), q, |o| {
            q.names(&o.plugin, &o.exchange, &o.symbol)
                && q.status.is_none_or(|s| s == o.status)
                && q.time(o.ts)
        })
    }

    /// One order by id.
    #[must_use]
    pub fn order(&self, id: &str) -> Option<OrderRecord> {
        let r = self.read();
        let at = r.order_at.get(id)?;
        r.orders.get(at).cloned()
    }

    /// Fills, newest first.
    #[must_use]
    pub fn fills(&self, q: &RecordQuery) -> Page<FillRecord, u64> {
        let r = self.read();
        page(r.fills.iter().cloned(), q, |f| {
            q.names(&f.plugin, &f.exchange, &f.symbol) && q.time(f.ts)
        })
    }

    /// Funding payments, newest first.
    #[must_use]
    pub fn funding(&self, q: &RecordQuery) -> Page<FundingPayment, u64> {
        let r = self.read();
        page(r.funding.iter().cloned(), q, |f| {
            q.names(&f.plugin, &f.exchange, &f.symbol) && q.time(f.ts)
        })
    }

    /// Every position (flat ones too: their PnL stands), by plugin.
    #[must_use]
    pub fn positions(&self, q: &RecordQuery) -> Vec<PositionRecord> {
        self.read()
            .positions
            .values()
            .filter(|p| q.names(&p.plugin, &p.exchange, &p.symbol))
            .cloned()
            .collect()
    }

    /// Each plugin's current PnL.
    #[must_use]
    pub fn pnl(&self, plugin: Option<&str>) -> Vec<PnlPoint> {
        self.read()
            .pnl
            .values()
            .filter(|p| plugin.is_none_or(|id| id == &*p.plugin))
            .cloned()
            .collect()
    }

    /// PnL over time, newest first: a plugin's points, or, when the query
    /// names an exchange or symbol, its positions' points.
    #[must_use]
    pub fn pnl_history(&self, q: &RecordQuery) -> Page<PnlHistoryPoint, u64> {
        let r = self.read();
        let per_position = q.exchange.is_some() || q.symbol.is_some();
        page(r.history.iter().cloned(), q, |h| match h {
            PnlHistoryPoint::Plugin(p) => {
                !per_position
                    && q.plugin.as_deref().is_none_or(|id| id == &*p.plugin)
                    && q.time(p.ts)
            }
            PnlHistoryPoint::Position(p) => {
                per_position && q.names(&p.plugin, &p.exchange, &p.symbol) && q.time(p.ts)
            }
        })
    }

    /// Each trading plugin's risk state.
    #[must_use]
    pub fn risk(&self) -> Vec<RiskRecord> {
        self.read().risk.values().cloned().collect()
    }
}
