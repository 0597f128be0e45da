//! A trading plugin's batches: one call per event, with its paper account
//! moving first and the plugin's orders placed before the next event.
//!
//! Calling per event is what makes fills independent of batching: an order
//! a plugin returns for an event works from the next event on, whatever
//! batch that event arrives in, so a replay gives the same fills however
//! the router cut the stream.

use crate::command::{AccountAnswer, AccountCommand, Refusal};
use crate::worker::Worker;
use prism_execution::{Executor, OrderRequest};
use prism_model::{Delivery, Event, OrderOrigin, Output};
use prism_router::Batch;

/// Fills held for a plugin that is not running, at most; past it the
/// oldest are dropped from what the plugin will be shown (the account and
/// the fill records keep them all).
const MAX_HELD_FILLS: usize = 10_000;

impl Worker {
    /// Runs a batch of a plugin that trades.
    pub(crate) fn traded(&mut self, batch: Batch) {
        let Batch {
            events,
            position,
            previous,
        } = batch;
        let batch_of = |events| Batch {
            events: std::sync::Arc::new(events),
            position,
            previous,
        };
        let mut seen: Vec<Event> = Vec::with_capacity(events.len() + self.held_fills.len());
        seen.append(&mut self.held_fills);
        let mut outputs: Vec<Output> = Vec::new();
        let mut fills = Vec::new();
        let mut market = 0u64;
        // A trading plugin's batch is its own: taken without a copy.
        let mut pending = std::sync::Arc::unwrap_or_clone(events).into_iter();
        // The first call also hands over the fills held while not running.
        let mut start = 0;
        while let Some(event) = pending.next() {
            self.with_account(|a| a.observe(&event, &mut fills));
            let counted = u64::from(event.is_market());
            seen.push(event);
            seen.extend(fills.drain(..).map(Event::Fill));
            match self.call(&seen[start..]) {
                Ok(made) => {
                    market += counted;
                    self.place_orders(&made);
                    outputs.extend(made);
                    start = seen.len();
                }
                Err(fault) => {
                    // What ran joins the checkpoint's batches (a rebuilt
                    // instance replays it); the rest recovers as a batch.
                    let after: Vec<Event> = pending.collect();
                    let mut rest = seen.split_off(start);
                    rest.extend(after.iter().cloned());
                    if !seen.is_empty() {
                        self.checkpoint.since.push(batch_of(seen));
                    }
                    self.carry = (outputs, market);
                    self.recover(batch_of(rest), &fault);
                    // The account still follows the market through the
                    // rest of the batch; its fills wait for the next call.
                    self.observe_idle(&after);
                    return;
                }
            }
        }
        let processed = batch_of(seen);
        self.delivered(&processed, market, outputs);
        self.checkpoint.since.push(processed);
        self.report_execution();
        self.maybe_checkpoint();
    }

    /// The account follows the market while the plugin does not run; the
    /// fills it makes wait for the plugin.
    pub(crate) fn observe_idle(&mut self, events: &[Event]) {
        if self.executor.is_none() {
            return;
        }
        let mut fills = Vec::new();
        self.with_account(|a| {
            for event in events {
                a.observe(event, &mut fills);
            }
        });
        self.held_fills.extend(fills.into_iter().map(Event::Fill));
        if self.held_fills.len() > MAX_HELD_FILLS {
            let over = self.held_fills.len() - MAX_HELD_FILLS;
            self.held_fills.drain(..over);
        }
        self.report_execution();
    }

    /// Places the order intents among `outputs`.
    pub(crate) fn place_orders(&mut self, outputs: &[Output]) {
        if !outputs.iter().any(|o| matches!(o, Output::Order(_))) {
            return;
        }
        self.with_account(|a| {
            for output in outputs {
                if let Output::Order(intent) = output {
                    a.place(&OrderRequest::from_intent(intent));
                }
            }
        });
    }

    /// Runs `f` on the account. The account's arithmetic is bounded so it
    /// cannot overflow; should it panic all the same, the plugin keeps
    /// running without it (its orders are no longer executed) and the
    /// fault is reported, rather than the worker thread dying.
    fn with_account<T>(&mut self, f: impl FnOnce(&mut dyn Executor) -> T) -> Option<T> {
        let executor = self.executor.as_mut()?;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(executor.as_mut()))) {
            Ok(v) => Some(v),
            Err(_) => {
                self.executor = None;
                self.fault(&prism_runtime::Fault {
                    kind: prism_runtime::FaultKind::Trap,
                    message: "the paper account failed; the plugin's orders are no longer executed"
                        .into(),
                });
                None
            }
        }
    }

    /// Sends what the account did since the last report.
    pub(crate) fn report_execution(&mut self) {
        if let Some(mut report) = self.with_account(|a| a.take_report()).flatten() {
            report.position = self.position;
            self.send(Delivery::Execution(report));
        }
    }

    /// Carries out an operator's command on the account.
    pub(crate) fn account_command(
        &mut self,
        command: AccountCommand,
    ) -> Result<AccountAnswer, Refusal> {
        if let AccountCommand::Configure(settings, exposure) = command {
            return Ok(self.configure(settings, exposure));
        }
        if self.executor.is_none() {
            return Err(Refusal::NoAccount);
        }
        let answer = self.with_account(|a| {
            let orders = match command {
                AccountCommand::SetRisk { state, reason } => {
                    a.set_risk(state, reason);
                    Vec::new()
                }
                AccountCommand::CloseAll => a.close_all(),
                AccountCommand::Configure(..) => Vec::new(),
                AccountCommand::Place(order) => {
                    let instrument =
                        a.instrument_id(&order.exchange, &order.symbol)
                            .ok_or_else(|| {
                                Refusal::UnknownInstrument(format!(
                                    "{}:{}",
                                    order.exchange, order.symbol
                                ))
                            })?;
                    vec![a.place(&OrderRequest {
                        client_id: order.client_id,
                        instrument,
                        side: order.side,
                        size: order.size,
                        limit_price: order.limit_price,
                        reduce_only: order.reduce_only,
                        origin: OrderOrigin::Manual,
                    })]
                }
            };
            Ok(AccountAnswer {
                orders,
                risk: Some(a.risk()),
            })
        });
        self.report_execution();
        answer.unwrap_or(Err(Refusal::NoAccount))
    }

    fn configure(
        &mut self,
        settings: Option<prism_execution::ExecutionSettings>,
        exposure: std::sync::Arc<prism_execution::Exposure>,
    ) -> AccountAnswer {
        match (settings, self.executor.as_mut()) {
            (Some(s), Some(a)) => a.configure(s),
            (Some(s), None) => {
                if let Some(candidate) = self.candidate.take() {
                    // Trading, the plugin's events follow its own fills.
                    candidate
                        .report
                        .end("discarded: the plugin now trades on paper");
                }
                self.executor = Some(Box::new(
                    prism_execution::PaperAccount::new(self.id.clone(), s).with_exposure(exposure),
                ));
            }
            (None, _) => {
                if self.executor.take().is_some() {
                    tracing::warn!(plugin = %self.id, "paper trading turned off: the account and its positions are dropped");
                }
            }
        }
        let risk = self.with_account(|a| a.risk());
        self.report_execution();
        AccountAnswer {
            orders: Vec::new(),
            risk,
        }
    }
}
