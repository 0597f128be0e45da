//! Binance USDⓈ-M futures (`wss://fstream.binance.com`), raw or combined
//! streams. Quantities are in base units. A REST depth snapshot enters as
//! `{"stream":"<symbol>@depthSnapshot","data":<body>}` (the capture reader
//! wraps it so), open interest as `{"stream":"<symbol>@openInterest",...}`.

use super::{Ctx, Funding, Outcome, made, parse};
use crate::num::{self, BadValue, bad};
use prism_model::{Decimal, PositionSide, Side};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// Binance funding is every 8 hours for most symbols (the stream does not say).
const FUNDING_INTERVAL_H: u32 = 8;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    stream: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    result: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    id: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    e: Option<&'a str>,
    #[serde(default, rename = "lastUpdateId")]
    last_update_id: Option<u64>,
    #[serde(default, rename = "openInterest")]
    open_interest: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    s: &'a str,
    p: &'a str,
    q: &'a str,
    #[serde(rename = "T")]
    t: i64,
    m: bool,
    #[serde(default, rename = "X")]
    x: Option<&'a str>,
}

#[derive(Deserialize)]
struct ForceOrder<'a> {
    #[serde(borrow)]
    o: ForceOrderBody<'a>,
}

#[derive(Deserialize)]
struct ForceOrderBody<'a> {
    s: &'a str,
    #[serde(rename = "S")]
    side: &'a str,
    q: &'a str,
    p: &'a str,
    ap: &'a str,
    z: &'a str,
    #[serde(rename = "T")]
    t: i64,
}

#[derive(Deserialize)]
struct MarkPrice<'a> {
    #[serde(rename = "E")]
    e_time: i64,
    s: &'a str,
    p: &'a str,
    #[serde(default)]
    i: Option<&'a str>,
    r: &'a str,
    #[serde(rename = "T")]
    next: i64,
}

#[derive(Deserialize)]
struct DepthUpdate<'a> {
    #[serde(rename = "E")]
    e_time: i64,
    #[serde(default, rename = "T")]
    t: Option<i64>,
    s: &'a str,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    pu: u64,
    #[serde(borrow)]
    b: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    a: Vec<(&'a str, &'a str)>,
}

#[derive(Deserialize)]
struct Snapshot<'a> {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    #[serde(default, rename = "E")]
    e_time: Option<i64>,
    #[serde(default, rename = "T")]
    t: Option<i64>,
    #[serde(borrow)]
    bids: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    asks: Vec<(&'a str, &'a str)>,
}

#[derive(Deserialize)]
struct OpenInterest<'a> {
    symbol: &'a str,
    #[serde(rename = "openInterest")]
    open_interest: &'a str,
    #[serde(default)]
    time: Option<i64>,
}

/// Where a symbol's book stands against its sequence numbers.
#[derive(Debug, Default)]
struct DepthSync {
    /// The last update id applied (the snapshot's, then each update's `u`).
    last: u64,
    /// A snapshot was applied and no update since.
    fresh: bool,
    synced: bool,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    books: HashMap<String, DepthSync>,
}

fn levels(raw: &[(&str, &str)]) -> Result<Vec<(Decimal, Decimal)>, BadValue> {
    raw.iter()
        .map(|(p, s)| Ok((num::text("price", p)?, num::text("size", s)?)))
        .collect()
}

impl State {
    pub(crate) fn push(&mut self, ctx: &mut Ctx<'_>, message: &str) -> Result<Outcome, BadValue> {
        let envelope: Envelope<'_> = parse("message", message)?;
        if envelope.result.is_some() && envelope.id.is_some() {
            return Ok(Outcome::Control);
        }
        let (stream, body) = match envelope.data {
            Some(data) => (envelope.stream, data.get()),
            None => (None, message),
        };
        let head: Head<'_> = parse("message", body)?;
        let before = ctx.out.len();
        match head.e {
            Some("aggTrade") => self.trade(ctx, body, false)?,
            Some("trade") => self.trade(ctx, body, true)?,
            Some("forceOrder") => {
                let f: ForceOrder<'_> = parse("forceOrder", body)?;
                let o = f.o;
                let avg = num::text("o.ap", o.ap)?;
                let price = if avg.is_zero() {
                    num::text("o.p", o.p)?
                } else {
                    avg
                };
                let filled = num::text("o.z", o.z)?;
                let size = if filled.is_zero() {
                    num::text("o.q", o.q)?
                } else {
                    filled
                };
                // The liquidation order's side: SELL closes a long.
                let position = match o.side {
                    "SELL" => PositionSide::Long,
                    "BUY" => PositionSide::Short,
                    other => return Err(bad("o.S", format!("unknown side `{other}`"))),
                };
                ctx.liquidation(o.s, o.t, price, size, position, None);
            }
            Some("markPriceUpdate") => {
                let m: MarkPrice<'_> = parse("markPriceUpdate", body)?;
                if m.r.is_empty() || m.next == 0 {
                    // Delivery contracts publish a mark price but no funding.
                    return Ok(Outcome::Unsupported(
                        "markPriceUpdate without funding".into(),
                    ));
                }
                let funding = Funding {
                    rate: num::text("r", m.r)?,
                    interval_h: FUNDING_INTERVAL_H,
                    mark: Some(num::text("p", m.p)?),
                    index: m.i.map(|i| num::text("i", i)).transpose()?,
                    next: Some(m.next),
                };
                ctx.funding(m.s, m.e_time, funding);
            }
            Some("depthUpdate") => {
                let d: DepthUpdate<'_> = parse("depthUpdate", body)?;
                self.depth(ctx, &d)?;
            }
            Some(
                other @ ("24hrTicker" | "24hrMiniTicker" | "bookTicker" | "kline"
                | "continuous_kline" | "compositeIndex" | "contractInfo"
                | "assetIndexUpdate"),
            ) => {
                return Ok(Outcome::Unsupported(other.to_owned()));
            }
            Some(other) => return Ok(Outcome::Unknown(other.to_owned())),
            None if head.last_update_id.is_some() => {
                let symbol = stream
                    .and_then(|s| s.split('@').next())
                    .map(str::to_ascii_uppercase)
                    .ok_or_else(|| {
                        bad(
                            "stream",
                            "a depth snapshot needs its symbol (`<symbol>@depthSnapshot`)",
                        )
                    })?;
                let s: Snapshot<'_> = parse("depth snapshot", body)?;
                let ts = ctx.time(s.t.or(s.e_time))?;
                let (bids, asks) = (levels(&s.bids)?, levels(&s.asks)?);
                self.books.insert(
                    symbol.clone(),
                    DepthSync {
                        last: s.last_update_id,
                        fresh: true,
                        synced: true,
                    },
                );
                ctx.book(&symbol, ts, true, bids, asks);
            }
            None if head.open_interest.is_some() => {
                let o: OpenInterest<'_> = parse("openInterest", body)?;
                let ts = ctx.time(o.time)?;
                ctx.open_interest(o.symbol, ts, num::text("openInterest", o.open_interest)?);
            }
            None => {
                return Ok(Outcome::Unknown(
                    stream.unwrap_or("no event type").to_owned(),
                ));
            }
        }
        Ok(made(ctx, before))
    }

    fn trade(&mut self, ctx: &mut Ctx<'_>, body: &str, raw_trade: bool) -> Result<(), BadValue> {
        let t: Trade<'_> = parse(if raw_trade { "trade" } else { "aggTrade" }, body)?;
        // `m`: the buyer was the maker, so the aggressor sold.
        let side = if t.m { Side::Sell } else { Side::Buy };
        let insurance_fund = t.x == Some("INSURANCE_FUND");
        ctx.trade(
            t.s,
            t.t,
            num::text("p", t.p)?,
            num::text("q", t.q)?,
            side,
            None,
            None,
            insurance_fund,
        );
        Ok(())
    }

    /// Applies a diff in sequence (`U`/`u`/`pu`, Binance's futures rules):
    /// before a snapshot, or after a gap, diffs are dropped and counted
    /// until the next snapshot.
    fn depth(&mut self, ctx: &mut Ctx<'_>, d: &DepthUpdate<'_>) -> Result<(), BadValue> {
        let Some(sync) = self.books.get_mut(d.s).filter(|s| s.synced) else {
            ctx.stats.book_unsynced += 1;
            return Ok(());
        };
        if d.u < sync.last {
            ctx.stats.book_stale += 1;
            return Ok(());
        }
        let follows = if sync.fresh {
            d.first <= sync.last && d.u >= sync.last
        } else {
            d.pu == sync.last
        };
        if !follows {
            sync.synced = false;
            ctx.gap(d.s);
            return Ok(());
        }
        let (bids, asks) = (levels(&d.b)?, levels(&d.a)?);
        sync.last = d.u;
        sync.fresh = false;
        ctx.book(d.s, d.t.unwrap_or(d.e_time), false, bids, asks);
        Ok(())
    }
}
