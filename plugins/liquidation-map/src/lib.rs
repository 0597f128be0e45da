//! Liquidation map: where liquidations happened and where they would.
//!
//! Exact meaning (also in `docs/plugins/liquidation-map.md`): at each
//! boundary `B` (a multiple of `step_ms`, emitted when the first event with
//! `ts >= B` arrives), for every instrument with something to show, the
//! document `liquidation-map:{exchange}:{symbol}` with the liquidations of
//! `[B - window_ms, B)` bucketed by price (`realized`) and the levels where
//! open positions would be liquidated (`estimated`): from accounts' own
//! liquidation prices where the venue publishes them, otherwise from a
//! model of open-interest increases over leverage tiers. Every liquidation
//! is logged as `liquidation`, and those of notional ≥
//! `large_liquidation_usd` also as `large_liquidation`. Where positions are
//! published, the document `wallet-distribution:{exchange}:{symbol}` counts
//! the accounts by the size of their position (`wallet_tiers`).

pub mod config;
pub mod map;
pub mod wallets;

use config::Config;
use map::{Instrument, Liq, Pos};
use prism_sdk::rust_decimal::Decimal;
use prism_sdk::rust_decimal::prelude::ToPrimitive;
use prism_sdk::{
    Boundaries, Context, Event, EventKind, Plugin, PluginInfo, PositionSide, Subscription,
};
use serde::{Deserialize, Serialize};

/// The plugin's whole state (what `snapshot` saves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiquidationMapPlugin {
    config: Config,
    boundaries: Boundaries,
    /// By instrument id.
    instruments: Vec<Option<Instrument>>,
}

/// A liquidation as logged (`liquidation`, `large_liquidation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiquidationRecord {
    pub exchange: String,
    pub symbol: String,
    /// The liquidated position's side.
    #[serde(with = "prism_sdk::serde_with::position_side")]
    pub side: PositionSide,
    pub price: Decimal,
    pub size: Decimal,
    pub notional: Decimal,
    pub account: Option<String>,
}

fn dec(d: prism_sdk::Decimal) -> Result<Decimal, String> {
    d.to_rust().map_err(|e| e.to_string())
}

impl LiquidationMapPlugin {
    /// An instrument's state, made on first use. A function of the list
    /// alone, so the config can be borrowed beside it (not cloned per event).
    fn instrument<'a>(
        instruments: &'a mut Vec<Option<Instrument>>,
        id: u32,
        ctx: &Context,
    ) -> Option<&'a mut Instrument> {
        let at = id as usize;
        if instruments.len() <= at {
            instruments.resize(at + 1, None);
        }
        if instruments[at].is_none() {
            let declared = ctx.instruments().get(id)?;
            instruments[at] = Some(Instrument {
                exchange: declared.exchange.clone(),
                symbol: declared.symbol.clone(),
                base: declared.base.clone(),
                ..Instrument::default()
            });
        }
        instruments[at].as_mut()
    }

    fn emit(&mut self, boundary: i64, ctx: &mut Context) -> Result<(), String> {
        let from = boundary - self.config.window_ms;
        for (id, inst) in self.instruments.iter().enumerate() {
            let Some(inst) = inst else { continue };
            if let Some(map) = inst.map(from, boundary, self.config.max_map_buckets) {
                let key = format!("liquidation-map:{}:{}", inst.exchange, inst.symbol);
                ctx.document(&key, boundary, &map)?;
            }
            if let Some(wallets) = inst.wallets(&self.config.wallet_tiers) {
                let key = format!("wallet-distribution:{}:{}", inst.exchange, inst.symbol);
                ctx.document(&key, boundary, &wallets)?;
                // The open positions' split, as series so it has a history.
                let (long, short) = wallets.notional();
                let id = Some(id as u32);
                // A decimal always has a nearest f64.
                let float = |d: Decimal| d.to_f64().unwrap_or_default();
                ctx.series("long_position_notional", id, boundary, float(long));
                ctx.series("short_position_notional", id, boundary, float(short));
            }
        }
        // What the next window no longer covers is never read again.
        let keep_from = boundary + self.config.step_ms - self.config.window_ms;
        for inst in self.instruments.iter_mut().flatten() {
            while inst.liquidations.front().is_some_and(|l| l.ts < keep_from) {
                inst.liquidations.pop_front();
            }
        }
        Ok(())
    }

    fn liquidation(&mut self, l: &prism_sdk::Liquidation, ctx: &mut Context) -> Result<(), String> {
        let price = dec(l.price)?;
        let size = dec(l.size)?;
        let config = &self.config;
        let Some(inst) = Self::instrument(&mut self.instruments, l.instrument, ctx) else {
            return Ok(());
        };
        inst.see_price(price, config);
        inst.liquidations.push_back(Liq {
            ts: l.ts,
            price,
            size,
            position: l.position,
        });
        let record = LiquidationRecord {
            exchange: inst.exchange.clone(),
            symbol: inst.symbol.clone(),
            side: l.position,
            price: price.normalize(),
            size: size.normalize(),
            notional: (price * size).normalize(),
            account: l.account.clone(),
        };
        ctx.log("liquidation", Some(l.instrument), l.ts, &record)?;
        if record.notional >= config.large_liquidation_usd {
            ctx.log("large_liquidation", Some(l.instrument), l.ts, &record)?;
        }
        Ok(())
    }
}

impl Plugin for LiquidationMapPlugin {
    fn init(config: &str) -> Result<(Self, PluginInfo), String> {
        let config = Config::parse(config)?;
        let plugin = Self {
            boundaries: Boundaries::new(config.step_ms),
            config,
            instruments: Vec::new(),
        };
        let info = PluginInfo::new(
            "liquidation-map",
            env!("CARGO_PKG_VERSION"),
            Subscription::kinds(&[
                EventKind::Trade,
                EventKind::Liquidation,
                EventKind::Position,
                EventKind::OpenInterest,
                EventKind::Funding,
            ]),
        );
        Ok((plugin, info))
    }

    fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String> {
        let Some(ts) = event.ts() else { return Ok(()) };
        for boundary in self.boundaries.due(ts) {
            self.emit(boundary, ctx)?;
        }
        let config = &self.config;
        match event {
            Event::Trade(t) => {
                let price = dec(t.price)?;
                if let Some(inst) = Self::instrument(&mut self.instruments, t.instrument, ctx) {
                    inst.see_price(price, config);
                    inst.trade(price);
                }
            }
            Event::Liquidation(l) => self.liquidation(l, ctx)?,
            Event::Position(p) => {
                let pos = Pos {
                    size: dec(p.size)?,
                    entry_price: dec(p.entry_price)?,
                    liquidation_price: p.liquidation_price.map(dec).transpose()?,
                };
                if let Some(inst) = Self::instrument(&mut self.instruments, p.instrument, ctx) {
                    if let Some(lp) = pos.liquidation_price {
                        inst.see_price(lp, config);
                    }
                    if pos.size.is_zero() {
                        inst.positions.remove(&p.account);
                    } else {
                        inst.positions.insert(p.account.clone(), pos);
                    }
                }
            }
            Event::OpenInterest(o) => {
                let oi = dec(o.open_interest)?;
                if let Some(inst) = Self::instrument(&mut self.instruments, o.instrument, ctx) {
                    inst.open_interest(oi, config);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn snapshot(&self) -> Vec<u8> {
        prism_sdk::state::encode(self)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let restored: Self = prism_sdk::state::decode(state, "liquidation-map")?;
        // The operator's current config wins; the data carries over.
        let config = std::mem::replace(self, restored).config;
        self.boundaries = self.boundaries.with_step(config.step_ms);
        self.config = config;
        Ok(())
    }
}

prism_sdk::export_plugin!(LiquidationMapPlugin);

#[cfg(test)]
mod tests;
