//! Bybit v5 public linear streams: `allLiquidation` (whose `S` is the
//! liquidated position's side: `Buy` = a long was liquidated, the opposite
//! of Binance's order side) and `publicTrade`.

use super::{Ctx, Outcome, made, parse};
use crate::num::{self, BadValue, bad};
use prism_model::{PositionSide, Side};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    topic: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    op: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Liquidation<'a> {
    #[serde(rename = "T")]
    t: i64,
    s: &'a str,
    #[serde(rename = "S")]
    side: &'a str,
    v: &'a str,
    p: &'a str,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(rename = "T")]
    t: i64,
    s: &'a str,
    #[serde(rename = "S")]
    side: &'a str,
    v: &'a str,
    p: &'a str,
}

pub(crate) fn push(ctx: &mut Ctx<'_>, message: &str) -> Result<Outcome, BadValue> {
    let m: Message<'_> = parse("message", message)?;
    if m.op.is_some() {
        return Ok(Outcome::Control);
    }
    let (Some(topic), Some(data)) = (m.topic, m.data) else {
        return Ok(Outcome::Unknown("no topic".into()));
    };
    let kind = topic.split('.').next().unwrap_or(topic);
    let before = ctx.out.len();
    match kind {
        "allLiquidation" | "liquidation" => {
            let all: Vec<Liquidation<'_>> = parse("allLiquidation", data.get())?;
            for l in all {
                let position = match l.side {
                    "Buy" => PositionSide::Long,
                    "Sell" => PositionSide::Short,
                    other => return Err(bad("S", format!("unknown side `{other}`"))),
                };
                ctx.liquidation(
                    l.s,
                    l.t,
                    num::text("p", l.p)?,
                    num::text("v", l.v)?,
                    position,
                    None,
                );
            }
        }
        "publicTrade" => {
            let all: Vec<Trade<'_>> = parse("publicTrade", data.get())?;
            for t in all {
                let side = match t.side {
                    "Buy" => Side::Buy,
                    "Sell" => Side::Sell,
                    other => return Err(bad("S", format!("unknown side `{other}`"))),
                };
                ctx.trade(
                    t.s,
                    t.t,
                    num::text("p", t.p)?,
                    num::text("v", t.v)?,
                    side,
                    None,
                    None,
                    false,
                );
            }
        }
        other @ ("tickers" | "orderbook" | "kline" | "insurance" | "lt") => {
            return Ok(Outcome::Unsupported(other.to_owned()));
        }
        other => return Ok(Outcome::Unknown(other.to_owned())),
    }
    Ok(made(ctx, before))
}
