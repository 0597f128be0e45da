//! Hyperliquid (`wss://api.hyperliquid.xyz/ws`). Sizes are in coins;
//! funding is hourly; trades may carry `users: [buyer, seller]`. There is
//! no public liquidation channel: a user fill with a `liquidation` object
//! becomes a liquidation of `liquidatedUser`.

use super::dedup::Seen;
use super::envelope::{self, Data, DataSeed, Envelope};
use super::market::{CandleFields, OpenCandles, TickerFields, interval};
use super::{Ctx, Funding, Outcome, TextLevel, made, parse};
use crate::num::{self, BadValue, bad};
use prism_model::{PositionSide, Side};
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess};
use std::collections::HashMap;

/// A message: a `trades` channel's data read in the same pass as the
/// channel (which Hyperliquid sends first), any other kept raw.
#[derive(Default)]
struct Message<'a> {
    channel: Option<&'a str>,
    data: Option<Data<'a, Vec<Trade<'a>>>>,
    data_type: Option<&'a str>,
}

envelope::keys!(Key {
    Channel = "channel",
    Data = "data",
    DataType = "dataType",
});

impl<'de> Envelope<'de> for Message<'de> {
    type Key = Key;
    const NAME: &'static str = "Hyperliquid message";

    fn read<A: MapAccess<'de>>(
        &mut self,
        key: Key,
        map: &mut A,
        one_pass: bool,
    ) -> Result<(), A::Error> {
        match key {
            Key::Channel => self.channel = map.next_value()?,
            Key::Data => {
                let trades = one_pass && self.channel == Some("trades");
                self.data = map.next_value_seed(DataSeed::new(trades))?;
            }
            Key::DataType => self.data_type = map.next_value()?,
            Key::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Trade<'a> {
    coin: &'a str,
    side: &'a str,
    px: &'a str,
    sz: &'a str,
    time: i64,
    tid: u64,
    #[serde(borrow, default)]
    users: Option<(&'a str, &'a str)>,
}

#[derive(Deserialize)]
struct Level<'a> {
    px: &'a str,
    sz: &'a str,
}

#[derive(Deserialize)]
struct L2Book<'a> {
    coin: &'a str,
    time: i64,
    #[serde(borrow)]
    levels: (Vec<Level<'a>>, Vec<Level<'a>>),
}

#[derive(Deserialize)]
struct AssetCtx<'a> {
    coin: &'a str,
    #[serde(borrow)]
    ctx: AssetContext<'a>,
}

#[derive(Deserialize)]
struct AssetContext<'a> {
    #[serde(default)]
    funding: Option<&'a str>,
    #[serde(default, rename = "openInterest")]
    open_interest: Option<&'a str>,
    #[serde(default, rename = "markPx")]
    mark_px: Option<&'a str>,
    #[serde(default, rename = "oraclePx")]
    oracle_px: Option<&'a str>,
}

#[derive(Deserialize)]
struct UserData<'a> {
    #[serde(borrow, default)]
    fills: Vec<Fill<'a>>,
}

#[derive(Deserialize)]
struct Fill<'a> {
    coin: &'a str,
    px: &'a str,
    sz: &'a str,
    side: &'a str,
    time: i64,
    #[serde(default)]
    dir: Option<&'a str>,
    #[serde(borrow, default)]
    liquidation: Option<LiquidationInfo<'a>>,
}

#[derive(Deserialize)]
struct LiquidationInfo<'a> {
    #[serde(rename = "liquidatedUser")]
    liquidated_user: &'a str,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(default)]
    dex: Option<String>,
    #[serde(borrow)]
    universe: Vec<MetaAsset<'a>>,
}

#[derive(Deserialize)]
struct MetaAsset<'a> {
    name: &'a str,
}

#[derive(Deserialize)]
struct AllDexs<'a> {
    #[serde(borrow)]
    ctxs: Vec<(String, Vec<AssetContext<'a>>)>,
}

/// `bbo`: `[bid, ask]`, either `null` when that side is empty.
#[derive(Deserialize)]
struct Bbo<'a> {
    coin: &'a str,
    time: i64,
    #[serde(borrow)]
    bbo: Vec<Option<Level<'a>>>,
}

/// `candle`: the open candle of one interval, `v` in coins, `n` trades.
#[derive(Deserialize)]
struct Candle<'a> {
    t: i64,
    s: &'a str,
    i: &'a str,
    o: &'a str,
    c: &'a str,
    h: &'a str,
    l: &'a str,
    v: &'a str,
    #[serde(default)]
    n: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    seen: Seen,
    /// Hyperliquid never marks a candle closed: the next interval's first
    /// update closes it.
    candles: OpenCandles,
    /// Coin names by dex ("" for the main one), in the order of `meta`.
    universes: HashMap<String, Vec<String>>,
}

fn side(field: &str, s: &str) -> Result<Side, BadValue> {
    match s {
        "B" => Ok(Side::Buy),
        "A" => Ok(Side::Sell),
        other => Err(bad(field, format!("unknown side `{other}`"))),
    }
}

impl State {
    /// A `trades` push: each trade not seen before.
    fn trades(&mut self, ctx: &mut Ctx<'_>, trades: Vec<Trade<'_>>) -> Result<(), BadValue> {
        for t in trades {
            // Hyperliquid resends recent trades on every subscription.
            if !self.seen.first(t.tid) {
                ctx.stats.duplicates += 1;
                continue;
            }
            let (buyer, seller) = t.users.map_or((None, None), |(b, s)| {
                (Some(b.to_owned()), Some(s.to_owned()))
            });
            ctx.trade(
                t.coin,
                t.time,
                num::canonical("px", t.px)?,
                num::canonical("sz", t.sz)?,
                side("side", t.side)?,
                buyer,
                seller,
                false,
            );
        }
        Ok(())
    }

    pub(crate) fn push(&mut self, ctx: &mut Ctx<'_>, message: &str) -> Result<Outcome, BadValue> {
        let m: Message<'_> = envelope::read(message)?;
        let (Some(channel), Some(data)) = (m.channel, m.data) else {
            let name = m.data_type.or(m.channel).unwrap_or("no channel");
            return Ok(Outcome::Unknown(name.to_owned()));
        };
        let before = ctx.out.len();
        let data = match data {
            Data::Read(read) => {
                self.trades(ctx, read)?;
                return Ok(made(ctx, before));
            }
            Data::Raw(raw) => raw.get(),
        };
        match channel {
            "trades" => self.trades(ctx, parse("trades", data)?)?,
            "l2Book" => {
                let b: L2Book<'_> = parse("l2Book", data)?;
                let levels = |l: &[Level<'_>]| -> Result<Vec<TextLevel>, BadValue> {
                    l.iter()
                        .map(|x| Ok((num::canonical("px", x.px)?, num::canonical("sz", x.sz)?)))
                        .collect()
                };
                let (bids, asks) = (levels(&b.levels.0)?, levels(&b.levels.1)?);
                ctx.book(b.coin, b.time, true, bids, asks);
            }
            "activeAssetCtx" => {
                let a: AssetCtx<'_> = parse("activeAssetCtx", data)?;
                let ts = ctx.time(None)?;
                asset_ctx(ctx, a.coin, ts, &a.ctx)?;
            }
            "meta" => {
                let meta: Meta<'_> = parse("meta", data)?;
                let names = meta.universe.iter().map(|a| a.name.to_owned()).collect();
                self.universes.insert(meta.dex.unwrap_or_default(), names);
                return Ok(Outcome::Control);
            }
            "allDexsAssetCtxs" => {
                let all: AllDexs<'_> = parse("allDexsAssetCtxs", data)?;
                let ts = ctx.time(None)?;
                let mut unnamed = 0;
                for (dex, ctxs) in &all.ctxs {
                    let Some(names) = self.universes.get(dex) else {
                        unnamed += ctxs.len();
                        continue;
                    };
                    for (name, c) in names.iter().zip(ctxs) {
                        let coin = if dex.is_empty() {
                            name.clone()
                        } else {
                            format!("{dex}:{name}")
                        };
                        asset_ctx(ctx, &coin, ts, c)?;
                    }
                }
                if ctx.out.len() == before && unnamed > 0 {
                    // Contexts are listed by index only: without the
                    // universe (`meta`) there is no name to give them.
                    return Ok(Outcome::Unsupported("allDexsAssetCtxs without meta".into()));
                }
            }
            "user" | "userFills" => {
                let u: UserData<'_> = parse("user", data)?;
                for f in u.fills {
                    let Some(l) = f.liquidation else { continue };
                    let fill_side = side("side", f.side)?;
                    // The fill is the subscriber's side. If the subscriber
                    // was liquidated, the fill closed its position; if it
                    // was the counterparty, the liquidated user took the
                    // other side.
                    let own = f.dir.is_some_and(|d| d.starts_with("Liquidat"));
                    let liquidated_sold = match fill_side {
                        Side::Sell => own,
                        Side::Buy => !own,
                    };
                    let position = if liquidated_sold {
                        PositionSide::Long
                    } else {
                        PositionSide::Short
                    };
                    ctx.liquidation(
                        f.coin,
                        f.time,
                        num::text("px", f.px)?,
                        num::text("sz", f.sz)?,
                        position,
                        Some(l.liquidated_user.to_owned()),
                    );
                }
            }
            "bbo" => {
                let b: Bbo<'_> = parse("bbo", data)?;
                if b.bbo.len() > 2 {
                    return Err(bad("bbo", "more than a bid and an ask"));
                }
                let level = |i: usize, field: &str| -> Result<_, BadValue> {
                    b.bbo
                        .get(i)
                        .and_then(Option::as_ref)
                        .map(|l| Ok((num::text(field, l.px)?, num::text(field, l.sz)?)))
                        .transpose()
                };
                let ticker = TickerFields {
                    bid: level(0, "bbo[0]")?,
                    ask: level(1, "bbo[1]")?,
                    ..TickerFields::default()
                };
                ctx.ticker(b.coin, b.time, ticker);
            }
            "candle" => {
                let c: Candle<'_> = parse("candle", data)?;
                let candle = CandleFields {
                    interval: interval("i", c.i)?,
                    open_ts: c.t,
                    open: num::text("o", c.o)?,
                    high: num::text("h", c.h)?,
                    low: num::text("l", c.l)?,
                    close: num::text("c", c.c)?,
                    volume: num::text("v", c.v)?,
                    quote_volume: None,
                    trades: c.n,
                    closed: false,
                };
                // The message carries no time but the candle's start.
                let ts = ctx.received.unwrap_or(c.t).max(c.t);
                self.candles.update(ctx, c.s, ts, candle);
            }
            "subscriptionResponse" | "pong" | "post" => return Ok(Outcome::Control),
            other @ ("activeSpotAssetCtx"
            | "allMids"
            | "notification"
            | "webData2"
            | "orderUpdates"
            | "userEvents"
            | "userFundings"
            | "userNonFundingLedgerUpdates"
            | "activeAssetData"
            | "userTwapSliceFills"
            | "userTwapHistory") => {
                return Ok(Outcome::Unsupported(other.to_owned()));
            }
            other => return Ok(Outcome::Unknown(other.to_owned())),
        }
        Ok(made(ctx, before))
    }
}

/// Funding (hourly), open interest (coins), mark and oracle price.
fn asset_ctx(ctx: &mut Ctx<'_>, coin: &str, ts: i64, c: &AssetContext<'_>) -> Result<(), BadValue> {
    let opt = |field: &str, v: Option<&str>| v.map(|v| num::text(field, v)).transpose();
    if let Some(rate) = opt("funding", c.funding)? {
        let funding = Funding {
            rate,
            interval_h: 1,
            mark: opt("markPx", c.mark_px)?,
            index: opt("oraclePx", c.oracle_px)?,
            next: None,
        };
        ctx.funding(coin, ts, funding);
    }
    if let Some(oi) = opt("openInterest", c.open_interest)? {
        ctx.open_interest(coin, ts, oi);
    }
    Ok(())
}
