//! Funding-rate arbitrage between venues.
//!
//! Exact meaning (also in `docs/plugins/funding-arb.md`): each funding
//! event updates its instrument's hourly rate (`rate / interval_hours`).
//! At each boundary `B` (a multiple of `step_ms`, emitted when the first
//! event with `ts >= B` arrives), for every pair of instruments of one base
//! asset on different venues whose funding is at most `max_age_ms` old:
//! long the lower-funded, short the higher-funded, `spread_hourly` = short −
//! long, `gross_apr` = spread × 8760, `net_apr` = gross − 2 × (fee_long +
//! fee_short) × 8760 / `holding_hours`. The document `opportunities` lists
//! them all, best net APR first. A pair not entered whose net APR reaches
//! `entry_apr` is entered: a `long` signal on its long leg and a `short`
//! signal on its short leg, graded strong/medium/weak at 3×/2×/1× the
//! entry APR. An entered pair whose spread changes sign, or whose net APR
//! falls to `exit_apr`, is exited: a `flat` signal on each leg. With
//! `trade = true`, entries also emit market order intents for both legs
//! (size = `notional_usd` / the leg's mark price, rounded down to 8
//! decimals) and exits reduce-only closes of the same sizes.

pub mod config;
pub mod pairs;

use config::Config;
use pairs::{Leg, Opportunity, net_apr, opportunities};
use prism_sdk::rust_decimal::{Decimal, RoundingStrategy};
use prism_sdk::{
    Boundaries, Context, Direction, Event, EventKind, OrderIntent, Output, Plugin, PluginInfo,
    Side, Signal, Strength, Subscription, grade,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A pair entered on a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entered {
    long: u32,
    short: u32,
    /// Sizes of the orders sent on entry, to close the same on exit.
    long_size: Option<Decimal>,
    short_size: Option<Decimal>,
}

/// The plugin's whole state (what `snapshot` saves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FundingArb {
    config: Config,
    boundaries: Boundaries,
    /// Latest funding by instrument id.
    legs: BTreeMap<u32, Leg>,
    /// Entered pairs by `(long id, short id)`.
    entered: BTreeMap<(u32, u32), Entered>,
    orders: u64,
}

fn pct(apr: f64) -> String {
    format!("{:.2}%", apr * 100.0)
}

impl FundingArb {
    fn fresh_legs(&self, now: i64) -> Vec<&Leg> {
        self.legs
            .values()
            .filter(|l| now - l.ts <= self.config.max_age_ms)
            .collect()
    }

    fn signal(
        ctx: &mut Context,
        instrument: u32,
        ts: i64,
        direction: Direction,
        strength: Strength,
        reason: &str,
    ) {
        ctx.emit(Output::Signal(Signal {
            instrument,
            ts,
            direction,
            strength,
            reason: reason.to_owned(),
        }));
    }

    fn order(
        &mut self,
        ctx: &mut Context,
        instrument: u32,
        ts: i64,
        side: Side,
        size: Decimal,
        reduce_only: bool,
    ) -> Result<(), String> {
        self.orders += 1;
        let size = prism_sdk::Decimal::from_rust(size.normalize()).map_err(|e| e.to_string())?;
        ctx.emit(Output::Order(OrderIntent {
            client_id: format!("funding-arb-{}", self.orders),
            instrument,
            ts,
            side,
            size,
            limit_price: None,
            reduce_only,
        }));
        Ok(())
    }

    fn leg_size(&self, id: u32) -> Option<Decimal> {
        let mark = self.legs.get(&id)?.mark.filter(|m| *m > Decimal::ZERO)?;
        let size =
            (self.config.notional_usd / mark).round_dp_with_strategy(8, RoundingStrategy::ToZero);
        (size > Decimal::ZERO).then_some(size)
    }

    fn enter(&mut self, o: &Opportunity, ts: i64, ctx: &mut Context) -> Result<(), String> {
        let Some(strength) = grade(o.net_apr, self.config.entry_apr) else {
            return Ok(());
        };
        let reason = format!(
            "funding arb {}: long {}/{}, short {}/{}, net APR {}",
            o.base,
            o.long_exchange,
            o.long_symbol,
            o.short_exchange,
            o.short_symbol,
            pct(o.net_apr)
        );
        Self::signal(
            ctx,
            o.long_instrument,
            ts,
            Direction::Long,
            strength,
            &reason,
        );
        Self::signal(
            ctx,
            o.short_instrument,
            ts,
            Direction::Short,
            strength,
            &reason,
        );
        let mut entered = Entered {
            long: o.long_instrument,
            short: o.short_instrument,
            long_size: None,
            short_size: None,
        };
        if self.config.trade
            && let (Some(l), Some(s)) = (
                self.leg_size(o.long_instrument),
                self.leg_size(o.short_instrument),
            )
        {
            self.order(ctx, o.long_instrument, ts, Side::Buy, l, false)?;
            self.order(ctx, o.short_instrument, ts, Side::Sell, s, false)?;
            entered.long_size = Some(l);
            entered.short_size = Some(s);
        }
        self.entered
            .insert((o.long_instrument, o.short_instrument), entered);
        Ok(())
    }

    fn exits(&mut self, ts: i64, ctx: &mut Context) -> Result<(), String> {
        let keys: Vec<(u32, u32)> = self.entered.keys().copied().collect();
        for key in keys {
            let (Some(long), Some(short)) = (self.legs.get(&key.0), self.legs.get(&key.1)) else {
                continue;
            };
            let (spread, _, net) = net_apr(&self.config, long, short);
            let why = if spread < Decimal::ZERO {
                "the spread changed sign".to_owned()
            } else if net <= self.config.exit_apr {
                format!("net APR fell to {}", pct(net))
            } else {
                continue;
            };
            let reason = format!(
                "funding arb {} exit ({why}): long {}/{}, short {}/{}",
                long.base, long.exchange, long.symbol, short.exchange, short.symbol
            );
            Self::signal(ctx, key.0, ts, Direction::Flat, Strength::Strong, &reason);
            Self::signal(ctx, key.1, ts, Direction::Flat, Strength::Strong, &reason);
            if let Some(entered) = self.entered.remove(&key)
                && let (Some(l), Some(s)) = (entered.long_size, entered.short_size)
            {
                self.order(ctx, key.0, ts, Side::Sell, l, true)?;
                self.order(ctx, key.1, ts, Side::Buy, s, true)?;
            }
        }
        Ok(())
    }

    fn emit(&mut self, boundary: i64, ctx: &mut Context) -> Result<(), String> {
        self.exits(boundary, ctx)?;
        let list = opportunities(&self.config, &self.fresh_legs(boundary));
        for o in &list {
            let key = (o.long_instrument, o.short_instrument);
            if !self.entered.contains_key(&key) && o.net_apr >= self.config.entry_apr {
                self.enter(o, boundary, ctx)?;
            }
        }
        #[derive(Serialize)]
        struct Document<'a> {
            ts: i64,
            items: &'a [Opportunity],
        }
        ctx.document(
            "opportunities",
            boundary,
            &Document {
                ts: boundary,
                items: &list,
            },
        )
    }
}

impl Plugin for FundingArb {
    fn init(config: &str) -> Result<(Self, PluginInfo), String> {
        let config = Config::parse(config)?;
        let plugin = Self {
            boundaries: Boundaries::new(config.step_ms),
            config,
            legs: BTreeMap::new(),
            entered: BTreeMap::new(),
            orders: 0,
        };
        let info = PluginInfo::new(
            "funding-arb",
            env!("CARGO_PKG_VERSION"),
            Subscription::kinds(&[EventKind::Funding, EventKind::Trade, EventKind::Fill]),
        );
        Ok((plugin, info))
    }

    fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String> {
        let Some(ts) = event.ts() else { return Ok(()) };
        for boundary in self.boundaries.due(ts) {
            self.emit(boundary, ctx)?;
        }
        if let Event::Funding(f) = event {
            let Some(instrument) = ctx.instruments().get(f.instrument) else {
                return Ok(());
            };
            if f.interval_hours == 0 {
                return Ok(());
            }
            let rate = f.rate.to_rust().map_err(|e| e.to_string())?;
            let mark = f
                .mark_price
                .map(|m| m.to_rust())
                .transpose()
                .map_err(|e| e.to_string())?;
            let leg = Leg {
                instrument: f.instrument,
                exchange: instrument.exchange.clone(),
                symbol: instrument.symbol.clone(),
                base: instrument.base.clone(),
                hourly: rate / Decimal::from(f.interval_hours),
                mark: mark.or_else(|| self.legs.get(&f.instrument).and_then(|l| l.mark)),
                ts: f.ts,
            };
            self.legs.insert(f.instrument, leg);
        }
        Ok(())
    }

    fn snapshot(&self) -> Vec<u8> {
        prism_sdk::state::encode(self)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let restored: Self = prism_sdk::state::decode(state, "funding-arb")?;
        // The operator's current config wins; the data carries over.
        let config = std::mem::replace(self, restored).config;
        self.boundaries = self.boundaries.with_step(config.step_ms);
        self.config = config;
        Ok(())
    }
}

prism_sdk::export_plugin!(FundingArb);

#[cfg(test)]
mod tests;
