//! What the sink keeps, as rows: made from the sink stage's deliveries on
//! the sink's thread, spooled, then written. Pure conversions.

use prism_model::{
    Archived, Checkpoint, Event, Instrument, MarketKind, Output, OutputBatch, PluginOrigin,
    RegistryChange, Rejected, Side, VersionEntry, wall_ms,
};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use serde_json::Value;

/// One record of the spool: what one delivery becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Record {
    Outputs(OutputRows),
    Checkpoint(CheckpointRow),
    DeadLetter(DeadLetterRow),
    Plugin(PluginRow),
    Removed {
        id: String,
    },
    Version(VersionRow),
    Archive(ArchiveRows),
    /// A plugin's paper account over one batch: committed with the
    /// checkpoint that covers it, like its outputs.
    Execution(ExecutionRows),
}

/// A paper account's report, for the execution tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExecutionRows {
    pub(crate) plugin: String,
    pub(crate) position: Option<i64>,
    pub(crate) report: prism_model::ExecutionReport,
}

impl Record {
    /// The plugin whose checkpoint commits this record (outputs and dead
    /// letters wait for it); other records are committed as they come.
    pub(crate) fn plugin(&self) -> Option<&str> {
        match self {
            Record::Outputs(o) => Some(&o.plugin),
            Record::DeadLetter(d) => Some(&d.plugin),
            Record::Execution(e) => Some(&e.plugin),
            _ => None,
        }
    }
}

/// The outputs of one batch, by table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutputRows {
    pub(crate) plugin: String,
    pub(crate) position: i64,
    pub(crate) series: Vec<SeriesRow>,
    pub(crate) documents: Vec<DocumentRow>,
    pub(crate) logs: Vec<LogRow>,
    pub(crate) signals: Vec<SignalRow>,
    pub(crate) orders: Vec<OrderRow>,
    pub(crate) alerts: Vec<AlertRow>,
}

impl OutputRows {
    pub(crate) fn len(&self) -> usize {
        self.series.len()
            + self.documents.len()
            + self.logs.len()
            + self.signals.len()
            + self.orders.len()
            + self.alerts.len()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SeriesRow {
    pub(crate) idx: i32,
    pub(crate) name: String,
    pub(crate) exchange: Option<String>,
    pub(crate) symbol: Option<String>,
    pub(crate) ts: i64,
    pub(crate) value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DocumentRow {
    pub(crate) idx: i32,
    pub(crate) key: String,
    pub(crate) ts: i64,
    pub(crate) body: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LogRow {
    pub(crate) idx: i32,
    pub(crate) name: String,
    pub(crate) exchange: Option<String>,
    pub(crate) symbol: Option<String>,
    pub(crate) ts: i64,
    pub(crate) body: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SignalRow {
    pub(crate) idx: i32,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) ts: i64,
    pub(crate) direction: String,
    pub(crate) strength: String,
    pub(crate) reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OrderRow {
    pub(crate) idx: i32,
    pub(crate) client_id: String,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) ts: i64,
    pub(crate) side: String,
    /// Exact decimal text.
    pub(crate) size: String,
    pub(crate) limit_price: Option<String>,
    pub(crate) reduce_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AlertRow {
    pub(crate) idx: i32,
    pub(crate) ts: i64,
    pub(crate) priority: String,
    pub(crate) title: String,
    pub(crate) body: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InstrumentRow {
    pub(crate) id: i32,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) base: String,
    pub(crate) quote: String,
    pub(crate) kind: String,
    pub(crate) contract_size: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckpointRow {
    pub(crate) plugin: String,
    pub(crate) position: Option<i64>,
    pub(crate) sha256: String,
    pub(crate) state: ByteBuf,
    pub(crate) taken_at_ms: i64,
    pub(crate) instruments: Vec<InstrumentRow>,
    /// The plugin's paper account (absent in spools of older versions).
    #[serde(default)]
    pub(crate) account: Option<ByteBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DeadLetterRow {
    pub(crate) plugin: String,
    pub(crate) position: i64,
    pub(crate) idx: i32,
    pub(crate) at_ms: i64,
    pub(crate) event: Value,
    pub(crate) kind: String,
    pub(crate) message: String,
    pub(crate) sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PluginRow {
    pub(crate) id: String,
    /// `file` or `upload`.
    pub(crate) origin: String,
    pub(crate) path: Option<String>,
    pub(crate) from_config: bool,
    pub(crate) sha256: String,
    pub(crate) component: Option<ByteBuf>,
    pub(crate) config: Value,
    pub(crate) settings: Value,
    pub(crate) paused: bool,
    pub(crate) updated_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct VersionRow {
    pub(crate) plugin: String,
    pub(crate) loaded_at_ms: i64,
    pub(crate) sha256: String,
    pub(crate) name: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) config: Value,
    pub(crate) change: String,
    pub(crate) status: String,
    pub(crate) error: Option<String>,
}

/// Archived input events, by table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ArchiveRows {
    pub(crate) trades: Vec<TradeRow>,
    pub(crate) liquidations: Vec<LiquidationRow>,
    pub(crate) funding: Vec<FundingRow>,
    pub(crate) open_interest: Vec<OpenInterestRow>,
    pub(crate) positions: Vec<PositionRow>,
}

impl ArchiveRows {
    /// The furthest position among the events.
    pub(crate) fn max_position(&self) -> Option<i64> {
        let t = self.trades.iter().map(|r| r.position);
        let l = self.liquidations.iter().map(|r| r.position);
        let f = self.funding.iter().map(|r| r.position);
        let o = self.open_interest.iter().map(|r| r.position);
        let p = self.positions.iter().map(|r| r.position);
        t.chain(l).chain(f).chain(o).chain(p).max()
    }

    pub(crate) fn len(&self) -> usize {
        self.trades.len()
            + self.liquidations.len()
            + self.funding.len()
            + self.open_interest.len()
            + self.positions.len()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TradeRow {
    pub(crate) position: i64,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) ts: i64,
    pub(crate) received_ts: i64,
    pub(crate) price: String,
    pub(crate) size: String,
    pub(crate) side: String,
    pub(crate) buyer: Option<String>,
    pub(crate) seller: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LiquidationRow {
    pub(crate) position: i64,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) ts: i64,
    pub(crate) price: String,
    pub(crate) size: String,
    pub(crate) position_side: String,
    pub(crate) account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FundingRow {
    pub(crate) position: i64,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) ts: i64,
    pub(crate) rate: String,
    pub(crate) interval_hours: i32,
    pub(crate) mark_price: Option<String>,
    pub(crate) index_price: Option<String>,
    pub(crate) next_funding_ts: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OpenInterestRow {
    pub(crate) position: i64,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) ts: i64,
    pub(crate) open_interest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PositionRow {
    pub(crate) position: i64,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) ts: i64,
    pub(crate) account: String,
    pub(crate) size: String,
    pub(crate) entry_price: String,
    pub(crate) liquidation_price: Option<String>,
    pub(crate) leverage: Option<String>,
}

/// A value's name in the API and the stores (`snake_case` serde name).
fn name(v: impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn dec(d: prism_model::Decimal) -> String {
    d.normalize().to_string()
}

/// Positions fit `bigint` (they count events; 2^63 is never reached).
fn pos(p: u64) -> i64 {
    i64::try_from(p).unwrap_or(i64::MAX)
}

fn place(i: Option<&std::sync::Arc<Instrument>>) -> (Option<String>, Option<String>) {
    i.map_or((None, None), |i| {
        (Some(i.exchange.to_string()), Some(i.symbol.to_string()))
    })
}

/// A report's rows; `None` for a report that names no plugin.
pub(crate) fn execution(report: &prism_model::ExecutionReport) -> Option<ExecutionRows> {
    Some(ExecutionRows {
        plugin: report.plugin()?.to_string(),
        position: report.position.map(pos),
        report: report.clone(),
    })
}

pub(crate) fn outputs(batch: &OutputBatch) -> OutputRows {
    let mut rows = OutputRows {
        plugin: batch.plugin.to_string(),
        position: pos(batch.position),
        ..OutputRows::default()
    };
    for (i, o) in batch.outputs.iter().enumerate() {
        let idx = i32::try_from(i).unwrap_or(i32::MAX);
        match o {
            Output::Series(p) => {
                let (exchange, symbol) = place(p.instrument.as_ref());
                rows.series.push(SeriesRow {
                    idx,
                    name: p.name.to_string(),
                    exchange,
                    symbol,
                    ts: p.ts,
                    value: p.value,
                });
            }
            Output::Document(d) => rows.documents.push(DocumentRow {
                idx,
                key: d.key.to_string(),
                ts: d.ts,
                body: d.body.value().clone(),
            }),
            Output::Log(l) => {
                let (exchange, symbol) = place(l.instrument.as_ref());
                rows.logs.push(LogRow {
                    idx,
                    name: l.name.to_string(),
                    exchange,
                    symbol,
                    ts: l.ts,
                    body: l.body.value().clone(),
                });
            }
            Output::Signal(s) => rows.signals.push(SignalRow {
                idx,
                exchange: s.instrument.exchange.to_string(),
                symbol: s.instrument.symbol.to_string(),
                ts: s.ts,
                direction: name(s.direction),
                strength: name(s.strength),
                reason: s.reason.to_string(),
            }),
            Output::Order(o) => rows.orders.push(OrderRow {
                idx,
                client_id: o.client_id.to_string(),
                exchange: o.instrument.exchange.to_string(),
                symbol: o.instrument.symbol.to_string(),
                ts: o.ts,
                side: name(o.side),
                size: dec(o.size),
                limit_price: o.limit_price.map(dec),
                reduce_only: o.reduce_only,
            }),
            Output::Alert(a) => rows.alerts.push(AlertRow {
                idx,
                ts: a.ts,
                priority: name(a.priority),
                title: a.title.to_string(),
                body: a.body.to_string(),
            }),
        }
    }
    rows
}

pub(crate) fn instrument(i: &Instrument) -> InstrumentRow {
    InstrumentRow {
        id: i32::try_from(i.id.0).unwrap_or(i32::MAX),
        exchange: i.exchange.to_string(),
        symbol: i.symbol.to_string(),
        base: i.base.to_string(),
        quote: i.quote.to_string(),
        kind: match i.kind {
            MarketKind::Spot => "spot",
            MarketKind::Perpetual => "perpetual",
            MarketKind::Future => "future",
            MarketKind::Option => "option",
        }
        .to_owned(),
        contract_size: dec(i.contract_size),
    }
}

pub(crate) fn checkpoint(c: &Checkpoint) -> CheckpointRow {
    CheckpointRow {
        plugin: c.plugin.to_string(),
        position: c.position.map(pos),
        sha256: c.version.to_string(),
        state: ByteBuf::from(c.state.to_vec()),
        taken_at_ms: wall_ms(),
        instruments: c.instruments.iter().map(|i| instrument(i)).collect(),
        account: c.account.as_ref().map(|a| ByteBuf::from(a.to_vec())),
    }
}

pub(crate) fn dead_letter(r: &Rejected) -> DeadLetterRow {
    DeadLetterRow {
        plugin: r.plugin.to_string(),
        position: pos(r.position),
        idx: i32::try_from(r.index).unwrap_or(i32::MAX),
        at_ms: r.at_ms,
        event: prism_sources::event_json(&r.event, r.instrument.as_deref()),
        kind: r.kind.to_string(),
        message: r.message.to_string(),
        sha256: r.version.to_string(),
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

pub(crate) fn registry(change: &RegistryChange) -> Record {
    match change {
        RegistryChange::Upsert(p) => {
            let (origin, path, from_config, component) = match &p.origin {
                PluginOrigin::File { path, from_config } => {
                    ("file", Some(path.clone()), *from_config, None)
                }
                PluginOrigin::Upload { component } => (
                    "upload",
                    None,
                    false,
                    Some(ByteBuf::from(component.to_vec())),
                ),
            };
            Record::Plugin(PluginRow {
                id: p.id.to_string(),
                origin: origin.to_owned(),
                path,
                from_config,
                sha256: p.sha256.to_string(),
                component,
                config: json(&p.config_json),
                settings: json(&p.settings_json),
                paused: p.paused,
                updated_at_ms: wall_ms(),
            })
        }
        RegistryChange::Removed { id } => Record::Removed { id: id.to_string() },
        RegistryChange::Version(v) => Record::Version(version(v)),
    }
}

fn version(v: &VersionEntry) -> VersionRow {
    VersionRow {
        plugin: v.plugin.to_string(),
        loaded_at_ms: v.loaded_at_ms,
        sha256: v.sha256.clone(),
        name: v.name.clone(),
        version: v.version.clone(),
        config: json(&v.config_json),
        change: v.change.to_owned(),
        status: v.status.to_owned(),
        error: v.error.clone(),
    }
}

pub(crate) fn archive(a: &Archived) -> ArchiveRows {
    let mut rows = ArchiveRows::default();
    for (position, i, event) in &a.events {
        let position = pos(*position);
        let (exchange, symbol) = (i.exchange.to_string(), i.symbol.to_string());
        match event {
            Event::Trade(t) => rows.trades.push(TradeRow {
                position,
                exchange,
                symbol,
                ts: t.ts,
                received_ts: t.received_ts,
                price: dec(t.price),
                size: dec(t.size),
                side: match t.side {
                    Side::Buy => "buy",
                    Side::Sell => "sell",
                }
                .to_owned(),
                buyer: t.buyer.as_deref().map(str::to_owned),
                seller: t.seller.as_deref().map(str::to_owned),
            }),
            Event::Liquidation(l) => rows.liquidations.push(LiquidationRow {
                position,
                exchange,
                symbol,
                ts: l.ts,
                price: dec(l.price),
                size: dec(l.size),
                position_side: name(l.position),
                account: l.account.as_deref().map(str::to_owned),
            }),
            Event::Funding(f) => rows.funding.push(FundingRow {
                position,
                exchange,
                symbol,
                ts: f.ts,
                rate: dec(f.rate),
                interval_hours: i32::try_from(f.interval_hours).unwrap_or(i32::MAX),
                mark_price: f.mark_price.map(dec),
                index_price: f.index_price.map(dec),
                next_funding_ts: f.next_funding_ts,
            }),
            Event::OpenInterest(o) => rows.open_interest.push(OpenInterestRow {
                position,
                exchange,
                symbol,
                ts: o.ts,
                open_interest: dec(o.open_interest),
            }),
            Event::Position(p) => rows.positions.push(PositionRow {
                position,
                exchange,
                symbol,
                ts: p.ts,
                account: p.account.to_string(),
                size: dec(p.size),
                entry_price: dec(p.entry_price),
                liquidation_price: p.liquidation_price.map(dec),
                leverage: p.leverage.map(dec),
            }),
            _ => {}
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::{InstrumentRegistry, SeriesPoint, Signal};
    use std::sync::Arc;

    #[test]
    fn outputs_become_rows_identified_by_position_and_index() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let btc = reg.get(btc).unwrap().clone();
        let batch = OutputBatch {
            plugin: Arc::from("p"),
            position: 42,
            previous: None,
            outputs: vec![
                Output::Series(SeriesPoint {
                    name: Arc::from("r"),
                    instrument: Some(btc.clone()),
                    ts: 5,
                    value: 1.5,
                }),
                Output::Signal(Signal {
                    instrument: btc,
                    ts: 6,
                    direction: prism_model::Direction::Long,
                    strength: prism_model::Strength::Strong,
                    reason: Arc::from("why"),
                }),
            ],
        };
        let rows = outputs(&batch);
        assert_eq!((rows.plugin.as_str(), rows.position), ("p", 42));
        assert_eq!(rows.series[0].idx, 0);
        assert_eq!(rows.series[0].symbol.as_deref(), Some("BTCUSDT"));
        assert_eq!(rows.signals[0].idx, 1);
        assert_eq!(
            (
                rows.signals[0].direction.as_str(),
                rows.signals[0].strength.as_str()
            ),
            ("long", "strong")
        );
        // Round trip through the spool's encoding.
        let bytes = rmp_serde::to_vec(&Record::Outputs(rows.clone())).unwrap();
        let back: Record = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, Record::Outputs(rows));
    }
}
