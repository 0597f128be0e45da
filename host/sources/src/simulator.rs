//! A deterministic, seeded market simulator.
//!
//! BTC, ETH and SOL perpetuals on binance, okx and hyperliquid, moved by one
//! random walk per asset (each venue with its own small basis), with:
//! trades and occasional whale-size prints (hyperliquid trades carry buyer
//! and seller addresses); sharp moves that set off liquidation cascades;
//! funding at each venue's interval (8 h binance and okx, 1 h hyperliquid);
//! open interest every 10 s; book snapshots every second; and, on
//! hyperliquid, a population of accounts whose positions (entry and
//! liquidation price) open, close and get liquidated when price crosses
//! their liquidation price. The same seed gives the same stream.

use crate::candles::CandleBuilder;
use crate::record::{DecimalText, Normalizer, Record};
use prism_model::decimal::Decimal;
use prism_model::{MarketKind, PositionSide, Side, TimestampMs};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Simulated time advanced per step, ms.
pub const STEP_MS: i64 = 250;
const HOUR_MS: i64 = 3_600_000;
const MAINTENANCE_MARGIN: f64 = 0.005;

/// Settings of a simulation.
#[derive(Debug, Clone)]
pub struct SimulatorSettings {
    pub seed: u64,
    /// Event time of the first step, unix ms.
    pub start_ms: TimestampMs,
    /// Stop after this much simulated time; none = never.
    pub duration_ms: Option<i64>,
    /// Accounts per hyperliquid market whose positions are simulated.
    pub accounts: usize,
    /// Also a ticker (best bid/offer from the book, last, mark and index
    /// price) with every book snapshot.
    pub tickers: bool,
    /// Candles the simulated venues stream: each closed at its interval's
    /// end, from the simulated trades.
    pub candles: Vec<prism_model::CandleInterval>,
}

struct Asset {
    name: &'static str,
    price: f64,
    /// Per-step volatility (fraction).
    vol: f64,
    tick: (i64, u32),
    lot: (i64, u32),
    typical_size: f64,
    /// Remaining steps and per-step drift of a sharp move.
    shock: Option<(u32, f64)>,
}

struct Market {
    venue: &'static str,
    symbol: String,
    asset: usize,
    basis: f64,
    funding_interval_h: u32,
    contract_size: Option<(i64, u32)>,
    open_interest: f64,
}

struct Account {
    address: String,
    size: f64,
    entry: f64,
    leverage: f64,
    liquidation: f64,
}

/// The simulator. Call [`Simulator::step`] repeatedly.
pub struct Simulator {
    rng: StdRng,
    now: TimestampMs,
    end: Option<TimestampMs>,
    assets: Vec<Asset>,
    markets: Vec<Market>,
    /// Accounts per market index (hyperliquid markets only).
    accounts: Vec<Vec<Account>>,
    started: bool,
    tickers: bool,
    /// Last trade price per market.
    last: Vec<Option<DecimalText>>,
    /// The venues' candles: built from the simulated trades as the host
    /// would build them, then streamed as the venue's.
    candles: Option<(Normalizer, CandleBuilder)>,
}

fn to_decimal(value: f64, (unit, scale): (i64, u32)) -> Decimal {
    let units = (value * 10f64.powi(scale as i32) / unit as f64).round() as i64;
    Decimal::new(units.max(0) * unit, scale)
}

fn signed_decimal(value: f64, unit: (i64, u32)) -> Decimal {
    let d = to_decimal(value.abs(), unit);
    if value < 0.0 { -d } else { d }
}

impl Simulator {
    /// A simulator for `settings`.
    #[must_use]
    pub fn new(settings: &SimulatorSettings) -> Self {
        let mut rng = StdRng::seed_from_u64(settings.seed);
        let assets = vec![
            Asset {
                name: "BTC",
                price: 37_000.0,
                vol: 0.0003,
                tick: (1, 1),
                lot: (1, 3),
                typical_size: 0.05,
                shock: None,
            },
            Asset {
                name: "ETH",
                price: 2_000.0,
                vol: 0.0004,
                tick: (1, 2),
                lot: (1, 2),
                typical_size: 0.8,
                shock: None,
            },
            Asset {
                name: "SOL",
                price: 55.0,
                vol: 0.0006,
                tick: (1, 3),
                lot: (1, 1),
                typical_size: 30.0,
                shock: None,
            },
        ];
        let mut markets = Vec::new();
        for (asset, a) in assets.iter().enumerate() {
            let oi = 5_000_000.0 / a.price;
            markets.push(Market {
                venue: "binance",
                symbol: format!("{}USDT", a.name),
                asset,
                basis: 0.0,
                funding_interval_h: 8,
                contract_size: None,
                open_interest: oi * 3.0,
            });
            let contract = [(1, 2), (1, 1), (1, 0)][asset];
            markets.push(Market {
                venue: "okx",
                symbol: format!("{}-USDT-SWAP", a.name),
                asset,
                basis: 0.0002,
                funding_interval_h: 8,
                contract_size: Some(contract),
                open_interest: oi * 2.0,
            });
            markets.push(Market {
                venue: "hyperliquid",
                symbol: a.name.to_owned(),
                asset,
                basis: -0.0003,
                funding_interval_h: 1,
                contract_size: None,
                open_interest: oi,
            });
        }
        let accounts = markets
            .iter()
            .map(|m| {
                if m.venue != "hyperliquid" {
                    return Vec::new();
                }
                (0..settings.accounts)
                    .map(|_| Account {
                        address: format!(
                            "0x{:016x}{:016x}{:08x}",
                            rng.random::<u64>(),
                            rng.random::<u64>(),
                            rng.random::<u32>()
                        ),
                        size: 0.0,
                        entry: 0.0,
                        leverage: 1.0,
                        liquidation: 0.0,
                    })
                    .collect()
            })
            .collect();
        Self {
            last: vec![None; markets.len()],
            rng,
            now: settings.start_ms,
            end: settings.duration_ms.map(|d| settings.start_ms + d),
            assets,
            markets,
            accounts,
            started: false,
            tickers: settings.tickers,
            candles: (!settings.candles.is_empty())
                .then(|| (Normalizer::default(), CandleBuilder::new(&settings.candles))),
        }
    }

    /// Event time of the next step.
    #[must_use]
    pub fn now(&self) -> TimestampMs {
        self.now
    }

    fn normal(&mut self) -> f64 {
        // Box–Muller: two uniforms give one standard normal.
        let u1: f64 = self.rng.random::<f64>().max(1e-12);
        let u2: f64 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Appends the records of one step ([`STEP_MS`] of event time), in
    /// event-time order; returns false once the duration is over.
    pub fn step(&mut self, out: &mut Vec<Record>) -> bool {
        if self.end.is_some_and(|end| self.now >= end) {
            return false;
        }
        let mut step: Vec<(TimestampMs, Record)> = Vec::new();
        if !self.started {
            self.started = true;
            self.declare(out);
            for m in 0..self.markets.len() {
                step.push((self.now, self.funding(m, self.now)));
            }
        }
        self.move_prices();
        let t0 = self.now;
        for m in 0..self.markets.len() {
            self.trades(m, t0, &mut step);
            self.cascade(m, t0, &mut step);
            if self.markets[m].venue == "hyperliquid" {
                self.positions(m, t0, &mut step);
            }
            let interval = i64::from(self.markets[m].funding_interval_h) * HOUR_MS;
            if t0 % interval == 0 && t0 != 0 {
                step.push((t0, self.funding(m, t0)));
            }
            if t0 % 10_000 == 0 {
                step.push((t0, self.open_interest(m, t0)));
            }
            if t0 % 1_000 == 0 {
                let book = self.book(m, t0);
                if self.tickers {
                    step.push((t0, self.ticker(m, t0, &book)));
                }
                step.push((t0, book));
            }
        }
        step.sort_by_key(|(ts, _)| *ts);
        self.streamed_candles(&mut step);
        out.extend(step.into_iter().map(|(_, r)| r));
        self.now += STEP_MS;
        true
    }

    fn declare(&self, out: &mut Vec<Record>) {
        for m in &self.markets {
            let a = &self.assets[m.asset];
            out.push(Record::Instrument {
                exchange: m.venue.into(),
                symbol: m.symbol.clone(),
                base: Some(a.name.to_owned()),
                quote: Some(
                    if m.venue == "hyperliquid" {
                        "USD"
                    } else {
                        "USDT"
                    }
                    .to_owned(),
                ),
                market: Some(MarketKind::Perpetual),
                contract_size: Some(
                    m.contract_size
                        .map_or_else(|| "1".to_owned(), |(u, s)| Decimal::new(u, s).to_string())
                        .into(),
                ),
            });
        }
    }

    fn move_prices(&mut self) {
        for i in 0..self.assets.len() {
            let z = self.normal();
            let start_shock = self.rng.random::<f64>() < 1.0 / 2400.0;
            let a = &mut self.assets[i];
            let mut drift = 0.0;
            if let Some((left, per_step)) = a.shock {
                drift = per_step;
                a.shock = (left > 1).then_some((left - 1, per_step));
            } else if start_shock {
                let size = 0.02 + 0.03 * self.rng.random::<f64>();
                let sign = if self.rng.random::<bool>() { 1.0 } else { -1.0 };
                a.shock = Some((20, sign * size / 20.0));
            }
            let a = &mut self.assets[i];
            a.price *= 1.0 + drift + a.vol * z;
        }
    }

    fn price(&self, m: usize) -> f64 {
        let market = &self.markets[m];
        self.assets[market.asset].price * (1.0 + market.basis)
    }

    fn trades(&mut self, m: usize, t0: TimestampMs, out: &mut Vec<(TimestampMs, Record)>) {
        let n = self.rng.random_range(0..=4u32);
        let asset = self.markets[m].asset;
        let drift = self.assets[asset].shock.map_or(0.0, |(_, d)| d);
        for _ in 0..n {
            let ts = t0 + self.rng.random_range(0..STEP_MS);
            let buy_bias = 0.5 + (drift * 200.0).clamp(-0.3, 0.3);
            let side = if self.rng.random::<f64>() < buy_bias {
                Side::Buy
            } else {
                Side::Sell
            };
            let noise = 1.0 + 0.00005 * self.normal();
            let a = &self.assets[asset];
            let (tick, lot, typical) = (a.tick, a.lot, a.typical_size);
            let price = to_decimal(self.price(m) * noise, tick);
            let mut size = typical * (0.8 * self.normal()).exp();
            if self.rng.random::<f64>() < 0.003 {
                size *= 150.0;
            }
            let mut size = to_decimal(size, lot);
            if size.is_zero() {
                size = Decimal::new(lot.0, lot.1);
            }
            let (buyer, seller) = if self.markets[m].venue == "hyperliquid" {
                let accounts = &self.accounts[m];
                let b = self.rng.random_range(0..accounts.len());
                let s = self.rng.random_range(0..accounts.len());
                (
                    Some(accounts[b].address.clone()),
                    Some(accounts[s].address.clone()),
                )
            } else {
                (None, None)
            };
            out.push((
                ts,
                Record::Trade {
                    exchange: self.markets[m].venue.into(),
                    symbol: self.markets[m].symbol.clone(),
                    ts,
                    received_ts: Some(ts + 5),
                    price: price.to_string().into(),
                    size: size.to_string().into(),
                    side,
                    buyer,
                    seller,
                    insurance_fund: false,
                },
            ));
        }
    }

    /// Forced liquidations on the venues without public positions, during sharp moves.
    fn cascade(&mut self, m: usize, t0: TimestampMs, out: &mut Vec<(TimestampMs, Record)>) {
        if self.markets[m].venue == "hyperliquid" {
            return;
        }
        let asset = self.markets[m].asset;
        let Some((_, drift)) = self.assets[asset].shock else {
            return;
        };
        let n = self.rng.random_range(0..=3u32);
        for _ in 0..n {
            let ts = t0 + self.rng.random_range(0..STEP_MS);
            let a = &self.assets[asset];
            let (tick, lot, typical) = (a.tick, a.lot, a.typical_size);
            let position = if drift < 0.0 {
                PositionSide::Long
            } else {
                PositionSide::Short
            };
            let price = to_decimal(self.price(m) * (1.0 - drift), tick);
            let mut size = to_decimal(typical * 8.0 * (0.7 * self.normal()).exp(), lot);
            if size.is_zero() {
                size = Decimal::new(lot.0, lot.1);
            }
            out.push((
                ts,
                Record::Liquidation {
                    exchange: self.markets[m].venue.into(),
                    symbol: self.markets[m].symbol.clone(),
                    ts,
                    received_ts: Some(ts + 5),
                    price: price.to_string().into(),
                    size: size.to_string().into(),
                    position,
                    account: None,
                },
            ));
        }
    }

    fn position_record(&self, m: usize, i: usize, ts: TimestampMs) -> Record {
        let market = &self.markets[m];
        let a = &self.assets[market.asset];
        let acc = &self.accounts[m][i];
        let flat = acc.size == 0.0;
        Record::Position {
            exchange: market.venue.into(),
            symbol: market.symbol.clone(),
            ts,
            received_ts: Some(ts + 5),
            account: acc.address.clone(),
            size: signed_decimal(acc.size, a.lot).to_string().into(),
            entry_price: if flat {
                "0".into()
            } else {
                to_decimal(acc.entry, a.tick).to_string().into()
            },
            liquidation_price: (!flat)
                .then(|| to_decimal(acc.liquidation, a.tick).to_string().into()),
            leverage: (!flat).then(|| format!("{}", acc.leverage).into()),
        }
    }

    fn positions(&mut self, m: usize, t0: TimestampMs, out: &mut Vec<(TimestampMs, Record)>) {
        let price = self.price(m);
        let asset = self.markets[m].asset;
        for i in 0..self.accounts[m].len() {
            let ts = t0 + self.rng.random_range(0..STEP_MS);
            let acc = &self.accounts[m][i];
            let crossed = acc.size > 0.0 && price <= acc.liquidation
                || acc.size < 0.0 && price >= acc.liquidation;
            if crossed {
                let a = &self.assets[asset];
                out.push((
                    ts,
                    Record::Liquidation {
                        exchange: "hyperliquid".into(),
                        symbol: self.markets[m].symbol.clone(),
                        ts,
                        received_ts: Some(ts + 5),
                        price: to_decimal(acc.liquidation, a.tick).to_string().into(),
                        size: to_decimal(acc.size.abs(), a.lot).to_string().into(),
                        position: if acc.size > 0.0 {
                            PositionSide::Long
                        } else {
                            PositionSide::Short
                        },
                        account: Some(acc.address.clone()),
                    },
                ));
                self.accounts[m][i].size = 0.0;
                out.push((ts, self.position_record(m, i, ts)));
                continue;
            }
            if self.rng.random::<f64>() >= 0.004 {
                continue;
            }
            let opening = self.accounts[m][i].size == 0.0 || self.rng.random::<f64>() < 0.3;
            if opening {
                let leverage = [3.0, 5.0, 10.0, 20.0, 25.0, 50.0][self.rng.random_range(0..6)];
                let long = self.rng.random::<bool>();
                let z = self.normal();
                let a = &self.assets[asset];
                let qty = a.typical_size * 20.0 * z.exp();
                let qty = to_decimal(qty, a.lot);
                let qty: f64 = qty.to_string().parse().unwrap_or(0.0);
                if qty == 0.0 {
                    continue;
                }
                let entry: f64 = to_decimal(price, a.tick)
                    .to_string()
                    .parse()
                    .unwrap_or(price);
                let liquidation = if long {
                    entry * (1.0 - 1.0 / leverage + MAINTENANCE_MARGIN)
                } else {
                    entry * (1.0 + 1.0 / leverage - MAINTENANCE_MARGIN)
                };
                let acc = &mut self.accounts[m][i];
                acc.size = if long { qty } else { -qty };
                acc.entry = entry;
                acc.leverage = leverage;
                acc.liquidation = liquidation;
            } else {
                self.accounts[m][i].size = 0.0;
            }
            out.push((ts, self.position_record(m, i, ts)));
        }
    }

    fn funding(&mut self, m: usize, ts: TimestampMs) -> Record {
        let market = &self.markets[m];
        let hourly_base = 0.0000125;
        let venue_tilt = match market.venue {
            "binance" => 0.0,
            "okx" => 0.000002,
            _ => 0.000006,
        };
        let hours = f64::from(market.funding_interval_h);
        let noise = 0.000004 * self.normal();
        let rate = (hourly_base + venue_tilt + noise) * hours;
        let a = &self.assets[self.markets[m].asset];
        let market = &self.markets[m];
        let interval = i64::from(market.funding_interval_h) * HOUR_MS;
        Record::Funding {
            exchange: market.venue.into(),
            symbol: market.symbol.clone(),
            ts,
            received_ts: Some(ts + 5),
            rate: signed_decimal(rate, (1, 8)).to_string().into(),
            interval_h: market.funding_interval_h,
            mark_price: Some(to_decimal(self.price(m), a.tick).to_string().into()),
            index_price: Some(to_decimal(a.price, a.tick).to_string().into()),
            next_funding_ts: Some((ts.div_euclid(interval) + 1) * interval),
        }
    }

    fn open_interest(&mut self, m: usize, ts: TimestampMs) -> Record {
        let z = self.normal();
        let market = &mut self.markets[m];
        market.open_interest = (market.open_interest * (1.0 + 0.002 * z)).max(1.0);
        let a = &self.assets[market.asset];
        Record::OpenInterest {
            exchange: market.venue.into(),
            symbol: market.symbol.clone(),
            ts,
            received_ts: Some(ts + 5),
            open_interest: to_decimal(market.open_interest, a.lot).to_string().into(),
        }
    }

    /// The ticker of market `m`: the book's best levels, the last trade,
    /// the market's mark and its asset's index price.
    fn ticker(&self, m: usize, ts: TimestampMs, book: &Record) -> Record {
        let Record::Book { bids, asks, .. } = book else {
            unreachable!("a book record")
        };
        let tick = self.assets[self.markets[m].asset].tick;
        let index = self.assets[self.markets[m].asset].price;
        Record::Ticker {
            exchange: self.markets[m].venue.into(),
            symbol: self.markets[m].symbol.clone(),
            ts,
            received_ts: Some(ts + 5),
            bid: bids.first().cloned(),
            ask: asks.first().cloned(),
            last_price: self.last[m].clone(),
            volume_24h: None,
            quote_volume_24h: None,
            change_24h: None,
            change_24h_percent: None,
            mark_price: Some(to_decimal(self.price(m), tick).to_string().into()),
            index_price: Some(to_decimal(index, tick).to_string().into()),
        }
    }

    /// Adds the candles the step's trades close, each at its interval's end.
    fn streamed_candles(&mut self, step: &mut Vec<(TimestampMs, Record)>) {
        for (_, r) in step.iter() {
            if let Record::Trade {
                exchange,
                symbol,
                price,
                ..
            } = r
                && let Some(m) = self
                    .markets
                    .iter()
                    .position(|m| m.venue == exchange && m.symbol == *symbol)
            {
                self.last[m] = Some(price.clone());
            }
        }
        let Some((normalizer, builder)) = &mut self.candles else {
            return;
        };
        let mut events = Vec::new();
        for (_, r) in step.iter() {
            if matches!(r, Record::Trade { .. }) {
                // Simulated trades are valid records.
                let _ = normalizer.push(r, &mut events);
            }
        }
        let mut closed = Vec::new();
        for e in builder.apply(events) {
            if let prism_model::Event::Candle(c) = &e
                && let Some(i) = normalizer.registry().get(c.instrument)
                && let Some(r) = Record::from_event(&e, i)
            {
                closed.push((c.ts, r));
            }
        }
        if !closed.is_empty() {
            step.extend(closed);
            step.sort_by_key(|(ts, _)| *ts);
        }
    }

    fn book(&mut self, m: usize, ts: TimestampMs) -> Record {
        let price = self.price(m);
        let a = &self.assets[self.markets[m].asset];
        let tick = a.tick.0 as f64 / 10f64.powi(a.tick.1 as i32);
        let (tick_unit, lot, typical) = (a.tick, a.lot, a.typical_size);
        let mut level = |i: usize, dir: f64| {
            let p = price + dir * tick * (1.0 + 2.0 * i as f64);
            let s = typical * (2.0 + i as f64) * (0.5 * self.normal()).exp();
            (
                DecimalText(to_decimal(p, tick_unit).to_string()),
                DecimalText(to_decimal(s.max(0.0), lot).to_string()),
            )
        };
        let bids = (0..10).map(|i| level(i, -1.0)).collect();
        let asks = (0..10).map(|i| level(i, 1.0)).collect();
        Record::Book {
            exchange: self.markets[m].venue.into(),
            symbol: self.markets[m].symbol.clone(),
            ts,
            received_ts: Some(ts + 5),
            snapshot: true,
            bids,
            asks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, minutes: i64) -> Vec<Record> {
        let mut sim = Simulator::new(&SimulatorSettings {
            seed,
            start_ms: 1_700_000_000_000,
            duration_ms: Some(minutes * 60_000),
            accounts: 20,
            tickers: false,
            candles: Vec::new(),
        });
        let mut out = Vec::new();
        while sim.step(&mut out) {}
        out
    }

    #[test]
    fn tickers_and_streamed_candles_add_to_the_stream_without_changing_it() {
        let mut sim = Simulator::new(&SimulatorSettings {
            seed: 7,
            start_ms: 1_700_000_000_000,
            duration_ms: Some(10 * 60_000),
            accounts: 20,
            tickers: true,
            candles: vec!["1m".parse().unwrap()],
        });
        let mut all = Vec::new();
        while sim.step(&mut all) {}
        let plain: Vec<&Record> = all
            .iter()
            .filter(|r| !matches!(r, Record::Ticker { .. } | Record::Candle { .. }))
            .collect();
        assert_eq!(plain, run(7, 10).iter().collect::<Vec<_>>());
        let dec = |t: &DecimalText| prism_model::decimal::parse(&t.0).unwrap();
        let (mut tickers, mut candles) = (0, 0);
        for (i, r) in all.iter().enumerate() {
            match r {
                // The ticker's best levels are the book's that follows it.
                Record::Ticker {
                    symbol, bid, ask, ..
                } => {
                    tickers += 1;
                    let book = all[i..]
                        .iter()
                        .find(|b| matches!(b, Record::Book { symbol: s, .. } if s == symbol));
                    let Some(Record::Book { bids, asks, .. }) = book else {
                        panic!("no book after {r:?}")
                    };
                    assert_eq!((bid.as_ref(), ask.as_ref()), (bids.first(), asks.first()));
                }
                // Each candle from its interval's trades, folded here.
                Record::Candle {
                    exchange,
                    symbol,
                    ts,
                    open_ts,
                    open,
                    high,
                    low,
                    close,
                    volume,
                    quote_volume,
                    trades,
                    closed,
                    ..
                } => {
                    candles += 1;
                    assert!(closed);
                    assert_eq!(*ts - *open_ts, 60_000);
                    let prices: Vec<(Decimal, Decimal)> = all
                        .iter()
                        .filter_map(|t| match t {
                            Record::Trade {
                                exchange: e,
                                symbol: s,
                                ts: t,
                                price,
                                size,
                                ..
                            } if e == exchange && s == symbol && (*open_ts..*ts).contains(t) => {
                                Some((dec(price), dec(size)))
                            }
                            _ => None,
                        })
                        .collect();
                    assert_eq!(dec(open), prices[0].0);
                    assert_eq!(dec(close), prices[prices.len() - 1].0);
                    assert_eq!(dec(high), prices.iter().map(|p| p.0).max().unwrap());
                    assert_eq!(dec(low), prices.iter().map(|p| p.0).min().unwrap());
                    assert_eq!(dec(volume), prices.iter().map(|p| p.1).sum::<Decimal>());
                    let quote: Decimal = prices.iter().map(|(p, s)| p * s).sum();
                    assert_eq!(dec(quote_volume.as_ref().unwrap()), quote);
                    assert_eq!(*trades, Some(prices.len() as u64));
                }
                _ => {}
            }
        }
        // A ticker per book (9 markets, each second). The run starts 20 s
        // into a minute (1700000000000 mod 60000 = 20000), so its 10
        // minutes touch 11 intervals: 10 closed per market, the last open.
        assert_eq!(tickers, 9 * 600);
        assert_eq!(candles, 9 * 10);
    }

    #[test]
    fn the_same_seed_gives_the_same_stream() {
        assert_eq!(run(7, 2), run(7, 2));
        assert_ne!(run(7, 2), run(8, 2));
    }

    #[test]
    fn the_stream_has_every_kind_in_time_order_and_valid_decimals() {
        let records = run(3, 90);
        let mut kinds = std::collections::BTreeSet::new();
        let mut last = i64::MIN;
        let mut normalizer = crate::record::Normalizer::default();
        let mut events = Vec::new();
        for r in &records {
            normalizer.push(r, &mut events).unwrap();
            let value = serde_json::to_value(r).unwrap();
            kinds.insert(value["type"].as_str().unwrap().to_owned());
            if let Some(ts) = value["ts"].as_i64() {
                assert!(ts >= last, "time goes backwards at {value}");
                last = ts;
            }
        }
        for kind in [
            "instrument",
            "trade",
            "funding",
            "open_interest",
            "book",
            "position",
        ] {
            assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
        }
        // Hyperliquid funds hourly: 90 minutes give the start and the 1-hour mark.
        let hl_funding = records
            .iter()
            .filter(|r| matches!(r, Record::Funding { exchange, symbol, .. } if exchange == "hyperliquid" && symbol == "BTC"))
            .count();
        assert_eq!(hl_funding, 2);
    }
}
