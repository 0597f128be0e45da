//! A trading plugin's batches: one call per event, with its paper account
//! moving first and the plugin's orders placed before the next event.
//!
//! Calling per event is what makes fills independent of batching: an order
//! a plugin returns for an event works from the next event on, whatever
//! batch that event arrives in, so a replay gives the same fills however
//! the router cut the stream.

use crate::command::{AccountAnswer, AccountCommand, Refusal};
use crate::worker::Worker;
use prism_execution::OrderRequest;
use prism_model::{Delivery, Event, OrderOrigin, Output};
use prism_router::Batch;

/// Fills held for a plugin that is not running, at most; past it the
/// oldest are dropped from what the plugin will be shown (the account and
/// the fill records keep them all).
const MAX_HELD_FILLS: usize = 10_000;

impl Worker {
    /// Runs a batch of a plugin that trades.
    pub(crate) fn traded(&mut self, batch: Batch) {
        let mut seen: Vec<Event> = Vec::with_capacity(batch.events.len() + self.held_fills.len());
        let mut outputs: Vec<Output> = Vec::new();
        let mut fills = Vec::new();
        let mut market = 0u64;
        for (i, event) in batch.events.iter().enumerate() {
            let start = seen.len();
            if i == 0 {
                seen.append(&mut self.held_fills);
            }
            seen.push(event.clone());
            if let Some(executor) = self.executor.as_mut() {
                executor.observe(event, &mut fills);
            }
            seen.extend(fills.drain(..).map(Event::Fill));
            match self.call(&seen[start..]) {
                Ok(made) => {
                    market += u64::from(event.is_market());
                    self.place_orders(&made);
                    outputs.extend(made);
                }
                Err(fault) => {
                    // What ran joins the checkpoint's batches (a rebuilt
                    // instance replays it); the rest recovers as a batch.
                    let mut rest: Vec<Event> = seen.split_off(start);
                    rest.extend_from_slice(&batch.events[i + 1..]);
                    if !seen.is_empty() {
                        self.checkpoint.since.push(Batch {
                            events: seen,
                            position: batch.position,
                            previous: batch.previous,
                        });
                    }
                    self.carry = (outputs, market);
                    self.recover(
                        Batch {
                            events: rest,
                            position: batch.position,
                            previous: batch.previous,
                        },
                        &fault,
                    );
                    // The account still follows the market through the
                    // rest of the batch; its fills wait for the next call.
                    self.observe_idle(&batch.events[i + 1..]);
                    return;
                }
            }
        }
        let processed = Batch {
            events: seen,
            position: batch.position,
            previous: batch.previous,
        };
        self.delivered(&processed, market, outputs);
        self.checkpoint.since.push(processed);
        self.report_execution();
        self.maybe_checkpoint();
    }

    /// The account follows the market while the plugin does not run; the
    /// fills it makes wait for the plugin.
    pub(crate) fn observe_idle(&mut self, events: &[Event]) {
        let Some(executor) = self.executor.as_mut() else {
            return;
        };
        let mut fills = Vec::new();
        for event in events {
            executor.observe(event, &mut fills);
        }
        self.held_fills.extend(fills.into_iter().map(Event::Fill));
        if self.held_fills.len() > MAX_HELD_FILLS {
            let over = self.held_fills.len() - MAX_HELD_FILLS;
            self.held_fills.drain(..over);
        }
        self.report_execution();
    }

    /// Places the order intents among `outputs`.
    pub(crate) fn place_orders(&mut self, outputs: &[Output]) {
        let Some(executor) = self.executor.as_mut() else {
            return;
        };
        for output in outputs {
            if let Output::Order(intent) = output {
                executor.place(&OrderRequest::from_intent(intent));
            }
        }
    }

    /// Sends what the account did since the last report.
    pub(crate) fn report_execution(&mut self) {
        if let Some(report) = self.executor.as_mut().and_then(|e| e.take_report()) {
            self.send(Delivery::Execution(report));
        }
    }

    /// Carries out an operator's command on the account.
    pub(crate) fn account_command(
        &mut self,
        command: AccountCommand,
    ) -> Result<AccountAnswer, Refusal> {
        let executor = self.executor.as_mut().ok_or(Refusal::NoAccount)?;
        let placed = match command {
            AccountCommand::SetRisk { state, reason } => {
                executor.set_risk(state, reason);
                Vec::new()
            }
            AccountCommand::CloseAll => executor.close_all(),
            AccountCommand::Place(order) => {
                let instrument = executor
                    .instrument_id(&order.exchange, &order.symbol)
                    .ok_or_else(|| {
                        Refusal::UnknownInstrument(format!("{}:{}", order.exchange, order.symbol))
                    })?;
                vec![executor.place(&OrderRequest {
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
        let risk = executor.risk();
        self.report_execution();
        Ok(AccountAnswer {
            orders: placed,
            risk,
        })
    }
}
