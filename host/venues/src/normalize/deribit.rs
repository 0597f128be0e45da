//! Deribit (`wss://www.deribit.com/ws/api/v2`), JSON-RPC notifications.
//! Inverse perpetuals and futures count `amount` and open interest in USD
//! (base = USD / price); linear (`_USDC`, `_USDT`) ones and options in the
//! base currency. A trade's `liquidation` flag (`M` maker, `T` taker, `MT`
//! both) also makes a liquidation of that side's position.

use super::{Ctx, Funding, Outcome, made, parse};
use crate::num::{self, BadValue, bad};
use prism_model::{Decimal, PositionSide, Side};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    method: Option<&'a str>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
    #[serde(default)]
    result: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, default)]
    channel: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    timestamp: i64,
    price: f64,
    amount: f64,
    direction: &'a str,
    instrument_name: &'a str,
    #[serde(default)]
    liquidation: Option<&'a str>,
}

#[derive(Deserialize)]
struct Ticker<'a> {
    timestamp: i64,
    instrument_name: &'a str,
    #[serde(default)]
    open_interest: Option<f64>,
    #[serde(default)]
    funding_8h: Option<f64>,
    #[serde(default)]
    mark_price: Option<f64>,
    #[serde(default)]
    index_price: Option<f64>,
}

/// What an instrument's amounts are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Perpetuals and futures settled in the coin: amounts in USD.
    Inverse,
    /// Linear perpetuals and futures, options: amounts in the base currency.
    Base,
    /// Spreads and combos: not normalized.
    Combo,
}

fn kind(name: &str) -> Kind {
    let parts: Vec<&str> = name.split('-').collect();
    let linear = parts.first().is_some_and(|p| p.contains('_'));
    match parts.as_slice() {
        [_, "PERPETUAL"] | [_, _] if !linear => Kind::Inverse,
        [_, "PERPETUAL"] | [_, _] => Kind::Base,
        [_, _, _, "C" | "P"] => Kind::Base,
        _ => Kind::Combo,
    }
}

fn base_amount(
    field: &str,
    kind: Kind,
    amount: Decimal,
    price: Decimal,
) -> Result<Decimal, BadValue> {
    match kind {
        Kind::Inverse => num::div(field, amount, price),
        Kind::Base | Kind::Combo => Ok(amount),
    }
}

pub(crate) fn push(ctx: &mut Ctx<'_>, message: &str) -> Result<Outcome, BadValue> {
    let m: Message<'_> = parse("message", message)?;
    if m.result.is_some()
        || m.error.is_some()
        || matches!(m.method, Some("heartbeat" | "public/test"))
    {
        return Ok(Outcome::Control);
    }
    let Some(Params {
        channel: Some(channel),
        data: Some(data),
    }) = m.params
    else {
        return Ok(Outcome::Unknown(
            m.method.unwrap_or("no channel").to_owned(),
        ));
    };
    let prefix = channel.split('.').next().unwrap_or(channel);
    let before = ctx.out.len();
    match prefix {
        "trades" => {
            let trades: Vec<Trade<'_>> = parse("trades", data.get())?;
            for t in trades {
                let kind = kind(t.instrument_name);
                if kind == Kind::Combo {
                    continue;
                }
                let price = num::float("price", t.price)?;
                let size = base_amount("amount", kind, num::float("amount", t.amount)?, price)?;
                let side = match t.direction {
                    "buy" => Side::Buy,
                    "sell" => Side::Sell,
                    other => return Err(bad("direction", format!("unknown direction `{other}`"))),
                };
                ctx.trade(
                    t.instrument_name,
                    t.timestamp,
                    price,
                    size,
                    side,
                    None,
                    None,
                    false,
                );
                // The taker's position was on the side it traded out of;
                // the maker's on the other.
                let taker = if side == Side::Sell {
                    PositionSide::Long
                } else {
                    PositionSide::Short
                };
                let maker = if taker == PositionSide::Long {
                    PositionSide::Short
                } else {
                    PositionSide::Long
                };
                let liquidated: &[PositionSide] = match t.liquidation {
                    None => &[],
                    Some("T") => &[taker],
                    Some("M") => &[maker],
                    Some("MT" | "TM") => &[maker, taker],
                    Some(other) => {
                        return Err(bad("liquidation", format!("unknown flag `{other}`")));
                    }
                };
                for position in liquidated {
                    ctx.liquidation(t.instrument_name, t.timestamp, price, size, *position, None);
                }
            }
        }
        "ticker" => {
            let t: Ticker<'_> = parse("ticker", data.get())?;
            let kind = kind(t.instrument_name);
            if kind == Kind::Combo {
                return Ok(Outcome::Unsupported("ticker of a combo".into()));
            }
            let opt = |field: &str, v: Option<f64>| v.map(|v| num::float(field, v)).transpose();
            let mark = opt("mark_price", t.mark_price)?;
            let index = opt("index_price", t.index_price)?;
            if let Some(rate) = opt("funding_8h", t.funding_8h)? {
                let funding = Funding {
                    rate,
                    interval_h: 8,
                    mark,
                    index,
                    next: None,
                };
                ctx.funding(t.instrument_name, t.timestamp, funding);
            }
            if let Some(oi) = opt("open_interest", t.open_interest)? {
                let oi = match (kind, mark) {
                    (Kind::Inverse, Some(m)) if !m.is_zero() => {
                        Some(num::div("open_interest", oi, m)?)
                    }
                    (Kind::Inverse, _) => None,
                    _ => Some(oi),
                };
                if let Some(oi) = oi {
                    ctx.open_interest(t.instrument_name, t.timestamp, oi);
                }
            }
        }
        other @ ("book"
        | "quote"
        | "deribit_price_index"
        | "deribit_price_ranking"
        | "markprice"
        | "chart"
        | "estimated_expiration_price"
        | "incremental_ticker"
        | "perpetual"
        | "platform_state"
        | "deribit_volatility_index") => return Ok(Outcome::Unsupported(other.to_owned())),
        other => return Ok(Outcome::Unknown(other.to_owned())),
    }
    Ok(made(ctx, before))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruments_are_classified_by_name() {
        assert_eq!(kind("BTC-PERPETUAL"), Kind::Inverse);
        assert_eq!(kind("BTC-24SEP21"), Kind::Inverse);
        assert_eq!(kind("LINK_USDC-PERPETUAL"), Kind::Base);
        assert_eq!(kind("BTC-24SEP21-8000-P"), Kind::Base);
        assert_eq!(kind("BTC-FS-30SEP22_PERP"), Kind::Combo);
        assert_eq!(kind("BTC-CSR12-16SEP22-21000_23000"), Kind::Combo);
    }
}
