//! Bybit v5 public streams: `allLiquidation` and the older
//! `liquidation.{symbol}` (whose side is the liquidated position's: `Buy` =
//! a long was liquidated, the opposite of Binance's order side) and
//! `publicTrade`. Inverse contracts (`BTCUSD`, `BTCUSDH25`) are sized in
//! USD, one contract 1 USD: sizes become base units over the price.

use super::market::{CandleFields, TickerFields, interval, maybe};
use super::{Ctx, Outcome, made, parse};
use crate::num::{self, BadValue, bad};
use prism_model::{PositionSide, Side};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    topic: Option<&'a str>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<&'a str>,
    #[serde(default)]
    ts: Option<i64>,
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

/// A `kline.{interval}.{symbol}` item; `volume` in contracts (base units
/// for linear, USD for inverse), `turnover` in the quote currency (linear)
/// or the coin (inverse).
#[derive(Deserialize)]
struct Kline<'a> {
    start: i64,
    interval: &'a str,
    open: &'a str,
    close: &'a str,
    high: &'a str,
    low: &'a str,
    volume: &'a str,
    #[serde(default)]
    turnover: Option<&'a str>,
    confirm: bool,
    timestamp: i64,
}

/// A `tickers.{symbol}` snapshot or delta: a delta carries only the fields
/// that changed, so each symbol's last values are kept.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct TickerState {
    #[serde(default)]
    last_price: Option<String>,
    #[serde(default)]
    prev_price_24h: Option<String>,
    #[serde(default)]
    price_24h_pcnt: Option<String>,
    #[serde(default)]
    volume_24h: Option<String>,
    #[serde(default)]
    turnover_24h: Option<String>,
    #[serde(default)]
    mark_price: Option<String>,
    #[serde(default)]
    index_price: Option<String>,
    #[serde(default)]
    bid1_price: Option<String>,
    #[serde(default)]
    bid1_size: Option<String>,
    #[serde(default)]
    ask1_price: Option<String>,
    #[serde(default)]
    ask1_size: Option<String>,
}

impl TickerState {
    /// Takes every field `delta` carries.
    fn merge(&mut self, delta: TickerState) {
        let take = |mine: &mut Option<String>, theirs: Option<String>| {
            if theirs.is_some() {
                *mine = theirs;
            }
        };
        take(&mut self.last_price, delta.last_price);
        take(&mut self.prev_price_24h, delta.prev_price_24h);
        take(&mut self.price_24h_pcnt, delta.price_24h_pcnt);
        take(&mut self.volume_24h, delta.volume_24h);
        take(&mut self.turnover_24h, delta.turnover_24h);
        take(&mut self.mark_price, delta.mark_price);
        take(&mut self.index_price, delta.index_price);
        take(&mut self.bid1_price, delta.bid1_price);
        take(&mut self.bid1_size, delta.bid1_size);
        take(&mut self.ask1_price, delta.ask1_price);
        take(&mut self.ask1_size, delta.ask1_size);
    }
}

/// Whether a symbol is an inverse contract (sized in USD), as the
/// contract table says.
fn inverse(ctx: &Ctx<'_>, symbol: &str) -> bool {
    ctx.contracts
        .get("bybit", symbol)
        .is_some_and(|c| c.inverse)
}

/// Most symbols whose ticker is kept.
const MAX_TICKERS: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct State {
    tickers: HashMap<String, TickerState>,
}

impl State {
    pub(crate) fn push(&mut self, ctx: &mut Ctx<'_>, message: &str) -> Result<Outcome, BadValue> {
        let m: Message<'_> = parse("message", message)?;
        match m.topic.map(|t| t.split('.').next().unwrap_or(t)) {
            Some("tickers") => {
                let topic = m.topic.unwrap_or_default();
                let symbol = topic
                    .split('.')
                    .nth(1)
                    .ok_or_else(|| bad("topic", "tickers.{symbol}"))?;
                let data = m.data.ok_or_else(|| bad("data", "missing"))?;
                let update: TickerState = parse("data", data.get())?;
                let before = ctx.out.len();
                let state = match m.kind {
                    Some("delta") => {
                        let Some(known) = self.tickers.get(symbol) else {
                            // A delta before the snapshot cannot be read.
                            return Ok(Outcome::Records(0));
                        };
                        let mut next = known.clone();
                        next.merge(update);
                        next
                    }
                    _ => update,
                };
                let fields = ticker(ctx, symbol, &state)?;
                ctx.ticker(symbol, ctx.time(m.ts)?, fields);
                if self.tickers.len() < MAX_TICKERS || self.tickers.contains_key(symbol) {
                    self.tickers.insert(symbol.to_owned(), state);
                }
                Ok(made(ctx, before))
            }
            Some("kline") => {
                let topic = m.topic.unwrap_or_default();
                let symbol = topic.rsplit('.').next().unwrap_or_default();
                let data = m.data.ok_or_else(|| bad("data", "missing"))?;
                let all: Vec<Kline<'_>> = parse("kline", data.get())?;
                let before = ctx.out.len();
                for k in all {
                    let candle = kline(ctx, symbol, &k)?;
                    ctx.candle(symbol, k.timestamp, candle);
                }
                Ok(made(ctx, before))
            }
            _ => push(ctx, message),
        }
    }
}

/// A ticker's fields in base units; a 0 price is an empty side.
fn ticker(ctx: &Ctx<'_>, symbol: &str, t: &TickerState) -> Result<TickerFields, BadValue> {
    let side = |p_field: &str, p: &Option<String>, s_field: &str, s: &Option<String>| match (
        maybe(p_field, p.as_deref())?,
        maybe(s_field, s.as_deref())?,
    ) {
        (Some(price), Some(size)) if !price.is_zero() => {
            Ok::<_, BadValue>(Some((price, ctx.base_size(s_field, symbol, size, price)?)))
        }
        _ => Ok(None),
    };
    let last = maybe("lastPrice", t.last_price.as_deref())?;
    let prev = maybe("prevPrice24h", t.prev_price_24h.as_deref())?;
    let volume = maybe("volume24h", t.volume_24h.as_deref())?;
    let turnover = maybe("turnover24h", t.turnover_24h.as_deref())?;
    // Inverse: volume is USD, turnover the coin.
    let (volume_24h, quote_volume_24h) = if inverse(ctx, symbol) {
        (turnover, volume)
    } else {
        (volume, turnover)
    };
    let percent = maybe("price24hPcnt", t.price_24h_pcnt.as_deref())?
        .map(|f| num::mul("price24hPcnt", f, prism_model::Decimal::ONE_HUNDRED))
        .transpose()?;
    Ok(TickerFields {
        bid: side("bid1Price", &t.bid1_price, "bid1Size", &t.bid1_size)?,
        ask: side("ask1Price", &t.ask1_price, "ask1Size", &t.ask1_size)?,
        last,
        volume_24h,
        quote_volume_24h,
        change_24h: match (last, prev) {
            (Some(l), Some(p)) => l.checked_sub(p),
            _ => None,
        },
        change_24h_percent: percent,
        mark: maybe("markPrice", t.mark_price.as_deref())?,
        index: maybe("indexPrice", t.index_price.as_deref())?,
    })
}

/// A kline's candle: volumes in base units (inverse: `turnover`).
fn kline(ctx: &Ctx<'_>, symbol: &str, k: &Kline<'_>) -> Result<CandleFields, BadValue> {
    let volume = num::text("volume", k.volume)?;
    let turnover = maybe("turnover", k.turnover)?;
    let (volume, quote_volume) = if inverse(ctx, symbol) {
        (
            turnover.ok_or_else(|| bad("turnover", "an inverse kline needs it"))?,
            Some(volume),
        )
    } else {
        (volume, turnover)
    };
    // Bybit names minutes by number and D, W, M for day, week, month.
    let name = match k.interval {
        "D" => "1d".to_owned(),
        "W" => "1w".to_owned(),
        "M" => "1M".to_owned(),
        minutes => format!("{minutes}m"),
    };
    Ok(CandleFields {
        interval: interval("interval", &name)?,
        open_ts: k.start,
        open: num::text("open", k.open)?,
        high: num::text("high", k.high)?,
        low: num::text("low", k.low)?,
        close: num::text("close", k.close)?,
        volume,
        quote_volume,
        trades: None,
        closed: k.confirm,
    })
}

fn push(ctx: &mut Ctx<'_>, message: &str) -> Result<Outcome, BadValue> {
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
        other @ ("orderbook" | "insurance" | "lt") => {
            return Ok(Outcome::Unsupported(other.to_owned()));
        }
        other => return Ok(Outcome::Unknown(other.to_owned())),
    }
    Ok(made(ctx, before))
}
