//! One plugin's paper account: its working orders, positions and the
//! market it trades in, moved only by events in stream order.

use crate::market::{Market, next_boundary};
use crate::position::Position;
use crate::settings::ExecutionSettings;
use prism_model::{
    Decimal, Event, ExecutionReport, Fill, Instrument, InstrumentId, MarketKind, OrderRecord,
    OrderStatus, PnlPoint, PositionRecord, RiskRecord, RiskState, TimestampMs,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Working orders per plugin at most: past it new orders are rejected.
pub const MAX_WORKING_ORDERS: usize = 1_000;

const DAY_MS: TimestampMs = 86_400_000;

/// An order that can still fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Working {
    pub(crate) record: OrderRecord,
    /// Takes liquidity: a market order, or a limit order that crossed the
    /// market when placed (until its first matching event).
    pub(crate) taker: bool,
    /// Fills so far (numbers the fill ids).
    pub(crate) fills: u32,
}

impl Working {
    pub(crate) fn remaining(&self) -> Decimal {
        self.record.size - self.record.filled
    }
}

/// Everything the account keeps across a restart (its checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Book {
    /// Event time: the latest event time seen.
    pub(crate) now: TimestampMs,
    /// Orders placed so far (numbers the order ids).
    pub(crate) seq: u64,
    /// Working orders, oldest first (time priority).
    pub(crate) working: Vec<Working>,
    pub(crate) positions: BTreeMap<InstrumentId, Position>,
    pub(crate) markets: BTreeMap<InstrumentId, Market>,
    pub(crate) instruments: BTreeMap<InstrumentId, Instrument>,
    pub(crate) risk: RiskGate,
    /// Event times of the orders accepted within the last minute.
    pub(crate) recent: VecDeque<TimestampMs>,
    /// The UTC day (event time) and the total PnL when it began.
    pub(crate) day: i64,
    pub(crate) day_start_total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RiskGate {
    pub(crate) state: RiskState,
    pub(crate) reason: Option<String>,
}

impl Default for RiskGate {
    fn default() -> Self {
        Self {
            state: RiskState::Active,
            reason: None,
        }
    }
}

/// Why an account's saved state could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("the paper account's saved state is unreadable: {0}")]
pub struct RestoreError(String);

/// One plugin's paper account.
#[derive(Debug)]
pub struct PaperAccount {
    pub(crate) plugin: Arc<str>,
    pub(crate) settings: ExecutionSettings,
    pub(crate) book: Book,
    /// What changed since the last report.
    pub(crate) report: ExecutionReport,
    pub(crate) dirty: BTreeSet<InstrumentId>,
    pub(crate) risk_changed: bool,
    /// Every trading plugin's gross notional, for `max_total_gross_notional`.
    pub(crate) exposure: Option<Arc<crate::Exposure>>,
}

impl Drop for PaperAccount {
    /// A closed account holds nothing any more.
    fn drop(&mut self) {
        if let Some(exposure) = &self.exposure {
            exposure.publish(&self.plugin, Decimal::ZERO);
        }
    }
}

impl PaperAccount {
    /// A new, flat account for `plugin`.
    #[must_use]
    pub fn new(plugin: Arc<str>, settings: ExecutionSettings) -> Self {
        Self {
            plugin,
            settings,
            book: Book::default(),
            report: ExecutionReport::default(),
            dirty: BTreeSet::new(),
            // The first report names the plugin's risk state.
            risk_changed: true,
            exposure: None,
        }
    }

    /// Shares this account's gross notional with the other plugins', for
    /// the limit across plugins (`max_total_gross_notional`).
    #[must_use]
    pub fn with_exposure(mut self, exposure: Arc<crate::Exposure>) -> Self {
        self.exposure = Some(exposure);
        self
    }

    /// Replaces the settings (a config reload); positions stay.
    pub fn set_settings(&mut self, settings: ExecutionSettings) {
        self.settings = settings;
    }

    /// The account's state, for a checkpoint.
    #[must_use]
    pub fn snapshot(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(&self.book).unwrap_or_default()
    }

    /// Restores a state written by [`Self::snapshot`].
    ///
    /// # Errors
    /// When `state` is not an account state; the account is left as it was.
    pub fn restore(&mut self, state: &[u8]) -> Result<(), RestoreError> {
        self.book = rmp_serde::from_slice(state).map_err(|e| RestoreError(e.to_string()))?;
        self.risk_changed = true;
        self.dirty.extend(self.book.positions.keys().copied());
        Ok(())
    }

    /// Takes one event, in stream order, before the plugin sees it: funding
    /// falls due, the market moves, working orders fill. Fills for the
    /// plugin are appended to `fills`, stamped with the event's time.
    pub fn observe(&mut self, event: &Event, fills: &mut Vec<Fill>) {
        if let Event::Instrument(i) = event {
            self.book.instruments.insert(i.id, (**i).clone());
            return;
        }
        let Some(ts) = event.ts() else { return };
        if matches!(event, Event::Fill(_)) {
            return;
        }
        self.book.now = self.book.now.max(ts);
        self.roll_day();
        self.settle_announced();
        let Some(id) = event.instrument() else {
            self.expire();
            return;
        };
        match event {
            Event::Trade(t) if crate::market::sane(t.price) && crate::market::sane(t.size) => {
                self.market(id).set_price(t.price, t.ts);
                // Takers facing a fresh book walk it; the others meet the trade.
                self.match_book(id, fills);
                self.match_trade(id, t.price, t.size, fills);
            }
            Event::Book(b) => {
                self.market(id).apply_book(b);
                self.match_book(id, fills);
            }
            Event::Funding(f) if Market::credible(f) => {
                self.market(id).apply_funding(f);
                self.settle_at_event(id, f.rate, f.mark_price);
            }
            _ => {}
        }
        if self
            .book
            .positions
            .get(&id)
            .is_some_and(|p| !p.size.is_zero())
        {
            self.dirty.insert(id);
        }
        self.expire();
        self.check_stops(id);
        self.check_daily_loss();
    }

    pub(crate) fn market(&mut self, id: InstrumentId) -> &mut Market {
        self.book.markets.entry(id).or_default()
    }

    pub(crate) fn mark(&self, id: InstrumentId) -> Option<Decimal> {
        self.book
            .markets
            .get(&id)
            .and_then(|m| m.price)
            .map(|(p, _)| p)
    }

    pub(crate) fn instrument(&self, id: InstrumentId) -> Option<&Instrument> {
        self.book.instruments.get(&id)
    }

    fn is_perpetual(&self, id: InstrumentId) -> bool {
        self.instrument(id)
            .is_some_and(|i| i.kind == MarketKind::Perpetual)
    }

    fn roll_day(&mut self) {
        let day = self.book.now.div_euclid(DAY_MS);
        if day != self.book.day {
            self.book.day = day;
            self.book.day_start_total = self.total_pnl();
        }
    }

    /// The open position's next announced funding time (a venue that
    /// announces them), set when it opens or the first announcement comes.
    pub(crate) fn schedule_funding(&mut self, id: InstrumentId) {
        if !self.is_perpetual(id) {
            return;
        }
        let announced = self
            .book
            .markets
            .get(&id)
            .and_then(|m| m.announced.filter(|_| m.scheduled));
        let Some(position) = self.book.positions.get_mut(&id) else {
            return;
        };
        if position.size.is_zero() || position.funding_due.is_some() {
            return;
        }
        let since = position.last_funding.unwrap_or(position.opened_ts);
        position.funding_due = announced.map(|a| a.at).filter(|at| *at > since);
    }

    /// Settles every position whose venue announced the rate for a funding
    /// time that event time has now reached: the rate paid is the last one
    /// announced for that time, whatever event first passes it.
    fn settle_announced(&mut self) {
        let now = self.book.now;
        let due: Vec<(InstrumentId, TimestampMs)> = self
            .book
            .positions
            .iter()
            .filter(|(_, p)| !p.size.is_zero())
            .filter_map(|(id, p)| p.funding_due.filter(|at| *at <= now).map(|at| (*id, at)))
            .collect();
        for (id, at) in due {
            let announced = self
                .book
                .markets
                .get(&id)
                .and_then(|m| m.announced)
                .filter(|a| a.at == at);
            if let Some(a) = announced {
                let mark = a.mark.or(self.mark(id));
                self.pay_funding(id, at, a.rate, mark);
            }
            if let Some(p) = self.book.positions.get_mut(&id) {
                p.last_funding = Some(at);
                p.funding_due = None;
            }
            // The next time comes with the venue's next announcement.
            self.schedule_funding(id);
        }
    }

    /// At a funding event of `id`: a venue that announces its funding times
    /// schedules the position's next payment; one that does not (funding
    /// history rows, hourly venues) pays at the first funding event of each
    /// interval after the position opened (or last paid), at that event's
    /// own rate.
    fn settle_at_event(&mut self, id: InstrumentId, rate: Decimal, mark: Option<Decimal>) {
        let now = self.book.now;
        let (scheduled, interval_ms) = self.book.markets.get(&id).map_or_else(
            || (false, Market::default().interval_ms()),
            |m| (m.scheduled, m.interval_ms()),
        );
        if scheduled {
            self.schedule_funding(id);
            return;
        }
        if !self.is_perpetual(id) {
            return;
        }
        let Some(p) = self.book.positions.get(&id).filter(|p| !p.size.is_zero()) else {
            return;
        };
        let since = p.last_funding.unwrap_or(p.opened_ts);
        if now >= next_boundary(since, interval_ms) {
            let mark = mark.or(self.mark(id));
            self.pay_funding(id, now, rate, mark);
            if let Some(p) = self.book.positions.get_mut(&id) {
                p.last_funding = Some(now);
            }
        }
    }

    fn pay_funding(
        &mut self,
        id: InstrumentId,
        at: TimestampMs,
        rate: Decimal,
        mark: Option<Decimal>,
    ) {
        let Some(mark) = mark else { return };
        let Some(position) = self.book.positions.get_mut(&id) else {
            return;
        };
        let size = position.size;
        let amount = position.pay_funding(mark, rate);
        self.dirty.insert(id);
        let (exchange, symbol) = self.names(id);
        self.report.funding.push(prism_model::FundingPayment {
            plugin: self.plugin.clone(),
            instrument: id,
            exchange,
            symbol,
            size: size.normalize(),
            mark_price: mark,
            rate,
            amount: amount.normalize(),
            ts: at,
        });
    }

    pub(crate) fn names(&self, id: InstrumentId) -> (Arc<str>, Arc<str>) {
        match self.instrument(id) {
            Some(i) => (i.exchange.clone(), i.symbol.clone()),
            None => (Arc::from(""), Arc::from(id.0.to_string())),
        }
    }

    /// Cancels market orders that found no liquidity within `stale_after`.
    fn expire(&mut self) {
        let now = self.book.now;
        let limit = self.settings.stale_after_ms;
        self.cancel_working(
            |w| w.record.limit_price.is_none() && now - w.record.ts > limit,
            &format!("no liquidity within stale_after ({limit} ms of event time)"),
        );
    }

    /// Cancels the working orders `which` picks, with `reason`; each is
    /// reported.
    pub(crate) fn cancel_working(&mut self, which: impl Fn(&Working) -> bool, reason: &str) {
        let now = self.book.now;
        let mut ended = Vec::new();
        self.book.working.retain_mut(|w| {
            let cancel = which(w);
            if cancel {
                w.record.status = OrderStatus::Canceled;
                w.record.reason = Some(reason.to_owned());
                w.record.updated_ts = now;
                ended.push(w.record.clone());
            }
            !cancel
        });
        for record in ended {
            self.unprotect(&record);
            self.report.orders.push(record);
        }
    }

    /// A protective order ended: the position may be protected again.
    pub(crate) fn unprotect(&mut self, record: &OrderRecord) {
        if matches!(
            record.origin,
            prism_model::OrderOrigin::StopLoss | prism_model::OrderOrigin::TakeProfit
        ) && let Some(p) = self.book.positions.get_mut(&record.instrument)
        {
            p.protecting = false;
        }
    }

    /// Sum of every position's PnL.
    pub(crate) fn total_pnl(&self) -> Decimal {
        self.book
            .positions
            .iter()
            .map(|(id, p)| p.total(self.mark(*id)))
            .sum()
    }

    /// Sum of the open positions' notionals at their marks.
    pub(crate) fn gross_notional(&self) -> Decimal {
        self.book
            .positions
            .iter()
            .map(|(id, p)| (p.size * self.mark(*id).unwrap_or(p.entry)).abs())
            .sum()
    }

    /// What changed since the last call, or `None` when nothing did.
    pub fn take_report(&mut self) -> Option<ExecutionReport> {
        let now = self.book.now;
        if !self.dirty.is_empty()
            && let Some(exposure) = &self.exposure
        {
            exposure.publish(&self.plugin, self.gross_notional());
        }
        for id in std::mem::take(&mut self.dirty) {
            let Some(p) = self.book.positions.get(&id) else {
                continue;
            };
            let mark = self.mark(id);
            let (exchange, symbol) = self.names(id);
            let base = self
                .instrument(id)
                .map_or_else(|| Arc::from(""), |i| i.base.clone());
            self.report.positions.push(PositionRecord {
                plugin: self.plugin.clone(),
                instrument: id,
                exchange,
                symbol,
                base,
                size: p.size.normalize(),
                entry_price: (!p.size.is_zero()).then(|| p.entry.normalize()),
                mark_price: mark,
                realized: p.realized.normalize(),
                unrealized: p.unrealized(mark).normalize(),
                funding: p.funding.normalize(),
                fees: p.fees.normalize(),
                total: p.total(mark).normalize(),
                ts: now,
            });
        }
        if !self.report.positions.is_empty() {
            let mut point = PnlPoint {
                plugin: self.plugin.clone(),
                ts: now,
                realized: Decimal::ZERO,
                unrealized: Decimal::ZERO,
                funding: Decimal::ZERO,
                fees: Decimal::ZERO,
                total: Decimal::ZERO,
            };
            for (id, p) in &self.book.positions {
                let mark = self.mark(*id);
                point.realized += p.realized;
                point.unrealized += p.unrealized(mark);
                point.funding += p.funding;
                point.fees += p.fees;
            }
            point.total =
                (point.realized + point.unrealized + point.funding - point.fees).normalize();
            point.realized = point.realized.normalize();
            point.unrealized = point.unrealized.normalize();
            point.funding = point.funding.normalize();
            point.fees = point.fees.normalize();
            self.report.pnl = Some(point);
        }
        if std::mem::take(&mut self.risk_changed) {
            self.report.risk = Some(self.risk_record());
        }
        let report = std::mem::take(&mut self.report);
        (!report.is_empty()).then_some(report)
    }

    /// The risk state as the API shows it.
    #[must_use]
    pub fn risk_record(&self) -> RiskRecord {
        RiskRecord {
            plugin: self.plugin.clone(),
            state: self.book.risk.state,
            reason: self.book.risk.reason.clone(),
            gross_notional: self.gross_notional().normalize(),
            day_pnl: (self.total_pnl() - self.book.day_start_total).normalize(),
            ts: self.book.now,
        }
    }

    /// The current state of the risk gate.
    #[must_use]
    pub fn risk_state(&self) -> RiskState {
        self.book.risk.state
    }

    /// Event time as the account last saw it.
    #[must_use]
    pub fn now(&self) -> TimestampMs {
        self.book.now
    }

    /// Open positions, for a "close everything".
    pub(crate) fn open_positions(&self) -> Vec<(InstrumentId, Decimal)> {
        self.book
            .positions
            .iter()
            .filter(|(_, p)| !p.size.is_zero())
            .map(|(id, p)| (*id, p.size))
            .collect()
    }

    /// The id of the instrument `exchange`/`symbol`, when the account met it.
    #[must_use]
    pub fn instrument_id(&self, exchange: &str, symbol: &str) -> Option<InstrumentId> {
        self.book
            .instruments
            .values()
            .find(|i| &*i.exchange == exchange && &*i.symbol == symbol)
            .map(|i| i.id)
    }
}
