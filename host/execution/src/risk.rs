//! The gate every order passes: the plugin's risk state, the instrument's
//! freshness, and each limit; and what moves the state: the daily loss,
//! stop-losses, take-profits and the operator.

use crate::account::{MAX_WORKING_ORDERS, PaperAccount, Working};
use crate::settings::Trigger;
use prism_model::{
    Decimal, InstrumentId, OrderIntent, OrderOrigin, OrderRecord, OrderStatus, RiskState, Side,
};
use std::sync::Arc;

/// An order for an account: a plugin's intent, or one the host makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub client_id: Arc<str>,
    pub instrument: InstrumentId,
    pub side: Side,
    pub size: Decimal,
    pub limit_price: Option<Decimal>,
    pub reduce_only: bool,
    pub origin: OrderOrigin,
}

impl OrderRequest {
    /// A plugin's order intent.
    #[must_use]
    pub fn from_intent(intent: &OrderIntent) -> Self {
        Self {
            client_id: intent.client_id.clone(),
            instrument: intent.instrument.id,
            side: intent.side,
            size: intent.size,
            limit_price: intent.limit_price,
            reduce_only: intent.reduce_only,
            origin: OrderOrigin::Plugin,
        }
    }
}

const MINUTE_MS: i64 = 60_000;

/// Bytes a client id may have: it is kept with every working order.
pub const MAX_CLIENT_ID: usize = 64;

impl PaperAccount {
    /// Places an order at the account's event time: it is accepted (and
    /// works from the next event on) or rejected with the rule or limit it
    /// broke. Returns the order as it stands.
    pub fn place(&mut self, request: &OrderRequest) -> OrderRecord {
        let now = self.book.now;
        self.book.seq += 1;
        let (exchange, symbol) = self.names(request.instrument);
        let mut record = OrderRecord {
            id: Arc::from(format!("{}:{}", self.plugin, self.book.seq)),
            plugin: self.plugin.clone(),
            client_id: request.client_id.clone(),
            origin: request.origin,
            instrument: request.instrument,
            exchange,
            symbol,
            side: request.side,
            size: request.size,
            limit_price: request.limit_price,
            reduce_only: request.reduce_only,
            status: OrderStatus::Open,
            filled: Decimal::ZERO,
            average_price: None,
            fees: Decimal::ZERO,
            reason: None,
            ts: now,
            updated_ts: now,
        };
        match self.refusal(request) {
            Some(reason) => {
                record.status = OrderStatus::Rejected;
                record.reason = Some(reason);
            }
            None => {
                self.book.recent.push_back(now);
                let taker = match request.limit_price {
                    None => true,
                    Some(limit) => self.crosses(request.instrument, request.side, limit),
                };
                self.book.working.push(Working {
                    record: record.clone(),
                    taker,
                    fills: 0,
                });
            }
        }
        self.report.orders.push(record.clone());
        record
    }

    /// Whether a limit order at `limit` would take liquidity now: it
    /// crosses the best opposite level of a fresh book, or the last price.
    fn crosses(&self, id: InstrumentId, side: Side, limit: Decimal) -> bool {
        let Some(market) = self.book.markets.get(&id) else {
            return false;
        };
        let buy = side == Side::Buy;
        let reference = if market.has_book(buy, self.book.now, self.settings.stale_after_ms) {
            if buy {
                market.asks.first_key_value().map(|(p, _)| *p)
            } else {
                market.bids.last_key_value().map(|(p, _)| *p)
            }
        } else {
            market.price.map(|(p, _)| p)
        };
        reference.is_some_and(|r| if buy { limit >= r } else { limit <= r })
    }

    /// Why `request` may not be placed now, if it may not.
    fn refusal(&mut self, request: &OrderRequest) -> Option<String> {
        let now = self.book.now;
        let id = request.instrument;
        if request.origin != OrderOrigin::Close {
            match self.book.risk.state {
                RiskState::Halted => return Some("halted: every order is rejected".into()),
                RiskState::Reducing if !request.reduce_only => {
                    return Some("reducing: only reduce-only orders pass".into());
                }
                _ => {}
            }
        }
        if request.client_id.is_empty() || request.client_id.len() > MAX_CLIENT_ID {
            return Some(format!(
                "client id must be 1 to {MAX_CLIENT_ID} bytes, got {}",
                request.client_id.len()
            ));
        }
        if request.size <= Decimal::ZERO {
            return Some(format!("size must be positive, got {}", request.size));
        }
        if request.limit_price.is_some_and(|p| p <= Decimal::ZERO) {
            return Some("limit price must be positive".into());
        }
        if !crate::market::sane(request.size)
            || request.limit_price.is_some_and(|p| !crate::market::sane(p))
        {
            return Some(format!(
                "size and limit price must be at most {}",
                crate::market::MAX_AMOUNT
            ));
        }
        if self.instrument(id).is_none() {
            return Some(format!("unknown instrument {}", id.0));
        }
        let Some((price, seen)) = self.book.markets.get(&id).and_then(|m| m.price) else {
            return Some("stale instrument: no price seen yet".into());
        };
        if now - seen > self.settings.stale_after_ms {
            return Some(format!(
                "stale instrument: last price {} ms ago (stale_after {} ms)",
                now - seen,
                self.settings.stale_after_ms
            ));
        }
        if self.book.working.len() >= MAX_WORKING_ORDERS {
            return Some(format!("too many working orders ({MAX_WORKING_ORDERS})"));
        }
        if self
            .book
            .working
            .iter()
            .any(|w| w.record.client_id == request.client_id)
        {
            return Some(format!(
                "client id `{}` is already working",
                request.client_id
            ));
        }
        let position = self
            .book
            .positions
            .get(&id)
            .map_or(Decimal::ZERO, |p| p.size);
        if request.reduce_only {
            let reducible = self
                .book
                .positions
                .get(&id)
                .map_or(Decimal::ZERO, |p| p.reducible(request.side));
            if reducible.is_zero() {
                return Some("reduce-only: no position to reduce".into());
            }
        }
        let limits = &self.settings.risk;
        let reference = request.limit_price.unwrap_or(price);
        let notional = request.size * reference;
        // Protective and operator closes are never held back by the order
        // limits: they only ever shrink what is at risk.
        let protective = matches!(
            request.origin,
            OrderOrigin::Close | OrderOrigin::StopLoss | OrderOrigin::TakeProfit
        );
        if protective {
            return None;
        }
        if let Some(max) = limits.max_order_notional
            && notional > max
        {
            return Some(format!("max_order_notional: {notional} > {max}"));
        }
        if let Some(max) = limits.max_orders_per_minute {
            while self
                .book
                .recent
                .front()
                .is_some_and(|t| now - *t >= MINUTE_MS)
            {
                self.book.recent.pop_front();
            }
            if self.book.recent.len() >= max as usize {
                return Some(format!(
                    "max_orders_per_minute: {max} orders in the last minute"
                ));
            }
        }
        if request.reduce_only {
            return None;
        }
        // The position this order would make, with the orders working on
        // the same instrument that could add to it.
        let signed = |side: Side, size: Decimal| if side == Side::Buy { size } else { -size };
        let working: Decimal = self
            .book
            .working
            .iter()
            .filter(|w| w.record.instrument == id && !w.record.reduce_only)
            .map(|w| signed(w.record.side, w.remaining()))
            .sum();
        let before = (position + working).abs();
        let after = (position + working + signed(request.side, request.size)).abs();
        if after <= before {
            return None;
        }
        if let Some(max) = limits.max_position_notional
            && after * reference > max
        {
            return Some(format!(
                "max_position_notional: {} > {max}",
                after * reference
            ));
        }
        let others: Decimal = self
            .book
            .positions
            .iter()
            .filter(|(other, _)| **other != id)
            .map(|(other, p)| (p.size * self.mark(*other).unwrap_or(p.entry)).abs())
            .sum();
        let gross = others + after * reference;
        if let Some(max) = limits.max_gross_notional
            && gross > max
        {
            return Some(format!("max_gross_notional: {gross} > {max}"));
        }
        if let (Some(max), Some(exposure)) = (limits.max_total_gross_notional, &self.exposure) {
            let total = exposure.others(&self.plugin) + gross;
            if total > max {
                return Some(format!(
                    "max_total_gross_notional: {total} over every plugin > {max}"
                ));
            }
        }
        None
    }

    /// Fires the stop-loss or take-profit of the position in `id` when its
    /// mark reached it: a reduce-only market order for the whole position.
    pub(crate) fn check_stops(&mut self, id: InstrumentId) {
        let Some(instrument) = self.instrument(id) else {
            return;
        };
        let stops = self.settings.risk.stops_for(instrument);
        if stops.stop_loss.is_none() && stops.take_profit.is_none() {
            return;
        }
        let (Some(mark), Some(p)) = (self.mark(id), self.book.positions.get(&id)) else {
            return;
        };
        if p.size.is_zero() || p.protecting {
            return;
        }
        let long = p.size.is_sign_positive();
        let hundred = Decimal::ONE_HUNDRED;
        let level = |t: Trigger, loss: bool| match t {
            Trigger::Price(price) => price,
            Trigger::Percent(pct) => {
                let away = p.entry * pct / hundred;
                if long == loss {
                    p.entry - away
                } else {
                    p.entry + away
                }
            }
        };
        let hit_loss = stops
            .stop_loss
            .map(|t| level(t, true))
            .is_some_and(|l| if long { mark <= l } else { mark >= l });
        let hit_profit = stops
            .take_profit
            .map(|t| level(t, false))
            .is_some_and(|l| if long { mark >= l } else { mark <= l });
        let origin = match (hit_loss, hit_profit) {
            (true, _) => OrderOrigin::StopLoss,
            (false, true) => OrderOrigin::TakeProfit,
            _ => return,
        };
        let size = p.size.abs();
        let side = if long { Side::Sell } else { Side::Buy };
        let name = if origin == OrderOrigin::StopLoss {
            "stop-loss"
        } else {
            "take-profit"
        };
        let request = OrderRequest {
            client_id: Arc::from(format!("{name}-{}", self.book.seq + 1)),
            instrument: id,
            side,
            size,
            limit_price: None,
            reduce_only: true,
            origin,
        };
        if self.place(&request).status == OrderStatus::Open
            && let Some(p) = self.book.positions.get_mut(&id)
        {
            p.protecting = true;
        }
    }

    /// Moves an active plugin to `reducing` when its loss since the start
    /// of the UTC day reached `max_daily_loss`.
    pub(crate) fn check_daily_loss(&mut self) {
        let Some(max) = self.settings.risk.max_daily_loss else {
            return;
        };
        if self.book.risk.state != RiskState::Active {
            return;
        }
        let day = self.total_pnl() - self.book.day_start_total;
        if day <= -max {
            self.set_risk(
                RiskState::Reducing,
                format!("max_daily_loss: {day} since the start of the day (limit {max})"),
            );
        }
    }

    /// Sets the risk state (an operator, or a limit).
    pub fn set_risk(&mut self, state: RiskState, reason: String) {
        self.book.risk.state = state;
        self.book.risk.reason = Some(reason);
        self.risk_changed = true;
    }

    /// "Close everything": first every working order that could open or
    /// grow a position (all but reduce-only ones) is canceled, so none
    /// fills after the closes and leaves a position open; then a
    /// reduce-only market order for each open position. They pass whatever
    /// the risk state. Returns the closes.
    pub fn close_all(&mut self) -> Vec<OrderRecord> {
        self.cancel_working(
            |w| !w.record.reduce_only,
            "canceled by close-all: it could have reopened a position",
        );
        let positions = self.open_positions();
        let mut placed = Vec::new();
        for (id, size) in positions {
            let request = OrderRequest {
                client_id: Arc::from(format!("close-{}", self.book.seq + 1)),
                instrument: id,
                side: if size.is_sign_positive() {
                    Side::Sell
                } else {
                    Side::Buy
                },
                size: size.abs(),
                limit_price: None,
                reduce_only: true,
                origin: OrderOrigin::Close,
            };
            placed.push(self.place(&request));
        }
        placed
    }
}
