//! OKX v5 public channels. Derivatives trade in contracts: sizes are
//! multiplied by the contract value (linear: base units per contract;
//! inverse: USD per contract, so base = contracts × value / price).

use super::dedup::Seen;
use super::envelope::{self, Data, DataSeed, Envelope};
use super::market::{CandleFields, TickerFields, interval, maybe};
use super::{Ctx, Funding, Outcome, made, parse};
use crate::book::{Book, BookSide};
use crate::num::{self, BadValue, bad};
use prism_model::{Decimal, PositionSide, Side};
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess};
use std::collections::HashMap;

const HOUR_MS: i64 = 3_600_000;

/// A message: a trades channel's data read in the same pass as `arg`
/// (which OKX sends first), any other kept raw.
#[derive(Default)]
struct Message<'a> {
    arg: Option<Arg<'a>>,
    action: Option<&'a str>,
    data: Option<Data<'a, Vec<Trade<'a>>>>,
    event: Option<&'a str>,
}

envelope::keys!(Key {
    Arg = "arg",
    Action = "action",
    Data = "data",
    Event = "event",
});

impl<'de> Envelope<'de> for Message<'de> {
    type Key = Key;
    const NAME: &'static str = "OKX message";

    fn read<A: MapAccess<'de>>(
        &mut self,
        key: Key,
        map: &mut A,
        one_pass: bool,
    ) -> Result<(), A::Error> {
        match key {
            Key::Arg => self.arg = map.next_value()?,
            Key::Action => self.action = map.next_value()?,
            Key::Data => {
                let trades = one_pass
                    && self
                        .arg
                        .as_ref()
                        .is_some_and(|a| TRADES.contains(&a.channel));
                self.data = map.next_value_seed(DataSeed::new(trades))?;
            }
            Key::Event => self.event = map.next_value()?,
            Key::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The channels whose data are trades.
const TRADES: [&str; 2] = ["trades", "trades-all"];

#[derive(Deserialize)]
struct Arg<'a> {
    channel: &'a str,
    #[serde(borrow, default, rename = "instId")]
    inst_id: Option<&'a str>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(rename = "instId")]
    inst_id: &'a str,
    px: &'a str,
    sz: &'a str,
    side: &'a str,
    ts: &'a str,
}

#[derive(Deserialize)]
struct Liquidations<'a> {
    #[serde(rename = "instId")]
    inst_id: &'a str,
    #[serde(borrow)]
    details: Vec<LiquidationDetail<'a>>,
}

#[derive(Deserialize)]
struct LiquidationDetail<'a> {
    #[serde(rename = "bkPx")]
    bk_px: &'a str,
    #[serde(rename = "posSide")]
    pos_side: &'a str,
    side: &'a str,
    sz: &'a str,
    ts: &'a str,
}

#[derive(Deserialize)]
struct FundingRate<'a> {
    #[serde(rename = "instId")]
    inst_id: &'a str,
    #[serde(default, rename = "fundingRate")]
    funding_rate: Option<&'a str>,
    #[serde(default, rename = "fundingTime")]
    funding_time: Option<&'a str>,
    #[serde(default, rename = "nextFundingTime")]
    next_funding_time: Option<&'a str>,
    #[serde(default)]
    ts: Option<&'a str>,
}

#[derive(Deserialize)]
struct OpenInterest<'a> {
    #[serde(rename = "instId")]
    inst_id: &'a str,
    oi: &'a str,
    #[serde(default, rename = "oiCcy")]
    oi_ccy: Option<&'a str>,
    ts: &'a str,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    asks: Vec<Vec<&'a str>>,
    #[serde(borrow)]
    bids: Vec<Vec<&'a str>>,
    ts: &'a str,
    #[serde(default)]
    checksum: Option<i64>,
    #[serde(default, rename = "seqId")]
    seq_id: Option<i64>,
    #[serde(default, rename = "prevSeqId")]
    prev_seq_id: Option<i64>,
}

#[derive(Deserialize)]
struct Ticker<'a> {
    #[serde(rename = "instId")]
    inst_id: &'a str,
    #[serde(default)]
    last: Option<&'a str>,
    #[serde(default, rename = "askPx")]
    ask_px: Option<&'a str>,
    #[serde(default, rename = "askSz")]
    ask_sz: Option<&'a str>,
    #[serde(default, rename = "bidPx")]
    bid_px: Option<&'a str>,
    #[serde(default, rename = "bidSz")]
    bid_sz: Option<&'a str>,
    #[serde(default, rename = "open24h")]
    open_24h: Option<&'a str>,
    #[serde(default, rename = "vol24h")]
    vol_24h: Option<&'a str>,
    #[serde(default, rename = "volCcy24h")]
    vol_ccy_24h: Option<&'a str>,
    ts: &'a str,
}

#[derive(Debug, Default)]
struct InstBook {
    book: Book,
    seq: Option<i64>,
    synced: bool,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    books: HashMap<String, InstBook>,
    /// Liquidations seen, by a hash of all their fields: OKX's first push
    /// after each (re)subscription repeats recent liquidations, which carry
    /// no id.
    liquidations: Seen,
}

/// What identifies a liquidation that has no id: every field OKX sends.
fn liquidation_key(inst_id: &str, d: &LiquidationDetail<'_>) -> u64 {
    use std::hash::{Hash, Hasher};
    // A fixed-key hasher: the same key for the same fields in every process.
    let mut h = std::hash::DefaultHasher::new();
    (inst_id, d.ts, d.side, d.pos_side, d.sz, d.bk_px).hash(&mut h);
    h.finish()
}

fn ms(field: &str, text: &str) -> Result<i64, BadValue> {
    text.parse()
        .map_err(|_| bad(field, format!("`{text}` is not a time")))
}

/// Whether an instrument trades in contracts (swaps, futures, options):
/// `BASE-QUOTE` is spot.
fn is_derivative(inst_id: &str) -> bool {
    inst_id.split('-').count() > 2
}

/// Base units of `size` of `inst_id` at `price`: a derivative's size is in
/// contracts, whose value must be known.
fn base_size(
    ctx: &Ctx<'_>,
    inst_id: &str,
    size: Decimal,
    price: Decimal,
) -> Result<Decimal, BadValue> {
    match ctx.contracts.get("okx", inst_id) {
        Some(contract) => super::in_base("sz", contract, size, price),
        None if is_derivative(inst_id) => Err(bad(
            "sz",
            format!(
                "the contract value of okx {inst_id} is not known; set it in the config (contracts)"
            ),
        )),
        None => Ok(size),
    }
}

/// A `tickers` item. Sizes are in contracts for derivatives; `vol24h` is
/// in contracts for derivatives and in base units for spot, `volCcy24h` in
/// base units for derivatives and in quote units for spot (OKX docs).
fn ticker(ctx: &Ctx<'_>, t: &Ticker<'_>) -> Result<TickerFields, BadValue> {
    let side = |px_field: &str, px: Option<&str>, sz_field: &str, sz: Option<&str>| match (
        maybe(px_field, px)?,
        maybe(sz_field, sz)?,
    ) {
        (Some(price), Some(size)) if !price.is_zero() => {
            Ok::<_, BadValue>(Some((price, base_size(ctx, t.inst_id, size, price)?)))
        }
        _ => Ok(None),
    };
    let last = maybe("last", t.last)?;
    let open = maybe("open24h", t.open_24h)?;
    let vol = maybe("vol24h", t.vol_24h)?;
    let vol_ccy = maybe("volCcy24h", t.vol_ccy_24h)?;
    let (volume_24h, quote_volume_24h) = if is_derivative(t.inst_id) {
        (vol_ccy, None)
    } else {
        (vol, vol_ccy)
    };
    Ok(TickerFields {
        bid: side("bidPx", t.bid_px, "bidSz", t.bid_sz)?,
        ask: side("askPx", t.ask_px, "askSz", t.ask_sz)?,
        last,
        volume_24h,
        quote_volume_24h,
        change_24h: match (last, open) {
            (Some(l), Some(o)) => l.checked_sub(o),
            _ => None,
        },
        ..TickerFields::default()
    })
}

/// A `candle<interval>` row: `[ts, o, h, l, c, vol, volCcy, volCcyQuote,
/// confirm]`. Base volume: `vol` for spot, `volCcy` for derivatives (whose
/// `vol` is in contracts); quote volume: `volCcyQuote`, or `volCcy` for spot.
fn candle(
    inst_id: &str,
    interval: prism_model::CandleInterval,
    row: &[&str],
) -> Result<CandleFields, BadValue> {
    let at = |i: usize, field: &str| {
        row.get(i)
            .copied()
            .ok_or_else(|| bad(field, "missing from the candle row"))
    };
    let vol = num::text("vol", at(5, "vol")?)?;
    let vol_ccy = maybe("volCcy", row.get(6).copied())?;
    let vol_quote = maybe("volCcyQuote", row.get(7).copied())?;
    let (volume, quote_volume) = if is_derivative(inst_id) {
        let base = vol_ccy.ok_or_else(|| bad("volCcy", "a derivative's candle needs it"))?;
        (base, vol_quote)
    } else {
        (vol, vol_quote.or(vol_ccy))
    };
    let closed = match row.get(8).copied() {
        Some("1") => true,
        Some("0") | None => false,
        Some(other) => return Err(bad("confirm", format!("`{other}` is not 0 or 1"))),
    };
    Ok(CandleFields {
        interval,
        open_ts: ms("ts", at(0, "ts")?)?,
        open: num::text("o", at(1, "o")?)?,
        high: num::text("h", at(2, "h")?)?,
        low: num::text("l", at(3, "l")?)?,
        close: num::text("c", at(4, "c")?)?,
        volume,
        quote_volume,
        trades: None,
        closed,
    })
}

/// A `trades` push: each trade, its size in base units.
fn trades(ctx: &mut Ctx<'_>, trades: Vec<Trade<'_>>) -> Result<(), BadValue> {
    for t in trades {
        let price = num::text("px", t.px)?;
        let size = base_size(ctx, t.inst_id, num::text("sz", t.sz)?, price)?;
        // The record takes the price's text as sent, canonical: cheaper
        // than printing the decimal again.
        let price = num::canonical("px", t.px)?;
        let side = match t.side {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => return Err(bad("side", format!("unknown side `{other}`"))),
        };
        ctx.trade(
            t.inst_id,
            ms("ts", t.ts)?,
            price,
            size,
            side,
            None,
            None,
            false,
        );
    }
    Ok(())
}

impl State {
    pub(crate) fn push(&mut self, ctx: &mut Ctx<'_>, message: &str) -> Result<Outcome, BadValue> {
        if message.trim() == "pong" {
            return Ok(Outcome::Control);
        }
        let m: Message<'_> = envelope::read(message)?;
        if m.event.is_some() {
            return Ok(Outcome::Control);
        }
        let (Some(arg), Some(data)) = (m.arg, m.data) else {
            return Ok(Outcome::Unknown("no arg or data".into()));
        };
        let before = ctx.out.len();
        let data = match data {
            Data::Read(read) => {
                trades(ctx, read)?;
                return Ok(made(ctx, before));
            }
            Data::Raw(raw) => raw.get(),
        };
        match arg.channel {
            "trades" | "trades-all" => trades(ctx, parse("trades", data)?)?,
            "liquidation-orders" => {
                let all: Vec<Liquidations<'_>> = parse("liquidation-orders", data)?;
                // Read every detail first: a message is all or nothing, so
                // none is remembered as seen unless all of them are kept.
                let mut read = Vec::new();
                for l in &all {
                    for d in &l.details {
                        let price = num::text("bkPx", d.bk_px)?;
                        let size = base_size(ctx, l.inst_id, num::text("sz", d.sz)?, price)?;
                        let position = match (d.pos_side, d.side) {
                            ("long", _) | ("net", "sell") => PositionSide::Long,
                            ("short", _) | ("net", "buy") => PositionSide::Short,
                            (p, s) => {
                                return Err(bad(
                                    "posSide",
                                    format!(
                                        "cannot tell the liquidated side from posSide `{p}`, side `{s}`"
                                    ),
                                ));
                            }
                        };
                        let key = liquidation_key(l.inst_id, d);
                        read.push((key, l.inst_id, ms("ts", d.ts)?, price, size, position));
                    }
                }
                for (key, inst_id, ts, price, size, position) in read {
                    if self.liquidations.first(key) {
                        ctx.liquidation(inst_id, ts, price, size, position, None);
                    } else {
                        ctx.stats.duplicates += 1;
                    }
                }
            }
            "funding-rate" => {
                let all: Vec<FundingRate<'_>> = parse("funding-rate", data)?;
                for f in all {
                    let rate = f
                        .funding_rate
                        .filter(|r| !r.is_empty())
                        .ok_or_else(|| bad("fundingRate", "missing"))?;
                    let funding_time = f.funding_time.map(|t| ms("fundingTime", t)).transpose()?;
                    let next = f
                        .next_funding_time
                        .map(|t| ms("nextFundingTime", t))
                        .transpose()?;
                    let interval_h = match (funding_time, next) {
                        (Some(a), Some(b)) if b > a && (b - a) % HOUR_MS == 0 => {
                            u32::try_from((b - a) / HOUR_MS).unwrap_or(8)
                        }
                        _ => 8,
                    };
                    let ts = f.ts.map(|t| ms("ts", t)).transpose()?;
                    let ts = ts.or(ctx.received).or(funding_time);
                    let ts = ctx.time(ts)?;
                    let funding = Funding {
                        rate: num::text("fundingRate", rate)?,
                        interval_h,
                        mark: None,
                        index: None,
                        next: funding_time,
                    };
                    ctx.funding(f.inst_id, ts, funding);
                }
            }
            "open-interest" => {
                let all: Vec<OpenInterest<'_>> = parse("open-interest", data)?;
                for o in all {
                    let oi = match o.oi_ccy.filter(|c| !c.is_empty()) {
                        Some(ccy) => num::text("oiCcy", ccy)?,
                        None => {
                            let c = ctx
                                .contracts
                                .get("okx", o.inst_id)
                                .filter(|c| !c.inverse)
                                .ok_or_else(|| {
                                    bad(
                                        "oi",
                                        format!(
                                            "no oiCcy and no linear contract value for okx {}",
                                            o.inst_id
                                        ),
                                    )
                                })?;
                            num::mul("oi", num::text("oi", o.oi)?, c.value)?
                        }
                    };
                    ctx.open_interest(o.inst_id, ms("ts", o.ts)?, oi);
                }
            }
            "tickers" => {
                let all: Vec<Ticker<'_>> = parse("tickers", data)?;
                for t in all {
                    let ticker = ticker(ctx, &t)?;
                    ctx.ticker(t.inst_id, ms("ts", t.ts)?, ticker);
                }
            }
            "bbo-tbt" => {
                let inst_id = arg.inst_id.ok_or_else(|| bad("arg.instId", "missing"))?;
                let all: Vec<BookData<'_>> = parse("bbo-tbt", data)?;
                for d in all {
                    let best = |field: &str, levels: &[Vec<&str>]| match levels.first() {
                        Some(l) if l.len() >= 2 => {
                            let price = num::text(field, l[0])?;
                            let size = base_size(ctx, inst_id, num::text(field, l[1])?, price)?;
                            Ok(Some((price, size)))
                        }
                        Some(_) => Err(bad(field, "a level needs a price and a size")),
                        None => Ok(None),
                    };
                    let ticker = TickerFields {
                        bid: best("bids", &d.bids)?,
                        ask: best("asks", &d.asks)?,
                        ..TickerFields::default()
                    };
                    ctx.ticker(inst_id, ms("ts", d.ts)?, ticker);
                }
            }
            channel
                if channel.starts_with("candle")
                    && channel.as_bytes().get(6).is_some_and(u8::is_ascii_digit) =>
            {
                let inst_id = arg.inst_id.ok_or_else(|| bad("arg.instId", "missing"))?;
                let interval = interval("arg.channel", &channel["candle".len()..])?;
                let rows: Vec<Vec<&str>> = parse(channel, data)?;
                for row in rows {
                    let candle = candle(inst_id, interval, &row)?;
                    // A candle push carries no time of its own but its start.
                    let ts = ctx.received.unwrap_or(candle.open_ts).max(candle.open_ts);
                    ctx.candle(inst_id, ts, candle);
                }
            }
            "books" | "books5" | "books50-l2-tbt" | "books-l2-tbt" => {
                let inst_id = arg.inst_id.ok_or_else(|| bad("arg.instId", "missing"))?;
                let snapshot = m.action.is_none_or(|a| a == "snapshot");
                let all: Vec<BookData<'_>> = parse("books", data)?;
                for d in all {
                    self.book(ctx, inst_id, snapshot, &d)?;
                }
            }
            other @ ("mark-price"
            | "index-tickers"
            | "price-limit"
            | "opt-summary"
            | "estimated-price"
            | "instruments"
            | "status"
            | "mark-price-candle1m") => {
                return Ok(Outcome::Unsupported(other.to_owned()));
            }
            other if other.contains("candle") => {
                return Ok(Outcome::Unsupported(other.to_owned()));
            }
            other => return Ok(Outcome::Unknown(other.to_owned())),
        }
        Ok(made(ctx, before))
    }

    /// Keeps the book and checks it. `prevSeqId` must be the last `seqId`:
    /// after a gap, updates are dropped (and counted) until the next
    /// snapshot. The checksum (when sent) must match the book after the
    /// update: a mismatch is counted and asks for a resync, and the update
    /// is still emitted, as the venue sent it.
    fn book(
        &mut self,
        ctx: &mut Ctx<'_>,
        inst_id: &str,
        snapshot: bool,
        d: &BookData<'_>,
    ) -> Result<(), BadValue> {
        let state = self.books.entry(inst_id.to_owned()).or_default();
        if snapshot {
            state.book.clear();
            state.synced = true;
        } else if !state.synced {
            ctx.stats.book_unsynced += 1;
            return Ok(());
        } else if let (Some(prev), Some(last)) = (d.prev_seq_id, state.seq)
            && prev != last
        {
            state.synced = false;
            ctx.gap(inst_id);
            return Ok(());
        }
        let mut converted = (Vec::new(), Vec::new());
        for (side, levels, into) in [
            (BookSide::Bid, &d.bids, &mut converted.0),
            (BookSide::Ask, &d.asks, &mut converted.1),
        ] {
            for level in levels {
                let (Some(px), Some(sz)) = (level.first(), level.get(1)) else {
                    return Err(bad("books", "a level without price and size"));
                };
                state.book.set(side, px, sz)?;
                let price = num::text("price", px)?;
                let size = num::text("size", sz)?;
                let size = if size.is_zero() {
                    size
                } else {
                    base_size(ctx, inst_id, size, price)?
                };
                into.push((crate::num::out(price), crate::num::out(size)));
            }
        }
        if let Some(expected) = d.checksum
            && i64::from(state.book.okx_checksum()) != expected
        {
            ctx.stats.checksum_mismatches += 1;
            ctx.request_resync(inst_id);
        }
        state.seq = d.seq_id.or(state.seq);
        ctx.book(inst_id, ms("ts", d.ts)?, snapshot, converted.0, converted.1);
        Ok(())
    }
}
