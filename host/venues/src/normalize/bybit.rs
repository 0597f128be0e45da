//! Bybit v5 public streams: `allLiquidation` and the older
//! `liquidation.{symbol}` (whose side is the liquidated position's: `Buy` =
//! a long was liquidated, the opposite of Binance's order side) and
//! `publicTrade`. Inverse contracts (`BTCUSD`, `BTCUSDH25`) are sized in
//! USD, one contract 1 USD: sizes become base units over the price.

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

/// One message of the older `liquidation.{symbol}` topic: one object.
#[derive(Deserialize)]
struct SingleLiquidation<'a> {
    #[serde(rename = "updatedTime")]
    updated_time: i64,
    symbol: &'a str,
    side: &'a str,
    size: &'a str,
    price: &'a str,
}

/// `Buy`: a long position was liquidated.
fn liquidated(field: &str, side: &str) -> Result<PositionSide, BadValue> {
    match side {
        "Buy" => Ok(PositionSide::Long),
        "Sell" => Ok(PositionSide::Short),
        other => Err(bad(field, format!("unknown side `{other}`"))),
    }
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
        "allLiquidation" => {
            let all: Vec<Liquidation<'_>> = parse("allLiquidation", data.get())?;
            for l in all {
                let price = num::text("p", l.p)?;
                let size = ctx.base_size("v", l.s, num::text("v", l.v)?, price)?;
                ctx.liquidation(l.s, l.t, price, size, liquidated("S", l.side)?, None);
            }
        }
        "liquidation" => {
            let l: SingleLiquidation<'_> = parse("liquidation", data.get())?;
            let price = num::text("price", l.price)?;
            let size = ctx.base_size("size", l.symbol, num::text("size", l.size)?, price)?;
            let position = liquidated("side", l.side)?;
            ctx.liquidation(l.symbol, l.updated_time, price, size, position, None);
        }
        "publicTrade" => {
            let all: Vec<Trade<'_>> = parse("publicTrade", data.get())?;
            for t in all {
                let side = match t.side {
                    "Buy" => Side::Buy,
                    "Sell" => Side::Sell,
                    other => return Err(bad("S", format!("unknown side `{other}`"))),
                };
                let price = num::text("p", t.p)?;
                let size = ctx.base_size("v", t.s, num::text("v", t.v)?, price)?;
                ctx.trade(t.s, t.t, price, size, side, None, None, false);
            }
        }
        other @ ("tickers" | "orderbook" | "kline" | "insurance" | "lt") => {
            return Ok(Outcome::Unsupported(other.to_owned()));
        }
        other => return Ok(Outcome::Unknown(other.to_owned())),
    }
    Ok(made(ctx, before))
}
