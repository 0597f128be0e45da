//! Binance USDⓈ-M futures (`wss://fstream.binance.com`), raw or combined
//! streams. Quantities are in base units. A REST depth snapshot enters as
//! `{"stream":"<symbol>@depthSnapshot","data":<body>}` (the capture reader
//! wraps it so), open interest as `{"stream":"<symbol>@openInterest",...}`.

use super::market::{CandleFields, TickerFields, interval};
use super::{Ctx, Funding, Outcome, TextLevel, made, parse};
use crate::num::{self, BadValue, bad};
use prism_model::{PositionSide, Side};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, VecDeque};

/// Binance funding is every 8 hours for most symbols (the stream does not say).
const FUNDING_INTERVAL_H: u32 = 8;

/// A combined-stream envelope (`stream`, `data`), its event read in the
/// same pass; a bare event is read again as an [`Event`].
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    stream: Option<&'a str>,
    // Boxed: the event is large (every kind's fields), and moving it by
    // value through serde's layers was a tenth of a trade's cost.
    #[serde(borrow, default)]
    data: Option<Box<Event<'a>>>,
    #[serde(default)]
    result: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    id: Option<serde::de::IgnoredAny>,
}

/// An event of any kind: every field a kind needs, the kind (`e`) says
/// which are present.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, default)]
    e: Option<&'a str>,
    #[serde(default, rename = "E")]
    e_time: Option<i64>,
    #[serde(default, rename = "T")]
    t: Option<i64>,
    #[serde(borrow, default)]
    s: Option<&'a str>,
    #[serde(borrow, default)]
    p: Option<&'a str>,
    #[serde(borrow, default)]
    q: Option<&'a str>,
    #[serde(default)]
    m: Option<bool>,
    #[serde(borrow, default, rename = "X")]
    x: Option<&'a str>,
    // Fields other kinds use with other types (a ticker's `o` is a price,
    // a bookTicker's `b` a price, an aggTrade's `a` an id) stay raw until
    // the kind is known.
    #[serde(borrow, default)]
    o: Option<&'a RawValue>,
    #[serde(borrow, default)]
    i: Option<&'a str>,
    #[serde(borrow, default)]
    r: Option<&'a str>,
    #[serde(default, rename = "U")]
    first: Option<u64>,
    #[serde(default)]
    u: Option<u64>,
    #[serde(default)]
    pu: Option<u64>,
    #[serde(borrow, default)]
    b: Option<&'a RawValue>,
    #[serde(borrow, default)]
    a: Option<&'a RawValue>,
    #[serde(default, rename = "lastUpdateId")]
    last_update_id: Option<u64>,
    #[serde(borrow, default)]
    bids: Option<&'a RawValue>,
    #[serde(borrow, default)]
    asks: Option<&'a RawValue>,
    #[serde(borrow, default)]
    symbol: Option<&'a str>,
    #[serde(borrow, default, rename = "openInterest")]
    open_interest: Option<&'a str>,
    #[serde(default)]
    time: Option<i64>,
    // A ticker's last price, change percentage and volume; a bookTicker's
    // sizes; a kline's candle.
    #[serde(borrow, default)]
    c: Option<&'a str>,
    #[serde(borrow, default, rename = "P")]
    percent: Option<&'a str>,
    #[serde(borrow, default)]
    v: Option<&'a str>,
    #[serde(borrow, default, rename = "B")]
    bid_size: Option<&'a str>,
    #[serde(borrow, default, rename = "A")]
    ask_size: Option<&'a str>,
    #[serde(borrow, default)]
    k: Option<&'a RawValue>,
}

/// A kline's candle (`k`).
#[derive(Deserialize)]
struct Kline<'a> {
    t: i64,
    s: &'a str,
    i: &'a str,
    o: &'a str,
    c: &'a str,
    h: &'a str,
    l: &'a str,
    v: &'a str,
    #[serde(default)]
    q: Option<&'a str>,
    #[serde(default)]
    n: Option<u64>,
    x: bool,
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

fn need<T>(field: &str, v: Option<T>) -> Result<T, BadValue> {
    v.ok_or_else(|| bad(field, "missing"))
}

/// A depth diff, its levels checked: applied at once when the book is in
/// sync, or held until the next snapshot.
struct Diff {
    ts: i64,
    /// When the diff itself was received (it may be applied later).
    received: Option<i64>,
    symbol: String,
    first: u64,
    u: u64,
    pu: u64,
    bids: Vec<TextLevel>,
    asks: Vec<TextLevel>,
}

/// Diffs held per symbol while its book waits for a snapshot (at 100 ms a
/// diff, well over a minute); past it the oldest are dropped and counted
/// in `book_unsynced`.
const WAITING: usize = 1024;

/// Where a symbol's book stands against its sequence numbers.
#[derive(Default)]
struct DepthSync {
    /// The last update id applied (the snapshot's, then each update's `u`).
    last: u64,
    /// A snapshot was applied and no update since.
    fresh: bool,
    synced: bool,
    /// Diffs received while out of sync, oldest first. Binance's procedure
    /// buffers the stream before fetching the snapshot, so a diff that
    /// arrived first may still straddle the snapshot's id and apply.
    waiting: VecDeque<Diff>,
}

impl DepthSync {
    fn wait(&mut self, stats: &mut super::Stats, diff: Diff) {
        if self.waiting.len() == WAITING {
            self.waiting.pop_front();
            stats.book_unsynced += 1;
        } else {
            stats.book_waiting += 1;
        }
        self.waiting.push_back(diff);
    }
}

#[derive(Default)]
pub(crate) struct State {
    books: HashMap<String, DepthSync>,
}

/// A book side kept raw (`field`, a list of `[price, size]` texts) as
/// levels, refused by its field's name when missing or malformed.
fn levels(field: &'static str, raw: Option<&RawValue>) -> Result<Vec<TextLevel>, BadValue> {
    parse::<Vec<(&str, &str)>>(field, need(field, raw)?.get())?
        .iter()
        .map(|(p, s)| Ok((num::canonical("price", p)?, num::canonical("size", s)?)))
        .collect()
}

impl State {
    pub(crate) fn push(&mut self, ctx: &mut Ctx<'_>, message: &str) -> Result<Outcome, BadValue> {
        let m: Message<'_> = parse("message", message)?;
        if m.result.is_some() && m.id.is_some() {
            return Ok(Outcome::Control);
        }
        let stream = m.stream;
        let ev = match m.data {
            Some(ev) => ev,
            None => Box::new(parse::<Event<'_>>("message", message)?),
        };
        let before = ctx.out.len();
        match ev.e {
            Some(kind @ ("aggTrade" | "trade")) => {
                // `m`: the buyer was the maker, so the aggressor sold.
                let side = if need("m", ev.m)? {
                    Side::Sell
                } else {
                    Side::Buy
                };
                let insurance_fund = kind == "trade" && ev.x == Some("INSURANCE_FUND");
                ctx.trade(
                    need("s", ev.s)?,
                    need("T", ev.t)?,
                    num::canonical("p", need("p", ev.p)?)?,
                    num::canonical("q", need("q", ev.q)?)?,
                    side,
                    None,
                    None,
                    insurance_fund,
                );
            }
            Some("forceOrder") => {
                let o: ForceOrderBody<'_> = parse("o", need("o", ev.o)?.get())?;
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
                let rate = need("r", ev.r)?;
                let next = need("T", ev.t)?;
                if rate.is_empty() || next == 0 {
                    // Delivery contracts publish a mark price but no funding.
                    return Ok(Outcome::Unsupported(
                        "markPriceUpdate without funding".into(),
                    ));
                }
                let funding = Funding {
                    rate: num::text("r", rate)?,
                    interval_h: FUNDING_INTERVAL_H,
                    mark: Some(num::text("p", need("p", ev.p)?)?),
                    index: ev.i.map(|i| num::text("i", i)).transpose()?,
                    next: Some(next),
                };
                ctx.funding(need("s", ev.s)?, need("E", ev.e_time)?, funding);
            }
            Some("depthUpdate") => {
                let e_time = need("E", ev.e_time)?;
                let d = Diff {
                    ts: ev.t.unwrap_or(e_time),
                    received: ctx.received,
                    symbol: need("s", ev.s)?.to_owned(),
                    first: need("U", ev.first)?,
                    u: need("u", ev.u)?,
                    pu: need("pu", ev.pu)?,
                    bids: levels("b", ev.b)?,
                    asks: levels("a", ev.a)?,
                };
                let sync = self.books.entry(d.symbol.clone()).or_default();
                depth(sync, ctx, d);
            }
            Some("kline") => {
                let k: Kline<'_> = parse("k", need("k", ev.k)?.get())?;
                let candle = CandleFields {
                    interval: interval("k.i", k.i)?,
                    open_ts: k.t,
                    open: num::text("k.o", k.o)?,
                    high: num::text("k.h", k.h)?,
                    low: num::text("k.l", k.l)?,
                    close: num::text("k.c", k.c)?,
                    volume: num::text("k.v", k.v)?,
                    quote_volume: k.q.map(|q| num::text("k.q", q)).transpose()?,
                    trades: k.n,
                    closed: k.x,
                };
                ctx.candle(k.s, need("E", ev.e_time)?, candle);
            }
            Some("bookTicker") => {
                let side = |field: &str, price: Option<&RawValue>, size: Option<&str>| {
                    let price: &str = parse(field, need(field, price)?.get())?;
                    let size = num::text(field, need(field, size)?)?;
                    Ok::<_, BadValue>((num::text(field, price)?, size))
                };
                let ticker = TickerFields {
                    bid: Some(side("b", ev.b, ev.bid_size)?),
                    ask: Some(side("a", ev.a, ev.ask_size)?),
                    ..TickerFields::default()
                };
                // `T` is the transaction time; older messages carry only `E`.
                let ts = ev.t.or(ev.e_time);
                ctx.ticker(need("s", ev.s)?, ctx.time(ts)?, ticker);
            }
            Some("24hrTicker") => {
                let ticker = TickerFields {
                    last: Some(num::text("c", need("c", ev.c)?)?),
                    volume_24h: Some(num::text("v", need("v", ev.v)?)?),
                    quote_volume_24h: ev.q.map(|q| num::text("q", q)).transpose()?,
                    change_24h: ev.p.map(|p| num::text("p", p)).transpose()?,
                    change_24h_percent: ev.percent.map(|p| num::text("P", p)).transpose()?,
                    ..TickerFields::default()
                };
                ctx.ticker(need("s", ev.s)?, need("E", ev.e_time)?, ticker);
            }
            Some(
                other @ ("24hrMiniTicker" | "continuous_kline" | "compositeIndex" | "contractInfo"
                | "assetIndexUpdate"),
            ) => {
                return Ok(Outcome::Unsupported(other.to_owned()));
            }
            Some(other) => return Ok(Outcome::Unknown(other.to_owned())),
            None if ev.last_update_id.is_some() => {
                let symbol = stream
                    .and_then(|s| s.split('@').next())
                    .map(str::to_ascii_uppercase)
                    .ok_or_else(|| {
                        bad(
                            "stream",
                            "a depth snapshot needs its symbol (`<symbol>@depthSnapshot`)",
                        )
                    })?;
                let ts = ctx.time(ev.t.or(ev.e_time))?;
                let bids = levels("bids", ev.bids)?;
                let asks = levels("asks", ev.asks)?;
                let last = need("lastUpdateId", ev.last_update_id)?;
                let sync = self.books.entry(symbol.clone()).or_default();
                let waiting = std::mem::take(&mut sync.waiting);
                ctx.stats.book_waiting -= waiting.len() as u64;
                sync.last = last;
                sync.fresh = true;
                sync.synced = true;
                ctx.book(&symbol, ts, true, bids, asks);
                // The diffs that came first: older ones are stale, the one
                // straddling the snapshot's id applies, then the rest in turn.
                for d in waiting {
                    depth(sync, ctx, d);
                }
            }
            None if ev.open_interest.is_some() => {
                let ts = ctx.time(ev.time)?;
                let oi = num::text("openInterest", need("openInterest", ev.open_interest)?)?;
                ctx.open_interest(need("symbol", ev.symbol)?, ts, oi);
            }
            None => {
                return Ok(Outcome::Unknown(
                    stream.unwrap_or("no event type").to_owned(),
                ));
            }
        }
        Ok(made(ctx, before))
    }
}

/// Applies a diff in sequence (`U`/`u`/`pu`, Binance's futures rules): the
/// first after a snapshot must have `U` ≤ `lastUpdateId` ≤ `u`, each next
/// one `pu` equal to the previous `u`. Before a snapshot, or after a gap
/// (which asks for a new snapshot), diffs wait for the next snapshot.
fn depth(sync: &mut DepthSync, ctx: &mut Ctx<'_>, d: Diff) {
    if !sync.synced {
        sync.wait(ctx.stats, d);
        return;
    }
    // Older than the book; once a diff applied, one ending at the same id
    // is a repeat of it.
    if d.u < sync.last || (d.u == sync.last && !sync.fresh) {
        ctx.stats.book_stale += 1;
        return;
    }
    let follows = if sync.fresh {
        d.first <= sync.last && d.u >= sync.last
    } else {
        d.pu == sync.last
    };
    if !follows {
        sync.synced = false;
        ctx.gap(&d.symbol);
        sync.wait(ctx.stats, d);
        return;
    }
    sync.last = d.u;
    sync.fresh = false;
    // A held diff keeps its own receive time, not the snapshot's.
    let now = std::mem::replace(&mut ctx.received, d.received);
    ctx.book(&d.symbol, d.ts, false, d.bids, d.asks);
    ctx.received = now;
}
