//! Lighter (`wss://mainnet.zklighter.elliot.ai/stream`). Markets are
//! numbered; names come from `market_stats` (and the ones built in). In a
//! trade `is_maker_ask` means the maker sold, so the taker bought. A
//! liquidation trade's taker is the liquidated account. Market stats carry
//! the hourly funding as a percentage and open interest in USD.

use super::dedup::Seen;
use super::{Ctx, Funding, Outcome, made, parse};
use crate::num::{self, BadValue};
use prism_model::{Decimal, PositionSide, Side};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};

/// Market ids whose names do not need a `market_stats` first.
const KNOWN_MARKETS: [(u32, &str); 3] = [(0, "ETH"), (1, "BTC"), (2, "SOL")];

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, rename = "type")]
    kind: &'a str,
    #[serde(borrow, default)]
    channel: Option<&'a str>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(borrow, default)]
    trades: Option<Vec<Trade<'a>>>,
    #[serde(borrow, default)]
    liquidation_trades: Option<Vec<Trade<'a>>>,
    #[serde(borrow, default)]
    market_stats: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    trade_id: u64,
    market_id: u32,
    size: &'a str,
    price: &'a str,
    is_maker_ask: bool,
    timestamp: i64,
    #[serde(default)]
    ask_account_id: Option<i64>,
    #[serde(default)]
    bid_account_id: Option<i64>,
}

#[derive(Deserialize)]
struct Stats<'a> {
    symbol: &'a str,
    market_id: u32,
    #[serde(default)]
    index_price: Option<&'a str>,
    #[serde(default)]
    mark_price: Option<&'a str>,
    #[serde(default)]
    open_interest: Option<&'a str>,
    #[serde(default)]
    current_funding_rate: Option<&'a str>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    names: HashMap<u32, String>,
    seen: Seen,
    seen_liquidations: Seen,
}

impl State {
    fn name(&self, market: u32) -> String {
        self.names
            .get(&market)
            .cloned()
            .or_else(|| {
                KNOWN_MARKETS
                    .iter()
                    .find(|(id, _)| *id == market)
                    .map(|(_, n)| (*n).to_owned())
            })
            .unwrap_or_else(|| market.to_string())
    }

    pub(crate) fn push(&mut self, ctx: &mut Ctx<'_>, message: &str) -> Result<Outcome, BadValue> {
        let m: Message<'_> = parse("message", message)?;
        let channel = m.channel.unwrap_or_default();
        let base = channel.split(':').next().unwrap_or(channel);
        let before = ctx.out.len();
        match (m.kind, base) {
            (_, "trade") => {
                let trades = m.trades.unwrap_or_default();
                let ids: HashSet<u64> = trades.iter().map(|t| t.trade_id).collect();
                for t in &trades {
                    self.trade(ctx, t)?;
                }
                for t in m.liquidation_trades.unwrap_or_default() {
                    if !ids.contains(&t.trade_id) {
                        self.trade(ctx, &t)?;
                    }
                    if !self.seen_liquidations.first(t.trade_id) {
                        continue;
                    }
                    let position = if t.is_maker_ask {
                        PositionSide::Short
                    } else {
                        PositionSide::Long
                    };
                    let account = if t.is_maker_ask {
                        t.bid_account_id
                    } else {
                        t.ask_account_id
                    };
                    ctx.liquidation(
                        &self.name(t.market_id),
                        t.timestamp,
                        num::text("price", t.price)?,
                        num::text("size", t.size)?,
                        position,
                        account.map(|a| a.to_string()),
                    );
                }
            }
            (_, "market_stats") => {
                let Some(raw) = m.market_stats else {
                    return Ok(Outcome::Control);
                };
                let ts = ctx.time(m.timestamp)?;
                // `market_stats:all` maps ids to stats; `market_stats:N` is one.
                let all: Vec<Stats<'_>> = if channel.ends_with(":all") {
                    let map: HashMap<String, Stats<'_>> = parse("market_stats", raw.get())?;
                    let mut v: Vec<Stats<'_>> = map.into_values().collect();
                    v.sort_by_key(|s| s.market_id);
                    v
                } else {
                    vec![parse("market_stats", raw.get())?]
                };
                for s in all {
                    self.names.insert(s.market_id, s.symbol.to_owned());
                    let opt =
                        |field: &str, v: Option<&str>| v.map(|v| num::text(field, v)).transpose();
                    let mark = opt("mark_price", s.mark_price)?;
                    if let Some(pct) = opt("current_funding_rate", s.current_funding_rate)? {
                        let funding = Funding {
                            rate: (pct / Decimal::ONE_HUNDRED).normalize(),
                            interval_h: 1,
                            mark,
                            index: opt("index_price", s.index_price)?,
                            next: None,
                        };
                        ctx.funding(s.symbol, ts, funding);
                    }
                    if let (Some(usd), Some(mark)) = (opt("open_interest", s.open_interest)?, mark)
                        && !mark.is_zero()
                    {
                        ctx.open_interest(s.symbol, ts, num::div("open_interest", usd, mark)?);
                    }
                }
            }
            ("connected" | "ping" | "pong", _) => return Ok(Outcome::Control),
            (
                _,
                other @ ("order_book" | "ticker" | "spot_market_stats" | "height" | "account_all"),
            ) => {
                return Ok(Outcome::Unsupported(other.to_owned()));
            }
            (kind, _) => return Ok(Outcome::Unknown(kind.to_owned())),
        }
        Ok(made(ctx, before))
    }

    fn trade(&mut self, ctx: &mut Ctx<'_>, t: &Trade<'_>) -> Result<(), BadValue> {
        // The subscription answer repeats recent trades.
        if !self.seen.first(t.trade_id) {
            ctx.stats.duplicates += 1;
            return Ok(());
        }
        let side = if t.is_maker_ask {
            Side::Buy
        } else {
            Side::Sell
        };
        ctx.trade(
            &self.name(t.market_id),
            t.timestamp,
            num::canonical("price", t.price)?,
            num::canonical("size", t.size)?,
            side,
            None,
            None,
            false,
        );
        Ok(())
    }
}
