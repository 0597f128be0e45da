//! Conversions between the contract's generated types and `prism-model`.
//!
//! This is the only module that touches both; nothing generated escapes it.

use crate::bindings::PluginInfo as WitInfo;
use crate::bindings::prism::plugin::{events as we, outputs as wo, types as wt};
use crate::bindings::v0_1 as v01;
use crate::bindings::v0_1::prism::plugin::events as we01;
use prism_model::{self as m, Decimal, Instrument, InstrumentTable, Subscription, decimal};
use std::sync::Arc;

/// A plugin's answer to `init`: who it is and what it wants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginInfo {
    /// The contract version the plugin was built against.
    pub contract: crate::Contract,
    pub name: String,
    pub version: String,
    pub subscription: Subscription,
}

fn dec(d: Decimal) -> wt::Decimal {
    let (mantissa, scale) = decimal::to_parts(d);
    wt::Decimal { mantissa, scale }
}

fn side(s: m::Side) -> wt::Side {
    match s {
        m::Side::Buy => wt::Side::Buy,
        m::Side::Sell => wt::Side::Sell,
    }
}

/// Lifts one contract version's `event-kind`; the versions differ only in
/// the cases they have.
macro_rules! kind_from {
    ($we:path, $from:ident, [$($kind:ident),*]) => {
        fn $from(k: $we) -> m::EventKind {
            use $we as K;
            match k {
                $(K::$kind => m::EventKind::$kind,)*
            }
        }
    };
}

kind_from!(
    we::EventKind,
    kind_from_wit,
    [
        Trade,
        Liquidation,
        Funding,
        OpenInterest,
        Book,
        Position,
        Fill,
        Candle,
        Ticker
    ]
);
kind_from!(
    we01::EventKind,
    kind_from_wit_0_1,
    [
        Trade,
        Liquidation,
        Funding,
        OpenInterest,
        Book,
        Position,
        Fill
    ]
);

fn instrument(i: &Instrument) -> wt::Instrument {
    wt::Instrument {
        id: i.id.0,
        exchange: i.exchange.to_string(),
        symbol: i.symbol.to_string(),
        base: i.base.to_string(),
        quote: i.quote.to_string(),
        kind: match i.kind {
            m::MarketKind::Spot => wt::MarketKind::Spot,
            m::MarketKind::Perpetual => wt::MarketKind::Perpetual,
            m::MarketKind::Future => wt::MarketKind::Future,
            m::MarketKind::Option => wt::MarketKind::Option,
        },
        contract_size: dec(i.contract_size),
    }
}

fn text(s: &Option<Arc<str>>) -> Option<String> {
    s.as_deref().map(str::to_owned)
}

/// Lowers the events every contract version has; `$we` is a version's
/// generated `events` module (their records have the same fields). Kinds a
/// version lacks fall to `$rest`.
macro_rules! lower_shared {
    ($we:ident, $e:expr, $rest:pat => $otherwise:expr) => {{
        let level = |l: &m::Level| $we::Level {
            price: dec(l.price),
            size: dec(l.size),
        };
        match $e {
            m::Event::Instrument(i) => $we::Event::Instrument(instrument(i)),
            m::Event::Trade(t) => $we::Event::Trade($we::Trade {
                instrument: t.instrument.0,
                ts: t.ts,
                received_ts: t.received_ts,
                price: dec(t.price),
                size: dec(t.size),
                side: side(t.side),
                buyer: text(&t.buyer),
                seller: text(&t.seller),
            }),
            m::Event::Liquidation(l) => $we::Event::Liquidation($we::Liquidation {
                instrument: l.instrument.0,
                ts: l.ts,
                received_ts: l.received_ts,
                price: dec(l.price),
                size: dec(l.size),
                position: match l.position {
                    m::PositionSide::Long => wt::PositionSide::Long,
                    m::PositionSide::Short => wt::PositionSide::Short,
                },
                account: text(&l.account),
            }),
            m::Event::Funding(f) => $we::Event::Funding($we::Funding {
                instrument: f.instrument.0,
                ts: f.ts,
                received_ts: f.received_ts,
                rate: dec(f.rate),
                interval_hours: f.interval_hours,
                mark_price: f.mark_price.map(dec),
                index_price: f.index_price.map(dec),
                next_funding_ts: f.next_funding_ts,
            }),
            m::Event::OpenInterest(o) => $we::Event::OpenInterest($we::OpenInterest {
                instrument: o.instrument.0,
                ts: o.ts,
                received_ts: o.received_ts,
                open_interest: dec(o.open_interest),
            }),
            m::Event::Book(b) => $we::Event::Book($we::Book {
                instrument: b.instrument.0,
                ts: b.ts,
                received_ts: b.received_ts,
                snapshot: b.snapshot,
                bids: b.bids.iter().map(level).collect(),
                asks: b.asks.iter().map(level).collect(),
            }),
            m::Event::Position(p) => $we::Event::Position($we::Position {
                instrument: p.instrument.0,
                ts: p.ts,
                received_ts: p.received_ts,
                account: p.account.to_string(),
                size: dec(p.size),
                entry_price: dec(p.entry_price),
                liquidation_price: p.liquidation_price.map(dec),
                leverage: p.leverage.map(dec),
            }),
            m::Event::Timer(t) => $we::Event::Timer($we::Timer { ts: t.ts }),
            m::Event::Fill(f) => $we::Event::Fill($we::Fill {
                client_id: f.client_id.to_string(),
                instrument: f.instrument.0,
                ts: f.ts,
                price: dec(f.price),
                size: dec(f.size),
                side: side(f.side),
                fee: dec(f.fee),
            }),
            $rest => $otherwise,
        }
    }};
}

fn interval(i: m::CandleInterval) -> we::CandleInterval {
    we::CandleInterval {
        // At most 65,535: `CandleInterval::new` bounds it so.
        count: u16::try_from(i.count).unwrap_or(u16::MAX),
        unit: match i.unit {
            m::IntervalUnit::Second => we::IntervalUnit::Second,
            m::IntervalUnit::Minute => we::IntervalUnit::Minute,
            m::IntervalUnit::Hour => we::IntervalUnit::Hour,
            m::IntervalUnit::Day => we::IntervalUnit::Day,
            m::IntervalUnit::Week => we::IntervalUnit::Week,
            m::IntervalUnit::Month => we::IntervalUnit::Month,
        },
    }
}

fn quote(l: Option<m::Level>) -> Option<we::Level> {
    l.map(|l| we::Level {
        price: dec(l.price),
        size: dec(l.size),
    })
}

/// Lowers one model event into the current contract's shape. Inlined into
/// the batch loop (candles and tickers are lowered out of line), so the
/// value is built in place rather than copied.
#[inline]
pub(crate) fn event_to_wit(e: &m::Event) -> we::Event {
    lower_shared!(we, e, other => match other {
        m::Event::Candle(c) => candle_to_wit(c),
        m::Event::Ticker(t) => ticker_to_wit(t),
        _ => unreachable!("every other kind is shared"),
    })
}

#[inline(never)]
fn candle_to_wit(c: &m::Candle) -> we::Event {
    we::Event::Candle(we::Candle {
        instrument: c.instrument.0,
        interval: interval(c.interval),
        closed: c.closed,
        ts: c.ts,
        open_ts: c.open_ts,
        open: dec(c.open),
        high: dec(c.high),
        low: dec(c.low),
        close: dec(c.close),
        volume: dec(c.volume),
        values: c
            .quote_volume
            .map(|q| we::CandleValue::QuoteVolume(dec(q)))
            .into_iter()
            .chain(c.trades.map(we::CandleValue::Trades))
            .collect(),
    })
}

#[inline(never)]
fn ticker_to_wit(t: &m::Ticker) -> we::Event {
    we::Event::Ticker(we::Ticker {
        instrument: t.instrument.0,
        ts: t.ts,
        received_ts: t.received_ts,
        best_bid: quote(t.best_bid),
        best_ask: quote(t.best_ask),
        values: [
            t.last_price.map(|d| we::TickerValue::LastPrice(dec(d))),
            t.volume_24h.map(|d| we::TickerValue::Volume24h(dec(d))),
            t.quote_volume_24h
                .map(|d| we::TickerValue::QuoteVolume24h(dec(d))),
            t.change_24h.map(|d| we::TickerValue::Change24h(dec(d))),
            t.change_24h_percent
                .map(|d| we::TickerValue::Change24hPercent(dec(d))),
            t.mark_price.map(|d| we::TickerValue::MarkPrice(dec(d))),
            t.index_price.map(|d| we::TickerValue::IndexPrice(dec(d))),
        ]
        .into_iter()
        .flatten()
        .collect(),
    })
}

/// Lowers one model event for a plugin built against contract 0.1; none
/// for the kinds 0.1 does not have (such a plugin never sees them).
pub(crate) fn event_to_wit_0_1(e: &m::Event) -> Option<we01::Event> {
    Some(lower_shared!(we01, e, m::Event::Candle(_) | m::Event::Ticker(_) => return None))
}

/// Lifts `init`'s answer, whichever contract version gave it.
macro_rules! info_from {
    ($name:ident, $info:path, $kind:ident, $contract:expr) => {
        pub(crate) fn $name(info: $info) -> PluginInfo {
            let s = info.subscription;
            PluginInfo {
                contract: $contract,
                name: info.name,
                version: info.version,
                subscription: Subscription {
                    kinds: s.kinds.into_iter().map($kind).collect(),
                    exchanges: s.exchanges,
                    symbols: s.symbols,
                    timer_interval_ms: s.timer_interval_ms,
                },
            }
        }
    };
}

info_from!(info_from_wit, WitInfo, kind_from_wit, crate::Contract::V0_2);
info_from!(
    info_from_wit_0_1_as_given,
    v01::PluginInfo,
    kind_from_wit_0_1,
    crate::Contract::V0_1
);

/// Lifts a 0.1 plugin's answer. "Every kind" means every kind 0.1 has, so
/// the router never sends it a candle or ticker it cannot receive.
pub(crate) fn info_from_wit_0_1(info: v01::PluginInfo) -> PluginInfo {
    let mut info = info_from_wit_0_1_as_given(info);
    if info.subscription.kinds.is_empty() {
        info.subscription.kinds = crate::Contract::V0_1.kinds();
    }
    info
}

/// Longest series name, document key, log name or order client id, bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest signal reason or alert title, bytes.
pub const MAX_TEXT_BYTES: usize = 1024;

/// Why a plugin's output was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    #[error("output refers to instrument id {0}, which was never declared to this plugin")]
    UnknownInstrument(u32),
    #[error("{what} is not an exact decimal: {reason}")]
    Decimal { what: &'static str, reason: String },
    #[error("body of {kind} `{name}` is not valid MessagePack: {reason}")]
    Body {
        kind: &'static str,
        name: String,
        reason: String,
    },
    #[error("series `{name}` has a non-finite value")]
    NotFinite { name: String },
    #[error("{what} is {bytes} bytes long; at most {limit} are allowed")]
    TextTooLong {
        what: &'static str,
        bytes: usize,
        limit: usize,
    },
    #[error(
        "the body of {kind} `{name}` holds {bytes} bytes or more; the limit is {limit} ({key})"
    )]
    TooLarge {
        kind: &'static str,
        name: String,
        bytes: usize,
        limit: usize,
        key: &'static str,
    },
}

impl OutputError {
    /// The fault this makes: a limit, or a malformed output.
    #[must_use]
    pub fn fault_kind(&self) -> crate::FaultKind {
        match self {
            OutputError::TextTooLong { .. } | OutputError::TooLarge { .. } => {
                crate::FaultKind::OutputLimit
            }
            _ => crate::FaultKind::BadOutput,
        }
    }
}

fn bounded(text: &str, what: &'static str, limit: usize) -> Result<usize, OutputError> {
    if text.len() > limit {
        return Err(OutputError::TextTooLong {
            what,
            bytes: text.len(),
            limit,
        });
    }
    Ok(text.len())
}

fn resolve(declared: &InstrumentTable, id: u32) -> Result<Arc<Instrument>, OutputError> {
    declared
        .get(m::InstrumentId(id))
        .cloned()
        .ok_or(OutputError::UnknownInstrument(id))
}

fn resolve_opt(
    declared: &InstrumentTable,
    id: Option<u32>,
) -> Result<Option<Arc<Instrument>>, OutputError> {
    id.map(|id| resolve(declared, id)).transpose()
}

fn dec_from(d: wt::Decimal, what: &'static str) -> Result<Decimal, OutputError> {
    decimal::from_parts(d.mantissa, d.scale).map_err(|e| OutputError::Decimal {
        what,
        reason: e.to_string(),
    })
}

/// Reads a body, refusing one larger than `limit` in memory. A body
/// longer than `limit` on the wire is refused before it is read: it can
/// only be larger once decoded.
fn body(
    bytes: Vec<u8>,
    kind: &'static str,
    name: &str,
    limit: usize,
    key: &'static str,
) -> Result<(m::output::Body, usize), OutputError> {
    let too_large = |bytes: usize| OutputError::TooLarge {
        kind,
        name: name.to_owned(),
        bytes,
        limit,
        key,
    };
    if bytes.len() > limit {
        return Err(too_large(bytes.len()));
    }
    let body = m::output::Body::from_msgpack(bytes).map_err(|e| OutputError::Body {
        kind,
        name: name.to_owned(),
        reason: e.to_string(),
    })?;
    let held = body.held();
    if held > limit {
        return Err(too_large(held));
    }
    Ok((body, held))
}

/// Lifts one output, resolving instrument ids against what was declared,
/// and says how many bytes it holds.
pub(crate) fn output_from_wit(
    o: wo::Output,
    declared: &InstrumentTable,
    limits: &crate::plugin::OutputLimits,
) -> Result<(m::Output, usize), OutputError> {
    Ok(match o {
        wo::Output::Series(s) => {
            let bytes = bounded(&s.name, "a series name", MAX_NAME_BYTES)?;
            if !s.value.is_finite() {
                return Err(OutputError::NotFinite { name: s.name });
            }
            let point = m::Output::Series(m::SeriesPoint {
                instrument: resolve_opt(declared, s.instrument)?,
                name: Arc::from(s.name),
                ts: s.ts,
                value: s.value,
            });
            (point, bytes + 48)
        }
        wo::Output::Document(d) => {
            let key = bounded(&d.key, "a document key", MAX_NAME_BYTES)?;
            let (body, held) = body(
                d.body,
                "document",
                &d.key,
                limits.max_document_bytes,
                "max_document_bytes",
            )?;
            let doc = m::Output::Document(m::Document {
                body,
                key: Arc::from(d.key),
                ts: d.ts,
            });
            (doc, key + held)
        }
        wo::Output::Log(l) => {
            let name = bounded(&l.name, "a log name", MAX_NAME_BYTES)?;
            let (body, held) = body(
                l.body,
                "log",
                &l.name,
                limits.max_log_bytes,
                "max_log_bytes",
            )?;
            let entry = m::Output::Log(m::LogEntry {
                body,
                instrument: resolve_opt(declared, l.instrument)?,
                name: Arc::from(l.name),
                ts: l.ts,
            });
            (entry, name + held)
        }
        wo::Output::Signal(s) => {
            let bytes = bounded(&s.reason, "a signal reason", MAX_TEXT_BYTES)?;
            let signal = m::Output::Signal(m::Signal {
                instrument: resolve(declared, s.instrument)?,
                ts: s.ts,
                direction: match s.direction {
                    wo::Direction::Long => m::Direction::Long,
                    wo::Direction::Short => m::Direction::Short,
                    wo::Direction::Flat => m::Direction::Flat,
                },
                strength: match s.strength {
                    wo::Strength::Strong => m::Strength::Strong,
                    wo::Strength::Medium => m::Strength::Medium,
                    wo::Strength::Weak => m::Strength::Weak,
                    wo::Strength::Ignore => m::Strength::Ignore,
                },
                reason: Arc::from(s.reason),
            });
            (signal, bytes + 64)
        }
        wo::Output::Order(o) => {
            let bytes = bounded(&o.client_id, "an order client id", MAX_NAME_BYTES)?;
            let order = m::Output::Order(m::OrderIntent {
                instrument: resolve(declared, o.instrument)?,
                client_id: Arc::from(o.client_id),
                ts: o.ts,
                side: match o.side {
                    wt::Side::Buy => m::Side::Buy,
                    wt::Side::Sell => m::Side::Sell,
                },
                size: dec_from(o.size, "order size")?,
                limit_price: o
                    .limit_price
                    .map(|p| dec_from(p, "order limit price"))
                    .transpose()?,
                reduce_only: o.reduce_only,
            });
            (order, bytes + 96)
        }
        wo::Output::Alert(a) => {
            let title = bounded(&a.title, "an alert title", MAX_TEXT_BYTES)?;
            let body = bounded(&a.body, "an alert body", limits.max_log_bytes)?;
            let alert = m::Output::Alert(m::Alert {
                priority: match a.priority {
                    wo::Priority::P0 => m::Priority::P0,
                    wo::Priority::P1 => m::Priority::P1,
                    wo::Priority::P2 => m::Priority::P2,
                },
                ts: a.ts,
                title: Arc::from(a.title),
                body: Arc::from(a.body),
            });
            (alert, title + body + 48)
        }
    })
}
