//! Whale watching.
//!
//! Exact meaning (also in `docs/plugins/whale-detector.md`):
//! - log `whale_trade` for each trade with notional (price × size) ≥ the
//!   instrument's `min_trade_usd`, with buyer and seller where known;
//! - log `whale_position` when an account's position notional changes by
//!   ≥ `min_position_change_usd`: |new size − previous size| × the
//!   instrument's last trade price (the position's entry price before any
//!   trade); an account's first position counts from size 0;
//! - log `whale_activity` for every trade (as buyer or seller), position
//!   change and liquidation of a watched account;
//! - at each boundary `B` (a multiple of `step_ms`, emitted when the first
//!   event with `ts >= B` arrives), per instrument, whale taker flow = Σ
//!   notional of whale buys − Σ notional of whale sells with ts in
//!   `[B − window_ms, B)`; if |flow| ≥ `flow_threshold_usd`, a `long`
//!   (flow > 0) or `short` signal graded strong/medium/weak at 3×/2×/1× the
//!   threshold.

pub mod config;

use config::Config;
use prism_sdk::rust_decimal::Decimal;
use prism_sdk::rust_decimal::prelude::ToPrimitive;
use prism_sdk::{
    Boundaries, Context, Direction, Event, EventKind, Output, Plugin, PluginInfo, PositionSide,
    Side, Signal, Subscription, grade,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// A whale trade kept for the flow window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flow {
    ts: i64,
    instrument: u32,
    /// + for buys, − for sells.
    notional: Decimal,
}

/// The plugin's whole state (what `snapshot` saves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhaleDetector {
    config: Config,
    boundaries: Boundaries,
    last_price: BTreeMap<u32, Decimal>,
    /// Latest position size by (instrument, account).
    positions: BTreeMap<(u32, String), Decimal>,
    flow: VecDeque<Flow>,
}

/// A whale trade as logged.
#[derive(Debug, Serialize)]
struct WhaleTrade<'a> {
    exchange: &'a str,
    symbol: &'a str,
    #[serde(with = "prism_sdk::serde_with::side")]
    side: Side,
    price: Decimal,
    size: Decimal,
    notional: Decimal,
    buyer: Option<&'a str>,
    seller: Option<&'a str>,
}

fn dec(d: prism_sdk::Decimal) -> Result<Decimal, String> {
    d.to_rust()
        .map(|d| d.normalize())
        .map_err(|e| e.to_string())
}

fn usd(d: Decimal) -> String {
    let v = d.to_f64().unwrap_or(0.0);
    if v.abs() >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else {
        format!("{v:.0}")
    }
}

impl WhaleDetector {
    fn place(ctx: &Context, id: u32) -> (String, String) {
        ctx.instruments()
            .get(id)
            .map(|i| (i.exchange.clone(), i.symbol.clone()))
            .unwrap_or_default()
    }

    fn activity(
        ctx: &mut Context,
        account: &str,
        instrument: u32,
        ts: i64,
        kind: &str,
        details: serde_json::Value,
    ) -> Result<(), String> {
        let (exchange, symbol) = Self::place(ctx, instrument);
        let mut body = serde_json::json!({
            "account": account, "kind": kind, "exchange": exchange, "symbol": symbol,
        });
        if let (Some(body), serde_json::Value::Object(details)) = (body.as_object_mut(), details) {
            body.extend(details);
        }
        ctx.log("whale_activity", Some(instrument), ts, &body)
    }

    fn trade(&mut self, t: &prism_sdk::Trade, ctx: &mut Context) -> Result<(), String> {
        let price = dec(t.price)?;
        let size = dec(t.size)?;
        let notional = (price * size).normalize();
        self.last_price.insert(t.instrument, price);
        // The threshold from borrowed names: most trades are not whales,
        // and copying the names for each would cost more than the rest.
        let threshold = match ctx.instruments().get(t.instrument) {
            Some(i) => self.config.min_trade(&i.exchange, &i.symbol),
            None => self.config.min_trade("", ""),
        };
        if notional >= threshold {
            let (exchange, symbol) = Self::place(ctx, t.instrument);
            ctx.log(
                "whale_trade",
                Some(t.instrument),
                t.ts,
                &WhaleTrade {
                    exchange: &exchange,
                    symbol: &symbol,
                    side: t.side,
                    price,
                    size,
                    notional,
                    buyer: t.buyer.as_deref(),
                    seller: t.seller.as_deref(),
                },
            )?;
            self.flow.push_back(Flow {
                ts: t.ts,
                instrument: t.instrument,
                notional: match t.side {
                    Side::Buy => notional,
                    Side::Sell => -notional,
                },
            });
        }
        let side = match t.side {
            Side::Buy => "buy",
            Side::Sell => "sell",
        };
        for (role, account) in [("buyer", &t.buyer), ("seller", &t.seller)] {
            if let Some(account) = account
                && self.config.is_watched(account)
            {
                let details = serde_json::json!({"role": role, "side": side, "price": price,
                    "size": size, "notional": notional});
                Self::activity(ctx, account, t.instrument, t.ts, "trade", details)?;
            }
        }
        Ok(())
    }

    fn position(&mut self, p: &prism_sdk::Position, ctx: &mut Context) -> Result<(), String> {
        let size = dec(p.size)?;
        let entry = dec(p.entry_price)?;
        let key = (p.instrument, p.account.clone());
        let before = if size.is_zero() {
            self.positions.remove(&key)
        } else {
            self.positions.insert(key, size)
        }
        .unwrap_or(Decimal::ZERO);
        if before == size {
            return Ok(());
        }
        let price = self.last_price.get(&p.instrument).copied().unwrap_or(entry);
        let change = ((size - before).abs() * price).normalize();
        if change >= self.config.min_position_change_usd {
            let (exchange, symbol) = Self::place(ctx, p.instrument);
            let body = serde_json::json!({"account": p.account, "exchange": exchange,
                "symbol": symbol, "old_size": before, "new_size": size,
                "change_notional": change, "price": price});
            ctx.log("whale_position", Some(p.instrument), p.ts, &body)?;
        }
        if self.config.is_watched(&p.account) {
            let liquidation = p.liquidation_price.map(dec).transpose()?;
            let details = serde_json::json!({"old_size": before, "new_size": size,
                "entry_price": entry, "liquidation_price": liquidation});
            Self::activity(ctx, &p.account, p.instrument, p.ts, "position", details)?;
        }
        Ok(())
    }

    fn emit(&mut self, boundary: i64, ctx: &mut Context) {
        let from = boundary - self.config.window_ms;
        let mut flow: BTreeMap<u32, Decimal> = BTreeMap::new();
        for f in self.flow.iter().filter(|f| f.ts >= from && f.ts < boundary) {
            *flow.entry(f.instrument).or_default() += f.notional;
        }
        let threshold = self
            .config
            .flow_threshold_usd
            .to_f64()
            .unwrap_or(f64::INFINITY);
        for (instrument, net) in flow {
            let value = net.to_f64().unwrap_or(0.0);
            let Some(strength) = grade(value, threshold) else {
                continue;
            };
            let direction = if net > Decimal::ZERO {
                Direction::Long
            } else {
                Direction::Short
            };
            let minutes = self.config.window_ms / 60_000;
            ctx.emit(Output::Signal(Signal {
                instrument,
                ts: boundary,
                direction,
                strength,
                reason: format!(
                    "whale taker flow {}{} USD over {minutes} min (threshold {})",
                    if net > Decimal::ZERO { "+" } else { "" },
                    usd(net),
                    usd(self.config.flow_threshold_usd)
                ),
            }));
        }
        let keep_from = boundary + self.config.step_ms - self.config.window_ms;
        while self.flow.front().is_some_and(|f| f.ts < keep_from) {
            self.flow.pop_front();
        }
    }
}

impl Plugin for WhaleDetector {
    fn init(config: &str) -> Result<(Self, PluginInfo), String> {
        let config = Config::parse(config)?;
        let plugin = Self {
            boundaries: Boundaries::new(config.step_ms),
            config,
            last_price: BTreeMap::new(),
            positions: BTreeMap::new(),
            flow: VecDeque::new(),
        };
        let info = PluginInfo::new(
            "whale-detector",
            env!("CARGO_PKG_VERSION"),
            Subscription::kinds(&[
                EventKind::Trade,
                EventKind::Position,
                EventKind::Liquidation,
            ]),
        );
        Ok((plugin, info))
    }

    fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String> {
        let Some(ts) = event.ts() else { return Ok(()) };
        for boundary in self.boundaries.due(ts) {
            self.emit(boundary, ctx);
        }
        match event {
            Event::Trade(t) => self.trade(t, ctx)?,
            Event::Position(p) => self.position(p, ctx)?,
            Event::Liquidation(l) => {
                if let Some(account) = &l.account
                    && self.config.is_watched(account)
                {
                    let price = dec(l.price)?;
                    let size = dec(l.size)?;
                    let side = match l.position {
                        PositionSide::Long => "long",
                        PositionSide::Short => "short",
                    };
                    let details = serde_json::json!({"side": side, "price": price, "size": size,
                        "notional": (price * size).normalize()});
                    Self::activity(ctx, account, l.instrument, l.ts, "liquidation", details)?;
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
        let restored: Self = prism_sdk::state::decode(state, "whale-detector")?;
        // The operator's current config wins; the data carries over.
        let config = std::mem::replace(self, restored).config;
        self.boundaries = self.boundaries.with_step(config.step_ms);
        self.config = config;
        Ok(())
    }
}

prism_sdk::export_plugin!(WhaleDetector);

#[cfg(test)]
mod tests;
