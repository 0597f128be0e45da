//! The executor against values worked out by hand (each test says how).

use super::*;
use prism_model::{
    Book, Decimal, Funding, Instrument, InstrumentId, Level, MarketKind, OrderOrigin, OrderStatus,
    Side, Trade, decimal::parse,
};
use std::sync::Arc;

fn d(s: &str) -> Decimal {
    parse(s).unwrap()
}

const BN: InstrumentId = InstrumentId(0);
const HL: InstrumentId = InstrumentId(1);

fn instrument(id: InstrumentId, exchange: &str, symbol: &str) -> Event {
    Event::Instrument(Arc::new(Instrument {
        id,
        exchange: exchange.into(),
        symbol: symbol.into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        kind: MarketKind::Perpetual,
        contract_size: d("1"),
    }))
}

fn trade(id: InstrumentId, ts: i64, price: &str, size: &str) -> Event {
    Event::Trade(Trade {
        instrument: id,
        ts,
        received_ts: ts,
        price: d(price),
        size: d(size),
        side: Side::Sell,
        buyer: None,
        seller: None,
    })
}

fn funding(
    id: InstrumentId,
    ts: i64,
    rate: &str,
    mark: &str,
    next: Option<i64>,
    hours: u32,
) -> Event {
    Event::Funding(Funding {
        instrument: id,
        ts,
        received_ts: ts,
        rate: d(rate),
        interval_hours: hours,
        mark_price: Some(d(mark)),
        index_price: None,
        next_funding_ts: next,
    })
}

fn settings() -> ExecutionSettings {
    let mut s = ExecutionSettings::default();
    s.fees.insert(
        "binance".into(),
        Fees {
            maker: d("0.0002"),
            taker: d("0.0004"),
        },
    );
    s.fees.insert(
        "hyperliquid".into(),
        Fees {
            maker: d("0.0001"),
            taker: d("0.00035"),
        },
    );
    s
}

struct Run {
    account: PaperAccount,
    fills: Vec<Fill>,
}

impl Run {
    fn new(settings: ExecutionSettings) -> Self {
        let mut run = Self {
            account: PaperAccount::new("p".into(), settings),
            fills: Vec::new(),
        };
        run.feed(&[
            instrument(BN, "binance", "BTCUSDT"),
            instrument(HL, "hyperliquid", "BTC"),
        ]);
        run
    }
    fn feed(&mut self, events: &[Event]) -> Vec<Fill> {
        let mut fills = Vec::new();
        for e in events {
            self.account.observe(e, &mut fills);
        }
        self.fills.extend(fills.clone());
        fills
    }
    fn order(
        &mut self,
        id: InstrumentId,
        side: Side,
        size: &str,
        limit: Option<&str>,
        reduce: bool,
    ) -> OrderRecord {
        let n = self.account.book.seq + 1;
        self.account.place(&OrderRequest {
            client_id: format!("c{n}").into(),
            instrument: id,
            side,
            size: d(size),
            limit_price: limit.map(d),
            reduce_only: reduce,
            origin: OrderOrigin::Plugin,
        })
    }
    fn position(&mut self, id: InstrumentId) -> prism_model::PositionRecord {
        self.account.dirty.insert(id);
        let report = self.account.take_report().unwrap();
        report
            .positions
            .into_iter()
            .find(|p| p.instrument == id)
            .unwrap()
    }
}

fn fill(f: &Fill) -> (Decimal, Decimal, Decimal) {
    (f.price, f.size, f.fee)
}

/// Market buy 2: a trade of 0.5 @ 101 fills 0.5 (fee 101 × 0.5 × 0.0004 =
/// 0.0202), then a trade of 4 @ 102 fills the other 1.5 (fee 0.0612).
/// Entry (0.5 × 101 + 1.5 × 102) / 2 = 101.75.
#[test]
fn a_market_order_fills_at_the_next_trades_up_to_their_size() {
    let mut r = Run::new(settings());
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    let placed = r.order(BN, Side::Buy, "2", None, false);
    assert_eq!(placed.status, OrderStatus::Open);
    assert!(r.fills.is_empty(), "nothing fills at placement");
    let first = r.feed(&[trade(BN, 2_000, "101", "0.5")]);
    assert_eq!(fill(&first[0]), (d("101"), d("0.5"), d("0.0202")));
    assert_eq!(first[0].ts, 2_000);
    let second = r.feed(&[trade(BN, 3_000, "102", "4")]);
    assert_eq!(fill(&second[0]), (d("102"), d("1.5"), d("0.0612")));
    let p = r.position(BN);
    assert_eq!(
        (p.size, p.entry_price, p.fees),
        (d("2"), Some(d("101.75")), d("0.0814"))
    );
    // Marked at 102: (102 − 101.75) × 2 = 0.5; total 0.5 − 0.0814.
    assert_eq!((p.unrealized, p.total), (d("0.5"), d("0.4186")));
}

/// 10 bps of slippage: a buy against a trade at 100 fills at 100.1, a sell
/// at 99.9.
#[test]
fn slippage_makes_taker_fills_worse() {
    let mut s = settings();
    s.slippage_bps = d("10");
    let mut r = Run::new(s);
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Buy, "1", None, false);
    assert_eq!(r.feed(&[trade(BN, 2_000, "100", "5")])[0].price, d("100.1"));
    r.order(BN, Side::Sell, "1", None, false);
    let sell = r.feed(&[trade(BN, 3_000, "100", "5")]);
    assert_eq!(sell[0].price, d("99.9"));
    // Realized (99.9 − 100.1) × 1 = −0.2.
    assert_eq!(r.position(BN).realized, d("-0.2"));
}

/// A buy limit at 99 with the market at 100 rests as maker: a trade at 99
/// does not fill it (queue unknown), 0.3 @ 98.5 fills 0.3 @ 99 (fee 99 ×
/// 0.3 × 0.0002 = 0.00594), 5 @ 98 fills the other 0.7 (fee 0.01386).
#[test]
fn a_limit_order_rests_and_fills_when_trades_cross_it() {
    let mut r = Run::new(settings());
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Buy, "1", Some("99"), false);
    assert!(r.feed(&[trade(BN, 2_000, "99", "10")]).is_empty());
    let part = r.feed(&[trade(BN, 3_000, "98.5", "0.3")]);
    assert_eq!(fill(&part[0]), (d("99"), d("0.3"), d("0.00594")));
    let rest = r.feed(&[trade(BN, 4_000, "98", "5")]);
    assert_eq!(fill(&rest[0]), (d("99"), d("0.7"), d("0.01386")));
    let report = r.account.take_report().unwrap();
    let last = report.orders.last().unwrap();
    assert_eq!(
        (last.status, last.filled, last.fees),
        (OrderStatus::Filled, d("1"), d("0.0198"))
    );
    assert_eq!(report.fills[0].liquidity, prism_model::Liquidity::Maker);
}

/// A sell limit at 99 with the market at 100 crosses: it takes the next
/// trade at or above 99 as taker at the trade's price.
#[test]
fn a_crossing_limit_order_takes_as_taker_within_its_limit() {
    let mut r = Run::new(settings());
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Sell, "1", Some("99"), false);
    let f = r.feed(&[trade(BN, 2_000, "99.5", "3")]);
    // Fee 99.5 × 1 × 0.0004 = 0.0398.
    assert_eq!(fill(&f[0]), (d("99.5"), d("1"), d("0.0398")));
}

/// Two orders share a trade's size in time priority.
#[test]
fn orders_share_a_trade_in_time_priority() {
    let mut r = Run::new(settings());
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Buy, "1", None, false);
    r.order(BN, Side::Buy, "2", None, false);
    let f = r.feed(&[trade(BN, 2_000, "100", "1.5")]);
    assert_eq!((f[0].size, f[1].size), (d("1"), d("0.5")));
    assert_eq!(f.len(), 2);
}

/// With a fresh book, a market buy of 1.2 walks the asks: 0.5 @ 100 and
/// 0.7 @ 101 (taker fees 0.02 and 0.02828).
#[test]
fn a_market_order_walks_the_book_when_books_are_known() {
    let mut r = Run::new(settings());
    let book = |ts, asks: &[(&str, &str)]| {
        Event::Book(Book {
            instrument: BN,
            ts,
            received_ts: ts,
            snapshot: true,
            bids: vec![Level {
                price: d("99"),
                size: d("3"),
            }],
            asks: asks
                .iter()
                .map(|(p, s)| Level {
                    price: d(p),
                    size: d(s),
                })
                .collect(),
        })
    };
    r.feed(&[book(1_000, &[("100", "0.5"), ("101", "1"), ("102", "5")])]);
    r.order(BN, Side::Buy, "1.2", None, false);
    // At the next book event it walks the fresh book.
    let f = r.feed(&[book(2_000, &[("100", "0.5"), ("101", "1"), ("102", "5")])]);
    assert_eq!(
        f.iter().map(fill).collect::<Vec<_>>(),
        vec![
            (d("100"), d("0.5"), d("0.02")),
            (d("101"), d("0.7"), d("0.02828")),
        ]
    );
    // At a trade event too: a sell of 2 walks the bids (3 @ 99), not the
    // trade's price (fee 99 × 2 × 0.0004); what it took is gone from the
    // copy of the book (1 left).
    r.order(BN, Side::Sell, "2", None, false);
    let f = r.feed(&[trade(BN, 2_500, "98", "9")]);
    assert_eq!(
        f.iter().map(fill).collect::<Vec<_>>(),
        vec![(d("99"), d("2"), d("0.0792"))]
    );
    // A sell limit at 98.5 crosses the bid (99): it takes the 1 left, then
    // rests as maker and fills at 98.5 when a trade prints above it.
    r.order(BN, Side::Sell, "2", Some("98.5"), false);
    let f = r.feed(&[trade(BN, 2_600, "98", "9")]);
    assert_eq!(
        f.iter().map(fill).collect::<Vec<_>>(),
        vec![(d("99"), d("1"), d("0.0396"))]
    );
    let f = r.feed(&[trade(BN, 2_700, "99", "9")]);
    assert_eq!(
        f.iter().map(fill).collect::<Vec<_>>(),
        vec![(d("98.5"), d("1"), d("0.0197"))]
    );
}

/// Fees round toward what the trader pays, at the 12th decimal: a maker
/// rebate (negative fee) toward zero.
#[test]
fn fees_round_against_the_trader_both_ways() {
    let mut s = settings();
    s.fees.insert(
        "binance".into(),
        Fees {
            maker: d("-0.00000000000123"),
            taker: d("0.00000000000123"),
        },
    );
    let mut r = Run::new(s);
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Buy, "1", None, false);
    // 100 × 1 × 0.00000000000123 = 0.000000000123 exactly: no rounding.
    assert_eq!(
        r.feed(&[trade(BN, 2_000, "100", "5")])[0].fee,
        d("0.000000000123")
    );
    r.order(BN, Side::Sell, "1", Some("101"), false);
    // 101 × 1 × −0.00000000000123 = −0.00000000012423: to 12 places
    // toward +∞ → −0.000000000124 (a smaller rebate).
    assert_eq!(
        r.feed(&[trade(BN, 3_000, "101.5", "5")])[0].fee,
        d("-0.000000000124")
    );
}

/// Long 1; a reduce-only sell of 3 fills 1 and the rest is canceled; a
/// reduce-only order with nothing to reduce is rejected.
#[test]
fn reduce_only_never_flips_or_grows_a_position() {
    let mut r = Run::new(settings());
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    let flat = r.order(BN, Side::Sell, "1", None, true);
    assert_eq!(flat.status, OrderStatus::Rejected);
    assert_eq!(
        flat.reason.as_deref(),
        Some("reduce-only: no position to reduce")
    );
    r.order(BN, Side::Buy, "1", None, false);
    r.feed(&[trade(BN, 2_000, "100", "5")]);
    let grow = r.order(BN, Side::Buy, "1", None, true);
    assert_eq!(grow.status, OrderStatus::Rejected);
    r.order(BN, Side::Sell, "3", None, true);
    let f = r.feed(&[trade(BN, 3_000, "110", "10")]);
    assert_eq!(f[0].size, d("1"));
    let report = r.account.take_report().unwrap();
    let last = report.orders.last().unwrap();
    assert_eq!(last.status, OrderStatus::Canceled);
    assert_eq!(last.filled, d("1"));
    let p = report
        .positions
        .iter()
        .find(|p| p.instrument == BN)
        .unwrap();
    // Realized (110 − 100) × 1 = 10; fees 100 × 0.0004 + 110 × 0.0004 = 0.084.
    assert_eq!((p.size, p.realized, p.fees), (d("0"), d("10"), d("0.084")));
}

#[test]
fn orders_on_unknown_or_stale_instruments_are_rejected_with_a_reason() {
    let mut r = Run::new(settings());
    let unknown = r.order(InstrumentId(7), Side::Buy, "1", None, false);
    assert_eq!(unknown.reason.as_deref(), Some("unknown instrument 7"));
    let unpriced = r.order(BN, Side::Buy, "1", None, false);
    assert_eq!(
        unpriced.reason.as_deref(),
        Some("stale instrument: no price seen yet")
    );
    r.feed(&[trade(BN, 1_000, "100", "5"), trade(HL, 70_001, "100", "1")]);
    let stale = r.order(BN, Side::Buy, "1", None, false);
    assert_eq!(stale.status, OrderStatus::Rejected);
    assert!(
        stale
            .reason
            .unwrap()
            .starts_with("stale instrument: last price 69001 ms ago")
    );
    // A market order finding no trade within stale_after is canceled.
    let fresh = r.order(HL, Side::Buy, "1", None, false);
    assert_eq!(fresh.status, OrderStatus::Open);
    r.feed(&[trade(BN, 130_002, "100", "5")]);
    let report = r.account.take_report().unwrap();
    let ended = report.orders.iter().rfind(|o| o.id == fresh.id).unwrap();
    assert_eq!(ended.status, OrderStatus::Canceled);
}

/// Each limit by name: order notional 11 × 100 = 1100 > 1000; position 10
/// long + 6 = 16 × 100 = 1600 > 1500 (5 more is exactly 1500: passes);
/// gross 1500 + 6 × 100 on the other venue = 2100 > 2000; three orders in
/// a minute with a limit of 2… counted over the minute before.
#[test]
fn each_risk_limit_rejects_with_its_name() {
    let mut s = settings();
    s.risk.max_order_notional = Some(d("1000"));
    s.risk.max_position_notional = Some(d("1500"));
    s.risk.max_gross_notional = Some(d("2000"));
    let mut r = Run::new(s);
    r.feed(&[
        trade(BN, 1_000, "100", "100"),
        trade(HL, 1_000, "100", "100"),
    ]);
    let big = r.order(BN, Side::Buy, "11", None, false);
    assert!(
        big.reason
            .unwrap()
            .starts_with("max_order_notional: 1100 > 1000")
    );
    r.order(BN, Side::Buy, "10", None, false);
    r.feed(&[trade(BN, 2_000, "100", "100")]);
    let over = r.order(BN, Side::Buy, "6", None, false);
    assert!(
        over.reason
            .unwrap()
            .starts_with("max_position_notional: 1600 > 1500")
    );
    assert_eq!(
        r.order(BN, Side::Buy, "5", None, false).status,
        OrderStatus::Open
    );
    r.feed(&[trade(BN, 3_000, "100", "100")]);
    let gross = r.order(HL, Side::Buy, "6", None, false);
    assert!(
        gross
            .reason
            .unwrap()
            .starts_with("max_gross_notional: 2100 > 2000")
    );
    // Reducing is always within the notional limits.
    assert_eq!(
        r.order(BN, Side::Sell, "8", None, false).status,
        OrderStatus::Open
    );

    let mut s = settings();
    s.risk.max_orders_per_minute = Some(2);
    let mut r = Run::new(s);
    r.feed(&[trade(BN, 1_000, "100", "100")]);
    r.order(BN, Side::Buy, "1", Some("90"), false);
    r.feed(&[trade(BN, 30_000, "100", "100")]);
    r.order(BN, Side::Buy, "1", Some("91"), false);
    let third = r.order(BN, Side::Buy, "1", Some("92"), false);
    assert!(third.reason.unwrap().starts_with("max_orders_per_minute"));
    // At 61 s the first left the window.
    r.feed(&[trade(BN, 61_000, "100", "100")]);
    assert_eq!(
        r.order(BN, Side::Buy, "1", Some("93"), false).status,
        OrderStatus::Open
    );
}

/// Hourly funding without announced times (Hyperliquid's history rows):
/// short 2 opened at 10:30 pays at each funding event at or past the hour.
/// 11:00: −(−2) × 30000 × 0.0000125 = +0.75; 11:30 (mid-hour) nothing;
/// 12:00: −(−2) × 31000 × (−0.00001) = −0.62.
#[test]
fn funding_is_paid_at_each_funding_time_on_both_sides() {
    let h = 3_600_000;
    let mut r = Run::new(settings());
    r.feed(&[
        funding(HL, 10 * h, "0.00001", "30000", None, 1),
        trade(HL, 10 * h + h / 2, "30000", "5"),
    ]);
    r.order(HL, Side::Sell, "2", None, false);
    r.feed(&[trade(HL, 10 * h + h / 2 + 1, "30000", "5")]);
    r.feed(&[funding(HL, 11 * h + 9, "0.0000125", "30000", None, 1)]);
    r.feed(&[funding(HL, 11 * h + h / 2, "0.00002", "30500", None, 1)]);
    r.feed(&[funding(HL, 12 * h + 5, "-0.00001", "31000", None, 1)]);
    let report = r.account.take_report().unwrap();
    let amounts: Vec<Decimal> = report.funding.iter().map(|f| f.amount).collect();
    assert_eq!(amounts, vec![d("0.75"), d("-0.62")]);
    let p = report
        .positions
        .iter()
        .find(|p| p.instrument == HL)
        .unwrap();
    assert_eq!(p.funding, d("0.13"));
    // The long side: the same rates the other way.
    let mut r = Run::new(settings());
    r.feed(&[trade(HL, 10 * h + h / 2, "30000", "5")]);
    r.order(HL, Side::Buy, "2", None, false);
    r.feed(&[trade(HL, 10 * h + h / 2 + 1, "30000", "5")]);
    r.feed(&[funding(HL, 11 * h + 9, "0.0000125", "30000", None, 1)]);
    let report = r.account.take_report().unwrap();
    assert_eq!(report.funding[0].amount, d("-0.75"));
}

/// Binance announces the next funding time: the rate paid at 08:00 is the
/// last one announced for 08:00 (0.0002 at mark 30100), whatever event
/// first passes 08:00: long 1 pays 1 × 30100 × 0.0002 = 6.02; at 16:00,
/// the rate announced after 08:00 (0.00005 at 30200) → 1.51.
#[test]
fn announced_funding_times_pay_the_rate_announced_for_them() {
    let h = 3_600_000;
    let mut r = Run::new(settings());
    r.feed(&[
        funding(BN, 7 * h, "0.0001", "30000", Some(8 * h), 8),
        trade(BN, 7 * h + 1, "30000", "5"),
    ]);
    r.order(BN, Side::Buy, "1", None, false);
    r.feed(&[trade(BN, 7 * h + 2, "30000", "5")]);
    r.feed(&[funding(
        BN,
        8 * h - 1_000,
        "0.0002",
        "30100",
        Some(8 * h),
        8,
    )]);
    assert!(r.account.take_report().unwrap().funding.is_empty());
    r.feed(&[trade(BN, 8 * h + 1, "30100", "1")]);
    r.feed(&[funding(BN, 8 * h + 2, "0.00005", "30200", Some(16 * h), 8)]);
    r.feed(&[trade(BN, 12 * h, "30200", "1")]);
    r.feed(&[trade(BN, 16 * h, "30200", "1")]);
    let report = r.account.take_report().unwrap();
    let paid: Vec<(i64, Decimal)> = report.funding.iter().map(|f| (f.ts, f.amount)).collect();
    assert_eq!(paid, vec![(8 * h, d("-6.02")), (16 * h, d("-1.51"))]);
}

/// Stop-loss 5 % on a long from 100 fires at a mark of 95 (not 96): a
/// reduce-only market order that fills at the next trade (94.5), realizing
/// (94.5 − 100) × 1 = −5.5. Take-profit at a price on a short.
#[test]
fn stop_loss_and_take_profit_close_the_position() {
    let mut s = settings();
    s.risk.stops.stop_loss = Some(Trigger::Percent(d("5")));
    let mut r = Run::new(s);
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Buy, "1", None, false);
    r.feed(&[trade(BN, 2_000, "100", "5"), trade(BN, 3_000, "96", "5")]);
    assert_eq!(r.account.book.working.len(), 0);
    r.feed(&[trade(BN, 4_000, "95", "5")]);
    assert_eq!(
        r.account.book.working[0].record.origin,
        OrderOrigin::StopLoss
    );
    let f = r.feed(&[trade(BN, 5_000, "94.5", "5")]);
    assert_eq!(f[0].client_id.as_ref(), "stop-loss-2");
    assert_eq!(r.position(BN).realized, d("-5.5"));

    let mut s = settings();
    s.risk.instrument_stops.insert(
        "binance:BTCUSDT".into(),
        Stops {
            stop_loss: None,
            take_profit: Some(Trigger::Price(d("90"))),
        },
    );
    let mut r = Run::new(s);
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Sell, "2", None, false);
    r.feed(&[trade(BN, 2_000, "100", "5"), trade(BN, 3_000, "90", "5")]);
    let f = r.feed(&[trade(BN, 4_000, "89", "5")]);
    assert_eq!((f[0].side, f[0].size), (Side::Buy, d("2")));
    // (100 − 89) × 2 = 22.
    assert_eq!(r.position(BN).realized, d("22"));
}

/// `max_daily_loss` 10: long 1 @ 100 marked at 89 is −11 (fees off) →
/// `reducing`: a new buy is rejected, a reduce-only sell passes.
#[test]
fn the_daily_loss_moves_the_plugin_to_reducing() {
    let mut s = ExecutionSettings::default();
    s.risk.max_daily_loss = Some(d("10"));
    let mut r = Run::new(s);
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Buy, "1", None, false);
    r.feed(&[trade(BN, 2_000, "100", "5"), trade(BN, 3_000, "91", "5")]);
    assert_eq!(r.account.risk_state(), RiskState::Active);
    r.feed(&[trade(BN, 4_000, "89", "5")]);
    assert_eq!(r.account.risk_state(), RiskState::Reducing);
    let rejected = r.order(BN, Side::Buy, "1", None, false);
    assert_eq!(
        rejected.reason.as_deref(),
        Some("reducing: only reduce-only orders pass")
    );
    assert_eq!(
        r.order(BN, Side::Sell, "1", None, true).status,
        OrderStatus::Open
    );
    let risk = r.account.take_report().unwrap().risk.unwrap();
    assert!(risk.reason.unwrap().starts_with("max_daily_loss: -11"));
}

/// Halted rejects every plugin order; "close everything" still closes.
#[test]
fn halted_rejects_everything_but_close_all_still_closes() {
    let mut r = Run::new(settings());
    r.feed(&[trade(BN, 1_000, "100", "5"), trade(HL, 1_000, "100", "5")]);
    r.order(BN, Side::Buy, "1", None, false);
    r.order(HL, Side::Sell, "2", None, false);
    r.feed(&[trade(BN, 2_000, "100", "5"), trade(HL, 2_000, "100", "5")]);
    r.account.set_risk(RiskState::Halted, "operator".into());
    let no = r.order(BN, Side::Sell, "1", None, true);
    assert_eq!(
        no.reason.as_deref(),
        Some("halted: every order is rejected")
    );
    let closes = r.account.close_all();
    assert_eq!(closes.len(), 2);
    assert!(
        closes
            .iter()
            .all(|o| o.reduce_only && o.status == OrderStatus::Open)
    );
    r.feed(&[trade(BN, 3_000, "101", "5"), trade(HL, 3_000, "99", "5")]);
    assert_eq!(r.position(BN).size, d("0"));
    assert_eq!(r.position(HL).size, d("0"));
}

#[test]
fn close_all_cancels_orders_that_would_reopen_a_position() {
    let mut r = Run::new(settings());
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Buy, "1", None, false);
    r.feed(&[trade(BN, 2_000, "100", "5")]);
    assert_eq!(r.position(BN).size, d("1"));
    // A buy still working when the operator closes everything: left alone,
    // it would fill with the close at the next trade and leave 2 long.
    let pending = r.order(BN, Side::Buy, "2", None, false);
    assert_eq!(pending.status, OrderStatus::Open);
    let _ = r.account.take_report();
    let closes = r.account.close_all();
    assert_eq!(closes.len(), 1);
    let report = r.account.take_report().unwrap();
    let canceled: Vec<&OrderRecord> = report
        .orders
        .iter()
        .filter(|o| o.status == OrderStatus::Canceled)
        .collect();
    assert_eq!(canceled.len(), 1);
    assert_eq!(canceled[0].id, pending.id);
    assert!(canceled[0].reason.as_deref().unwrap().contains("close-all"));
    r.feed(&[trade(BN, 3_000, "101", "5")]);
    assert_eq!(r.position(BN).size, d("0"));
}

/// The same events give the same fills and reports, and a run stopped,
/// saved and restored half-way ends where the uninterrupted run ends.
#[test]
fn replays_and_restores_are_deterministic() {
    let events: Vec<Event> = (0..200)
        .map(|i| {
            let price = format!("{}", 100 + (i * 7) % 13);
            trade(
                if i % 3 == 0 { HL } else { BN },
                1_000 + i * 500,
                &price,
                "0.7",
            )
        })
        .collect();
    let run = |split: Option<usize>| {
        let mut r = Run::new(settings());
        let mut reports = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if Some(i) == split {
                let saved = r.account.snapshot();
                let mut again = PaperAccount::new("p".into(), settings());
                again.restore(&saved).unwrap();
                again.take_report();
                r.account = again;
            }
            r.feed(std::slice::from_ref(e));
            if i % 10 == 0 {
                let side = if i % 20 == 0 { Side::Buy } else { Side::Sell };
                let limit = (i % 30 == 0).then_some("105");
                r.order(if i % 3 == 0 { HL } else { BN }, side, "1.3", limit, false);
            }
            if let Some(mut report) = r.account.take_report() {
                report.risk = None;
                reports.push(report);
            }
        }
        (r.fills, reports)
    };
    let (fills, reports) = run(None);
    assert!(fills.len() > 20);
    assert_eq!(run(None), (fills.clone(), reports.clone()));
    let (fills_b, reports_b) = run(Some(97));
    assert_eq!(fills_b, fills);
    assert_eq!(reports_b.last().unwrap().pnl, reports.last().unwrap().pnl);
}

/// Numbers no market has (a hostile file, a broken feed) are not taken:
/// no overflow, no panic; an order past the bound is refused by name.
#[test]
fn absurd_numbers_are_refused_not_multiplied() {
    let mut r = Run::new(settings());
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Buy, "1", None, false);
    let huge = "9000000000000000000";
    assert!(r.feed(&[trade(BN, 2_000, huge, huge)]).is_empty());
    assert_eq!(r.account.mark(BN), Some(d("100")));
    r.feed(&[funding(BN, 2_500, "5", huge, None, 8)]);
    assert_eq!(r.account.mark(BN), Some(d("100")));
    let big = r.order(BN, Side::Buy, huge, None, false);
    assert!(
        big.reason
            .unwrap()
            .starts_with("size and limit price must be at most")
    );
    // The sane trade after still fills the working order.
    assert_eq!(r.feed(&[trade(BN, 3_000, "101", "5")])[0].price, d("101"));
}

/// A close is never held back by the order limits.
#[test]
fn closes_pass_the_order_limits() {
    let mut s = settings();
    s.risk.max_order_notional = Some(d("150"));
    s.risk.max_orders_per_minute = Some(1);
    let mut r = Run::new(s);
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    r.order(BN, Side::Buy, "1.4", None, false);
    r.feed(&[trade(BN, 2_000, "100", "5"), trade(BN, 3_000, "120", "5")]);
    // 1.4 × 120 = 168 > 150, and one order was already placed this minute.
    let closes = r.account.close_all();
    assert_eq!(closes[0].status, OrderStatus::Open, "{closes:?}");
    let plugin_close = r.order(BN, Side::Sell, "1.4", None, true);
    assert!(
        plugin_close
            .reason
            .unwrap()
            .starts_with("max_order_notional")
    );
}

/// `max_total_gross_notional` counts every plugin's positions: with A
/// long 10 @ 100 (1000), B may add 5 @ 100 under a limit of 1500, not 6;
/// once A is flat, B may.
#[test]
fn the_limit_across_plugins_counts_every_account() {
    let exposure = Arc::new(Exposure::default());
    let mut s = settings();
    s.risk.max_total_gross_notional = Some(d("1500"));
    let mut a = Run::new(s.clone());
    a.account = PaperAccount::new("a".into(), s.clone()).with_exposure(exposure.clone());
    a.feed(&[
        instrument(BN, "binance", "BTCUSDT"),
        instrument(HL, "hyperliquid", "BTC"),
    ]);
    let mut b = Run::new(s.clone());
    b.account = PaperAccount::new("b".into(), s).with_exposure(exposure.clone());
    b.feed(&[
        instrument(BN, "binance", "BTCUSDT"),
        instrument(HL, "hyperliquid", "BTC"),
    ]);
    for r in [&mut a, &mut b] {
        r.feed(&[trade(BN, 1_000, "100", "100")]);
    }
    a.order(BN, Side::Buy, "10", None, false);
    a.feed(&[trade(BN, 2_000, "100", "100")]);
    a.account.take_report();
    assert_eq!(exposure.total(), d("1000"));
    b.feed(&[trade(BN, 2_000, "100", "100")]);
    let over = b.order(BN, Side::Buy, "6", None, false);
    assert!(
        over.reason
            .unwrap()
            .starts_with("max_total_gross_notional: 1600 over every plugin > 1500")
    );
    assert_eq!(
        b.order(BN, Side::Buy, "5", None, false).status,
        OrderStatus::Open
    );
    // A closes: its exposure leaves the sum; dropping an account does too.
    a.order(BN, Side::Sell, "10", None, true);
    a.feed(&[trade(BN, 3_000, "100", "100")]);
    a.account.take_report();
    assert_eq!(exposure.total(), d("0"));
    b.feed(&[trade(BN, 3_000, "100", "100")]);
    b.account.take_report();
    assert_eq!(exposure.total(), d("500"));
    drop(b);
    assert_eq!(exposure.total(), d("0"));
}

/// A client id is kept with its working order: an empty or long one is
/// refused, so a plugin cannot make the account hold megabytes.
#[test]
fn client_ids_are_bounded() {
    let mut r = Run::new(settings());
    r.feed(&[trade(BN, 1_000, "100", "5")]);
    for id in [String::new(), "x".repeat(MAX_CLIENT_ID + 1)] {
        let o = r.account.place(&OrderRequest {
            client_id: id.into(),
            instrument: BN,
            side: Side::Buy,
            size: d("1"),
            limit_price: None,
            reduce_only: false,
            origin: OrderOrigin::Plugin,
        });
        assert!(
            o.reason
                .unwrap()
                .starts_with("client id must be 1 to 64 bytes")
        );
    }
}
