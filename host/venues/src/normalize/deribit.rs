//! Deribit (`wss://www.deribit.com/ws/api/v2`), JSON-RPC notifications.
//! Inverse perpetuals and futures count `amount` and open interest in USD
//! (base = USD / price); linear (`_USDC`, `_USDT`) ones and options in the
//! base currency. A trade's `liquidation` flag (`M` maker, `T` taker, `MT`
//! both) also makes a liquidation of that side's position.

use super::envelope::{self, Data, DataSeed, Envelope, Optional, Seed};
use super::market::{CandleFields, OpenCandles, TickerFields, interval};
use super::{Ctx, Funding, Outcome, made, parse};
use crate::num::{self, BadValue, bad};
use prism_model::{Decimal, PositionSide, Side};
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess};
use serde_json::value::RawValue;

/// A JSON-RPC message.
#[derive(Default)]
struct Message<'a> {
    method: Option<&'a str>,
    params: Option<Params<'a>>,
    result: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
}

/// A notification's parameters: a `trades` channel's data read in the same
/// pass as the channel (which Deribit sends first), any other kept raw.
#[derive(Default)]
struct Params<'a> {
    channel: Option<&'a str>,
    data: Option<Data<'a, Vec<Trade<'a>>>>,
}

envelope::keys!(MessageKey {
    Method = "method",
    Params = "params",
    Result = "result",
    Error = "error",
});

envelope::keys!(ParamsKey {
    Channel = "channel",
    Data = "data",
});

impl<'de> Envelope<'de> for Message<'de> {
    type Key = MessageKey;
    const NAME: &'static str = "Deribit JSON-RPC message";

    fn read<A: MapAccess<'de>>(
        &mut self,
        key: MessageKey,
        map: &mut A,
        one_pass: bool,
    ) -> Result<(), A::Error> {
        match key {
            MessageKey::Method => self.method = map.next_value()?,
            MessageKey::Params => {
                self.params = map.next_value_seed(Optional(Seed::<Params<'de>>::new(one_pass)))?;
            }
            MessageKey::Result => self.result = map.next_value()?,
            MessageKey::Error => self.error = map.next_value()?,
            MessageKey::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> Envelope<'de> for Params<'de> {
    type Key = ParamsKey;
    const NAME: &'static str = "notification's params";

    fn read<A: MapAccess<'de>>(
        &mut self,
        key: ParamsKey,
        map: &mut A,
        one_pass: bool,
    ) -> Result<(), A::Error> {
        match key {
            ParamsKey::Channel => self.channel = map.next_value()?,
            ParamsKey::Data => {
                let trades = one_pass && self.channel.is_some_and(is_trades);
                self.data = map.next_value_seed(DataSeed::new(trades))?;
            }
            ParamsKey::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Whether a channel's data are trades (`trades.{instrument}.{interval}`).
fn is_trades(channel: &str) -> bool {
    channel
        .strip_prefix("trades")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Numbers are borrowed as printed (`&RawValue`) and read exactly
/// ([`num::printed`]); Deribit sends them as JSON numbers, not texts.
#[derive(Deserialize)]
struct Trade<'a> {
    timestamp: i64,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    amount: &'a RawValue,
    direction: &'a str,
    instrument_name: &'a str,
    #[serde(default)]
    liquidation: Option<&'a str>,
}

#[derive(Deserialize)]
struct Ticker<'a> {
    timestamp: i64,
    instrument_name: &'a str,
    #[serde(borrow, default)]
    best_bid_price: Option<&'a RawValue>,
    #[serde(borrow, default)]
    best_bid_amount: Option<&'a RawValue>,
    #[serde(borrow, default)]
    best_ask_price: Option<&'a RawValue>,
    #[serde(borrow, default)]
    best_ask_amount: Option<&'a RawValue>,
    #[serde(borrow, default)]
    last_price: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stats: Option<Stats<'a>>,
    #[serde(borrow, default)]
    open_interest: Option<&'a RawValue>,
    #[serde(borrow, default)]
    funding_8h: Option<&'a RawValue>,
    #[serde(borrow, default)]
    mark_price: Option<&'a RawValue>,
    #[serde(borrow, default)]
    index_price: Option<&'a RawValue>,
}

/// A ticker's 24-hour statistics: `volume` in the base currency,
/// `volume_usd` in USD (futures), `price_change` in percent.
#[derive(Deserialize)]
struct Stats<'a> {
    #[serde(borrow, default)]
    volume: Option<&'a RawValue>,
    #[serde(borrow, default)]
    volume_usd: Option<&'a RawValue>,
    #[serde(borrow, default)]
    price_change: Option<&'a RawValue>,
}

/// `chart.trades.{instrument}.{resolution}`: the open candle, `tick` its
/// start, `volume` in the base currency, `cost` in the quote currency.
#[derive(Deserialize)]
struct Chart<'a> {
    tick: i64,
    #[serde(borrow)]
    open: &'a RawValue,
    #[serde(borrow)]
    high: &'a RawValue,
    #[serde(borrow)]
    low: &'a RawValue,
    #[serde(borrow)]
    close: &'a RawValue,
    #[serde(borrow)]
    volume: &'a RawValue,
    #[serde(borrow, default)]
    cost: Option<&'a RawValue>,
}

/// Deribit never marks a candle closed: the next interval's first update
/// closes it.
#[derive(Debug, Default)]
pub(crate) struct State {
    candles: OpenCandles,
}

/// A resolution (`1` … `720` minutes, `1D`) as an interval.
fn resolution(text: &str) -> Result<prism_model::CandleInterval, BadValue> {
    let name = if text.bytes().all(|b| b.is_ascii_digit()) {
        format!("{text}m")
    } else {
        text.to_owned()
    };
    interval("channel", &name)
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
    // Counted byte by byte, not split: this runs for every trade.
    match name.bytes().filter(|&b| b == b'-').count() {
        1 if name
            .split_once('-')
            .is_some_and(|(first, _)| first.contains('_')) =>
        {
            Kind::Base
        }
        1 => Kind::Inverse,
        3 if name.ends_with("-C") || name.ends_with("-P") => Kind::Base,
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

impl State {
    pub(crate) fn push(&mut self, ctx: &mut Ctx<'_>, message: &str) -> Result<Outcome, BadValue> {
        let m: Message<'_> = envelope::read(message)?;
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
        let data = match data {
            Data::Read(read) => {
                let before = ctx.out.len();
                trades(ctx, read)?;
                return Ok(made(ctx, before));
            }
            Data::Raw(raw) => raw.get(),
        };
        if let Some(rest) = channel.strip_prefix("chart.trades.") {
            return self.chart(ctx, rest, data);
        }
        notification(ctx, channel, data)
    }

    /// `chart.trades.{instrument}.{resolution}`, `rest` the part after
    /// `chart.trades.`.
    fn chart(&mut self, ctx: &mut Ctx<'_>, rest: &str, data: &str) -> Result<Outcome, BadValue> {
        let c: Chart<'_> = parse("data", data)?;
        let (instrument, res) = rest
            .rsplit_once('.')
            .ok_or_else(|| bad("channel", "chart.trades.{instrument}.{resolution}"))?;
        let candle = CandleFields {
            interval: resolution(res)?,
            open_ts: c.tick,
            open: num::printed("open", c.open)?,
            high: num::printed("high", c.high)?,
            low: num::printed("low", c.low)?,
            close: num::printed("close", c.close)?,
            volume: num::printed("volume", c.volume)?,
            quote_volume: c.cost.map(|v| num::printed("cost", v)).transpose()?,
            trades: None,
            closed: false,
        };
        let before = ctx.out.len();
        let ts = ctx.received.unwrap_or(c.tick).max(c.tick);
        self.candles.update(ctx, instrument, ts, candle);
        Ok(made(ctx, before))
    }
}

/// A subscription notification other than a chart: its channel and data.
fn notification(ctx: &mut Ctx<'_>, channel: &str, data: &str) -> Result<Outcome, BadValue> {
    let prefix = channel.split('.').next().unwrap_or(channel);
    let before = ctx.out.len();
    match prefix {
        "trades" => trades(ctx, parse("trades", data)?)?,
        "ticker" => {
            let t: Ticker<'_> = parse("ticker", data)?;
            let kind = kind(t.instrument_name);
            if kind == Kind::Combo {
                return Ok(Outcome::Unsupported("ticker of a combo".into()));
            }
            let opt =
                |field: &str, v: Option<&RawValue>| v.map(|v| num::printed(field, v)).transpose();
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
            ticker(ctx, &t, kind)?;
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
        "quote" => {
            let t: Ticker<'_> = parse("quote", data)?;
            let kind = kind(t.instrument_name);
            if kind == Kind::Combo {
                return Ok(Outcome::Unsupported("quote of a combo".into()));
            }
            ticker(ctx, &t, kind)?;
        }
        other @ ("book"
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

/// A `trades` notification: each trade (combos skipped), and the
/// liquidations its flag names.
fn trades(ctx: &mut Ctx<'_>, trades: Vec<Trade<'_>>) -> Result<(), BadValue> {
    for t in trades {
        let kind = kind(t.instrument_name);
        if kind == Kind::Combo {
            continue;
        }
        let price = num::printed("price", t.price)?;
        let size = base_amount("amount", kind, num::printed("amount", t.amount)?, price)?;
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
    Ok(())
}

/// The ticker part of a `ticker` or `quote` notification. A side with
/// price 0 or none is empty; amounts of inverse instruments are USD.
fn ticker(ctx: &mut Ctx<'_>, t: &Ticker<'_>, kind: Kind) -> Result<(), BadValue> {
    let opt = |field: &str, v: Option<&RawValue>| v.map(|v| num::printed(field, v)).transpose();
    let side = |field: &str, price: Option<&RawValue>, amount: Option<&RawValue>| match (
        opt(field, price)?,
        opt(field, amount)?,
    ) {
        (Some(p), Some(a)) if !p.is_zero() => {
            Ok::<_, BadValue>(Some((p, base_amount(field, kind, a, p)?)))
        }
        _ => Ok(None),
    };
    let stats = t.stats.as_ref();
    let fields = TickerFields {
        bid: side("best_bid_amount", t.best_bid_price, t.best_bid_amount)?,
        ask: side("best_ask_amount", t.best_ask_price, t.best_ask_amount)?,
        last: opt("last_price", t.last_price)?,
        volume_24h: opt("stats.volume", stats.and_then(|s| s.volume))?,
        quote_volume_24h: opt("stats.volume_usd", stats.and_then(|s| s.volume_usd))?,
        change_24h: None,
        change_24h_percent: opt("stats.price_change", stats.and_then(|s| s.price_change))?,
        mark: opt("mark_price", t.mark_price)?,
        index: opt("index_price", t.index_price)?,
    };
    ctx.ticker(t.instrument_name, t.timestamp, fields);
    Ok(())
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
        assert_eq!(kind("ETH-27DEC24-4000-C"), Kind::Base);
        assert_eq!(kind("BTC-24SEP21-8000-X"), Kind::Combo);
        assert_eq!(kind("BTC-24SEP21-C"), Kind::Combo);
        assert_eq!(kind("BTC-PERPETUAL_X"), Kind::Inverse);
        assert_eq!(kind("BTC"), Kind::Combo);
        assert!(is_trades("trades.BTC-PERPETUAL.100ms"));
        assert!(is_trades("trades"));
        assert!(!is_trades("tradesX.BTC-PERPETUAL.raw"));
        assert!(!is_trades("ticker.BTC-PERPETUAL.raw"));
    }
}
